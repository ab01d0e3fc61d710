/**
 * Multi-object tracker after ByteTrack (Zhang et al., 2022) with OC-SORT's observation-centric
 * re-update (Cao et al., 2023). Pure: time is passed in, nothing is read from a clock.
 *
 * Per update:
 *  1. every track's Kalman filter predicts to ts (lost tracks with their size frozen, as ByteTrack);
 *  2. high-score detections ↔ confirmed and lost tracks, by IoU (Hungarian);
 *  3. low-score detections ↔ the confirmed tracks still unmatched — the ByteTrack idea: an occluded
 *     person's weak box keeps the track instead of being thrown away;
 *  4. remaining high detections ↔ tentative tracks (seen once, not yet confirmed);
 *  5. unmatched confirmed tracks become lost, unmatched tentative tracks are dropped, lost tracks
 *     unseen for longer than maxLostMs are removed; remaining high detections scoring at least
 *     newTrackThresh start tentative tracks.
 * A tentative track is confirmed after minHits matches and only then gets its id (1, 2, 3 … per
 * tracker), so a one-frame false positive never uses an id. When a lost track is found again, OC-SORT
 * re-runs its filter from the last observation through a straight virtual path to the new box, so
 * the velocity that drifted while unobserved does not carry on.
 *
 * Boxes are top-left x, y with width and height, in pixels; vx, vy are the centre's velocity in px/s.
 */
import type { TrackBox } from '../camera/types.ts'
import { matchByIou } from './assignment.ts'
import { BoxKalman, DEFAULT_KALMAN, type BoxXYWH, type KalmanOptions, type KalmanSnapshot } from './kalman.ts'

export interface Detection extends BoxXYWH {
  score: number
}

export interface ByteTrackerOptions {
  /** Detections at or above this score take part in the first association. */
  highThresh: number
  /** Detections below this score are ignored; between low and high: second association only. */
  lowThresh: number
  /** An unmatched high detection starts a track only at or above this score. */
  newTrackThresh: number
  /**
   * Minimum IoU for the high-score association. ByteTrack uses 0.2 at 30 fps; at 5 fps boxes move
   * further between frames: on vtest.avi (real detections) 0.15 split people into 32 tracks instead
   * of 40 and missed one required line crossing instead of three, with no false crossings either way.
   */
  matchIou1: number
  /** Minimum IoU for the low-score association (ByteTrack: 0.5). */
  matchIou2: number
  /**
   * Minimum IoU between a tentative track and a detection. ByteTrack uses 0.3 at 30 fps; at the 5 fps
   * detect rate a walker moves a third of its width between frames and a tentative track has no
   * velocity yet, so the default is lower.
   */
  matchIouTentative: number
  /** A lost track is removed after this long without a detection, ms. */
  maxLostMs: number
  /** Matches needed to confirm a track (the first detection counts). */
  minHits: number
  /** OC-SORT observation-centric re-update when a lost track is found again. */
  observationCentric: boolean
  /** Longest gap, in frames, that the re-update replays (longer gaps take a plain update). */
  maxReplayFrames: number
  kalman: KalmanOptions
}

export const DEFAULT_TRACKER: ByteTrackerOptions = {
  highThresh: 0.5,
  lowThresh: 0.1,
  newTrackThresh: 0.6,
  matchIou1: 0.15,
  matchIou2: 0.5,
  matchIouTentative: 0.1,
  maxLostMs: 1500,
  minHits: 2,
  observationCentric: true,
  maxReplayFrames: 60,
  kalman: DEFAULT_KALMAN,
}

interface Track {
  /** 0 until confirmed. */
  id: number
  /** Creation order, for a stable order of tracks and a key for tentative ones. */
  seq: number
  kf: BoxKalman
  state: TrackBox['state']
  hits: number
  firstTs: number
  /** Time of the last matched detection. */
  lastTs: number
  score: number
  lastObs: BoxXYWH
  /** The filter right after the last observation, for the re-update. */
  lastSnap: KalmanSnapshot
  /** Update times since the last observation (capped at maxReplayFrames + 1). */
  missed: number[]
  /** Predicted box at the current update, reused for IoU. */
  pred: BoxXYWH
}

export class ByteTracker {
  private readonly o: ByteTrackerOptions
  private tracks: Track[] = []
  private nextId = 1
  private nextSeq = 1
  private removed: number[] = []
  private active: TrackBox[] = []

  constructor(opts: Partial<ByteTrackerOptions> = {}) {
    this.o = { ...DEFAULT_TRACKER, ...opts, kalman: { ...DEFAULT_KALMAN, ...opts.kalman } }
  }

  /** Feed one frame's detections at time ts (ms); returns the confirmed tracks seen in this frame. */
  update(dets: readonly Detection[], ts: number): TrackBox[] {
    const o = this.o
    for (const t of this.tracks) {
      if (t.state === 'lost') t.kf.freezeSize()
      t.kf.predict(ts)
      t.kf.boxInto(t.pred)
    }
    const high: Detection[] = []
    const low: Detection[] = []
    for (const d of dets) {
      if (!(d.w > 0 && d.h > 0)) continue
      if (d.score >= o.highThresh) high.push(d)
      else if (d.score >= o.lowThresh) low.push(d)
    }
    const matched = new Set<Track>()

    // 1: high detections ↔ confirmed and lost tracks.
    const pool = this.tracks.filter((t) => t.state !== 'tentative')
    let highLeft = this.associate(pool, high, o.matchIou1, ts, matched)

    // 2: low detections ↔ confirmed tracks that stage 1 left unmatched (lost ones stay lost: a weak
    // box is not enough evidence to revive a track).
    const confirmedLeft = pool.filter((t) => t.state === 'confirmed' && !matched.has(t))
    this.associate(confirmedLeft, low, o.matchIou2, ts, matched)

    // 3: remaining high detections ↔ tentative tracks.
    const tentative = this.tracks.filter((t) => t.state === 'tentative')
    highLeft = this.associate(tentative, highLeft, o.matchIouTentative, ts, matched)

    // 4: life cycle.
    this.removed = []
    const keep: Track[] = []
    for (const t of this.tracks) {
      if (matched.has(t)) {
        keep.push(t)
        continue
      }
      if (t.state === 'tentative') continue
      t.state = 'lost'
      if (t.missed.length <= o.maxReplayFrames) t.missed.push(ts)
      if (ts - t.lastTs > o.maxLostMs) this.removed.push(t.id)
      else keep.push(t)
    }
    for (const d of highLeft) {
      if (d.score < o.newTrackThresh) continue
      const kf = new BoxKalman(d, ts, o.kalman)
      const t: Track = {
        id: 0,
        seq: this.nextSeq++,
        kf,
        state: 'tentative',
        hits: 1,
        firstTs: ts,
        lastTs: ts,
        score: d.score,
        lastObs: { x: d.x, y: d.y, w: d.w, h: d.h },
        lastSnap: kf.snapshot(),
        missed: [],
        pred: kf.box(),
      }
      if (o.minHits <= 1) this.confirm(t)
      keep.push(t)
    }
    this.tracks = keep

    this.active = []
    for (const t of this.tracks) if (t.state === 'confirmed' && t.lastTs === ts) this.active.push(this.view(t))
    return this.active
  }

  /** Confirmed tracks seen in the last update (the value update returned). */
  tracksNow(): TrackBox[] {
    return this.active
  }

  /** Every live track: confirmed, lost (at its predicted box) and tentative (id −seq, not yet public). */
  allTracks(): TrackBox[] {
    return this.tracks.map((t) => this.view(t))
  }

  /** Ids of the tracks removed by the last update (lost for longer than maxLostMs). */
  removedIds(): number[] {
    return this.removed
  }

  private associate(tracks: Track[], dets: Detection[], minIou: number, ts: number, matched: Set<Track>): Detection[] {
    if (tracks.length === 0 || dets.length === 0) return dets
    const pairs = matchByIou(
      tracks.map((t) => t.pred),
      dets,
      minIou,
    )
    const used = new Uint8Array(dets.length)
    for (const [ti, di] of pairs) {
      const t = tracks[ti]!
      const d = dets[di]!
      this.observe(t, d, ts)
      matched.add(t)
      used[di] = 1
    }
    return dets.filter((_, i) => !used[i])
  }

  private observe(t: Track, d: Detection, ts: number): void {
    const o = this.o
    if (o.observationCentric && t.missed.length > 0 && t.missed.length <= o.maxReplayFrames) {
      // OC-SORT ORU: restart from the last observation and walk a straight virtual path of boxes
      // from it to this detection, one per missed update.
      t.kf.restore(t.lastSnap)
      const a = t.lastObs
      const span = ts - t.lastTs
      for (const mt of t.missed) {
        const f = span > 0 ? (mt - t.lastTs) / span : 1
        t.kf.predict(mt)
        t.kf.update({ x: a.x + (d.x - a.x) * f, y: a.y + (d.y - a.y) * f, w: a.w + (d.w - a.w) * f, h: a.h + (d.h - a.h) * f })
      }
      t.kf.predict(ts)
    }
    t.kf.update(d)
    t.missed.length = 0
    t.lastSnap = t.kf.snapshot()
    t.lastObs = { x: d.x, y: d.y, w: d.w, h: d.h }
    t.lastTs = ts
    t.score = d.score
    t.hits++
    if (t.state === 'lost') t.state = 'confirmed'
    else if (t.state === 'tentative' && t.hits >= o.minHits) this.confirm(t)
  }

  private confirm(t: Track): void {
    t.state = 'confirmed'
    t.id = this.nextId++
  }

  private view(t: Track): TrackBox {
    const b = t.kf.box()
    const v = t.kf.velocity()
    return {
      id: t.id || -t.seq,
      x: b.x,
      y: b.y,
      w: b.w,
      h: b.h,
      score: t.score,
      state: t.state,
      hits: t.hits,
      firstTs: t.firstTs,
      lastTs: t.lastTs,
      vx: v.vx,
      vy: v.vy,
    }
  }
}
