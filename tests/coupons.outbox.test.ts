import { createServer, type Server } from 'node:http'
import pg from 'pg'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { migrate, openDb, type Db } from '../gateway/db/index.ts'
import { CouponLedger } from '../gateway/coupons/ledger.ts'
import { OutboxWorker, backoffMs, type OutboxWorkerOptions } from '../gateway/coupons/outbox.worker.ts'
import { WebhookProvider } from '../gateway/coupons/providers/webhook.provider.ts'
import { WechatProvider } from '../gateway/coupons/providers/wechat.provider.ts'
import type { PushMessage } from '../gateway/coupons/providers/provider.ts'
import { createCouponMetrics } from '../gateway/coupons/coupon.metrics.ts'
import { loadSigningKey, type SigningKey } from '../gateway/coupons/signing-key.ts'
import { counterValue, tempDir, testLogger, waitFor } from './helpers.ts'
import { PG_ADMIN_URL, freshDatabase } from './support/gateway.ts'
import { WebhookSink } from './support/webhook-sink.ts'
import { campaign, request, seedCampaign, seedMember, seedStore } from './support/coupon-fixtures.ts'

/**
 * The transactional outbox and the push providers, against real HTTP servers: the webhook sink
 * (verifies the HMAC, records Idempotency-Keys, fails on demand) and a fake WeChat API server.
 */
const log = testLogger()
const SECRET = 'sink-secret-1'
const pgReachable = await (async () => {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 })
  try {
    await c.connect()
    return true
  } catch {
    return false
  } finally {
    await c.end().catch(() => undefined)
  }
})()

let keyDir: { dir: string; cleanup: () => Promise<void> }
let key: SigningKey
beforeAll(async () => {
  keyDir = await tempDir('se-outbox-key-')
  key = loadSigningKey({ dataDir: keyDir.dir, log })
})
afterAll(() => keyDir.cleanup())

async function issue(db: Db, campaignId: string, members: string[]): Promise<string[]> {
  const ledger = new CouponLedger({ db, key })
  const keys: string[] = []
  for (const m of members) {
    const o = await ledger.requestCoupon(request({ campaignId, memberRef: m }))
    expect(o.status).toBe('issued')
    keys.push(o.key)
  }
  return keys
}

const rows = (db: Db, keys: string[]) =>
  db.query<{ key: string; push_status: string; status: string; attempts: number; last_error: string | null }>(
    `select c.key, c.push_status, o.status, o.attempts, o.last_error from coupons c join coupon_outbox o on o.coupon_key = c.key
      where c.key in (select jsonb_array_elements_text($1::jsonb)) order by c.key`,
    [JSON.stringify(keys)],
  )

// Provider timeouts and leases generous: a loaded test machine must not turn a slow answer into a retry (a duplicate).
const fast: Partial<OutboxWorkerOptions> = { pollMs: 20, backoffBaseMs: 20, backoffMaxMs: 100, leaseMs: 120_000 }

describe('outbox worker and webhook provider (PGlite)', () => {
  let db: Db
  let sink: WebhookSink
  beforeAll(async () => {
    db = await openDb({ log })
    await migrate(db, log)
    await seedStore(db, 'store-1')
    sink = await new WebhookSink(SECRET).start()
  })
  afterAll(async () => {
    await sink.stop()
    await db.close()
  })
  beforeEach(() => {
    sink.failNext = 0
    sink.failAlways = 0
    sink.deliveries.length = 0
  })

  const worker = (over: Partial<OutboxWorkerOptions> = {}) => {
    const registry = new Registry()
    const metrics = createCouponMetrics(registry)
    const w = new OutboxWorker({ db, providers: new Map([['webhook', new WebhookProvider({ url: sink.url, secret: SECRET, timeoutMs: 30_000 })]]), log, metrics, ...fast, ...over })
    return { w, registry }
  }

  it('pushes every issued coupon once, signed, with its key, code and template', async () => {
    await seedCampaign(db, campaign({ id: 'c-push' }))
    const keys = await issue(db, 'c-push', Array.from({ length: 40 }, (_, i) => `m-p${i}`))
    const { w, registry } = worker()
    await w.start()
    await waitFor(() => sink.deliveries.length >= 40, 'all pushed')
    await w.idle()
    await w.stop()
    expect([...sink.counts().entries()].sort()).toEqual(keys.map((k) => [k, 1]).sort())
    expect(sink.badSignatures).toBe(0)
    const d = sink.deliveries[0]!
    expect(d.body).toMatchObject({ type: 'coupon.issued', attempt: 1, coupon: { campaignId: 'c-push', code: expect.stringMatching(/^SE1/) } })
    expect((await rows(db, keys)).every((r) => r.push_status === 'pushed' && r.status === 'sent' && r.attempts === 1)).toBe(true)
    expect(await counterValue(registry, 'store_edge_gw_coupon_pushes_total', { result: 'ok' })).toBe(40)
  })

  it('retries 5xx with backoff until delivered', async () => {
    await seedCampaign(db, campaign({ id: 'c-retry' }))
    const keys = await issue(db, 'c-retry', ['m-r1', 'm-r2', 'm-r3'])
    sink.failNext = 7
    const { w, registry } = worker({ maxAttempts: 10 })
    await w.start()
    await waitFor(() => sink.counts().size === 3, 'all delivered after failures')
    await w.idle()
    await w.stop()
    expect(await counterValue(registry, 'store_edge_gw_coupon_pushes_total', { result: 'retry' })).toBe(7)
    const r = await rows(db, keys)
    expect(r.reduce((n, x) => n + x.attempts, 0)).toBe(10)
    expect(r.every((x) => x.push_status === 'pushed')).toBe(true)
  })

  it('dead-letters after maxAttempts, and at once on a permanent 4xx', async () => {
    await seedCampaign(db, campaign({ id: 'c-dead' }))
    const [k1] = await issue(db, 'c-dead', ['m-d1'])
    sink.failAlways = 503
    const { w, registry } = worker({ maxAttempts: 4 })
    await w.start()
    await waitFor(async () => (await rows(db, [k1!]))[0]!.status === 'dead', 'dead letter')
    expect((await rows(db, [k1!]))[0]).toMatchObject({ push_status: 'dead', attempts: 4, last_error: 'HTTP 503' })
    expect(await counterValue(registry, 'store_edge_gw_coupon_pushes_total', { result: 'dead' })).toBe(1)

    sink.failAlways = 400
    const [k2] = await issue(db, 'c-dead', ['m-d2'])
    w.kick()
    await waitFor(async () => (await rows(db, [k2!]))[0]!.status === 'dead', 'dead letter on 400')
    expect((await rows(db, [k2!]))[0]).toMatchObject({ attempts: 1, last_error: 'HTTP 400' })
    sink.failAlways = 429
    const [k3] = await issue(db, 'c-dead', ['m-d3'])
    w.kick()
    await waitFor(async () => (await rows(db, [k3!]))[0]!.attempts >= 2, 'a 429 is retried')
    await w.stop()
    expect(sink.deliveries).toHaveLength(0)
  })

  it('does not follow a redirect with a signed coupon: the push is dead-lettered, naming where it was sent', async () => {
    // A 307 keeps the method and the body: followed, the signed coupon would land wherever it points.
    const redirector = createServer((_req, res) => res.writeHead(307, { location: sink.url }).end())
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r))
    try {
      await seedCampaign(db, campaign({ id: 'c-redirect' }))
      const [k] = await issue(db, 'c-redirect', ['m-r1'])
      const url = `http://127.0.0.1:${(redirector.address() as { port: number }).port}/hook`
      const w = new OutboxWorker({ db, providers: new Map([['webhook', new WebhookProvider({ url, secret: SECRET, timeoutMs: 30_000 })]]), log, ...fast })
      await w.start()
      await waitFor(async () => (await rows(db, [k!]))[0]!.status === 'dead', 'dead letter on a redirect')
      await w.stop()
      expect((await rows(db, [k!]))[0]!.last_error).toContain(`HTTP 307 redirect to ${sink.url} not followed`)
      expect(sink.deliveries).toHaveLength(0)
    } finally {
      await new Promise<void>((r) => redirector.close(() => r()))
    }
  })

  it('leaves rows for a provider it does not have to a replica that has it', async () => {
    await seedCampaign(db, campaign({ id: 'c-other-provider' }))
    await seedMember(db, 'm-wx-only', { provider: 'wechat', openId: 'o-1' })
    const [k] = await issue(db, 'c-other-provider', ['m-wx-only'])
    const [kw] = await issue(db, 'c-other-provider', ['m-webhook'])
    const { w } = worker()
    await w.start()
    await waitFor(() => sink.counts().has(kw!), 'the webhook one pushed')
    await new Promise((r) => setTimeout(r, 200)) // several polls
    await w.stop()
    expect((await rows(db, [k!]))[0]).toMatchObject({ status: 'pending', attempts: 0, push_status: 'pending' })
  })

  it('backoff is exponential with full jitter, capped', () => {
    expect(backoffMs(1, 1000, 300_000, () => 0.999)).toBe(999)
    expect(backoffMs(4, 1000, 300_000, () => 0.5)).toBe(4000)
    expect(backoffMs(30, 1000, 300_000, () => 0.999)).toBe(299_700)
    expect(backoffMs(3, 1000, 300_000, () => 0)).toBe(0)
  })
})

describe.runIf(pgReachable)('outbox on PostgreSQL: two replicas never push one row twice', () => {
  let url: string
  let drop: () => Promise<void>
  let db: Db
  let db2: Db
  let sink: WebhookSink
  beforeAll(async () => {
    ;({ url, drop } = await freshDatabase('se_outbox'))
    db = await openDb({ url, log })
    db2 = await openDb({ url, log })
    await migrate(db, log)
    await seedStore(db, 'store-1')
    sink = await new WebhookSink(SECRET).start()
  })
  afterAll(async () => {
    await sink?.stop()
    await db?.close()
    await db2?.close()
    await drop?.()
  })

  it('500 coupons drained by two workers with small batches: each key exactly once', { timeout: 60_000 }, async () => {
    await seedCampaign(db, campaign({ id: 'c-two' }))
    const keys = await issue(db, 'c-two', Array.from({ length: 500 }, (_, i) => `m-t${i}`))
    sink.delayMs = 2 // keep pushes in flight while the other replica claims
    const mk = (d: Db) => new OutboxWorker({ db: d, providers: new Map([['webhook', new WebhookProvider({ url: sink.url, secret: SECRET, timeoutMs: 30_000 })]]), log, batch: 7, concurrency: 16, ...fast })
    const a = mk(db)
    const b = mk(db2)
    await Promise.all([a.start(), b.start()])
    await waitFor(() => sink.counts().size === 500, 'all 500 pushed', 30_000)
    await Promise.all([a.idle(), b.idle()])
    await Promise.all([a.stop(), b.stop()])
    expect(sink.deliveries).toHaveLength(500)
    expect([...sink.counts().values()].every((n) => n === 1)).toBe(true)
    expect((await rows(db, keys)).every((r) => r.push_status === 'pushed')).toBe(true)
  })

  it('a replica that dies mid-push leaves the row to another once the lease runs out', { timeout: 30_000 }, async () => {
    await seedCampaign(db, campaign({ id: 'c-lease' }))
    const [k] = await issue(db, 'c-lease', ['m-lease'])
    // "Replica A" claims the row and never comes back (its lease: 500 ms).
    const claimed = await db.query(`update coupon_outbox set locked_until = now() + interval '500 milliseconds', attempts = attempts + 1 where coupon_key = $1 returning id`, [k])
    expect(claimed).toHaveLength(1)
    const b = new OutboxWorker({ db: db2, providers: new Map([['webhook', new WebhookProvider({ url: sink.url, secret: SECRET, timeoutMs: 30_000 })]]), log, ...fast })
    await b.start()
    const before = Date.now()
    await waitFor(() => sink.counts().get(k!) === 1, 'pushed by the survivor')
    await b.stop()
    expect(Date.now() - before).toBeGreaterThanOrEqual(300)
    expect((await rows(db, [k!]))[0]).toMatchObject({ status: 'sent', attempts: 2 })
  })
})

/** A fake WeChat API: /cgi-bin/token and /cgi-bin/message/template/send, with scripted answers. */
class FakeWechat {
  server?: Server
  url = ''
  tokens = 0
  sent: Array<{ touser: string; template_id: string; data: Record<string, { value: string }>; token: string }> = []
  /** Tokens the server currently accepts. */
  valid = new Set<string>()
  /** errcodes to answer the next sends with (then 0). */
  script: number[] = []
  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const u = new URL(req.url!, 'http://x')
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const json = (o: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(o))
        if (u.pathname === '/cgi-bin/token') {
          if (u.searchParams.get('grant_type') !== 'client_credential' || u.searchParams.get('appid') !== 'wx-app' || u.searchParams.get('secret') !== 'wx-secret') return json({ errcode: 40013, errmsg: 'invalid appid' })
          const t = `tok-${++this.tokens}`
          this.valid.add(t)
          return json({ access_token: t, expires_in: 7200 })
        }
        if (u.pathname === '/cgi-bin/message/template/send' && req.method === 'POST') {
          const token = u.searchParams.get('access_token') ?? ''
          if (!this.valid.has(token)) return json({ errcode: 40001, errmsg: 'invalid credential, access_token is invalid or not latest' })
          const code = this.script.shift() ?? 0
          if (code !== 0) return json({ errcode: code, errmsg: 'scripted' })
          this.sent.push({ ...JSON.parse(Buffer.concat(chunks).toString('utf8')), token })
          return json({ errcode: 0, errmsg: 'ok', msgid: this.sent.length })
        }
        res.writeHead(404).end()
      })
    })
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.server!.address() as { port: number }).port}`
    return this
  }
  async stop() {
    const s = this.server!
    const closed = new Promise<void>((r) => s.close(() => r()))
    s.closeAllConnections()
    await closed
  }
}

describe('WeChat template-message provider against a fake WeChat server', () => {
  let wx: FakeWechat
  let clock = Date.UTC(2030, 0, 1)
  beforeAll(async () => {
    wx = await new FakeWechat().start()
  })
  afterAll(() => wx.stop())

  const msg = (over: Partial<PushMessage> = {}): PushMessage => ({
    key: 'k'.repeat(40), couponId: '00000000-0000-4000-8000-000000000001', campaignId: 'c-wx', campaignName: 'WX', storeId: 'store-1', memberRef: 'm-1',
    openId: 'o-member-1', templateId: 'tpl-1', title: '满100减20', body: 'Welcome', valueCents: 2000, code: 'SE1ABC', issuedAt: clock, expiresAt: clock + 86_400_000, attempt: 1, ...over,
  })

  it('fetches a token once, caches it until expires_in, and sends the template message', async () => {
    const p = new WechatProvider({ baseUrl: wx.url, appId: 'wx-app', appSecret: 'wx-secret', timeoutMs: 30_000, now: () => clock })
    expect(await p.send(msg())).toEqual({ ok: true })
    expect(await p.send(msg())).toEqual({ ok: true })
    expect(p.tokenFetches).toBe(1)
    expect(wx.sent[0]).toMatchObject({ touser: 'o-member-1', template_id: 'tpl-1', data: { first: { value: '满100减20' }, keyword1: { value: '20.00 off' }, keyword2: { value: 'SE1ABC' } } })
    clock += 7200_000 // past expires_in: a new token
    expect(await p.send(msg())).toEqual({ ok: true })
    expect(p.tokenFetches).toBe(2)
  })

  it('on 40001/42001 (token invalidated elsewhere) refreshes the token and retries at once', async () => {
    const p = new WechatProvider({ baseUrl: wx.url, appId: 'wx-app', appSecret: 'wx-secret', timeoutMs: 30_000, now: () => clock })
    expect(await p.send(msg())).toEqual({ ok: true })
    wx.valid.clear() // another server refreshed the token: ours is dead
    const before = wx.sent.length
    expect(await p.send(msg())).toEqual({ ok: true })
    expect(p.tokenFetches).toBe(2)
    expect(wx.sent.length).toBe(before + 1)
    wx.script = [42001]
    expect(await p.send(msg())).toEqual({ ok: true })
    expect(p.tokenFetches).toBe(3)
  })

  it('classifies errcodes: busy and quota retry; unsubscribed, bad openid or template are dead; no openId is dead', async () => {
    const p = new WechatProvider({ baseUrl: wx.url, appId: 'wx-app', appSecret: 'wx-secret', timeoutMs: 30_000, now: () => clock })
    wx.script = [-1]
    expect(await p.send(msg())).toMatchObject({ ok: false, permanent: false })
    wx.script = [45009]
    expect(await p.send(msg())).toMatchObject({ ok: false, permanent: false })
    for (const code of [43004, 40003, 40037]) {
      wx.script = [code]
      expect(await p.send(msg())).toMatchObject({ ok: false, permanent: true, error: expect.stringContaining(`errcode ${code}`) })
    }
    expect(await p.send(msg({ openId: undefined }))).toMatchObject({ ok: false, permanent: true })
    const bad = new WechatProvider({ baseUrl: wx.url, appId: 'wx-app', appSecret: 'wrong', timeoutMs: 30_000 })
    expect(await bad.send(msg())).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('40013') })
  })

  it('through the outbox: a member with provider wechat gets the template message', async () => {
    const db = await openDb({ log })
    try {
      await migrate(db, log)
      await seedCampaign(db, campaign({ id: 'c-wx-out' }))
      await seedMember(db, 'm-wx', { provider: 'wechat', openId: 'o-wx-42' })
      await seedMember(db, 'm-wx-none', { provider: 'wechat' })
      const [k, kNone] = await issue(db, 'c-wx-out', ['m-wx', 'm-wx-none'])
      const w = new OutboxWorker({ db, providers: new Map([['wechat', new WechatProvider({ baseUrl: wx.url, appId: 'wx-app', appSecret: 'wx-secret', timeoutMs: 30_000 })]]), log, ...fast })
      await w.start()
      await waitFor(async () => (await rows(db, [k!, kNone!])).every((r) => r.status !== 'pending'), 'both settled')
      await w.stop()
      expect(wx.sent.at(-1)).toMatchObject({ touser: 'o-wx-42', template_id: 'tpl-welcome' })
      expect(Object.fromEntries((await rows(db, [k!, kNone!])).map((r) => [r.key, r.push_status]))).toEqual({ [k!]: 'pushed', [kNone!]: 'dead' })
    } finally {
      await db.close()
    }
  })
})
