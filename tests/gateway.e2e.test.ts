import { readFileSync } from 'node:fs'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { couponKey, topics, type CouponRequest, type MinuteAggregate } from '../edge/contracts/index.ts'
import { EdgeApp } from '../edge/app.ts'
import { GatewayApp } from '../gateway/app.ts'
import { counterValue, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'
import { PrivateMosquitto, PrivateVictoria } from './support/servers.ts'
import { freshDatabase, gatewayTestConfig, login, readSse, syntheticAggregate } from './support/gateway.ts'

/**
 * The central path end to end, all real: edges (their uplink spool) → Mosquitto (MQTT 5, shared
 * subscriptions) → two gateway replicas → VictoriaMetrics, with the machine's PostgreSQL.
 */
const HOSTILE_ZONES = ['plain', 'with space', 'comma,zone', 'equals=zone', 'quote"zone', 'back\\slash', 'trailing\\', '化妆品 区', '☕️ café 😀']

describe('gateway end to end: edges → Mosquitto → two gateways ($share) → VictoriaMetrics', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let mosquitto: PrivateMosquitto
  let vm: PrivateVictoria
  let db: { url: string; drop: () => Promise<void> }
  const gateways: GatewayApp[] = []
  const edges: EdgeApp[] = []
  const published = new Map<string, MinuteAggregate[]>()

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('store-edge-gw-e2e-'))
    mosquitto = await new PrivateMosquitto(`${dir}/mosquitto`).start()
    vm = await new PrivateVictoria(`${dir}/vm`).start()
    db = await freshDatabase()
    for (const id of ['a', 'b']) {
      const cfg = gatewayTestConfig(`${dir}/gw-${id}`, {
        id: `e2e-${id}`,
        mqtt: { url: mosquitto.url },
        tsdb: { url: vm.url },
        database: { url: db.url },
        auth: { demoUsers: true },
        coupons: { statsIntervalMs: 1000 },
      })
      gateways.push(await new GatewayApp({ config: cfg, logger: testLogger(), defaultMetrics: false }).start())
    }
    for (const store of ['e2e-store-1', 'e2e-store-2', 'e2e-store-3']) {
      edges.push(
        await new EdgeApp({ config: testConfig(`${dir}/${store}`, { store: { id: store, timezone: 'UTC' }, uplink: { url: mosquitto.url } }), logger: testLogger(), defaultMetrics: false }).start(),
      )
    }
    await waitFor(() => edges.every((e) => e.uplink!.connected) && gateways.every((g) => g.uplink.connected), 'everyone connected')
  })

  afterAll(async () => {
    for (const e of edges) await e.stop()
    for (const g of gateways) await g.stop()
    await mosquitto?.stop()
    await vm?.stop()
    await db?.drop()
    await cleanup()
  })

  it('splits the load between the replicas, writes every point once, and the TSDB matches what the edges published, hostile tag values included', async () => {
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 6 * 3_600_000
    for (const edge of edges) {
      const id = edge.config.store.id
      const list: MinuteAggregate[] = []
      for (let m = 0; m < 60; m++) list.push(syntheticAggregate(id, base + m * 60_000, HOSTILE_ZONES))
      published.set(id, list)
      for (const agg of list) await edge.publish(topics.storeAgg(id), agg)
    }
    const total = 3 * 60
    const aggCount = async () => {
      let n = 0
      for (const g of gateways) n += await counterValue(g.metrics.registry, 'store_edge_gw_uplink_messages_total', { kind: 'agg' })
      return n
    }
    await waitFor(async () => (await aggCount()) >= total && gateways.every((g) => g.uplink.unacked === 0), 'all aggregates written', 30_000)
    // Each replica got a share, and together exactly every message: $share hands each to one.
    const shares = await Promise.all(gateways.map((g) => counterValue(g.metrics.registry, 'store_edge_gw_uplink_messages_total', { kind: 'agg' })))
    expect(shares.every((s) => s > 0)).toBe(true)
    expect(shares[0]! + shares[1]!).toBe(total)

    // Written means acknowledged by VictoriaMetrics; a series it has just registered can take a
    // moment to be searchable, so wait for the count before judging the content.
    const exported = () => vm.export('{__name__="occupancy_value",source="all",store=~"e2e-store-.*"}')
    await waitFor(async () => (await exported()).reduce((n, s) => n + s.values.length, 0) >= total * HOSTILE_ZONES.length, 'every sample searchable').catch(() => undefined)
    const e2e = await exported()
    expect(e2e).toHaveLength(3 * HOSTILE_ZONES.length)
    // Tag values come back exactly as the edge wrote them: spaces, commas, =, quotes, backslashes, Chinese, emoji.
    expect(new Set(e2e.map((s) => s.metric.zone))).toEqual(new Set(HOSTILE_ZONES))
    let lost = 0
    let extra = 0
    for (const s of e2e) {
      const truth = new Map(published.get(s.metric.store!)!.map((a) => [a.minute, a.zones.find((z) => z.zone === s.metric.zone)!.occupancy]))
      const seen = new Set<number>()
      s.timestamps.forEach((ts, i) => {
        if (!truth.has(ts) || seen.has(ts) || truth.get(ts) !== s.values[i]) extra++
        seen.add(ts)
      })
      for (const ts of truth.keys()) if (!seen.has(ts)) lost++
    }
    expect({ lost, extra }).toEqual({ lost: 0, extra: 0 })
    const visits = await vm.export('{__name__="visitors_unique",store="e2e-store-2",source="wifi"}')
    expect(visits[0]!.values).toEqual(published.get('e2e-store-2')!.map((a) => a.sources[1]!.unique))
  })

  it('answers history from the TSDB with PromQL and the same numbers from the live window', async () => {
    const list = published.get('e2e-store-1')!
    const cookie = await login(gateways[1]!.url, 'ops', 'demo-ops')
    const from = list[0]!.minute
    const to = list.at(-1)!.minute
    const q = (source: string) => fetch(`${gateways[1]!.url}/v1/stores/e2e-store-1/series?from=${from}&to=${to}&stepS=60&source=${source}`, { headers: { cookie } }).then((r) => r.json())
    const tsdb = (await q('tsdb')) as { source: string; points: Array<{ ts: number; occupancy: number; visits: number }> }
    expect(tsdb.source).toBe('tsdb')
    const byTs = new Map(tsdb.points.map((p) => [p.ts, p]))
    for (const a of list) {
      const p = byTs.get(a.minute)
      expect(p?.occupancy, `minute ${a.minute}`).toBe(a.zones.reduce((s, z) => s + z.occupancy, 0))
      expect(p?.visits).toBe(a.sources.reduce((s, x) => s + x.unique + x.repeat, 0))
    }
    // Both replicas hold the whole window (their live subscription is not shared).
    for (const g of gateways) expect(g.hub.window.get('e2e-store-1')?.points.length).toBe(60)
  })

  it('every panel of the Grafana dashboard is valid PromQL that finds our data in VictoriaMetrics', async () => {
    const dash = JSON.parse(readFileSync(new URL('../dashboards/grafana/store-edge-footfall.json', import.meta.url), 'utf8')) as {
      panels: Array<{ title: string; targets?: Array<{ expr: string }> }>
    }
    const list = published.get('e2e-store-1')!
    // The coupon panels read what the ledger decided: one request (for a campaign central does not
    // know, so it is rejected) gives every coupons_* field of this minute a value.
    const edge = edges[0]!
    const storeId = edge.config.store.id
    const now = Date.now()
    const request: CouponRequest = {
      v: 1, key: couponKey(storeId, 'grafana-probe', 'm-1', 'ev-grafana'), storeId, campaignId: 'grafana-probe', campaignVersion: 1, memberRef: 'm-1',
      event: { id: 'ev-grafana', type: 'enter', zone: 'entrance', source: 'ble', ts: now }, firedAt: now, localDay: new Date(now).toISOString().slice(0, 10), holdout: false, priority: 100,
    }
    await edge.publish(topics.storeCouponRequests(storeId), request)
    await waitFor(async () => (await vm.export('{__name__="coupons_requested"}')).length > 0, 'the coupon figures in the TSDB', 60_000)
    const ranges = [
      { start: list[0]!.minute / 1000, end: list.at(-1)!.minute / 1000 }, // the aggregates
      { start: Date.now() / 1000 - 600, end: Date.now() / 1000 }, // the edges' health, just now
    ]
    await vm.flush()
    for (const panel of dash.panels) {
      for (const t of panel.targets ?? []) {
        const query = t.expr.replaceAll('$store', 'e2e-store-.*')
        let found = 0
        for (const r of ranges) {
          const res = await fetch(`${vm.url}/api/v1/query_range`, { method: 'POST', body: new URLSearchParams({ query, start: String(r.start), end: String(r.end), step: '60s' }) })
          const body = (await res.json()) as { status: string; error?: string; data: { result: unknown[] } }
          expect(body.status, `${panel.title}: ${query}: ${body.error}`).toBe('success')
          found += body.data.result.length
        }
        expect(found, `${panel.title}: ${query} found nothing`).toBeGreaterThan(0)
      }
    }
  })

  it('streams an edge event to a browser session on either replica', async () => {
    const cookie = await login(gateways[0]!.url, 'ops', 'demo-ops')
    const edge = edges[2]!
    const id = edge.config.store.id
    const stream = readSse(`${gateways[0]!.url}/v1/stream?stores=${id}`, cookie, (ev) => ev.some((e) => e.event === 'agg'))
    await new Promise((r) => setTimeout(r, 300))
    const agg = syntheticAggregate(id, Math.floor(Date.now() / 60_000) * 60_000, ['entrance'])
    await edge.publish(topics.storeAgg(id), agg)
    const events = await stream
    const got = events.find((e) => e.event === 'agg')!.data as { storeId: string; point: { ts: number; occupancy: number } }
    expect(got.storeId).toBe(id)
    expect(got.point).toMatchObject({ ts: agg.minute, occupancy: agg.zones[0]!.occupancy })
  })

  it('pushes a zone layout from the API to the edge, which applies it live and answers through the uplink', async () => {
    const cookie = await login(gateways[0]!.url, 'ops', 'demo-ops')
    const edge = edges[0]!
    const id = edge.config.store.id
    const layout = {
      zones: [{ id: 'entrance', name: 'Entrance', floor: 0 }, { id: 'beauty', name: '美妆 Beauty', floor: 1 }],
      sensors: [{ id: 'ble-door', zone: 'entrance', kind: 'ble', rssiOffset: 0, absorption: 3.5 }],
    }
    const res = await fetch(`${gateways[0]!.url}/v1/stores/${id}/layout`, { method: 'PUT', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify(layout) })
    expect(res.status).toBe(200)
    const { version } = (await res.json()) as { version: number }
    // Retained at the broker, applied live by the edge…
    await waitFor(() => edge.downlink.versions.get('zones') === version, 'layout applied at the edge')
    // …and the outcome comes back up through the uplink (events/config), seen by the gateway.
    await waitFor(async () => {
      let n = 0
      for (const g of gateways) n += await counterValue(g.metrics.registry, 'store_edge_gw_uplink_messages_total', { kind: 'other' })
      return n > 0
    }, 'config outcome at the gateway')
    const audit = (await (await fetch(`${gateways[1]!.url}/v1/audit?action=layout.push`, { headers: { cookie: await login(gateways[1]!.url, 'admin', 'demo-admin') } })).json()) as { entries: Array<{ actor: string; storeId: string }> }
    expect(audit.entries[0]).toMatchObject({ actor: 'ops', storeId: id })
  })

  it('rejects bad uplink messages with a counted reason and still writes the good ones beside them', async () => {
    const pub = await mqtt.connectAsync(mosquitto.url, { clientId: 'e2e-bad-publisher', reconnectPeriod: 0 })
    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 3 * 3_600_000
    const good = syntheticAggregate('e2e-store-9', minute, ['after-bad'])
    await pub.publishAsync('stores/e2e-store-9/agg', '{not json', { qos: 1 })
    await pub.publishAsync('stores/e2e-store-9/agg', JSON.stringify({ ...good, zones: 'nope' }), { qos: 1 })
    await pub.publishAsync('stores/e2e-store-9/agg', JSON.stringify({ ...good, storeId: 'someone-else' }), { qos: 1 })
    await pub.publishAsync('stores/e2e-store-9/agg', JSON.stringify({ ...good, v: 99 }), { qos: 1 })
    await pub.publishAsync('stores/e2e-store-9/agg', JSON.stringify(good), { qos: 1 })
    await pub.endAsync()
    const rejected = async (reason: string) => {
      let n = 0
      for (const g of gateways) n += await counterValue(g.metrics.registry, 'store_edge_gw_uplink_rejected_total', { reason })
      return n
    }
    await waitFor(async () => (await vm.export('{__name__="occupancy_value",store="e2e-store-9"}')).length > 0, 'the good aggregate in the TSDB')
    expect(await rejected('STORE_EDGE_ERR_PAYLOAD_NOT_JSON')).toBe(1)
    expect(await rejected('STORE_EDGE_ERR_SCHEMA')).toBe(1)
    expect(await rejected('STORE_EDGE_ERR_STORE_MISMATCH')).toBe(1)
    expect(await rejected('STORE_EDGE_ERR_SCHEMA_VERSION')).toBe(1)
    // Unknown stores register themselves on first contact.
    await waitFor(async () => (await gateways[0]!.data.stores.get('e2e-store-9')) !== undefined, 'store registered')
  })
})
