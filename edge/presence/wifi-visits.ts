import type { Sighting, SightingSource } from '../contracts/index.ts'
import type { EdgeConfig, SensorConfig } from '../core/config.ts'

/**
 * Passer-by or visitor, per device, from signal strength over time (Wi-Fi probes or BLE
 * advertisements; the thresholds are config.wifi or config.ble — the edge runs one instance per source).
 *
 * - A visit starts with a sighting at or above enterRssi. Weaker sightings alone never start one:
 *   a phone heard only faintly is outside (passer-by).
 * - While visiting, sightings at or above stayRssi keep the visit alive; silence up to
 *   gapToleranceMs is tolerated (idle phones probe rarely). After a longer gap the visit ends.
 * - A visit that lasts minVisitMs (first to last keeping sighting) is confirmed: the device is a
 *   visitor from then on, and the confirmation is reported as `visit` with `repeat` set when the
 *   same identity completed a visit that ended within repeatWindowDays before this one started.
 *   A visit that ends shorter is reported as `pass` (the device was a passer-by).
 * - Random-address identities are classified the same way but never repeat and never remembered.
 * - Address rotation: phones change their random address every ~15 minutes, which alone would turn
 *   one long visit into several. When a new random address appears at the sensor where a random
 *   address of the same device class went quiet within `stitchMs`, the new one continues that visit
 *   (counting only: the two hashes are never linked anywhere else, and random addresses are never
 *   linked to a member). Each quiet visit is continued at most once; `stitchMs: 0` turns this off.
 *
 * Bounds: open visits are capped (`maxOpenVisits`, least recently alive closed first) and the repeat
 * memory is an LRU capped at `maxRemembered` (oldest completions forgotten first) and pruned past the
 * window. The MAC-hash salt rotates daily by default (privacy.saltRotationHours), so a hashed MAC is a
 * new identity each day and only beacon ids or longer rotations make a multi-day window meaningful;
 * the memory stays bounded either way.
 */

export type VisitClass = 'passer-by' | 'pending' | 'visitor'

export interface VisitEvent {
  /** visit: a visit reached minVisitMs; pass: a visit ended shorter (passer-by); end: a confirmed visit ended. */
  type: 'visit' | 'pass' | 'end'
  id: string
  source: SightingSource
  /** When it was decided (the sighting's ts, or tick's now), ms. */
  ts: number
  randomAddress: boolean
  /** For visit: the identity completed a visit within the repeat window before. */
  repeat: boolean
  /** Visit length so far (visit) or in all (pass, end), ms. */
  durationMs: number
}

export interface WifiVisitOptions {
  /** Continue a rotated random address's visit when the old one went quiet this recently (ms; 0 = off). Default 10,000. */
  stitchMs?: number
  /** Receiver calibration (rssiOffset) per sensor, applied before the thresholds. */
  sensors?: ReadonlyArray<Pick<SensorConfig, 'id' | 'rssiOffset'>>
  /** Open visits tracked at most. Default 200,000. */
  maxOpenVisits?: number
  /** Identities remembered for repeat detection at most. Default 500,000 (≈ 100 B each). */
  maxRemembered?: number
}

interface OpenVisit {
  source: SightingSource
  random: boolean
  /** For rotation stitching: the sensor that last kept it alive and the device class. */
  sensorId: string
  deviceClass: string
  start: number
  /** Last sighting at or above stayRssi. */
  alive: number
  confirmed: boolean
}

/** Marks a ring entry already continued by a rotated address (never matches again). */
const STITCHED: OpenVisit = { source: 'ble', random: true, sensorId: '', deviceClass: '', start: 0, alive: -Infinity, confirmed: false }

const DAY_MS = 86_400_000
/** Recently alive random visits remembered per sensor and device class, for stitching. */
const RING = 64

interface Ring {
  ids: Array<string | undefined>
  visits: Array<OpenVisit | undefined>
  pos: number
}

export class WifiVisitClassifier {
  private readonly cfg: EdgeConfig['wifi']
  private readonly windowMs: number
  private readonly offsets = new Map<string, number>()
  private readonly maxOpen: number
  private readonly maxRemembered: number
  /** Open visits, least recently alive first (re-inserted on every keeping sighting) for the cap. */
  private readonly open = new Map<string, OpenVisit>()
  /** Identity → end of its last completed visit, in completion order. */
  private readonly completed = new Map<string, number>()
  private readonly stitchMs: number
  /** Recently alive random visits per sensor and device class (a small ring each), for stitching. */
  private readonly recentRandom = new Map<string, Map<string, Ring>>()
  /** Visits continued by a rotated address (for tests and metrics). */
  stitched = 0
  /** Set by observe() when its sighting continued the visit of this (now retired) random id. */
  stitchedFrom: string | undefined

  constructor(cfg: EdgeConfig['wifi'], opts: WifiVisitOptions = {}) {
    this.cfg = cfg
    this.windowMs = cfg.repeatWindowDays * DAY_MS
    for (const s of opts.sensors ?? []) if (s.rssiOffset) this.offsets.set(s.id, s.rssiOffset)
    this.maxOpen = opts.maxOpenVisits ?? 200_000
    this.maxRemembered = opts.maxRemembered ?? 500_000
    this.stitchMs = opts.stitchMs ?? 10_000
  }

  /** A new store layout: receiver calibrations change, open visits and the repeat memory stay. */
  setSensors(sensors: ReadonlyArray<Pick<SensorConfig, 'id' | 'rssiOffset'>>): void {
    this.offsets.clear()
    for (const s of sensors) if (s.rssiOffset) this.offsets.set(s.id, s.rssiOffset)
  }

  /** Open visits. */
  get size(): number {
    return this.open.size
  }

  /** Identities remembered for repeat detection. */
  get remembered(): number {
    return this.completed.size
  }

  /**
   * Classify one sighting; returns the device's class right after it. Events it decides (a visit
   * confirmed, an expired visit closed) are pushed onto `events` when given.
   */
  observe(s: Sighting, events?: VisitEvent[]): VisitClass {
    this.stitchedFrom = undefined
    const t = s.ts
    const rssi = this.offsets.size === 0 ? s.rssi : s.rssi + (this.offsets.get(s.sensorId) ?? 0)
    let v = this.open.get(s.id)
    if (v !== undefined && t - v.alive > this.cfg.gapToleranceMs) {
      this.close(s.id, v, t, events)
      v = undefined
    }
    if (v === undefined) {
      const prior = s.randomAddress && this.stitchMs > 0 && rssi >= this.cfg.stayRssi ? this.takeRotated(s, t) : undefined
      if (prior === undefined && rssi < this.cfg.enterRssi) return 'passer-by'
      if (this.open.size >= this.maxOpen) this.closeOldest(t, events)
      v = prior
        ? { source: s.source, random: true, sensorId: s.sensorId, deviceClass: s.deviceClass, start: prior.start, alive: t, confirmed: prior.confirmed }
        : { source: s.source, random: s.randomAddress, sensorId: s.sensorId, deviceClass: s.deviceClass, start: t, alive: t, confirmed: false }
      this.open.set(s.id, v)
      if (v.random && this.stitchMs > 0) this.noteRandom(s.id, v)
    } else if (rssi >= this.cfg.stayRssi && t > v.alive) {
      // Re-insert (LRU order for the cap) at most once a second per device: delete+set on every
      // sighting was the classifier's main cost at 200k sightings/s.
      if (t - v.alive >= 1000) {
        this.open.delete(s.id)
        this.open.set(s.id, v)
        if (v.random && this.stitchMs > 0) {
          v.sensorId = s.sensorId
          this.noteRandom(s.id, v)
        }
      }
      v.alive = t
    }
    if (!v.confirmed && v.alive - v.start >= this.cfg.minVisitMs) {
      v.confirmed = true
      events?.push(this.event('visit', s.id, v, t, !v.random && this.isRepeat(s.id, v.start)))
    }
    return v.confirmed ? 'visitor' : 'pending'
  }

  /** Close visits silent for more than gapToleranceMs and forget completions older than the window. */
  tick(now: number): VisitEvent[] {
    const events: VisitEvent[] = []
    // A full scan (open visits are few: devices in the store), so sensor clock skew cannot hide one.
    for (const [id, v] of this.open) {
      if (now - v.alive > this.cfg.gapToleranceMs) this.close(id, v, now, events)
    }
    for (const [id, end] of this.completed) {
      if (now - end <= this.windowMs) break
      this.completed.delete(id)
    }
    return events
  }

  private ring(sensorId: string, deviceClass: string): Ring {
    let bySensor = this.recentRandom.get(sensorId)
    if (!bySensor) this.recentRandom.set(sensorId, (bySensor = new Map()))
    let ring = bySensor.get(deviceClass)
    if (!ring) bySensor.set(deviceClass, (ring = { ids: new Array(RING), visits: new Array(RING), pos: 0 }))
    return ring
  }

  private noteRandom(id: string, v: OpenVisit): void {
    const ring = this.ring(v.sensorId, v.deviceClass)
    ring.ids[ring.pos] = id
    ring.visits[ring.pos] = v
    ring.pos = (ring.pos + 1) % RING
  }

  /** A random visit of the same class at this sensor that went quiet within stitchMs: it ends here, silently. */
  private takeRotated(s: Sighting, t: number): OpenVisit | undefined {
    const ring = this.recentRandom.get(s.sensorId)?.get(s.deviceClass)
    if (!ring) return undefined
    for (let n = 1; n <= RING; n++) {
      const k = (ring.pos - n + RING) % RING
      const v = ring.visits[k]
      if (v === undefined) break
      const id = ring.ids[k]!
      const quiet = t - v.alive
      // Still advertising (< 1.5 s) is another device; quiet too long is a device that left.
      if (quiet < 1500 || quiet > this.stitchMs || this.open.get(id) !== v) continue
      ring.visits[k] = STITCHED
      this.open.delete(id)
      this.stitched++
      this.stitchedFrom = id
      return v
    }
    return undefined
  }

  private isRepeat(id: string, start: number): boolean {
    const end = this.completed.get(id)
    return end !== undefined && start - end <= this.windowMs
  }

  private close(id: string, v: OpenVisit, now: number, events: VisitEvent[] | undefined): void {
    this.open.delete(id)
    if (!v.confirmed) {
      events?.push(this.event('pass', id, v, now, false))
      return
    }
    events?.push(this.event('end', id, v, now, false))
    if (v.random) return
    this.completed.delete(id)
    this.completed.set(id, v.alive)
    if (this.completed.size > this.maxRemembered) {
      const oldest = this.completed.keys().next()
      if (!oldest.done) this.completed.delete(oldest.value)
    }
  }

  private closeOldest(now: number, events: VisitEvent[] | undefined): void {
    const first = this.open.entries().next()
    if (!first.done) this.close(first.value[0], first.value[1], now, events)
  }

  private event(type: VisitEvent['type'], id: string, v: OpenVisit, ts: number, repeat: boolean): VisitEvent {
    return { type, id, source: v.source, ts, randomAddress: v.random, repeat, durationMs: v.alive - v.start }
  }
}
