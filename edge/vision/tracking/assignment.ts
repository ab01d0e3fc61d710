/**
 * Box overlap and optimal assignment for the tracker: IoU and a compact Hungarian algorithm
 * (shortest augmenting paths with potentials, O(n²·m)), enough for the tens of boxes of a camera.
 */
import type { BoxXYWH } from './kalman.ts'

export function iou(a: BoxXYWH, b: BoxXYWH): number {
  const ix = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x)
  if (ix <= 0) return 0
  const iy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y)
  if (iy <= 0) return 0
  const inter = ix * iy
  const union = a.w * a.h + b.w * b.h - inter
  return union > 0 ? inter / union : 0
}

/** Cost of a pair that must not be matched: large enough that any allowed pair is preferred. */
const FORBIDDEN = 1e6

/**
 * Minimum-cost assignment on an n×m cost matrix (row-major). Returns, per row, the matched column or
 * −1. Every row is assigned when n ≤ m (and every column when n > m); callers drop the pairs whose
 * cost says they were not allowed.
 */
export function hungarian(cost: Float64Array, n: number, m: number): Int32Array {
  const rowOf = new Int32Array(n).fill(-1)
  if (n === 0 || m === 0) return rowOf
  const transposed = n > m
  const rows = transposed ? m : n
  const cols = transposed ? n : m
  const at = transposed ? (i: number, j: number) => cost[j * m + i]! : (i: number, j: number) => cost[i * m + j]!
  // 1-based arrays as in the textbook formulation; column 0 is the virtual start.
  const u = new Float64Array(rows + 1)
  const v = new Float64Array(cols + 1)
  const p = new Int32Array(cols + 1)
  const way = new Int32Array(cols + 1)
  const minv = new Float64Array(cols + 1)
  const used = new Uint8Array(cols + 1)
  for (let i = 1; i <= rows; i++) {
    p[0] = i
    let j0 = 0
    minv.fill(Infinity)
    used.fill(0)
    do {
      used[j0] = 1
      const i0 = p[j0]!
      let delta = Infinity
      let j1 = 0
      for (let j = 1; j <= cols; j++) {
        if (used[j]) continue
        const cur = at(i0 - 1, j - 1) - u[i0]! - v[j]!
        if (cur < minv[j]!) {
          minv[j] = cur
          way[j] = j0
        }
        if (minv[j]! < delta) {
          delta = minv[j]!
          j1 = j
        }
      }
      for (let j = 0; j <= cols; j++) {
        if (used[j]) {
          u[p[j]!] = u[p[j]!]! + delta
          v[j] = v[j]! - delta
        } else {
          minv[j] = minv[j]! - delta
        }
      }
      j0 = j1
    } while (p[j0] !== 0)
    do {
      const j1 = way[j0]!
      p[j0] = p[j1]!
      j0 = j1
    } while (j0 !== 0)
  }
  for (let j = 1; j <= cols; j++) {
    const i = p[j]!
    if (i === 0) continue
    if (transposed) rowOf[j - 1] = i - 1
    else rowOf[i - 1] = j - 1
  }
  return rowOf
}

/**
 * Match tracks to detections by IoU: maximum number of pairs with IoU ≥ minIou, then the largest
 * total IoU among those. Returns pairs [trackIndex, detIndex] in track order.
 */
export function matchByIou(tracks: readonly BoxXYWH[], dets: readonly BoxXYWH[], minIou: number): Array<[number, number]> {
  const n = tracks.length
  const m = dets.length
  const out: Array<[number, number]> = []
  if (n === 0 || m === 0) return out
  const cost = new Float64Array(n * m)
  let any = false
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const o = iou(tracks[i]!, dets[j]!)
      const ok = o >= minIou && o > 0
      cost[i * m + j] = ok ? 1 - o : FORBIDDEN
      any ||= ok
    }
  }
  if (!any) return out
  const col = hungarian(cost, n, m)
  for (let i = 0; i < n; i++) {
    const j = col[i]!
    if (j >= 0 && cost[i * m + j]! < FORBIDDEN) out.push([i, j])
  }
  return out
}
