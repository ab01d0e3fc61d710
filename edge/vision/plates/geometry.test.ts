import { describe, expect, it } from 'vitest'
import { ctcClasses, ctcGreedy } from './ctc.ts'
import { boxScore, dbBoxes } from './db-postprocess.ts'
import { convexHull, minAreaRect, orderQuad, rectCorners, rectToQuad, type Point } from './geometry.ts'
import { warpQuad } from './warp.ts'

const close = (a: Point[], b: Point[], eps = 1e-6) => a.every((p, i) => Math.abs(p[0] - b[i]![0]) < eps && Math.abs(p[1] - b[i]![1]) < eps)

describe('geometry', () => {
  it('hull drops interior points', () => {
    const hull = convexHull([[0, 0], [4, 0], [4, 3], [0, 3], [2, 1], [1, 2]])
    expect(hull).toHaveLength(4)
  })

  it('minimum-area rectangle of a rotated rectangle is that rectangle', () => {
    const a = (20 * Math.PI) / 180
    const pts: Point[] = [[-30, -8], [30, -8], [30, 8], [-30, 8]].map(([x, y]) => [100 + x! * Math.cos(a) - y! * Math.sin(a), 50 + x! * Math.sin(a) + y! * Math.cos(a)])
    const r = minAreaRect(pts)
    expect(Math.max(r.width, r.height)).toBeCloseTo(60, 6)
    expect(Math.min(r.width, r.height)).toBeCloseTo(16, 6)
    expect(close(rectCorners(r), orderQuad(pts))).toBe(true)
  })

  it('orders corners TL, TR, BR, BL', () => {
    expect(orderQuad([[10, 10], [0, 10], [10, 0], [0, 0]])).toEqual([[0, 0], [10, 0], [10, 10], [0, 10]])
  })

  it('homography maps the rectangle corners onto the quad', () => {
    const q: Point[] = [[10, 20], [110, 25], [105, 60], [12, 55]]
    const H = rectToQuad(200, 48, q)
    const map = ([x, y]: Point): Point => {
      const d = H[6]! * x + H[7]! * y + H[8]!
      return [(H[0]! * x + H[1]! * y + H[2]!) / d, (H[3]! * x + H[4]! * y + H[5]!) / d]
    }
    expect(close([map([0, 0]), map([200, 0]), map([200, 48]), map([0, 48])], q, 1e-6)).toBe(true)
  })

  it('warp of an axis-aligned quad is a crop', () => {
    const W = 8, H = 6
    const data = new Uint8Array(W * H * 3)
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data.set([x * 30, y * 40, 7], (y * W + x) * 3)
    const out = warpQuad({ width: W, height: H, channels: 3, data }, [[2, 1], [6, 1], [6, 4], [2, 4]], 4, 3)
    expect([...out.data.subarray(0, 3)]).toEqual([60, 40, 7])
    expect([...out.data.subarray((2 * 4 + 3) * 3, (2 * 4 + 3) * 3 + 3)]).toEqual([150, 120, 7])
  })
})

describe('DB post-processing', () => {
  it('finds a text kernel, scores it and unclips it by A·r/L', () => {
    const w = 64, h = 32
    const prob = new Float32Array(w * h)
    for (let y = 12; y <= 19; y++) for (let x = 10; x <= 49; x++) prob[y * w + x] = 0.9
    const boxes = dbBoxes(prob, w, h)
    expect(boxes).toHaveLength(1)
    expect(boxes[0]!.score).toBeCloseTo(0.9, 5)
    // Kernel spans pixel centres 10..49 × 12..19: 39 × 7; d = 39·7·1.5 / (2·46) = 4.45.
    const [tl, , br] = boxes[0]!.quad as [Point, Point, Point, Point]
    expect(tl[0]).toBeCloseTo(10 - 4.451, 2)
    expect(tl[1]).toBeCloseTo(12 - 4.451, 2)
    expect(br[0]).toBeCloseTo(49 + 4.451, 2)
    expect(br[1]).toBeCloseTo(19 + 4.451, 2)
  })

  it('drops weak regions and specks', () => {
    const w = 64, h = 32
    const prob = new Float32Array(w * h)
    for (let y = 2; y <= 9; y++) for (let x = 2; x <= 40; x++) prob[y * w + x] = 0.45 // above thresh, below box thresh
    prob[25 * w + 50] = 0.99 // a speck
    expect(dbBoxes(prob, w, h)).toHaveLength(0)
    expect(boxScore(prob, w, h, [[2, 2], [40, 2], [40, 9], [2, 9]])).toBeCloseTo(0.45, 5)
  })

  it('separates two regions', () => {
    const w = 80, h = 40
    const prob = new Float32Array(w * h)
    for (let y = 5; y <= 12; y++) for (let x = 5; x <= 30; x++) prob[y * w + x] = 0.8
    for (let y = 25; y <= 32; y++) for (let x = 40; x <= 75; x++) prob[y * w + x] = 0.95
    const boxes = dbBoxes(prob, w, h)
    expect(boxes).toHaveLength(2)
  })
})

describe('CTC', () => {
  const classes = ctcClasses('a\nb\nc\n')
  it('has blank first and space last', () => {
    expect(classes).toEqual(['', 'a', 'b', 'c', ' '])
  })
  it('collapses repeats and drops blanks', () => {
    const seq = [1, 1, 0, 1, 2, 2, 0, 0, 3, 4, 3]
    const probs = new Float32Array(seq.length * classes.length)
    seq.forEach((c, t) => {
      probs.fill(0.05, t * classes.length, (t + 1) * classes.length)
      probs[t * classes.length + c] = 0.8
    })
    const r = ctcGreedy(probs, seq.length, classes)
    expect(r.text).toBe('aabc c')
    expect(r.probs).toHaveLength(6)
    expect(r.probs[0]).toBeCloseTo(0.8)
  })
})
