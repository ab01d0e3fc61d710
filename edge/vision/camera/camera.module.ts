import sharp from 'sharp'
import { topics, StoreEdgeError, type CameraAggregate, type CameraConfig, type CameraEvent, type CameraHealth, type FootfallCrossing } from '../../contracts/index.ts'
import type { EventBus } from '../../core/bus.ts'
import type { Clock } from '../../core/clock.ts'
import type { EdgeConfig } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import type { EdgeMetrics } from '../../core/metrics.ts'
import type { EdgeModule, Publish } from '../../core/module.ts'
import type { InferenceService } from '../inference/inference.service.ts'
import type { Box, PlateRead } from '../inference/types.ts'
import { CameraPipeline, type PipelineEvents } from './camera-pipeline.ts'
import type { CameraFaces } from './camera-faces.ts'
import { OccupancyCounter } from '../tracking/occupancy.ts'
import type { CameraEventRecord, CameraHub, CameraInfo, OverlayFrame, Snapshot } from './hub.ts'
import type { CameraStatus, Frame } from './types.ts'
import type { FrameFeed } from './live-stream.ts'

/**
 * The store's cameras: one pipeline per enabled camera, started from config and replaced live by
 * the retained downlink `stores/{id}/config/cameras`. Publishes crossings (`events/footfall`),
 * alerts and recognitions (`events/camera`), camera health (retained `cameras/{id}/status`),
 * contributes its minute of counts to the aggregate, and is the CameraHub the security view reads.
 * One camera failing (a broken stream, a bad frame, a model error) is counted and logged; the
 * others go on.
 */
export interface CameraModuleDeps {
  cfg: EdgeConfig
  bus: EventBus
  metrics: EdgeMetrics
  clock: Clock
  log: Logger
  publish: Publish
  vision: InferenceService
  faces?: CameraFaces
  /** Plates read at a gate camera go into the car park like a parking system's webhook. */
  onPlates?: (cam: CameraConfig, reads: PlateRead[], ts: number) => void
}

interface MinuteBucket {
  footfall: Map<string, { entrance: string; camera: string; in: number; out: number }>
  loitering: Map<string, number>
  peak: Map<string, number>
  dropped: Map<string, number>
}

const RECENT_EVENTS = 500

export class CameraModule implements EdgeModule, CameraHub {
  readonly name = 'cameras'
  private pipelines = new Map<string, CameraPipeline>()
  private configs: CameraConfig[]
  private readonly overlayListeners = new Map<string, Set<(o: OverlayFrame) => void>>()
  private readonly frameListeners = new Map<string, Set<(rgb: Buffer) => void>>()
  private readonly eventListeners = new Set<(e: CameraEventRecord) => void>()
  private readonly recent: CameraEventRecord[] = []
  private readonly snapshots = new Map<string, Snapshot>()
  private readonly minutes = new Map<number, MinuteBucket>()
  private readonly droppedSeen = new Map<string, number>()
  private readonly reconnectsSeen = new Map<string, number>()
  private readonly loggedStatus = new Map<string, string>()
  private healthTimer?: NodeJS.Timeout
  private started = false
  /** People in the store by the entrance lines: in − out, never negative, reset daily. */
  readonly occupancy: OccupancyCounter
  /** Applying a downlink while another applies: serialised. */
  private applying: Promise<void> = Promise.resolve()

  constructor(private readonly d: CameraModuleDeps) {
    this.configs = d.cfg.cameras
    this.occupancy = new OccupancyCounter({ timeZone: d.cfg.store.timezone, resetAt: d.cfg.camera.occupancyResetAt }, d.clock.now())
  }

  async start(): Promise<void> {
    // The downlink may have restored a newer list from disk since construction.
    this.configs = this.d.cfg.cameras
    await this.d.faces?.start()
    this.started = true
    for (const c of this.configs) if (c.enabled) this.startPipeline(c)
    this.healthTimer = setInterval(() => this.publishHealth(), 10_000)
    this.healthTimer.unref()
  }

  async stop(): Promise<void> {
    this.started = false
    clearInterval(this.healthTimer)
    await this.applying
    const all = [...this.pipelines.values()]
    this.pipelines.clear()
    await Promise.all(all.map((p) => p.stop()))
    for (const p of all) await this.publishStatus({ camera: p.id, state: 'offline', ts: this.d.clock.now(), reason: 'edge stopping' })
    await this.d.faces?.stop()
  }

  /** Replace the camera list (the downlink): changed cameras restart, removed ones stop, the rest go on. */
  apply(cameras: CameraConfig[]): Promise<void> {
    const run = async () => {
      const ids = new Set(cameras.map((c) => c.id))
      if (ids.size !== cameras.length) throw new StoreEdgeError('STORE_EDGE_ERR_CAMERA_CONFIG', 'camera ids must be unique')
      const old = new Map(this.configs.map((c) => [c.id, JSON.stringify(c)]))
      this.configs = cameras
      if (!this.started) return
      const stops: Promise<void>[] = []
      for (const [id, p] of this.pipelines) {
        const next = cameras.find((c) => c.id === id)
        if (!next || !next.enabled || JSON.stringify(next) !== old.get(id)) {
          this.pipelines.delete(id)
          stops.push(p.stop().then(() => this.publishStatus({ camera: id, state: 'offline', ts: this.d.clock.now(), reason: next?.enabled ? 'reconfigured' : 'removed or disabled' })))
        }
      }
      await Promise.all(stops)
      for (const c of cameras) if (c.enabled && !this.pipelines.has(c.id)) this.startPipeline(c)
      this.d.log.info({ cameras: cameras.map((c) => c.id) }, 'camera configuration applied')
    }
    const next = this.applying.then(run)
    this.applying = next.catch(() => undefined)
    return next
  }

  private startPipeline(cam: CameraConfig): void {
    const p = new CameraPipeline({
      cam,
      storeId: this.d.cfg.store.id,
      settings: this.d.cfg.camera,
      vision: this.d.vision,
      log: this.d.log.child({ camera: cam.id }),
      events: this.pipelineEvents,
      faces: this.d.faces,
      now: () => this.d.clock.now(),
    })
    this.pipelines.set(cam.id, p)
    p.start()
  }

  private readonly pipelineEvents: PipelineEvents = {
    crossing: (c) => this.onCrossing(c),
    cameraEvent: (e, frame, people, faces) => this.onCameraEvent(e, frame, people, faces),
    overlay: (o) => {
      for (const fn of this.overlayListeners.get(o.camera) ?? []) fn(o)
      const b = this.bucket(o.ts)
      for (const z of o.zones) {
        const key = `${o.camera}\u0000${z.id}`
        b.peak.set(key, Math.max(b.peak.get(key) ?? 0, z.count))
        this.d.metrics.cameraPeople.set({ camera: o.camera, zone: z.id }, z.count)
      }
    },
    status: (s) => void this.publishStatus(s),
    plates: (cam, reads, frame) => this.d.onPlates?.(cam, reads, frame.ts),
    analysed: (camera, ms, frame) => {
      this.d.metrics.cameraFrameSeconds.observe({ camera }, ms / 1000)
      for (const fn of this.frameListeners.get(camera) ?? []) fn(frame.data)
    },
    failed: (camera, err) => {
      const code = err instanceof StoreEdgeError ? err.code : 'STORE_EDGE_ERR_INFERENCE'
      this.d.metrics.cameraErrors.inc({ camera, code })
      this.d.log.warn({ camera, code, err: err.message }, 'frame analysis failed; the camera goes on')
    },
  }

  private onCrossing(c: FootfallCrossing): void {
    this.d.metrics.footfall.inc({ camera: c.camera, entrance: c.entrance, dir: c.dir })
    this.occupancy.crossing(c.dir, c.ts)
    // Bucketed when reported, not when crossed: a late-counted crossing (decided when its track
    // ended) still lands in an interval not yet sent, so the minute totals always add up to the events.
    const b = this.bucket(this.d.clock.now())
    const key = `${c.camera}\u0000${c.entrance}`
    const f = b.footfall.get(key) ?? { entrance: c.entrance, camera: c.camera, in: 0, out: 0 }
    f[c.dir]++
    b.footfall.set(key, f)
    this.d.bus.emitCrossing(c)
    void this.d.publish(topics.storeEvents(this.d.cfg.store.id, 'footfall'), c)
    this.record({ id: c.id, camera: c.camera, type: 'crossing', ts: c.ts, line: c.line, entrance: c.entrance, dir: c.dir, text: `${c.dir} at ${c.entrance}` })
  }

  /** Alerts and recognitions: published, kept in the recent list with a snapshot (unless count-only). */
  onCameraEvent(e: CameraEvent, frame?: Frame, people: Box[] = [], faces: Box[] = []): void {
    this.d.metrics.cameraEvents.inc({ camera: e.camera, type: e.type })
    if (e.type === 'loitering' && e.zone) {
      const b = this.bucket(this.d.clock.now())
      const key = `${e.camera}\u0000${e.zone}`
      b.loitering.set(key, (b.loitering.get(key) ?? 0) + 1)
    }
    this.d.bus.emitCameraEvent(e)
    void this.d.publish(topics.storeEvents(this.d.cfg.store.id, 'camera'), e)
    const rec: CameraEventRecord = { id: e.id, camera: e.camera, type: e.type, ts: e.ts, zone: e.zone, count: e.count, text: eventText(e) }
    if (frame && this.d.cfg.camera.snapshots > 0 && !this.d.cfg.camera.countOnly) {
      // Listed once its snapshot is stored, so the security view never asks for one that is not there yet.
      void this.keepSnapshot(e.id, frame, people, faces)
        .then(() => (rec.snapshot = e.id))
        .catch((err) => this.d.log.warn({ err: (err as Error).message }, 'snapshot failed'))
        .finally(() => this.record(rec))
      return
    }
    this.record(rec)
  }

  private async keepSnapshot(id: string, f: Frame, people: Box[], faces: Box[]): Promise<void> {
    const jpeg = await sharp(f.data, { raw: { width: f.width, height: f.height, channels: 3 } }).jpeg({ quality: 75 }).toBuffer()
    this.snapshots.set(id, { id, camera: f.camera, ts: f.ts, width: f.width, height: f.height, jpeg, people, faces })
    while (this.snapshots.size > this.d.cfg.camera.snapshots) this.snapshots.delete(this.snapshots.keys().next().value!)
  }

  private record(r: CameraEventRecord): void {
    this.recent.push(r)
    if (this.recent.length > RECENT_EVENTS) this.recent.splice(0, this.recent.length - RECENT_EVENTS)
    for (const fn of this.eventListeners) {
      try {
        fn(r)
      } catch (err) {
        this.d.log.warn({ err }, 'camera event listener threw')
      }
    }
  }

  private async publishStatus(s: CameraStatus): Promise<void> {
    this.d.metrics.cameraUp.set({ camera: s.camera }, s.state === 'online' ? 1 : 0)
    // Logged when it changes; the 10 s refresh and a camera retrying with the same reason stay quiet.
    const said = `${s.state}|${s.code ?? ''}|${s.reason ?? ''}`
    if (this.loggedStatus.get(s.camera) !== said) {
      this.loggedStatus.set(s.camera, said)
      if (s.state !== 'online') this.d.log.warn({ camera: s.camera, state: s.state, reason: s.reason, code: s.code }, 'camera status')
      else this.d.log.info({ camera: s.camera }, 'camera online')
    }
    const p = this.pipelines.get(s.camera)
    const st = p?.stats()
    const health: CameraHealth = {
      v: 1,
      storeId: this.d.cfg.store.id,
      camera: s.camera,
      status: s.state,
      ts: s.ts,
      ...(s.reason ? { reason: s.reason.slice(0, 500) } : {}),
      ...(st ? { fps: round(st.fps), lagMs: Math.round(st.lagMs), dropped: st.dropped, reconnects: st.reconnects } : {}),
    }
    await this.d.publish(topics.storeCameraStatus(this.d.cfg.store.id, s.camera), health, true)
  }

  /** Every 10 s: metrics from each source's stats, and the retained health refreshed. */
  private publishHealth(): void {
    this.occupancy.tick(this.d.clock.now())
    for (const p of this.pipelines.values()) {
      const st = p.stats()
      if (!st) continue
      this.d.metrics.cameraFps.set({ camera: p.id }, st.fps)
      this.d.metrics.cameraLag.set({ camera: p.id }, st.lagMs / 1000)
      const dd = st.dropped - (this.droppedSeen.get(p.id) ?? 0)
      if (dd > 0) {
        this.d.metrics.cameraDropped.inc({ camera: p.id }, dd)
        const b = this.bucket(this.d.clock.now())
        b.dropped.set(p.id, (b.dropped.get(p.id) ?? 0) + dd)
      }
      this.droppedSeen.set(p.id, st.dropped)
      const dr = st.reconnects - (this.reconnectsSeen.get(p.id) ?? 0)
      if (dr > 0) this.d.metrics.cameraReconnects.inc({ camera: p.id }, dr)
      this.reconnectsSeen.set(p.id, st.reconnects)
      void this.publishStatus({ ...p.status, ts: this.d.clock.now() })
    }
  }

  private bucket(ts: number): MinuteBucket {
    const start = Math.floor(ts / 60_000) * 60_000
    let b = this.minutes.get(start)
    if (!b) {
      b = { footfall: new Map(), loitering: new Map(), peak: new Map(), dropped: new Map() }
      this.minutes.set(start, b)
      // Bounded: minutes nobody collected (no aggregator) age out after a day.
      for (const k of this.minutes.keys()) if (k < start - 86_400_000) this.minutes.delete(k)
    }
    return b
  }

  /** The camera part of the minute aggregate starting at `start` (taken once). */
  minutePart(start: number): CameraAggregate | undefined {
    if (!this.configs.some((c) => c.enabled)) return undefined
    const b = this.minutes.get(start) ?? { footfall: new Map(), loitering: new Map(), peak: new Map(), dropped: new Map() }
    this.minutes.delete(start)
    const footfall = [...b.footfall.values()]
    // Entrances with no crossing still report 0: a flat line is data, a gap is not.
    for (const c of this.configs) {
      if (!c.enabled) continue
      for (const l of c.lines) if (!footfall.some((f) => f.camera === c.id && f.entrance === l.entrance)) footfall.push({ entrance: l.entrance, camera: c.id, in: 0, out: 0 })
    }
    const zones: CameraAggregate['zones'] = []
    const health: CameraAggregate['health'] = []
    for (const c of this.configs) {
      if (!c.enabled) continue
      const p = this.pipelines.get(c.id)
      const counts = p?.zones.counts()
      const dwell = p?.zones.drainDwell() ?? {}
      for (const z of c.zones) {
        const key = `${c.id}\u0000${z.id}`
        const d = dwell[z.id]
        const people = counts?.get(z.id) ?? 0
        zones.push({
          zone: z.id,
          camera: c.id,
          people,
          peak: Math.max(people, b.peak.get(key) ?? 0),
          dwellCount: d?.stays ?? 0,
          dwellP50S: d?.p50Ms == null ? null : round(d.p50Ms / 1000),
          dwellP90S: d?.p90Ms == null ? null : round(d.p90Ms / 1000),
          loitering: b.loitering.get(key) ?? 0,
        })
      }
      const st = p?.stats()
      health.push({ camera: c.id, up: p?.status.state === 'online' ? 1 : 0, fps: round(st?.fps ?? 0), lagMs: Math.round(st?.lagMs ?? 0), dropped: b.dropped.get(c.id) ?? 0 })
    }
    const out: CameraAggregate = { footfall, zones, health }
    if (this.configs.some((c) => c.enabled && c.lines.length)) {
      this.occupancy.tick(start + 60_000)
      out.occupancy = Math.max(0, Math.round(this.occupancy.value()))
    }
    if (this.d.faces && this.configs.some((c) => c.enabled && c.roles.includes('faces'))) out.visitors = this.d.faces.takeMinute()
    return out
  }

  // ── CameraHub ────────────────────────────────────────────────────────────────────────────────

  list(): CameraInfo[] {
    return this.configs.map((c) => this.info(c.id)!).filter(Boolean)
  }

  info(id: string): CameraInfo | undefined {
    const c = this.configs.find((x) => x.id === id)
    if (!c) return undefined
    const p = this.pipelines.get(id)
    return {
      id: c.id,
      name: c.name || c.id,
      roles: c.roles,
      state: p?.status.state ?? 'offline',
      reason: p?.status.reason ?? (c.enabled ? undefined : 'disabled'),
      fps: round(p?.stats()?.fps ?? 0),
      width: c.detect.width,
      height: c.detect.height,
      lines: c.lines.map((l) => ({ id: l.id, entrance: l.entrance, a: l.a, b: l.b })),
      zones: c.zones.map((z) => ({ id: z.id, polygon: z.polygon, maxPeople: z.maxPeople })),
    }
  }

  sourceUrl(id: string): string | undefined {
    const c = this.configs.find((x) => x.id === id)
    return c ? c.liveUrl || c.url : undefined
  }

  onOverlay(id: string, fn: (o: OverlayFrame) => void): () => void {
    let set = this.overlayListeners.get(id)
    if (!set) this.overlayListeners.set(id, (set = new Set()))
    set.add(fn)
    return () => set.delete(fn)
  }

  onEvent(fn: (e: CameraEventRecord) => void): () => void {
    this.eventListeners.add(fn)
    return () => this.eventListeners.delete(fn)
  }

  recentEvents(opts: { camera?: string; limit: number }): CameraEventRecord[] {
    const list = opts.camera ? this.recent.filter((r) => r.camera === opts.camera) : this.recent
    return list.slice(-opts.limit).reverse()
  }

  snapshot(id: string): Snapshot | undefined {
    return this.snapshots.get(id)
  }

  frameFeed(id: string): FrameFeed | undefined {
    const c = this.configs.find((x) => x.id === id)
    // Live sources are reopened by the view (full rate); a file would start over, out of step.
    if (!c || c.liveUrl || /^(rtsps?|https?):\/\//i.test(c.url)) return undefined
    return {
      width: c.detect.width,
      height: c.detect.height,
      fps: c.detect.fps,
      subscribe: (fn) => {
        let set = this.frameListeners.get(id)
        if (!set) this.frameListeners.set(id, (set = new Set()))
        set.add(fn)
        return () => set.delete(fn)
      },
    }
  }

  /** Pipelines by id (tests, the benchmark). */
  pipeline(id: string): CameraPipeline | undefined {
    return this.pipelines.get(id)
  }
}

const round = (x: number) => Math.round(x * 100) / 100

function eventText(e: CameraEvent): string {
  switch (e.type) {
    case 'loitering':
      return `loitering in ${e.zone} for ${Math.round(e.dwellS ?? 0)} s`
    case 'overcrowded':
      return `${e.zone}: ${e.count} people (max ${e.max})`
    case 'overcrowding-cleared':
      return `${e.zone}: back to ${e.count} (max ${e.max})`
    case 'member':
      return 'member recognised'
    case 'plate':
      return 'plate read'
  }
}
