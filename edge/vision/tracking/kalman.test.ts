import { describe, expect, it } from 'vitest'
import { BoxKalman } from './kalman.ts'

describe('BoxKalman', () => {
  it('learns a constant velocity and predicts the motion ahead', () => {
    // 120 px/s right, 30 px/s down, at an irregular frame rate.
    const at = (ts: number) => ({ x: 50 + 0.12 * ts, y: 80 + 0.03 * ts, w: 40, h: 100 })
    const kf = new BoxKalman(at(0), 0)
    const times = [0, 200, 390, 610, 800, 1000, 1230, 1400, 1600, 1800, 2010]
    for (const ts of times.slice(1)) {
      kf.predict(ts)
      kf.update(at(ts))
    }
    expect(kf.velocity().vx).toBeCloseTo(120, 0)
    expect(kf.velocity().vy).toBeCloseTo(30, 0)
    kf.predict(3010)
    const b = kf.box()
    const truth = at(3010)
    expect(Math.abs(b.x - truth.x)).toBeLessThan(2)
    expect(Math.abs(b.y - truth.y)).toBeLessThan(2)
    expect(b.w).toBeCloseTo(40, 1)
    expect(b.h).toBeCloseTo(100, 1)
  })

  it('grows its uncertainty while predicting and shrinks it on an update', () => {
    const kf = new BoxKalman({ x: 0, y: 0, w: 40, h: 100 }, 0)
    const p0 = kf.cov[0]!
    kf.predict(1000)
    const p1 = kf.cov[0]!
    expect(p1).toBeGreaterThan(p0)
    kf.update({ x: 0, y: 0, w: 40, h: 100 })
    expect(kf.cov[0]!).toBeLessThan(p1)
  })

  it('matches the full 8×8 Kalman equations (block-diagonal covariance is exact)', () => {
    const kf = new BoxKalman({ x: 10, y: 20, w: 30, h: 90 }, 0)
    // Reference: plain 8×8 matrices.
    const h0 = 90
    let x = [25, 65, 30, 90, 0, 0, 0, 0]
    let P = diag([0.1 * h0, 0.1 * h0, 0.1 * h0, 0.1 * h0, h0, h0, h0, h0].map((s) => s * s))
    const steps: Array<[number, [number, number, number, number]]> = [
      [200, [14, 22, 31, 91]],
      [450, [19, 25, 31, 92]],
      [600, [23, 26, 32, 92]],
    ]
    let t = 0
    for (const [ts, z] of steps) {
      const dt = (ts - t) / 1000
      t = ts
      const hp = x[3]!
      const F = eye(8)
      for (let i = 0; i < 4; i++) F[i]![i + 4] = dt
      const Q = diag([0, 1, 2, 3].map(() => (0.05 * hp) ** 2 * dt).concat([0, 1, 2, 3].map(() => (0.5 * hp) ** 2 * dt)))
      x = mv(F, x)
      P = add(mm(mm(F, P), tr(F)), Q)
      const r = (0.05 * x[3]!) ** 2
      // H = [I 0]; S = P[0:4,0:4] + rI is diagonal here, K = P[:,0:4] S⁻¹.
      const zc = [z[0] + z[2] / 2, z[1] + z[3] / 2, z[2], z[3]]
      const S = [0, 1, 2, 3].map((i) => P[i]![i]! + r)
      const K = P.map((row) => [0, 1, 2, 3].map((j) => row[j]! / S[j]!))
      const y = [0, 1, 2, 3].map((i) => zc[i]! - x[i]!)
      x = x.map((v, i) => v + [0, 1, 2, 3].reduce((s, j) => s + K[i]![j]! * y[j]!, 0))
      const KH = K.map((row) => [...row, 0, 0, 0, 0])
      P = mm(add(eye(8), KH.map((row) => row.map((v) => -v))), P)
      kf.predict(ts)
      kf.update({ x: z[0], y: z[1], w: z[2], h: z[3] })
    }
    for (let i = 0; i < 8; i++) expect(kf.mean[i]!).toBeCloseTo(x[i]!, 9)
    for (let i = 0; i < 4; i++) {
      expect(kf.cov[3 * i]!).toBeCloseTo(P[i]![i]!, 9)
      expect(kf.cov[3 * i + 1]!).toBeCloseTo(P[i]![i + 4]!, 9)
      expect(kf.cov[3 * i + 2]!).toBeCloseTo(P[i + 4]![i + 4]!, 9)
      for (let j = 0; j < 8; j++) if (j !== i && j !== i + 4) expect(Math.abs(P[i]![j]!)).toBeLessThan(1e-12)
    }
  })
})

type M = number[][]
const eye = (n: number): M => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)))
const diag = (d: number[]): M => d.map((v, i) => d.map((_, j) => (i === j ? v : 0)))
const tr = (a: M): M => a[0]!.map((_, j) => a.map((row) => row[j]!))
const add = (a: M, b: M): M => a.map((row, i) => row.map((v, j) => v + b[i]![j]!))
const mm = (a: M, b: M): M => a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)))
const mv = (a: M, x: number[]): number[] => a.map((row) => row.reduce((s, v, k) => s + v * x[k]!, 0))
