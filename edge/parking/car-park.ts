import { createHash } from 'node:crypto'
import { resetPeriodKey, type ParkingEvent } from '../contracts/index.ts'

/**
 * The car park, pure: gate observations (plates already resolved to a member or hashed by the
 * module) → parking events with stays, arrivals, departures and occupancy. No clock, no MQTT: time
 * comes from the events and from the caller's `reset` / `prune`.
 *
 * - De-duplication: a parking system's event id (per device) is seen once; so is the same
 *   (plate, type, gate, ts) delivered twice (QoS 1 redelivery, a webhook retried), within a window.
 * - Matching: an exit closes the plate's open stay and carries `stayS`. An exit without an entry
 *   (the car came in before a reset or a restart, or its entry plate was unreadable) still counts a
 *   departure. An entry while a stay is open (its exit was missed) restarts the stay and leaves the
 *   occupancy as it was: the car left unseen and came back.
 * - Occupancy: +1 per entry, −1 per exit, never below 0; `reset()` (the daily reset) sets it to 0.
 * - Unreadable plates (`plateValid: false`) count as arrivals / departures but never open or close a stay.
 */

export interface GateObservation {
  /** Device the event came from (gate controller or the webhook's parking system). */
  deviceId: string
  /** The parking system's own event id, when it sent one. */
  sourceId?: string
  type: 'entry' | 'exit'
  gate: string
  ts: number
  /** `member:<ref>` or `h:<hash of the day>`: what leaves the edge. */
  subject: string
  memberRef?: string
  /** Stable key of the plate (for matching and de-duplication); never leaves the process. */
  stayKey: string
  plateValid: boolean
}

export type BusParkingEvent = ParkingEvent & { plateValid: boolean }

export type ParkingOutcome =
  | { kind: 'event'; event: BusParkingEvent; occupancy: number; matched: boolean }
  | { kind: 'duplicate'; by: 'id' | 'content' }

export interface CarParkOptions {
  storeId: string
  /** How long a delivered event is remembered for de-duplication, ms (by event time). */
  dedupeWindowMs?: number
  /** De-duplication keys kept at most. */
  maxSeen?: number
  /** Open stays older than this are dropped by `prune` (the car left unseen), ms. */
  maxStayMs?: number
  /** Open stays kept at most (oldest dropped). */
  maxStays?: number
}

const sha = (...parts: Array<string | number>) => createHash('sha256').update(parts.join('\u001f')).digest('hex')

/** A parking event's id: deterministic, so a replay upstream is recognised. */
export function parkingEventId(storeId: string, o: Pick<GateObservation, 'deviceId' | 'sourceId' | 'type' | 'gate' | 'ts' | 'subject'>): string {
  return o.sourceId !== undefined
    ? sha('parking', storeId, 'src', o.deviceId, o.sourceId).slice(0, 32)
    : sha('parking', storeId, o.gate, o.type, o.ts, o.subject).slice(0, 32)
}

/**
 * The key of the reset period containing `ts` (`resetAt` 'HH:MM' local, DST-safe: see
 * resetPeriodKey). A change of key is a reset. Undefined when resets are off ('').
 */
export const resetPeriod = resetPeriodKey

export class CarPark {
  occupancy = 0
  /** Totals since construction (for tests and /metrics). */
  readonly totals = { arrivals: 0, departures: 0, matched: 0, unmatchedExits: 0, duplicates: 0, resets: 0 }

  private readonly stays = new Map<string, number>()
  private readonly seen = new Map<string, number>()
  private readonly o: Required<Omit<CarParkOptions, 'storeId'>> & { storeId: string }

  constructor(opts: CarParkOptions) {
    this.o = {
      storeId: opts.storeId,
      dedupeWindowMs: opts.dedupeWindowMs ?? 24 * 3_600_000,
      maxSeen: opts.maxSeen ?? 200_000,
      maxStayMs: opts.maxStayMs ?? 48 * 3_600_000,
      maxStays: opts.maxStays ?? 100_000,
    }
  }

  /** Cars with an open stay (entered with a readable plate, not yet out). */
  get openStays(): number {
    return this.stays.size
  }

  observe(o: GateObservation): ParkingOutcome {
    const idKey = o.sourceId !== undefined ? `i\u001f${o.deviceId}\u001f${o.sourceId}` : undefined
    const contentKey = `c\u001f${o.stayKey}\u001f${o.type}\u001f${o.gate}\u001f${o.ts}`
    if (idKey !== undefined && this.seen.has(idKey)) return this.duplicate('id')
    if (this.seen.has(contentKey)) return this.duplicate('content')
    this.remember(contentKey, o.ts)
    if (idKey !== undefined) this.remember(idKey, o.ts)

    const event: BusParkingEvent = {
      v: 1,
      id: parkingEventId(this.o.storeId, o),
      type: o.type,
      storeId: this.o.storeId,
      gate: o.gate,
      ts: o.ts,
      subject: o.subject,
      plateValid: o.plateValid,
    }
    if (o.memberRef !== undefined) event.memberRef = o.memberRef
    let matched = false
    if (o.type === 'entry') {
      this.totals.arrivals++
      const open = o.plateValid ? this.stays.get(o.stayKey) : undefined
      if (open === undefined) this.occupancy++
      if (o.plateValid) {
        this.stays.delete(o.stayKey) // re-insert: the Map's order is the stays' age
        this.stays.set(o.stayKey, o.ts)
        if (this.stays.size > this.o.maxStays) this.stays.delete(this.stays.keys().next().value!)
      }
    } else {
      this.totals.departures++
      const since = o.plateValid ? this.stays.get(o.stayKey) : undefined
      if (since !== undefined) {
        this.stays.delete(o.stayKey)
        matched = true
        this.totals.matched++
        if (o.ts >= since) event.stayS = (o.ts - since) / 1000
      } else this.totals.unmatchedExits++
      this.occupancy = Math.max(0, this.occupancy - 1)
    }
    return { kind: 'event', event, occupancy: this.occupancy, matched }
  }

  /** The daily reset: nobody is inside as far as the counts go; open stays are forgotten. */
  reset(): void {
    this.occupancy = 0
    this.stays.clear()
    this.totals.resets++
  }

  /** Forget de-duplication keys and open stays that are too old, as of `now`. */
  prune(now: number): void {
    const seenBefore = now - this.o.dedupeWindowMs
    for (const [k, ts] of this.seen) {
      if (ts >= seenBefore) break
      this.seen.delete(k)
    }
    const stayBefore = now - this.o.maxStayMs
    for (const [k, since] of this.stays) {
      if (since >= stayBefore) break
      this.stays.delete(k)
    }
  }

  private duplicate(by: 'id' | 'content'): ParkingOutcome {
    this.totals.duplicates++
    return { kind: 'duplicate', by }
  }

  private remember(key: string, ts: number): void {
    this.seen.set(key, ts)
    if (this.seen.size > this.o.maxSeen) this.seen.delete(this.seen.keys().next().value!)
  }
}
