import { describe, expect, it } from 'vitest'
import { MacHasher } from './mac-hasher.ts'

const secret = Buffer.alloc(32, 7)

describe('MacHasher', () => {
  it('hashes the same MAC to the same id within a day and to another id the next day', () => {
    const h = new MacHasher({ secret, rotationHours: 24, timeZone: 'Asia/Shanghai' })
    const day1 = Date.parse('2026-11-23T10:00:00+08:00')
    h.rotateIfDue(day1)
    const a = h.hash('aa:bb:cc:dd:ee:01')
    expect(a).toMatch(/^h:[0-9a-f]{20}$/)
    expect(a).not.toContain('aa:bb')
    expect(h.hash('aa:bb:cc:dd:ee:01')).toBe(a)
    expect(h.hash('aa:bb:cc:dd:ee:02')).not.toBe(a)
    h.rotateIfDue(Date.parse('2026-11-24T00:00:01+08:00'))
    expect(h.hash('aa:bb:cc:dd:ee:01')).not.toBe(a)
  })

  it('rotates at local midnight of the store, not UTC midnight', () => {
    const h = new MacHasher({ secret, rotationHours: 24, timeZone: 'Asia/Shanghai' })
    // 23:30 UTC is already the next day in Shanghai (UTC+8).
    expect(h.periodOf(Date.parse('2026-11-23T23:30:00Z'))).toBe('2026-11-24')
    expect(h.periodOf(Date.parse('2026-11-23T15:59:59Z'))).toBe('2026-11-23')
  })

  it('survives a restart within the period (same secret → same ids) and differs across edges', () => {
    const t = Date.parse('2026-11-23T12:00:00Z')
    const h1 = new MacHasher({ secret, rotationHours: 24, timeZone: 'UTC' })
    const h2 = new MacHasher({ secret, rotationHours: 24, timeZone: 'UTC' })
    const other = new MacHasher({ secret: Buffer.alloc(32, 8), rotationHours: 24, timeZone: 'UTC' })
    for (const x of [h1, h2, other]) x.rotateIfDue(t)
    expect(h1.hash('aa:bb:cc:dd:ee:01')).toBe(h2.hash('aa:bb:cc:dd:ee:01'))
    expect(other.hash('aa:bb:cc:dd:ee:01')).not.toBe(h1.hash('aa:bb:cc:dd:ee:01'))
  })

  it('supports sub-daily rotation and keeps its cache bounded', () => {
    const h = new MacHasher({ secret, rotationHours: 6, timeZone: 'UTC', cacheSize: 10 })
    expect(h.periodOf(Date.parse('2026-11-23T05:00:00Z'))).toBe('2026-11-23T0')
    expect(h.periodOf(Date.parse('2026-11-23T07:00:00Z'))).toBe('2026-11-23T1')
    h.rotateIfDue(Date.parse('2026-11-23T05:00:00Z'))
    const first = h.hash('aa:bb:cc:dd:ee:00')
    for (let i = 1; i < 30; i++) h.hash(`aa:bb:cc:dd:ee:${i.toString(16).padStart(2, '0')}`)
    expect(h.hash('aa:bb:cc:dd:ee:00')).toBe(first) // recomputed after eviction, same value
  })
})
