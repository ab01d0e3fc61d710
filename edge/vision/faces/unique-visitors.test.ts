import { describe, expect, it } from 'vitest'
import { UniqueVisitors } from './unique-visitors.ts'

/** Counting arithmetic with synthetic unit vectors; tests/faces.members.test.ts uses real embeddings. */

/** Unit vector along axis i, nudged by eps along axis i+1 (same visitor for small eps). */
function vec(i: number, eps = 0, dims = 8): Float32Array {
  const v = new Float32Array(dims)
  v[i % dims] = 1
  v[(i + 1) % dims] = eps
  const n = Math.hypot(...v)
  return v.map((x) => x / n)
}
const DAY = Date.UTC(2026, 11, 3, 12) // noon UTC

describe('UniqueVisitors', () => {
  it('a track close to a visitor of the day is a repeat, else new; decided once per track', () => {
    const u = new UniqueVisitors({ timeZone: 'UTC', threshold: 0.9 })
    expect(u.observe(1, vec(0), DAY)).toBe('new')
    expect(u.observe(1, vec(0, 0.1), DAY + 1)).toBeUndefined()
    expect(u.observe(2, vec(0, 0.2), DAY + 2)).toBe('repeat')
    expect(u.observe(3, vec(3), DAY + 3)).toBe('new')
    expect(u.observe(4, undefined, DAY + 4)).toBeUndefined()
    u.forget(4)
    expect(u.stats(DAY + 5)).toMatchObject({ uniques: 2, repeats: 1, tracksWithoutFace: 1, visitors: 2, day: '2026-12-03' })
  })
  it('resets at local midnight of the store time zone', () => {
    const u = new UniqueVisitors({ timeZone: 'Asia/Tokyo', threshold: 0.9 }) // UTC+9: midnight is 15:00 UTC
    u.observe(1, vec(0), Date.UTC(2026, 11, 3, 14, 59))
    expect(u.stats(Date.UTC(2026, 11, 3, 14, 59, 59))).toMatchObject({ uniques: 1, day: '2026-12-03' })
    expect(u.stats(Date.UTC(2026, 11, 3, 15, 0))).toMatchObject({ uniques: 0, visitors: 0, day: '2026-12-04' })
    // the same face the next day is a new unique of that day
    expect(u.observe(2, vec(0), Date.UTC(2026, 11, 3, 15, 1))).toBe('new')
  })
  it('keeps at most maxVisitors, forgetting the least recently seen (counted)', () => {
    const u = new UniqueVisitors({ timeZone: 'UTC', threshold: 0.9, maxVisitors: 2 })
    u.observe(1, vec(0), DAY)
    u.observe(2, vec(2), DAY)
    u.observe(1, vec(0), DAY + 1) // visitor 0 seen again: visitor 2 is now the oldest
    u.observe(3, vec(4), DAY + 2)
    expect(u.stats(DAY + 3)).toMatchObject({ visitors: 2, evicted: 1, uniques: 3 })
    expect(u.observe(4, vec(0), DAY + 4)).toBe('repeat')
    expect(u.observe(5, vec(2), DAY + 5)).toBe('new')
  })
  it('countOnly: every track is a unique and no embedding is kept', () => {
    const u = new UniqueVisitors({ timeZone: 'UTC', countOnly: true })
    expect(u.observe(1, vec(0), DAY)).toBe('new')
    expect(u.observe(1, vec(0), DAY + 1)).toBeUndefined()
    expect(u.observe(2, undefined, DAY + 2)).toBe('new')
    expect(u.observe(3, vec(0), DAY + 3)).toBe('new')
    expect(u.stats(DAY + 4)).toMatchObject({ uniques: 3, repeats: 0, visitors: 0, countOnly: true })
  })
  it('a track recognised as a member is taken back out of the anonymous counts', () => {
    const u = new UniqueVisitors({ timeZone: 'UTC', threshold: 0.9 })
    u.observe(1, vec(0), DAY)
    u.observe(2, vec(5), DAY)
    u.markMember(2)
    expect(u.observe(2, vec(5), DAY + 1)).toBeUndefined()
    expect(u.stats(DAY + 2)).toMatchObject({ uniques: 1, visitors: 1 })
    // their embedding is gone: the same face on another (unrecognised) track is new
    expect(u.observe(3, vec(5), DAY + 3)).toBe('new')
  })
})
