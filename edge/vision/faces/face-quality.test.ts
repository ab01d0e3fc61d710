import { describe, expect, it } from 'vitest'
import type { RawImage } from '../inference/types.ts'
import { faceQuality, facePose, greyFace, laplacianVariance } from './face-quality.ts'

/** Synthetic images and landmarks for the arithmetic; tests/faces.quality.test.ts judges real faces. */

function image(w: number, h: number, f: (x: number, y: number) => number): RawImage {
  const data = new Uint8Array(w * h * 3)
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.fill(f(x, y), (y * w + x) * 3, (y * w + x) * 3 + 3)
  return { width: w, height: h, channels: 3, data }
}
const checker = (n: number) => (x: number, y: number) => ((Math.floor(x / n) + Math.floor(y / n)) % 2 ? 255 : 0)
// frontal: eyes level, nose centred below them
const frontal: Array<[number, number]> = [[40, 40], [60, 40], [50, 52], [50, 62], [30, 44], [70, 44]]

describe('laplacianVariance', () => {
  it('is 0 on a flat image and large on fine detail', () => {
    expect(laplacianVariance(new Float32Array(64 * 64).fill(128), 64, 64)).toBe(0)
    const g = greyFace(image(64, 64, checker(2)), { x: 0, y: 0, w: 64, h: 64 })
    expect(laplacianVariance(g, 64, 64)).toBeGreaterThan(10_000)
  })
  it('falls as detail gets coarser (what blur does)', () => {
    const v = [2, 4, 8].map((n) => laplacianVariance(greyFace(image(64, 64, checker(n)), { x: 0, y: 0, w: 64, h: 64 }), 64, 64))
    expect(v[0]).toBeGreaterThan(v[1]!)
    expect(v[1]).toBeGreaterThan(v[2]!)
  })
})

describe('facePose', () => {
  it('frontal: yaw and roll near 0', () => {
    const p = facePose(frontal)!
    expect(Math.abs(p.yawDeg)).toBeLessThan(1)
    expect(Math.abs(p.rollDeg)).toBeLessThan(1)
  })
  it('nose toward one eye: yaw grows with the offset and takes its sign; nose beyond the eye is a profile', () => {
    const yaw = (nx: number) => facePose([[40, 40], [60, 40], [nx, 52]])!.yawDeg
    expect(yaw(55)).toBeGreaterThan(20)
    expect(yaw(55)).toBeLessThan(40)
    expect(yaw(45)).toBeCloseTo(-yaw(55), 5)
    expect(yaw(62)).toBeGreaterThan(45)
  })
  it('roll from the eye line, in either landmark order', () => {
    const r = 30 * (Math.PI / 180)
    const e2: [number, number] = [40 + 20 * Math.cos(r), 40 + 20 * Math.sin(r)]
    expect(facePose([[40, 40], e2, [50, 55]])!.rollDeg).toBeCloseTo(30, 5)
    expect(facePose([e2, [40, 40], [50, 55]])!.rollDeg).toBeCloseTo(30, 5)
  })
  it('undefined without landmarks', () => {
    expect(facePose([])).toBeUndefined()
    expect(facePose([[1, 1], [1, 1], [2, 2]])).toBeUndefined()
  })
})

describe('faceQuality', () => {
  const sharp = image(100, 100, checker(3))
  const box = { x: 20, y: 20, w: 60, h: 60 }
  it('passes a sharp, large, frontal face and reports its numbers', () => {
    const q = faceQuality(sharp, { ...box, landmarks: frontal })
    expect(q).toMatchObject({ ok: true, sizePx: 60 })
    expect(q.reason).toBeUndefined()
    expect(q.sharpness).toBeGreaterThan(150)
  })
  it('reasons in order: size, then blur, then pose', () => {
    expect(faceQuality(sharp, { ...box, w: 30, h: 30, landmarks: frontal }).reason).toBe('size')
    expect(faceQuality(image(100, 100, () => 128), { ...box, landmarks: frontal }).reason).toBe('blur')
    const profile = faceQuality(sharp, { ...box, landmarks: [[40, 40], [60, 40], [64, 52]] })
    expect(profile).toMatchObject({ ok: false, reason: 'pose' })
    expect(profile.yawDeg).toBeGreaterThan(40)
  })
  it('thresholds are options', () => {
    expect(faceQuality(sharp, { ...box, w: 30, h: 30, landmarks: frontal }, { minFacePx: 20 }).ok).toBe(true)
    expect(faceQuality(sharp, { ...box, landmarks: [[40, 40], [60, 40], [64, 52]] }, { maxYawDeg: 80 }).ok).toBe(true)
  })
})
