import { cosine } from '../pipelines/embed.ts'

/**
 * Unique visitors of the day, anonymously. Each non-member track that shows a usable face brings
 * an embedding; it is compared with the visitors already seen today (one mean embedding each):
 * close enough (cosine ≥ threshold) is the same visitor coming back or picked up again ("repeat"),
 * otherwise a new unique visitor. The embeddings live in this object's memory only: never
 * persisted, never published, no accessor hands them out; all of it is dropped at local midnight
 * of the store's time zone. Memory is bounded: past maxVisitors the least recently seen visitor is
 * forgotten (counted; a later return of theirs counts as new, so the error is an overcount).
 * countOnly keeps no embedding at all: every track is a visitor (an overcount where people are
 * tracked twice). Pure: the caller passes the frame time.
 */

export interface UniqueVisitorsOptions {
  /** IANA time zone of the store: the day starts at its local midnight. */
  timeZone: string
  /** Cosine at or above which a track is a visitor already seen today (the embedder's matchThreshold). */
  threshold: number
  /** Visitors (mean embeddings) kept at most. */
  maxVisitors: number
  /** Tracks remembered at most (their visitor link); the least recently seen go first. */
  maxTracks: number
  /** Keep no embeddings: uniques are approximated by tracks. */
  countOnly: boolean
}

export const defaultUniqueVisitors: Omit<UniqueVisitorsOptions, 'timeZone'> = {
  threshold: 0.75,
  maxVisitors: 10_000,
  maxTracks: 5_000,
  countOnly: false,
}

export type VisitorVerdict = 'new' | 'repeat'

export interface UniqueVisitorStats {
  /** Local date (YYYY-MM-DD) the counts are for. */
  day: string
  uniques: number
  repeats: number
  /** Tracks that ended without a usable face (not in uniques unless countOnly). */
  tracksWithoutFace: number
  /** Visitors in memory now. */
  visitors: number
  /** Visitors forgotten today to stay under maxVisitors. */
  evicted: number
  countOnly: boolean
}

interface Visitor {
  mean: Float32Array
  n: number
  /** Tracks linked to this visitor; a member track's own visitor is dropped when it was the only one. */
  tracks: number
}

interface Track {
  visitor?: number
  verdict?: VisitorVerdict
  member: boolean
}

export class UniqueVisitors {
  private readonly o: UniqueVisitorsOptions
  private readonly fmt: Intl.DateTimeFormat
  private day = ''
  private uniques = 0
  private repeats = 0
  private tracksWithoutFace = 0
  private evicted = 0
  private nextId = 1
  private readonly visitors = new Map<number, Visitor>()
  private readonly tracks = new Map<number, Track>()

  constructor(opts: Partial<UniqueVisitorsOptions> & Pick<UniqueVisitorsOptions, 'timeZone'>) {
    this.o = { ...defaultUniqueVisitors, ...opts }
    this.fmt = new Intl.DateTimeFormat('en-CA', { timeZone: this.o.timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
  }

  /**
   * A face observation of a non-member track (`embedding` undefined: the track was seen without a
   * usable face). Returns the verdict the first time a track is decided, else undefined.
   */
  observe(trackId: number, embedding: Float32Array | undefined, ts: number): VisitorVerdict | undefined {
    this.rollDay(ts)
    let t = this.tracks.get(trackId)
    if (t) this.tracks.delete(trackId) // re-inserted: Map order is recency
    else t = { member: false }
    this.tracks.set(trackId, t)
    while (this.tracks.size > this.o.maxTracks) this.tracks.delete(this.tracks.keys().next().value!)
    if (t.member) return undefined
    if (this.o.countOnly) {
      if (t.verdict) return undefined
      this.uniques++
      return (t.verdict = 'new')
    }
    if (!embedding) return undefined
    if (t.visitor !== undefined) {
      const v = this.visitors.get(t.visitor)
      if (v && v.mean.length === embedding.length) {
        this.touch(t.visitor, v)
        addToMean(v, embedding)
      }
      return undefined
    }
    let bestId: number | undefined
    let best = -Infinity
    for (const [id, v] of this.visitors) {
      if (v.mean.length !== embedding.length) continue // another embedding model: never the same visitor
      const s = cosine(embedding, v.mean)
      if (s > best) {
        best = s
        bestId = id
      }
    }
    if (bestId !== undefined && best >= this.o.threshold) {
      const v = this.visitors.get(bestId)!
      this.touch(bestId, v)
      addToMean(v, embedding)
      v.tracks++
      t.visitor = bestId
      this.repeats++
      return (t.verdict = 'repeat')
    }
    const id = this.nextId++
    this.visitors.set(id, { mean: Float32Array.from(embedding), n: 1, tracks: 1 })
    while (this.visitors.size > this.o.maxVisitors) {
      this.visitors.delete(this.visitors.keys().next().value!)
      this.evicted++
    }
    t.visitor = id
    this.uniques++
    return (t.verdict = 'new')
  }

  /**
   * The track turned out to be a member (recognised from the gallery): it is not an anonymous
   * visitor, so its count is taken back and a visitor embedding only it made is dropped.
   */
  markMember(trackId: number): void {
    const t = this.tracks.get(trackId) ?? { member: false }
    this.tracks.set(trackId, t)
    if (t.member) return
    t.member = true
    if (t.verdict === 'new') this.uniques--
    if (t.verdict === 'repeat') this.repeats--
    if (t.visitor !== undefined) {
      const v = this.visitors.get(t.visitor)
      if (v && --v.tracks <= 0) this.visitors.delete(t.visitor)
    }
    t.visitor = undefined
    t.verdict = undefined
  }

  /** The track ended. */
  forget(trackId: number): void {
    const t = this.tracks.get(trackId)
    if (t && !t.member && !t.verdict) this.tracksWithoutFace++
    this.tracks.delete(trackId)
  }

  /** Counts of the day containing `ts` (zeros once the day has turned). */
  stats(ts: number): UniqueVisitorStats {
    this.rollDay(ts)
    return {
      day: this.day,
      uniques: this.uniques,
      repeats: this.repeats,
      tracksWithoutFace: this.tracksWithoutFace,
      visitors: this.visitors.size,
      evicted: this.evicted,
      countOnly: this.o.countOnly,
    }
  }

  private touch(id: number, v: Visitor): void {
    this.visitors.delete(id)
    this.visitors.set(id, v)
  }

  private rollDay(ts: number): void {
    const day = this.fmt.format(ts)
    if (day === this.day) return
    this.day = day
    this.uniques = 0
    this.repeats = 0
    this.tracksWithoutFace = 0
    this.evicted = 0
    this.visitors.clear()
    this.tracks.clear()
  }
}

/** Running mean of L2-normalised embeddings, kept normalised so cosine stays a dot product. */
function addToMean(v: Visitor, e: Float32Array): void {
  const n = Math.min(v.n, 50) // a long track should not freeze the mean
  let sq = 0
  for (let i = 0; i < v.mean.length; i++) {
    const x = (v.mean[i]! * n + (e[i] ?? 0)) / (n + 1)
    v.mean[i] = x
    sq += x * x
  }
  const k = sq > 0 ? 1 / Math.sqrt(sq) : 0
  for (let i = 0; i < v.mean.length; i++) v.mean[i]! *= k
  v.n++
}
