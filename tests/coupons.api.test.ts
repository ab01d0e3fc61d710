import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { topics, type GeofenceEvent } from '../edge/contracts/index.ts'
import { GatewayApp } from '../gateway/app.ts'
import { publicKeyFrom, verifyCouponCode } from '../gateway/coupons/codes.ts'
import { tempDir, testLogger, waitFor } from './helpers.ts'
import { freshDatabase, gatewayTestConfig, login, readSse } from './support/gateway.ts'
import { campaign, request, seedCampaign, seedStore } from './support/coupon-fixtures.ts'

/**
 * The coupon API on two gateway replicas sharing one PostgreSQL (each with its own signing key):
 * redemption exactly once under a race across replicas, expiry, invalid codes, roles and store
 * scope, the public keys a till verifies with offline, the ledger list, the funnel, the live feed.
 */
describe('coupon API across two replicas (PostgreSQL)', () => {
  let db: { url: string; drop: () => Promise<void> }
  const apps: GatewayApp[] = []
  const dirs: Array<() => Promise<void>> = []
  let skewMs = 0
  const now = () => Date.now() + skewMs

  beforeAll(async () => {
    db = await freshDatabase('se_coupon_api')
    for (const id of ['gw-a', 'gw-b']) {
      const t = await tempDir(`se-coupon-api-${id}-`)
      dirs.push(t.cleanup)
      const config = gatewayTestConfig(t.dir, { id, auth: { demoUsers: true }, database: { url: db.url }, coupons: { push: { enabled: false } } })
      apps.push(await new GatewayApp({ config, logger: testLogger(), defaultMetrics: false, now }).start())
    }
    const q = apps[0]!.db
    await seedStore(q, 'store-1')
    await seedStore(q, 'store-2')
    await seedCampaign(q, campaign({ id: 'c-api', caps: { budget: 100 } }))
    await seedCampaign(q, campaign({ id: 'c-short', coupon: { templateId: 'tpl-s', title: 'Quick', body: '', percentOff: 15, validHours: 0.25 } }))
    await apps[0]!.data.users.create({ username: 'till-2', displayName: 'Till 2', password: 'till-pass-22', role: 'ops', stores: ['store-2'] })
  }, 120_000)
  afterAll(async () => {
    for (const a of apps) await a.stop()
    await db?.drop()
    for (const c of dirs) await c()
  })

  const post = (app: GatewayApp, path: string, cookie: string, body: unknown) =>
    fetch(`${app.url}${path}`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify(body) })

  it('redeems a code once: 20 tills racing on two replicas get one 200 and 19 409s saying when and where', async () => {
    const issued = await apps[0]!.coupons.ledger.requestCoupon(request({ campaignId: 'c-api', memberRef: 'm-race' }, now()))
    expect(issued.status).toBe('issued')
    const cookies = [await login(apps[0]!.url, 'ops', 'demo-ops'), await login(apps[1]!.url, 'ops', 'demo-ops')]
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(apps[i % 2]!, '/v1/coupons/redeem', cookies[i % 2]!, { code: issued.code, storeId: i % 2 ? 'store-2' : 'store-1', till: `till-${i}` }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }))),
    )
    const ok = results.filter((r) => r.status === 200)
    expect(ok).toHaveLength(1)
    expect(ok[0]!.body.coupon).toMatchObject({ id: issued.id, campaignId: 'c-api', memberRef: 'm-race', title: '10 off today', valueCents: 1000, expiresAt: issued.expiresAt })
    const conflicts = results.filter((r) => r.status === 409)
    expect(conflicts).toHaveLength(19)
    for (const c of conflicts) {
      expect(c.body.error).toMatchObject({ code: 'STORE_EDGE_ERR_COUPON_REDEEMED', redeemedAt: ok[0]!.body.coupon.redeemedAt, redeemedStore: expect.stringMatching(/^store-[12]$/) })
    }
    const [row] = await apps[1]!.db.query<{ redeemed_by: string }>('select redeemed_by from coupons where key = $1', [issued.key])
    expect(row!.redeemed_by).toMatch(/^ops\/till-\d+$/)
  })

  it('a code signed on one replica redeems on the other; tampered, unknown and expired codes are refused', async () => {
    const cookie = await login(apps[1]!.url, 'ops', 'demo-ops')
    const a = await apps[0]!.coupons.ledger.requestCoupon(request({ campaignId: 'c-short', memberRef: 'm-x1' }, now()))
    const b = await apps[0]!.coupons.ledger.requestCoupon(request({ campaignId: 'c-short', memberRef: 'm-x2' }, now()))
    const tampered = a.code!.slice(0, 20) + (a.code![20] === 'A' ? 'B' : 'A') + a.code!.slice(21)
    const bad = await post(apps[1]!, '/v1/coupons/redeem', cookie, { code: tampered, storeId: 'store-1' })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('STORE_EDGE_ERR_COUPON_INVALID')
    expect((await post(apps[1]!, '/v1/coupons/redeem', cookie, { code: 'hello', storeId: 'store-1' })).status).toBe(400)
    const good = await post(apps[1]!, '/v1/coupons/redeem', cookie, { code: a.code, storeId: 'store-1' })
    expect(good.status).toBe(200)
    expect(((await good.json()) as { coupon: { percentOff: number } }).coupon.percentOff).toBe(15)
    skewMs = 16 * 60_000 // past validHours 0.25
    try {
      const late = await post(apps[1]!, '/v1/coupons/redeem', cookie, { code: b.code, storeId: 'store-1' })
      expect(late.status).toBe(410)
      expect(((await late.json()) as { error: { code: string; expiresAt: number } }).error).toMatchObject({ code: 'STORE_EDGE_ERR_COUPON_EXPIRED', expiresAt: b.expiresAt })
    } finally {
      skewMs = 0
    }
  })

  it('roles and store scope: security cannot redeem, a till scoped to store-2 cannot redeem as store-1', async () => {
    const c = await apps[0]!.coupons.ledger.requestCoupon(request({ campaignId: 'c-api', memberRef: 'm-scope' }, now()))
    const sec = await login(apps[0]!.url, 'security', 'demo-security')
    expect((await post(apps[0]!, '/v1/coupons/redeem', sec, { code: c.code, storeId: 'store-1' })).status).toBe(403)
    const till = await login(apps[0]!.url, 'till-2', 'till-pass-22')
    expect((await post(apps[0]!, '/v1/coupons/redeem', till, { code: c.code, storeId: 'store-1' })).status).toBe(403)
    expect((await post(apps[0]!, '/v1/coupons/redeem', till, { code: c.code, storeId: 'store-2' })).status).toBe(200)
    expect((await fetch(`${apps[0]!.url}/v1/coupons/redeem`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: c.code, storeId: 'store-1' }) })).status).toBe(401)
  })

  it('publishes every replica’s public key without authentication; a till verifies offline with them', async () => {
    const res = await fetch(`${apps[1]!.url}/v1/coupons/public-key`)
    expect(res.status).toBe(200)
    const body = (await res.json()) as { alg: string; kid: string; publicKeyPem: string; publicKeyB64: string; keys: Array<{ kid: string; publicKeyPem: string; publicKeyB64: string }> }
    expect(body.alg).toBe('Ed25519')
    expect(body.kid).toBe(apps[1]!.coupons.service.signingKey.kid)
    expect(body.keys.map((k) => k.kid).sort()).toEqual(apps.map((a) => a.coupons.service.signingKey.kid).sort())
    const issued = await apps[0]!.coupons.ledger.requestCoupon(request({ campaignId: 'c-api', memberRef: 'm-offline' }, now()))
    const tillKeys = body.keys.map((k) => publicKeyFrom(k.publicKeyB64))
    expect(verifyCouponCode(issued.code!, tillKeys)).toMatchObject({ ok: true, claims: { id: issued.id, campaignId: 'c-api' } })
  })

  it('lists the ledger with codes masked, filtered and scoped; the funnel counts per campaign', async () => {
    const ops2 = await login(apps[0]!.url, 'till-2', 'till-pass-22')
    const mkt = await login(apps[0]!.url, 'marketing', 'demo-marketing')
    await apps[0]!.coupons.ledger.requestCoupon(request({ campaignId: 'c-nope', memberRef: 'm-f' }, now()))
    const list = (await (await fetch(`${apps[0]!.url}/v1/coupons?campaign=c-api&limit=50`, { headers: { cookie: mkt } })).json()) as { coupons: Array<{ code: string | null; storeId: string; status: string }> }
    expect(list.coupons).toHaveLength(3)
    expect(list.coupons.every((c) => c.code === null || c.code.includes('…'))).toBe(true)
    const scoped = (await (await fetch(`${apps[0]!.url}/v1/coupons`, { headers: { cookie: ops2 } })).json()) as { coupons: unknown[] }
    expect(scoped.coupons).toHaveLength(0) // every coupon so far was issued at store-1
    expect((await fetch(`${apps[0]!.url}/v1/coupons?store=store-1`, { headers: { cookie: ops2 } })).status).toBe(403)
    const funnel = (await (await fetch(`${apps[1]!.url}/v1/coupons/funnel`, { headers: { cookie: mkt } })).json()) as { campaigns: Array<Record<string, any>> }
    const api = funnel.campaigns.find((c) => c.campaignId === 'c-api')!
    expect(api).toMatchObject({ name: 'Welcome', requested: 3, issued: 3, holdout: 0, rejected: {}, redeemed: 2, pushed: 0, budget: 100, budgetLeft: 97 })
    expect(funnel.campaigns.find((c) => c.campaignId === 'c-nope')).toMatchObject({ requested: 1, issued: 0, rejected: { 'unknown-campaign': 1 }, budget: null })
  })

  it('over MQTT: a geofence exit then an arrival request of the same member, in order → member-left; both acknowledged; geofence live', { timeout: 30_000 }, async () => {
    const app = apps[0]!
    const mkt = await login(app.url, 'marketing', 'demo-marketing')
    const t = now()
    const exit: GeofenceEvent = {
      v: 1, id: `gf-mqtt-${t}`, type: 'exit', storeId: 'store-1', zone: 'carpark', zoneKind: 'carpark', source: 'plate', subject: 'member:m-mqtt',
      memberRef: 'm-mqtt', confidence: 1, enteredAt: t - 3_600_000, ts: t - 1000, dwellS: 3599, explicit: true,
    }
    const arrival = request({ campaignId: 'c-api', memberRef: 'm-mqtt', event: { ts: t - 2000 } }, t)
    const live = readSse(`${app.url}/v1/stream`, mkt, (evs) => evs.some((e) => e.event === 'geofence'))
    await new Promise((r) => setTimeout(r, 300))
    const pub = await mqtt.connectAsync(app.brokerUrl, { clientId: 'coupon-api-edge', reconnectPeriod: 0 })
    try {
      await pub.publishAsync(topics.storeEvents('store-1', 'geofence'), JSON.stringify(exit), { qos: 1 })
      await pub.publishAsync(topics.storeCouponRequests('store-1'), JSON.stringify(arrival), { qos: 1 })
    } finally {
      await pub.endAsync()
    }
    const decided = await waitFor(() => app.coupons.ledger.get(arrival.key), 'the request decided')
    expect(decided).toMatchObject({ status: 'rejected', reason: 'member-left' })
    expect(await app.db.query('select type, zone, member_ref from geofence_events where id = $1', [exit.id])).toEqual([{ type: 'exit', zone: 'carpark', member_ref: 'm-mqtt' }])
    await waitFor(() => app.uplink.unacked === 0, 'both acknowledged')
    const g = (await live).find((e) => e.event === 'geofence')!
    expect(g.data).toEqual({ storeId: 'store-1', type: 'exit', zone: 'carpark', zoneKind: 'carpark', source: 'plate', member: true, ts: exit.ts, dwellS: 3599 })
  })

  it('a request valid by schema that the ledger cannot store is acknowledged and dropped, not retried for ever', { timeout: 30_000 }, async () => {
    const app = apps[0]!
    const bad = { ...request({ campaignId: 'c-api', memberRef: 'm-poison' }, now()), localDay: '2024-13-45' }
    const good = request({ campaignId: 'c-api', memberRef: 'm-poison' }, now())
    const pub = await mqtt.connectAsync(app.brokerUrl, { clientId: 'coupon-api-poison', reconnectPeriod: 0 })
    try {
      await pub.publishAsync(topics.storeCouponRequests('store-1'), JSON.stringify(bad), { qos: 1 })
      await pub.publishAsync(topics.storeCouponRequests('store-1'), JSON.stringify(good), { qos: 1 })
    } finally {
      await pub.endAsync()
    }
    // The member's next request is not held behind the bad one.
    expect(await waitFor(() => app.coupons.ledger.get(good.key), 'the good request decided')).toMatchObject({ status: 'issued' })
    await waitFor(() => app.uplink.unacked === 0, 'both acknowledged')
    expect(await app.coupons.ledger.get(bad.key)).toBeUndefined()
  })

  it('streams ledger decisions live to a marketing session on the other replica', { timeout: 30_000 }, async () => {
    const mkt = await login(apps[1]!.url, 'marketing', 'demo-marketing')
    let key = ''
    const events = readSse(`${apps[1]!.url}/v1/stream`, mkt, (evs) => evs.some((e) => e.event === 'coupon' && (e.data as { key: string }).key === key))
    await new Promise((r) => setTimeout(r, 300))
    key = (await apps[0]!.coupons.ledger.requestCoupon(request({ campaignId: 'c-api', memberRef: 'm-live' }, now()))).key
    const got = (await events).find((e) => e.event === 'coupon' && (e.data as { key: string }).key === key)!
    expect(got.data).toMatchObject({ storeId: 'store-1', campaignId: 'c-api', memberRef: 'm-live', status: 'issued', pushStatus: 'pending' })
  })
})
