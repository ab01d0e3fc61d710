import type { CameraConfig, NormPoint } from '../../contracts/index.ts'
import type { Detection } from '../inference/types.ts'
import { ByteTracker, type ByteTrackerOptions } from '../tracking/byte-tracker.ts'
import { LineCounter } from '../tracking/counting-line.ts'
import { ZoneMonitor } from '../tracking/zone-monitor.ts'
import type { OverlayFrame } from './hub.ts'
import type { Crossing, LineSpec, Point, TrackBox, ZoneEvent, ZoneSpec } from './types.ts'

/**
 * One camera's analytics, pure: person detections of a frame in, tracks, line crossings and zone
 * events out. The live camera pipeline, the benchmark and the counting audit all run this same
 * path (detector → ByteTrack → lines and zones), so what the audit measures is what the store gets.
 * No clock, I/O or model here: the frame's time and its detections are arguments.
 */
export interface AnalyticsOptions {
  camera: Pick<CameraConfig, 'id' | 'lines' | 'zones'>
  /** Detect frame size: config coordinates are normalised to it. */
  width: number
  height: number
  tracker?: Partial<ByteTrackerOptions>
}

export interface FrameResult {
  tracks: TrackBox[]
  crossings: Crossing[]
  zoneEvents: ZoneEvent[]
  /** Ids of tracks that ended with this frame. */
  ended: number[]
}

const px = (p: NormPoint, w: number, h: number): Point => ({ x: p.x * w, y: p.y * h })

/** Config (normalised) → pixel line specs of the detect frame. */
export function lineSpecs(cam: Pick<CameraConfig, 'lines'>, w: number, h: number): LineSpec[] {
  return cam.lines.map((l) => ({
    id: l.id,
    entrance: l.entrance,
    a: px(l.a, w, h),
    b: px(l.b, w, h),
    extended: l.extended,
    inPoint: l.inPoint ? px(l.inPoint, w, h) : undefined,
    lateCount: l.lateCount,
    activation: l.activation?.map((p) => px(p, w, h)),
    anchor: l.anchor,
  }))
}

export function zoneSpecs(cam: Pick<CameraConfig, 'zones'>, w: number, h: number): ZoneSpec[] {
  return cam.zones.map((z) => ({
    id: z.id,
    polygon: z.polygon.map((p) => px(p, w, h)),
    loiterMs: z.loiterS * 1000,
    maxPeople: z.maxPeople,
    overcrowdHoldMs: z.overcrowdHoldS * 1000,
    clearHoldMs: z.clearHoldS * 1000,
  }))
}

export class CameraAnalytics {
  readonly tracker: ByteTracker
  readonly lines: LineCounter[]
  readonly zones: ZoneMonitor
  private readonly totals = new Map<string, { line: string; entrance: string; in: number; out: number }>()
  private readonly loitering = new Set<string>()
  private readonly crowded = new Set<string>()
  private lastTs = 0

  constructor(private readonly o: AnalyticsOptions) {
    this.tracker = new ByteTracker(o.tracker)
    this.lines = lineSpecs(o.camera, o.width, o.height).map((spec) => new LineCounter(spec))
    this.zones = new ZoneMonitor(zoneSpecs(o.camera, o.width, o.height))
    for (const l of o.camera.lines) this.totals.set(l.id, { line: l.id, entrance: l.entrance, in: 0, out: 0 })
  }

  /** One analysed frame: `persons` in detect-frame pixels, `ts` the frame's time (ms). */
  update(persons: readonly Detection[], ts: number): FrameResult {
    this.lastTs = ts
    const tracks = this.tracker.update(persons, ts)
    const all = this.tracker.allTracks()
    const ended = this.tracker.removedIds()
    const crossings: Crossing[] = []
    for (const line of this.lines) crossings.push(...line.update(all, ts))
    for (const c of crossings) this.total(c)
    const zoneEvents = this.zones.update(tracks, ts)
    for (const e of zoneEvents) {
      if (e.type === 'loitering') this.loitering.add(`${e.zone}:${e.trackId}`)
      else if (e.type === 'exit') this.loitering.delete(`${e.zone}:${e.trackId}`)
      else if (e.type === 'overcrowded') this.crowded.add(e.zone)
      else if (e.type === 'overcrowding-cleared') this.crowded.delete(e.zone)
    }
    return { tracks, crossings, zoneEvents, ended }
  }

  /** End of the stream: late-counted lines decide the tracks still open. */
  finish(ts = this.lastTs): Crossing[] {
    const out: Crossing[] = []
    for (const line of this.lines) out.push(...line.finish(ts))
    for (const c of out) this.total(c)
    return out
  }

  private total(c: Crossing): void {
    const t = this.totals.get(c.line)
    if (t) t[c.dir]++
  }

  counts(): Array<{ line: string; entrance: string; in: number; out: number }> {
    return [...this.totals.values()].map((t) => ({ ...t }))
  }

  /** What the security view draws for this frame (normalised coordinates). */
  overlay(camera: string, seq: number, ts: number, tracks: readonly TrackBox[]): OverlayFrame {
    const { width: w, height: h } = this.o
    const people = this.zones.counts()
    return {
      camera,
      seq,
      ts,
      tracks: tracks.map((t) => ({
        id: t.id,
        box: [t.x / w, t.y / h, t.w / w, t.h / h],
        zones: this.zones.zonesOf(t.id),
        loitering: this.zones.zonesOf(t.id).some((z) => this.loitering.has(`${z}:${t.id}`)),
      })),
      zones: this.o.camera.zones.map((z) => ({ id: z.id, count: people.get(z.id) ?? 0, overcrowded: this.crowded.has(z.id) })),
      counts: this.counts(),
    }
  }
}
