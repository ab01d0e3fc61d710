import type { FastifyPluginAsync } from 'fastify'
import { ErrorCodes, type DecodeContext, type DecodeResult, type ErrorCode, type Rejection } from '../../contracts/index.ts'
import { decodeMeraki, merakiType } from '../../sources/decoders/meraki.decoder.ts'
import { rawBodyWebhook, secretMatches, sendError } from './webhook.common.ts'

/**
 * Meraki Scanning API v3 receiver. Meraki first GETs the post URL and expects the network's
 * validator string back as the body; after that it POSTs observations, each body carrying the
 * shared secret. Decoding stays in the decoder; this plugin only authenticates, frames and answers.
 *
 * The plugin is encapsulated (not wrapped in fastify-plugin): its raw-body parser and error
 * handler apply to these routes only.
 */
export interface MerakiRouteOptions {
  /** Shared secret configured in the Meraki dashboard (webhooks.meraki.secret). */
  secret: string
  /** Validator string shown in the Meraki dashboard (webhooks.meraki.validator). */
  validator: string
  /** The id this webhook's sightings are attributed to when decoding (APs become the sensors). */
  deviceId: string
  /** Fresh per request: the hasher of the current salt period, the clock, the limits. */
  decodeContext(): DecodeContext
  accept(result: DecodeResult): void
  onReject(rejection: Rejection): void
}

export const MERAKI_WEBHOOK_PATH = '/v1/webhooks/meraki'
/** Meraki sends one POST per network per minute; a large venue's post runs to a few MB. */
export const MERAKI_BODY_LIMIT = 5 * 1024 * 1024

export const merakiWebhookRoutes: FastifyPluginAsync<MerakiRouteOptions> = async (app, opts) => {
  rawBodyWebhook(app, { bodyLimit: MERAKI_BODY_LIMIT, name: 'meraki', onReject: opts.onReject })

  app.get(MERAKI_WEBHOOK_PATH, async (_req, reply) => reply.type('text/plain; charset=utf-8').send(opts.validator))

  app.post(MERAKI_WEBHOOK_PATH, { bodyLimit: MERAKI_BODY_LIMIT }, async (req, reply) => {
    const fail = (code: ErrorCode, message: string) => {
      opts.onReject({ code, reason: message })
      req.log.warn({ code }, 'meraki webhook rejected')
      return sendError(reply, code, message)
    }

    const raw = req.body
    let body: unknown
    try {
      body = JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : '')
    } catch (err) {
      // JSON.parse quotes the input; keep only where it broke.
      const at = /position (\d+)/.exec((err as Error).message)
      return fail('STORE_EDGE_ERR_PAYLOAD_NOT_JSON', `body is not valid JSON${at ? ` (at position ${at[1]})` : raw ? '' : ' (empty body)'}`)
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail('STORE_EDGE_ERR_SCHEMA', 'body must be a JSON object')
    const post = body as Record<string, unknown>

    if (!secretMatches(opts.secret, post.secret)) return fail('STORE_EDGE_ERR_WEBHOOK_SECRET', ErrorCodes.STORE_EDGE_ERR_WEBHOOK_SECRET.message)
    if (!merakiType(post.type)) return fail('STORE_EDGE_ERR_WEBHOOK_TYPE', 'type must be "WiFi" or "Bluetooth"')

    const result = decodeMeraki(post, { ...opts.decodeContext(), deviceId: opts.deviceId })
    // A rejection without an index refused the whole post (version, shape, size).
    const whole = result.rejects.find((r) => r.index === undefined)
    if (whole && result.sightings.length === 0) return fail(whole.code, whole.reason)

    for (const r of result.rejects) opts.onReject(r)
    opts.accept({ sightings: result.sightings, rejects: result.rejects })
    return reply.code(202).send({
      accepted: result.sightings.length,
      rejected: result.rejects.map((r) => ({ index: r.index, code: r.code, reason: r.reason })),
    })
  })
}
