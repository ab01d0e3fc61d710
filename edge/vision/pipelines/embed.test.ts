import { describe, expect, it } from 'vitest'
import type { ModelManifest } from '../../../models/manifest.ts'
import type { ModelRunner, RawImage, Tensor } from '../inference/types.ts'
import { alignedFace, embedFace, faceCrop, matchThreshold } from './embed.ts'
import { detectFaces } from './face.ts'
import { detectObjects } from './person.ts'

function blank(width: number, height: number): RawImage {
  return { width, height, channels: 3, data: new Uint8Array(width * height * 3) }
}
function dot(img: RawImage, cx: number, cy: number, r = 2) {
  for (let y = cy - r; y <= cy + r; y++) for (let x = cx - r; x <= cx + r; x++) img.data.fill(255, (y * img.width + x) * 3, (y * img.width + x) * 3 + 3)
}
/** Centroid of bright pixels with x in [x0, x1). */
function centroid(px: Uint8Array, w: number, x0: number, x1: number): [number, number] {
  let sx = 0
  let sy = 0
  let n = 0
  for (let i = 0; i < px.length / 3; i++) {
    const x = i % w
    if (x < x0 || x >= x1 || px[i * 3]! < 128) continue
    sx += x
    sy += Math.floor(i / w)
    n++
  }
  return [sx / n, sy / n]
}

describe('face crop and alignment', () => {
  it('levels the eyes: a face rolled by atan(20/60) comes out with both eyes on one row, centred', async () => {
    const img = blank(200, 200)
    dot(img, 70, 90)
    dot(img, 130, 110)
    const face = { x: 50, y: 50, w: 100, h: 100, landmarks: [[70, 90], [130, 110]] as Array<[number, number]> }
    expect(faceCrop(face, { margin: 1, shiftY: 0, align: true }).angle).toBeCloseTo(Math.atan2(20, 60), 10)
    const out = await alignedFace(img, face, { margin: 1, shiftY: 0, align: true }, 100, 100)
    const [l, r] = [centroid(out, 100, 0, 50), centroid(out, 100, 50, 100)]
    // eyes 63.2 px apart, about the crop centre (50, 50), within 1.5 px (the crop is cut on whole pixels; pixel index vs centre)
    expect(Math.abs(l[1] - r[1])).toBeLessThan(1)
    expect(Math.abs(l[1] - 50)).toBeLessThan(1.5)
    expect(Math.abs(l[0] - (50 - Math.hypot(60, 20) / 2))).toBeLessThan(1.5)
    expect(Math.abs(r[0] - (50 + Math.hypot(60, 20) / 2))).toBeLessThan(1.5)
    // without alignment the roll stays: the right eye 20 px lower
    const raw = await alignedFace(img, face, { margin: 1, shiftY: 0, align: false }, 100, 100)
    expect(Math.abs(centroid(raw, 100, 50, 100)[1] - centroid(raw, 100, 0, 50)[1] - 20)).toBeLessThan(1)
  })

  it('a face much larger than the model input is cut from a shrunk frame: same picture, small buffers', async () => {
    const img = blank(1200, 1200)
    dot(img, 420, 540, 20)
    dot(img, 780, 660, 20)
    const face = { x: 100, y: 100, w: 1000, h: 1000, landmarks: [[420, 540], [780, 660]] as Array<[number, number]> }
    const out = await alignedFace(img, face, { margin: 1, shiftY: 0, align: true }, 100, 100)
    const [l, r] = [centroid(out, 100, 0, 50), centroid(out, 100, 50, 100)]
    // eyes 379 px apart in 1000 → 37.9 px in 100, level, about the centre
    expect(Math.abs(l[1] - r[1])).toBeLessThan(1.5)
    expect(Math.abs(r[0] - l[0] - Math.hypot(360, 120) / 10)).toBeLessThan(2)
    expect(Math.abs((l[0] + r[0]) / 2 - 50)).toBeLessThan(1.5)
  })

  it('margin and shift; a face at the corner is padded with black, not refused', async () => {
    const img = blank(100, 100)
    img.data.fill(200)
    const face = { x: -10, y: -10, w: 40, h: 40, landmarks: [] }
    const c = faceCrop(face, { margin: 1.5, shiftY: 0.25, align: true })
    expect(c).toEqual({ cx: 10, cy: 20, side: 60, angle: 0 })
    const out = await alignedFace(img, face, { margin: 1.5, shiftY: 0.25, align: true }, 60, 60)
    // crop spans x −20..40, y −10..50: the first 20 columns and 10 rows are outside the image
    expect(out[(5 * 60 + 30) * 3]).toBe(0)
    expect(out[(30 * 60 + 5) * 3]).toBe(0)
    expect(out[(30 * 60 + 40) * 3]).toBe(200)
  })
})

const manifest = (family: string, decoder: Record<string, unknown> = {}) =>
  ({
    name: 'm',
    family,
    decoder,
    input: { name: 'in', shape: [1, 8, 8, 3], layout: 'NHWC', colour: 'rgb', resize: 'stretch', padValue: 0, mean: [0, 0, 0], std: [1, 1, 1] },
  }) as unknown as ModelManifest

describe('pipelines refuse a manifest of the wrong family or with bad decoder parameters', () => {
  const runner: ModelRunner = { run: async () => ({}) }
  const img = blank(8, 8)
  it('family', async () => {
    await expect(detectObjects(runner, manifest('blazeface'), img)).rejects.toMatchObject({ code: 'STORE_EDGE_ERR_MODEL_MANIFEST' })
    await expect(detectFaces(runner, manifest('nanodet'), img)).rejects.toMatchObject({ code: 'STORE_EDGE_ERR_MODEL_MANIFEST' })
    await expect(embedFace(runner, manifest('scrfd'), img)).rejects.toMatchObject({ code: 'STORE_EDGE_ERR_MODEL_MANIFEST' })
    expect(() => matchThreshold(manifest('faceres', { matchThreshold: 2 }))).toThrow(/matchThreshold/)
    expect(matchThreshold(manifest('faceres', { matchThreshold: 0.6 }))).toBe(0.6)
  })
  it('feeds the manifest input name and the model input size; decodes what comes back', async () => {
    const seen: Array<[string, Record<string, Tensor>]> = []
    const echo: ModelRunner = {
      run: async (model, feeds) => {
        seen.push([model, feeds])
        const v = new Float32Array(32)
        v[0] = 3
        v[1] = 4
        return { e: { dims: [1, 32], data: v } }
      },
    }
    const e = await embedFace(echo, manifest('embedding'), img)
    expect(seen[0]![0]).toBe('m')
    expect(seen[0]![1].in!.dims).toEqual([1, 8, 8, 3])
    expect([e.vector[0], e.vector[1]]).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)])
  })
})
