import { describe, expect, it } from 'vitest'
import { AuthBackoff } from './auth-backoff.ts'

describe('AuthBackoff', () => {
  const opts = { maxFailures: 3, windowMs: 60_000, banMs: 10_000 }

  it('bans a pair after maxFailures within the window, for banMs, doubling on repeat', () => {
    const b = new AuthBackoff(opts)
    expect(b.failure('1.2.3.4', 'dev', 0)).toBe(false)
    expect(b.failure('1.2.3.4', 'dev', 1)).toBe(false)
    expect(b.blockedFor('1.2.3.4', 'dev', 2)).toBe(0)
    expect(b.failure('1.2.3.4', 'dev', 2)).toBe(true)
    expect(b.blockedFor('1.2.3.4', 'dev', 3)).toBe(9_999)
    expect(b.blockedFor('1.2.3.4', 'dev', 10_002)).toBe(0)
    for (let i = 0; i < 3; i++) b.failure('1.2.3.4', 'dev', 20_000 + i)
    expect(b.blockedFor('1.2.3.4', 'dev', 20_002)).toBe(20_000) // second ban: twice as long
  })

  it('keys by address and username: other devices on the same address, and the same device elsewhere, may try', () => {
    const b = new AuthBackoff(opts)
    for (let i = 0; i < 3; i++) b.failure('1.2.3.4', 'dev', i)
    expect(b.blockedFor('1.2.3.4', 'dev', 5)).toBeGreaterThan(0)
    expect(b.blockedFor('1.2.3.4', 'other', 5)).toBe(0)
    expect(b.blockedFor('5.6.7.8', 'dev', 5)).toBe(0)
  })

  it('forgets failures outside the window and after a success', () => {
    const b = new AuthBackoff(opts)
    b.failure('a', 'dev', 0)
    b.failure('a', 'dev', 1)
    expect(b.failure('a', 'dev', 70_000)).toBe(false) // window restarted
    b.failure('a', 'dev', 70_001)
    b.success('a', 'dev')
    expect(b.failure('a', 'dev', 70_002)).toBe(false)
  })

  it('stays bounded', () => {
    const b = new AuthBackoff({ ...opts, maxEntries: 100 })
    for (let i = 0; i < 1000; i++) b.failure(`10.0.${i >> 8}.${i & 255}`, 'dev', i)
    expect((b as unknown as { entries: Map<string, unknown> }).entries.size).toBeLessThanOrEqual(100)
  })
})
