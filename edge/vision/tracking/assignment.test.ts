import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { hungarian, iou, matchByIou } from './assignment.ts'

describe('assignment', () => {
  it('iou of identical, disjoint and half-overlapping boxes', () => {
    const a = { x: 0, y: 0, w: 10, h: 10 }
    expect(iou(a, a)).toBe(1)
    expect(iou(a, { x: 10, y: 0, w: 10, h: 10 })).toBe(0)
    expect(iou(a, { x: 5, y: 0, w: 10, h: 10 })).toBeCloseTo(50 / 150, 12)
  })

  it('hungarian finds the minimum total cost (brute force on random matrices)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 25, maxLength: 25 }), (n, m, vals) => {
        const cost = Float64Array.from(vals.slice(0, n * m))
        const col = hungarian(cost, n, m)
        const assigned = [...col].filter((j) => j >= 0)
        expect(assigned.length).toBe(Math.min(n, m))
        expect(new Set(assigned).size).toBe(assigned.length)
        const total = [...col].reduce((s, j, i) => (j >= 0 ? s + cost[i * m + j]! : s), 0)
        expect(total).toBe(bruteMin(cost, n, m))
      }),
      { numRuns: 300, seed: 6 },
    )
  })

  it('matchByIou prefers more pairs above the threshold, then more overlap', () => {
    // Track 0 overlaps both detections a little more with det 0, but track 1 only overlaps det 0:
    // the best pairing is 0↔1, 1↔0.
    const tracks = [
      { x: 0, y: 0, w: 10, h: 10 },
      { x: -6, y: 0, w: 10, h: 10 },
    ]
    const dets = [
      { x: -2, y: 0, w: 10, h: 10 },
      { x: 3, y: 0, w: 10, h: 10 },
    ]
    expect(matchByIou(tracks, dets, 0.2)).toEqual([
      [0, 1],
      [1, 0],
    ])
    expect(matchByIou(tracks, [{ x: 50, y: 50, w: 5, h: 5 }], 0.2)).toEqual([])
  })
})

function bruteMin(cost: Float64Array, n: number, m: number): number {
  let best = Infinity
  const usedCols = new Array<boolean>(m).fill(false)
  const rec = (i: number, assignedRows: number, sum: number): void => {
    if (i === n) {
      if (assignedRows === Math.min(n, m)) best = Math.min(best, sum)
      return
    }
    if (n - i + assignedRows > Math.min(n, m)) rec(i + 1, assignedRows, sum) // leave row i out (n > m)
    for (let j = 0; j < m; j++) {
      if (usedCols[j]) continue
      usedCols[j] = true
      rec(i + 1, assignedRows + 1, sum + cost[i * m + j]!)
      usedCols[j] = false
    }
  }
  rec(0, 0, 0)
  return best
}
