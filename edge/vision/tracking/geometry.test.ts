import { describe, expect, it } from 'vitest'
import { anchorOf, lineCrossing, pointInPolygon, signedDistance } from './geometry.ts'

describe('geometry', () => {
  it('anchors: feet at the bottom centre, centre in the middle', () => {
    expect(anchorOf({ x: 10, y: 20, w: 40, h: 100 }, 'feet')).toEqual({ x: 30, y: 120 })
    expect(anchorOf({ x: 10, y: 20, w: 40, h: 100 }, 'center')).toEqual({ x: 30, y: 70 })
  })

  it('signed distance: negative to the right of a top→bottom line on screen', () => {
    const a = { x: 100, y: 0 }
    const b = { x: 100, y: 10 }
    expect(signedDistance(a, b, { x: 103, y: 5 })).toBe(-3)
    expect(signedDistance(a, b, { x: 96, y: 50 })).toBe(4)
    expect(signedDistance(a, a, { x: 0, y: 0 })).toBe(0)
  })

  it('line crossing: the point and its position along a→b', () => {
    const x = lineCrossing({ x: 0, y: 0 }, { x: 0, y: 100 }, { x: -10, y: 20 }, { x: 10, y: 40 })!
    expect(x.point).toEqual({ x: 0, y: 30 })
    expect(x.along).toBeCloseTo(0.3, 12)
    expect(lineCrossing({ x: 0, y: 0 }, { x: 0, y: 100 }, { x: 5, y: 0 }, { x: 5, y: 10 })).toBeUndefined()
  })

  it('point in a concave polygon', () => {
    // A "U": the notch between x 40..60 above y 50 is outside.
    const u = [
      { x: 0, y: 0 },
      { x: 40, y: 0 },
      { x: 40, y: 50 },
      { x: 60, y: 50 },
      { x: 60, y: 0 },
      { x: 100, y: 0 },
      { x: 100, y: 100 },
      { x: 0, y: 100 },
    ]
    expect(pointInPolygon({ x: 20, y: 20 }, u)).toBe(true)
    expect(pointInPolygon({ x: 50, y: 20 }, u)).toBe(false)
    expect(pointInPolygon({ x: 50, y: 70 }, u)).toBe(true)
    expect(pointInPolygon({ x: 150, y: 70 }, u)).toBe(false)
  })
})
