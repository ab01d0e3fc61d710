import { describe, expect, it } from 'vitest'
import { OneEuroFilter, oneEuroStep, smoothingFactor } from './one-euro.ts'
import { gaussian, rng } from './test-support.ts'

const std = (xs: number[]): number => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length)
}

describe('1-Euro filter (Casiez et al. 2012)', () => {
  it('smoothing factor follows α = 1 / (1 + τ/Te), τ = 1/(2π fc)', () => {
    const fc = 1
    const tau = 1 / (2 * Math.PI * fc)
    expect(smoothingFactor(tau, fc)).toBeCloseTo(0.5, 12)
    expect(smoothingFactor(1000, fc)).toBeGreaterThan(0.999)
    expect(smoothingFactor(1e-6, fc)).toBeLessThan(1e-4)
  })

  it('starts at the first sample and follows a step monotonically, without overshoot', () => {
    const f = new OneEuroFilter({ minCutoff: 0.5, beta: 0, dCutoff: 1 })
    expect(f.filter(0, 0)).toBe(0)
    for (let i = 1; i <= 10; i++) f.filter(0, i / 10)
    const out: number[] = []
    for (let i = 11; i <= 80; i++) out.push(f.filter(10, i / 10))
    for (let i = 1; i < out.length; i++) expect(out[i]!).toBeGreaterThanOrEqual(out[i - 1]!)
    expect(out[0]!).toBeGreaterThan(0)
    expect(out[0]!).toBeLessThan(5) // lag: one sample does not jump to the step
    expect(Math.max(...out)).toBeLessThanOrEqual(10)
    expect(out.at(-1)!).toBeGreaterThan(9.9) // settles within 7 s at fc = 0.5 Hz
  })

  it('a larger beta cuts the lag when the signal moves (the speed-adaptive cut-off)', () => {
    const lagAfter = (beta: number): number => {
      const f = new OneEuroFilter({ minCutoff: 0.05, beta, dCutoff: 1 })
      for (let i = 0; i <= 20; i++) f.filter(0, i / 10)
      let y = 0
      for (let i = 21; i <= 30; i++) y = f.filter(10, i / 10)
      return 10 - y
    }
    expect(lagAfter(1)).toBeLessThan(lagAfter(0) / 3)
  })

  it('reduces noise at rest (jitter speed × β small against the minimum cut-off)', () => {
    const g = gaussian(rng(1))
    const f = new OneEuroFilter({ minCutoff: 0.05, beta: 0.02, dCutoff: 1 })
    const raw: number[] = []
    const smooth: number[] = []
    for (let i = 0; i < 600; i++) {
      const x = 5 + g()
      const y = f.filter(x, i)
      if (i >= 60) {
        raw.push(x)
        smooth.push(y)
      }
    }
    expect(std(smooth)).toBeLessThan(0.5 * std(raw))
    expect(Math.abs(smooth.reduce((a, b) => a + b, 0) / smooth.length - 5)).toBeLessThan(0.3)
  })

  it('survives two samples with the same timestamp', () => {
    const out = new Float64Array(2)
    oneEuroStep({ minCutoff: 0.05, beta: 0.5, dCutoff: 1 }, 3, 0, 4, 0, out)
    expect(Number.isFinite(out[0]!)).toBe(true)
    expect(out[0]!).toBeGreaterThanOrEqual(3)
    expect(out[0]!).toBeLessThanOrEqual(4)
  })
})
