/**
 * Non-maximum suppression on corner boxes. Greedy (hard) NMS keeps the best box and drops every
 * box that overlaps it by more than the IoU threshold; class-aware NMS does that per class (two
 * overlapping boxes of different classes both survive). Weighted NMS (BlazeFace / MediaPipe
 * "weighted" suppression) replaces each kept box by the score-weighted mean of its cluster, which
 * steadies the many overlapping anchor predictions of one face.
 */

export interface Candidate {
  x1: number
  y1: number
  x2: number
  y2: number
  score: number
  classId: number
  /** Optional points (landmarks) carried along and blended with the box in weighted NMS. */
  points?: Array<[number, number]>
}

export function area(b: Candidate): number {
  return Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1)
}

/** Intersection over union; 0 when either box is empty. */
export function iou(a: Candidate, b: Candidate): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1)
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1)
  if (iw <= 0 || ih <= 0) return 0
  const inter = iw * ih
  const union = area(a) + area(b) - inter
  return union > 0 ? inter / union : 0
}

export interface NmsOptions {
  iouThreshold: number
  /** Suppress only within the same classId. */
  classAware?: boolean
  /** Keep at most this many (best first). */
  maxDetections?: number
}

/** Greedy NMS; returns the kept candidates sorted by descending score. Input is not modified. */
export function nms<T extends Candidate>(candidates: readonly T[], opts: NmsOptions): T[] {
  const order = [...candidates].sort((a, b) => b.score - a.score)
  const max = opts.maxDetections ?? Infinity
  const kept: T[] = []
  const dead = new Uint8Array(order.length)
  for (let i = 0; i < order.length && kept.length < max; i++) {
    if (dead[i]) continue
    const a = order[i]!
    kept.push(a)
    for (let j = i + 1; j < order.length; j++) {
      if (dead[j]) continue
      const b = order[j]!
      if (opts.classAware && a.classId !== b.classId) continue
      if (iou(a, b) > opts.iouThreshold) dead[j] = 1
    }
  }
  return kept
}

/**
 * Weighted NMS: each cluster (the best remaining box and everything overlapping it above the
 * threshold) becomes one box whose corners and points are the score-weighted mean of the cluster;
 * the score stays the best one's.
 */
export function weightedNms(candidates: readonly Candidate[], opts: NmsOptions): Candidate[] {
  const order = [...candidates].sort((a, b) => b.score - a.score)
  const max = opts.maxDetections ?? Infinity
  const out: Candidate[] = []
  const dead = new Uint8Array(order.length)
  for (let i = 0; i < order.length && out.length < max; i++) {
    if (dead[i]) continue
    const a = order[i]!
    const cluster: Candidate[] = [a]
    for (let j = i + 1; j < order.length; j++) {
      if (dead[j]) continue
      const b = order[j]!
      if (opts.classAware && a.classId !== b.classId) continue
      if (iou(a, b) > opts.iouThreshold) {
        dead[j] = 1
        cluster.push(b)
      }
    }
    if (cluster.length === 1) {
      out.push(a)
      continue
    }
    let wsum = 0
    let x1 = 0
    let y1 = 0
    let x2 = 0
    let y2 = 0
    const points = a.points?.map(() => [0, 0] as [number, number])
    for (const c of cluster) {
      const w = c.score
      wsum += w
      x1 += c.x1 * w
      y1 += c.y1 * w
      x2 += c.x2 * w
      y2 += c.y2 * w
      if (points && c.points) c.points.forEach((p, k) => {
        if (points[k]) {
          points[k]![0] += p[0] * w
          points[k]![1] += p[1] * w
        }
      })
    }
    out.push({
      x1: x1 / wsum,
      y1: y1 / wsum,
      x2: x2 / wsum,
      y2: y2 / wsum,
      score: a.score,
      classId: a.classId,
      ...(points ? { points: points.map(([px, py]) => [px / wsum, py / wsum] as [number, number]) } : {}),
    })
  }
  return out
}
