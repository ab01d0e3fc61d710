/**
 * Counting audit: match the crossings a counter produced over a clip against a hand count of the
 * same clip. Pure; frames are the 0-based frame numbers of the decoded video.
 *
 * Matching. A predicted crossing can match a truth crossing of the same direction whose frame is
 * within ±toleranceFrames (default 10 = 1 s at 10 fps); each side is used at most once. Of all such
 * one-to-one assignments the matcher takes, in this order of priority:
 *   1. the most required (non-optional) truths matched — a prediction never "spends" itself on an
 *      optional truth when that would leave a required one missed;
 *   2. the most matches overall — a prediction matched to an optional truth is not an extra;
 *   3. the smallest total |frame offset|;
 *   4. on a remaining tie, the earlier candidate: a prediction halfway between two truths matches
 *      the earlier truth, a truth halfway between two predictions the earlier prediction.
 * Along one time axis an optimal assignment never crosses (if p1 ≤ p2 and t1 ≤ t2, pairing p1–t1 and
 * p2–t2 is as feasible and no worse than p1–t2, p2–t1), so a sequence alignment (dynamic programming
 * over the two sorted lists) finds it exactly. Events further apart than the tolerance cannot match,
 * so each direction is first split at such gaps and aligned piece by piece: long clips stay cheap.
 *
 * Scores. Optional truths (a person turning back on the line, feet at the segment's end, …) are
 * neutral: a prediction matched to one is neither a hit nor an extra, and an unmatched one is not
 * missed. So per direction and in total:
 *   truth     = required truths
 *   predicted = predictions not matched to an optional truth
 *   precision = matched / predicted   (1 when nothing was predicted)
 *   recall    = matched / truth       (1 when there is nothing to find)
 *   countErrorPct = |predicted − truth| / truth × 100  (0 when both are 0, null when only truth is 0)
 */
import { StoreEdgeError } from '../../contracts/errors.ts'

export type CrossingDir = 'in' | 'out'

export interface PredictedCrossing {
  frame: number
  dir: CrossingDir
  /** Tracker id, carried through for the report. */
  track?: number
}

export interface TruthCrossing {
  frame: number
  dir: CrossingDir
  /** Doubtful: matching it is not required, and a prediction matched to it is not an extra. */
  optional?: boolean
  note?: string
}

export interface MatchOptions {
  /** Largest |predicted − truth| frame distance that still matches (default 10). */
  toleranceFrames?: number
}

export interface MatchedCrossing {
  dir: CrossingDir
  /** Index into the truth list and the truth's frame. */
  truthIndex: number
  truthFrame: number
  /** Index into the predicted list and the prediction's frame. */
  predictedIndex: number
  predictedFrame: number
  /** predictedFrame − truthFrame: positive when the counter was late. */
  offset: number
  /** The truth was optional: this pair is neither a hit nor an extra. */
  optional: boolean
  track?: number
  note?: string
}

export type MissedCrossing = TruthCrossing & { index: number }
export type ExtraCrossing = PredictedCrossing & { index: number }

export interface CrossingScore {
  /** Required truths. */
  truth: number
  /** Predictions, less those matched to optional truths. */
  predicted: number
  /** Required truths matched. */
  matched: number
  /** Predictions matched to optional truths. */
  matchedOptional: number
  missed: number
  extra: number
  precision: number
  recall: number
  countErrorPct: number | null
}

export interface CrossingMatch {
  toleranceFrames: number
  /** Every pair, optional ones included (flagged), in truth-frame order. */
  matched: MatchedCrossing[]
  /** Required truths without a prediction, in frame order. */
  missed: MissedCrossing[]
  /** Predictions matched to nothing, in frame order. */
  extra: ExtraCrossing[]
  precision: number
  recall: number
  in: CrossingScore
  out: CrossingScore
  total: CrossingScore
}

export const DEFAULT_TOLERANCE_FRAMES = 10

interface Ev { index: number; frame: number; optional: boolean }

/** Lexicographic score of a partial alignment: [required matched, all matched, −Σ|offset|]. */
type Score = [number, number, number]
const better = (a: Score, b: Score): boolean =>
  a[0] !== b[0] ? a[0] > b[0] : a[1] !== b[1] ? a[1] > b[1] : a[2] > b[2]

/** Optimal non-crossing alignment of one direction's predictions and truths (both sorted by frame). */
function align(preds: Ev[], truths: Ev[], tol: number): Array<[Ev, Ev]> {
  const n = preds.length, m = truths.length
  const w = m + 1
  const table: Score[] = new Array<Score>((n + 1) * w)
  // 0 = start, 1 = prediction i unmatched, 2 = truth j unmatched, 3 = i matched to j
  const move = new Uint8Array((n + 1) * w)
  for (let i = 0; i <= n; i++) {
    for (let j = 0; j <= m; j++) {
      const k = i * w + j
      if (i === 0 && j === 0) { table[k] = [0, 0, 0]; continue }
      let best: Score | undefined
      let how = 0
      // Order of candidates is the tie-break: leaving the LATER item unmatched is tried first, so a
      // tie keeps the earlier truth (skip truth j) or the earlier prediction (skip prediction i).
      if (j > 0) { best = table[k - 1]!; how = 2 }
      if (i > 0) {
        const s = table[k - w]!
        if (!best || better(s, best)) { best = s; how = 1 }
      }
      if (i > 0 && j > 0) {
        const p = preds[i - 1]!, t = truths[j - 1]!
        const d = Math.abs(p.frame - t.frame)
        if (d <= tol) {
          const s = table[k - w - 1]!
          const cand: Score = [s[0] + (t.optional ? 0 : 1), s[1] + 1, s[2] - d]
          if (better(cand, best!)) { best = cand; how = 3 }
        }
      }
      table[k] = best!
      move[k] = how
    }
  }
  const pairs: Array<[Ev, Ev]> = []
  let i = n, j = m
  while (i > 0 || j > 0) {
    const how = move[i * w + j]
    if (how === 3) { pairs.push([preds[i - 1]!, truths[j - 1]!]); i--; j-- }
    else if (how === 1) i--
    else j--
  }
  return pairs.reverse()
}

/** Splits both sorted lists where consecutive events (of either list) are more than tol apart. */
function* pieces(preds: Ev[], truths: Ev[], tol: number): Generator<[Ev[], Ev[]]> {
  const all = [...preds.map((e) => ({ e, pred: true })), ...truths.map((e) => ({ e, pred: false }))]
    .sort((a, b) => a.e.frame - b.e.frame)
  let p: Ev[] = [], t: Ev[] = []
  let last = -Infinity
  for (const { e, pred } of all) {
    if (e.frame - last > tol && (p.length || t.length)) { yield [p, t]; p = []; t = [] }
    ;(pred ? p : t).push(e)
    last = e.frame
  }
  if (p.length || t.length) yield [p, t]
}

function score(truthRequired: number, predTotal: number, matched: number, matchedOptional: number): CrossingScore {
  const predicted = predTotal - matchedOptional
  const missed = truthRequired - matched
  const extra = predicted - matched
  return {
    truth: truthRequired,
    predicted,
    matched,
    matchedOptional,
    missed,
    extra,
    precision: predicted === 0 ? 1 : matched / predicted,
    recall: truthRequired === 0 ? 1 : matched / truthRequired,
    countErrorPct: truthRequired === 0 ? (predicted === 0 ? 0 : null) : (Math.abs(predicted - truthRequired) / truthRequired) * 100,
  }
}

function checkCrossing(c: unknown, where: string): asserts c is { frame: number; dir: CrossingDir } {
  if (typeof c !== 'object' || c === null) throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', `${where}: expected an object`)
  const { frame, dir } = c as Record<string, unknown>
  if (typeof frame !== 'number' || !Number.isFinite(frame) || frame < 0) {
    throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', `${where}.frame: expected a frame number ≥ 0, got ${JSON.stringify(frame)}`)
  }
  if (dir !== 'in' && dir !== 'out') {
    throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', `${where}.dir: expected "in" or "out", got ${JSON.stringify(dir)}`)
  }
}

/**
 * Validates a hand-count file's parsed JSON: an array of {frame, dir, optional?, note?}. Throws
 * STORE_EDGE_ERR_VALIDATION naming the first bad entry (`<source>[3].dir: …`).
 */
export function parseCrossingTruth(value: unknown, source = 'truth'): TruthCrossing[] {
  if (!Array.isArray(value)) throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', `${source}: expected a JSON array of {frame, dir, optional?, note?}`)
  return value.map((raw: unknown, i) => {
    const where = `${source}[${i}]`
    checkCrossing(raw, where)
    const { frame, dir, optional, note } = raw as Record<string, unknown>
    if (optional !== undefined && typeof optional !== 'boolean') {
      throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', `${where}.optional: expected true or false, got ${JSON.stringify(optional)}`)
    }
    if (note !== undefined && typeof note !== 'string') {
      throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', `${where}.note: expected a string`)
    }
    const t: TruthCrossing = { frame: frame as number, dir: dir as CrossingDir }
    if (optional) t.optional = true
    if (note !== undefined) t.note = note as string
    return t
  })
}

/** Matches predicted crossings to a hand count; see the file comment for the rules and scores. */
export function matchCrossings(
  predicted: readonly PredictedCrossing[],
  truth: readonly TruthCrossing[],
  options: MatchOptions = {},
): CrossingMatch {
  const tol = options.toleranceFrames ?? DEFAULT_TOLERANCE_FRAMES
  if (!Number.isFinite(tol) || tol < 0) {
    throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', `toleranceFrames: expected a number ≥ 0, got ${tol}`)
  }
  predicted.forEach((p, i) => checkCrossing(p, `predicted[${i}]`))
  truth.forEach((t, i) => checkCrossing(t, `truth[${i}]`))

  const byFrame = (a: Ev, b: Ev) => a.frame - b.frame || a.index - b.index
  const matched: MatchedCrossing[] = []
  const usedPred = new Set<number>()
  const usedTruth = new Set<number>()
  const scores = {} as Record<CrossingDir, CrossingScore>
  for (const dir of ['in', 'out'] as const) {
    const preds = predicted.flatMap((p, index) => (p.dir === dir ? [{ index, frame: p.frame, optional: false }] : [])).sort(byFrame)
    const truths = truth.flatMap((t, index) => (t.dir === dir ? [{ index, frame: t.frame, optional: t.optional === true }] : [])).sort(byFrame)
    let hits = 0, optionalHits = 0
    for (const [p, t] of pieces(preds, truths, tol)) {
      for (const [pe, te] of align(p, t, tol)) {
        const pc = predicted[pe.index]!, tc = truth[te.index]!
        usedPred.add(pe.index)
        usedTruth.add(te.index)
        if (te.optional) optionalHits++
        else hits++
        const pair: MatchedCrossing = {
          dir, truthIndex: te.index, truthFrame: tc.frame, predictedIndex: pe.index, predictedFrame: pc.frame,
          offset: pc.frame - tc.frame, optional: te.optional,
        }
        if (pc.track !== undefined) pair.track = pc.track
        if (tc.note !== undefined) pair.note = tc.note
        matched.push(pair)
      }
    }
    scores[dir] = score(truths.filter((t) => !t.optional).length, preds.length, hits, optionalHits)
  }

  matched.sort((a, b) => a.truthFrame - b.truthFrame || a.truthIndex - b.truthIndex)
  const missed = truth
    .flatMap((t, index) => (!t.optional && !usedTruth.has(index) ? [{ ...t, index }] : []))
    .sort((a, b) => a.frame - b.frame || a.index - b.index)
  const extra = predicted
    .flatMap((p, index) => (!usedPred.has(index) ? [{ ...p, index }] : []))
    .sort((a, b) => a.frame - b.frame || a.index - b.index)
  const total = score(
    scores.in.truth + scores.out.truth,
    predicted.length,
    scores.in.matched + scores.out.matched,
    scores.in.matchedOptional + scores.out.matchedOptional,
  )
  return { toleranceFrames: tol, matched, missed, extra, precision: total.precision, recall: total.recall, in: scores.in, out: scores.out, total }
}
