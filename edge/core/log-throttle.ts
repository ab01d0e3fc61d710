/**
 * At most one log line per key per interval, so a flood of bad input never becomes a log flood.
 * Bounded: the memory is forgotten wholesale past `maxKeys`.
 */
export class LogThrottle {
  private readonly last = new Map<string, number>()
  constructor(
    private readonly intervalMs = 10_000,
    private readonly maxKeys = 10_000,
  ) {}

  shouldLog(key: string, now: number): boolean {
    if ((this.last.get(key) ?? -Infinity) + this.intervalMs > now) return false
    if (this.last.size >= this.maxKeys) this.last.clear()
    this.last.set(key, now)
    return true
  }
}
