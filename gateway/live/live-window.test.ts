import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { MinuteAggregate, PresenceEvent } from '../../edge/contracts/index.ts'
import { LiveWindow, localMidnight } from './live-window.ts'
import { pointFromAggregate, rebucket, type StorePoint } from './store-point.ts'

const MIN = 60_000
const HOUR = 3_600_000
const T0 = Date.UTC(2024, 4, 16, 12, 0)

/** A point with the given visits and occupancy (zone 'z'); the rest zero. */
function pt(ts: number, visits: number, occupancy = 0, extra: Partial<StorePoint> = {}): StorePoint {
  return {
    ts,
    occupancy,
    occupancyByZone: { z: occupancy },
    visits,
    visitsBySource: { ble: visits, wifi: 0 },
    visitorsBySource: { ble: 0, wifi: 0 },
    passersBySource: { ble: 0, wifi: 0 },
    dwellP50S: null,
    ...extra,
  }
}

describe('pointFromAggregate', () => {
  const agg: MinuteAggregate = {
    v: 1,
    storeId: 's',
    minute: T0,
    sources: [
      { source: 'ble', visitors: 10, passersBy: 20, unique: 3, repeat: 2, randomized: 40, sightings: 500 },
      { source: 'wifi', visitors: 4, passersBy: 6, unique: 1, repeat: 1, randomized: 9, sightings: 80 },
    ],
    zones: [
      { zone: 'a', occupancy: 5, occupancyBySource: { ble: 4, wifi: 1 }, enters: 0, exits: 0, dwellCount: 3, dwellP50S: 60, dwellP90S: 90 },
      { zone: 'b', occupancy: 2, occupancyBySource: { ble: 2, wifi: 0 }, enters: 0, exits: 0, dwellCount: 1, dwellP50S: 100, dwellP90S: 120 },
      { zone: 'c', occupancy: 0, occupancyBySource: { ble: 0, wifi: 0 }, enters: 0, exits: 0, dwellCount: 0, dwellP50S: null, dwellP90S: null },
    ],
  }

  it('sums visits (unique + repeat) and occupancy over zones; dwell weighted by stays', () => {
    expect(pointFromAggregate(agg)).toEqual({
      ts: T0,
      occupancy: 7,
      occupancyByZone: { a: 5, b: 2, c: 0 },
      visits: 7,
      visitsBySource: { ble: 5, wifi: 2 },
      visitorsBySource: { ble: 10, wifi: 4 },
      passersBySource: { ble: 20, wifi: 6 },
      dwellP50S: 70, // (60·3 + 100·1) / 4
    })
  })

  it('dwell is null when no stay ended; a source that is absent counts zero', () => {
    const p = pointFromAggregate({ ...agg, sources: [agg.sources[1]!], zones: [agg.zones[2]!] })
    expect(p.dwellP50S).toBeNull()
    expect(p.visitsBySource).toEqual({ ble: 0, wifi: 2 })
    expect(p.visits).toBe(2)
  })
})

describe('LiveWindow points', () => {
  it('inserts out-of-order minutes in order and replaces a replayed minute', () => {
    const w = new LiveWindow({ hours: 24, maxStores: 10 })
    const now = T0 + 10 * MIN
    for (const m of [0, 3, 1, 5, 2]) w.addPoint('s', pt(T0 + m * MIN, m), now)
    w.addPoint('s', pt(T0 + 3 * MIN, 33), now)
    expect(w.get('s')!.points.map((p) => [(p.ts - T0) / MIN, p.visits])).toEqual([[0, 0], [1, 1], [2, 2], [3, 33], [5, 5]])
  })

  it('ignores points older than `hours` and prunes them as time moves on', () => {
    const w = new LiveWindow({ hours: 2, maxStores: 10 })
    w.addPoint('s', pt(T0 - 2 * HOUR - MIN, 9), T0)
    expect(w.get('s')!.points).toEqual([])
    w.addPoint('s', pt(T0 - HOUR, 1), T0)
    w.addPoint('s', pt(T0, 2), T0)
    w.addPoint('s', pt(T0 + HOUR + 30 * MIN, 3), T0 + HOUR + 30 * MIN)
    expect(w.get('s')!.points.map((p) => p.visits)).toEqual([2, 3])
    expect(w.horizon(T0)).toBe(T0 - 2 * HOUR)
  })

  it('collects zones from points and answers series in [from, to], re-bucketed', () => {
    const w = new LiveWindow({ hours: 24, maxStores: 10 })
    for (let m = 0; m < 10; m++) w.addPoint('s', { ...pt(T0 + m * MIN, 1, m), occupancyByZone: { [m % 2 ? 'odd' : 'even']: m } }, T0 + 10 * MIN)
    const s = w.series('s', T0 + 2 * MIN, T0 + 7 * MIN, 60)
    expect(s).toMatchObject({ storeId: 's', source: 'window', zones: ['even', 'odd'], stepS: 60 })
    expect(s.points.map((p) => p.occupancy)).toEqual([2, 3, 4, 5, 6, 7])
    expect(w.series('s', T0, T0 + 9 * MIN, 300).points.map((p) => p.visits)).toEqual([5, 5])
    expect(w.series('nowhere', T0, T0 + HOUR, 60)).toMatchObject({ points: [], zones: [] })
  })
})

describe('LiveWindow.now', () => {
  // Shanghai is UTC+8: its 17 May starts at 16 May 16:00 UTC.
  const shanghaiMidnight = Date.UTC(2024, 4, 16, 16, 0)
  const w = new LiveWindow({ hours: 24, maxStores: 10 })
  const now = shanghaiMidnight + 30 * MIN
  w.addPoint('s', pt(Date.UTC(2024, 4, 16, 1, 0), 100, 1), now) // UTC today, neither Shanghai today nor the last hour
  w.addPoint('s', pt(shanghaiMidnight - 20 * MIN, 10, 2), now) // last hour; Shanghai yesterday
  w.addPoint('s', pt(shanghaiMidnight, 1, 3), now) // Shanghai today from its first minute
  w.addPoint('s', pt(shanghaiMidnight + 20 * MIN, 2, 4, { visitorsBySource: { ble: 7, wifi: 3 }, dwellP50S: 42 }), now)

  it('counts visits since local midnight of the store and in the last hour', () => {
    expect(w.now('s', now, 'Asia/Shanghai')).toEqual({ occupancy: 4, visitsToday: 3, visitsLastHour: 13, visitorsBySource: { ble: 7, wifi: 3 }, dwellP50S: 42, lastMinute: shanghaiMidnight + 20 * MIN })
    expect(w.now('s', now, 'UTC')).toMatchObject({ visitsToday: 113, visitsLastHour: 13 })
  })

  it('a store with no points is all zeros', () => {
    expect(w.now('none', now, 'UTC')).toEqual({ occupancy: 0, visitsToday: 0, visitsLastHour: 0, visitorsBySource: { ble: 0, wifi: 0 }, dwellP50S: null, lastMinute: null })
  })

  it('the last hour excludes a point exactly one hour and a minute old', () => {
    const v = new LiveWindow({ hours: 24, maxStores: 10 })
    v.addPoint('s', pt(now - HOUR - MIN, 5), now)
    v.addPoint('s', pt(now - HOUR, 6), now)
    expect(v.now('s', now, 'Asia/Shanghai').visitsLastHour).toBe(6)
  })
})

describe('localMidnight', () => {
  it.each([
    ['UTC', '2024-05-16T23:59:59.999Z', '2024-05-16T00:00:00.000Z'],
    ['Asia/Shanghai', '2024-05-16T15:59:59.500Z', '2024-05-15T16:00:00.000Z'],
    ['Asia/Shanghai', '2024-05-16T16:00:00.000Z', '2024-05-16T16:00:00.000Z'],
    ['Asia/Kolkata', '2024-05-16T20:00:00.000Z', '2024-05-16T18:30:00.000Z'],
    ['Asia/Kathmandu', '2024-05-17T03:00:00.000Z', '2024-05-16T18:15:00.000Z'],
    ['America/Los_Angeles', '2024-05-17T03:00:00.000Z', '2024-05-16T07:00:00.000Z'],
    // Days with a DST change: the wall clock since midnight is not the time elapsed since it.
    ['America/New_York', '2024-03-10T16:00:00.000Z', '2024-03-10T05:00:00.000Z'],
    ['America/New_York', '2024-11-03T17:00:00.000Z', '2024-11-03T04:00:00.000Z'],
    ['Europe/Berlin', '2024-03-31T20:00:00.000Z', '2024-03-30T23:00:00.000Z'],
  ])('%s at %s → %s', (tz, at, expected) => {
    expect(new Date(localMidnight(Date.parse(at), tz)).toISOString()).toBe(expected)
  })

  it('property: the result reads 00:00:00 on the same local date, at or before ts', () => {
    // Zones whose DST changes happen away from midnight (where midnight always exists).
    const zones = ['UTC', 'Asia/Shanghai', 'America/New_York', 'Europe/Berlin', 'Australia/Sydney', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/St_Johns']
    const local = (t: number, timeZone: string) => new Intl.DateTimeFormat('en-CA', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(t)
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) }), fc.constantFrom(...zones), (ts, tz) => {
        const m = localMidnight(ts, tz)
        expect(m).toBeLessThanOrEqual(ts)
        expect(local(m, tz)).toBe(`${local(ts, tz).slice(0, 10)}, 00:00:00`)
      }),
      { numRuns: 1000 },
    )
  })
})

describe('rebucket', () => {
  it('passes minute points through at a step of 60 s or less', () => {
    const pts = [pt(T0, 1), pt(T0 + MIN, 2)]
    expect(rebucket(pts, 60)).toBe(pts)
  })

  it('aligns buckets to the epoch, sums visits, averages occupancy, visitors and dwell', () => {
    const pts = [
      pt(T0 - MIN, 4, 10), // previous 5-minute bucket
      { ...pt(T0, 1, 2, { visitorsBySource: { ble: 4, wifi: 1 }, dwellP50S: 30 }), occupancyByZone: { z: 2 } },
      { ...pt(T0 + MIN, 2, 3, { visitorsBySource: { ble: 5, wifi: 0 }, dwellP50S: null }), occupancyByZone: { z: 1, y: 2 } },
      pt(T0 + 4 * MIN, 3, 4, { visitorsBySource: { ble: 6, wifi: 2 }, dwellP50S: 45 }),
    ]
    const out = rebucket(pts, 300)
    expect(out.map((p) => p.ts)).toEqual([T0 - 5 * MIN, T0])
    expect(out[0]).toMatchObject({ visits: 4, occupancy: 10 })
    expect(out[1]).toEqual({
      ts: T0,
      occupancy: 3, // (2 + 3 + 4) / 3
      occupancyByZone: { z: 2.3, y: 0.7 }, // a zone absent in a minute counts 0 there
      visits: 6,
      visitsBySource: { ble: 6, wifi: 0 },
      visitorsBySource: { ble: 5, wifi: 1 },
      passersBySource: { ble: 0, wifi: 0 },
      dwellP50S: 37.5, // over the minutes that had one
    })
  })
})

describe('LiveWindow bounds, health and events', () => {
  it('keeps at most maxStores stores and ignores new ones beyond', () => {
    const w = new LiveWindow({ hours: 24, maxStores: 2 })
    w.addPoint('a', pt(T0, 1), T0)
    w.setHealth('b', { v: 1, storeId: 'b', status: 'online', ts: T0 })
    w.addPoint('c', pt(T0, 1), T0)
    w.setHealth('d', { v: 1, storeId: 'd', status: 'online', ts: T0 })
    w.addEvent('e', { v: 1, type: 'enter', id: 'x', source: 'ble', zone: 'z', ts: T0, confidence: 1, randomAddress: false })
    expect(w.size).toBe(2)
    expect(w.storeIds().sort()).toEqual(['a', 'b'])
    w.addPoint('b', pt(T0, 5), T0)
    expect(w.get('b')!.points).toHaveLength(1)
  })

  it('keeps the newest health and the last 50 events', () => {
    const w = new LiveWindow({ hours: 24, maxStores: 2 })
    w.setHealth('s', { v: 1, storeId: 's', status: 'online', ts: T0 + 5 })
    w.setHealth('s', { v: 1, storeId: 's', status: 'offline', ts: T0 })
    expect(w.get('s')!.health).toMatchObject({ status: 'online', ts: T0 + 5 })
    const ev = (i: number): PresenceEvent => ({ v: 1, type: 'enter', id: `d${i}`, source: 'ble', zone: 'z', ts: T0 + i, confidence: 1, randomAddress: false })
    for (let i = 0; i < 60; i++) w.addEvent('s', ev(i))
    expect(w.get('s')!.events.map((e) => e.id)).toEqual(Array.from({ length: 50 }, (_, i) => `d${i + 10}`))
  })
})
