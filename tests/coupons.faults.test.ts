import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { topics, type CouponRequest } from '../edge/contracts/index.ts'
import { openDb, type Db } from '../gateway/db/index.ts'
import { parseCouponCode } from '../gateway/coupons/codes.ts'
import { tempDir, testLogger, waitFor } from './helpers.ts'
import { PrivateMosquitto } from './support/servers.ts'
import { GatewayProcess } from './support/gateway-process.ts'
import { freshDatabase } from './support/gateway.ts'
import { WebhookSink } from './support/webhook-sink.ts'
import { campaign, request, seedCampaign } from './support/coupon-fixtures.ts'

/**
 * Faults on the coupon path with the gateway as a real process: coupon requests arrive over a
 * private Mosquitto; the gateway is killed with SIGKILL while it is deciding them (push off, so
 * every decided coupon sits in the outbox), then restarted with push on. Afterwards: one ledger row
 * per key, the day cap never exceeded, every issued key at the webhook sink exactly once, and
 * duplicate QoS 1 deliveries of a request changing nothing.
 */
const SECRET = 'faults-sink-secret'
const MEMBERS = 100

describe('coupon faults: kill -9 between ledger commit and push, duplicate deliveries', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let mosquitto: PrivateMosquitto
  let pgdb: { url: string; drop: () => Promise<void> }
  let db: Db
  let sink: WebhookSink
  let gateway: GatewayProcess | undefined
  let gatewayB: GatewayProcess | undefined
  const env = (push: boolean, id = 'coupon-faults'): Record<string, string> => ({
    STORE_EDGE_GW_ID: id,
    STORE_EDGE_GW_DATA_DIR: `${dir}/${id}`,
    // Generous: on a loaded machine a slow answer must not become a retry (a duplicate the sink would see).
    STORE_EDGE_GW_COUPONS_PUSH_TIMEOUT_MS: '60000',
    STORE_EDGE_GW_COUPONS_PUSH_LEASE_MS: '120000',
    MQTT_URL: mosquitto.url,
    DATABASE_URL: pgdb.url,
    STORE_EDGE_GW_COUPONS_PUSH_ENABLED: String(push),
    STORE_EDGE_GW_COUPONS_PUSH_POLL_MS: '50',
    STORE_EDGE_GW_COUPONS_WEBHOOK_URL: sink.url,
    STORE_EDGE_GW_COUPONS_WEBHOOK_SECRET: SECRET,
  })

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('se-coupon-faults-'))
    mosquitto = await new PrivateMosquitto(`${dir}/mosquitto`).start()
    pgdb = await freshDatabase('se_coupon_faults')
    sink = await new WebhookSink(SECRET).start()
    gateway = await new GatewayProcess(env(false)).start()
    db = await openDb({ url: pgdb.url, log: testLogger() })
    await seedCampaign(db, campaign({ id: 'c-faults', caps: { perMemberPerDay: 1 } }))
  }, 120_000)

  afterAll(async () => {
    await gateway?.stop()
    await gatewayB?.stop()
    await db?.close()
    await sink?.stop()
    await mosquitto?.stop()
    await pgdb?.drop()
    await cleanup()
  })

  it('each key reaches the sink exactly once; caps hold; duplicates are one row and one push', { timeout: 180_000 }, async () => {
    const pub = await mqtt.connectAsync(mosquitto.url, { clientId: 'faults-edge', protocolVersion: 5, reconnectPeriod: 0 })
    const topic = topics.storeCouponRequests('store-1')
    // Two events per member (the day cap is 1), each request published twice (a duplicate delivery).
    const reqs: CouponRequest[] = []
    for (let i = 0; i < MEMBERS; i++) for (let e = 0; e < 2; e++) reqs.push(request({ campaignId: 'c-faults', memberRef: `m-${i}`, event: { id: `ev-${i}-${e}` } }))
    const published = (async () => {
      for (const r of reqs) {
        const payload = JSON.stringify(r)
        await pub.publishAsync(topic, payload, { qos: 1 })
        await pub.publishAsync(topic, payload, { qos: 1 })
      }
    })()
    const rowsNow = async () => Number((await db.query<{ n: number }>('select count(*)::int as n from coupons'))[0]!.n)
    // Kill the gateway mid-stream: some requests committed, some received and not yet committed.
    await waitFor(async () => (await rowsNow()) >= 40, 'the ledger deciding', 60_000)
    await gateway!.kill9()
    const atKill = await rowsNow()
    await published
    await pub.endAsync()
    expect(sink.requests).toBe(0) // push was off: nothing left the gateway

    gateway = await new GatewayProcess(env(true)).start()
    await waitFor(async () => (await rowsNow()) === reqs.length, 'every request decided after the restart', 60_000)
    const issued = await db.query<{ key: string }>(`select key from coupons where status = 'issued'`)
    await waitFor(() => sink.counts().size === issued.length, 'every issued key pushed', 60_000)
    // Anything pushed twice would have arrived by now; give stragglers a moment anyway.
    await new Promise((r) => setTimeout(r, 1000))

    const decided = await db.query<{ status: string; reason: string | null; n: number }>('select status, reason, count(*)::int as n from coupons group by 1, 2 order by 1, 2')
    const perMember = await db.query<{ n: number }>(`select count(*)::int as n from coupons where status = 'issued' group by member_ref order by 1 desc limit 1`)
    const outbox = await db.query<{ n: number; keys: number }>(`select count(*)::int as n, count(distinct coupon_key)::int as keys from coupon_outbox`)
    const counts = [...sink.counts().values()]
    const figures = {
      test: 'coupon-faults',
      requests: reqs.length,
      deliveriesToGateway: reqs.length * 2,
      rowsAtKill: atKill,
      decided,
      issued: issued.length,
      pushed: sink.deliveries.length,
      distinctPushed: counts.length,
      duplicates: counts.reduce((n, c) => n + c - 1, 0),
      lost: issued.filter((r) => !sink.counts().has(r.key)).length,
      capViolations: Math.max(0, (perMember[0]?.n ?? 0) - 1),
    }
    console.log(JSON.stringify(figures))
    expect(atKill).toBeLessThan(reqs.length) // the kill really interrupted the stream
    expect(issued).toHaveLength(MEMBERS) // one per member, the day cap
    expect(decided).toEqual([{ status: 'issued', reason: null, n: MEMBERS }, { status: 'rejected', reason: 'cap-day', n: MEMBERS }])
    expect(outbox).toEqual([{ n: MEMBERS, keys: MEMBERS }])
    expect({ duplicates: figures.duplicates, lost: figures.lost, capViolations: figures.capViolations, badSignatures: sink.badSignatures }).toEqual({ duplicates: 0, lost: 0, capViolations: 0, badSignatures: 0 })
    expect((await db.query(`select count(*)::int as n from coupons where push_status <> 'pushed' and status = 'issued'`))[0]).toEqual({ n: 0 })
  })

  it('two replicas racing on the same members and one budget, one killed and restarted: caps and budget hold, each key pushed once', { timeout: 180_000 }, async () => {
    await seedCampaign(db, campaign({ id: 'c-race', caps: { perMemberPerDay: 1, budget: 60 } }))
    gatewayB = await new GatewayProcess(env(true, 'coupon-faults-b')).start()
    const pub = await mqtt.connectAsync(mosquitto.url, { clientId: 'faults-edge-2', protocolVersion: 5, reconnectPeriod: 0 })
    const topic = topics.storeCouponRequests('store-2')
    const reqs: CouponRequest[] = []
    for (let i = 0; i < MEMBERS; i++) for (let e = 0; e < 2; e++) reqs.push(request({ storeId: 'store-2', campaignId: 'c-race', memberRef: `r-${i}`, event: { id: `race-${i}-${e}` } }))
    const before = sink.deliveries.length
    const published = (async () => {
      for (const r of reqs) {
        const payload = JSON.stringify(r)
        await pub.publishAsync(topic, payload, { qos: 1 })
        await pub.publishAsync(topic, payload, { qos: 1 }) // the shared subscription may hand the copy to the other replica
      }
    })()
    const rowsNow = async () => Number((await db.query<{ n: number }>(`select count(*)::int as n from coupons where campaign_id = 'c-race'`))[0]!.n)
    await waitFor(async () => (await rowsNow()) >= 40, 'both replicas deciding', 60_000)
    await gateway!.kill9()
    gateway = await new GatewayProcess(env(true)).start()
    await published
    await pub.endAsync()
    await waitFor(async () => (await rowsNow()) === reqs.length, 'every request decided', 60_000)
    const issued = await db.query<{ key: string }>(`select key from coupons where campaign_id = 'c-race' and status = 'issued'`)
    const mine = () => sink.deliveries.slice(before).filter((d) => d.body.coupon.campaignId === 'c-race')
    await waitFor(() => new Set(mine().map((d) => d.key)).size === issued.length, 'every issued key pushed', 60_000)
    await new Promise((r) => setTimeout(r, 1000))
    const perMember = await db.query<{ n: number }>(`select count(*)::int as n from coupons where campaign_id = 'c-race' and status = 'issued' group by member_ref order by 1 desc limit 1`)
    const decided = await db.query<{ reason: string | null; n: number }>(`select reason, count(*)::int as n from coupons where campaign_id = 'c-race' group by 1 order by 1 nulls first`)
    const byReplica = await db.query<{ n: number }>(`select count(distinct kid)::int as n from coupon_signing_keys`)
    const figures = { test: 'coupon-faults-two-replicas', requests: reqs.length, issued: issued.length, pushed: mine().length, decided, signingKeys: byReplica[0]!.n, capViolations: Math.max(0, (perMember[0]?.n ?? 0) - 1) }
    console.log(JSON.stringify(figures))
    expect(issued).toHaveLength(60) // the budget, exactly
    expect(figures.capViolations).toBe(0)
    expect(decided.find((d) => d.reason === null)?.n).toBe(60)
    expect(decided.reduce((n, d) => n + d.n, 0)).toBe(reqs.length)
    expect(mine()).toHaveLength(60) // each key once
    expect(figures.signingKeys).toBe(2)
    // Both replicas really decided: the codes carry both replicas' key ids.
    expect(new Set(mine().map((d) => parseCouponCode(d.body.coupon.code)!.claims.kid)).size).toBe(2)
  })
})
