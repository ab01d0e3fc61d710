import { describe, expect, it } from 'vitest'
import { CarPark, parkingEventId, resetPeriod, type GateObservation } from './car-park.ts'

const T0 = Date.parse('2026-05-14T02:00:00Z') // 10:00 in Shanghai
const obs = (type: 'entry' | 'exit', car: string, ts: number, extra: Partial<GateObservation> = {}): GateObservation => ({
  deviceId: 'gate-1',
  type,
  gate: type === 'entry' ? 'in' : 'out',
  ts,
  subject: `h:${car}`,
  stayKey: `k-${car}`,
  plateValid: true,
  ...extra,
})

function event(cp: CarPark, o: GateObservation) {
  const r = cp.observe(o)
  if (r.kind !== 'event') throw new Error(`expected an event, got a duplicate by ${r.by}`)
  return r
}

describe('CarPark', () => {
  it('matches an exit to its entry and gives the stay', () => {
    const cp = new CarPark({ storeId: 's1' })
    const a = event(cp, obs('entry', 'a', T0))
    expect(a.event).toMatchObject({ v: 1, type: 'entry', storeId: 's1', gate: 'in', ts: T0, subject: 'h:a', plateValid: true })
    expect(a.event.stayS).toBeUndefined()
    expect(a.occupancy).toBe(1)
    event(cp, obs('entry', 'b', T0 + 1000))
    const out = event(cp, obs('exit', 'a', T0 + 2 * 3_600_000 + 500))
    expect(out.matched).toBe(true)
    expect(out.event.stayS).toBe(7200.5)
    expect(out.occupancy).toBe(1)
    expect(cp.totals).toMatchObject({ arrivals: 2, departures: 1, matched: 1, unmatchedExits: 0 })
  })

  it('counts an exit without an entry as a departure, never letting occupancy below 0', () => {
    const cp = new CarPark({ storeId: 's1' })
    const r = event(cp, obs('exit', 'ghost', T0))
    expect(r.matched).toBe(false)
    expect(r.event.stayS).toBeUndefined()
    expect(r.occupancy).toBe(0)
    event(cp, obs('entry', 'a', T0 + 1))
    event(cp, obs('exit', 'ghost2', T0 + 2))
    event(cp, obs('exit', 'ghost3', T0 + 3))
    expect(cp.occupancy).toBe(0)
    expect(cp.totals).toMatchObject({ arrivals: 1, departures: 3, unmatchedExits: 3 })
  })

  it('a second entry while a stay is open restarts the stay and keeps the occupancy (the exit was missed)', () => {
    const cp = new CarPark({ storeId: 's1' })
    event(cp, obs('entry', 'a', T0))
    expect(event(cp, obs('entry', 'a', T0 + 60_000)).occupancy).toBe(1)
    expect(event(cp, obs('exit', 'a', T0 + 120_000)).event.stayS).toBe(60)
    expect(cp.totals.arrivals).toBe(2)
  })

  it('drops repeated deliveries by the parking system id and by (plate, type, gate, ts)', () => {
    const cp = new CarPark({ storeId: 's1' })
    event(cp, obs('entry', 'a', T0, { sourceId: 'e1' }))
    expect(cp.observe(obs('entry', 'a', T0, { sourceId: 'e1' }))).toEqual({ kind: 'duplicate', by: 'id' })
    // same id from the same device, even if the content differs (a corrected re-send)
    expect(cp.observe(obs('entry', 'b', T0 + 5, { sourceId: 'e1' }))).toEqual({ kind: 'duplicate', by: 'id' })
    // the same id from another device is another event
    expect(cp.observe(obs('entry', 'c', T0, { sourceId: 'e1', deviceId: 'gate-2' })).kind).toBe('event')
    // no id: the content decides
    event(cp, obs('entry', 'd', T0 + 7))
    expect(cp.observe(obs('entry', 'd', T0 + 7))).toEqual({ kind: 'duplicate', by: 'content' })
    expect(cp.observe(obs('entry', 'd', T0 + 7, { gate: 'in-2' })).kind).toBe('event')
    expect(cp.occupancy).toBe(3) // a, c, d (d's second entry on another lane: stay restarted)
    expect(cp.totals.duplicates).toBe(3)
  })

  it('forgets de-duplication keys after the window', () => {
    const cp = new CarPark({ storeId: 's1', dedupeWindowMs: 60_000 })
    event(cp, obs('entry', 'a', T0, { sourceId: 'e1' }))
    cp.prune(T0 + 59_000)
    expect(cp.observe(obs('entry', 'a', T0, { sourceId: 'e1' })).kind).toBe('duplicate')
    cp.prune(T0 + 61_000)
    expect(cp.observe(obs('entry', 'a', T0, { sourceId: 'e1' })).kind).toBe('event')
  })

  it('unreadable plates count but never open or close a stay', () => {
    const cp = new CarPark({ storeId: 's1' })
    event(cp, obs('entry', 'x', T0, { plateValid: false }))
    const out = event(cp, obs('exit', 'x', T0 + 60_000, { plateValid: false }))
    expect(out.matched).toBe(false)
    expect(out.event.stayS).toBeUndefined()
    expect(out.event.plateValid).toBe(false)
    expect(cp.occupancy).toBe(0)
    expect(cp.openStays).toBe(0)
    expect(cp.totals).toMatchObject({ arrivals: 1, departures: 1 })
  })

  it('reset empties the car park; prune drops stays older than maxStayMs', () => {
    const cp = new CarPark({ storeId: 's1', maxStayMs: 3_600_000 })
    event(cp, obs('entry', 'a', T0))
    event(cp, obs('entry', 'b', T0 + 30 * 60_000))
    cp.prune(T0 + 3_600_000 + 1)
    expect(cp.openStays).toBe(1)
    expect(event(cp, obs('exit', 'a', T0 + 2 * 3_600_000)).matched).toBe(false)
    cp.reset()
    expect(cp.occupancy).toBe(0)
    expect(cp.openStays).toBe(0)
    expect(event(cp, obs('exit', 'b', T0 + 3 * 3_600_000)).matched).toBe(false)
  })

  it('carries the member ref and gives deterministic ids', () => {
    const cp = new CarPark({ storeId: 's1' })
    const e = event(cp, obs('entry', 'm', T0, { subject: 'member:m-7', memberRef: 'm-7' })).event
    expect(e.memberRef).toBe('m-7')
    expect(e.id).toMatch(/^[0-9a-f]{32}$/)
    expect(e.id).toBe(parkingEventId('s1', { deviceId: 'gate-1', type: 'entry', gate: 'in', ts: T0, subject: 'member:m-7' }))
    expect(parkingEventId('s1', { deviceId: 'gate-1', sourceId: 'e1', type: 'entry', gate: 'in', ts: T0, subject: 'x' })).toBe(
      parkingEventId('s1', { deviceId: 'gate-1', sourceId: 'e1', type: 'exit', gate: 'out', ts: T0 + 1, subject: 'y' }),
    )
    expect(parkingEventId('s2', { deviceId: 'gate-1', type: 'entry', gate: 'in', ts: T0, subject: 'member:m-7' })).not.toBe(e.id)
  })
})

describe('resetPeriod', () => {
  it('changes at the local reset time of the store', () => {
    const sh = (iso: string) => Date.parse(iso)
    // Shanghai is UTC+8: local midnight is 16:00Z
    expect(resetPeriod(sh('2026-05-14T15:59:59Z'), 'Asia/Shanghai', '00:00')).toBe('2026-05-14')
    expect(resetPeriod(sh('2026-05-14T16:00:00Z'), 'Asia/Shanghai', '00:00')).toBe('2026-05-15')
    // a 04:30 reset: the night's cars stay counted until then
    expect(resetPeriod(sh('2026-05-14T20:29:00Z'), 'Asia/Shanghai', '04:30')).toBe('2026-05-14')
    expect(resetPeriod(sh('2026-05-14T20:30:00Z'), 'Asia/Shanghai', '04:30')).toBe('2026-05-15')
    expect(resetPeriod(T0, 'Asia/Shanghai', '')).toBeUndefined()
  })

  it('stays at the local reset time on the days clocks change (a 04:00 reset in New York)', () => {
    const at = (iso: string) => resetPeriod(Date.parse(iso), 'America/New_York', '04:00')
    // 2026-03-08: clocks go forward at 02:00 EST; 04:00 EDT is 08:00Z (not 09:00Z, an hour late).
    expect(at('2026-03-08T07:59:00Z')).toBe('2026-03-07')
    expect(at('2026-03-08T08:00:00Z')).toBe('2026-03-08')
    // 2026-11-01: clocks go back at 02:00 EDT; 04:00 EST is 09:00Z.
    expect(at('2026-11-01T08:59:00Z')).toBe('2026-10-31')
    expect(at('2026-11-01T09:00:00Z')).toBe('2026-11-01')
  })
})
