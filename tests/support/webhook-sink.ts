import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'

export interface SinkDelivery {
  key: string
  body: { type: string; key: string; coupon: { id: string; code: string; memberRef: string; campaignId: string; expiresAt: number }; attempt: number }
  at: number
}

/**
 * A real HTTP server standing in for a member-app backend: it checks the HMAC signature and the
 * timestamp of every request the way a receiver must, records Idempotency-Keys, and can be told to
 * fail (the first N requests, always, or with a given status) or to answer slowly.
 */
export class WebhookSink {
  private server?: Server
  url = ''
  /** Every accepted delivery, in arrival order (duplicates included). */
  readonly deliveries: SinkDelivery[] = []
  /** Requests refused for a bad signature or stale timestamp. */
  badSignatures = 0
  requests = 0
  /** Fail this many requests (from now on) with failStatus. */
  failNext = 0
  /** Fail every request with this status (0: off). */
  failAlways = 0
  failStatus = 503
  delayMs = 0

  constructor(
    readonly secret: string,
    private readonly maxSkewS = 300,
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req).then(([status, text]) => res.writeHead(status, { 'content-type': 'text/plain' }).end(text)))
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.server!.address() as { port: number }).port}/coupons`
    return this
  }

  private async handle(req: IncomingMessage): Promise<[number, string]> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    this.requests++
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs))
    const ts = String(req.headers['x-storeedge-timestamp'] ?? '')
    const sig = String(req.headers['x-storeedge-signature'] ?? '')
    const expected = createHmac('sha256', this.secret).update(`${ts}.${raw}`).digest('hex')
    const okSig = sig.length === expected.length && timingSafeEqual(Buffer.from(sig), Buffer.from(expected))
    if (!okSig || Math.abs(Date.now() / 1000 - Number(ts)) > this.maxSkewS) {
      this.badSignatures++
      return [401, 'bad signature']
    }
    if (this.failAlways) return [this.failAlways, 'failing']
    if (this.failNext > 0) {
      this.failNext--
      return [this.failStatus, 'failing']
    }
    const body = JSON.parse(raw) as SinkDelivery['body']
    if (req.headers['idempotency-key'] !== body.key) return [400, 'idempotency key differs from body key']
    this.deliveries.push({ key: String(req.headers['idempotency-key']), body, at: Date.now() })
    return [200, 'ok']
  }

  /** How many times each key arrived. */
  counts(): Map<string, number> {
    const m = new Map<string, number>()
    for (const d of this.deliveries) m.set(d.key, (m.get(d.key) ?? 0) + 1)
    return m
  }

  async stop(): Promise<void> {
    const s = this.server
    if (!s) return
    const closed = new Promise<void>((r) => s.close(() => r()))
    s.closeAllConnections()
    await closed
  }
}
