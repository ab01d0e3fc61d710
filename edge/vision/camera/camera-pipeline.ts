import type { CameraConfig, CameraEvent, FootfallCrossing } from '../../contracts/index.ts'
import type { EdgeConfig } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import type { InferenceService } from '../inference/inference.service.ts'
import type { Box, Detection, PlateRead, RawImage } from '../inference/types.ts'
import { CameraAnalytics } from './camera-analytics.ts'
import { cameraEventId } from './event-id.ts'
import { CameraSource } from './ffmpeg.source.ts'
import type { OverlayFrame } from './hub.ts'
import type { CameraStats, CameraStatus, Frame, TrackBox } from './types.ts'

/**
 * One camera, end to end: the ffmpeg source → person detection (worker pool) → the pure analytics
 * (ByteTrack, lines, zones) → faces / plates where the camera has those roles → callbacks. Frames
 * are analysed one at a time in order (the tracker needs order); a frame that arrives while one is
 * being analysed waits, and a newer one replaces it (counted as dropped): analysis runs on the
 * freshest frame, never on a growing backlog.
 */
export interface FaceHooks {
  /** Faces of this frame's tracks: members recognised, anonymous visitors counted. */
  analyse(cam: CameraConfig, frame: Frame, image: RawImage, tracks: readonly TrackBox[]): Promise<Box[]>
  trackEnded(camera: string, trackId: number): void
}

export interface PipelineEvents {
  crossing(c: FootfallCrossing): void
  cameraEvent(e: CameraEvent, frame: Frame, people: Box[], faces: Box[]): void
  overlay(o: OverlayFrame): void
  status(s: CameraStatus): void
  plates(cam: CameraConfig, reads: PlateRead[], frame: Frame): void
  /** Frame analysed: wall time from the frame being read to its analysis done, ms. */
  analysed(camera: string, latencyMs: number, frame: Frame): void
  failed(camera: string, err: Error): void
}

export interface PipelineOptions {
  cam: CameraConfig
  storeId: string
  settings: EdgeConfig['camera']
  vision: InferenceService
  log: Logger
  events: PipelineEvents
  faces?: FaceHooks
  now?: () => number
}


export class CameraPipeline {
  readonly id: string
  private source?: CameraSource
  private analytics: CameraAnalytics
  private busy = false
  private pending?: Frame
  private stopped = false
  /** Track ids restart with each pipeline: event ids carry the run's start so they never collide. */
  private readonly epoch: number
  private crossingSeq = 0
  private lastFrameAt = 0
  status: CameraStatus
  idle?: Promise<void>
  private resolveIdle?: () => void

  constructor(private readonly o: PipelineOptions) {
    this.id = o.cam.id
    this.epoch = (o.now ?? Date.now)()
    this.analytics = this.newAnalytics()
    this.status = { camera: this.id, state: 'connecting', ts: this.epoch }
  }

  private newAnalytics(): CameraAnalytics {
    const t = this.o.settings.tracker
    return new CameraAnalytics({
      camera: this.o.cam,
      width: this.o.cam.detect.width,
      height: this.o.cam.detect.height,
      tracker: { highThresh: t.highThresh, lowThresh: t.lowThresh, newTrackThresh: t.newTrackThresh, maxLostMs: t.maxLostS * 1000, minHits: t.minHits },
    })
  }

  get cam(): CameraConfig {
    return this.o.cam
  }

  get counts() {
    return this.analytics.counts()
  }

  get zones() {
    return this.analytics.zones
  }

  stats(): CameraStats | undefined {
    return this.source?.stats()
  }

  start(): void {
    const c = this.o.cam
    this.source = new CameraSource({
      id: c.id,
      url: c.url,
      fps: c.detect.fps,
      width: c.detect.width,
      height: c.detect.height,
      rtspTransport: c.rtspTransport,
      realtime: c.realtime,
      loop: c.loop,
      ffmpegPath: this.o.settings.ffmpegPath,
      log: this.o.log,
      now: this.o.now,
    })
    this.source.on('status', (s: CameraStatus) => {
      this.status = s
      this.o.events.status(s)
    })
    this.source.on('frame', (f: Frame) => this.onFrame(f))
    this.source.start()
  }

  private onFrame(f: Frame): void {
    if (this.stopped) return
    if (this.busy) {
      if (this.pending) this.source?.countDropped(1)
      this.pending = f
      return
    }
    void this.run(f)
  }

  private async run(first: Frame): Promise<void> {
    this.busy = true
    this.idle = new Promise((r) => (this.resolveIdle = r))
    let f: Frame | undefined = first
    while (f && !this.stopped) {
      try {
        await this.analyse(f)
      } catch (err) {
        this.o.events.failed(this.id, err as Error)
      }
      f = this.pending
      this.pending = undefined
    }
    this.busy = false
    this.resolveIdle?.()
  }

  /** Analyse one frame (public for the benchmark and the audit, which feed frames themselves). */
  async analyse(f: Frame): Promise<void> {
    const c = this.o.cam
    const image: RawImage = { width: f.width, height: f.height, channels: 3, data: f.data }
    const wantsPeople = c.roles.includes('footfall') || c.roles.includes('faces')
    let persons: Detection[] = []
    if (wantsPeople) persons = await this.o.vision.detectPersons(c.id, image, { scoreThreshold: c.detect.minScore }, { transfer: false })
    const r = this.analytics.update(persons, f.ts)
    this.lastFrameAt = f.ts
    const people: Box[] = r.tracks.map((t) => ({ x: t.x, y: t.y, w: t.w, h: t.h }))
    let faces: Box[] = []
    if (c.roles.includes('faces') && this.o.faces && r.tracks.length && !this.o.settings.countOnly) {
      faces = await this.o.faces.analyse(c, f, image, r.tracks)
    }
    for (const id of r.ended) this.o.faces?.trackEnded(c.id, id)
    for (const x of r.crossings) this.o.events.crossing(this.crossing(x.line, x.entrance, x.trackId, x.dir, x.ts))
    for (const e of r.zoneEvents) {
      if (e.type === 'enter' || e.type === 'exit') continue
      const ev: CameraEvent =
        e.type === 'loitering'
          ? { v: 1, id: cameraEventId(this.o.storeId, c.id, this.epoch, 'loiter', e.zone, e.trackId), storeId: this.o.storeId, camera: c.id, type: 'loitering', ts: e.ts, zone: e.zone, dwellS: e.dwellMs / 1000 }
          : { v: 1, id: cameraEventId(this.o.storeId, c.id, e.type, e.zone, e.ts), storeId: this.o.storeId, camera: c.id, type: e.type, ts: e.ts, zone: e.zone, count: e.count, max: e.max }
      this.o.events.cameraEvent(ev, f, people, faces)
    }
    if (c.roles.includes('plates')) {
      const reads = await this.o.vision.readPlates(c.id, image, { minConfidence: c.gate.minConfidence }, { transfer: false })
      if (reads.length) this.o.events.plates(c, reads, f)
    }
    this.o.events.overlay(this.analytics.overlay(c.id, f.seq, f.ts, r.tracks))
    this.o.events.analysed(c.id, (this.o.now ?? Date.now)() - f.ts, f)
  }

  private crossing(line: string, entrance: string, trackId: number, dir: 'in' | 'out', ts: number): FootfallCrossing {
    const n = ++this.crossingSeq
    return {
      v: 1,
      id: cameraEventId(this.o.storeId, this.o.cam.id, this.epoch, line, trackId, dir, n),
      storeId: this.o.storeId,
      camera: this.o.cam.id,
      line,
      entrance,
      dir,
      ts,
      track: `${this.epoch.toString(36)}-${trackId}`,
    }
  }

  /** Stop the source, let the frame in analysis finish, and flush late counts. */
  async stop(): Promise<void> {
    this.stopped = true
    this.pending = undefined
    await this.source?.stop()
    await this.idle
    for (const x of this.analytics.finish(this.lastFrameAt || (this.o.now ?? Date.now)())) {
      this.o.events.crossing(this.crossing(x.line, x.entrance, x.trackId, x.dir, x.ts))
    }
  }
}
