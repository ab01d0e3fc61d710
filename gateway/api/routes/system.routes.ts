import type { FastifyInstance } from 'fastify'
import type { ApiContext } from '../context.ts'

/** Liveness/readiness and Prometheus metrics (unauthenticated, like any scrape target). */
export function systemRoutes(ctx: ApiContext) {
  return async (app: FastifyInstance) => {
    app.get('/health', { schema: { tags: ['system'], summary: 'Module states; 503 while the broker or database is down', security: [] } }, async (_req, reply) => {
      const s = ctx.status()
      // The database answers a trivial query within a second, or the replica is not ready.
      let database: { ok: boolean; error?: string }
      try {
        await Promise.race([ctx.data.db.query('select 1'), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 1 s')), 1000).unref())])
        database = { ok: true }
      } catch (err) {
        database = { ok: false, error: (err as Error).message }
      }
      const ok = Boolean(s.ok) && database.ok
      return reply.status(ok ? 200 : 503).send({ ...s, ok, databaseStatus: database })
    })
    app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
      reply.header('content-type', ctx.metrics.registry.contentType)
      return ctx.metrics.registry.metrics()
    })
  }
}
