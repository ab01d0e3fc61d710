/**
 * Failed dashboard logins per (address, username): after `maxFailures` within a minute the pair
 * waits `banMs` before the next password check (no scrypt work while refused). Bounded memory;
 * pure, time passed in. The edge broker has its own, escalating variant for device logins.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { n: number; since: number; until: number }>()

  constructor(private readonly opts: { maxFailures: number; banMs: number; maxEntries?: number }) {}

  retryAfterMs(address: string, username: string, now: number): number {
    const e = this.failures.get(`${address}\u0000${username}`)
    return e && e.until > now ? e.until - now : 0
  }

  failed(address: string, username: string, now: number): void {
    const k = `${address}\u0000${username}`
    let e = this.failures.get(k)
    if (!e || now - e.since > 60_000) {
      this.failures.delete(k)
      if (this.failures.size >= (this.opts.maxEntries ?? 10_000)) this.failures.delete(this.failures.keys().next().value!)
      e = { n: 0, since: now, until: 0 }
      this.failures.set(k, e)
    }
    if (++e.n >= this.opts.maxFailures) {
      e.until = now + this.opts.banMs
      e.n = 0
      e.since = now
    }
  }

  succeeded(address: string, username: string): void {
    this.failures.delete(`${address}\u0000${username}`)
  }
}
