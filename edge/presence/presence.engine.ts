import type { PresenceEvent, Sighting, SightingSource } from '../contracts/index.ts'
import type { EdgeConfig, SensorConfig, ZoneConfig } from '../core/config.ts'
import { DistanceTracks, sightingDistance } from './rssi.ts'

/**
 * Which zone each device is in, from BLE / Wi-Fi sightings. Pure: time arrives with each sighting
 * (`s.ts`) and with `tick(now)`; nothing here reads a clock.
 *
 * Per identity it keeps up to SLOTS_PER_IDENTITY sensor slots (filtered distance, last heard). The
 * zone is that of the nearest sensor heard within staleMs, with hysteresis: a candidate zone must
 * beat the current one by switchMarginM (+ floorPenaltyM across floors) on every sighting for
 * switchHoldMs before the device moves.
 *
 * Storage is a struct of typed arrays indexed by identity number (and identity·SLOTS + j for slots),
 * with a doubly linked list in arrival order for O(1) touch, least-recently-seen eviction and a tick
 * that only walks the identities that are due. Arrival order is last-seen order up to sensor clock
 * skew (bounded upstream by ingest.maxSkewMs); a late batch delays a stale/exit by at most that skew.
 */

/** Sensors remembered per identity: the nearest few decide the zone; the farthest slot is recycled. */
export const SLOTS_PER_IDENTITY = 6
/**
 * When only one zone hears a device there is no rival to compare with; the rival is assumed at this
 * distance, so 1 m from the only sensor gives 0.91 and 10 m gives 0.5 (before the sample factor).
 */
export const LONE_RIVAL_M = 10

const FREE = 0
const PRESENT = 1
const STALE = 2
const F_RANDOM = 1
const F_WIFI = 2

export type PresenceState = 'present' | 'stale'

export interface PresenceEngineConfig {
  presence: EdgeConfig['presence']
  zones: ZoneConfig[]
  sensors: SensorConfig[]
}

export interface ZoneOccupancy {
  zone: string
  /** Devices placed in the zone and not exited: present + stale (see `snapshot`). */
  occupancy: number
  /** Heard within staleMs. */
  present: number
  /** Not heard for staleMs but not yet awayMs: still counted (phones go quiet in pockets). */
  stale: number
  /** Of `occupancy`, random-address devices (counted, never listed). */
  random: number
  /**
   * Of `occupancy`, devices by the source that placed them. One phone can be two devices (its BLE
   * advertisements and its Wi-Fi probes use unrelated random addresses), so ops compare per source.
   */
  ble: number
  wifi: number
}

export interface PresenceSnapshot {
  ts: number
  /** Devices in the store (sum of zone occupancy). */
  occupancy: number
  present: number
  stale: number
  random: number
  /** Every configured zone, in config order, zeros included. */
  zones: ZoneOccupancy[]
}

export interface PresenceEntry {
  id: string
  zone: string
  state: PresenceState
  lastSeen: number
  /** Filtered distance to the nearest sensor of the zone, metres. */
  distance: number
  confidence: number
  source: SightingSource
}

export interface ListOptions {
  /** Random-address identities are never listed individually; only `false` is accepted. */
  includeRandom?: false
  /** Only this zone. */
  zone?: string
  /** At most this many entries, most recently seen first. */
  limit?: number
}

function grown<T extends Float32Array | Float64Array | Int16Array | Int32Array | Uint8Array>(a: T, length: number, fill?: number): T {
  const b = new (a.constructor as new (n: number) => T)(length)
  b.set(a)
  if (fill !== undefined) b.fill(fill, a.length)
  return b
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000

export class PresenceEngine {
  /** Sightings ignored because their sensor is not configured. */
  unknownSensorSightings = 0

  private readonly p: EdgeConfig['presence']
  private readonly zoneIds: string[]
  private readonly zoneIndex = new Map<string, number>()
  private readonly zoneFloor: Int32Array
  private readonly sensorIndex = new Map<string, number>()
  private readonly sensors: SensorConfig[] = []
  private readonly sensorZone: Int32Array

  private readonly ids = new Map<string, number>()
  private idOf: Array<string | undefined> = []
  private cap = 0
  private count = 0
  private head = -1
  private tail = -1
  private freeHead = -1

  private lastSeen = new Float64Array(0)
  private visitStart = new Float64Array(0)
  private zoneSince = new Float64Array(0)
  private pendSince = new Float64Array(0)
  private zone = new Int16Array(0)
  private pend = new Int16Array(0)
  private state = new Uint8Array(0)
  private flags = new Uint8Array(0)
  private conf = new Float32Array(0)
  private dist = new Float32Array(0)
  private prev = new Int32Array(0)
  private next = new Int32Array(0)

  private slotSensor = new Int16Array(0)
  private slotSeen = new Float64Array(0)
  private readonly tracks: DistanceTracks

  constructor(cfg: PresenceEngineConfig) {
    this.p = cfg.presence
    this.zoneIds = cfg.zones.map((z) => z.id)
    this.zoneFloor = Int32Array.from(cfg.zones, (z) => z.floor ?? 0)
    cfg.zones.forEach((z, i) => this.zoneIndex.set(z.id, i))
    const zones: number[] = []
    for (const s of cfg.sensors) {
      const z = this.zoneIndex.get(s.zone)
      if (z === undefined || this.sensorIndex.has(s.id)) continue // resolveConfig rejects both
      this.sensorIndex.set(s.id, this.sensors.length)
      this.sensors.push(s)
      zones.push(z)
    }
    if (this.sensors.length > 0x7fff) throw new RangeError('at most 32767 sensors per store')
    this.sensorZone = Int32Array.from(zones)
    this.tracks = new DistanceTracks(this.p, 0)
    this.grow(1024)
  }

  /** Tracked identities. */
  get size(): number {
    return this.count
  }

  /** Ingest one sighting; returns the events it caused, or undefined (the common case). */
  ingest(s: Sighting): PresenceEvent[] | undefined {
    const si = this.sensorIndex.get(s.sensorId)
    if (si === undefined) {
      this.unknownSensorSightings++
      return undefined
    }
    const t = s.ts
    const p = this.p
    let events: PresenceEvent[] | undefined
    let idx = this.ids.get(s.id)
    if (idx !== undefined && t - this.lastSeen[idx]! >= p.awayMs) {
      // Gone for awayMs and tick() has not noticed yet: close that visit before starting a new one.
      events = [this.exitEvent(idx, t)]
      this.release(idx)
      idx = undefined
    }
    if (idx === undefined) {
      if (this.count >= p.maxIdentities) {
        const ev = this.evictOldest(t)
        if (ev) (events ??= []).push(ev)
      }
      idx = this.allocate(s.id, t)
    } else {
      this.touch(idx)
      if (t > this.lastSeen[idx]!) this.lastSeen[idx] = t
    }
    this.flags[idx] = (s.randomAddress ? F_RANDOM : 0) | (s.source === 'wifi' ? F_WIFI : 0)

    const slot = this.slotFor(idx, si, t)
    if (t > this.slotSeen[slot]!) this.slotSeen[slot] = t
    this.tracks.update(slot, sightingDistance(s, this.sensors[si]!, p.rssiAt1m), t)

    // Nearest zone and nearest rival zone among sensors heard within staleMs.
    const cur = this.zone[idx]!
    let bestD = Infinity
    let bestZone = -1
    let bestSlot = -1
    let rivalD = Infinity
    let curD = Infinity
    let curSlot = -1
    const base = idx * SLOTS_PER_IDENTITY
    for (let k = base; k < base + SLOTS_PER_IDENTITY; k++) {
      const sid = this.slotSensor[k]!
      if (sid < 0 || t - this.slotSeen[k]! >= p.staleMs) continue
      const d = this.tracks.value(k)
      if (d !== d) continue // NaN: no accepted sample yet
      const z = this.sensorZone[sid]!
      if (d < bestD) {
        if (z !== bestZone) rivalD = bestD
        bestD = d
        bestZone = z
        bestSlot = k
      } else if (z !== bestZone && d < rivalD) rivalD = d
      if (z === cur && d < curD) {
        curD = d
        curSlot = k
      }
    }
    if (bestZone < 0) return events // only possible with a slot whose every sample was rejected

    if (cur < 0) {
      this.zone[idx] = bestZone
      this.zoneSince[idx] = t
      this.visitStart[idx] = t
      this.state[idx] = PRESENT
      this.pend[idx] = -1
      this.score(idx, bestD, rivalD, bestSlot)
      ;(events ??= []).push(this.event('enter', idx, bestZone, t))
      return events
    }
    this.state[idx] = PRESENT // back from stale silently: the zone was kept
    if (bestZone === cur) {
      this.pend[idx] = -1
      this.score(idx, bestD, rivalD, bestSlot)
      return events
    }
    const margin = p.switchMarginM + (this.zoneFloor[bestZone] !== this.zoneFloor[cur] ? p.floorPenaltyM : 0)
    if (curD - bestD >= margin) {
      if (this.pend[idx] !== bestZone) {
        this.pend[idx] = bestZone
        this.pendSince[idx] = t
      }
      if (t - this.pendSince[idx]! >= p.switchHoldMs) {
        const ev = this.event('move', idx, bestZone, t)
        ev.fromZone = this.zoneIds[cur]!
        ev.dwellS = round3(Math.max(0, t - this.zoneSince[idx]!) / 1000)
        this.zone[idx] = bestZone
        this.zoneSince[idx] = t
        this.pend[idx] = -1
        this.score(idx, bestD, rivalD, bestSlot)
        ev.confidence = round3(this.conf[idx]!)
        ;(events ??= []).push(ev)
        return events
      }
    } else this.pend[idx] = -1
    this.score(idx, curD, bestD, curSlot)
    return events
  }

  /**
   * A rotated random address continues a tracked device (counting only, see WifiVisitClassifier):
   * its state moves to the new id, so the rotation is neither an exit nor an enter. Only random
   * identities can be renamed, never onto one already tracked.
   */
  rename(oldId: string, newId: string): boolean {
    const i = this.ids.get(oldId)
    if (i === undefined || this.ids.has(newId) || !(this.flags[i]! & F_RANDOM)) return false
    this.ids.delete(oldId)
    this.ids.set(newId, i)
    this.idOf[i] = newId
    return true
  }

  /** Time-driven transitions: stale after staleMs, exit after awayMs, then the maxIdentities cap. */
  tick(now: number): PresenceEvent[] {
    const p = this.p
    const events: PresenceEvent[] = []
    let i = this.head
    while (i >= 0) {
      const nxt = this.next[i]!
      const age = now - this.lastSeen[i]!
      if (age < p.staleMs) break // the rest were seen later
      if (age >= p.awayMs) {
        if (this.zone[i]! >= 0) events.push(this.exitEvent(i, now))
        this.release(i)
      } else if (this.state[i] === PRESENT) {
        this.state[i] = STALE
        events.push(this.event('stale', i, this.zone[i]!, now))
      }
      i = nxt
    }
    while (this.count > p.maxIdentities) {
      const ev = this.evictOldest(now)
      if (ev) events.push(ev)
    }
    return events
  }

  /**
   * Occupancy per zone at `now`. A device counts from its first placement until its exit, stale
   * included: a phone that stops advertising for staleMs is usually still there (screen off, in a
   * bag); it stops counting at awayMs. Judged against `now`, so it is right even between ticks.
   * O(tracked identities).
   */
  snapshot(now: number): PresenceSnapshot {
    const p = this.p
    const nz = this.zoneIds.length
    const present = new Int32Array(nz)
    const stale = new Int32Array(nz)
    const random = new Int32Array(nz)
    const wifi = new Int32Array(nz)
    for (let i = this.head; i >= 0; i = this.next[i]!) {
      const z = this.zone[i]!
      if (z < 0) continue
      const age = now - this.lastSeen[i]!
      if (age >= p.awayMs) continue
      if (age >= p.staleMs) stale[z]!++
      else present[z]!++
      if (this.flags[i]! & F_RANDOM) random[z]!++
      if (this.flags[i]! & F_WIFI) wifi[z]!++
    }
    const snap: PresenceSnapshot = { ts: now, occupancy: 0, present: 0, stale: 0, random: 0, zones: [] }
    for (let z = 0; z < nz; z++) {
      const occupancy = present[z]! + stale[z]!
      snap.zones.push({ zone: this.zoneIds[z]!, occupancy, present: present[z]!, stale: stale[z]!, random: random[z]!, ble: occupancy - wifi[z]!, wifi: wifi[z]! })
      snap.occupancy += occupancy
      snap.present += present[z]!
      snap.stale += stale[z]!
      snap.random += random[z]!
    }
    return snap
  }

  /** Identities in the store at `now`, most recently seen first. Random-address ones are never listed. */
  list(now: number, opts: ListOptions = {}): PresenceEntry[] {
    const out: PresenceEntry[] = []
    const limit = opts.limit ?? Infinity
    const onlyZone = opts.zone === undefined ? -1 : (this.zoneIndex.get(opts.zone) ?? -2)
    if (onlyZone === -2) return out
    for (let i = this.tail; i >= 0 && out.length < limit; i = this.prev[i]!) {
      if (onlyZone >= 0 && this.zone[i] !== onlyZone) continue
      const e = this.entry(i, now)
      if (e) out.push(e)
    }
    return out
  }

  /** One identity at `now`, or undefined when unknown, exited or random-address. */
  lookup(id: string, now: number): PresenceEntry | undefined {
    const i = this.ids.get(id)
    return i === undefined ? undefined : this.entry(i, now)
  }

  private entry(i: number, now: number): PresenceEntry | undefined {
    const z = this.zone[i]!
    const f = this.flags[i]!
    const age = now - this.lastSeen[i]!
    if (z < 0 || f & F_RANDOM || age >= this.p.awayMs) return undefined
    return {
      id: this.idOf[i]!,
      zone: this.zoneIds[z]!,
      state: age >= this.p.staleMs ? 'stale' : 'present',
      lastSeen: this.lastSeen[i]!,
      distance: round3(this.dist[i]!),
      confidence: round3(this.conf[i]!),
      source: f & F_WIFI ? 'wifi' : 'ble',
    }
  }

  /**
   * Confidence of the zone choice: an inverse-distance share against the nearest rival zone,
   * rival / (rival + chosen) ∈ [0.5, 1] when the chosen zone is the nearest (0.5 = a tie), times a
   * sample factor n / (n + 1) for the n accepted samples behind the chosen sensor's estimate.
   */
  private score(i: number, chosenD: number, rivalD: number, slot: number): void {
    if (slot < 0 || chosenD === Infinity) {
      this.conf[i] = 0 // the current zone is no longer heard (a move is pending)
      return
    }
    const rival = rivalD === Infinity ? LONE_RIVAL_M : rivalD
    const n = this.tracks.samples(slot)
    this.conf[i] = (rival / (rival + chosenD)) * (n / (n + 1))
    this.dist[i] = chosenD
  }

  private event(type: PresenceEvent['type'], i: number, zone: number, ts: number): PresenceEvent {
    return {
      v: 1,
      type,
      id: this.idOf[i]!,
      source: this.flags[i]! & F_WIFI ? 'wifi' : 'ble',
      zone: this.zoneIds[zone]!,
      ts: Math.max(0, Math.round(ts)),
      confidence: round3(this.conf[i]!),
      randomAddress: (this.flags[i]! & F_RANDOM) !== 0,
    }
  }

  /** Exit of the whole visit; dwellS runs from first placement to the last sighting. */
  private exitEvent(i: number, ts: number): PresenceEvent {
    const ev = this.event('exit', i, this.zone[i]!, ts)
    ev.dwellS = round3(Math.max(0, this.lastSeen[i]! - this.visitStart[i]!) / 1000)
    return ev
  }

  private evictOldest(now: number): PresenceEvent | undefined {
    const i = this.head
    if (i < 0) return undefined
    const ev = this.zone[i]! >= 0 ? this.exitEvent(i, now) : undefined
    this.release(i)
    return ev
  }

  /** The slot of sensor `si` for identity `i`: its own, else a free one, else the oldest stale, else the farthest. */
  private slotFor(i: number, si: number, t: number): number {
    const base = i * SLOTS_PER_IDENTITY
    let free = -1
    let stale = -1
    let staleSeen = Infinity
    let far = base
    let farD = -1
    for (let k = base; k < base + SLOTS_PER_IDENTITY; k++) {
      const sid = this.slotSensor[k]!
      if (sid === si) return k
      if (sid < 0) {
        if (free < 0) free = k
      } else if (t - this.slotSeen[k]! >= this.p.staleMs) {
        if (this.slotSeen[k]! < staleSeen) {
          staleSeen = this.slotSeen[k]!
          stale = k
        }
      } else {
        const d = this.tracks.value(k)
        if (d > farD || d !== d) {
          farD = d !== d ? Infinity : d
          far = k
        }
      }
    }
    const k = free >= 0 ? free : stale >= 0 ? stale : far
    this.slotSensor[k] = si
    this.slotSeen[k] = t
    this.tracks.reset(k)
    return k
  }

  private allocate(id: string, t: number): number {
    if (this.freeHead < 0) this.grow(this.cap * 2)
    const i = this.freeHead
    this.freeHead = this.next[i]!
    this.ids.set(id, i)
    this.idOf[i] = id
    this.lastSeen[i] = t
    this.zone[i] = -1
    this.pend[i] = -1
    this.state[i] = PRESENT
    this.conf[i] = 0
    this.dist[i] = 0
    this.slotSensor.fill(-1, i * SLOTS_PER_IDENTITY, (i + 1) * SLOTS_PER_IDENTITY)
    this.count++
    this.prev[i] = this.tail
    this.next[i] = -1
    if (this.tail >= 0) this.next[this.tail] = i
    else this.head = i
    this.tail = i
    return i
  }

  private unlink(i: number): void {
    const a = this.prev[i]!
    const b = this.next[i]!
    if (a >= 0) this.next[a] = b
    else this.head = b
    if (b >= 0) this.prev[b] = a
    else this.tail = a
  }

  private touch(i: number): void {
    if (i === this.tail) return
    this.unlink(i)
    this.prev[i] = this.tail
    this.next[i] = -1
    this.next[this.tail] = i
    this.tail = i
  }

  private release(i: number): void {
    this.unlink(i)
    this.ids.delete(this.idOf[i]!)
    this.idOf[i] = undefined
    this.state[i] = FREE
    this.zone[i] = -1
    this.count--
    this.next[i] = this.freeHead
    this.freeHead = i
  }

  private grow(capacity: number): void {
    const old = this.cap
    this.lastSeen = grown(this.lastSeen, capacity)
    this.visitStart = grown(this.visitStart, capacity)
    this.zoneSince = grown(this.zoneSince, capacity)
    this.pendSince = grown(this.pendSince, capacity)
    this.zone = grown(this.zone, capacity, -1)
    this.pend = grown(this.pend, capacity, -1)
    this.state = grown(this.state, capacity)
    this.flags = grown(this.flags, capacity)
    this.conf = grown(this.conf, capacity)
    this.dist = grown(this.dist, capacity)
    this.prev = grown(this.prev, capacity, -1)
    this.next = grown(this.next, capacity, -1)
    this.slotSensor = grown(this.slotSensor, capacity * SLOTS_PER_IDENTITY, -1)
    this.slotSeen = grown(this.slotSeen, capacity * SLOTS_PER_IDENTITY)
    this.tracks.grow(capacity * SLOTS_PER_IDENTITY)
    this.idOf.length = capacity
    // New identity numbers go on the free list, lowest first.
    for (let i = capacity - 1; i >= old; i--) {
      this.next[i] = this.freeHead
      this.freeHead = i
    }
    this.cap = capacity
  }
}
