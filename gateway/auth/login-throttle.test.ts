import { describe, expect, it } from 'vitest'
import { LoginThrottle } from './login-throttle.ts'

const T = 1_700_000_000_000

describe('LoginThrottle', () => {
  it('allows maxFailures - 1 failures, then bans the pair for banMs', () => {
    const t = new LoginThrottle({ maxFailures: 3, banMs: 30_000 })
    t.failed('1.2.3.4', 'alice', T)
    t.failed('1.2.3.4', 'alice', T + 1000)
    expect(t.retryAfterMs('1.2.3.4', 'alice', T + 1000)).toBe(0)
    t.failed('1.2.3.4', 'alice', T + 2000)
    expect(t.retryAfterMs('1.2.3.4', 'alice', T + 2000)).toBe(30_000)
    expect(t.retryAfterMs('1.2.3.4', 'alice', T + 12_000)).toBe(20_000)
    expect(t.retryAfterMs('1.2.3.4', 'alice', T + 32_000)).toBe(0)
  })

  it('keys by address and username: other pairs are not affected', () => {
    const t = new LoginThrottle({ maxFailures: 2, banMs: 10_000 })
    t.failed('1.2.3.4', 'alice', T)
    t.failed('1.2.3.4', 'alice', T)
    expect(t.retryAfterMs('1.2.3.4', 'alice', T)).toBe(10_000)
    expect(t.retryAfterMs('1.2.3.4', 'bob', T)).toBe(0)
    expect(t.retryAfterMs('5.6.7.8', 'alice', T)).toBe(0)
  })

  it('failures more than a minute apart start a new count', () => {
    const t = new LoginThrottle({ maxFailures: 3, banMs: 10_000 })
    t.failed('ip', 'u', T)
    t.failed('ip', 'u', T + 30_000)
    t.failed('ip', 'u', T + 90_001) // the first two are forgotten
    t.failed('ip', 'u', T + 100_000)
    expect(t.retryAfterMs('ip', 'u', T + 100_000)).toBe(0)
    t.failed('ip', 'u', T + 110_000)
    expect(t.retryAfterMs('ip', 'u', T + 110_000)).toBe(10_000)
  })

  it('after a ban, maxFailures more failures are needed for the next one', () => {
    const t = new LoginThrottle({ maxFailures: 2, banMs: 5_000 })
    t.failed('ip', 'u', T)
    t.failed('ip', 'u', T)
    t.failed('ip', 'u', T + 6_000)
    expect(t.retryAfterMs('ip', 'u', T + 6_000)).toBe(0)
    t.failed('ip', 'u', T + 7_000)
    expect(t.retryAfterMs('ip', 'u', T + 7_000)).toBe(5_000)
  })

  it('a success clears the record', () => {
    const t = new LoginThrottle({ maxFailures: 2, banMs: 5_000 })
    t.failed('ip', 'u', T)
    t.succeeded('ip', 'u')
    t.failed('ip', 'u', T + 1)
    expect(t.retryAfterMs('ip', 'u', T + 1)).toBe(0)
  })

  it('banMs 0 never bans', () => {
    const t = new LoginThrottle({ maxFailures: 1, banMs: 0 })
    for (let i = 0; i < 10; i++) t.failed('ip', 'u', T + i)
    expect(t.retryAfterMs('ip', 'u', T + 10)).toBe(0)
  })

  it('memory is bounded by maxEntries: the oldest pair is forgotten first', () => {
    const t = new LoginThrottle({ maxFailures: 2, banMs: 60_000, maxEntries: 3 })
    t.failed('ip', 'first', T)
    t.failed('ip', 'first', T)
    expect(t.retryAfterMs('ip', 'first', T)).toBe(60_000)
    for (const u of ['b', 'c', 'd']) t.failed('ip', u, T)
    expect(t.retryAfterMs('ip', 'first', T)).toBe(0)
    t.failed('ip', 'd', T)
    expect(t.retryAfterMs('ip', 'd', T)).toBe(60_000)
  })
})
