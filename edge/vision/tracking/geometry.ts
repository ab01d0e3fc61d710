/** Plane geometry for lines and zones, in image pixels (y grows downwards). */
import type { Point, TrackBox } from '../camera/types.ts'

/** The point of a track that is tested against lines and zones: bottom centre (feet) or centre. */
export function anchorOf(t: Pick<TrackBox, 'x' | 'y' | 'w' | 'h'>, anchor: 'feet' | 'center'): Point {
  return { x: t.x + t.w / 2, y: anchor === 'feet' ? t.y + t.h : t.y + t.h / 2 }
}

/** Signed distance of p from the line through a and b: cross(b − a, p − a) / |b − a|. */
export function signedDistance(a: Point, b: Point, p: Point): number {
  const dx = b.x - a.x
  const dy = b.y - a.y
  const len = Math.hypot(dx, dy)
  return len > 0 ? (dx * (p.y - a.y) - dy * (p.x - a.x)) / len : 0
}

/**
 * Where the step p → q crosses the line through a and b: the point and its position along a → b
 * (0 at a, 1 at b). Undefined when the step is parallel to the line.
 */
export function lineCrossing(a: Point, b: Point, p: Point, q: Point): { point: Point; along: number } | undefined {
  const rx = q.x - p.x
  const ry = q.y - p.y
  const sx = b.x - a.x
  const sy = b.y - a.y
  const den = rx * sy - ry * sx
  if (den === 0) return undefined
  // p + t·r = a + u·s
  const t = ((a.x - p.x) * sy - (a.y - p.y) * sx) / den
  const u = ((a.x - p.x) * ry - (a.y - p.y) * rx) / den
  return { point: { x: p.x + t * rx, y: p.y + t * ry }, along: u }
}

/** Even-odd rule; points on the boundary may fall either way. */
export function pointInPolygon(p: Point, poly: readonly Point[]): boolean {
  let inside = false
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const a = poly[i]!
    const b = poly[j]!
    if (a.y > p.y !== b.y > p.y && p.x < ((b.x - a.x) * (p.y - a.y)) / (b.y - a.y) + a.x) inside = !inside
  }
  return inside
}
