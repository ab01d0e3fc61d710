import { createHmac } from 'node:crypto'

/**
 * Privacy by construction: a MAC becomes `h:` + HMAC-SHA256(salt of the period, mac) in the decoder,
 * before anything else sees it. The salt of a period is derived from a per-edge secret and the
 * period's key (the local date for daily rotation), so a restart within the day keeps identities
 * stable while yesterday's hashes cannot be linked to today's. Neither the secret nor any salt ever
 * leaves the edge.
 *
 * Hashing ~200k sightings/s costs too much CPU per call, and the same devices are heard by several
 * sensors every second, so results are cached per period (bounded; the cache lives only in memory).
 */
export interface MacHasherOptions {
  /** Per-edge secret (32+ random bytes), kept in the data directory. */
  secret: Buffer
  /** Rotation period in hours; 24 rotates at local midnight of `timeZone`. */
  rotationHours: number
  timeZone: string
  /** Cache entries at most; cleared on rotation. */
  cacheSize?: number
  /** Hex digits kept of the digest (80 bits by default: collisions are negligible per store). */
  digits?: number
}

export class MacHasher {
  private periodKey = ''
  private salt: Buffer = Buffer.alloc(0)
  private cache = new Map<string, string>()
  private readonly cacheSize: number
  private readonly digits: number
  private readonly dateFmt: Intl.DateTimeFormat
  private nextCheck = 0

  constructor(private readonly opts: MacHasherOptions) {
    this.cacheSize = opts.cacheSize ?? 200_000
    this.digits = opts.digits ?? 20
    this.dateFmt = new Intl.DateTimeFormat('en-CA', {
      timeZone: opts.timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      hourCycle: 'h23',
    })
  }

  /** The key of the rotation period containing `now`, in the store's local time. */
  periodOf(now: number): string {
    const parts = Object.fromEntries(this.dateFmt.formatToParts(now).map((p) => [p.type, p.value]))
    const date = `${parts.year}-${parts.month}-${parts.day}`
    const h = this.opts.rotationHours
    if (h >= 24) {
      if (h === 24) return date
      // Longer periods: count whole periods since the epoch, in local days.
      const days = Math.floor(Date.UTC(+parts.year!, +parts.month! - 1, +parts.day!) / 86_400_000)
      return `p${Math.floor(days / (h / 24))}`
    }
    return `${date}T${Math.floor(Number(parts.hour) / h)}`
  }

  /** Recompute the salt when the period changed; cheap to call on every message. */
  rotateIfDue(now: number): void {
    if (now < this.nextCheck && this.periodKey) return
    this.nextCheck = now + 10_000
    const key = this.periodOf(now)
    if (key === this.periodKey) return
    this.periodKey = key
    this.salt = createHmac('sha256', this.opts.secret).update(`salt:${key}`).digest()
    this.cache = new Map()
  }

  get period(): string {
    return this.periodKey
  }

  /** `mac` must already be normalised (`aa:bb:cc:dd:ee:ff`). */
  hash(mac: string): string {
    let h = this.cache.get(mac)
    if (h !== undefined) return h
    h = 'h:' + createHmac('sha256', this.salt).update(mac).digest('hex').slice(0, this.digits)
    if (this.cache.size >= this.cacheSize) {
      // Map keeps insertion order: drop the oldest entry (cheap FIFO bound).
      const first = this.cache.keys().next().value
      if (first !== undefined) this.cache.delete(first)
    }
    this.cache.set(mac, h)
    return h
  }
}
