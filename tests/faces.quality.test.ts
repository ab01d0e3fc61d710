import { readFileSync } from 'node:fs'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureModels } from '../models/build.ts'
import type { ModelManifest } from '../models/manifest.ts'
import { loadRegistry } from '../models/registry.ts'
import { createOrtRunner, type OrtRunner } from '../edge/vision/inference/ort-runner.ts'
import { decodeImage } from '../edge/vision/inference/preprocess.ts'
import type { FaceDetection, RawImage } from '../edge/vision/inference/types.ts'
import { detectFaces } from '../edge/vision/pipelines/face.ts'
import { defaultFaceQuality, faceQuality } from '../edge/vision/faces/face-quality.ts'
import { faceVariant, loadFaceSet, type Face } from './support/face-set.ts'

/**
 * The face quality filter on real photos (Debian opencv-doc) with the real BlazeFace: a sharp
 * frontal face passes; the same photo blurred by sharp fails on blur; shrunk, it fails on size.
 * Then every face of the face set: the sharp ones at or above minFacePx pass the blur check, and
 * each, blurred in proportion to its size, fails it.
 */

const HTML = '/usr/share/doc/opencv-doc/opencv4/html'
let runner: OrtRunner
let blazeface: ModelManifest
let faces: Face[]

beforeAll(async () => {
  await ensureModels(['blazeface'])
  runner = createOrtRunner(loadRegistry(), { threads: 1 })
  await runner.load(['blazeface'])
  blazeface = runner.manifest('blazeface')
  faces = await loadFaceSet(runner, blazeface)
}, 120_000)
afterAll(() => runner?.close())

const raw = (img: RawImage) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
const toRaw = async (s: ReturnType<typeof sharp>): Promise<RawImage> => decodeImage(await s.png().toBuffer())

async function onlyFace(img: RawImage): Promise<FaceDetection> {
  const found = await detectFaces(runner, blazeface, img, { scoreThreshold: 0.6 })
  expect(found).toHaveLength(1)
  return found[0]!
}

describe('face quality on a real portrait (227943776_1.jpg, 434×434, one frontal face)', () => {
  let img: RawImage
  beforeAll(async () => {
    img = await decodeImage(readFileSync(`${HTML}/227943776_1.jpg`))
  })

  it('the sharp frontal face passes, with its size, sharpness and a small yaw and roll', async () => {
    const face = await onlyFace(img)
    const q = faceQuality(img, face)
    console.log(`[faces quality] portrait: ${JSON.stringify(q)}`)
    expect(q.ok).toBe(true)
    expect(q.reason).toBeUndefined()
    expect(q.sizePx).toBeGreaterThan(120)
    expect(q.sharpness).toBeGreaterThan(3 * defaultFaceQuality.minSharpness)
    expect(Math.abs(q.yawDeg!)).toBeLessThan(25)
    expect(Math.abs(q.rollDeg!)).toBeLessThan(10)
  })

  it('blurred by sharp (sigma 4), the face is still found but fails on blur', async () => {
    const blurred = await toRaw(raw(img).blur(4))
    const q = faceQuality(blurred, await onlyFace(blurred))
    console.log(`[faces quality] portrait blurred: ${JSON.stringify(q)}`)
    expect(q).toMatchObject({ ok: false, reason: 'blur' })
    expect(q.sizePx).toBeGreaterThan(120)
  })

  it('shrunk to a fifth, the face is still found but fails on size', async () => {
    const small = await toRaw(raw(img).resize(Math.round(img.width / 5)))
    const q = faceQuality(small, await onlyFace(small))
    console.log(`[faces quality] portrait shrunk: ${JSON.stringify(q)}`)
    expect(q).toMatchObject({ ok: false, reason: 'size' })
    expect(q.sizePx).toBeLessThan(defaultFaceQuality.minFacePx)
  })

  it('mirrored, the yaw estimate changes sign', async () => {
    const face = await onlyFace(img)
    const mirrored = await faceVariant({ id: 'A', person: 'A', img, face }, 'flip')
    const a = faceQuality(img, face).yawDeg!
    const b = faceQuality(mirrored.img, mirrored.face).yawDeg!
    expect(Math.sign(a)).toBe(-Math.sign(b))
    expect(Math.abs(a + b)).toBeLessThan(3)
  })
})

describe('face quality over the face set (43 faces, 37–320 px)', () => {
  it('every sharp face of at least minFacePx passes; each one blurred with sigma = size/40 fails on blur', async () => {
    const big = faces.filter((f) => Math.max(f.face.w, f.face.h) >= defaultFaceQuality.minFacePx)
    expect(big.length).toBeGreaterThanOrEqual(40)
    const blurred = new Map<RawImage, Map<number, RawImage>>()
    const lines: string[] = []
    for (const f of big) {
      const sharpQ = faceQuality(f.img, f.face)
      const sigma = Math.max(f.face.w, f.face.h) / 40
      const key = Math.round(sigma * 10)
      let perImg = blurred.get(f.img)
      if (!perImg) blurred.set(f.img, (perImg = new Map()))
      let b = perImg.get(key)
      if (!b) perImg.set(key, (b = await toRaw(raw(f.img).blur(Math.max(0.3, key / 10)))))
      const blurQ = faceQuality(b, f.face)
      lines.push(`${f.id}: ${Math.round(sharpQ.sizePx)} px, sharpness ${Math.round(sharpQ.sharpness)} → ${Math.round(blurQ.sharpness)} (sigma ${(key / 10).toFixed(1)}), yaw ${sharpQ.yawDeg?.toFixed(0)}`)
      // a sharp face passes the size and blur checks (pose varies over the set: only a few are turned > maxYawDeg)
      expect(sharpQ.reason === undefined || sharpQ.reason === 'pose', lines.at(-1)).toBe(true)
      expect(blurQ.reason, lines.at(-1)).toBe('blur')
    }
    console.log(`[faces quality] set:\n  ${lines.join('\n  ')}`)
  })
})
