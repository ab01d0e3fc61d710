import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EdgeApp } from '../edge/app.ts'
import { GatewayApp } from '../gateway/app.ts'
import { publicKeyFrom, verifyCouponCode } from '../gateway/coupons/codes.ts'
import { connect, sleep, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'
import { gatewayTestConfig, login } from './support/gateway.ts'
import { WebhookSink } from './support/webhook-sink.ts'

/**
 * The whole coupon chain: a campaign and a member made through the gateway's API reach the edge as
 * retained config; a member's car passes the entry gate (MQTT, twice: a parking system retrying);
 * the edge fires a coupon request that travels up the uplink; the gateway's ledger decides it once;
 * the outbox pushes it to the webhook sink once; the till verifies the code offline with the
 * published key and redeems it once.
 */
const STORE = 'store-e2e'
const SECRET = 'e2e-sink-secret'

describe('coupon chain: API → edge config → gate event → ledger → webhook → till', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let sink: WebhookSink
  let gw: GatewayApp
  let edge: EdgeApp
  let gate: MqttClient

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('se-coupon-e2e-'))
    sink = await new WebhookSink(SECRET).start()
    const config = gatewayTestConfig(`${dir}/gw`, { auth: { demoUsers: true }, coupons: { webhook: { url: sink.url, secret: SECRET }, push: { pollMs: 50 } } })
    gw = await new GatewayApp({ config, logger: testLogger(), defaultMetrics: false }).start()
  }, 60_000)
  afterAll(async () => {
    gate?.end(true)
    await edge?.stop()
    await gw?.stop()
    await sink?.stop()
    await cleanup()
  })

  it('one gate entry (delivered twice) → one coupon at the sink, verifiable offline, redeemable once', { timeout: 90_000 }, async () => {
    const admin = await login(gw.url, 'admin', 'demo-admin')
    const mkt = await login(gw.url, 'marketing', 'demo-marketing')
    const post = async (path: string, cookie: string, body: unknown, status: number) => {
      const r = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify(body) })
      const text = await r.text()
      expect(r.status, `${path}: ${text}`).toBe(status)
      return JSON.parse(text) as Record<string, any>
    }
    await post('/v1/stores', admin, { id: STORE, name: 'E2E', timezone: 'Asia/Shanghai' }, 201)
    await post('/v1/members', mkt, { ref: 'm-car', displayName: 'Driver', tier: 1, tags: [], plates: ['沪A12345'], beaconIds: [], push: { provider: 'webhook' } }, 201)
    await post(
      '/v1/campaigns',
      mkt,
      {
        id: 'park-arrival', name: 'Welcome by car', enabled: true, stores: [STORE], event: 'enter', zones: ['carpark'], sources: ['plate'],
        audience: { membersOnly: true }, schedule: {}, caps: { perMemberPerDay: 1, budget: 50 }, holdoutPct: 0, priority: 100, lateAfterS: 900,
        coupon: { templateId: 'tpl-park', title: 'Free coffee', body: 'Show this at any till', valueCents: 1800, validHours: 4 },
      },
      201,
    )

    edge = await new EdgeApp({
      config: testConfig(`${dir}/edge`, { store: { id: STORE, timezone: 'Asia/Shanghai' }, uplink: { url: gw.brokerUrl }, parking: { enabled: true, resetAt: '' } }),
      logger: testLogger(),
      defaultMetrics: false,
    }).start()
    // The gateway publishes a store's triggers and members when it first hears from it (or on change).
    await waitFor(() => edge.downlink.versions.has('triggers') && edge.downlink.versions.has('members'), 'campaign and member config at the edge', 30_000)

    const creds = await edge.credentials.provision('gate-north', 'parking')
    gate = await connect(`mqtt://127.0.0.1:${edge.broker.address.mqtt.port}`, { clientId: 'gate-north', username: creds.username, password: creds.password })
    const entry = JSON.stringify({ v: 1, events: [{ id: 'gate-e-1', type: 'entry', plate: '沪A12345', gate: 'north', ts: Date.now() }] })
    const publishedAt = Date.now()
    await gate.publishAsync('sensors/gate-north/parking', entry, { qos: 1 })
    await gate.publishAsync('sensors/gate-north/parking', entry, { qos: 1 }) // the parking system retries

    await waitFor(() => sink.deliveries.length > 0, 'the coupon at the webhook sink', 30_000)
    await sleep(1500) // anything duplicated would arrive by now
    console.log(JSON.stringify({ test: 'coupon-e2e', gateToPushMs: sink.deliveries[0]!.at - publishedAt }))
    expect(sink.deliveries).toHaveLength(1)
    expect(sink.badSignatures).toBe(0)
    const d = sink.deliveries[0]!.body
    expect(d.coupon).toMatchObject({ memberRef: 'm-car', campaignId: 'park-arrival' })

    // The till: keys once, verification offline, then one online redemption.
    const keys = ((await (await fetch(`${gw.url}/v1/coupons/public-key`)).json()) as { keys: Array<{ publicKeyB64: string }> }).keys.map((k) => publicKeyFrom(k.publicKeyB64))
    expect(verifyCouponCode(d.coupon.code, keys)).toMatchObject({ ok: true, claims: { id: d.coupon.id, campaignId: 'park-arrival' } })
    const ops = await login(gw.url, 'ops', 'demo-ops')
    expect((await post('/v1/coupons/redeem', ops, { code: d.coupon.code, storeId: STORE, till: 't1' }, 200)).coupon).toMatchObject({ title: 'Free coffee', valueCents: 1800 })
    expect((await post('/v1/coupons/redeem', ops, { code: d.coupon.code, storeId: STORE, till: 't2' }, 409)).error.code).toBe('STORE_EDGE_ERR_COUPON_REDEEMED')

    const funnel = (await (await fetch(`${gw.url}/v1/coupons/funnel`, { headers: { cookie: mkt } })).json()) as { campaigns: Array<Record<string, unknown>> }
    expect(funnel.campaigns).toEqual([expect.objectContaining({ campaignId: 'park-arrival', requested: 1, issued: 1, pushed: 1, redeemed: 1, budget: 50, budgetLeft: 49 })])
  })
})
