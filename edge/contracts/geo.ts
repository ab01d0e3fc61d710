import type { LatLng } from './payloads/marketing.ts'

/** Geodesy for trade-area geofences: accurate to well under a metre at 1–10 km, which GPS is not. */
const EARTH_RADIUS_M = 6_371_008.8
const rad = (d: number) => (d * Math.PI) / 180

/** Great-circle distance (haversine), metres. */
export function distanceM(a: LatLng, b: LatLng): number {
  const dLat = rad(b.lat - a.lat)
  const dLng = rad(b.lng - a.lng)
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)))
}

/** Local east/north metres around an origin (equirectangular; fine within tens of km). */
function toLocal(origin: LatLng, p: LatLng): [number, number] {
  return [rad(p.lng - origin.lng) * EARTH_RADIUS_M * Math.cos(rad(origin.lat)), rad(p.lat - origin.lat) * EARTH_RADIUS_M]
}

/**
 * Signed distance from a point to a polygon's boundary, metres: negative inside, positive outside.
 * Ray casting for inside, nearest edge for the magnitude.
 */
export function polygonSignedDistanceM(points: readonly LatLng[], p: LatLng): number {
  const pts = points.map((q) => toLocal(p, q))
  let inside = false
  let best = Infinity
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i]!
    const [xj, yj] = pts[j]!
    if (yi > 0 !== yj > 0 && 0 < ((xj - xi) * (0 - yi)) / (yj - yi) + xi) inside = !inside
    const dx = xj - xi
    const dy = yj - yi
    const len2 = dx * dx + dy * dy
    const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, (-xi * dx - yi * dy) / len2))
    best = Math.min(best, Math.hypot(xi + t * dx, yi + t * dy))
  }
  return inside ? -best : best
}

/** Signed distance to a geofence shape's edge, metres: negative inside. */
export function shapeSignedDistanceM(
  shape: { kind: 'circle'; center: LatLng; radiusM: number } | { kind: 'polygon'; points: LatLng[] },
  p: LatLng,
): number {
  return shape.kind === 'circle' ? distanceM(shape.center, p) - shape.radiusM : polygonSignedDistanceM(shape.points, p)
}
