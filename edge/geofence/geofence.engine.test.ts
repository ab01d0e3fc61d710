import { describe, expect, it } from 'vitest'
import { distanceM, geofenceEventId, type Geofence, type GeofenceEvent, type LatLng, type ParkingEvent, type PresenceEvent } from '../contracts/index.ts'
import { GeofenceEngine, type GeofenceEngineOptions } from './geofence.engine.ts'
import { MemberIndex } from './member-index.ts'

const STORE = 'sh-01'
const T0 = Date.UTC(2026, 5, 1, 2, 0, 0) // 10:00 in Shanghai
const S = 1000
const MIN = 60 * S
const BEACON = (minor: number) => `ibeacon:5a4bcfce-174e-4bac-a814-092e77f6b7e5:1:${minor}`

const members = new MemberIndex({
  v: 1,
  version: 1,
  members: [
    { ref: 'm-7', tier: 2, tags: ['beauty'], beaconIds: [BEACON(7).toUpperCase()], plates: ['沪A12345'], visits: 0 },
    { ref: 'm-8', tier: 1, tags: [], beaconIds: [BEACON(8)], plates: [], visits: 3 },
  ],
})

function engine(opts: Partial<GeofenceEngineOptions> = {}) {
  const e = new GeofenceEngine({ storeId: STORE, ...opts })
  e.setMembers(members)
  return e
}

const presence = (type: PresenceEvent['type'], id: string, zone: string, ts: number, extra: Partial<PresenceEvent> = {}): PresenceEvent => ({
  v: 1,
  type,
  id,
  source: 'ble',
  zone,
  ts,
  confidence: 0.8,
  randomAddress: false,
  ...extra,
})

const gate = (type: 'entry' | 'exit', ts: number, memberRef?: string, stayS?: number): ParkingEvent => ({
  v: 1,
  id: `g-${type}-${ts}`,
  type,
  storeId: STORE,
  gate: 'north',
  ts,
  subject: memberRef ? `member:${memberRef}` : 'h:0123abcd',
  ...(memberRef ? { memberRef } : {}),
  ...(stayS !== undefined ? { stayS } : {}),
})

/** Run the engine's tick every second from `from` to `to` (inclusive), collecting events. */
function tickThrough(e: GeofenceEngine, from: number, to: number): GeofenceEvent[] {
  const out: GeofenceEvent[] = []
  for (let t = from; t <= to; t += S) out.push(...e.tick(t))
  return out
}

const brief = (evs: GeofenceEvent[]) => evs.map((e) => `${e.type}:${e.zone}${e.type === 'dwell' ? `@${e.dwellS}` : ''}`)

describe('indoor zones from presence', () => {
  it('maps a member phone (iBeacon, any case) to member:<ref>, keeps other ids, and never follows random addresses', () => {
    const e = engine({ minDwellS: { indoor: 0, carpark: 0, tradeArea: 0 }, includeNonMembers: true })
    const a = e.onPresence(presence('enter', BEACON(7), 'cosmetics', T0), T0)
    expect(a).toHaveLength(1)
    expect(a[0]).toMatchObject({ type: 'enter', subject: 'member:m-7', memberRef: 'm-7', zone: 'cosmetics', zoneKind: 'indoor', source: 'ble', confidence: 0.8, enteredAt: T0, ts: T0, storeId: STORE })
    expect(a[0]!.id).toBe(geofenceEventId(STORE, 'member:m-7', 'cosmetics', 'enter', T0))
    const b = e.onPresence(presence('enter', 'h:feedface', 'cosmetics', T0, { source: 'wifi' }), T0)
    expect(b[0]).toMatchObject({ subject: 'h:feedface', source: 'wifi' })
    expect(b[0]!.memberRef).toBeUndefined()
    expect(e.onPresence(presence('enter', 'h:random', 'cosmetics', T0, { randomAddress: true }), T0)).toEqual([])
    const membersOnly = engine({ minDwellS: { indoor: 0, carpark: 0, tradeArea: 0 } }) // the default: members only
    expect(membersOnly.onPresence(presence('enter', 'h:feedface', 'cosmetics', T0), T0)).toEqual([])
    expect(membersOnly.onPresence(presence('enter', BEACON(8), 'cosmetics', T0), T0)).toHaveLength(1)
  })

  it('confirms an enter only after the minimum dwell; a shorter stay never enters', () => {
    const e = engine({ minDwellS: { indoor: 10, carpark: 0, tradeArea: 0 } })
    expect(e.onPresence(presence('enter', BEACON(7), 'cosmetics', T0), T0)).toEqual([])
    expect(tickThrough(e, T0 + S, T0 + 9 * S)).toEqual([])
    const [enter] = e.tick(T0 + 10 * S)
    expect(enter).toMatchObject({ type: 'enter', enteredAt: T0, ts: T0 + 10 * S })
    // walking past a counter: 5 s, then gone
    expect(e.onPresence(presence('move', BEACON(7), 'fragrance', T0 + 20 * S, { fromZone: 'cosmetics' }), T0 + 20 * S)).toEqual([])
    expect(e.onPresence(presence('move', BEACON(7), 'shoes', T0 + 25 * S, { fromZone: 'fragrance' }), T0 + 25 * S)).toEqual([])
    expect(e.stats.shortStays).toBe(1)
    const later = tickThrough(e, T0 + 26 * S, T0 + 120 * S)
    expect(brief(later)).toEqual(['enter:shoes', 'exit:cosmetics'])
  })

  it('suppresses flapping: a return within the flap window cancels the exit; a real exit carries the time it happened', () => {
    const e = engine({ minDwellS: { indoor: 10, carpark: 0, tradeArea: 0 }, flapWindowS: 60 })
    const events: GeofenceEvent[] = []
    events.push(...e.onPresence(presence('enter', BEACON(7), 'cosmetics', T0), T0))
    events.push(...tickThrough(e, T0 + S, T0 + 30 * S))
    // the phone drops out and comes back three times within a minute each
    let t = T0 + 30 * S
    for (let i = 0; i < 3; i++) {
      events.push(...e.onPresence(presence('exit', BEACON(7), 'cosmetics', t), t))
      events.push(...tickThrough(e, t + S, t + 40 * S))
      t += 40 * S
      events.push(...e.onPresence(presence('enter', BEACON(7), 'cosmetics', t), t))
      t += 5 * S
    }
    expect(e.stats.flapsSuppressed).toBe(3)
    // A → B → A within the window: neither an exit of A nor an enter of B
    events.push(...e.onPresence(presence('move', BEACON(7), 'fragrance', t, { fromZone: 'cosmetics' }), t))
    events.push(...tickThrough(e, t + S, t + 8 * S))
    events.push(...e.onPresence(presence('move', BEACON(7), 'cosmetics', t + 8 * S, { fromZone: 'fragrance' }), t + 8 * S))
    expect(brief(events)).toEqual(['enter:cosmetics'])
    // the real exit: held for 60 s, then emitted with the time it happened
    const exitAt = t + 100 * S
    events.push(...tickThrough(e, t + 9 * S, exitAt))
    expect(e.onPresence(presence('exit', BEACON(7), 'cosmetics', exitAt), exitAt)).toEqual([])
    expect(tickThrough(e, exitAt + S, exitAt + 59 * S)).toEqual([])
    const [exit] = e.tick(exitAt + 60 * S)
    expect(exit).toMatchObject({ type: 'exit', zone: 'cosmetics', ts: exitAt, enteredAt: T0, dwellS: (exitAt - T0) / 1000, explicit: false })
    expect(e.zonesOf('member:m-7')).toEqual([])
  })

  it('fires each dwell threshold once per stay, continuing across a suppressed flap', () => {
    const e = engine({ minDwellS: { indoor: 10, carpark: 0, tradeArea: 0 } })
    e.setDwellThresholds([
      { zone: 'cosmetics', dwellS: 600 },
      { zone: 'cosmetics', dwellS: 300 },
      { zone: 'cosmetics', dwellS: 300 },
      { zone: 'shoes', dwellS: 60 },
    ])
    e.onPresence(presence('enter', BEACON(7), 'cosmetics', T0), T0)
    const a = tickThrough(e, T0 + S, T0 + 299 * S)
    expect(brief(a)).toEqual(['enter:cosmetics'])
    e.onPresence(presence('exit', BEACON(7), 'cosmetics', T0 + 200 * S), T0 + 200 * S)
    e.onPresence(presence('enter', BEACON(7), 'cosmetics', T0 + 230 * S), T0 + 230 * S) // back within the window
    const b = tickThrough(e, T0 + 300 * S, T0 + 900 * S)
    expect(brief(b)).toEqual(['dwell:cosmetics@300', 'dwell:cosmetics@600'])
    expect(b[0]).toMatchObject({ ts: T0 + 300 * S, enteredAt: T0, dwellS: 300 })
    expect(b[0]!.id).toBe(geofenceEventId(STORE, 'member:m-7', 'cosmetics', 'dwell', T0, 300))
    expect(b[0]!.id).not.toBe(b[1]!.id)
  })

  it('treats an enter elsewhere by the same device (presence rebuilt after a layout change) as a move', () => {
    const e = engine({ minDwellS: { indoor: 0, carpark: 0, tradeArea: 0 }, flapWindowS: 0 })
    e.onPresence(presence('enter', BEACON(7), 'cosmetics', T0), T0)
    const evs = e.onPresence(presence('enter', BEACON(7), 'shoes', T0 + MIN), T0 + MIN)
    expect(brief(evs)).toEqual(['exit:cosmetics', 'enter:shoes'])
  })

  it('keeps a member in a zone while a second device of theirs is still there', () => {
    const e = engine({ minDwellS: { indoor: 0, carpark: 0, tradeArea: 0 }, flapWindowS: 0 })
    const idx = new MemberIndex({ v: 1, version: 2, members: [{ ref: 'm-7', tier: 1, tags: [], beaconIds: [BEACON(7), BEACON(77)], plates: [], visits: 0 }] })
    e.setMembers(idx)
    expect(e.onPresence(presence('enter', BEACON(7), 'cosmetics', T0), T0)).toHaveLength(1)
    expect(e.onPresence(presence('enter', BEACON(77), 'cosmetics', T0 + S), T0 + S)).toEqual([])
    expect(e.onPresence(presence('exit', BEACON(7), 'cosmetics', T0 + MIN), T0 + MIN)).toEqual([])
    expect(brief(e.onPresence(presence('exit', BEACON(77), 'cosmetics', T0 + 2 * MIN), T0 + 2 * MIN))).toEqual(['exit:cosmetics'])
  })
})

describe('car park from gate events', () => {
  it('enters at the gate and exits explicitly at once, with the stay as dwell', () => {
    const e = engine()
    const [enter] = e.onParking(gate('entry', T0, 'm-7'), T0)
    expect(enter).toMatchObject({ type: 'enter', zone: 'carpark', zoneKind: 'carpark', source: 'plate', subject: 'member:m-7', memberRef: 'm-7', confidence: 1 })
    const [exit] = e.onParking(gate('exit', T0 + 130 * MIN, 'm-7'), T0 + 130 * MIN)
    expect(exit).toMatchObject({ type: 'exit', zone: 'carpark', explicit: true, dwellS: 130 * 60, enteredAt: T0, ts: T0 + 130 * MIN })
    // a car back through the gate a minute later is a new stay (gates do not flap)
    expect(brief(e.onParking(gate('entry', T0 + 131 * MIN, 'm-7'), T0 + 131 * MIN))).toEqual(['enter:carpark'])
  })

  it('emits a departure for an exit whose entry it never saw, using the parking system’s stay', () => {
    const e = engine({ includeNonMembers: true })
    const [exit] = e.onParking(gate('exit', T0, undefined, 3600), T0, false)
    expect(exit).toMatchObject({ type: 'exit', subject: 'h:0123abcd', enteredAt: T0 - 3600 * S, dwellS: 3600, explicit: true, confidence: 0.5 })
  })

  it('ends a car-park stay without a gate exit after staleAfterS', () => {
    const e = engine({ staleAfterS: { indoor: 3600, carpark: 3600, tradeArea: 3600 } })
    e.onParking(gate('entry', T0, 'm-7'), T0)
    expect(e.tick(T0 + 3599 * S)).toEqual([])
    expect(e.tick(T0 + 3600 * S)[0]).toMatchObject({ type: 'exit', explicit: false, dwellS: 0, ts: T0 + 3600 * S })
  })
})

describe('the store visit links a member’s phone and car', () => {
  it('a car-park exit sees the zones the phone reached during the visit; the next visit starts afresh', () => {
    const e = engine({ minDwellS: { indoor: 10, carpark: 0, tradeArea: 0 }, visitGapS: 1800 })
    const subject = 'member:m-7'
    e.onParking(gate('entry', T0, 'm-7'), T0)
    e.onPresence(presence('enter', BEACON(7), 'cosmetics', T0 + 5 * MIN), T0 + 5 * MIN)
    tickThrough(e, T0 + 5 * MIN + S, T0 + 5 * MIN + 20 * S)
    // a glance at fragrance (3 s) is not reaching it
    e.onPresence(presence('move', BEACON(7), 'fragrance', T0 + 30 * MIN, { fromZone: 'cosmetics' }), T0 + 30 * MIN)
    e.onPresence(presence('exit', BEACON(7), 'fragrance', T0 + 30 * MIN + 3 * S), T0 + 30 * MIN + 3 * S)
    tickThrough(e, T0 + 30 * MIN + 4 * S, T0 + 32 * MIN)
    const [exit] = e.onParking(gate('exit', T0 + 45 * MIN, 'm-7'), T0 + 45 * MIN)
    expect(exit).toMatchObject({ type: 'exit', zone: 'carpark' })
    const v = e.visitOf(subject, exit!.ts)
    expect(v).toBeDefined()
    expect([...v!.zones].sort()).toEqual(['carpark', 'cosmetics'])
    expect(v!.startedAt).toBe(T0)
    // the visit closes after the gap, but an event of it still finds it
    e.tick(T0 + 45 * MIN + 1800 * S)
    expect(e.visitOf(subject, exit!.ts)?.endedAt).toBe(T0 + 45 * MIN)
    // tomorrow: a new visit, without yesterday's zones
    const next = T0 + 24 * 60 * MIN
    e.onParking(gate('entry', next, 'm-7'), next)
    expect([...e.visitOf(subject, next)!.zones]).toEqual(['carpark'])
    expect(e.visitOf(subject, next)!.startedAt).toBe(next)
  })
})

// ── trade areas ─────────────────────────────────────────────────────────────────────────────

const M_PER_DEG = (6_371_008.8 * Math.PI) / 180
const CENTER: LatLng = { lat: 31.2304, lng: 121.4737 }
const north = (m: number, from: LatLng = CENTER): LatLng => ({ lat: from.lat + m / M_PER_DEG, lng: from.lng })
const east = (m: number, from: LatLng = CENTER): LatLng => ({ lat: from.lat, lng: from.lng + m / (M_PER_DEG * Math.cos((from.lat * Math.PI) / 180)) })
const circle: Geofence = { id: 'ta-1km', name: 'Trade area', shape: { kind: 'circle', center: CENTER, radiusM: 1000 }, bufferM: 50 }
const square: Geofence = {
  id: 'ta-square',
  name: 'Square',
  shape: { kind: 'polygon', points: [north(-1000, east(-1000)), north(-1000, east(1000)), north(1000, east(1000)), north(1000, east(-1000))] },
  bufferM: 50,
}
const report = (ref: string, fixes: Array<[LatLng, number, number]>) => ({
  v: 1 as const,
  memberRef: ref,
  fixes: fixes.map(([p, accuracyM, ts]) => ({ lat: p.lat, lng: p.lng, accuracyM, ts })),
})

describe('trade-area geofences from GPS fixes', () => {
  it('the geometry helpers are what the tests assume', () => {
    expect(distanceM(CENTER, north(900))).toBeCloseTo(900, 3)
    expect(distanceM(CENTER, east(900))).toBeCloseTo(900, 0)
  })

  it('enters only when the accuracy circle is inside, exits only when it is outside by the buffer', () => {
    const e = engine()
    e.setGeofences([circle])
    let t = T0
    const step = (p: LatLng, acc: number) => {
      t += 60 * S
      return e.onLocation(report('m-7', [[p, acc, t]]), t)
    }
    // 990 m out with 20 m accuracy: inside, but the circle crosses the edge → not yet
    expect(step(north(990), 20).events).toEqual([])
    const r = step(north(900), 50) // 950 < 1000
    expect(r.accepted).toBe(1)
    expect(r.events[0]).toMatchObject({ type: 'enter', zone: 'ta-1km', zoneKind: 'trade-area', source: 'gps', subject: 'member:m-7', memberRef: 'm-7' })
    expect(r.events[0]!.confidence).toBeCloseTo(100 / 150, 3)
    // outside the radius but within buffer + accuracy: no exit (hysteresis)
    expect(step(north(1030), 30).events).toEqual([]) // 1000 ≯ 1050
    expect(step(north(1200), 200).events).toEqual([]) // 1000 ≯ 1050: a poor fix cannot pull it out
    const out = step(north(1080), 20) // 1060 > 1050
    expect(out.events[0]).toMatchObject({ type: 'exit', zone: 'ta-1km', explicit: true, ts: t })
    expect(out.events[0]!.dwellS).toBe(3 * 60) // entered on the 2nd fix, out on the 5th
  })

  it('works the same for polygons', () => {
    const e = engine()
    e.setGeofences([square])
    const a = e.onLocation(report('m-7', [[north(500, east(-500)), 30, T0]]), T0)
    expect(brief(a.events)).toEqual(['enter:ta-square'])
    const b = e.onLocation(report('m-7', [[north(1040, east(-500)), 20, T0 + 60 * S]]), T0 + 60 * S) // 40 m outside, buffer 50
    expect(b.events).toEqual([])
    const c = e.onLocation(report('m-7', [[north(1100, east(-500)), 20, T0 + 120 * S]]), T0 + 120 * S) // 100 − 20 > 50
    expect(brief(c.events)).toEqual(['exit:ta-square'])
  })

  it('rejects absurd accuracy, bad times, out-of-order and impossible speed fixes, counted by reason, without throwing', () => {
    const e = engine({ maxAccuracyM: 500, maxSpeedMps: 70, maxFixAgeS: 3600, maxFixFutureS: 60, speedResetAfter: 3 })
    e.setGeofences([circle])
    const now = T0
    const r = e.onLocation(
      report('m-7', [
        [north(100), 800, now - 50 * S], // accuracy
        [north(100), 20, now + 120 * S], // future
        [north(100), 20, now - 2 * 3600 * S], // too old
        [north(100), 20, now - 40 * S], // accepted: enter
        [north(110), 20, now - 45 * S], // out of order
        [north(100), 20, now - 40 * S], // duplicate time: out of order
        [north(5100), 10, now - 30 * S], // 5 km in 10 s
        [north(150), 20, now - 20 * S], // 50 m in 20 s: fine
      ]),
      now,
    )
    expect(r.rejected).toEqual([
      { index: 0, reason: 'accuracy' },
      { index: 1, reason: 'future' },
      { index: 2, reason: 'too-old' },
      { index: 4, reason: 'out-of-order' },
      { index: 5, reason: 'out-of-order' },
      { index: 6, reason: 'speed' },
    ])
    expect(r.accepted).toBe(2)
    expect(brief(r.events)).toEqual(['enter:ta-1km'])
    expect(e.stats.fixesRejected).toEqual({ accuracy: 1, future: 1, 'too-old': 1, 'out-of-order': 2, speed: 1 })
    // jitter within both accuracy circles is never "speed"
    expect(e.onLocation(report('m-7', [[north(300), 80, now - 18 * S]]), now).rejected).toEqual([])
  })

  it('re-anchors after consistent "impossible" fixes: the old anchor was the outlier', () => {
    const e = engine({ speedResetAfter: 3 })
    e.setGeofences([circle])
    const far = north(30_000)
    expect(e.onLocation(report('m-7', [[far, 10, T0]]), T0).accepted).toBe(1) // a bad fix got in
    const r = e.onLocation(
      report('m-7', [
        [north(100), 10, T0 + 10 * S],
        [north(110), 10, T0 + 20 * S],
        [north(120), 10, T0 + 30 * S],
        [north(130), 10, T0 + 40 * S],
      ]),
      T0 + 40 * S,
    )
    expect(r.rejected.map((x) => x.reason)).toEqual(['speed', 'speed'])
    expect(r.accepted).toBe(2)
    expect(brief(r.events)).toEqual(['enter:ta-1km'])
  })

  it('ends a trade-area stay with no fix for staleAfterS, dwell up to the last fix inside', () => {
    const e = engine({ staleAfterS: { indoor: 3600, carpark: 3600, tradeArea: 600 } })
    e.setGeofences([circle])
    e.onLocation(report('m-7', [[north(100), 10, T0]]), T0)
    e.onLocation(report('m-7', [[north(120), 10, T0 + 60 * S]]), T0 + 60 * S)
    expect(e.tick(T0 + 659 * S)).toEqual([])
    expect(e.tick(T0 + 660 * S)[0]).toMatchObject({ type: 'exit', explicit: false, dwellS: 60, ts: T0 + 660 * S })
  })

  it('forgets stays in a geofence that config removed, without inventing an exit', () => {
    const e = engine()
    e.setGeofences([circle, square])
    expect(brief(e.onLocation(report('m-7', [[north(100), 10, T0]]), T0).events).sort()).toEqual(['enter:ta-1km', 'enter:ta-square'])
    e.setGeofences([square])
    expect(e.zonesOf('member:m-7')).toEqual(['ta-square'])
    expect(e.tick(T0 + S)).toEqual([])
  })
})

describe('GeofenceEngine: members recognised by face', () => {
  const face = (ts: number, zone = 'entrance') => ({ memberRef: 'm-7', zone, camera: 'door-cam', ts, confidence: 0.9 })

  it('an arrival fires at the recognition, with source face, and no second arrival while the stay lasts', () => {
    const e = engine()
    const [arrival, ...rest] = e.onFace(face(T0), T0)
    expect(rest).toEqual([])
    expect(arrival).toMatchObject({ type: 'enter', zone: 'entrance', source: 'face', subject: 'member:m-7', memberRef: 'm-7', enteredAt: T0, ts: T0 })
    expect(e.onFace(face(T0 + 20 * S), T0 + 20 * S).filter((x) => x.type === 'enter')).toEqual([])
    expect(e.zonesOf('member:m-7')).toEqual(['entrance'])
  })

  it('the stay ends as stale when the member is no longer seen, and a later recognition is a new arrival', () => {
    const e = engine({ flapWindowS: 0 })
    e.onFace(face(T0), T0)
    const later = tickThrough(e, T0, T0 + 30 * MIN)
    expect(brief(later)).toContain('exit:entrance')
    expect(brief(e.onFace(face(T0 + 31 * MIN), T0 + 31 * MIN))).toEqual(['enter:entrance'])
  })
})
