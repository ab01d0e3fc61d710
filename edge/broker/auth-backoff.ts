/**
 * Failed-login backoff per (remote address, username), so a password guesser neither gets many
 * tries nor keeps the scrypt thread pool busy: after `maxFailures` failures within `windowMs`,
 * that pair is refused without a password check for `banMs`, doubling on each new ban up to
 * 32× (reset by a successful login). Other devices behind the same address are unaffected.
 * Pure: time is passed in; the state is bounded (oldest entries dropped past `maxEntries`).
 */
export interface AuthBackoffOptions {
  maxFailures: number
  windowMs: number
  banMs: number
  maxEntries?: number
}

interface Entry {
  failures: number
  windowStart: number
  bannedUntil: number
  bans: number
}

export class AuthBackoff {
  private readonly entries = new Map<string, Entry>()
  constructor(private readonly opts: AuthBackoffOptions) {}

  private key(address: string, username: string): string {
    return `${address}\u0000${username}`
  }

  /** Milliseconds the pair must still wait, 0 when it may try. */
  blockedFor(address: string, username: string, now: number): number {
    const e = this.entries.get(this.key(address, username))
    return e && e.bannedUntil > now ? e.bannedUntil - now : 0
  }

  /** Record a failure; returns true when it started a ban. */
  failure(address: string, username: string, now: number): boolean {
    const k = this.key(address, username)
    let e = this.entries.get(k)
    if (!e) {
      if (this.entries.size >= (this.opts.maxEntries ?? 10_000)) {
        const oldest = this.entries.keys().next().value
        if (oldest !== undefined) this.entries.delete(oldest)
      }
      e = { failures: 0, windowStart: now, bannedUntil: 0, bans: 0 }
      this.entries.set(k, e)
    }
    if (now - e.windowStart > this.opts.windowMs) {
      e.failures = 0
      e.windowStart = now
    }
    e.failures++
    if (e.failures < this.opts.maxFailures) return false
    e.bannedUntil = now + this.opts.banMs * 2 ** Math.min(e.bans, 5)
    e.bans++
    e.failures = 0
    e.windowStart = now
    return true
  }

  success(address: string, username: string): void {
    this.entries.delete(this.key(address, username))
  }
}
