/** Token bucket per client: `ratePerSec` sustained, `burst` at once. Pure; time is passed in. */
export class TokenBucket {
  private tokens: number
  private last: number
  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst
    this.last = now
  }

  take(now: number, n = 1): boolean {
    const elapsed = now - this.last
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSec) / 1000)
      this.last = now
    }
    if (this.tokens >= n) {
      this.tokens -= n
      return true
    }
    return false
  }
}
