/**
 * Per-source bounded queues served round-robin. A camera that produces frames faster than the
 * workers consume them keeps only its `depth` newest frames (a newer frame pushes the oldest out),
 * and a busy camera cannot starve a quiet one: sources take turns, one job each.
 * Memory is bounded by maxSources × depth waiting jobs. Pure: no timers, no I/O.
 */
export interface Sourced {
  source: string
}

export type PushResult<J> = { accepted: true; dropped?: J } | { accepted: false; reason: 'sources' }

export class FairQueue<J extends Sourced> {
  private readonly bySource = new Map<string, J[]>()
  /** Sources with waiting jobs, in serving order: the head is served next, then goes to the back. */
  private order: string[] = []
  private count = 0

  constructor(
    readonly depth: number,
    readonly maxSources: number,
  ) {
    if (!(depth >= 1) || !(maxSources >= 1)) throw new RangeError('depth and maxSources must be at least 1')
  }

  get size(): number {
    return this.count
  }

  get sources(): number {
    return this.bySource.size
  }

  /** Queue a job; past the source's depth the oldest waiting job of that source is returned as dropped. */
  push(job: J): PushResult<J> {
    let q = this.bySource.get(job.source)
    if (!q) {
      if (this.bySource.size >= this.maxSources) return { accepted: false, reason: 'sources' }
      q = []
      this.bySource.set(job.source, q)
      this.order.push(job.source)
    }
    let dropped: J | undefined
    if (q.length >= this.depth) {
      dropped = q.shift()
      this.count--
    }
    q.push(job)
    this.count++
    return dropped ? { accepted: true, dropped } : { accepted: true }
  }

  /**
   * The oldest job of the next source in turn, skipping sources for which `busy` says so (they keep
   * their place at the head of the turn order).
   */
  next(busy?: (source: string) => boolean): J | undefined {
    const i = busy ? this.order.findIndex((s) => !busy(s)) : 0
    if (i < 0 || i >= this.order.length) return undefined
    const source = this.order.splice(i, 1)[0]!
    const q = this.bySource.get(source)!
    const job = q.shift()!
    this.count--
    if (q.length) this.order.push(source)
    else this.bySource.delete(source)
    return job
  }

  /** Remove and return every waiting job (stop). */
  drain(): J[] {
    const all: J[] = []
    for (const source of this.order) all.push(...this.bySource.get(source)!)
    this.bySource.clear()
    this.order = []
    this.count = 0
    return all
  }
}
