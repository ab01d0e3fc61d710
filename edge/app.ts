import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { topics, type EdgeHealth } from './contracts/index.ts'
import { EventBus } from './core/bus.ts'
import { systemClock, type Clock } from './core/clock.ts'
import type { EdgeConfig } from './core/config.ts'
import { createLogger, type Logger } from './core/logger.ts'
import { createMetrics, type EdgeMetrics } from './core/metrics.ts'
import type { EdgeModule, Publish } from './core/module.ts'
import { BrokerModule } from './broker/broker.module.ts'
import { CredentialStore } from './broker/credentials.ts'
import { IngestPipeline } from './sources/ingest.pipeline.ts'
import { IngestModule } from './sources/ingest.module.ts'
import { MacHasher } from './sources/privacy/mac-hasher.ts'
import { PresenceModule } from './presence/presence.module.ts'
import { DevicesModule } from './broker/devices.module.ts'
import { ApiModule } from './api/api.module.ts'
import { UplinkModule } from './uplink/uplink.module.ts'
import { DownlinkModule } from './downlink/downlink.module.ts'
import { ParkingModule } from './parking/parking.module.ts'
import { GeofenceModule } from './geofence/geofence.module.ts'
import { TriggerModule } from './triggers/trigger.module.ts'
import type { InferenceService } from './vision/inference/inference.service.ts'
import type { CameraModule } from './vision/camera/camera.module.ts'
import type { BleRadioModule } from './sources/radio/ble-radio.module.ts'
import type { CameraFaces } from './vision/camera/camera-faces.ts'
import type { CameraConfig } from './contracts/index.ts'
import type { PlateRead } from './vision/inference/types.ts'
import { decodeGateValue } from './sources/decoders/gate.decoder.ts'
import { GatePlates } from './vision/camera/gate-plates.ts'
import { cameraEventId } from './vision/camera/event-id.ts'

export interface EdgeAppOptions {
  config: EdgeConfig
  logger?: Logger
  clock?: Clock
  /** Collect Node's default process metrics (off in tests that build many apps). */
  defaultMetrics?: boolean
}

/** The per-store secret the MAC hashing salts derive from; created once, mode 0600, never sent anywhere. */
export async function loadPrivacySecret(dataDir: string): Promise<Buffer> {
  const file = join(dataDir, 'privacy.key')
  try {
    const buf = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64')
    if (buf.length >= 32) return buf
    throw new Error(`${file} holds fewer than 32 bytes`)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const secret = randomBytes(32)
  await mkdir(dataDir, { recursive: true })
  await writeFile(file, secret.toString('base64') + '\n', { mode: 0o600, flag: 'wx' })
  return secret
}

/**
 * The composition root: every module is created and registered here, started in order (a module
 * whose start() throws is logged and marked down, and the rest still start, except the broker,
 * without which nothing can work) and stopped in reverse order.
 */
export class EdgeApp {
  readonly config: EdgeConfig
  readonly log: Logger
  readonly clock: Clock
  readonly metrics: EdgeMetrics
  readonly bus: EventBus
  readonly credentials: CredentialStore
  readonly startedAt: number
  broker!: BrokerModule
  pipeline!: IngestPipeline
  presence!: PresenceModule
  devices!: DevicesModule
  api!: ApiModule
  /** Present when `uplink.url` is set. */
  uplink?: UplinkModule
  downlink!: DownlinkModule
  /** Present when `parking.enabled`: the car park (gate events, occupancy). */
  parking?: ParkingModule
  geofence!: GeofenceModule
  /** Present when `triggers.enabled`. */
  triggers?: TriggerModule
  /** Present when `radio.enabled`: the box's own Bluetooth adapter as one more BLE scanner. */
  radio?: BleRadioModule
  /** Present when `vision.enabled`: on-device models in worker threads. */
  vision?: InferenceService
  /** Present when `vision.enabled`: the store's cameras (footfall, faces, plates) and the security view's hub. */
  cameras?: CameraModule
  /** Present when `vision.enabled`: the member face gallery, recognition votes and anonymous unique visitors. */
  faces?: CameraFaces
  private readonly gatePlates = new Map<string, GatePlates>()
  private modules: EdgeModule[] = []
  private healthTimer?: NodeJS.Timeout
  readonly moduleStatus = new Map<string, 'up' | 'failed' | 'stopped'>()

  constructor(opts: EdgeAppOptions) {
    this.config = opts.config
    this.log = opts.logger ?? createLogger({ level: opts.config.log.level })
    this.clock = opts.clock ?? systemClock
    this.metrics = createMetrics({ defaultMetrics: opts.defaultMetrics })
    this.bus = new EventBus(this.log.child({ module: 'bus' }))
    this.credentials = new CredentialStore(join(this.config.dataDir, 'devices.json'))
    this.startedAt = this.clock.now()
  }

  get http(): FastifyInstance {
    return this.api.app
  }

  /** Publish JSON on the edge's own broker, QoS 1 (a no-op once the broker is closed). */
  readonly publish: Publish = (topic, payload, retain = false) =>
    new Promise<void>((resolve) => {
      if (!this.broker?.aedes || this.broker.aedes.closed) return resolve()
      this.broker.aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(payload)), qos: 1, retain, dup: false }, () => resolve())
    })

  async start(): Promise<this> {
    const cfg = this.config
    await mkdir(cfg.dataDir, { recursive: true })
    await this.credentials.load()
    const secret = await loadPrivacySecret(cfg.dataDir)
    const hasher = new MacHasher({ secret, rotationHours: cfg.privacy.saltRotationHours, timeZone: cfg.store.timezone })
    const child = (module: string) => this.log.child({ module })

    this.broker = new BrokerModule(cfg, this.credentials, child('broker'), this.metrics, this.clock)
    this.pipeline = new IngestPipeline(cfg, hasher, this.bus, this.metrics, this.clock, child('ingest'))
    const publish = this.publish
    this.presence = new PresenceModule(cfg, this.bus, this.metrics, this.clock, child('presence'), publish)
    this.devices = new DevicesModule(this.bus, this.metrics, this.credentials, this.clock)
    this.api = new ApiModule(cfg, this, child('api'))
    // Optional modules exist only when configured; the uplink subscribes before anything publishes,
    // and the downlink restores the last applied layout before presence starts with it.
    this.downlink = new DownlinkModule(cfg, this.presence, publish, this.clock, child('downlink'))
    if (cfg.uplink.url) {
      this.uplink = new UplinkModule(cfg, this.broker, this.metrics, this.clock, child('uplink'))
      this.uplink.onDownlink = (part, payload) => this.downlink.apply(part, payload)
    }
    if (cfg.parking.enabled) {
      this.parking = new ParkingModule({
        cfg,
        bus: this.bus,
        metrics: this.metrics,
        clock: this.clock,
        log: child('parking'),
        publish,
        hash: (text) => this.pipeline.hashMacNow(text),
        aggregator: () => this.presence.aggregator,
        members: () => this.downlink.members,
      })
      const parking = this.parking
      this.pipeline.onGates = (result) => parking.ingest(result)
    }
    // Presence, gate events and location reports → geofence events → campaigns → coupon requests.
    this.geofence = new GeofenceModule(cfg, this.bus, this.metrics, this.clock, child('geofence'), publish, this.downlink)
    const geofence = this.geofence
    if (cfg.triggers.enabled) {
      this.triggers = new TriggerModule(cfg, this.bus, this.metrics, this.clock, child('triggers'), publish, this.downlink, (subject, ts) => geofence.visitOf(subject, ts))
    }
    if (this.uplink) this.uplink.onLocations = (payload) => geofence.acceptPayload(payload)
    if (cfg.vision.enabled) {
      // Loaded only when on: onnxruntime, sharp and the worker pool cost nothing to an edge without cameras.
      const { InferenceService } = await import('./vision/inference/inference.service.ts')
      this.vision = new InferenceService({ config: cfg.vision, metrics: this.metrics, log: child('vision') })
      const { CameraModule } = await import('./vision/camera/camera.module.ts')
      const { CameraFaces } = await import('./vision/camera/camera-faces.ts')
      const bus = this.bus
      const faces = (this.faces = new CameraFaces({
        cfg,
        vision: this.vision,
        log: child('faces'),
        members: () => this.downlink.members.all(),
        onMember: (e) => {
          bus.emitMemberSeen(e)
          this.cameras?.onCameraEvent({ v: 1, id: cameraEventId(cfg.store.id, e.camera, 'member', e.memberRef, e.ts), storeId: cfg.store.id, camera: e.camera, type: 'member', ts: e.ts, memberRef: e.memberRef, confidence: e.confidence })
        },
      }))
      // The gallery follows the members downlink; a face removed there is revoked before the next frame.
      const downlink = this.downlink
      downlink.onMarketing((part) => {
        if (part === 'members') void faces.syncMembers(downlink.members.all()).catch((err) => this.log.error({ err }, 'face gallery sync failed'))
      })
      this.cameras = new CameraModule({
        faces,
        cfg,
        bus: this.bus,
        metrics: this.metrics,
        clock: this.clock,
        log: child('cameras'),
        publish,
        vision: this.vision,
        onPlates: (cam, reads, ts) => this.gatePlatesRead(cam, reads, ts),
      })
      const cameras = this.cameras
      this.downlink.onCameras = (list) => cameras.apply(list)
    }
    if (cfg.radio.enabled) {
      // Loaded only when on: D-Bus and node-ble cost nothing to an edge without its own radio.
      const { BleRadioModule } = await import('./sources/radio/ble-radio.module.ts')
      const aedes = () => this.broker.aedes
      this.radio = new BleRadioModule({
        cfg,
        clock: this.clock,
        log: child('radio'),
        registry: this.metrics.registry,
        publish: (topic, payload, retain) => new Promise<void>((resolve) => aedes().publish({ cmd: 'publish', topic, payload, qos: 1, retain, dup: false }, () => resolve())),
      })
    }
    this.modules = [
      this.broker,
      ...(this.parking ? [this.parking] : []),
      new IngestModule(this.broker, this.pipeline),
      ...(this.uplink ? [this.uplink] : []),
      this.downlink,
      ...(this.triggers ? [this.triggers] : []),
      this.geofence,
      this.devices,
      this.presence,
      this.api,
      // After ingest and devices: its batches and status go through them like any scanner's.
      ...(this.radio ? [this.radio] : []),
      // Last: loading (and, the first time, building) models takes a while; the API answers meanwhile.
      ...(this.vision ? [this.vision] : []),
      ...(this.cameras ? [this.cameras] : []),
    ]

    for (const m of this.modules) {
      try {
        await m.start()
        this.moduleStatus.set(m.name, 'up')
        this.metrics.moduleUp.set({ module: m.name }, 1)
      } catch (err) {
        this.moduleStatus.set(m.name, 'failed')
        this.metrics.moduleUp.set({ module: m.name }, 0)
        this.log.error({ err, module: m.name }, 'module failed to start')
        if (m === this.broker) {
          await this.stop()
          throw err
        }
      }
    }
    if (this.cameras && this.presence.aggregator) {
      const cameras = this.cameras
      this.presence.aggregator.cameraPart = (start) => cameras.minutePart(start)
    }
    await this.publishHealth()
    // A heartbeat: the retained health stays fresh, and central sees sensors online and uptime over time.
    this.healthTimer = setInterval(() => void this.publishHealth(), cfg.healthIntervalMs)
    this.healthTimer.unref()
    this.log.info({ store: cfg.store.id, mqtt: this.broker.address.mqtt, http: this.api.url }, 'edge started')
    return this
  }

  /**
   * A gate camera's plates go into the car park exactly like a parking system's webhook: the same
   * gate decoder (validation, plate normalisation) and the same ParkingModule.ingest.
   */
  private gatePlatesRead(cam: CameraConfig, reads: PlateRead[], ts: number): void {
    if (!this.parking) return
    let g = this.gatePlates.get(cam.id)
    if (!g) this.gatePlates.set(cam.id, (g = new GatePlates({ repeatMs: cam.gate.repeatS * 1000, minConfidence: cam.gate.minConfidence })))
    const passages = g.observe(reads, ts)
    if (!passages.length) return
    const deviceId = `camera-${cam.id}`.slice(0, 63)
    const result = decodeGateValue(
      { v: 1, events: passages.map((p) => ({ type: cam.gate.type, plate: p.plate, gate: cam.gate.id, ts: p.ts, confidence: Math.round(p.confidence * 1000) / 1000 })) },
      { deviceId, hashMac: (s: string) => this.pipeline.hashMacNow(s), now: this.clock.now(), maxSkewMs: this.config.ingest.maxSkewMs, maxBatch: this.config.ingest.maxBatch },
    )
    this.parking.ingest(result)
    for (const p of passages) {
      this.cameras?.onCameraEvent({ v: 1, id: cameraEventId(this.config.store.id, cam.id, 'plate', p.plate, p.ts), storeId: this.config.store.id, camera: cam.id, type: 'plate', ts: p.ts, confidence: Math.min(1, p.confidence) })
    }
  }

  private async publishHealth(): Promise<void> {
    const health: EdgeHealth = {
      v: 1,
      storeId: this.config.store.id,
      status: 'online',
      ts: this.clock.now(),
      version: '0.2.0',
      devicesOnline: this.devices.onlineCount,
      uptimeS: Math.round((this.clock.now() - this.startedAt) / 1000),
    }
    await this.publish(topics.storeHealth(this.config.store.id), health, true)
  }

  async stop(): Promise<void> {
    clearInterval(this.healthTimer)
    if (this.moduleStatus.get('broker') === 'up') await this.broker.closeListeners()
    const health: EdgeHealth = { v: 1, storeId: this.config.store.id, status: 'offline', ts: this.clock.now() }
    await this.publish(topics.storeHealth(this.config.store.id), health, true)
    for (const m of [...this.modules].reverse()) {
      if (this.moduleStatus.get(m.name) !== 'up') continue
      try {
        await m.stop()
        this.moduleStatus.set(m.name, 'stopped')
      } catch (err) {
        this.log.error({ err, module: m.name }, 'module failed to stop')
      }
    }
  }
}
