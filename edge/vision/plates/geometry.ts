/**
 * Plane geometry for text boxes: convex hull, minimum-area rotated rectangle, quad ordering and
 * the perspective transform that maps an upright rectangle onto a quad.
 */

export type Point = [number, number]

/** Andrew's monotone chain; returns the hull counter-clockwise (in y-down image axes: clockwise on screen), no repeats. */
export function convexHull(points: Point[]): Point[] {
  const pts = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1])
  if (pts.length < 3) return pts
  const cross = (o: Point, a: Point, b: Point) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
  const lower: Point[] = []
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, p) <= 0) lower.pop()
    lower.push(p)
  }
  const upper: Point[] = []
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i]!
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, p) <= 0) upper.pop()
    upper.push(p)
  }
  lower.pop()
  upper.pop()
  return lower.concat(upper)
}

/** A rotated rectangle: centre, unit axis `u` along `width`, `v` perpendicular along `height`. */
export interface RotatedRect {
  cx: number
  cy: number
  width: number
  height: number
  u: Point
  v: Point
}

/** Minimum-area enclosing rectangle of a point set (rotating calipers over the hull edges). */
export function minAreaRect(points: Point[]): RotatedRect {
  const hull = convexHull(points)
  if (hull.length === 0) return { cx: 0, cy: 0, width: 0, height: 0, u: [1, 0], v: [0, 1] }
  if (hull.length === 1) return { cx: hull[0]![0], cy: hull[0]![1], width: 0, height: 0, u: [1, 0], v: [0, 1] }
  let best: RotatedRect | null = null
  let bestArea = Infinity
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i]!
    const b = hull[(i + 1) % hull.length]!
    const len = Math.hypot(b[0] - a[0], b[1] - a[1])
    if (len === 0) continue
    const u: Point = [(b[0] - a[0]) / len, (b[1] - a[1]) / len]
    const v: Point = [-u[1], u[0]]
    let minU = Infinity, maxU = -Infinity, minV = Infinity, maxV = -Infinity
    for (const p of hull) {
      const pu = p[0] * u[0] + p[1] * u[1]
      const pv = p[0] * v[0] + p[1] * v[1]
      if (pu < minU) minU = pu
      if (pu > maxU) maxU = pu
      if (pv < minV) minV = pv
      if (pv > maxV) maxV = pv
    }
    const area = (maxU - minU) * (maxV - minV)
    if (area < bestArea - 1e-9) {
      bestArea = area
      const mu = (minU + maxU) / 2
      const mv = (minV + maxV) / 2
      best = { cx: mu * u[0] + mv * v[0], cy: mu * u[1] + mv * v[1], width: maxU - minU, height: maxV - minV, u, v }
    }
  }
  return best!
}

/** Grow a rotated rectangle by `d` on every side. */
export function expandRect(r: RotatedRect, d: number): RotatedRect {
  return { ...r, width: r.width + 2 * d, height: r.height + 2 * d }
}

/** The four corners of a rotated rectangle, ordered top-left, top-right, bottom-right, bottom-left. */
export function rectCorners(r: RotatedRect): Point[] {
  const hw = r.width / 2
  const hh = r.height / 2
  const pts: Point[] = [
    [r.cx - hw * r.u[0] - hh * r.v[0], r.cy - hw * r.u[1] - hh * r.v[1]],
    [r.cx + hw * r.u[0] - hh * r.v[0], r.cy + hw * r.u[1] - hh * r.v[1]],
    [r.cx + hw * r.u[0] + hh * r.v[0], r.cy + hw * r.u[1] + hh * r.v[1]],
    [r.cx - hw * r.u[0] + hh * r.v[0], r.cy - hw * r.u[1] + hh * r.v[1]],
  ]
  return orderQuad(pts)
}

/**
 * Order four corners top-left, top-right, bottom-right, bottom-left (PaddleOCR's get_mini_boxes
 * rule: the two left-most points are the left side, the upper of each pair comes first).
 */
export function orderQuad(pts: Point[]): Point[] {
  const s = [...pts].sort((a, b) => a[0] - b[0])
  const [l1, l2, r1, r2] = s as [Point, Point, Point, Point]
  const [tl, bl] = l1[1] <= l2[1] ? [l1, l2] : [l2, l1]
  const [tr, br] = r1[1] <= r2[1] ? [r1, r2] : [r2, r1]
  return [tl, tr, br, bl]
}

/** Shoelace area of a polygon. */
export function polygonArea(poly: Point[]): number {
  let a = 0
  for (let i = 0; i < poly.length; i++) {
    const p = poly[i]!
    const q = poly[(i + 1) % poly.length]!
    a += p[0] * q[1] - q[0] * p[1]
  }
  return Math.abs(a) / 2
}

/** Point strictly inside or on the border of a convex polygon (either winding). */
export function inConvex(poly: Point[], x: number, y: number): boolean {
  let sign = 0
  for (let i = 0; i < poly.length; i++) {
    const a = poly[i]!
    const b = poly[(i + 1) % poly.length]!
    const c = (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0])
    if (c === 0) continue
    const s = c > 0 ? 1 : -1
    if (sign === 0) sign = s
    else if (s !== sign) return false
  }
  return true
}

const dist = (a: Point, b: Point) => Math.hypot(a[0] - b[0], a[1] - b[1])

/** Width and height of an ordered quad (the longer of each pair of opposite sides, as PaddleOCR crops). */
export function quadSize(q: Point[]): { width: number; height: number } {
  const [tl, tr, br, bl] = q as [Point, Point, Point, Point]
  return { width: Math.max(dist(tl, tr), dist(bl, br)), height: Math.max(dist(tl, bl), dist(tr, br)) }
}

/**
 * The 3×3 homography (row-major, h[8] = 1) mapping the rectangle (0,0)-(w,h) onto quad q
 * (ordered TL, TR, BR, BL): solves the 8 linear equations by Gaussian elimination.
 */
export function rectToQuad(w: number, h: number, q: Point[]): Float64Array {
  const src: Point[] = [[0, 0], [w, 0], [w, h], [0, h]]
  const A: number[][] = []
  for (let i = 0; i < 4; i++) {
    const [x, y] = src[i]!
    const [X, Y] = q[i]!
    A.push([x, y, 1, 0, 0, 0, -x * X, -y * X, X])
    A.push([0, 0, 0, x, y, 1, -x * Y, -y * Y, Y])
  }
  for (let c = 0; c < 8; c++) {
    let p = c
    for (let r = c + 1; r < 8; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[p]![c]!)) p = r
    if (Math.abs(A[p]![c]!) < 1e-12) throw new Error('degenerate quad')
    ;[A[c], A[p]] = [A[p]!, A[c]!]
    const row = A[c]!
    for (let r = 0; r < 8; r++) {
      if (r === c) continue
      const rr = A[r]!
      const f = rr[c]! / row[c]!
      if (f === 0) continue
      for (let k = c; k < 9; k++) rr[k] = rr[k]! - f * row[k]!
    }
  }
  const H = new Float64Array(9)
  for (let i = 0; i < 8; i++) H[i] = A[i]![8]! / A[i]![i]!
  H[8] = 1
  return H
}
