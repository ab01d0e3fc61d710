/**
 * Directed counting line: turns tracks into in / out crossings. Pure; time is passed in.
 *
 * Geometry. Each track is reduced to its anchor (feet = bottom centre, or centre). Its side of the
 * line is the sign of its distance from the line through a and b, but only once it is at least
 * `hysteresisPx` away: inside that band the track keeps the side it had, so a person standing on
 * the line and jittering by a few pixels never crosses. A crossing is a change of that confirmed
 * side. For a segment (`extended: false`) the straight path from the last position on the old side
 * to the current one must cut the segment a–b itself (not its extension); with an `activation`
 * polygon the point where that path cuts the line must lie inside the polygon. A change of side that
 * fails these checks is not counted, but the side still changes (walking round the end of a segment
 * does not count later either).
 *
 * Direction. With `inPoint`, "in" is the side of the line that point is on. Without it, "in" is the
 * left-hand side of a → b as drawn on the screen: for a line drawn top → bottom, "in" is towards
 * larger x (right of the screen); for a line drawn left → right, "in" is towards smaller y (up).
 *
 * Once per track per direction. A track counts "in" at most once until it has counted "out", and
 * vice versa: its counted crossings alternate. A track that crosses in, walks round the end of the
 * segment and crosses in again is counted in once.
 *
 * Late count (`lateCount: true`). Crossings only add to the track's net (+1 in, −1 out); when the
 * track ends (unseen for `trackTimeoutMs`, `endTrack`, or `finish`) a net > 0 is one "in", < 0 one
 * "out", 0 nothing: walking back and forth over the line cancels out. The crossing's ts is the time
 * of the track's last crossing in that direction (when it happened, not when it was decided).
 * `trackTimeoutMs` should be at least the tracker's maxLostMs so a re-found track is the same track.
 *
 * update() takes the tracker's confirmed tracks; tentative ones are skipped and lost ones (predicted
 * boxes) only keep their track alive, so passing every track of the tracker is also right.
 */
import type { Crossing, LineSpec, Point, TrackBox } from '../camera/types.ts'
import { anchorOf, lineCrossing, pointInPolygon, signedDistance } from './geometry.ts'

export interface LineCounterOptions {
  /** Minimum distance from the line, px, for a side to count as reached. */
  hysteresisPx: number
  /** A track unseen for this long is over (late counts are decided then), ms. */
  trackTimeoutMs: number
}

export const DEFAULT_LINE_COUNTER: LineCounterOptions = { hysteresisPx: 4, trackTimeoutMs: 1500 }

interface LineTrack {
  /** +1 in side, −1 out side, 0 not yet away from the line. */
  side: number
  /** Last anchor at the confirmed side. */
  sidePos: Point
  lastSeen: number
  lastCounted?: 'in' | 'out'
  net: number
  lastInTs: number
  lastOutTs: number
}

export interface LineCounts {
  in: number
  out: number
  /** Side changes outside the segment or the activation polygon. */
  rejected: number
  /** Crossings in the same direction as the track's previous counted one. */
  repeated: number
}

export class LineCounter {
  private readonly o: LineCounterOptions
  /** +1 when "in" is the side of positive signed distance. */
  private readonly inSign: number
  private readonly tracks = new Map<number, LineTrack>()
  private readonly totals: LineCounts = { in: 0, out: 0, rejected: 0, repeated: 0 }

  constructor(
    readonly spec: LineSpec,
    opts: Partial<LineCounterOptions> = {},
  ) {
    this.o = { ...DEFAULT_LINE_COUNTER, ...opts }
    const d = spec.inPoint ? signedDistance(spec.a, spec.b, spec.inPoint) : 0
    // Default: cross(b − a, p − a) < 0 is the left of a → b on screen (y grows downwards).
    this.inSign = d !== 0 ? Math.sign(d) : -1
  }

  /** Feed the tracks of one frame; returns the crossings decided now (late counts included). */
  update(tracks: readonly TrackBox[], ts: number): Crossing[] {
    const out: Crossing[] = []
    const h = this.o.hysteresisPx
    for (const t of tracks) {
      // Tentative ids are not public yet; a lost track's box is a prediction, not a sighting, so it
      // only keeps the track alive (the tracker may pass all its tracks).
      if (t.state === 'tentative') continue
      const known = this.tracks.get(t.id)
      if (t.state === 'lost') {
        if (known) known.lastSeen = ts
        continue
      }
      const p = anchorOf(t, this.spec.anchor)
      const d = signedDistance(this.spec.a, this.spec.b, p) * this.inSign
      let st = known
      if (!st) {
        st = { side: 0, sidePos: p, lastSeen: ts, net: 0, lastInTs: 0, lastOutTs: 0 }
        this.tracks.set(t.id, st)
      }
      st.lastSeen = ts
      if (Math.abs(d) < h) continue
      const side = Math.sign(d)
      if (st.side !== 0 && side !== st.side && this.accepts(st.sidePos, p)) {
        const c = this.cross(t.id, st, side > 0 ? 'in' : 'out', ts)
        if (c) out.push(c)
      }
      st.side = side
      st.sidePos = p
    }
    for (const [id, st] of this.tracks) if (ts - st.lastSeen > this.o.trackTimeoutMs) this.end(id, st, out)
    return out
  }

  /** The tracker says this track is gone: decide its late count now. */
  endTrack(id: number): Crossing[] {
    const out: Crossing[] = []
    const st = this.tracks.get(id)
    if (st) this.end(id, st, out)
    return out
  }

  /**
   * End every track (stream over): flushes all late counts. `ts` is accepted for symmetry with
   * update; late crossings carry the time they happened, not the time of the flush.
   */
  finish(_ts?: number): Crossing[] {
    const out: Crossing[] = []
    for (const [id, st] of this.tracks) this.end(id, st, out)
    return out
  }

  counts(): LineCounts {
    return { ...this.totals }
  }

  /** Tracks the counter holds state for (for tests and metrics). */
  size(): number {
    return this.tracks.size
  }

  private accepts(from: Point, to: Point): boolean {
    const { a, b, extended, activation } = this.spec
    const x = lineCrossing(a, b, from, to)
    const ok = x !== undefined && (extended || (x.along >= 0 && x.along <= 1)) && (!activation || pointInPolygon(x.point, activation))
    if (!ok) this.totals.rejected++
    return ok
  }

  private cross(trackId: number, st: LineTrack, dir: 'in' | 'out', ts: number): Crossing | undefined {
    if (this.spec.lateCount) {
      st.net += dir === 'in' ? 1 : -1
      if (dir === 'in') st.lastInTs = ts
      else st.lastOutTs = ts
      return undefined
    }
    if (st.lastCounted === dir) {
      this.totals.repeated++
      return undefined
    }
    st.lastCounted = dir
    return this.emit(trackId, dir, ts)
  }

  private end(id: number, st: LineTrack, out: Crossing[]): void {
    this.tracks.delete(id)
    if (!this.spec.lateCount || st.net === 0) return
    out.push(st.net > 0 ? this.emit(id, 'in', st.lastInTs) : this.emit(id, 'out', st.lastOutTs))
  }

  private emit(trackId: number, dir: 'in' | 'out', ts: number): Crossing {
    this.totals[dir]++
    return { line: this.spec.id, entrance: this.spec.entrance, trackId, dir, ts }
  }
}
