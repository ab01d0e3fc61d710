import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { ErrorCodes, type ErrorCode, type Rejection } from '../../contracts/index.ts'

/** What the edge's webhook receivers (Meraki, parking systems) share: secret check, raw bodies, our error format. */

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest()

/** Constant-time comparison; hashing first gives equal lengths and hides the secret's length. */
export function secretMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string' || expected === '') return false
  return timingSafeEqual(digest(expected), digest(given))
}

export function sendError(reply: FastifyReply, code: ErrorCode, message: string) {
  return reply.code(ErrorCodes[code].status).send({ error: { code, message } })
}

/**
 * In an encapsulated plugin: take the body raw whatever its content type, so a broken or oversized
 * body is answered in our error format (and counted through onReject) instead of fastify's default.
 */
export function rawBodyWebhook(app: FastifyInstance, o: { bodyLimit: number; name: string; onReject(r: Rejection): void }): void {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: o.bodyLimit }, (_req, body, done) => done(null, body))
  app.setErrorHandler((err: { statusCode?: number; message?: string }, req, reply) => {
    const status = err.statusCode ?? 500
    const code: ErrorCode = status === 413 ? 'STORE_EDGE_ERR_PAYLOAD_TOO_LARGE' : status < 500 ? 'STORE_EDGE_ERR_VALIDATION' : 'STORE_EDGE_ERR_INTERNAL'
    if (status >= 500) req.log.error({ err }, `${o.name} webhook failed`)
    else o.onReject({ code, reason: ErrorCodes[code].message })
    return sendError(reply, code, status >= 500 ? ErrorCodes[code].message : (err.message ?? ErrorCodes[code].message))
  })
}
