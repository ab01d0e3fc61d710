import { describe, expect, it } from 'vitest'
import { Value } from '@sinclair/typebox/value'
import { PresenceEvent } from '../contracts/index.ts'
import { PresenceEngine } from './presence.engine.ts'
import { gaussian, rng, rssiAt, sighting, testConfig } from './test-support.ts'

const T0 = 1_700_000_000_000

function engineWith(presence: Record<string, unknown> = {}): PresenceEngine {
  return new PresenceEngine(testConfig({ presence }))
}

function feed(engine: PresenceEngine, sensorId: string, id: string, d: number, ts: number, extra: Record<string, unknown> = {}): PresenceEvent[] {
  const events = engine.ingest(sighting({ sensorId, id, rssi: rssiAt(d), ts, ...extra })) ?? []
  for (const e of events) expect(Value.Check(PresenceEvent, e), JSON.stringify(e)).toBe(true)
  return events
}

describe('PresenceEngine', () => {
  it('places a device on its first sighting (enter) and returns undefined when nothing happens', () => {
    const engine = engineWith()
    const [enter] = feed(engine, 'sa', 'h:1', 2, T0)
    expect(enter).toMatchObject({ v: 1, type: 'enter', id: 'h:1', zone: 'a', source: 'ble', ts: T0, randomAddress: false })
    expect(engine.ingest(sighting({ sensorId: 'sa', id: 'h:1', rssi: rssiAt(2), ts: T0 + 1000 }))).toBeUndefined()
    expect(engine.size).toBe(1)
  })

  it('ignores and counts sightings from unknown sensors', () => {
    const engine = engineWith()
    expect(engine.ingest(sighting({ sensorId: 'nope', id: 'h:1', rssi: -50, ts: T0 }))).toBeUndefined()
    expect(engine.unknownSensorSightings).toBe(1)
    expect(engine.size).toBe(0)
  })

  it('uses the sensor distance (ESPresense) and the per-sensor RSSI offset', () => {
    const cfg = testConfig({
      sensors: [
        { id: 'sa', zone: 'a', rssiOffset: -20 }, // this receiver reads 20 dB hot
        { id: 'sb', zone: 'b' },
        { id: 'sc', zone: 'c' },
      ],
    })
    const engine = new PresenceEngine(cfg)
    // Raw −55 at sa would be closer than −60 at sb; calibrated it is −75 (2 m+) vs −60 (≈ 0.7 m).
    engine.ingest(sighting({ sensorId: 'sa', id: 'h:1', rssi: -55, ts: T0 }))
    engine.ingest(sighting({ sensorId: 'sb', id: 'h:1', rssi: -60, ts: T0 + 100 }))
    for (let i = 1; i <= 6; i++) {
      engine.ingest(sighting({ sensorId: 'sa', id: 'h:1', rssi: -55, ts: T0 + i * 1000 }))
      engine.ingest(sighting({ sensorId: 'sb', id: 'h:1', rssi: -60, ts: T0 + i * 1000 + 100 }))
    }
    expect(engine.lookup('h:1', T0 + 7000)?.zone).toBe('b')
    const e2 = new PresenceEngine(cfg)
    e2.ingest(sighting({ sensorId: 'sb', id: 'h:2', rssi: -99, distanceM: 1.25, ts: T0 }))
    expect(e2.lookup('h:2', T0)?.distance).toBeCloseTo(1.25, 3)
  })

  it('does not flap for a phone between two sensors with noisy RSSI', () => {
    const engine = engineWith()
    const g = gaussian(rng(42))
    let moves = 0
    let naiveFlips = 0
    let naive = ''
    for (let s = 0; s < 600; s++) {
      // equidistant (5 m) from sa and sb, σ = 4 dB, each sensor once a second
      const ra = rssiAt(5, 4 * g())
      const rb = rssiAt(5, 4 * g())
      const nearest = ra > rb ? 'a' : 'b'
      if (naive && nearest !== naive) naiveFlips++
      naive = nearest
      for (const e of [...feed(engine, 'sa', 'h:1', 1, 0, { rssi: ra, ts: T0 + s * 1000 }), ...feed(engine, 'sb', 'h:1', 1, 0, { rssi: rb, ts: T0 + s * 1000 + 500 })]) {
        if (e.type === 'move') moves++
      }
    }
    expect(naiveFlips).toBeGreaterThan(200)
    expect(moves).toBeLessThanOrEqual(4) // ten minutes on the boundary: a handful at most, not hundreds
  })

  it('a real walk from A to B gives exactly one move, with the dwell in A', () => {
    const engine = engineWith()
    const g = gaussian(rng(7))
    const moves: PresenceEvent[] = []
    // Sensors 12 m apart; 30 s next to A, walk at 1 m/s, 30 s next to B.
    const track = (s: number): number => (s < 30 ? 1 : s < 40 ? 1 + (s - 30) : 11)
    for (let s = 0; s < 70; s++) {
      const x = track(s)
      for (const e of [
        ...feed(engine, 'sa', 'h:1', 0, 0, { rssi: rssiAt(Math.hypot(x, 1), 4 * g()), ts: T0 + s * 1000 }),
        ...feed(engine, 'sb', 'h:1', 0, 0, { rssi: rssiAt(Math.hypot(12 - x, 1), 4 * g()), ts: T0 + s * 1000 + 500 }),
      ]) {
        if (e.type === 'move') moves.push(e)
      }
    }
    expect(moves).toHaveLength(1)
    expect(moves[0]).toMatchObject({ type: 'move', zone: 'b', fromZone: 'a' })
    expect(moves[0]!.dwellS).toBeGreaterThan(30)
    expect(moves[0]!.dwellS).toBeLessThan(50)
    expect(moves[0]!.confidence).toBeGreaterThan(0.5)
  })

  it('holds a move for switchHoldMs and needs the margin all along', () => {
    const engine = engineWith({ switchHoldMs: 4000, switchMarginM: 1 })
    for (let s = 0; s <= 5; s++) feed(engine, 'sa', 'h:1', 1, T0 + s * 1000)
    // sb now 1.5 m closer than sa: candidate b, but the hold is not over yet at +3 s
    const events: PresenceEvent[] = []
    for (let s = 6; s <= 9; s++) {
      events.push(...feed(engine, 'sa', 'h:1', 3, T0 + s * 1000), ...feed(engine, 'sb', 'h:1', 1.5, T0 + s * 1000 + 1))
    }
    expect(events.filter((e) => e.type === 'move')).toHaveLength(0)
    const later: PresenceEvent[] = []
    for (let s = 10; s <= 16; s++) {
      later.push(...feed(engine, 'sa', 'h:1', 3, T0 + s * 1000), ...feed(engine, 'sb', 'h:1', 1.5, T0 + s * 1000 + 1))
    }
    expect(later.filter((e) => e.type === 'move')).toHaveLength(1)
  })

  it('asks for floorPenaltyM more before moving to another floor', () => {
    // No smoothing surprises: exact distances, a short hold.
    const engine = engineWith({ switchHoldMs: 1000, switchMarginM: 1, floorPenaltyM: 3, medianWindow: 1 })
    for (let s = 0; s < 5; s++) feed(engine, 'sa', 'h:1', 4, T0 + s * 1000)
    // c (floor 1) is 2 m closer than a: beats the 1 m margin but not 1 + 3 m.
    let ev: PresenceEvent[] = []
    for (let s = 5; s < 25; s++) ev.push(...feed(engine, 'sa', 'h:1', 4, T0 + s * 1000), ...feed(engine, 'sc', 'h:1', 2, T0 + s * 1000 + 1))
    expect(ev.filter((e) => e.type === 'move')).toHaveLength(0)
    expect(engine.lookup('h:1', T0 + 25_000)?.zone).toBe('a')
    // b (same floor) 2 m closer: moves.
    const e2 = engineWith({ switchHoldMs: 1000, switchMarginM: 1, floorPenaltyM: 3, medianWindow: 1 })
    for (let s = 0; s < 5; s++) feed(e2, 'sa', 'h:2', 4, T0 + s * 1000)
    ev = []
    for (let s = 5; s < 25; s++) ev.push(...feed(e2, 'sa', 'h:2', 4, T0 + s * 1000), ...feed(e2, 'sb', 'h:2', 2, T0 + s * 1000 + 1))
    expect(ev.filter((e) => e.type === 'move').map((e) => e.zone)).toEqual(['b'])
    // c 4.5 m closer than a: beats 1 + 3 m, moves across floors.
    const e3 = engineWith({ switchHoldMs: 1000, switchMarginM: 1, floorPenaltyM: 3, medianWindow: 1 })
    for (let s = 0; s < 5; s++) feed(e3, 'sa', 'h:3', 6, T0 + s * 1000)
    ev = []
    for (let s = 5; s < 25; s++) ev.push(...feed(e3, 'sa', 'h:3', 6, T0 + s * 1000), ...feed(e3, 'sc', 'h:3', 1.5, T0 + s * 1000 + 1))
    expect(ev.filter((e) => e.type === 'move').map((e) => e.zone)).toEqual(['c'])
  })

  it('goes stale at staleMs (keeping its zone) and exits at awayMs with the visit dwell', () => {
    const engine = engineWith({ staleMs: 30_000, awayMs: 120_000 })
    feed(engine, 'sa', 'h:1', 1, T0)
    feed(engine, 'sa', 'h:1', 1, T0 + 10_000)
    const last = T0 + 10_000
    expect(engine.tick(last + 29_999)).toEqual([])
    const stale = engine.tick(last + 30_000)
    expect(stale).toHaveLength(1)
    expect(stale[0]).toMatchObject({ type: 'stale', zone: 'a', id: 'h:1', ts: last + 30_000 })
    expect(engine.tick(last + 31_000)).toEqual([]) // once
    expect(engine.list(last + 31_000)[0]).toMatchObject({ id: 'h:1', state: 'stale', zone: 'a', lastSeen: last })
    expect(engine.snapshot(last + 31_000).zones.find((z) => z.zone === 'a')).toMatchObject({ occupancy: 1, stale: 1, present: 0 })
    expect(engine.tick(last + 119_999)).toEqual([])
    const exit = engine.tick(last + 120_000)
    expect(exit).toHaveLength(1)
    expect(exit[0]).toMatchObject({ type: 'exit', zone: 'a', dwellS: 10, ts: last + 120_000 })
    for (const e of [...stale, ...exit]) expect(Value.Check(PresenceEvent, e)).toBe(true)
    expect(engine.size).toBe(0)
    expect(engine.snapshot(last + 120_000).occupancy).toBe(0)
    // Seen again: a new visit.
    expect(feed(engine, 'sa', 'h:1', 1, last + 130_000).map((e) => e.type)).toEqual(['enter'])
  })

  it('a stale device heard again is present again, silently, in the same zone', () => {
    const engine = engineWith()
    feed(engine, 'sa', 'h:1', 1, T0)
    engine.tick(T0 + 40_000)
    expect(feed(engine, 'sa', 'h:1', 1, T0 + 41_000)).toEqual([])
    expect(engine.lookup('h:1', T0 + 41_000)).toMatchObject({ state: 'present', zone: 'a' })
  })

  it('closes a visit on the next sighting when tick() was not called in between', () => {
    const engine = engineWith({ awayMs: 120_000 })
    feed(engine, 'sa', 'h:1', 1, T0)
    expect(feed(engine, 'sb', 'h:1', 1, T0 + 200_000).map((e) => [e.type, e.zone])).toEqual([
      ['exit', 'a'],
      ['enter', 'b'],
    ])
  })

  it('evicts the least recently seen beyond maxIdentities, emitting exits', () => {
    const engine = engineWith({ maxIdentities: 100 })
    for (let i = 0; i < 100; i++) feed(engine, 'sa', `h:${i}`, 2, T0 + i)
    feed(engine, 'sa', 'h:0', 2, T0 + 1000) // h:0 is recent again; h:1 is now the oldest
    const events = feed(engine, 'sa', 'h:new', 2, T0 + 2000)
    expect(events.map((e) => [e.type, e.id])).toEqual([
      ['exit', 'h:1'],
      ['enter', 'h:new'],
    ])
    expect(engine.size).toBe(100)
    expect(engine.lookup('h:1', T0 + 2000)).toBeUndefined()
    expect(engine.lookup('h:0', T0 + 2000)).toBeDefined()
    expect(engine.tick(T0 + 2000)).toEqual([])
  })

  it('counts random-address devices in occupancy but never lists them', () => {
    const engine = engineWith()
    const [enter] = feed(engine, 'sa', 'h:r', 1, T0, { randomAddress: true, idKind: 'random' })
    expect(enter).toMatchObject({ type: 'enter', randomAddress: true })
    feed(engine, 'sa', 'h:p', 1, T0 + 1, { source: 'wifi' })
    const snap = engine.snapshot(T0 + 1000)
    expect(snap.zones).toEqual([
      { zone: 'a', occupancy: 2, present: 2, stale: 0, random: 1, ble: 1, wifi: 1 },
      { zone: 'b', occupancy: 0, present: 0, stale: 0, random: 0, ble: 0, wifi: 0 },
      { zone: 'c', occupancy: 0, present: 0, stale: 0, random: 0, ble: 0, wifi: 0 },
    ])
    expect(snap).toMatchObject({ occupancy: 2, present: 2, random: 1 })
    const list = engine.list(T0 + 1000, { includeRandom: false })
    expect(list.map((e) => e.id)).toEqual(['h:p'])
    expect(list[0]).toMatchObject({ zone: 'a', state: 'present', source: 'wifi' })
    expect(engine.lookup('h:r', T0 + 1000)).toBeUndefined()
    expect(engine.list(T0 + 1000, { zone: 'b' })).toEqual([])
  })

  it('confidence grows with samples and with how decisive the nearest zone is', () => {
    const engine = engineWith()
    const [first] = feed(engine, 'sa', 'h:1', 1, T0)
    for (let s = 1; s < 10; s++) feed(engine, 'sa', 'h:1', 1, T0 + s * 1000)
    const alone = engine.lookup('h:1', T0 + 10_000)!.confidence
    expect(first!.confidence).toBeLessThan(alone)
    for (let s = 10; s < 20; s++) feed(engine, 'sa', 'h:1', 1, T0 + s * 1000), feed(engine, 'sb', 'h:1', 1.2, T0 + s * 1000 + 1)
    const contested = engine.lookup('h:1', T0 + 20_000)!.confidence
    expect(contested).toBeLessThan(0.6) // nearly a tie between a and b
    expect(contested).toBeGreaterThan(0.4)
    for (const c of [first!.confidence, alone, contested]) {
      expect(c).toBeGreaterThanOrEqual(0)
      expect(c).toBeLessThanOrEqual(1)
    }
  })

  it('renames a random identity onto its rotated address (no exit, no enter), and nothing else', () => {
    const engine = engineWith()
    feed(engine, 'sa', 'h:r1', 1, T0, { randomAddress: true, idKind: 'random' })
    feed(engine, 'sa', 'h:pub', 1, T0, {})
    expect(engine.rename('h:r1', 'h:r2')).toBe(true)
    expect(engine.size).toBe(2)
    expect(engine.snapshot(T0 + 1000).zones[0]).toMatchObject({ zone: 'a', occupancy: 2, random: 1 })
    expect(feed(engine, 'sa', 'h:r2', 1, T0 + 2000, { randomAddress: true, idKind: 'random' }).filter((e) => e.type === 'enter')).toEqual([])
    expect(engine.rename('h:pub', 'h:x')).toBe(false) // public addresses are identities: never renamed
    expect(engine.rename('h:missing', 'h:y')).toBe(false)
    expect(engine.rename('h:r2', 'h:pub')).toBe(false) // never onto a tracked id
  })
})
