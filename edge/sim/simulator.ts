import { connect, type IClientOptions, type MqttClient } from 'mqtt'
import { topics, type Member } from '../contracts/index.ts'
import type { Clock } from '../core/clock.ts'
import type { SensorConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import { demoStore, type StoreLayout } from './demo-store.ts'
import { StoreModel, type Summary, type Truth } from './model.ts'
import { simulatedMembers } from './members.ts'
import { bleBatch, EspresenseReporter, espresenseStatusTopic, gateBatch, wifiBatch } from './payloads.ts'
import { Radio, type RadioOptions, type WifiHeard } from './radio.ts'

/**
 * The store simulator: steps the store model once per simulated second and publishes what every
 * sensor of the layout would publish, each sensor over its own MQTT connection with its own
 * credentials (client id = username = device id, persistent session, QoS 1, retained
 * online/offline status with a last will). Tests drive it step by step with `runFor`, awaiting
 * every PUBACK; the CLI lets it tick in real time (or `speed` times faster).
 */

export interface SimulatorOptions {
  brokerUrl: string
  /** Per device id. A sensor without an entry connects with its id as username and no password. */
  credentials: Record<string, { username: string; password: string }>
  store?: StoreLayout
  seed?: number
  /** Seed of the loyalty programme; default `seed` (see StoreModelOptions.memberSeed). */
  memberSeed?: number
  /** Where simulated time starts (and, at speed 1, keeps pace with). */
  clock: Clock
  /** Simulated seconds per wall-clock second (default 1). Timestamps are simulated time: give the edge `simulator.clock`. */
  speed?: number
  rateMultiplier?: number
  /** Store-local hour the simulation starts at (the day's curve is shifted to it). Default: the clock's real local hour. */
  startHour?: number
  /** The store's UTC offset, minutes (default 480, Asia/Shanghai). Ignored when startHour is given. */
  utcOffsetMinutes?: number
  /** Simulated time run before the start without publishing, so the store is not empty (default 0). */
  warmupMs?: number
  /** No real-time ticking: the caller steps with `step()` / `runFor()`. */
  manual?: boolean
  /** How long `start()` waits for the sensors to connect before going on without them (default 5000). */
  connectTimeoutMs?: number
  /** How long a stepped publish waits for its PUBACK (default 10000). */
  ackTimeoutMs?: number
  /** Wi-Fi sniffers batch their probes this often, simulated ms (default 5000). */
  wifiBatchMs?: number
  radio?: RadioOptions
  /**
   * Simulate the layout's car-park gate controllers (`sensors/{gateId}/parking`): shoppers arrive by
   * car, some in a member's registered car. Default: when `credentials` has every gate.
   */
  parking?: boolean
  /** Extra mqtt.js options for every sensor connection (reconnectPeriod, keepalive…). */
  mqtt?: Partial<IClientOptions>
  logger?: Logger
}

export interface PublishedCounters {
  /** Messages acknowledged or handed to the socket, by kind. */
  ble: number
  wifi: number
  espresense: number
  status: number
  /** Gate batches, and the gate events in them. */
  parking: number
  gateEvents: number
  bleSightings: number
  wifiProbes: number
  /** Messages not sent because the sensor was offline (or failed on purpose). */
  dropped: number
  /** Publishes that failed or timed out waiting for their ack. */
  errors: number
}

export interface StepInfo {
  now: number
  ble: number
  wifi: number
  espresense: number
  parking: number
}

const STEP_MS = 1000
const MAX_CATCH_UP_STEPS = 600

interface SensorLink {
  id: string
  kind: 'ble' | 'wifi' | 'espresense' | 'parking'
  /** The layout's sensor (absent for gate controllers, which the layout lists under parking). */
  sensor?: SensorConfig
  client?: MqttClient
  statusTopic: string
  /** Failed on purpose (failSensor): publishes are dropped until restoreSensor. */
  failed: boolean
}

type Publish = { link: SensorLink; topic: string; payload: string; kind: 'ble' | 'wifi' | 'espresense' | 'parking'; items: number }

export class Simulator {
  readonly published: PublishedCounters = { ble: 0, wifi: 0, espresense: 0, status: 0, parking: 0, gateEvents: 0, bleSightings: 0, wifiProbes: 0, dropped: 0, errors: 0 }
  /** Simulated time, for the edge under test (timestamps in payloads are simulated). */
  readonly clock: Clock = { now: () => this.simNow }

  private readonly layout: StoreLayout
  private readonly log: Logger | undefined
  private model?: StoreModel
  private radio?: Radio
  private simNow = 0
  private links = new Map<string, SensorLink>()
  private reporters = new Map<string, EspresenseReporter>()
  private pendingWifi = new Map<string, WifiHeard[]>()
  private lastWifiFlush = 0
  private listeners = new Set<(info: StepInfo) => void>()
  private timer?: NodeJS.Timeout
  private ticking = false
  private wallStart = 0
  private simStart = 0
  private running = false

  constructor(private readonly opts: SimulatorOptions) {
    this.layout = opts.store ?? demoStore
    this.log = opts.logger?.child({ module: 'sim' })
  }

  /** Simulated now, ms since the epoch. */
  get now(): number {
    return this.world().now
  }

  /** Connect every sensor, publish its retained `online`, and (unless manual) start ticking. */
  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    this.world()
    const simulated = this.layout.sensors.filter((s) => s.kind === 'ble' || s.kind === 'wifi' || s.kind === 'espresense')
    for (const s of this.layout.sensors) if (!simulated.includes(s)) this.log?.info({ sensor: s.id, kind: s.kind }, 'sensor kind not simulated')
    for (const sensor of simulated) {
      const link: SensorLink = {
        id: sensor.id,
        kind: sensor.kind as SensorLink['kind'],
        sensor,
        statusTopic: sensor.kind === 'espresense' ? espresenseStatusTopic(sensor.id) : topics.sensorStatus(sensor.id),
        failed: false,
      }
      this.links.set(sensor.id, link)
      if (sensor.kind === 'espresense') this.reporters.set(sensor.id, new EspresenseReporter(sensor.id, { absorption: sensor.absorption }))
      this.openClient(link)
    }
    const gates = this.layout.parking?.gates ?? []
    if (this.opts.parking ?? (gates.length > 0 && gates.every((g) => this.opts.credentials[g.id]))) {
      for (const g of gates) {
        const link: SensorLink = { id: g.id, kind: 'parking', statusTopic: topics.sensorStatus(g.id), failed: false }
        this.links.set(g.id, link)
        this.openClient(link)
      }
    }
    await this.waitConnected([...this.links.values()], this.opts.connectTimeoutMs ?? 5000)
    if (!this.opts.manual) {
      this.wallStart = this.opts.clock.now()
      this.simStart = this.simNow
      const speed = this.opts.speed ?? 1
      const every = Math.max(20, Math.min(1000, 1000 / speed))
      this.timer = setInterval(() => void this.tick(), every)
    }
  }

  /** Stop ticking, publish `offline` for every sensor (a clean disconnect sends no will) and close. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await Promise.all(
      [...this.links.values()].map(async (link) => {
        const c = link.client
        link.client = undefined
        if (!c) return
        try {
          if (c.connected) {
            await this.withTimeout(c.publishAsync(link.statusTopic, 'offline', { qos: 1, retain: true }), 2000)
            await this.withTimeout(c.endAsync(), 2000)
          } else {
            await this.withTimeout(c.endAsync(true), 2000)
          }
        } catch (err) {
          this.log?.warn({ err, sensor: link.id }, 'sensor close failed')
          c.end(true)
        }
      }),
    )
    this.links.clear()
  }

  /** Advance one batch interval (a simulated second), publish every sensor's batch, await the acks. */
  async step(): Promise<StepInfo> {
    return this.doStep(true)
  }

  /** Step for simMs of simulated time, awaiting every publish. */
  async runFor(simMs: number): Promise<void> {
    const until = this.now + simMs
    while (this.now + STEP_MS <= until) await this.doStep(true)
  }

  truth(): Truth {
    return this.world().truth()
  }

  /**
   * The simulated loyalty programme (ref `m-<minor>`, tier, tags, the app's iBeacon id, registered
   * plates): what central would push to this store as its members config.
   */
  members(): Member[] {
    return simulatedMembers({ seed: this.opts.memberSeed ?? this.opts.seed ?? 1 })
  }

  summary(): Summary {
    return this.world().summary()
  }

  /** Called after every step; returns the unsubscribe. A throwing listener is logged, not fatal. */
  onStep(fn: (info: StepInfo) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /** Cut a sensor's connection without DISCONNECT (power loss): the broker publishes its will. */
  failSensor(deviceId: string): void {
    const link = this.links.get(deviceId)
    if (!link) throw new Error(`unknown sensor ${deviceId}`)
    link.failed = true
    link.client?.end(true)
    link.client = undefined
  }

  /** Bring a failed sensor back; resolves once it is connected (or the connect timeout passed). */
  async restoreSensor(deviceId: string): Promise<void> {
    const link = this.links.get(deviceId)
    if (!link) throw new Error(`unknown sensor ${deviceId}`)
    if (!link.failed) return
    link.failed = false
    this.openClient(link)
    await this.waitConnected([link], this.opts.connectTimeoutMs ?? 5000)
  }

  // ── internals ──

  private world(): StoreModel {
    if (this.model) return this.model
    const start = this.opts.clock.now()
    const HOUR = 3_600_000
    const DAY = 86_400_000
    const localOffsetMs =
      this.opts.startHour !== undefined
        ? this.opts.startHour * HOUR - (((start % DAY) + DAY) % DAY)
        : (this.opts.utcOffsetMinutes ?? 480) * 60_000
    this.model = new StoreModel({
      layout: this.layout,
      seed: this.opts.seed ?? 1,
      memberSeed: this.opts.memberSeed,
      startMs: start,
      localOffsetMs,
      rateMultiplier: this.opts.rateMultiplier ?? 1,
      warmupMs: this.opts.warmupMs ?? 0,
    })
    this.radio = new Radio(this.layout, { seed: ((this.opts.seed ?? 1) * 2654435761) >>> 0, ...this.opts.radio })
    this.simNow = start
    this.lastWifiFlush = start
    return this.model
  }

  private openClient(link: SensorLink): void {
    const id = link.id
    const cred = this.opts.credentials[id]
    if (!cred) this.log?.warn({ sensor: id }, 'no credentials for sensor; connecting with its id only')
    const client = connect(this.opts.brokerUrl, {
      protocolVersion: 4,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      ...this.opts.mqtt,
      clientId: id,
      username: cred?.username ?? id,
      ...(cred ? { password: cred.password } : {}),
      clean: false,
      will: { topic: link.statusTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
    })
    client.on('connect', () => {
      this.log?.debug({ sensor: id }, 'sensor connected')
      client.publish(link.statusTopic, 'online', { qos: 1, retain: true }, (err) => {
        if (err) this.published.errors++
        else this.published.status++
      })
    })
    client.on('error', (err) => this.log?.warn({ err, sensor: id }, 'sensor connection error'))
    client.on('offline', () => this.log?.debug({ sensor: id }, 'sensor offline, reconnecting'))
    link.client = client
  }

  private waitConnected(links: SensorLink[], timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const pending = links.filter((l) => l.client && !l.client.connected)
      if (pending.length === 0) return resolve()
      let left = pending.length
      const timer = setTimeout(() => {
        this.log?.warn({ waiting: left }, 'sensors not connected yet; simulation continues and they keep retrying')
        resolve()
      }, timeoutMs)
      for (const l of pending) {
        l.client!.once('connect', () => {
          if (--left === 0) {
            clearTimeout(timer)
            // Let the 'online' publish from the connect handler go out first.
            setImmediate(resolve)
          }
        })
      }
    })
  }

  private async tick(): Promise<void> {
    if (this.ticking || !this.running) return
    this.ticking = true
    try {
      const speed = this.opts.speed ?? 1
      const target = this.simStart + (this.opts.clock.now() - this.wallStart) * speed
      let steps = 0
      while (this.simNow + STEP_MS <= target && steps < MAX_CATCH_UP_STEPS) {
        await this.doStep(false)
        steps++
      }
      if (this.simNow + STEP_MS <= target) {
        // Far behind (process suspended, clock jump): move the world on without replaying the radio.
        this.log?.warn({ behindMs: target - this.simNow }, 'simulation fell behind; skipping ahead')
        this.world().step(target)
        this.simNow = this.world().now
      }
    } catch (err) {
      this.log?.error({ err }, 'simulation tick failed')
    } finally {
      this.ticking = false
    }
  }

  private async doStep(awaitAcks: boolean): Promise<StepInfo> {
    const model = this.world()
    const radio = this.radio!
    const now = this.simNow + STEP_MS
    const { probes, gates } = model.step(now)
    this.simNow = now

    const out: Publish[] = []
    const heardBle = radio.scanBle(now, STEP_MS, model.bleAdvertisers())
    for (const [sensorId, heard] of heardBle) {
      const link = this.links.get(sensorId)
      if (!link) continue
      if (link.kind === 'ble') {
        out.push({ link, kind: 'ble', topic: topics.sensor(sensorId, 'ble'), payload: JSON.stringify(bleBatch(now, heard)), items: heard.length })
      } else {
        for (const r of this.reporters.get(sensorId)?.report(now, heard) ?? []) {
          out.push({ link, kind: 'espresense', topic: r.topic, payload: JSON.stringify(r.payload), items: 1 })
        }
      }
    }
    for (const [sensorId, heard] of radio.hearWifi(probes)) {
      const pending = this.pendingWifi.get(sensorId) ?? []
      pending.push(...heard)
      this.pendingWifi.set(sensorId, pending)
    }
    if (now - this.lastWifiFlush >= (this.opts.wifiBatchMs ?? 5000)) {
      this.lastWifiFlush = now
      for (const [sensorId, heard] of this.pendingWifi) {
        const link = this.links.get(sensorId)
        if (!link) continue
        heard.sort((a, b) => a.probe.ts - b.probe.ts)
        out.push({ link, kind: 'wifi', topic: topics.sensor(sensorId, 'wifi'), payload: JSON.stringify(wifiBatch(now, heard)), items: heard.length })
      }
      this.pendingWifi.clear()
    }

    const byGate = new Map<string, typeof gates>()
    for (const g of gates) byGate.set(g.gateId, [...(byGate.get(g.gateId) ?? []), g])
    for (const [gateId, list] of byGate) {
      const link = this.links.get(gateId)
      if (!link) continue
      out.push({ link, kind: 'parking', topic: topics.sensor(gateId, 'parking'), payload: JSON.stringify(gateBatch(list)), items: list.length })
    }

    if (awaitAcks) {
      // One publish in flight per connection: two back to back make the broker's second PUBACK
      // wait on Nagle for our delayed ACK (~40 ms a step with Mosquitto's defaults).
      const byLink = new Map<SensorLink, Publish[]>()
      for (const p of out) byLink.set(p.link, [...(byLink.get(p.link) ?? []), p])
      await Promise.all(
        [...byLink.values()].map(async (list) => {
          for (const p of list) await this.send(p, true)
        }),
      )
    } else {
      for (const p of out) void this.send(p, false)
    }

    const info: StepInfo = {
      now,
      ble: out.filter((p) => p.kind === 'ble').length,
      wifi: out.filter((p) => p.kind === 'wifi').length,
      espresense: out.filter((p) => p.kind === 'espresense').length,
      parking: out.filter((p) => p.kind === 'parking').length,
    }
    for (const fn of this.listeners) {
      try {
        fn(info)
      } catch (err) {
        this.log?.error({ err }, 'sim/step listener failed')
      }
    }
    return info
  }

  private count(p: Publish): void {
    this.published[p.kind]++
    if (p.kind === 'ble') this.published.bleSightings += p.items
    if (p.kind === 'wifi') this.published.wifiProbes += p.items
    if (p.kind === 'parking') this.published.gateEvents += p.items
  }

  private async send(p: Publish, awaitAck: boolean): Promise<void> {
    const c = p.link.client
    // A real sensor with the broker unreachable drops what it cannot send; so do we (no unbounded queue).
    if (!c || !c.connected || p.link.failed) {
      this.published.dropped++
      return
    }
    if (!awaitAck) {
      c.publish(p.topic, p.payload, { qos: 1 }, (err) => {
        if (err) this.published.errors++
        else this.count(p)
      })
      return
    }
    try {
      await this.withTimeout(c.publishAsync(p.topic, p.payload, { qos: 1 }), this.opts.ackTimeoutMs ?? 10_000)
      this.count(p)
    } catch (err) {
      this.published.errors++
      this.log?.warn({ err, sensor: p.link.id }, 'publish failed')
    }
  }

  private withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
    })
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
  }
}
