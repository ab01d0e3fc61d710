import { describe, expect, it } from 'vitest'
import { DistanceTracks, MAX_DISTANCE_M, MIN_DISTANCE_M, OUTLIER_RUN, isImplausibleJump, medianOf, rssiToDistance, sightingDistance } from './rssi.ts'
import { gaussian, rng, rssiAt } from './test-support.ts'

const params = { medianWindow: 3, maxSpeedMps: 4, minCutoff: 0.05, beta: 0.5 }

describe('RSSI to distance', () => {
  it('follows the log-distance path loss model and clamps', () => {
    expect(rssiToDistance(-65, -65, 3.5)).toBeCloseTo(1, 9)
    expect(rssiToDistance(-100, -65, 3.5)).toBeCloseTo(10, 9)
    expect(rssiToDistance(-85, -65, 2)).toBeCloseTo(10, 9)
    expect(rssiToDistance(-10, -65, 3.5)).toBe(MIN_DISTANCE_M)
    expect(rssiToDistance(-200, -65, 3.5)).toBe(MAX_DISTANCE_M)
    expect(rssiToDistance(NaN, -65, 3.5)).toBe(MIN_DISTANCE_M)
  })

  it('applies the sensor offset, prefers the advertised tx power, and takes the sensor distance as is', () => {
    const sensor = { rssiOffset: 5, absorption: 3.5 }
    expect(sightingDistance({ rssi: -70 }, sensor, -65)).toBeCloseTo(1, 9)
    expect(sightingDistance({ rssi: -94, txPower: -59 }, { rssiOffset: 0, absorption: 3.5 }, -65)).toBeCloseTo(10, 9)
    expect(sightingDistance({ rssi: -94, distanceM: 2.5 }, sensor, -65)).toBe(2.5)
    expect(sightingDistance({ rssi: -94, distanceM: 500 }, sensor, -65)).toBe(MAX_DISTANCE_M)
    expect(sightingDistance({ rssi: -65, distanceM: 0 }, { rssiOffset: 0, absorption: 3.5 }, -65)).toBeCloseTo(1, 9)
  })
})

describe('median pre-filter', () => {
  it('takes the median of odd and even windows without allocating', () => {
    const scratch = new Float64Array(9)
    expect(medianOf([9, 1, 5], 0, 3, scratch)).toBe(5)
    expect(medianOf([0, 4, 2, 8, 6], 1, 4, scratch)).toBe(5)
    expect(medianOf([7], 0, 1, scratch)).toBe(7)
  })

  it('removes a single spike', () => {
    const t = new DistanceTracks(params, 1)
    let last = 0
    for (let i = 0; i < 20; i++) last = t.update(0, i === 10 ? 15 : 3, i * 1000)
    expect(last).toBeCloseTo(3, 5)
    const t2 = new DistanceTracks(params, 1)
    for (let i = 0; i < 11; i++) last = t2.update(0, i === 10 ? 15 : 3, i * 1000)
    expect(last).toBeCloseTo(3, 5) // the spike sample itself is already hidden by the median
  })
})

describe('implausible-speed rejection', () => {
  it('judges a jump against speed × Δt plus the ranging noise', () => {
    expect(isImplausibleJump(3, 20, 1, 4)).toBe(true)
    expect(isImplausibleJump(3, 5, 1, 4)).toBe(false)
    expect(isImplausibleJump(3, 20, 10, 4)).toBe(false) // ten seconds: could have walked there
  })

  it('drops a burst of outliers, then accepts a lasting new level after OUTLIER_RUN samples', () => {
    const t = new DistanceTracks({ ...params, medianWindow: 1 }, 1)
    for (let i = 0; i < 10; i++) t.update(0, 3, i * 1000)
    expect(t.update(0, 25, 10_000)).toBeNaN()
    expect(t.value(0)).toBeCloseTo(3, 5)
    expect(t.update(0, 3, 11_000)).toBeCloseTo(3, 5) // back: the run is reset
    const results: number[] = []
    for (let i = 0; i < OUTLIER_RUN; i++) results.push(t.update(0, 25, 12_000 + i * 1000))
    expect(results.slice(0, -1).every(Number.isNaN)).toBe(true)
    expect(results.at(-1)).toBeCloseTo(25, 5) // the device really moved
    expect(t.samples(0)).toBe(OUTLIER_RUN)
  })

  it('never rejects a walk at a normal pace', () => {
    const t = new DistanceTracks(params, 1)
    for (let i = 0; i <= 20; i++) expect(t.update(0, 1 + i * 1.2, i * 1000)).not.toBeNaN()
    expect(t.value(0)).toBeGreaterThan(20)
  })

  it('reduces ranging noise at rest (median + 1-Euro with the configured defaults)', () => {
    const g = gaussian(rng(3))
    const t = new DistanceTracks(params, 1)
    const raw: number[] = []
    const out: number[] = []
    for (let i = 0; i < 600; i++) {
      const d = rssiToDistance(rssiAt(5, 4 * g()), -65, 3.5)
      const y = t.update(0, d, i * 1000)
      if (i >= 30 && !Number.isNaN(y)) {
        raw.push(d)
        out.push(y)
      }
    }
    const mad = (xs: number[]) => xs.reduce((a, x) => a + Math.abs(x - 5), 0) / xs.length
    expect(mad(out)).toBeLessThan(0.75 * mad(raw))
  })

  it('keeps slots independent and can reset one', () => {
    const t = new DistanceTracks(params, 2)
    t.update(0, 2, 0)
    t.update(1, 8, 0)
    expect(t.value(0)).toBe(2)
    expect(t.value(1)).toBe(8)
    t.reset(1)
    expect(t.value(1)).toBeNaN()
    t.grow(10)
    expect(t.value(0)).toBe(2)
    expect(t.capacity).toBe(10)
  })
})
