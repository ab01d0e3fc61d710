import type { FastifyPluginAsync } from 'fastify'
import { ErrorCodes, type DecodeContext, type ErrorCode, type Rejection } from '../../contracts/index.ts'
import { decodeGateValue, type GateDecodeResult } from '../../sources/decoders/gate.decoder.ts'
import { rawBodyWebhook, secretMatches, sendError } from './webhook.common.ts'

/**
 * Parking systems post gate events here (`POST /v1/parking/events`, a GateBatch body, the shared
 * secret in the `X-Parking-Secret` header). The answer lists what was taken and, item by item, what
 * was not: 200 when every event was accepted, 207 when some were rejected (index, code, reason),
 * 4xx when the whole body was refused. A parking system retrying a post is harmless: the car park
 * drops repeated events by their id, or by plate + type + gate + time.
 *
 * Encapsulated like the Meraki route: its raw-body parser and error handler apply here only.
 */
export interface ParkingRouteOptions {
  /** parking.webhook.secret */
  secret: string
  /** Fresh per request: device id, hasher, clock, limits. */
  decodeContext(): DecodeContext
  /** The decoded batch (events and item rejections), handed to the car park. */
  accept(result: GateDecodeResult): void
  /** Every rejection, whole-body ones included (counted and logged by the caller). */
  onReject(rejection: Rejection): void
}

export const PARKING_WEBHOOK_PATH = '/v1/parking/events'
export const PARKING_SECRET_HEADER = 'x-parking-secret'
const BODY_LIMIT = 1024 * 1024

export const parkingWebhookRoutes: FastifyPluginAsync<ParkingRouteOptions> = async (app, opts) => {
  rawBodyWebhook(app, { bodyLimit: BODY_LIMIT, name: 'parking', onReject: opts.onReject })

  app.post(PARKING_WEBHOOK_PATH, { bodyLimit: BODY_LIMIT }, async (req, reply) => {
    const fail = (code: ErrorCode, message: string) => {
      opts.onReject({ code, reason: message })
      req.log.warn({ code }, 'parking webhook rejected')
      return sendError(reply, code, message)
    }
    // The secret first: nobody learns anything about the body's handling without it.
    if (!secretMatches(opts.secret, req.headers[PARKING_SECRET_HEADER])) {
      return fail('STORE_EDGE_ERR_WEBHOOK_SECRET', `${ErrorCodes.STORE_EDGE_ERR_WEBHOOK_SECRET.message} (header X-Parking-Secret)`)
    }
    const raw = req.body
    let body: unknown
    try {
      body = JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : '')
    } catch (err) {
      // JSON.parse quotes the input (which may hold plates); keep only where it broke.
      const at = /position (\d+)/.exec((err as Error).message)
      return fail('STORE_EDGE_ERR_PAYLOAD_NOT_JSON', `body is not valid JSON${at ? ` (at position ${at[1]})` : raw && (raw as Buffer).length ? '' : ' (empty body)'}`)
    }
    const result = decodeGateValue(body, opts.decodeContext())
    const whole = result.rejects.find((r) => r.index === undefined)
    if (whole) return fail(whole.code, whole.reason)

    for (const r of result.rejects) opts.onReject(r)
    opts.accept(result)
    const rejectedIdx = new Set(result.rejects.map((r) => r.index))
    return reply.code(result.rejects.length ? 207 : 200).send({
      accepted: result.events.filter((e) => !rejectedIdx.has(e.index)).length,
      rejected: result.rejects.map((r) => ({ index: r.index, code: r.code, reason: r.reason })),
    })
  })
}
