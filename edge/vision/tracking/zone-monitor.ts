/**
 * People per zone, enter / exit with dwell, loitering and overcrowding. Pure; time is passed in.
 *
 * A track is in a zone while its anchor (feet by default) is inside the polygon. It enters at the
 * first frame inside. It exits when its anchor has been outside for `exitGraceMs` (so jitter on the
 * border does not flap; the exit is dated at the first frame outside) or when the track has not been
 * seen for `trackTimeoutMs` (dated at the last frame it was seen inside). A track counts in the zone
 * until it exits.
 *
 * Loitering: once per track per zone (re-entering does not raise it again), when the current stay
 * reaches the zone's loiterMs (0 = off).
 *
 * Overcrowding (maxPeople 0 = off) with time hysteresis: the count must stay above maxPeople for
 * overcrowdHoldMs before 'overcrowded', then stay at or below maxPeople for clearHoldMs before
 * 'overcrowding-cleared'. Time only advances through update(), so call it for every frame, with no
 * tracks when nobody is seen. Tentative tracks are skipped and lost ones only kept alive, so the
 * tracker's full list may be passed too.
 */
import type { Point, TrackBox, ZoneEvent, ZoneSpec } from '../camera/types.ts'
import { anchorOf, pointInPolygon } from './geometry.ts'

export interface ZoneMonitorOptions {
  anchor: 'feet' | 'center'
  /** Time outside the polygon before a track exits, ms. */
  exitGraceMs: number
  /** A track unseen for this long has left, ms (at least the tracker's maxLostMs). */
  trackTimeoutMs: number
}

export const DEFAULT_ZONE_MONITOR: ZoneMonitorOptions = { anchor: 'feet', exitGraceMs: 500, trackTimeoutMs: 1500 }

export interface DwellStats {
  /** Stays ended since the last drain. */
  stays: number
  p50Ms: number | null
  p90Ms: number | null
}

interface Member {
  enterTs: number
  lastInsideTs: number
  outsideSince?: number
}

interface ZoneState {
  spec: ZoneSpec
  members: Map<number, Member>
  /** Tracks that have raised loitering here. */
  loitered: Set<number>
  crowded: boolean
  /** Since when the count has been on the other side of maxPeople from the alarm state. */
  pendingSince?: number
  stays: number[]
}

export class ZoneMonitor {
  private readonly o: ZoneMonitorOptions
  private readonly zones: ZoneState[]
  private readonly lastSeen = new Map<number, number>()

  constructor(specs: readonly ZoneSpec[], opts: Partial<ZoneMonitorOptions> = {}) {
    this.o = { ...DEFAULT_ZONE_MONITOR, ...opts }
    this.zones = specs.map((spec) => ({ spec, members: new Map(), loitered: new Set(), crowded: false, stays: [] }))
  }

  update(tracks: readonly TrackBox[], ts: number): ZoneEvent[] {
    const events: ZoneEvent[] = []
    const anchors: Array<[number, Point]> = []
    for (const t of tracks) {
      // As in the line counter: tentative ids are not public, lost boxes are predictions.
      if (t.state === 'tentative') continue
      if (t.state === 'lost' && !this.lastSeen.has(t.id)) continue
      this.lastSeen.set(t.id, ts)
      if (t.state !== 'lost') anchors.push([t.id, anchorOf(t, this.o.anchor)])
    }
    for (const z of this.zones) {
      const zone = z.spec.id
      for (const [id, p] of anchors) {
        const inside = pointInPolygon(p, z.spec.polygon)
        const m = z.members.get(id)
        if (inside) {
          if (!m) {
            z.members.set(id, { enterTs: ts, lastInsideTs: ts })
            events.push({ type: 'enter', zone, trackId: id, ts })
          } else {
            m.lastInsideTs = ts
            m.outsideSince = undefined
          }
        } else if (m) {
          m.outsideSince ??= ts
          if (ts - m.outsideSince >= this.o.exitGraceMs) this.exit(z, id, m, m.outsideSince, events)
        }
      }
      for (const [id, m] of z.members) {
        if (ts - (this.lastSeen.get(id) ?? -Infinity) > this.o.trackTimeoutMs) this.exit(z, id, m, m.lastInsideTs, events)
      }
      if (z.spec.loiterMs > 0) {
        for (const [id, m] of z.members) {
          if (z.loitered.has(id) || ts - m.enterTs < z.spec.loiterMs) continue
          z.loitered.add(id)
          events.push({ type: 'loitering', zone, trackId: id, ts, dwellMs: ts - m.enterTs })
        }
      }
      this.crowding(z, ts, events)
    }
    for (const [id, seen] of this.lastSeen) {
      if (ts - seen <= this.o.trackTimeoutMs) continue
      this.lastSeen.delete(id)
      for (const z of this.zones) z.loitered.delete(id)
    }
    return events
  }

  /** People in each zone now. */
  counts(): Map<string, number> {
    return new Map(this.zones.map((z) => [z.spec.id, z.members.size]))
  }

  /** The zones a track is in now, in spec order. */
  zonesOf(trackId: number): string[] {
    return this.zones.filter((z) => z.members.has(trackId)).map((z) => z.spec.id)
  }

  /** Zones in the overcrowded state. */
  overcrowded(): string[] {
    return this.zones.filter((z) => z.crowded).map((z) => z.spec.id)
  }

  /** Median and 90th percentile (nearest rank) of the stays ended since the last call, per zone. */
  drainDwell(): Record<string, DwellStats> {
    const out: Record<string, DwellStats> = {}
    for (const z of this.zones) {
      const s = z.stays.sort((a, b) => a - b)
      out[z.spec.id] = { stays: s.length, p50Ms: percentile(s, 0.5), p90Ms: percentile(s, 0.9) }
      z.stays = []
    }
    return out
  }

  /** Everyone leaves (stream over): exit events dated at their last time inside. */
  finish(): ZoneEvent[] {
    const events: ZoneEvent[] = []
    for (const z of this.zones) for (const [id, m] of z.members) this.exit(z, id, m, m.lastInsideTs, events)
    return events
  }

  private exit(z: ZoneState, id: number, m: Member, ts: number, events: ZoneEvent[]): void {
    z.members.delete(id)
    const dwellMs = ts - m.enterTs
    z.stays.push(dwellMs)
    events.push({ type: 'exit', zone: z.spec.id, trackId: id, ts, dwellMs })
  }

  private crowding(z: ZoneState, ts: number, events: ZoneEvent[]): void {
    const max = z.spec.maxPeople
    if (max <= 0) return
    const count = z.members.size
    const over = count > max
    if (over === z.crowded) {
      z.pendingSince = undefined
      return
    }
    z.pendingSince ??= ts
    const hold = over ? z.spec.overcrowdHoldMs : z.spec.clearHoldMs
    if (ts - z.pendingSince < hold) return
    z.crowded = over
    z.pendingSince = undefined
    events.push({ type: over ? 'overcrowded' : 'overcrowding-cleared', zone: z.spec.id, ts, count, max })
  }
}

function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!
}
