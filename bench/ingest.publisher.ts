/**
 * Load generator for the ingest benchmark, run as a child process so it has its own core.
 * It publishes pre-built BLE batches (10 sightings each, from a pool of identities) over real
 * MQTT, QoS 1, either as fast as the broker acknowledges (closed loop, a bounded window per
 * client) or at a fixed rate (open loop). Each payload starts with a fixed-width high-resolution
 * send time `bt` (epoch ms) that the edge side reads to measure publish → presence-updated latency.
 */
import mqtt, { type MqttClient } from 'mqtt'

interface Job {
  url: string
  clients: Array<{ deviceId: string; username?: string; password?: string }>
  identities: number
  mode: 'max' | 'rate'
  rate: number
  durationMs: number
  window: number
}

const job = JSON.parse(process.env.BENCH_JOB ?? '{}') as Job
const hrNow = () => performance.timeOrigin + performance.now()

function mac(i: number, random: boolean): string {
  const b = [random ? 0xd2 : 0x00, 0x1a, (i >> 24) & 0xff, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff]
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':')
}
const ibeacon = (i: number) =>
  '0201061aff4c000215' + 'e2c56db5dffb48d2b060d0f5a71096e0' + ((i >> 16) & 0xffff).toString(16).padStart(4, '0') + (i & 0xffff).toString(16).padStart(4, '0') + 'c5'
const apple = '02011a0aff4c0010050b1c6d2a1f'

/** Templates: identity pool split into batches of 10, bt at a fixed offset so it can be patched. */
const BT_OFFSET = '{"bt":'.length
function buildTemplates(): Buffer[] {
  const ts = Date.now()
  const out: Buffer[] = []
  for (let base = 0; base < job.identities; base += 10) {
    const sightings = []
    for (let k = 0; k < 10; k++) {
      const i = base + k
      const kind = i % 10
      if (kind === 0) sightings.push({ mac: mac(i, true), addrType: 'random', rssi: -60 - (i % 30), adv: ibeacon(i) })
      else if (kind < 4) sightings.push({ mac: mac(i, false), addrType: 'public', rssi: -55 - (i % 35) })
      else sightings.push({ mac: mac(i, true), addrType: 'random', rssi: -58 - (i % 32), adv: apple })
    }
    out.push(Buffer.from(`{"bt":${hrNow().toFixed(3)},"v":1,"ts":${ts},"sightings":${JSON.stringify(sightings)}}`))
  }
  return out
}

async function main() {
  const templates = buildTemplates()
  const clients: MqttClient[] = await Promise.all(
    job.clients.map(
      (c) =>
        new Promise<MqttClient>((resolve, reject) => {
          const cl = mqtt.connect(job.url, { clientId: c.deviceId, username: c.username, password: c.password, reconnectPeriod: 0, clean: true })
          cl.once('connect', () => resolve(cl))
          cl.once('error', reject)
        }),
    ),
  )
  const topicsOf = job.clients.map((c) => `sensors/${c.deviceId}/ble`)
  let next = 0
  let sent = 0
  let acked = 0
  const payload = () => {
    const t = templates[next++ % templates.length]!
    const p = Buffer.from(t) // the client may hold it until acked: patch a copy
    p.write(hrNow().toFixed(3), BT_OFFSET, 'latin1')
    return p
  }
  process.send?.({ type: 'ready' })
  const start = Date.now()
  const end = start + job.durationMs
  if (job.mode === 'max') {
    await Promise.all(
      clients.map(async (c, ci) => {
        let inflight = 0
        await new Promise<void>((resolve) => {
          const pump = () => {
            while (inflight < job.window && Date.now() < end) {
              inflight++
              sent++
              c.publish(topicsOf[ci]!, payload(), { qos: 1 }, () => {
                inflight--
                acked++
                if (Date.now() < end) pump()
                else if (inflight === 0) resolve()
              })
            }
            if (Date.now() >= end && inflight === 0) resolve()
          }
          pump()
        })
      }),
    )
  } else {
    // Open loop: a fixed number of messages every 10 ms tick, spread over the clients.
    const perTick = job.rate / 100
    let owed = 0
    let ci = 0
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (Date.now() >= end) {
          clearInterval(timer)
          return resolve()
        }
        owed += perTick
        while (owed >= 1) {
          owed--
          sent++
          const c = ci++ % clients.length
          clients[c]!.publish(topicsOf[c]!, payload(), { qos: 1 }, () => acked++)
        }
      }, 10)
    })
  }
  await new Promise((r) => setTimeout(r, 500))
  process.send?.({ type: 'done', sent, acked, ms: Date.now() - start })
  await Promise.all(clients.map((c) => c.endAsync()))
  process.exit(0)
}

main().catch((err) => {
  process.send?.({ type: 'error', message: (err as Error).message })
  process.exit(1)
})
