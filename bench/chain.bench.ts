/**
 * Chain benchmark: 50 store edges (each its own `store-edge edge` process with its own aedes broker
 * and the demo store's simulated sensors publishing into it), bridging over their uplinks to the
 * machine's Mosquitto; two gateway processes on one shared subscription; PostgreSQL (the coupon
 * ledger, a private cluster) and VictoriaMetrics. Ten minutes of traffic, during which each central
 * part is restarted once. Afterwards central is compared with what every edge published: lost and
 * duplicates must be 0. Resource use per store and per gateway comes from /proc.
 *
 * Env: BENCH_STORES (50), BENCH_DURATION_S (600), BENCH_RATE (shopper arrivals over a typical
 * store; 3, the demo's busy store), BENCH_BROKER (machine | private: a private Mosquitto instead
 * of the machine's), BENCH_RESTART (which parts, comma-separated; default all five),
 * BENCH_EDGE_LOG_LEVEL, BENCH_EDGE_NODE_ARGS, BENCH_TRACE_RSS.
 * Progress goes to stderr; the last stdout line is the JSON result.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { packageRoot } from '../models/paths.ts'
import { Chain, type PartName } from '../tests/support/chain.ts'
import { cpuSeconds, MachineMosquitto, PrivateMosquitto, rssMb } from '../tests/support/servers.ts'

const STORES = Number(process.env.BENCH_STORES ?? 50)
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 600)
const RATE = Number(process.env.BENCH_RATE ?? 3)
const BROKER = process.env.BENCH_BROKER ?? 'machine'
/** Which central parts to restart (comma-separated; default all five). */
const RESTART = (process.env.BENCH_RESTART ?? 'mosquitto,gateway-1,victoria-metrics,postgresql,gateway-2').split(',').filter(Boolean)
const log = (msg: string) => process.stderr.write(`[bench chain ${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** CPU seconds per group of processes, following restarts (a new pid counts from its birth). */
class CpuMeter {
  private last = new Map<number, number>()
  readonly total = new Map<string, number>()
  private first = true

  sample(groups: Record<string, number[]>): void {
    for (const [group, pids] of Object.entries(groups)) {
      for (const pid of pids) {
        if (!pid) continue
        const now = cpuSeconds(pid)
        const before = this.last.get(pid) ?? (this.first ? now : 0)
        this.last.set(pid, now)
        this.total.set(group, (this.total.get(group) ?? 0) + Math.max(0, now - before))
      }
    }
    this.first = false
  }

  pct(group: string, seconds: number): number {
    return Math.round(((this.total.get(group) ?? 0) / seconds) * 1000) / 10
  }
}

const dir = await mkdtemp(join(tmpdir(), 'store-edge-bench-chain-'))
const prefix = `chain${Date.now().toString(36)}`
const broker = BROKER === 'private' ? await new PrivateMosquitto(join(dir, 'mosquitto')).start({ autosaveS: 60 }) : await new MachineMosquitto().check()
const chain = new Chain({ dir, stores: STORES, prefix, broker, cli: join(packageRoot(), 'dist/cli.mjs'), rate: RATE, log, edgeLogLevel: process.env.BENCH_EDGE_LOG_LEVEL, edgeNodeArgs: process.env.BENCH_EDGE_NODE_ARGS?.split(' ').filter(Boolean) })
let result: Record<string, unknown> | undefined
try {
  log(`${STORES} stores, ${DURATION_S} s, broker ${BROKER === 'private' ? 'a private Mosquitto' : "the machine's Mosquitto"} (${broker.url}), data in ${dir}`)
  await chain.start()

  const meter = new CpuMeter()
  const rssPeak = new Map<string, number>()
  const rssLast = new Map<string, number>()
  let brokerRssPeak = 0
  let vmRssPeak = 0
  let gwRssPeak = 0
  const groups = () => {
    const p = chain.pids()
    return { edges: p.edges, 'gateway-1': [p.gateways[0]!], 'gateway-2': [p.gateways[1]!], broker: p.broker, vm: p.vm, pg: p.pg, sensors: [process.pid] }
  }
  const sampleAll = () => {
    const g = groups()
    meter.sample(g)
    chain.edges.forEach((e, i) => {
      const r = rssMb(g.edges[i]!)
      rssLast.set(e.id, r)
      rssPeak.set(e.id, Math.max(rssPeak.get(e.id) ?? 0, r))
    })
    brokerRssPeak = Math.max(brokerRssPeak, ...g.broker.map(rssMb), 0)
    vmRssPeak = Math.max(vmRssPeak, ...g.vm.map(rssMb), 0)
    gwRssPeak = Math.max(gwRssPeak, rssMb(g['gateway-1'][0]!), rssMb(g['gateway-2'][0]!))
    if (process.env.BENCH_TRACE_RSS) log(`edge RSS now max ${Math.round(Math.max(...rssLast.values()))} MB, peak ${Math.round(Math.max(...rssPeak.values()))} MB`)
  }
  sampleAll()
  const sampler = setInterval(sampleAll, 2000)

  // Each central part once, spread over the run.
  const plan: Array<[number, PartName]> = [
    [0.15, 'mosquitto'],
    [0.3, 'gateway-1'],
    [0.45, 'victoria-metrics'],
    [0.6, 'postgresql'],
    [0.75, 'gateway-2'],
  ]
  for (const p of [...plan]) if (!RESTART.includes(p[1])) plan.splice(plan.indexOf(p), 1)
  const started = Date.now()
  const uplink0 = chain.uplinkMessages()
  const sensors0 = chain.sensorMessages()
  let lastReport = started
  let lastUplink = uplink0
  while (Date.now() - started < DURATION_S * 1000) {
    const elapsed = (Date.now() - started) / 1000
    const due = plan.find(([f]) => elapsed >= f * DURATION_S)
    if (due) {
      plan.splice(plan.indexOf(due), 1)
      sampleAll()
      await chain.restart(due[1])
      sampleAll()
    }
    if (Date.now() - lastReport >= 30_000) {
      const up = chain.uplinkMessages()
      log(`${Math.round(elapsed)} s: uplink ${Math.round((up - lastUplink) / ((Date.now() - lastReport) / 1000))} msgs/s, sensors ${chain.sensorMessages() - sensors0} msgs so far, edge RSS max ${Math.round(Math.max(...rssLast.values()))} MB`)
      lastReport = Date.now()
      lastUplink = up
    }
    await sleep(500)
  }
  const runS = (Date.now() - started) / 1000
  sampleAll()
  clearInterval(sampler)
  const uplinkMsgs = chain.uplinkMessages() - uplink0
  const sensorMsgs = chain.sensorMessages() - sensors0
  log(`traffic stopped after ${Math.round(runS)} s: ${uplinkMsgs} uplink messages, ${sensorMsgs} sensor messages; draining and verifying`)
  await chain.stopSensors()
  const v = await chain.drainAndVerify()
  const tsdb = await chain.tsdbFootprint()
  const lost = v.lost.aggregates + v.lost.geofence + v.lost.coupons + v.lost.pushes
  const duplicates = v.duplicates.samples + v.duplicates.coupons + v.duplicates.pushes
  log(`verified: ${JSON.stringify(v)}`)
  const peaks = [...rssPeak.values()]
  const kinds: Record<string, number> = {}
  for (const t of chain.truth.values()) for (const [k, n] of Object.entries(t.byKind)) kinds[k] = (kinds[k] ?? 0) + n
  result = {
    bench: 'chain',
    stores: STORES,
    msgsPerSec: Math.round((uplinkMsgs / runS) * 10) / 10,
    lost,
    duplicates,
    gatewayCpuPct: Math.max(meter.pct('gateway-1', runS), meter.pct('gateway-2', runS)),
    edgeRssMb: Math.round(Math.max(...peaks)),
    durationS: Math.round(runS),
    sensorMsgsPerSec: Math.round(sensorMsgs / runS),
    uplinkByKind: kinds,
    verified: { rejected: v.rejected, lostExamples: v.lostExamples, aggregates: v.aggregates, geofenceEvents: v.geofenceEvents, couponRequests: v.couponRequests, couponsIssued: v.issued, lost: v.lost, duplicates: v.duplicates, absorbed: v.absorbed, drainS: v.drainS },
    restarts: chain.restarts,
    tsdb: { series: tsdb.series, seriesPerStore: Math.round(tsdb.series / STORES), samplesPerStoreMinute: Math.round((tsdb.samples / STORES / ((Date.now() - started) / 60_000)) * 10) / 10 },
    cpuPct: {
      gateway1: meter.pct('gateway-1', runS),
      gateway2: meter.pct('gateway-2', runS),
      edgePerStore: Math.round((meter.pct('edges', runS) / STORES) * 10) / 10,
      edgesAll: meter.pct('edges', runS),
      sensorsAndAudit: meter.pct('sensors', runS),
      broker: meter.pct('broker', runS),
      victoriaMetrics: meter.pct('vm', runS),
      postgres: meter.pct('pg', runS),
    },
    rssMb: {
      edgePeakMax: Math.round(Math.max(...peaks)),
      edgePeakMean: Math.round(peaks.reduce((a, b) => a + b, 0) / peaks.length),
      edgeEndMean: Math.round([...rssLast.values()].reduce((a, b) => a + b, 0) / rssLast.size),
      gatewayPeak: Math.round(gwRssPeak),
      brokerPeak: Math.round(brokerRssPeak),
      victoriaMetricsPeak: Math.round(vmRssPeak),
    },
  }
} finally {
  if (!result || result.lost || result.duplicates) await chain.dumpLogs()
  await chain.stop({ cleanBroker: BROKER !== 'private' }).catch((err: Error) => log(`stop: ${err.message}`))
  if (broker instanceof PrivateMosquitto) await broker.stop()
  if (result && !result.lost && !result.duplicates) await rm(dir, { recursive: true, force: true })
  else log(`logs kept in ${dir}`)
}
process.stdout.write(JSON.stringify(result) + '\n')
process.exit(0)
