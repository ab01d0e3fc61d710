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

/** Formatters per time zone: building one costs far more than using it (the overview asks per store). */
const formatters = new Map<string, Intl.DateTimeFormat>()

/** The wall clock in `timeZone` at `ts`, as ms since the epoch read as if it were UTC (whole seconds). */
function wallClock(ts: number, timeZone: string): number {
  let f = formatters.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
    // Zones are validated IANA names (a few hundred exist); the bound only guards against misuse.
    if (formatters.size < 1000) formatters.set(timeZone, f)
  }
  const parts = f.formatToParts(ts)
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0)
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'))
}

/** Start of the local day containing `ts` in `timeZone`, ms (any UTC offset, DST change days included). */
export function localMidnight(ts: number, timeZone: string): number {
  const wall = wallClock(ts, timeZone)
  const wallMidnight = wall - (((wall % 86_400_000) + 86_400_000) % 86_400_000)
  // On a DST change day the offset at midnight differs from the offset now: guess with now's, then
  // correct with the offset at the guess.
  const guess = wallMidnight - (wall - Math.floor(ts / 1000) * 1000)
  return wallMidnight - (wallClock(guess, timeZone) - guess)
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
    return { storeId, source: 'window', from, to, stepS, zones: [...(s?.zones ?? [])].sort(), points: rebucket(pts, stepS) }
  }

  /** The oldest time the window can answer for. */
  horizon(now: number): number {
    return now - this.opts.hours * 3_600_000
  }
}
