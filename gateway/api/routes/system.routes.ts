import type { FastifyInstance } from 'fastify'
import type { ApiContext } from '../context.ts'

/** Liveness/readiness and Prometheus metrics (unauthenticated, like any scrape target). */
export function systemRoutes(ctx: ApiContext) {
  return async (app: FastifyInstance) => {
    app.get('/health', { schema: { tags: ['system'], summary: 'Module states; 503 while the broker or database is down', security: [] } }, async (_req, reply) => {
      const s = ctx.status()
      return reply.status(s.ok ? 200 : 503).send(s)
    })
    app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
      reply.header('content-type', ctx.metrics.registry.contentType)
      return ctx.metrics.registry.metrics()
    })
  }
}
