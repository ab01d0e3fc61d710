import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { MinuteAggregator } from '../aggregates/minute-aggregator.ts'
import type { Member } from '../contracts/index.ts'
import { EventBus } from '../core/bus.ts'
import { resolveConfig } from '../core/config.ts'
import { createMetrics } from '../core/metrics.ts'
import { MemberIndex } from '../geofence/member-index.ts'
import { MacHasher } from '../sources/privacy/mac-hasher.ts'
import { decodeGateBatch } from '../sources/decoders/gate.decoder.ts'
import { testContext } from '../sources/decoders/test-support.ts'
import { ParkingModule } from './parking.module.ts'
import type { BusParkingEvent } from './car-park.ts'

const T0 = Date.parse('2026-05-14T04:00:00Z') // 12:00 in Shanghai
const MIN = 60_000

const members: Member[] = [
  { ref: 'm-7', tier: 2, tags: ['beauty'], beaconIds: [], plates: ['沪A12345'], visits: 0 },
  { ref: 'm-9', tier: 1, tags: [], beaconIds: [], plates: ['沪AD10001'], visits: 3 },
]

function setup(parking: Record<string, unknown> = {}) {
  let now = T0
  const clock = { now: () => now }
  const cfg = resolveConfig({ store: { id: 's1', timezone: 'Asia/Shanghai' }, parking: { enabled: true, ...parking } })
  const bus = new EventBus(pino({ level: 'silent' }))
  const metrics = createMetrics({ defaultMetrics: false })
  const aggregator = new MinuteAggregator('s1', MIN)
  const hasher = new MacHasher({ secret: Buffer.alloc(32, 7), rotationHours: 24, timeZone: 'Asia/Shanghai' })
  const published: Array<{ topic: string; payload: unknown }> = []
  const onBus: BusParkingEvent[] = []
  bus.subscriber('test').onParking((e) => onBus.push(e))
  const mod = new ParkingModule({
    cfg,
    bus,
    metrics,
    clock,
    log: pino({ level: 'silent' }),
    publish: async (topic, payload) => void published.push({ topic, payload }),
    hash: (text) => {
      hasher.rotateIfDue(clock.now())
      return hasher.hash(text)
    },
    aggregator: () => aggregator,
  })
  const send = (events: unknown[], deviceId = 'gate-1') => mod.ingest(decodeGateBatch(JSON.stringify({ v: 1, events }), testContext(deviceId, now)))
  return { mod, clock, setNow: (t: number) => (now = t), aggregator, published, onBus, metrics, send }
}

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanup) await c()
  cleanup = []
})

async function started(parking: Record<string, unknown> = {}) {
  const s = setup(parking)
  await s.mod.start()
  cleanup.push(() => s.mod.stop())
  return s
}

const gate = (type: 'entry' | 'exit', plate: string, ts: number, extra: Record<string, unknown> = {}) => ({ type, plate, gate: type === 'entry' ? 'n-in' : 'n-out', ts, ...extra })

describe('ParkingModule', () => {
  it('resolves registered plates to members (confusable reads included) and hashes everyone else', async () => {
    const s = await started()
    s.mod.setMembers({ v: 1, version: 3, members })
    const out = s.send([gate('entry', '沪AI2345', T0), gate('entry', '沪AD1OOO1', T0 + 1), gate('entry', '苏E88888', T0 + 2)])
    expect(out.map((e) => [e.subject, e.memberRef])).toEqual([
      ['member:m-7', 'm-7'],
      ['member:m-9', 'm-9'],
      [expect.stringMatching(/^h:[0-9a-f]{20}$/), undefined],
    ])
    expect(s.onBus).toHaveLength(3)
    expect(s.published.map((p) => p.topic)).toEqual(Array(3).fill('stores/s1/events/parking'))
    const text = JSON.stringify(s.published) + JSON.stringify(s.onBus)
    expect(text).not.toContain('苏E88888')
    expect(text).not.toContain('88888')
    // the uplink carries the contract's fields only
    expect(Object.keys(s.published[2]!.payload as object).sort()).toEqual(['gate', 'id', 'storeId', 'subject', 'ts', 'type', 'v'])
  })

  it('prefers the shared member index when one is wired in', async () => {
    const s = setup()
    const shared = new MemberIndex({ v: 1, version: 1, members: [{ ...members[0]!, ref: 'shared-7' }] })
    const mod = new ParkingModule({ ...(s.mod as unknown as { d: ConstructorParameters<typeof ParkingModule>[0] }).d, members: () => shared })
    await mod.start()
    cleanup.push(() => mod.stop())
    mod.setMembers(members)
    expect(mod.memberOfPlate('沪A12345')).toBe('shared-7')
  })

  it('the same non-member plate gives the same subject within a day and another the next day', async () => {
    const s = await started()
    const [a] = s.send([gate('entry', '苏E88888', T0)])
    s.setNow(T0 + 3 * 3_600_000)
    const [b] = s.send([gate('exit', '苏E88888', T0 + 3 * 3_600_000)])
    expect(b!.subject).toBe(a!.subject)
    expect(b!.stayS).toBe(3 * 3600)
    s.setNow(T0 + 24 * 3_600_000)
    const [c] = s.send([gate('entry', '苏E88888', T0 + 24 * 3_600_000)])
    expect(c!.subject).not.toBe(a!.subject)
  })

  it('matches a stay across the salt rotation (the subject changes, the match does not)', async () => {
    const s = await started({ resetAt: '' })
    const late = Date.parse('2026-05-14T15:30:00Z') // 23:30 local
    s.setNow(late)
    const [a] = s.send([gate('entry', '苏E88888', late)])
    s.setNow(late + 3_600_000)
    const [b] = s.send([gate('exit', '苏E88888', late + 3_600_000)])
    expect(b!.subject).not.toBe(a!.subject)
    expect(b!.stayS).toBe(3600)
  })

  it('drops repeated deliveries and counts results by reason', async () => {
    const s = await started()
    const batch = [gate('entry', '沪A12345', T0, { id: 'p-1' }), gate('entry', '苏E88888', T0 + 5)]
    expect(s.send(batch)).toHaveLength(2)
    expect(s.send(batch)).toHaveLength(0)
    expect(s.send([gate('entry', '沪A1234', T0 + 9)])).toHaveLength(1) // unreadable: counted
    expect(s.mod.occupancy).toBe(3)
    const m = await s.metrics.registry.getSingleMetricAsString('store_edge_parking_gate_events_total')
    expect(m).toContain('result="accepted",reason=""} 2')
    expect(m).toContain('result="duplicate",reason="id"} 1')
    expect(m).toContain('result="duplicate",reason="content"} 1')
    expect(m).toContain('result="rejected",reason="STORE_EDGE_ERR_BAD_PLATE"} 1')
    expect(m).toContain('result="accepted",reason="unreadable-plate"} 1')
  })

  it('ignores unreadable plates when countUnreadablePlates is off', async () => {
    const s = await started({ countUnreadablePlates: false })
    expect(s.send([gate('entry', '沪A1234', T0)])).toEqual([])
    expect(s.mod.occupancy).toBe(0)
  })

  it('puts arrivals, departures and occupancy (never below 0) into the minute aggregate', async () => {
    const s = await started()
    s.send([gate('entry', '沪A11111', T0 + 1000), gate('entry', '沪A22222', T0 + 2000), gate('exit', '沪A11111', T0 + 30_000)])
    s.send([gate('exit', '沪A22222', T0 + MIN + 1000), gate('exit', '沪A33333', T0 + MIN + 2000)]) // the second: no entry
    const aggs = s.aggregator.flush(T0 + 3 * MIN)
    expect(aggs.map((a) => [a.minute - T0, a.parking])).toEqual([
      [0, { arrivals: 2, departures: 1, occupancy: 1 }],
      [MIN, { arrivals: 0, departures: 2, occupancy: 0 }],
      [2 * MIN, { arrivals: 0, departures: 0, occupancy: 0 }],
    ])
  })

  it('resets the occupancy at local midnight (configurable) and carries it in the aggregate', async () => {
    const s = await started()
    const evening = Date.parse('2026-05-14T15:58:00Z') // 23:58 local
    s.setNow(evening)
    s.send([gate('entry', '沪A11111', evening), gate('entry', '沪A22222', evening + 1)])
    s.mod.tick(evening + 1000)
    expect(s.mod.occupancy).toBe(2)
    const midnight = Date.parse('2026-05-14T16:00:00Z')
    s.setNow(midnight + 500)
    s.mod.tick(midnight + 500)
    expect(s.mod.occupancy).toBe(0)
    // an overnight car leaving in the morning: a departure, occupancy stays at 0
    const [e] = s.send([gate('exit', '沪A11111', midnight + 30_000)])
    expect(e!.stayS).toBeUndefined()
    const aggs = s.aggregator.flush(midnight + MIN)
    expect(aggs.find((a) => a.minute === evening)!.parking).toEqual({ arrivals: 2, departures: 0, occupancy: 2 })
    expect(aggs.find((a) => a.minute === evening + MIN)!.parking).toEqual({ arrivals: 0, departures: 0, occupancy: 2 })
    expect(aggs.find((a) => a.minute === midnight)!.parking).toEqual({ arrivals: 0, departures: 1, occupancy: 0 })
  })

  it('does nothing with events before start, and the aggregate has no parking until the car park is on', () => {
    const s = setup()
    expect(s.send([gate('entry', '沪A11111', T0)])).toEqual([])
    expect(s.aggregator.flush(T0 + 2 * MIN).every((a) => a.parking === undefined)).toBe(true)
  })
})
