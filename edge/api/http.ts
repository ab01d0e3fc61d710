import Fastify, { type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { ErrorCodes, StoreEdgeError } from '../contracts/index.ts'
import type { Logger } from '../core/logger.ts'

/**
 * The fastify app with the edge's error conventions: every error answers
 * `{ error: { code: 'STORE_EDGE_ERR_…', message } }` with the catalogue's status.
 * `buildHttp()` is separate from listen() so tests use inject() or port 0.
 */
export function buildHttp(log: Logger): FastifyInstance {
  const app = Fastify({
    // Per-request lines are info level; the API logs warnings and errors only.
    loggerInstance: log.child({ module: 'http' }, { level: 'warn' }),
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, allErrors: true } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; code?: string }, req, reply) => {
    if (err instanceof StoreEdgeError) {
      return reply.status(err.statusCode).send({ error: { code: err.code, message: err.message } })
    }
    if (err.validation) {
      return reply.status(400).send({ error: { code: 'STORE_EDGE_ERR_VALIDATION', message: err.message } })
    }
    const status = err.statusCode ?? 500
    if (status >= 500) req.log.error({ err }, 'request failed')
    const code = status === 413 ? 'STORE_EDGE_ERR_PAYLOAD_TOO_LARGE' : status < 500 ? 'STORE_EDGE_ERR_VALIDATION' : 'STORE_EDGE_ERR_INTERNAL'
    return reply.status(status).send({ error: { code, message: status < 500 ? err.message : ErrorCodes.STORE_EDGE_ERR_INTERNAL.message } })
  })
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: { code: 'STORE_EDGE_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } }),
  )
  return app as unknown as FastifyInstance
}
