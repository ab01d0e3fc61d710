/**
 * Ingest benchmark: simulated BLE scanners publish over loopback MQTT (QoS 1, batches of 10
 * sightings) into the edge. 50,000 devices, each heard by its three nearest scanners (40 scanners,
 * 5 per zone); 10% member iBeacons, 30% public MACs, 60% phones with random addresses. We measure
 *  - msgsPerSec / sightingsPerSec: the highest sustained rate the edge processes (broker + decode +
 *    presence on the edge's one thread), with the load generator in its own process;
 *  - p50Ms / p99Ms: sensor publish → presence updated, at an offered 5,000 messages/s;
 *  - rssMb: the edge process's RSS with 50,000 identities tracked;
 *  - mosquittoRatio: our rate ÷ the rate of the same decode + presence pipeline consuming from the
 *    machine's Mosquitto (127.0.0.1:1883), measured in the same run.
 * Progress goes to stderr; the last stdout line is the JSON result.
 */
import { fork } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { pino } from 'pino'
import { EdgeApp } from '../edge/app.ts'
import { resolveConfig, type EdgeConfig } from '../edge/core/config.ts'

const SCANNERS = Number(process.env.BENCH_SCANNERS ?? 40)
const IDENTITIES = 50_000
const MAX_MS = Number(process.env.BENCH_MAX_MS ?? 12_000)
const LAT_MS = Number(process.env.BENCH_LAT_MS ?? 10_000)
const MOSQUITTO_URL = process.env.BENCH_MOSQUITTO_URL ?? 'mqtt://127.0.0.1:1883'
const log = (msg: string) => process.stderr.write(`[bench ingest] ${msg}\n`)
const hrNow = () => performance.timeOrigin + performance.now()

const zones = Array.from({ length: 8 }, (_, i) => ({ id: `zone-${i}`, name: `Zone ${i}` }))

function config(dataDir: string, ids: string[]): EdgeConfig {
  return resolveConfig(
    {
      dataDir,
      store: { id: 'bench', timezone: 'UTC' },
      broker: { host: '127.0.0.1', port: 0, wsPort: -1, publishRatePerSec: 100_000, publishBurst: 100_000 },
      http: { host: '127.0.0.1', port: 0 },
      log: { level: 'warn' },
      zones,
      // neighbouring scanners share a zone (5 per zone), as they would along a store's aisles
      sensors: ids.map((id, i) => ({ id, zone: zones[Math.floor((i * zones.length) / ids.length)]!.id })),
      presence: { maxIdentities: 200_000 },
    },
    {},
  )
}

interface PublisherResult { sent: number; acked: number; ms: number }

function runPublisher(job: object): { ready: Promise<void>; done: Promise<PublisherResult> } {
  // Built (dist/run.mjs): the publisher is bundled beside it; from source it runs through tsx.
  const built = import.meta.url.endsWith('.mjs')
  const child = fork(fileURLToPath(new URL(built ? './ingest.publisher.mjs' : './ingest.publisher.ts', import.meta.url)), [], {
    env: { ...process.env, BENCH_JOB: JSON.stringify(job) },
    execArgv: built ? [] : ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  let readyResolve!: () => void
  const ready = new Promise<void>((r) => (readyResolve = r))
  const done = new Promise<PublisherResult>((resolve, reject) => {
    child.on('message', (m: { type: string; message?: string } & PublisherResult) => {
      if (m.type === 'ready') readyResolve()
      else if (m.type === 'done') resolve(m)
      else if (m.type === 'error') reject(new Error(m.message))
    })
    child.on('exit', (code) => code !== 0 && reject(new Error(`publisher exited with ${code}`)))
  })
  return { ready, done }
}

/** Count processed messages and record publish→presence latency by wrapping the pipeline's handle(). */
function instrument(edge: EdgeApp) {
  const state = { processed: 0, recording: false, latencies: [] as number[] }
  const orig = edge.pipeline.handle.bind(edge.pipeline)
  edge.pipeline.handle = (topic, payload, receivedAt) => {
    const r = orig(topic, payload, receivedAt)
    state.processed++
    if (state.recording) {
      // payload starts with {"bt":<17 chars>, written by the publisher just before publish
      const bt = Number(payload.toString('latin1', 6, 23))
      state.latencies.push(hrNow() - bt)
    }
    return r
  }
  return state
}

/** Processed messages per second over the middle of a saturated run (warm-up and tail cut off). */
async function measureMax(state: { processed: number }, publisher: ReturnType<typeof runPublisher>, ms: number): Promise<{ rate: number; cpuPct: number }> {
  await publisher.ready
  await new Promise((r) => setTimeout(r, Math.min(3000, ms / 4)))
  const c0 = state.processed
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  const stopProfile = await startProfile()
  await new Promise((r) => setTimeout(r, ms / 2))
  const cpu = process.cpuUsage(cpu0)
  await stopProfile()
  const wall = performance.now() - t0
  const rate = ((state.processed - c0) * 1000) / wall
  await publisher.done
  return { rate, cpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100 }
}

/** BENCH_PROFILE=dir writes a CPU profile of each saturated window (for finding the hot spots). */
async function startProfile(): Promise<() => Promise<void>> {
  const dir = process.env.BENCH_PROFILE
  if (!dir) return async () => {}
  const { Session } = await import('node:inspector/promises')
  const { writeFile } = await import('node:fs/promises')
  const s = new Session()
  s.connect()
  await s.post('Profiler.enable')
  await s.post('Profiler.start')
  return async () => {
    const { profile } = await s.post('Profiler.stop')
    await writeFile(join(dir, `ingest-${Date.now()}.cpuprofile`), JSON.stringify(profile))
    s.disconnect()
  }
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN

async function main() {
  const dataDir = await mkdtemp(join(tmpdir(), 'store-edge-bench-'))
  const ids = Array.from({ length: SCANNERS }, (_, i) => `bench-scanner-${i}`)
  const edge = await new EdgeApp({ config: config(join(dataDir, 'edge'), ids), logger: pino({ level: 'warn' }), defaultMetrics: false }).start()
  const clients = []
  for (const id of ids) {
    const c = await edge.credentials.provision(id, 'ble')
    clients.push({ deviceId: id, username: c.username, password: c.password })
  }
  const state = instrument(edge)
  log(`RSS at start ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB`)
  let tickMax = 0
  const tick = edge.presence.tick.bind(edge.presence)
  edge.presence.tick = (now) => {
    const t0 = performance.now()
    const r = tick(now)
    tickMax = Math.max(tickMax, performance.now() - t0)
    return r
  }

  log(`phase 1: ${SCANNERS} scanners publishing as fast as the edge acknowledges, ${MAX_MS / 1000}s`)
  const { rate: maxRate, cpuPct: edgeCpuPct } = await measureMax(state, runPublisher({ host: '127.0.0.1', port: edge.broker.address.mqtt.port, clients, identities: IDENTITIES, mode: 'max', rate: 0, durationMs: MAX_MS, window: 32 }), MAX_MS)
  log(`edge sustained ${maxRate.toFixed(0)} msgs/s at ${edgeCpuPct.toFixed(0)}% of one core; tracking ${edge.presence.engine.size} identities`)

  log(`phase 2: latency at an offered 5,000 msgs/s, ${LAT_MS / 1000}s`)
  const lat = runPublisher({ host: '127.0.0.1', port: edge.broker.address.mqtt.port, clients, identities: IDENTITIES, mode: 'rate', rate: 5000, durationMs: LAT_MS, window: 0 })
  await lat.ready
  await new Promise((r) => setTimeout(r, 1000))
  state.recording = true
  const latRes = await lat.done
  state.recording = false
  const sorted = state.latencies.sort((a, b) => a - b)
  log(`latency samples ${sorted.length}, publisher sent ${latRes.sent} acked ${latRes.acked}`)

  if (global.gc) global.gc()
  await new Promise((r) => setTimeout(r, 500))
  const identities = edge.presence.engine.size
  const mem = process.memoryUsage()
  const rssMb = mem.rss / 1024 / 1024
  log(`RSS ${rssMb.toFixed(0)} MB (heap ${(mem.heapUsed / 1048576).toFixed(0)}/${(mem.heapTotal / 1048576).toFixed(0)} MB, external ${(mem.external / 1048576).toFixed(0)} MB) with ${identities} identities tracked; presence tick max ${tickMax.toFixed(1)} ms`)
  await edge.stop()

  log('phase 3: the same decode + presence pipeline consuming from the machine’s Mosquitto')
  const ref = await new EdgeApp({ config: config(join(dataDir, 'ref'), ids), logger: pino({ level: 'warn' }), defaultMetrics: false }).start()
  const refState = instrument(ref)
  const prefix = `bench${process.pid}`
  const refIds = ids.map((id) => `${prefix}-${id}`.slice(0, 60))
  const sub = await mqtt.connectAsync(MOSQUITTO_URL, { clientId: `${prefix}-sub`, clean: true, reconnectPeriod: 0 })
  sub.on('message', (topic, payload) => {
    // the same topic layout; strip the run prefix so the sensors map to the configured ones
    ref.pipeline.handle(topic.replace(`${prefix}-`, ''), payload)
  })
  await sub.subscribeAsync(refIds.map((id) => `sensors/${id}/ble`), { qos: 1 })
  const { rate: mosqRate, cpuPct: mosqCpuPct } = await measureMax(
    refState,
    runPublisher({ host: new URL(MOSQUITTO_URL).hostname, port: Number(new URL(MOSQUITTO_URL).port || 1883), clients: refIds.map((deviceId) => ({ deviceId })), identities: IDENTITIES, mode: 'max', rate: 0, durationMs: MAX_MS, window: 32 }),
    MAX_MS,
  )
  log(`pipeline consuming from Mosquitto sustained ${mosqRate.toFixed(0)} msgs/s at ${mosqCpuPct.toFixed(0)}% of one core`)
  await sub.endAsync()
  await ref.stop()
  await rm(dataDir, { recursive: true, force: true })

  const result = {
    bench: 'ingest',
    msgsPerSec: Math.round(maxRate),
    sightingsPerSec: Math.round(maxRate * 10),
    p50Ms: Number(pct(sorted, 50).toFixed(3)),
    p99Ms: Number(pct(sorted, 99).toFixed(3)),
    rssMb: Math.round(rssMb),
    mosquittoRatio: Number((maxRate / mosqRate).toFixed(2)),
    identities,
    scanners: SCANNERS,
    qos: 1,
    latencyAtMsgsPerSec: 5000,
    mosquittoMsgsPerSec: Math.round(mosqRate),
    edgeCpuPct: Math.round(edgeCpuPct),
  }
  process.stdout.write(JSON.stringify(result) + '\n')
  process.exit(0)
}

main().catch((err) => {
  process.stderr.write(`[bench ingest] failed: ${(err as Error).stack}\n`)
  process.exit(1)
})
