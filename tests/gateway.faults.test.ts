import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { topics, type MinuteAggregate } from '../edge/contracts/index.ts'
import { EdgeApp } from '../edge/app.ts'
import { sleep, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'
import { PrivateMosquitto, PrivateVictoria } from './support/servers.ts'
import { CutProxy } from './support/cut-proxy.ts'
import { GatewayProcess } from './support/gateway-process.ts'
import { freshDatabase, syntheticAggregate } from './support/gateway.ts'

/**
 * Faults while the edges keep publishing: Mosquitto killed with SIGKILL and restarted, the gateway
 * killed with SIGKILL and restarted, the uplink cut for minutes (STORE_EDGE_TEST_CUT_MS, default
 * 2 min). Afterwards the TSDB must hold exactly what the edges published: every point, once.
 * Aggregates run on simulated minutes (20 a second per store) so the outage spans days of data.
 */
const CUT_MS = Number(process.env.STORE_EDGE_TEST_CUT_MS ?? 120_000)
const ZONES = ['entrance', 'floor-1']
const STORES = ['fault-1', 'fault-2', 'fault-3']

describe('gateway faults: zero lost, zero duplicated points', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let mosquitto: PrivateMosquitto
  let proxy: CutProxy
  let vm: PrivateVictoria
  let db: { url: string; drop: () => Promise<void> }
  let gateway: GatewayProcess
  const edges: EdgeApp[] = []
  const published = new Map<string, MinuteAggregate[]>(STORES.map((s) => [s, []]))
  let generating = false
  let generator: Promise<void> | undefined

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('store-edge-gw-faults-'))
    mosquitto = await new PrivateMosquitto(`${dir}/mosquitto`).start()
    proxy = await new CutProxy(() => mosquitto.port).start()
    vm = await new PrivateVictoria(`${dir}/vm`).start()
    db = await freshDatabase()
    gateway = await new GatewayProcess({ STORE_EDGE_GW_ID: 'faults', STORE_EDGE_GW_DATA_DIR: `${dir}/gw`, MQTT_URL: mosquitto.url, TSDB_URL: vm.url, DATABASE_URL: db.url }).start()
    for (const store of STORES) {
      // The edges reach the central broker through the relay we can cut.
      edges.push(await new EdgeApp({ config: testConfig(`${dir}/${store}`, { store: { id: store, timezone: 'UTC' }, uplink: { url: proxy.url } }), logger: testLogger(), defaultMetrics: false }).start())
    }
    await waitFor(() => edges.every((e) => e.uplink!.connected), 'edges connected')
  }, 120_000)

  afterAll(async () => {
    generating = false
    await generator
    for (const e of edges) await e.stop()
    await gateway?.stop()
    await proxy?.stop()
    await mosquitto?.stop()
    await vm?.stop()
    await db?.drop()
    await cleanup()
  })

  it('survives kill -9 of Mosquitto and of the gateway and a cut uplink', { timeout: CUT_MS + 240_000 }, async () => {
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 86_400_000
    let minute = 0
    generating = true
    generator = (async () => {
      while (generating) {
        const m = base + minute++ * 60_000
        for (const edge of edges) {
          const agg = syntheticAggregate(edge.config.store.id, m, ZONES, 3)
          published.get(edge.config.store.id)!.push(agg)
          await edge.publish(topics.storeAgg(edge.config.store.id), agg)
        }
        await sleep(50)
      }
    })()

    await sleep(4000)
    await mosquitto.kill9()
    await sleep(2000)
    await mosquitto.start()
    await sleep(4000)
    await gateway.kill9()
    await sleep(2000)
    await gateway.start()
    await sleep(4000)
    await proxy.cut()
    await sleep(CUT_MS)
    const backlog = edges.reduce((n, e) => n + e.uplink!.spool.size, 0)
    expect(backlog).toBeGreaterThan(0) // the cut really held messages back
    await proxy.restore()
    const restoredAt = Date.now()
    await sleep(3000)
    generating = false
    await generator

    const expected = [...published.values()].reduce((n, l) => n + l.length, 0)
    await waitFor(() => edges.every((e) => e.uplink!.spool.size === 0), 'edge spools drained', 120_000)
    const count = async () => (await vm.export('{__name__="occupancy_value",source="all",zone="entrance",store=~"fault-.*"}')).reduce((n, s) => n + s.values.length, 0)
    await waitFor(async () => (await count()) >= expected, 'every point in the TSDB', 120_000).catch(() => undefined)
    const drainedS = (Date.now() - restoredAt) / 1000

    let lost = 0
    let duplicates = 0
    let wrong = 0
    for (const zone of ZONES) {
      for (const store of STORES) {
        const truth = new Map(published.get(store)!.map((a) => [a.minute, a.zones.find((z) => z.zone === zone)!.occupancy]))
        const [series] = await vm.export(`{__name__="occupancy_value",source="all",store="${store}",zone="${zone}"}`)
        const seen = new Map<number, number>()
        series?.timestamps.forEach((ts, i) => {
          seen.set(ts, (seen.get(ts) ?? 0) + 1)
          if (truth.get(ts) !== series.values[i]) wrong++
        })
        for (const ts of truth.keys()) if (!seen.has(ts)) lost++
        for (const [ts, n] of seen) if (n > 1 || !truth.has(ts)) duplicates += truth.has(ts) ? n - 1 : n
      }
    }
    console.log(JSON.stringify({ test: 'gateway-faults', aggregates: expected, cutMs: CUT_MS, backlogAtRestore: backlog, drainedS, lost, duplicates, wrong }))
    expect({ lost, duplicates, wrong }).toEqual({ lost: 0, duplicates: 0, wrong: 0 })
  })

  it('a broker killed while the gateway is away loses its queue; the edges\' replay window restores it', { timeout: 120_000 }, async () => {
    await gateway.kill9() // its session (and shared subscription) stays at the broker, queueing
    await mosquitto.stop() // a clean stop saves that session…
    await mosquitto.start({ autosaveS: 3600 }) // …and from here nothing more is saved
    const replayEdges: EdgeApp[] = []
    for (const [store, replayWindowMs] of [['replay-on', 300_000], ['replay-off', 0]] as const) {
      replayEdges.push(await new EdgeApp({ config: testConfig(`${dir}/${store}`, { store: { id: store, timezone: 'UTC' }, uplink: { url: mosquitto.url, replayWindowMs } }), logger: testLogger(), defaultMetrics: false }).start())
    }
    try {
      await waitFor(() => replayEdges.every((e) => e.uplink!.connected), 'edges connected')
      const base = Math.floor(Date.now() / 60_000) * 60_000 - 20 * 86_400_000
      for (const e of replayEdges) for (let m = 0; m < 50; m++) await e.publish(topics.storeAgg(e.config.store.id), syntheticAggregate(e.config.store.id, base + m * 60_000, ZONES))
      // Acknowledged by the broker and queued there for the absent gateway: gone from the edges' spools.
      await waitFor(() => replayEdges.every((e) => e.uplink!.spool.size === 0), 'acknowledged by the broker')
      await mosquitto.kill9()
      await mosquitto.start({ autosaveS: 3600 })
      await waitFor(() => replayEdges.every((e) => e.uplink!.connected), 'edges reconnected')
      await gateway.start()
      const points = async (store: string) => (await vm.export(`{__name__="occupancy_value",source="all",zone="entrance",store="${store}"}`))[0]?.values.length ?? 0
      await waitFor(async () => (await points('replay-on')) === 50, 'the replayed window in the TSDB', 60_000)
      await sleep(2000) // the control has had every chance to arrive too
      expect(await points('replay-on')).toBe(50)
      expect(await points('replay-off')).toBe(0) // what the broker acknowledged and lost, without the replay window
    } finally {
      for (const e of replayEdges) await e.stop()
    }
  })
})
