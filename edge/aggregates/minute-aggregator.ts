import type { CameraAggregate, MinuteAggregate, ParkingAggregate, PresenceEvent, Sighting, SightingSource, SourceAggregate, ZoneAggregate } from '../contracts/index.ts'
import type { VisitClass, VisitEvent } from '../presence/wifi-visits.ts'

/**
 * Minute aggregates (`stores/{storeId}/agg`), pure: inputs are sightings with their visit class,
 * visit events, presence events and an occupancy snapshot; time comes from their timestamps and
 * from `flush(now)`.
 *
 * Event time: every input lands in the interval containing its ts (interval start = `minute`).
 * Input older than the last flushed interval is late: it is counted in the oldest open interval
 * (and in `lateInputs`) rather than dropped, so totals over a day stay right.
 *
 * Per source:
 * - visitors / passersBy: distinct devices seen in the interval whose class was visitor / passer-by
 *   (a device both ways in one interval counts as visitor). A visit still short of minVisitMs is
 *   counted as neither until decided: a `visit` event counts it as visitor, a `pass` event as
 *   passer-by, in the interval of the decision.
 * - unique / repeat: visits confirmed in the interval (at minVisitMs after their start).
 * - randomized: distinct random-address devices seen; sightings: all sightings observed.
 * Per zone:
 * - occupancy: from the snapshot given to flush (devices present or stale, not exited);
 * - enters / exits: enter and move-in / exit and move-out events;
 * - dwellCount, dwellP50S, dwellP90S: zone stays that ended in the interval (moves out and exits),
 *   percentiles by nearest rank, null when none ended.
 * Car park (`parking`, only once `enableParking` was called: stores with a car park):
 * - arrivals / departures: gate entries and exits in the interval;
 * - occupancy: cars inside after the interval's last gate event, carried forward through quiet
 *   intervals (the car park's own count, given with each event).
 */

export interface OccupancySnapshot {
  zones: ReadonlyArray<{ zone: string; occupancy: number; ble?: number; wifi?: number }>
}

interface SourceBucket {
  sightings: number
  unique: number
  repeat: number
  visitors: Set<string>
  passers: Set<string>
  randomized: Set<string>
}

interface ZoneBucket {
  enters: number
  exits: number
  dwellS: number[]
}

interface Bucket {
  ble: SourceBucket
  wifi: SourceBucket
  zones: Map<string, ZoneBucket>
  parking?: ParkingAggregate
}

interface Stay {
  zone: string
  since: number
  visitStart: number
}

/** After a long pause, at most this many empty intervals are emitted (intervals with data always are). */
export const MAX_CATCHUP_INTERVALS = 1440
/** Open zone stays remembered at most (one per device in the store); the oldest are dropped beyond. */
export const MAX_OPEN_STAYS = 1_000_000

const newSource = (): SourceBucket => ({ sightings: 0, unique: 0, repeat: 0, visitors: new Set(), passers: new Set(), randomized: new Set() })

/** Nearest-rank percentile of an ascending array (p in (0, 1]). */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.max(1, Math.ceil(p * sorted.length))
  return sorted[rank - 1]!
}

export class MinuteAggregator {
  /** Inputs whose interval was already flushed (counted in the oldest open interval). */
  lateInputs = 0

  private readonly buckets = new Map<number, Bucket>()
  private readonly stays = new Map<string, Stay>()
  private zones: string[] = []
  /** Intervals starting before this are flushed. */
  private closedBefore = -Infinity
  /** Car-park occupancy carried into intervals without gate events; undefined: no car park. */
  private parkingOccupancy: number | undefined
  /** The cameras' part of each interval (the camera module keeps its own buckets), where the store has cameras. */
  cameraPart?: (start: number) => CameraAggregate | undefined

  constructor(
    private readonly storeId: string,
    private readonly intervalMs: number,
    zones: ReadonlyArray<string | { id: string }> = [],
  ) {
    if (!(intervalMs > 0)) throw new RangeError('intervalMs must be positive')
    this.setZones(zones)
  }

  /** The configured zones: each appears in every aggregate, in this order. */
  setZones(zones: ReadonlyArray<string | { id: string }>): void {
    this.zones = zones.map((z) => (typeof z === 'string' ? z : z.id))
  }

  get parkingEnabled(): boolean {
    return this.parkingOccupancy !== undefined
  }

  /** The store has a car park: every aggregate from now on carries `parking`, starting at `occupancy`. */
  enableParking(occupancy = 0): void {
    if (this.parkingOccupancy === undefined) this.parkingOccupancy = Math.max(0, occupancy)
  }

  /** A gate event at ts; `occupancy` is the car park's count right after it. */
  observeParking(type: 'entry' | 'exit', ts: number, occupancy: number): void {
    this.enableParking(occupancy)
    const p = this.parkingBucket(ts)
    if (type === 'entry') p.arrivals++
    else p.departures++
    p.occupancy = Math.max(0, occupancy)
  }

  /** The car park's count changed without a gate event (the daily reset). */
  setParkingOccupancy(ts: number, occupancy: number): void {
    this.enableParking(occupancy)
    this.parkingBucket(ts).occupancy = Math.max(0, occupancy)
  }

  private parkingBucket(ts: number): ParkingAggregate {
    const b = this.bucket(ts)
    if (b.parking === undefined) b.parking = { arrivals: 0, departures: 0, occupancy: this.parkingOccupancy ?? 0 }
    return b.parking
  }

  observeSighting(s: Sighting, cls?: VisitClass): void {
    const src = this.bucket(s.ts)[s.source]
    src.sightings++
    if (s.randomAddress) src.randomized.add(s.id)
    if (cls === 'visitor') src.visitors.add(s.id)
    else if (cls === 'passer-by') src.passers.add(s.id)
  }

  /** A batch, with the classifier's verdict per sighting (same index) when there is one. */
  observeSightings(sightings: readonly Sighting[], classes?: ArrayLike<VisitClass | undefined>): void {
    for (let i = 0; i < sightings.length; i++) this.observeSighting(sightings[i]!, classes?.[i])
  }

  observeVisit(e: VisitEvent): void {
    const src = this.bucket(e.ts)[e.source]
    if (e.type === 'visit') {
      src.visitors.add(e.id)
      if (e.repeat) src.repeat++
      else src.unique++
    } else if (e.type === 'pass') src.passers.add(e.id)
  }

  /** A device continued under another id (rotated random address): its open zone stay goes with it. */
  renameStay(oldId: string, newId: string): void {
    const stay = this.stays.get(oldId)
    if (!stay) return
    this.stays.delete(oldId)
    this.openStay(newId, stay)
  }

  observePresence(e: PresenceEvent): void {
    if (e.type === 'stale') return
    const b = this.bucket(e.ts)
    if (e.type === 'enter') {
      this.zone(b, e.zone).enters++
      this.openStay(e.id, { zone: e.zone, since: e.ts, visitStart: e.ts })
    } else if (e.type === 'move') {
      const from = e.fromZone ?? this.stays.get(e.id)?.zone
      if (from !== undefined) {
        const z = this.zone(b, from)
        z.exits++
        if (e.dwellS !== undefined) z.dwellS.push(e.dwellS)
      }
      this.zone(b, e.zone).enters++
      const stay = this.stays.get(e.id)
      this.openStay(e.id, { zone: e.zone, since: e.ts, visitStart: stay?.visitStart ?? e.ts })
    } else {
      const z = this.zone(b, e.zone)
      z.exits++
      const stay = this.stays.get(e.id)
      this.stays.delete(e.id)
      if (e.dwellS !== undefined) {
        // exit.dwellS is the whole visit (first placement → last sighting); the zone stay is its tail.
        const zoneStayS = stay && stay.zone === e.zone ? e.dwellS - (stay.since - stay.visitStart) / 1000 : e.dwellS
        z.dwellS.push(Math.max(0, Math.round(zoneStayS * 1000) / 1000))
      }
    }
  }

  /**
   * Close every interval that ended by `now` (start + intervalMs ≤ now) and return its aggregate,
   * oldest first. `occupancy` (the presence snapshot at `now`) is the occupancy of each closed interval.
   */
  flush(now: number, occupancy?: OccupancySnapshot): MinuteAggregate[] {
    const iv = this.intervalMs
    const end = Math.floor(now / iv) * iv
    let from = this.closedBefore
    if (from === -Infinity) from = Math.min(end, ...this.bucketStarts())
    const out: MinuteAggregate[] = []
    if (from >= end) {
      if (this.closedBefore === -Infinity) this.closedBefore = end
      return out
    }
    const occ = new Map<string, { occupancy: number; ble: number; wifi: number }>()
    for (const z of occupancy?.zones ?? []) {
      const wifi = z.wifi ?? 0
      occ.set(z.zone, { occupancy: z.occupancy, wifi, ble: z.ble ?? z.occupancy - wifi })
    }
    const catchUpFrom = end - MAX_CATCHUP_INTERVALS * iv
    if (from < catchUpFrom) {
      for (const start of this.bucketStarts().sort((a, b) => a - b)) {
        if (start < catchUpFrom) out.push(this.build(start, occ))
      }
      from = catchUpFrom
    }
    for (let start = from; start < end; start += iv) out.push(this.build(start, occ))
    this.closedBefore = end
    return out
  }

  private bucketStarts(): number[] {
    return [...this.buckets.keys()]
  }

  private build(start: number, occ: Map<string, { occupancy: number; ble: number; wifi: number }>): MinuteAggregate {
    const b = this.buckets.get(start)
    this.buckets.delete(start)
    const sources: SourceAggregate[] = (['ble', 'wifi'] as const).map((source) => sourceAggregate(source, b?.[source]))
    const names = [...this.zones]
    for (const z of [...occ.keys(), ...(b?.zones.keys() ?? [])]) if (!names.includes(z)) names.push(z)
    const zones: ZoneAggregate[] = names.map((zone) => {
      const zb = b?.zones.get(zone)
      const dwell = (zb?.dwellS ?? []).sort((x, y) => x - y)
      const o = occ.get(zone)
      return {
        zone,
        occupancy: o?.occupancy ?? 0,
        occupancyBySource: { ble: o?.ble ?? 0, wifi: o?.wifi ?? 0 },
        enters: zb?.enters ?? 0,
        exits: zb?.exits ?? 0,
        dwellCount: dwell.length,
        dwellP50S: percentile(dwell, 0.5),
        dwellP90S: percentile(dwell, 0.9),
      }
    })
    const agg: MinuteAggregate = { v: 1, storeId: this.storeId, minute: start, sources, zones }
    if (this.parkingOccupancy !== undefined) {
      const p = b?.parking
      if (p !== undefined) this.parkingOccupancy = p.occupancy
      agg.parking = { arrivals: p?.arrivals ?? 0, departures: p?.departures ?? 0, occupancy: this.parkingOccupancy }
    }
    const cameras = this.cameraPart?.(start)
    if (cameras) agg.cameras = cameras
    return agg
  }

  /** The bucket of the last lookup: consecutive sightings almost always fall in the same interval. */
  private lastStart = NaN
  private lastBucket?: Bucket

  private bucket(ts: number): Bucket {
    if (ts >= this.lastStart && ts < this.lastStart + this.intervalMs && this.lastStart >= this.closedBefore && this.lastBucket) {
      return this.lastBucket
    }
    let start = Math.floor(ts / this.intervalMs) * this.intervalMs
    if (start < this.closedBefore) {
      this.lateInputs++
      start = this.closedBefore
    }
    let b = this.buckets.get(start)
    if (b === undefined) {
      b = { ble: newSource(), wifi: newSource(), zones: new Map() }
      this.buckets.set(start, b)
    }
    this.lastStart = start
    this.lastBucket = b
    return b
  }

  private zone(b: Bucket, zone: string): ZoneBucket {
    let z = b.zones.get(zone)
    if (z === undefined) {
      z = { enters: 0, exits: 0, dwellS: [] }
      b.zones.set(zone, z)
    }
    return z
  }

  private openStay(id: string, stay: Stay): void {
    this.stays.set(id, stay)
    if (this.stays.size > MAX_OPEN_STAYS) {
      const oldest = this.stays.keys().next()
      if (!oldest.done) this.stays.delete(oldest.value)
    }
  }
}

function sourceAggregate(source: SightingSource, b: SourceBucket | undefined): SourceAggregate {
  if (b === undefined) return { source, visitors: 0, passersBy: 0, unique: 0, repeat: 0, randomized: 0, sightings: 0 }
  let passersBy = 0
  for (const id of b.passers) if (!b.visitors.has(id)) passersBy++
  return {
    source,
    visitors: b.visitors.size,
    passersBy,
    unique: b.unique,
    repeat: b.repeat,
    randomized: b.randomized.size,
    sightings: b.sightings,
  }
}
