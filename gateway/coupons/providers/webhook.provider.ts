import { createHmac } from 'node:crypto'
import { errorText, retryAfterMs, type PushMessage, type PushProvider, type PushResult } from './provider.ts'

export interface WebhookProviderOptions {
  url: string
  /** HMAC-SHA256 secret shared with the receiver. */
  secret: string
  timeoutMs: number
  now?: () => number
}

/** The receiver recomputes this over the raw body it got and compares in constant time. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')
}

/**
 * A signed HTTPS webhook (the member-app backend, a CRM): POST JSON with
 *   X-StoreEdge-Timestamp: unix seconds
 *   X-StoreEdge-Signature: hex HMAC-SHA256(secret, `${timestamp}.${body}`)
 *   Idempotency-Key: the coupon's ledger key (the same on every retry)
 * 2xx: delivered. 408, 429, 5xx, timeouts and network errors: retried. Other 4xx: the receiver
 * refuses this message for good → dead letter. Receivers should reject timestamps older than a
 * few minutes (replay) and de-duplicate on Idempotency-Key (delivery is at least once).
 */
export class WebhookProvider implements PushProvider {
  readonly name = 'webhook'
  private readonly now: () => number

  constructor(private readonly opts: WebhookProviderOptions) {
    this.now = opts.now ?? Date.now
  }

  async send(msg: PushMessage): Promise<PushResult> {
    const body = JSON.stringify({
      type: 'coupon.issued',
      key: msg.key,
      coupon: {
        id: msg.couponId,
        campaignId: msg.campaignId,
        campaignName: msg.campaignName,
        storeId: msg.storeId,
        memberRef: msg.memberRef,
        templateId: msg.templateId,
        title: msg.title,
        body: msg.body,
        valueCents: msg.valueCents,
        percentOff: msg.percentOff,
        code: msg.code,
        issuedAt: msg.issuedAt,
        expiresAt: msg.expiresAt,
      },
      attempt: msg.attempt,
    })
    const timestamp = String(Math.floor(this.now() / 1000))
    let res: Response
    try {
      res = await fetch(this.opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-storeedge-timestamp': timestamp,
          'x-storeedge-signature': webhookSignature(this.opts.secret, timestamp, body),
          'idempotency-key': msg.key,
        },
        body,
        // A signed coupon goes to the configured endpoint only: a redirect is a misconfiguration, not a hop to follow.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      })
      await res.arrayBuffer().catch(() => undefined)
    } catch (err) {
      return { ok: false, permanent: false, error: errorText(err) }
    }
    if (res.ok) return { ok: true }
    const error = res.status >= 300 && res.status < 400 ? `HTTP ${res.status} redirect to ${res.headers.get('location') ?? '?'} not followed` : `HTTP ${res.status}`
    if (res.status === 408 || res.status === 429 || res.status >= 500) return { ok: false, permanent: false, error, retryAfterMs: retryAfterMs(res.headers.get('retry-after'), this.now()) }
    return { ok: false, permanent: true, error }
  }
}
