import { expandRect, minAreaRect, rectCorners, inConvex, type Point } from './geometry.ts'

/**
 * DB (Differentiable Binarization) post-processing, as PaddleOCR's DBPostProcess does it for PP-OCR
 * detection: threshold the probability map, take each 8-connected region, fit its minimum-area
 * rectangle, keep it when the mean probability inside is high enough, then "unclip" it (the model
 * predicts text kernels shrunk by the Vatti offset d = A·(1 − r²)/L at training; the inverse offset
 * d = A·ratio/L restores the full text box). For a rectangle the rounded polygon offset that
 * PaddleOCR computes with pyclipper has exactly the expanded rectangle as its minimum-area box, so
 * the offset is applied to the rectangle directly.
 */

export interface DbOptions {
  /** Pixel threshold on the probability map (PaddleOCR det_db_thresh). */
  thresh: number
  /** Minimum mean probability inside a box (det_db_box_thresh). */
  boxThresh: number
  /** Unclip ratio (det_db_unclip_ratio). */
  unclipRatio: number
  /** Boxes whose short side is below this (map pixels) are dropped. */
  minSize: number
  /** At most this many regions are considered, largest first. */
  maxCandidates: number
}

export const DB_DEFAULTS: DbOptions = { thresh: 0.3, boxThresh: 0.6, unclipRatio: 1.5, minSize: 3, maxCandidates: 1000 }

export interface TextBox {
  /** Corners in map pixels, TL, TR, BR, BL. */
  quad: Point[]
  /** Mean probability inside the (un-expanded) box. */
  score: number
}

/** Label 8-connected regions of `prob > thresh`; returns per region the left/right-most pixel of each row. */
function regions(prob: Float32Array, w: number, h: number, thresh: number): Array<{ points: Point[]; size: number }> {
  const labels = new Int32Array(w * h)
  const stack = new Int32Array(w * h)
  const out: Array<{ points: Point[]; size: number }> = []
  let next = 0
  for (let start = 0; start < w * h; start++) {
    if (labels[start] !== 0 || !(prob[start]! > thresh)) continue
    next++
    labels[start] = next
    let sp = 0
    stack[sp++] = start
    // Row extents, keyed by row.
    const rowMin = new Map<number, number>()
    const rowMax = new Map<number, number>()
    let size = 0
    while (sp > 0) {
      const i = stack[--sp]!
      size++
      const y = (i / w) | 0
      const x = i - y * w
      const mn = rowMin.get(y)
      if (mn === undefined || x < mn) rowMin.set(y, x)
      const mx = rowMax.get(y)
      if (mx === undefined || x > mx) rowMax.set(y, x)
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy
        if (yy < 0 || yy >= h) continue
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx
          if (xx < 0 || xx >= w || (dx === 0 && dy === 0)) continue
          const j = yy * w + xx
          if (labels[j] === 0 && prob[j]! > thresh) {
            labels[j] = next
            stack[sp++] = j
          }
        }
      }
    }
    const points: Point[] = []
    for (const [y, x0] of rowMin) {
      points.push([x0, y])
      const x1 = rowMax.get(y)!
      if (x1 !== x0) points.push([x1, y])
    }
    out.push({ points, size })
  }
  return out
}

/** Mean of the map over the pixels whose centres fall inside the quad (PaddleOCR box_score_fast). */
export function boxScore(prob: Float32Array, w: number, h: number, quad: Point[]): number {
  const xs = quad.map((p) => p[0])
  const ys = quad.map((p) => p[1])
  const x0 = Math.max(0, Math.min(w - 1, Math.floor(Math.min(...xs))))
  const x1 = Math.max(0, Math.min(w - 1, Math.ceil(Math.max(...xs))))
  const y0 = Math.max(0, Math.min(h - 1, Math.floor(Math.min(...ys))))
  const y1 = Math.max(0, Math.min(h - 1, Math.ceil(Math.max(...ys))))
  let sum = 0
  let n = 0
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (!inConvex(quad, x, y)) continue
      sum += prob[y * w + x]!
      n++
    }
  }
  return n === 0 ? 0 : sum / n
}

/** Text boxes from a DB probability map of size w×h (map pixels). */
export function dbBoxes(prob: Float32Array, w: number, h: number, options: Partial<DbOptions> = {}): TextBox[] {
  const o = { ...DB_DEFAULTS, ...options }
  const regs = regions(prob, w, h, o.thresh)
  regs.sort((a, b) => b.size - a.size)
  const boxes: TextBox[] = []
  for (const reg of regs.slice(0, o.maxCandidates)) {
    const rect = minAreaRect(reg.points)
    if (Math.min(rect.width, rect.height) < o.minSize) continue
    const score = boxScore(prob, w, h, rectCorners(rect))
    if (score < o.boxThresh) continue
    const area = rect.width * rect.height
    const perimeter = 2 * (rect.width + rect.height)
    const big = expandRect(rect, (area * o.unclipRatio) / perimeter)
    if (Math.min(big.width, big.height) < o.minSize + 2) continue
    boxes.push({ quad: rectCorners(big), score })
  }
  return boxes
}
