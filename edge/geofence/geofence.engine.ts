import {
  CARPARK_ZONE,
  distanceM,
  geofenceEventId,
  shapeSignedDistanceM,
  type Geofence,
  type GeofenceEvent,
  type GeofenceSource,
  type LocationFix,
  type LocationReport,
  type ParkingEvent,
  type PresenceEvent,
} from '../contracts/index.ts'
import { MemberIndex, memberSubject } from './member-index.ts'

/**
 * Geofences as stays of subjects in zones. Three feeds, one state machine:
 * - indoor zones from presence events (BLE / Wi-Fi); a member's phone is recognised by the iBeacon
 *   identity its app advertises and becomes `member:<ref>`; everyone else keeps the privacy-safe id;
 * - the car park (`carpark`) from gate events, the plate already resolved to a member or hashed;
 * - trade-area geofences (circles, polygons) from member-app GPS fixes, accuracy-aware.
 *
 * A stay is `pending` until it lasted `minDwellS` of its zone kind (a phone walking past the
 * cosmetics counter never enters it), then `enter` is emitted; `dwell` fires once per configured
 * threshold; an exit that is not explicit (presence lost the phone, it moved zone) is held for
 * `flapWindowS` and a return within the window cancels it (no exit+enter pair), otherwise it is
 * emitted with the time the subject really left. Explicit exits (a gate exit, a GPS fix clearly
 * outside) are definite and emitted at once: the car-park gate is physical and GPS already has its
 * buffer. Times in events are event times (sensor / gate / fix time); `now` is the edge clock.
 *
 * Pure: no clock, MQTT or files; `now` is an argument, tick(now) drives the timers.
 */

export type ZoneKind = GeofenceEvent['zoneKind']
export type FixRejectReason = 'accuracy' | 'future' | 'too-old' | 'out-of-order' | 'speed'

export interface PerKind {
  indoor: number
  carpark: number
  tradeArea: number
}

export interface GeofenceEngineOptions {
  storeId: string
  /** A stay shorter than this (seconds) never enters. */
  minDwellS: PerKind
  /** A non-explicit exit is held this long (seconds); coming back within it cancels the exit. */
  flapWindowS: number
  /** A stay with no news for this long (seconds) ends with a non-explicit exit. */
  staleAfterS: PerKind
  /** A stay opened by face recognition (no exit signal exists) ends this long (seconds) after the member was last recognised. */
  faceStaleS: number
  /** A store visit ends after this long (seconds) with the subject in no indoor zone and not in the car park. */
  visitGapS: number
  /** Fixes less accurate than this (metres) are rejected. */
  maxAccuracyM: number
  /** Fixes implying a faster move from the last accepted fix (accuracy allowed for) are rejected, m/s. */
  maxSpeedMps: number
  /** This many speed rejections in a row re-anchor on the latest fix (the anchor itself was wrong). */
  speedResetAfter: number
  /** Fixes older than this (seconds, against now) are rejected. */
  maxFixAgeS: number
  /** Fixes further than this in the future (seconds) are rejected. */
  maxFixFutureS: number
  /** Track subjects that are not members (hashed phones, unregistered cars) too. */
  includeNonMembers: boolean
  /** Subjects tracked at most; the least recently heard of are forgotten first (without events). */
  maxSubjects: number
}

export const DEFAULT_GEOFENCE_OPTIONS: Omit<GeofenceEngineOptions, 'storeId'> = {
  minDwellS: { indoor: 10, carpark: 0, tradeArea: 0 },
  flapWindowS: 60,
  staleAfterS: { indoor: 12 * 3600, carpark: 24 * 3600, tradeArea: 2 * 3600 },
  faceStaleS: 15 * 60,
  visitGapS: 30 * 60,
  maxAccuracyM: 500,
  maxSpeedMps: 70,
  speedResetAfter: 3,
  maxFixAgeS: 3600,
  maxFixFutureS: 60,
  includeNonMembers: false,
  maxSubjects: 200_000,
}

/** The zones a subject reached during one store visit (arrival in the store or car park to leaving both). */
export interface VisitView {
  startedAt: number
  /** Set once the visit has ended. */
  endedAt?: number
  zones: ReadonlySet<string>
}

export interface LocationResult {
  events: GeofenceEvent[]
  accepted: number
  rejected: Array<{ index: number; reason: FixRejectReason }>
}

interface Stay {
  zone: string
  kind: ZoneKind
  source: GeofenceSource
  confidence: number
  enteredAt: number
  confirmed: boolean
  /** What keeps the subject here: presence ids (a member may carry two devices), 'gate' or 'gps'. */
  holders: Set<string>
  /** When a held (non-explicit) exit happened; NaN while inside. */
  exitAt: number
  lastNewsAt: number
  /** Highest dwell threshold (seconds) already fired. */
  dwellFired: number
}

interface Visit {
  startedAt: number
  endedAt?: number
  lastInStoreAt: number
  zones: Set<string>
}

interface Subject {
  id: string
  memberRef?: string
  stays: Map<string, Stay>
  visit?: Visit
  /** The visit that ended last, kept so an event emitted as it closed still sees its zones. */
  lastVisit?: Visit
  fix?: LocationFix
  speedRejects: number
  touchedAt: number
}

const GATE = 'gate'
const GPS = 'gps'
const round3 = (x: number) => Math.round(x * 1000) / 1000
const inStore = (k: ZoneKind) => k !== 'trade-area'

export interface GeofenceStats {
  fixesRejected: Record<FixRejectReason, number>
  fixesAccepted: number
  /** Exits cancelled by a return within the flap window. */
  flapsSuppressed: number
  /** Stays that ended before the minimum dwell (never entered). */
  shortStays: number
}

export class GeofenceEngine {
  private readonly o: GeofenceEngineOptions
  private members = new MemberIndex()
  private geofences: Geofence[] = []
  private readonly geofenceIds = new Set<string>()
  private dwellThresholds = new Map<string, number[]>()
  private readonly subjects = new Map<string, Subject>()
  /** presence id → where it holds a stay (a device is in one indoor zone at a time). */
  private readonly holders = new Map<string, { subject: string; zone: string }>()
  readonly stats: GeofenceStats = {
    fixesRejected: { accuracy: 0, future: 0, 'too-old': 0, 'out-of-order': 0, speed: 0 },
    fixesAccepted: 0,
    flapsSuppressed: 0,
    shortStays: 0,
  }

  constructor(opts: Partial<GeofenceEngineOptions> & { storeId: string }) {
    this.o = { ...DEFAULT_GEOFENCE_OPTIONS, ...opts }
  }

  get size(): number {
    return this.subjects.size
  }

  setMembers(index: MemberIndex): void {
    this.members = index
  }

  /** Trade-area geofences (from config/triggers). Stays in removed geofences are forgotten without an exit. */
  setGeofences(geofences: readonly Geofence[]): void {
    this.geofences = [...geofences]
    this.geofenceIds.clear()
    for (const g of geofences) this.geofenceIds.add(g.id)
    for (const s of this.subjects.values()) {
      for (const [zone, stay] of s.stays) if (stay.kind === 'trade-area' && !this.geofenceIds.has(zone)) s.stays.delete(zone)
    }
  }

  /** The dwell thresholds campaigns need, per zone: a `dwell` event fires once when a stay reaches each. */
  setDwellThresholds(list: ReadonlyArray<{ zone: string; dwellS: number }>): void {
    const m = new Map<string, number[]>()
    for (const { zone, dwellS } of list) {
      if (!(dwellS > 0)) continue
      const a = m.get(zone) ?? []
      if (!a.includes(dwellS)) a.push(dwellS)
      m.set(zone, a)
    }
    for (const a of m.values()) a.sort((x, y) => x - y)
    this.dwellThresholds = m
  }

  // ── inputs ──────────────────────────────────────────────────────────────────────────────────

  /** A presence event (BLE / Wi-Fi). `stale` changes nothing: presence keeps a stale device in its zone. */
  onPresence(e: PresenceEvent, now: number): GeofenceEvent[] {
    if (e.randomAddress) return [] // counted in aggregate only, never followed
    const member = this.members.byBeacon(e.id)
    if (!member && !this.o.includeNonMembers) return []
    const s = this.subject(member ? memberSubject(member.ref) : e.id, member?.ref, now)
    const out: GeofenceEvent[] = []
    const conf = e.confidence
    switch (e.type) {
      case 'enter': {
        const held = this.holders.get(e.id)
        // Presence rebuilt after a layout change places devices afresh: an enter elsewhere is a move.
        if (held && held.zone !== e.zone) this.close(this.subjects.get(held.subject), held.zone, e.id, e.ts, false, out)
        this.open(s, e.zone, 'indoor', e.source, e.ts, e.id, conf, out)
        break
      }
      case 'move':
        if (e.fromZone !== undefined) this.close(s, e.fromZone, e.id, e.ts, false, out)
        this.open(s, e.zone, 'indoor', e.source, e.ts, e.id, conf, out)
        break
      case 'exit':
        this.close(s, e.zone, e.id, e.ts, false, out)
        break
      case 'stale':
        break
    }
    this.advance(s, now, out)
    return out
  }

  /** A car-park gate event: entry opens the `carpark` stay, exit ends it explicitly with the stay as dwell. */
  onParking(e: ParkingEvent, now: number, plateValid = true): GeofenceEvent[] {
    if (!e.memberRef && !this.o.includeNonMembers) return []
    const s = this.subject(e.memberRef ? memberSubject(e.memberRef) : e.subject, e.memberRef, now)
    const out: GeofenceEvent[] = []
    const conf = plateValid ? 1 : 0.5
    if (e.type === 'entry') {
      this.open(s, CARPARK_ZONE, 'carpark', 'plate', e.ts, GATE, conf, out)
    } else if (s.stays.has(CARPARK_ZONE)) {
      this.close(s, CARPARK_ZONE, GATE, e.ts, true, out)
    } else {
      // Exit without an entry we saw (the edge restarted, the entry read failed): still a departure.
      const enteredAt = e.stayS !== undefined ? e.ts - Math.round(e.stayS * 1000) : e.ts
      const stay = this.newStay(CARPARK_ZONE, 'carpark', 'plate', enteredAt, GATE, conf)
      stay.confirmed = true
      out.push(this.event(s, stay, 'exit', e.ts, { dwellS: (e.ts - enteredAt) / 1000, explicit: true }))
      this.touchVisit(s, stay, e.ts)
    }
    this.advance(s, now, out)
    return out
  }

  /**
   * A member recognised by face at a camera (votes across frames already taken): an explicit
   * sighting in `zone`, so the arrival fires at once rather than after the indoor minimum dwell.
   * Each further recognition keeps the stay alive; it ends as stale like a radio stay.
   */
  onFace(e: { memberRef: string; zone: string; camera: string; ts: number; confidence: number }, now: number): GeofenceEvent[] {
    const s = this.subject(memberSubject(e.memberRef), e.memberRef, now)
    const out: GeofenceEvent[] = []
    const holder = `face:${e.camera}`
    this.open(s, e.zone, 'indoor', 'face', e.ts, holder, e.confidence, out)
    const stay = s.stays.get(e.zone)
    if (stay && !stay.confirmed) this.confirm(s, stay, out, e.ts)
    this.advance(s, now, out)
    return out
  }

  /**
   * A member-app location report. Each fix is checked (accuracy, time, order, speed from the last
   * accepted fix), then placed against every trade-area geofence with its accuracy circle:
   * - enter when the whole accuracy circle is inside: signed distance + accuracy < 0
   *   (for a circle: distance + accuracy < radius). A fix merely inside with a wide circle is
   *   ambiguous, not an enter: trade areas are 1–3 km and phone GPS is 5–50 m, so a real arrival
   *   enters within metres, while a cell-tower fix (hundreds of metres) cannot fake one;
   * - exit (explicit) when the whole circle is outside by the buffer: signed distance − accuracy >
   *   bufferM (for a circle: distance − accuracy > radius + buffer);
   * - anything between changes nothing (hysteresis).
   */
  onLocation(r: LocationReport, now: number): LocationResult {
    const s = this.subject(memberSubject(r.memberRef), r.memberRef, now)
    const res: LocationResult = { events: [], accepted: 0, rejected: [] }
    r.fixes.forEach((fix, index) => {
      const reason = this.checkFix(s, fix, now)
      if (reason === 'speed' && ++s.speedRejects < this.o.speedResetAfter) {
        res.rejected.push({ index, reason })
        this.stats.fixesRejected.speed++
        return
      }
      if (reason && reason !== 'speed') {
        res.rejected.push({ index, reason })
        this.stats.fixesRejected[reason]++
        return
      }
      // Accepted (or enough consistent "impossible" fixes that the old anchor must have been the outlier).
      s.fix = fix
      s.speedRejects = 0
      res.accepted++
      this.stats.fixesAccepted++
      for (const g of this.geofences) {
        const sd = shapeSignedDistanceM(g.shape, fix)
        const conf = round3(Math.abs(sd) / (Math.abs(sd) + fix.accuracyM))
        if (sd + fix.accuracyM < 0) this.open(s, g.id, 'trade-area', 'gps', fix.ts, GPS, conf, res.events)
        else if (sd - fix.accuracyM > g.bufferM && s.stays.has(g.id)) {
          s.stays.get(g.id)!.confidence = conf
          this.close(s, g.id, GPS, fix.ts, true, res.events)
        }
      }
    })
    this.advance(s, now, res.events)
    return res
  }

  private checkFix(s: Subject, fix: LocationFix, now: number): FixRejectReason | undefined {
    if (!(fix.accuracyM > 0) || fix.accuracyM > this.o.maxAccuracyM) return 'accuracy'
    if (fix.ts > now + this.o.maxFixFutureS * 1000) return 'future'
    if (fix.ts < now - this.o.maxFixAgeS * 1000) return 'too-old'
    const prev = s.fix
    if (!prev) return undefined
    if (fix.ts <= prev.ts) return 'out-of-order'
    // Both fixes may be off by their accuracy: only the distance beyond both circles counts.
    const moved = Math.max(0, distanceM(prev, fix) - prev.accuracyM - fix.accuracyM)
    if (moved / ((fix.ts - prev.ts) / 1000) > this.o.maxSpeedMps) return 'speed'
    return undefined
  }

  /** Timers: pending enters confirmed, dwell thresholds, held exits released, stale stays ended, visits closed. */
  tick(now: number): GeofenceEvent[] {
    const out: GeofenceEvent[] = []
    const retainMs = Math.max(this.o.maxFixAgeS, this.o.visitGapS) * 1000
    for (const s of this.subjects.values()) {
      if (s.stays.size > 0 || s.visit) this.advance(s, now, out)
      if (s.stays.size === 0 && !s.visit && now - s.touchedAt >= retainMs) this.subjects.delete(s.id)
    }
    return out
  }

  // ── views ───────────────────────────────────────────────────────────────────────────────────

  /** The store visit an event at `ts` belongs to: the open one, or the one that just ended. */
  visitOf(subject: string, ts: number): VisitView | undefined {
    const s = this.subjects.get(subject)
    if (!s) return undefined
    if (s.visit && ts >= s.visit.startedAt) return s.visit
    const v = s.lastVisit
    if (v && ts >= v.startedAt && ts <= (v.endedAt ?? Infinity)) return v
    // A trade-area event just before arriving belongs to no visit; so does one long after.
    return undefined
  }

  /** Zones a subject is in (confirmed, not leaving), for tests and the API. */
  zonesOf(subject: string): string[] {
    const s = this.subjects.get(subject)
    if (!s) return []
    return [...s.stays.values()].filter((x) => x.confirmed && Number.isNaN(x.exitAt)).map((x) => x.zone)
  }

  // ── the state machine ───────────────────────────────────────────────────────────────────────

  private subject(id: string, memberRef: string | undefined, now: number): Subject {
    let s = this.subjects.get(id)
    if (s) {
      this.subjects.delete(id) // re-inserted last: the map's order is least recently heard first
    } else {
      s = { id, memberRef, stays: new Map(), speedRejects: 0, touchedAt: now }
      while (this.subjects.size >= this.o.maxSubjects) this.forget(this.subjects.keys().next().value!)
    }
    s.touchedAt = now
    if (memberRef) s.memberRef = memberRef
    this.subjects.set(id, s)
    return s
  }

  private forget(id: string): void {
    const s = this.subjects.get(id)
    if (!s) return
    for (const stay of s.stays.values()) this.releaseHolders(s, stay)
    this.subjects.delete(id)
  }

  private newStay(zone: string, kind: ZoneKind, source: GeofenceSource, ts: number, holder: string, confidence: number): Stay {
    return { zone, kind, source, confidence, enteredAt: ts, confirmed: false, holders: new Set([holder]), exitAt: NaN, lastNewsAt: ts, dwellFired: 0 }
  }

  private minDwellMs(kind: ZoneKind): number {
    return 1000 * (kind === 'indoor' ? this.o.minDwellS.indoor : kind === 'carpark' ? this.o.minDwellS.carpark : this.o.minDwellS.tradeArea)
  }

  private staleMs(kind: ZoneKind): number {
    return 1000 * (kind === 'indoor' ? this.o.staleAfterS.indoor : kind === 'carpark' ? this.o.staleAfterS.carpark : this.o.staleAfterS.tradeArea)
  }

  private open(s: Subject, zone: string, kind: ZoneKind, source: GeofenceSource, ts: number, holder: string, confidence: number, out: GeofenceEvent[]): void {
    if (kind === 'indoor') this.holders.set(holder, { subject: s.id, zone })
    const stay = s.stays.get(zone)
    if (stay) {
      stay.holders.add(holder)
      stay.confidence = confidence
      stay.lastNewsAt = Math.max(stay.lastNewsAt, ts)
      if (!Number.isNaN(stay.exitAt)) {
        stay.exitAt = NaN // back within the flap window: the stay simply goes on
        this.stats.flapsSuppressed++
      }
      return
    }
    const fresh = this.newStay(zone, kind, source, ts, holder, confidence)
    s.stays.set(zone, fresh)
    if (this.minDwellMs(kind) === 0) this.confirm(s, fresh, out)
  }

  private close(s: Subject | undefined, zone: string, holder: string, ts: number, explicit: boolean, out: GeofenceEvent[]): void {
    if (!s) return
    const h = this.holders.get(holder)
    if (h && h.subject === s.id && h.zone === zone) this.holders.delete(holder)
    const stay = s.stays.get(zone)
    if (!stay || !stay.holders.delete(holder) || stay.holders.size > 0) return
    if (!stay.confirmed) {
      s.stays.delete(zone) // too short to count: it never entered
      this.stats.shortStays++
      return
    }
    if (explicit || this.o.flapWindowS <= 0) {
      this.emitExit(s, stay, ts, explicit, (ts - stay.enteredAt) / 1000, out)
      return
    }
    if (Number.isNaN(stay.exitAt)) stay.exitAt = ts
  }

  private emitExit(s: Subject, stay: Stay, ts: number, explicit: boolean, dwellS: number, out: GeofenceEvent[]): void {
    s.stays.delete(stay.zone)
    this.releaseHolders(s, stay)
    out.push(this.event(s, stay, 'exit', ts, { dwellS: Math.max(0, dwellS), explicit }))
    this.touchVisit(s, stay, ts)
  }

  private releaseHolders(s: Subject, stay: Stay): void {
    for (const holder of stay.holders) {
      const h = this.holders.get(holder)
      if (h && h.subject === s.id && h.zone === stay.zone) this.holders.delete(holder)
    }
  }

  private confirm(s: Subject, stay: Stay, out: GeofenceEvent[], at?: number): void {
    stay.confirmed = true
    const ts = at ?? stay.enteredAt + this.minDwellMs(stay.kind)
    out.push(this.event(s, stay, 'enter', ts, {}))
    // The visit: opened by arriving in the store or the car park, it collects every zone reached.
    if (!s.visit && inStore(stay.kind)) {
      s.visit = { startedAt: stay.enteredAt, lastInStoreAt: ts, zones: new Set() }
      for (const other of s.stays.values()) if (other.confirmed) s.visit.zones.add(other.zone)
    }
    if (s.visit) {
      s.visit.zones.add(stay.zone)
      this.touchVisit(s, stay, ts)
    }
  }

  private touchVisit(s: Subject, stay: Stay, ts: number): void {
    if (s.visit && inStore(stay.kind)) s.visit.lastInStoreAt = Math.max(s.visit.lastInStoreAt, ts)
  }

  /** Everything time-driven for one subject. */
  private advance(s: Subject, now: number, out: GeofenceEvent[]): void {
    const flapMs = this.o.flapWindowS * 1000
    let inStoreStays = 0
    // Deleting the current entry while iterating a Map is safe; nothing is added here.
    for (const stay of s.stays.values()) {
      if (!stay.confirmed) {
        if (now - stay.enteredAt >= this.minDwellMs(stay.kind)) this.confirm(s, stay, out)
        else {
          if (inStore(stay.kind)) inStoreStays++
          continue
        }
      }
      if (!Number.isNaN(stay.exitAt)) {
        if (now - stay.exitAt >= flapMs) this.emitExit(s, stay, stay.exitAt, false, (stay.exitAt - stay.enteredAt) / 1000, out)
        else if (inStore(stay.kind)) inStoreStays++
        continue
      }
      const thresholds = this.dwellThresholds.get(stay.zone)
      if (thresholds) {
        for (const t of thresholds) {
          if (t <= stay.dwellFired) continue
          if (now - stay.enteredAt < t * 1000) break
          stay.dwellFired = t
          out.push(this.event(s, stay, 'dwell', stay.enteredAt + t * 1000, { dwellS: t }))
        }
      }
      if (now - stay.lastNewsAt >= (stay.source === 'face' && stay.holders.size === 1 && [...stay.holders][0]!.startsWith('face:') ? this.o.faceStaleS * 1000 : this.staleMs(stay.kind))) {
        // Nothing heard for too long: ended where we last knew of it.
        this.emitExit(s, stay, now, false, (stay.lastNewsAt - stay.enteredAt) / 1000, out)
        continue
      }
      if (inStore(stay.kind)) inStoreStays++
    }
    const v = s.visit
    if (v && inStoreStays === 0 && now - v.lastInStoreAt >= this.o.visitGapS * 1000) {
      v.endedAt = v.lastInStoreAt
      s.lastVisit = v
      s.visit = undefined
    }
  }

  private event(s: Subject, stay: Stay, type: GeofenceEvent['type'], ts: number, extra: { dwellS?: number; explicit?: boolean }): GeofenceEvent {
    const e: GeofenceEvent = {
      v: 1,
      id: geofenceEventId(this.o.storeId, s.id, stay.zone, type, stay.enteredAt, extra.dwellS),
      type,
      storeId: this.o.storeId,
      zone: stay.zone,
      zoneKind: stay.kind,
      source: stay.source,
      subject: s.id,
      confidence: round3(Math.min(1, Math.max(0, stay.confidence))),
      enteredAt: stay.enteredAt,
      ts: Math.round(ts),
    }
    if (s.memberRef) e.memberRef = s.memberRef
    if (extra.dwellS !== undefined) e.dwellS = round3(extra.dwellS)
    if (type === 'exit') e.explicit = extra.explicit ?? false
    return e
  }
}
