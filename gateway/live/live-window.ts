import type { EdgeHealth, PresenceEvent } from '../../edge/contracts/index.ts'
import { rebucket, type StorePoint, type StoreSeries } from './store-point.ts'

export interface StoreLive {
  storeId: string
  /** Minute points, oldest first, at most one per minute (a replayed minute replaces the old one). */
  points: StorePoint[]
  health?: EdgeHealth
  /** Latest presence events, newest last. */
  events: PresenceEvent[]
  zones: Set<string>
}

export interface StoreNow {
  occupancy: number
  visitsToday: number
  visitsLastHour: number
  visitorsBySource: { ble: number; wifi: number }
  dwellP50S: number | null
  lastMinute: number | null
}

const MAX_EVENTS = 50

/** Start of the local day containing `ts` in `timeZone`, ms (exact for whole- and half-hour zones). */
export function localMidnight(ts: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(ts)
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0)
  return ts - ((get('hour') * 60 + get('minute')) * 60 + get('second')) * 1000 - (ts % 1000)
}

/**
 * The rolling in-memory window of the last `hours` per store: what the live views read, so the
 * dashboard works with no TSDB at all. Pure: time comes in as arguments.
 */
export class LiveWindow {
  private readonly stores = new Map<string, StoreLive>()

  constructor(private readonly opts: { hours: number; maxStores: number }) {}

  get size(): number {
    return this.stores.size
  }

  get(storeId: string): StoreLive | undefined {
    return this.stores.get(storeId)
  }

  storeIds(): string[] {
    return [...this.stores.keys()]
  }

  private store(storeId: string): StoreLive | undefined {
    let s = this.stores.get(storeId)
    if (!s) {
      if (this.stores.size >= this.opts.maxStores) return undefined
      s = { storeId, points: [], events: [], zones: new Set() }
      this.stores.set(storeId, s)
    }
    return s
  }

  addPoint(storeId: string, p: StorePoint, now: number): void {
    const s = this.store(storeId)
    if (!s) return
    const cutoff = now - this.opts.hours * 3_600_000
    if (p.ts < cutoff) return
    for (const z of Object.keys(p.occupancyByZone)) s.zones.add(z)
    const pts = s.points
    // Usually an append; a replay after an outage inserts in order or replaces its minute.
    let i = pts.length
    while (i > 0 && pts[i - 1]!.ts > p.ts) i--
    if (i > 0 && pts[i - 1]!.ts === p.ts) pts[i - 1] = p
    else pts.splice(i, 0, p)
    let drop = 0
    while (drop < pts.length && pts[drop]!.ts < cutoff) drop++
    if (drop) pts.splice(0, drop)
  }

  setHealth(storeId: string, h: EdgeHealth): void {
    const s = this.store(storeId)
    if (s && (!s.health || s.health.ts <= h.ts)) s.health = h
  }

  addEvent(storeId: string, e: PresenceEvent): void {
    const s = this.store(storeId)
    if (!s) return
    s.events.push(e)
    if (s.events.length > MAX_EVENTS) s.events.splice(0, s.events.length - MAX_EVENTS)
  }

  /** Current figures of a store: occupancy of the latest minute, visits since local midnight and in the last hour. */
  now(storeId: string, now: number, timeZone: string): StoreNow {
    const s = this.stores.get(storeId)
    const pts = s?.points ?? []
    const last = pts.at(-1)
    const midnight = localMidnight(now, timeZone)
    let today = 0
    let hour = 0
    for (let i = pts.length - 1; i >= 0; i--) {
      const p = pts[i]!
      if (p.ts < midnight && p.ts < now - 3_600_000) break
      if (p.ts >= midnight) today += p.visits
      if (p.ts >= now - 3_600_000) hour += p.visits
    }
    return {
      occupancy: last?.occupancy ?? 0,
      visitsToday: today,
      visitsLastHour: hour,
      visitorsBySource: last ? { ...last.visitorsBySource } : { ble: 0, wifi: 0 },
      dwellP50S: last?.dwellP50S ?? null,
      lastMinute: last?.ts ?? null,
    }
  }

  /** Points in [from, to], re-bucketed to `stepS`. */
  series(storeId: string, from: number, to: number, stepS: number): StoreSeries {
    const s = this.stores.get(storeId)
    const pts = (s?.points ?? []).filter((p) => p.ts >= from && p.ts <= to)
    return { storeId, source: 'window', from, to, stepS, zones: [...(s?.zones ?? [])].sort(), points: rebucket(pts, from, stepS) }
  }

  /** The oldest time the window can answer for. */
  horizon(now: number): number {
    return now - this.opts.hours * 3_600_000
  }
}
