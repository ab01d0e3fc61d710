import { describe, expect, it } from 'vitest'
import { LogThrottle } from './log-throttle.ts'

describe('LogThrottle', () => {
  it('lets one line per key through per interval and stays bounded', () => {
    const t = new LogThrottle(10_000, 3)
    expect(t.shouldLog('a', 0)).toBe(true)
    expect(t.shouldLog('a', 9_999)).toBe(false)
    expect(t.shouldLog('b', 5)).toBe(true)
    expect(t.shouldLog('a', 10_000)).toBe(true)
    for (const k of ['c', 'd', 'e']) t.shouldLog(k, 20_000)
    expect((t as unknown as { last: Map<string, number> }).last.size).toBeLessThanOrEqual(3)
  })
})
