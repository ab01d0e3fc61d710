/**
 * Member recognition by votes: one face match in one frame is not enough (a blurred frame, a
 * look-alike at a bad angle), so a track becomes a member only when at least minVotes of its last
 * windowSize face observations matched the same member above the threshold. Once per track (the
 * rest of the visit is the same person), and once per member per cooldown (the same member picked
 * up again by another camera or a new track after an occlusion is not a second arrival). Pure: the
 * caller passes the frame time; state is bounded by maxTracks (least recently seen tracks go first).
 */

export interface RecognizerOptions {
  /** Face observations of a track that vote (the most recent ones). */
  windowSize: number
  /** Matches of the same member within the window that recognise the track. */
  minVotes: number
  /** Least gallery score for a match to count as a vote (the gallery's own threshold applies first). */
  threshold: number
  /** A member recognised is not recognised again within this many ms (any track, any camera of this recognizer). */
  cooldownMs: number
  /** Tracks remembered at most. */
  maxTracks: number
}

export const defaultRecognizer: RecognizerOptions = {
  windowSize: 5,
  minVotes: 3,
  threshold: 0.75,
  cooldownMs: 10 * 60_000,
  maxTracks: 1000,
}

/** A gallery match of one face observation (GalleryMatch). */
export interface VoteMatch {
  ref: string
  score: number
}

export interface Recognition {
  trackId: number
  ref: string
  ts: number
  /** Votes for ref in the window when it was recognised. */
  votes: number
  /** Observations in the window. */
  window: number
  /** Mean score of the votes. */
  score: number
}

interface TrackState {
  obs: Array<VoteMatch | undefined>
  /** Recognised (or suppressed by cooldown): no more decisions for this track. */
  done: boolean
}

export class MemberRecognizer {
  private readonly o: RecognizerOptions
  private readonly tracks = new Map<number, TrackState>()
  private readonly lastRecognised = new Map<string, number>()
  /** Recognitions not emitted because the member was in cooldown. */
  suppressed = 0

  constructor(opts: Partial<RecognizerOptions> = {}) {
    this.o = { ...defaultRecognizer, ...opts }
    if (!(this.o.minVotes >= 1 && this.o.minVotes <= this.o.windowSize)) {
      throw new RangeError(`minVotes (${this.o.minVotes}) must be between 1 and windowSize (${this.o.windowSize})`)
    }
  }

  /**
   * One face observation of a track (`match` undefined: a face that matched no member). Returns
   * the recognition on the observation that completes the vote, else undefined.
   */
  observe(trackId: number, match: VoteMatch | undefined, ts: number): Recognition | undefined {
    let t = this.tracks.get(trackId)
    if (t) this.tracks.delete(trackId) // re-inserted below: Map order is recency
    else t = { obs: [], done: false }
    this.tracks.set(trackId, t)
    this.evict()
    if (t.done) return undefined
    t.obs.push(match && match.score >= this.o.threshold ? match : undefined)
    if (t.obs.length > this.o.windowSize) t.obs.shift()
    const vote = t.obs.at(-1)
    if (!vote) return undefined
    let votes = 0
    let sum = 0
    for (const m of t.obs) {
      if (m?.ref === vote.ref) {
        votes++
        sum += m.score
      }
    }
    if (votes < this.o.minVotes) return undefined
    t.done = true
    t.obs = []
    const last = this.lastRecognised.get(vote.ref)
    if (last !== undefined && ts - last < this.o.cooldownMs) {
      this.suppressed++
      return undefined
    }
    this.lastRecognised.set(vote.ref, ts)
    this.prune(ts)
    return { trackId, ref: vote.ref, ts, votes, window: this.o.windowSize, score: sum / votes }
  }

  /** The track ended (left the frame, lost for good). */
  forget(trackId: number): void {
    this.tracks.delete(trackId)
  }

  /** A member revoked from the gallery: drop their cooldown and pending votes too (nothing about them stays). */
  forgetMember(ref: string): void {
    this.lastRecognised.delete(ref)
    for (const t of this.tracks.values()) t.obs = t.obs.map((m) => (m?.ref === ref ? undefined : m))
  }

  get trackCount(): number {
    return this.tracks.size
  }

  private evict(): void {
    while (this.tracks.size > this.o.maxTracks) this.tracks.delete(this.tracks.keys().next().value!)
  }

  private prune(now: number): void {
    for (const [ref, ts] of this.lastRecognised) if (now - ts >= this.o.cooldownMs) this.lastRecognised.delete(ref)
  }
}
