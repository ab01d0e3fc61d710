import { describe, expect, it } from 'vitest'
import { Value } from '@sinclair/typebox/value'
import { MinuteAggregate, type PresenceEvent } from '../contracts/index.ts'
import { PresenceEngine } from '../presence/presence.engine.ts'
import { WifiVisitClassifier, type VisitEvent } from '../presence/wifi-visits.ts'
import { rssiAt, sighting, testConfig } from '../presence/test-support.ts'
import { MinuteAggregator, percentile } from './minute-aggregator.ts'

const M = 60_000
const T0 = 28_333_333 * M // a minute boundary
const ZONES = ['a', 'b', 'c']

const presence = (over: Partial<PresenceEvent> & Pick<PresenceEvent, 'type' | 'id' | 'zone' | 'ts'>): PresenceEvent => ({
  v: 1,
  source: 'ble',
  confidence: 0.9,
  randomAddress: false,
  ...over,
})

function checked(aggs: MinuteAggregate[]): MinuteAggregate[] {
  for (const a of aggs) expect([...Value.Errors(MinuteAggregate, a)]).toEqual([])
  return aggs
}

describe('percentile (nearest rank)', () => {
  it('is null for no data and exact on known sets', () => {
    expect(percentile([], 0.5)).toBeNull()
    expect(percentile([7], 0.5)).toBe(7)
    expect(percentile([7], 0.9)).toBe(7)
    const tens = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    expect(percentile(tens, 0.5)).toBe(50)
    expect(percentile(tens, 0.9)).toBe(90)
    expect(percentile([1, 2, 3], 0.5)).toBe(2)
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2)
  })
})

describe('MinuteAggregator', () => {
  it('emits every configured zone and both sources, zeros included, valid against the schema', () => {
    const agg = new MinuteAggregator('store-1', M, ZONES)
    agg.observeSighting(sighting({ sensorId: 'sa', id: 'h:1', rssi: -60, ts: T0 + 5 }))
    const out = checked(agg.flush(T0 + M, { zones: [] }))
    expect(out).toHaveLength(1)
    expect(out[0]).toEqual({
      v: 1,
      storeId: 'store-1',
      minute: T0,
      sources: [
        { source: 'ble', visitors: 0, passersBy: 0, unique: 0, repeat: 0, randomized: 0, sightings: 1 },
        { source: 'wifi', visitors: 0, passersBy: 0, unique: 0, repeat: 0, randomized: 0, sightings: 0 },
      ],
      zones: ZONES.map((zone) => ({ zone, occupancy: 0, occupancyBySource: { ble: 0, wifi: 0 }, enters: 0, exits: 0, dwellCount: 0, dwellP50S: null, dwellP90S: null })),
    })
  })

  it('keys by event time on interval boundaries and closes only intervals that ended', () => {
    const agg = new MinuteAggregator('s', M, ZONES)
    agg.observeSighting(sighting({ sensorId: 'sa', id: 'h:1', rssi: -60, ts: T0 }))
    agg.observeSighting(sighting({ sensorId: 'sa', id: 'h:1', rssi: -60, ts: T0 + M - 1 }))
    agg.observeSighting(sighting({ sensorId: 'sa', id: 'h:1', rssi: -60, ts: T0 + M }))
    agg.observeSighting(sighting({ sensorId: 'sa', id: 'h:1', rssi: -60, ts: T0 + 2 * M + 30_000 }))
    expect(agg.flush(T0 + M - 1)).toEqual([])
    const first = checked(agg.flush(T0 + M))
    expect(first.map((a) => [a.minute, a.sources[0]!.sightings])).toEqual([[T0, 2]])
    expect(agg.flush(T0 + M + 5)).toEqual([])
    // Three minutes later: every interval in between, the empty one too, in order.
    const rest = checked(agg.flush(T0 + 4 * M + 1))
    expect(rest.map((a) => [a.minute, a.sources[0]!.sightings])).toEqual([
      [T0 + M, 1],
      [T0 + 2 * M, 1],
      [T0 + 3 * M, 0],
    ])
  })

  it('starts the series at the first flush when there is no data, and counts late input in the oldest open interval', () => {
    const agg = new MinuteAggregator('s', M, ZONES)
    expect(agg.flush(T0 + 30_000)).toEqual([])
    expect(agg.flush(T0 + M).map((a) => a.minute)).toEqual([T0])
    agg.observeSighting(sighting({ sensorId: 'sa', id: 'h:1', rssi: -60, ts: T0 + 10 })) // minute T0 already flushed
    expect(agg.lateInputs).toBe(1)
    const [next] = agg.flush(T0 + 2 * M)
    expect(next).toMatchObject({ minute: T0 + M, sources: [{ source: 'ble', sightings: 1 }, { source: 'wifi' }] })
  })

  it('counts distinct visitors, passers-by and random devices, and unique/repeat visits, per source', () => {
    const agg = new MinuteAggregator('s', M, ZONES)
    const wifi = (id: string, ts: number, randomAddress = false) =>
      sighting({ source: 'wifi', sensorId: 'sa', id, rssi: -60, ts, randomAddress, idKind: randomAddress ? 'random' : 'mac' })
    agg.observeSightings(
      [wifi('v1', T0 + 1), wifi('v1', T0 + 2), wifi('p1', T0 + 3), wifi('p1', T0 + 4), wifi('r1', T0 + 5, true), wifi('x', T0 + 6), wifi('p2', T0 + 7)],
      ['visitor', 'visitor', 'passer-by', 'passer-by', 'passer-by', 'pending', 'passer-by'],
    )
    const ev = (type: VisitEvent['type'], id: string, repeat: boolean): VisitEvent => ({ type, id, source: 'wifi', ts: T0 + 10, randomAddress: false, repeat, durationMs: 0 })
    agg.observeVisit(ev('visit', 'x', true)) // the pending one confirmed, seen before
    agg.observeVisit(ev('visit', 'p2', false)) // was weak first, then confirmed in the same minute: a visitor
    agg.observeVisit(ev('pass', 'old', false)) // a short visit closed: passer-by
    agg.observeVisit(ev('end', 'v1', false)) // ends change nothing
    const [a] = checked(agg.flush(T0 + M))
    expect(a!.sources[1]).toEqual({ source: 'wifi', visitors: 3, passersBy: 3, unique: 1, repeat: 1, randomized: 1, sightings: 7 })
    expect(a!.sources[0]).toMatchObject({ source: 'ble', sightings: 0, visitors: 0 })
  })

  it('counts enters, exits and zone dwell percentiles of stays that ended in the minute', () => {
    const agg = new MinuteAggregator('s', M, ZONES)
    // ten devices enter a, move to b after 10..100 s
    for (let i = 1; i <= 10; i++) agg.observePresence(presence({ type: 'enter', id: `h:${i}`, zone: 'a', ts: T0 - 5 * M }))
    for (let i = 1; i <= 10; i++) agg.observePresence(presence({ type: 'move', id: `h:${i}`, zone: 'b', fromZone: 'a', dwellS: i * 10, ts: T0 + i * 1000 }))
    // one exits b: its visit lasted 400 s, of which 300 s (5 min) in a before... the zone stay is the tail
    agg.observePresence(presence({ type: 'stale', id: 'h:1', zone: 'b', ts: T0 + 20_000 }))
    agg.observePresence(presence({ type: 'exit', id: 'h:1', zone: 'b', dwellS: 400, ts: T0 + 30_000 }))
    const out = checked(agg.flush(T0 + M, { zones: [{ zone: 'b', occupancy: 9, ble: 6, wifi: 3 }] }))
    const last = out.at(-1)!
    expect(out.map((x) => x.minute)).toEqual([T0 - 5 * M, T0 - 4 * M, T0 - 3 * M, T0 - 2 * M, T0 - M, T0])
    expect(out[0]!.zones.find((z) => z.zone === 'a')).toMatchObject({ enters: 10, exits: 0, dwellCount: 0 })
    expect(last.zones.find((z) => z.zone === 'a')).toEqual({ zone: 'a', occupancy: 0, occupancyBySource: { ble: 0, wifi: 0 }, enters: 0, exits: 10, dwellCount: 10, dwellP50S: 50, dwellP90S: 90 })
    // h:1 entered at T0 − 5 min, moved to b at T0 + 1 s (301 s later), last seen 400 s after entering: 99 s in b
    expect(last.zones.find((z) => z.zone === 'b')).toEqual({ zone: 'b', occupancy: 9, occupancyBySource: { ble: 6, wifi: 3 }, enters: 10, exits: 1, dwellCount: 1, dwellP50S: 99, dwellP90S: 99 })
  })

  it('aggregates a live pipeline: engine + classifier + aggregator, valid every minute', () => {
    const cfg = testConfig({ presence: { staleMs: 30_000, awayMs: 60_000 } })
    const engine = new PresenceEngine(cfg)
    const classifier = new WifiVisitClassifier(cfg.wifi)
    const agg = new MinuteAggregator(cfg.store.id, cfg.aggregates.intervalMs, cfg.zones)
    const out: MinuteAggregate[] = []
    const visitEvents: VisitEvent[] = []
    for (let s = 0; s < 10 * 60; s++) {
      const ts = T0 + s * 1000
      // a visitor next to sa for 5 minutes, a random-address device for 1 minute
      const batch = [] as ReturnType<typeof sighting>[]
      if (s < 300) batch.push(sighting({ sensorId: 'sa', id: 'h:v', rssi: rssiAt(1), ts }))
      if (s < 60) batch.push(sighting({ sensorId: 'sb', id: 'h:r', rssi: rssiAt(2), ts, randomAddress: true, idKind: 'random' }))
      const classes = batch.map((x) => classifier.observe(x, visitEvents))
      agg.observeSightings(batch, classes)
      for (const x of batch) for (const e of engine.ingest(x) ?? []) agg.observePresence(e)
      for (const e of engine.tick(ts)) agg.observePresence(e)
      for (const e of [...visitEvents.splice(0), ...classifier.tick(ts)]) agg.observeVisit(e)
      out.push(...agg.flush(ts, engine.snapshot(ts)))
    }
    checked(out)
    expect(out).toHaveLength(9)
    expect(out[0]!.zones.map((z) => [z.zone, z.occupancy, z.enters])).toEqual([
      ['a', 1, 1],
      ['b', 1, 1],
      ['c', 0, 0],
    ])
    expect(out[0]!.sources[0]).toMatchObject({ randomized: 1, sightings: 120 })
    expect(out[3]!.sources[0]).toMatchObject({ visitors: 1, unique: 1, repeat: 0 }) // confirmed at 3 min
    const exitA = out.find((a) => a.zones[0]!.exits > 0)!
    expect(exitA.zones[0]).toMatchObject({ exits: 1, dwellCount: 1, dwellP50S: 299 })
    expect(out.at(-1)!.zones.every((z) => z.occupancy === 0)).toBe(true)
  })
})

describe('MinuteAggregator car park', () => {
  it('has no parking figures until the car park is enabled', () => {
    const agg = new MinuteAggregator('s', M, ZONES)
    agg.flush(T0)
    expect(agg.flush(T0 + 2 * M).every((a) => a.parking === undefined)).toBe(true)
  })

  it('counts arrivals and departures per interval, carries occupancy through quiet ones, and validates', () => {
    const agg = new MinuteAggregator('s', M, ZONES)
    agg.enableParking(4)
    agg.flush(T0)
    agg.observeParking('entry', T0 + 1000, 5)
    agg.observeParking('entry', T0 + 2000, 6)
    agg.observeParking('exit', T0 + 59_000, 5)
    agg.observeParking('exit', T0 + 2 * M + 5, 4)
    const out = agg.flush(T0 + 3 * M)
    expect(out.map((a) => a.parking)).toEqual([
      { arrivals: 2, departures: 1, occupancy: 5 },
      { arrivals: 0, departures: 0, occupancy: 5 },
      { arrivals: 0, departures: 1, occupancy: 4 },
    ])
    for (const a of out) expect(Value.Check(MinuteAggregate, a)).toBe(true)
    // a reset without gate events, and a late exit (its minute already flushed) counted in the open one
    agg.setParkingOccupancy(T0 + 3 * M + 10, 0)
    agg.observeParking('exit', T0 + 30_000, 0)
    const next = agg.flush(T0 + 4 * M)
    expect(next.map((a) => a.parking)).toEqual([{ arrivals: 0, departures: 1, occupancy: 0 }])
    expect(agg.lateInputs).toBe(1)
  })
})
