import { describe, expect, it } from 'vitest'
import { iou, nms, weightedNms, type Candidate } from './nms.ts'

const box = (x1: number, y1: number, x2: number, y2: number, score: number, classId = 0, points?: Array<[number, number]>): Candidate =>
  ({ x1, y1, x2, y2, score, classId, ...(points ? { points } : {}) })

describe('iou', () => {
  it('is intersection over union', () => {
    // 10×10 boxes overlapping by a 5×10 strip: 50 / (100 + 100 − 50)
    expect(iou(box(0, 0, 10, 10, 1), box(5, 0, 15, 10, 1))).toBeCloseTo(1 / 3, 10)
    expect(iou(box(0, 0, 10, 10, 1), box(0, 0, 10, 10, 1))).toBe(1)
    // touching edges and empty boxes do not overlap
    expect(iou(box(0, 0, 10, 10, 1), box(10, 0, 20, 10, 1))).toBe(0)
    expect(iou(box(0, 0, 0, 0, 1), box(0, 0, 0, 0, 1))).toBe(0)
  })
})

describe('nms', () => {
  // a/b overlap by 9×10 of 11×10 union: IoU = 90 / 110 = 0.818; c is far away
  const a = box(0, 0, 10, 10, 0.9)
  const b = box(1, 0, 11, 10, 0.8)
  const c = box(20, 20, 30, 30, 0.7)

  it('keeps the best of overlapping boxes and sorts by score', () => {
    expect(nms([c, b, a], { iouThreshold: 0.5 })).toEqual([a, c])
  })
  it('keeps both when the overlap is under the threshold', () => {
    expect(nms([c, b, a], { iouThreshold: 0.85 })).toEqual([a, b, c])
  })
  it('class-aware: an overlapping box of another class survives', () => {
    const b1 = { ...b, classId: 1 }
    expect(nms([a, b1, c], { iouThreshold: 0.5, classAware: true })).toEqual([a, b1, c])
    expect(nms([a, b1, c], { iouThreshold: 0.5 })).toEqual([a, c])
  })
  it('a suppressed box suppresses nothing', () => {
    // d overlaps a by 70/130 = 0.538 (under 0.6, survives a) and b by 80/120 = 0.667 (over 0.6), but b is
    // suppressed by a first, so it must not take d with it
    const d = box(3, 0, 13, 10, 0.6)
    expect(iou(a, d)).toBeCloseTo(70 / 130, 10)
    expect(iou(b, d)).toBeCloseTo(80 / 120, 10)
    expect(nms([a, b, d], { iouThreshold: 0.6 })).toEqual([a, d])
  })
  it('maxDetections', () => {
    expect(nms([a, c], { iouThreshold: 0.5, maxDetections: 1 })).toEqual([a])
  })
})

describe('weightedNms', () => {
  it('blends a cluster by score, keeps the best score', () => {
    // IoU = 80 / 120 = 0.667 > 0.3; weights 0.9 and 0.1
    const out = weightedNms([box(0, 0, 10, 10, 0.9, 0, [[5, 5]]), box(2, 0, 12, 10, 0.1, 0, [[7, 5]]), box(50, 50, 60, 60, 0.5)], { iouThreshold: 0.3 })
    expect(out).toHaveLength(2)
    expect(out[0]!.x1).toBeCloseTo(0.2, 10)
    expect(out[0]!.x2).toBeCloseTo(10.2, 10)
    expect(out[0]!.y1).toBe(0)
    expect(out[0]!.score).toBe(0.9)
    expect(out[0]!.points![0]![0]).toBeCloseTo(5.2, 10)
    expect(out[1]).toEqual(box(50, 50, 60, 60, 0.5))
  })
})
