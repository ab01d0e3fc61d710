import { describe, expect, it } from 'vitest'
import { OccupancyCounter, resetPeriodKey } from './occupancy.ts'

const at = (iso: string) => Date.parse(iso)

describe('OccupancyCounter', () => {
  it('in − out, clamped at zero with the clamps counted as drift', () => {
    const o = new OccupancyCounter({ resetAt: '' })
    const t = at('2026-06-01T10:00:00Z')
    o.crossing('in', t)
    o.crossing('in', t + 1)
    o.crossing('out', t + 2)
    expect(o.value()).toBe(1)
    o.crossing('out', t + 3)
    o.crossing('out', t + 4) // nobody left to leave
    o.crossing('out', t + 5)
    expect(o.value()).toBe(0)
    expect(o.stats()).toMatchObject({ occupancy: 0, ins: 2, outs: 4, clamps: 2 })
    o.crossing('in', t + 6)
    expect(o.value()).toBe(1)
  })

  it('observe() pulls the estimate towards the seen count by the gain per observation', () => {
    const o = new OccupancyCounter({ resetAt: '', gain: 0.05 })
    const t = at('2026-06-01T10:00:00Z')
    for (let i = 0; i < 10; i++) o.crossing('in', t)
    o.observe(6, t + 1000)
    expect(o.stats().estimate).toBeCloseTo(9.8, 12)
    // Error 4 × 0.95ⁿ: halved after 14 observations, under 0.5 after 41.
    for (let i = 2; i <= 14; i++) o.observe(6, t + i * 1000)
    expect(o.stats().estimate - 6).toBeCloseTo(4 * 0.95 ** 14, 9)
    expect(o.value()).toBe(8)
    for (let i = 15; i <= 41; i++) o.observe(6, t + i * 1000)
    expect(o.value()).toBe(6)
    expect(o.stats().corrected).toBeCloseTo(-4 * (1 - 0.95 ** 41), 9)
    // One odd observation barely moves it.
    o.observe(0, t + 50_000)
    expect(o.value()).toBe(6)
  })

  it('resets daily at the local time in a zone without DST', () => {
    const o = new OccupancyCounter({ timeZone: 'Asia/Shanghai', resetAt: '04:00' })
    expect(o.crossing('in', at('2026-06-01T12:00:00Z'))).toBe(false)
    o.crossing('in', at('2026-06-01T13:00:00Z'))
    expect(o.tick(at('2026-06-01T19:59:59Z'))).toBe(false) // 03:59:59 local
    expect(o.value()).toBe(2)
    expect(o.crossing('in', at('2026-06-01T20:00:00Z'))).toBe(true) // 04:00 local: new day, then the in
    expect(o.stats()).toMatchObject({ occupancy: 1, ins: 1, outs: 0, resets: 1, period: '2026-06-02' })
    expect(o.tick(at('2026-06-02T19:00:00Z'))).toBe(false)
    expect(o.tick(at('2026-06-02T20:00:00Z'))).toBe(true)
    expect(o.value()).toBe(0)
  })

  it('DST starts: a reset time in the skipped hour happens at the first instant after it; a later one on time', () => {
    // America/New_York, 2026-03-08: 02:00 EST (07:00Z) becomes 03:00 EDT.
    const skipped = new OccupancyCounter({ timeZone: 'America/New_York', resetAt: '02:30' }, at('2026-03-07T20:00:00Z'))
    skipped.crossing('in', at('2026-03-08T06:00:00Z'))
    expect(skipped.tick(at('2026-03-08T06:59:59Z'))).toBe(false) // 01:59:59 EST
    expect(skipped.tick(at('2026-03-08T07:00:00Z'))).toBe(true) // 03:00 EDT
    const four = new OccupancyCounter({ timeZone: 'America/New_York', resetAt: '04:00' }, at('2026-03-07T20:00:00Z'))
    expect(four.tick(at('2026-03-08T07:59:00Z'))).toBe(false) // 03:59 EDT
    expect(four.tick(at('2026-03-08T08:00:00Z'))).toBe(true) // 04:00 EDT, not an hour late
  })

  it('DST ends: a reset time in the repeated hour resets once', () => {
    // America/New_York, 2026-11-01: 02:00 EDT (06:00Z) becomes 01:00 EST; 01:30 happens twice.
    const o = new OccupancyCounter({ timeZone: 'America/New_York', resetAt: '01:30' }, at('2026-10-31T20:00:00Z'))
    o.crossing('in', at('2026-11-01T05:00:00Z'))
    expect(o.tick(at('2026-11-01T05:29:00Z'))).toBe(false) // 01:29 EDT
    expect(o.tick(at('2026-11-01T05:30:00Z'))).toBe(true) // 01:30 EDT
    o.crossing('in', at('2026-11-01T05:45:00Z'))
    expect(o.tick(at('2026-11-01T06:10:00Z'))).toBe(false) // 01:10 EST: local time went back
    expect(o.tick(at('2026-11-01T06:30:00Z'))).toBe(false) // 01:30 EST, again
    expect(o.value()).toBe(1)
    expect(o.tick(at('2026-11-02T06:29:00Z'))).toBe(false)
    expect(o.tick(at('2026-11-02T06:30:00Z'))).toBe(true) // 01:30 EST next day
    expect(o.stats().resets).toBe(2)
  })

  it('resetPeriodKey: the local date, or the day before until the reset time; off when empty', () => {
    expect(resetPeriodKey(at('2026-01-01T03:59:00Z'), 'UTC', '04:00')).toBe('2025-12-31')
    expect(resetPeriodKey(at('2026-01-01T04:00:00Z'), 'UTC', '04:00')).toBe('2026-01-01')
    expect(resetPeriodKey(at('2026-03-01T00:00:00Z'), 'UTC', '00:00')).toBe('2026-03-01')
    expect(resetPeriodKey(at('2026-03-01T00:00:00Z'), 'UTC', '00:01')).toBe('2026-02-28')
    expect(resetPeriodKey(0, 'UTC', '')).toBeUndefined()
    const o = new OccupancyCounter({ resetAt: '' })
    o.crossing('in', 0)
    expect(o.tick(10 * 86_400_000)).toBe(false)
    expect(o.value()).toBe(1)
  })
})
