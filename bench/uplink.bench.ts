/**
 * Uplink benchmark: 100 store edges (the real uplink module and on-disk spool of each) → a private
 * Mosquitto with the central configuration → one gateway process ($share consumer, TSDB writer) →
 * VictoriaMetrics. Two phases:
 *  - live: every store publishes presence events and minute aggregates at an accelerated pace;
 *    p99EdgeToLiveMs is edge publish → the event on the gateway's live stream (SSE), as a browser sees it;
 *  - outage: the uplink is cut, each store spools one hour of minute aggregates (SERIES lines each),
 *    the uplink is restored: catchupSec is restore → every line in the TSDB; linesPerSec the lines
 *    over that time; gatewayCpuPct the gateway process's CPU over it (100 = one core).
 * Afterwards the TSDB is compared with what the edges published: lost and duplicates must be 0.
 * Progress goes to stderr; the last stdout line is the JSON result.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Aedes } from 'aedes'
import { pino } from 'pino'
import { topics, type MinuteAggregate, type PresenceEvent } from '../edge/contracts/index.ts'
import { resolveConfig } from '../edge/core/config.ts'
import { createMetrics } from '../edge/core/metrics.ts'
import { systemClock } from '../edge/core/clock.ts'
import { UplinkModule } from '../edge/uplink/uplink.module.ts'
import type { BrokerModule } from '../edge/broker/broker.module.ts'
import { cpuSeconds, metricSum, PrivateMosquitto, PrivateVictoria } from '../tests/support/servers.ts'
import { CutProxy } from '../tests/support/cut-proxy.ts'
import { GatewayProcess } from '../tests/support/gateway-process.ts'
import { login, syntheticAggregate } from '../tests/support/gateway.ts'

const STORES = Number(process.env.BENCH_STORES ?? 100)
const ZONES = Number(process.env.BENCH_ZONES ?? 30) // lines per store-minute ≈ 2 + 3·zones + zones/2
const BACKLOG_MINUTES = Number(process.env.BENCH_BACKLOG_MINUTES ?? 60)
const LIVE_MS = Number(process.env.BENCH_LIVE_MS ?? 20_000)
const log = (msg: string) => process.stderr.write(`[bench uplink] ${msg}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const dir = await mkdtemp(join(tmpdir(), 'store-edge-bench-uplink-'))
const quiet = pino({ level: 'silent' })
const zones = Array.from({ length: ZONES }, (_, i) => `zone-${String(i).padStart(2, '0')}`)
const storeIds = Array.from({ length: STORES }, (_, i) => `bench-${String(i).padStart(3, '0')}`)
const truth = new Map<string, MinuteAggregate[]>(storeIds.map((s) => [s, []]))

const mosquitto = await new PrivateMosquitto(join(dir, 'mosquitto')).start({ autosaveS: 5 })
const vm = await new PrivateVictoria(join(dir, 'vm')).start()
const proxy = await new CutProxy(() => mosquitto.port).start()
const gateway = await new GatewayProcess(
  { STORE_EDGE_GW_ID: 'bench', STORE_EDGE_GW_DATA_DIR: join(dir, 'gw'), MQTT_URL: mosquitto.url, TSDB_URL: vm.url, STORE_EDGE_GW_AUTH_DEMO_USERS: 'true' },
  join(process.cwd(), 'bin/store-edge.js'),
).start()
log(`mosquitto ${mosquitto.url}, victoria-metrics ${vm.url}, gateway ${gateway.url} (pid ${gateway.pid})`)

// The edges: one local bus (aedes, in memory) and, per store, its real uplink module and spool.
const bus = await Aedes.createBroker()
const edgeMetrics = createMetrics({ defaultMetrics: false })
const uplinks: UplinkModule[] = []
for (const id of storeIds) {
  const cfg = resolveConfig({ store: { id, timezone: 'UTC' }, dataDir: join(dir, 'edges', id), log: { level: 'silent' }, uplink: { url: proxy.url, inflight: 1000, replayDelayMs: 2000 } }, {})
  const u = new UplinkModule(cfg, { aedes: bus } as unknown as BrokerModule, edgeMetrics, systemClock, quiet)
  await u.start()
  uplinks.push(u)
}
const publish = (topic: string, payload: unknown) =>
  new Promise<void>((r) => bus.publish({ cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(payload)), qos: 1, retain: false, dup: false }, () => r()))
while (!uplinks.every((u) => u.connected)) await sleep(50)
log(`${STORES} edges connected`)

// ---- live phase: presence events every second per store, aggregates every 5 s; latency on the SSE stream.
const cookie = await login(gateway.url, 'ops', 'demo-ops')
const latencies: number[] = []
const sse = new AbortController()
const stream = (async () => {
  const res = await fetch(`${gateway.url}/v1/stream`, { headers: { cookie }, signal: sse.signal })
  const dec = new TextDecoder()
  let buf = ''
  for await (const chunk of res.body!) {
    buf += dec.decode(chunk as Uint8Array, { stream: true })
    let i: number
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i)
      buf = buf.slice(i + 2)
      if (!block.startsWith('event: presence')) continue
      const data = JSON.parse(block.slice(block.indexOf('data: ') + 6)) as { ts: number }
      latencies.push(Date.now() - data.ts)
    }
  }
})().catch(() => undefined)
await sleep(500)
const liveBase = Math.floor(Date.now() / 60_000) * 60_000 - 2 * 86_400_000
let liveMinute = 0
const liveStart = Date.now()
let tick = 0
while (Date.now() - liveStart < LIVE_MS) {
  const t0 = Date.now()
  for (const id of storeIds) {
    const ev: PresenceEvent = { v: 1, type: 'enter', id: `h:${tick}`, source: 'ble', zone: zones[tick % ZONES]!, ts: Date.now(), confidence: 0.9, randomAddress: false }
    void publish(topics.storeEvents(id, 'presence'), ev)
  }
  if (tick % 5 === 0) {
    const minute = liveBase + liveMinute++ * 60_000
    for (const id of storeIds) {
      const agg = syntheticAggregate(id, minute, zones)
      truth.get(id)!.push(agg)
      void publish(topics.storeAgg(id), agg)
    }
  }
  tick++
  await sleep(Math.max(0, 1000 - (Date.now() - t0)))
}
await sleep(1000)
sse.abort()
await stream
latencies.sort((a, b) => a - b)
const p99EdgeToLiveMs = latencies[Math.floor(latencies.length * 0.99)] ?? NaN
log(`live: ${latencies.length} events, p50 ${latencies[Math.floor(latencies.length / 2)]} ms, p99 ${p99EdgeToLiveMs} ms`)

// ---- outage: cut the uplink, spool an hour per store, restore, time the catch-up.
await proxy.cut()
const backlogBase = Math.floor(Date.now() / 60_000) * 60_000 - 3 * 3_600_000
let backlogLines = 0
for (let m = 0; m < BACKLOG_MINUTES; m++) {
  for (const id of storeIds) {
    const agg = syntheticAggregate(id, backlogBase + m * 60_000, zones, 1)
    truth.get(id)!.push(agg)
    backlogLines += agg.sources.length + agg.zones.length * 3 + agg.zones.filter((z) => z.dwellCount > 0).length
    await publish(topics.storeAgg(id), agg)
  }
}
while (uplinks.reduce((n, u) => n + u.spool.size, 0) < STORES * BACKLOG_MINUTES) await sleep(100)
log(`outage: ${STORES * BACKLOG_MINUTES} aggregates (${backlogLines} lines) spooled at the edges`)
const linesBefore = await metricSum(gateway.url, 'store_edge_gw_tsdb_lines_written_total')
const cpu0 = cpuSeconds(gateway.pid!)
const restoredAt = performance.now()
await proxy.restore()
let written = 0
let lastReport = 0
while ((written = (await metricSum(gateway.url, 'store_edge_gw_tsdb_lines_written_total')) - linesBefore) < backlogLines) {
  if (performance.now() - lastReport > 2000) {
    lastReport = performance.now()
    log(`catching up: ${written}/${backlogLines} lines, edge backlog ${uplinks.reduce((n, u) => n + u.spool.size, 0)}`)
  }
  if (performance.now() - restoredAt > 600_000) break
  await sleep(50)
}
const catchupSec = (performance.now() - restoredAt) / 1000
const gatewayCpuPct = ((cpuSeconds(gateway.pid!) - cpu0) / catchupSec) * 100
const linesPerSec = Math.round(written / catchupSec)
log(`caught up: ${written} lines in ${catchupSec.toFixed(1)} s (${linesPerSec} lines/s, gateway CPU ${gatewayCpuPct.toFixed(0)}%)`)

// ---- the TSDB against what the edges published (after the replay window has come round too).
const expectedSamples = [...truth.values()].reduce((n, l) => n + l.length, 0) * ZONES
const samples = async () => (await vm.export('{__name__="occupancy_value",source="all",store=~"bench-.*"}')).reduce((n, s) => n + s.values.length, 0)
for (let i = 0; i < 100 && (await samples()) < expectedSamples; i++) await sleep(300) // newly registered series become searchable shortly after
let lost = 0
let duplicates = 0
const series = await vm.export('{__name__="occupancy_value",source="all",store=~"bench-.*"}')
const byKey = new Map(series.map((s) => [`${s.metric.store}|${s.metric.zone}`, s]))
for (const [id, aggs] of truth) {
  for (const zone of zones) {
    const s = byKey.get(`${id}|${zone}`)
    const seen = new Map<number, number>()
    s?.timestamps.forEach((ts) => seen.set(ts, (seen.get(ts) ?? 0) + 1))
    const want = new Map(aggs.map((a) => [a.minute, a.zones.find((z) => z.zone === zone)!.occupancy]))
    for (const ts of want.keys()) if (!seen.has(ts)) lost++
    for (const [ts, n] of seen) duplicates += want.has(ts) ? n - 1 : n
    s?.timestamps.forEach((ts, i) => {
      if (want.has(ts) && want.get(ts) !== s.values[i]) lost++
    })
  }
}
log(`verified ${series.length} series: lost ${lost}, duplicates ${duplicates}`)

for (const u of uplinks) await u.stop()
await new Promise<void>((r) => bus.close(() => r()))
await gateway.stop()
await proxy.stop()
await mosquitto.stop()
await vm.stop()
await rm(dir, { recursive: true, force: true })
process.stdout.write(
  JSON.stringify({
    bench: 'uplink',
    stores: STORES,
    linesPerStoreMinute: Math.round(backlogLines / (STORES * BACKLOG_MINUTES)),
    backlogLines,
    linesPerSec,
    catchupSec: Math.round(catchupSec * 10) / 10,
    gatewayCpuPct: Math.round(gatewayCpuPct),
    lost,
    duplicates,
    p99EdgeToLiveMs,
  }) + '\n',
)
process.exit(0)
