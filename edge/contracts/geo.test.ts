import { describe, expect, it } from 'vitest'
import { distanceM, polygonSignedDistanceM, shapeSignedDistanceM } from './geo.ts'

const PEOPLE_SQUARE = { lat: 31.2304, lng: 121.4737 }

describe('geodesy', () => {
  it('haversine distance matches known figures', () => {
    // One degree of latitude is about 111.2 km on the mean-radius sphere.
    expect(distanceM({ lat: 0, lng: 0 }, { lat: 1, lng: 0 })).toBeCloseTo(111_195, -1)
    // Shanghai People's Square to the Bund (about 1.9 km).
    expect(distanceM(PEOPLE_SQUARE, { lat: 31.2397, lng: 121.4906 })).toBeGreaterThan(1_850)
    expect(distanceM(PEOPLE_SQUARE, { lat: 31.2397, lng: 121.4906 })).toBeLessThan(1_950)
    expect(distanceM(PEOPLE_SQUARE, PEOPLE_SQUARE)).toBe(0)
  })

  it('circle signed distance is negative inside, positive outside', () => {
    const circle = { kind: 'circle' as const, center: PEOPLE_SQUARE, radiusM: 1000 }
    expect(shapeSignedDistanceM(circle, PEOPLE_SQUARE)).toBe(-1000)
    const north2km = { lat: PEOPLE_SQUARE.lat + 2000 / 111_195, lng: PEOPLE_SQUARE.lng }
    expect(shapeSignedDistanceM(circle, north2km)).toBeCloseTo(1000, -1)
  })

  it('polygon signed distance: inside negative by the nearest edge, outside positive', () => {
    const d = 1000 / 111_195 // ~1 km in degrees of latitude
    const k = Math.cos((PEOPLE_SQUARE.lat * Math.PI) / 180)
    const square = [
      { lat: PEOPLE_SQUARE.lat - d, lng: PEOPLE_SQUARE.lng - d / k },
      { lat: PEOPLE_SQUARE.lat - d, lng: PEOPLE_SQUARE.lng + d / k },
      { lat: PEOPLE_SQUARE.lat + d, lng: PEOPLE_SQUARE.lng + d / k },
      { lat: PEOPLE_SQUARE.lat + d, lng: PEOPLE_SQUARE.lng - d / k },
    ]
    expect(polygonSignedDistanceM(square, PEOPLE_SQUARE)).toBeCloseTo(-1000, -1)
    const east3km = { lat: PEOPLE_SQUARE.lat, lng: PEOPLE_SQUARE.lng + (3 * d) / k }
    expect(polygonSignedDistanceM(square, east3km)).toBeCloseTo(2000, -1)
  })
})
