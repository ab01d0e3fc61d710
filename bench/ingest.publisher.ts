/**
 * Load generator for the ingest benchmark, run as a child process so it has its own core.
 * It speaks MQTT 3.1.1 on raw sockets with pre-encoded PUBLISH packets (mqtt.js costs more CPU per
 * message than the broker under test, so it would measure itself): CONNECT with the device's
 * credentials, then QoS 1 PUBLISHes of BLE batches (10 sightings each, from a pool of identities),
 * either as fast as PUBACKs come back (closed loop, a bounded window per connection) or at a fixed
 * rate (open loop). Each payload starts with a fixed-width high-resolution send time `bt` (epoch
 * ms) that the edge side reads to measure publish → presence-updated latency.
 */
import { connect as tcpConnect, type Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'

interface Job {
  host: string
  port: number
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

/**
 * Payloads: the identity pool split into batches of 10; 10% member iBeacons, 30% public MACs, 60%
 * random phones, all at in-store levels (−50…−79 dBm) so every identity is placed and tracked.
 */
function buildPayloads(): string[] {
  const ts = Date.now()
  const out: string[] = []
  for (let base = 0; base < job.identities; base += 10) {
    const sightings = []
    for (let k = 0; k < 10; k++) {
      const i = base + k
      const kind = i % 10
      if (kind === 0) sightings.push({ mac: mac(i, true), addrType: 'random', rssi: -50 - (i % 30), adv: ibeacon(i) })
      else if (kind < 4) sightings.push({ mac: mac(i, false), addrType: 'public', rssi: -50 - ((i * 7) % 30) })
      else sightings.push({ mac: mac(i, true), addrType: 'random', rssi: -50 - ((i * 13) % 30), adv: apple })
    }
    out.push(`{"bt":${hrNow().toFixed(3)},"v":1,"ts":${ts},"sightings":${JSON.stringify(sightings)}}`)
  }
  return out
}

interface Conn {
  sock: Socket
  topic: string
  nextId: number
  inflight: number
  /** Pre-encoded PUBLISH per payload template this scanner hears; id and bt patched per send. */
  packets: Buffer[]
  next: number
  idOffset: number
  btOffset: number
  pump?: () => void
}

let sent = 0
let acked = 0

/**
 * Traffic model: a device is heard by the scanners near it, not by all of them. Templates (groups
 * of 10 devices) are spread over the scanners so each is heard by three neighbouring scanners.
 */
function heardBy(ci: number, n: number, payloads: string[]): string[] {
  return payloads.filter((_, t) => {
    const home = t % n
    return home === ci || (home + 1) % n === ci || (home + n - 1) % n === ci
  })
}

function openConn(c: Job['clients'][number], payloads: string[]): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({ host: job.host, port: job.port, noDelay: true })
    const topic = `sensors/${c.deviceId}/ble`
    const packets = payloads.map((p) =>
      mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(p), qos: 1, messageId: 1, retain: false, dup: false }),
    )
    // Fixed header (1 + remaining-length bytes) + topic length (2) + topic → message id, then payload.
    const sample = packets[0]!
    let rl = 1
    while (sample[rl]! & 0x80) rl++
    const idOffset = 1 + rl + 2 + Buffer.byteLength(topic)
    const conn: Conn = { sock, topic, nextId: 1, inflight: 0, packets, next: 0, idOffset, btOffset: idOffset + 2 + '{"bt":'.length }
    let connected = false
    let pending: Buffer = Buffer.alloc(0)
    sock.on('data', (d: Buffer) => {
      let buf: Buffer = pending.length ? Buffer.concat([pending, d]) : d
      let i = 0
      while (i + 1 < buf.length) {
        const len = buf[i + 1]! // CONNACK and PUBACK have remaining length 2
        if (i + 2 + len > buf.length) break
        const type = buf[i]! >> 4
        if (type === 2) {
          if (buf[i + 3] !== 0) return reject(new Error(`CONNACK refused (${buf[i + 3]}) for ${c.deviceId}`))
          connected = true
          resolve(conn)
        } else if (type === 4) {
          conn.inflight--
          acked++
          conn.pump?.()
        }
        i += 2 + len
      }
      pending = buf.subarray(i)
      buf = pending
    })
    sock.on('error', (err) => (connected ? undefined : reject(err)))
    sock.write(
      mqttPacket.generate({
        cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: c.deviceId, keepalive: 60,
        username: c.username, password: c.password ? Buffer.from(c.password) : undefined,
      }),
    )
  })
}

function send(conn: Conn): void {
  const tpl = conn.packets[conn.next++ % conn.packets.length]!
  const p = Buffer.from(tpl) // the template stays pristine; this copy is the socket's
  const id = conn.nextId
  conn.nextId = id >= 65535 ? 1 : id + 1
  p.writeUInt16BE(id, conn.idOffset)
  p.write(hrNow().toFixed(3), conn.btOffset, 'latin1')
  conn.inflight++
  sent++
  conn.sock.write(p)
}

async function main() {
  const payloads = buildPayloads()
  const conns = await Promise.all(job.clients.map((c, ci) => openConn(c, heardBy(ci, job.clients.length, payloads))))
  process.send?.({ type: 'ready' })
  const start = Date.now()
  const end = start + job.durationMs
  if (job.mode === 'max') {
    await new Promise<void>((resolve) => {
      let open = conns.length
      for (const conn of conns) {
        let finished = false
        conn.pump = () => {
          if (Date.now() < end) {
            while (conn.inflight < job.window) send(conn)
          } else if (!finished && conn.inflight === 0) {
            finished = true
            if (--open === 0) resolve()
          }
        }
        conn.pump()
      }
    })
  } else {
    // Open loop: messages every 2 ms tick, round-robin over the connections.
    const perTick = job.rate / 500
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
          send(conns[ci++ % conns.length]!)
        }
      }, 2)
    })
  }
  const deadline = Date.now() + 5000
  while (acked < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  process.send?.({ type: 'done', sent, acked, ms: Date.now() - start })
  for (const c of conns) c.sock.end(mqttPacket.generate({ cmd: 'disconnect' }))
  setTimeout(() => process.exit(0), 100)
}

main().catch((err) => {
  process.send?.({ type: 'error', message: (err as Error).message })
  process.exit(1)
})
