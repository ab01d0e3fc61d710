import { readFileSync } from 'node:fs'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureModels } from '../models/build.ts'
import { loadRegistry } from '../models/registry.ts'
import { createOrtRunner, type OrtRunner } from '../edge/vision/inference/ort-runner.ts'
import type { PlateRead } from '../edge/vision/inference/types.ts'
import { inConvex, type Point } from '../edge/vision/plates/geometry.ts'
import { decodeImage } from '../edge/vision/inference/preprocess.ts'
import { readText, recClasses, recognize, rectifyCrop, type OcrModels } from '../edge/vision/plates/ocr.ts'
import { readPlates } from '../edge/vision/plates/plate-reader.ts'
import { assertCjkFont, compositeQuad, OPENCV_DOC, renderPlate, signFrame, synthFrame } from './fixtures/plates/synth.ts'

/**
 * The plate reader on the real PP-OCRv4 models (one intra-op thread, as on an edge box's core).
 * Real photographs first (Debian opencv-doc): what they honestly allow is text found and read where
 * it is, and no plate invented from signs, blurred plates or scenes without one. Exact plate reading
 * is measured on plates rendered in a CJK font (fonts-wqy-zenhei) and composited onto real photos.
 */

const MODELS = ['ppocr-det', 'ppocr-rec', 'ppocr-cls']
let runner: OrtRunner
let models: OcrModels

beforeAll(async () => {
  assertCjkFont()
  await ensureModels(MODELS)
  const registry = loadRegistry()
  runner = createOrtRunner(registry, { threads: 1 })
  await runner.load(MODELS)
  models = { det: runner.manifest('ppocr-det'), rec: runner.manifest('ppocr-rec'), cls: runner.manifest('ppocr-cls') }
})
afterAll(async () => runner?.close())

const photo = (rel: string) => readFileSync(`${OPENCV_DOC}/${rel}`)
const centre = (q: Array<[number, number]> | Point[]): Point => [q.reduce((a, p) => a + p[0], 0) / 4, q.reduce((a, p) => a + p[1], 0) / 4]

describe('real photographs (opencv-doc)', () => {
  it('reads the real Chinese sign in text_det_test_results.jpg where it is, and does not take it for a plate', async () => {
    const img = photo('opencv4/html/text_det_test_results.jpg')
    const texts = await readText(runner, models, img)
    const sign = texts.find((t) => t.text === '图像采集区域')
    expect(sign, JSON.stringify(texts.map((t) => t.text))).toBeDefined()
    // The sign's characters span about x 130–330, y 75–160 in the 400×300 photo.
    const [cx, cy] = centre(sign!.quad)
    expect(cx).toBeGreaterThan(180)
    expect(cx).toBeLessThan(280)
    expect(cy).toBeGreaterThan(95)
    expect(cy).toBeLessThan(140)
    expect(texts.some((t) => t.text === 'Video')).toBe(true)
    expect(await readPlates(runner, models, img)).toEqual([])
    // Asked for every plate-shaped text, the sign comes back with no plate.
    const all = await readPlates(runner, models, img, { includeInvalid: true })
    expect(all.length).toBeGreaterThan(0)
    expect(all.every((r) => r.plate === null)).toBe(true)
  })

  it('reads a real page of printed text line by line (imageTextN.png: 13 lines)', async () => {
    const texts = await readText(runner, models, photo('examples/data/imageTextN.png'))
    const lines = [
      'technical details are too complex to cover in the book itself.',
      'In teaching our courses, we have found it useful for the students to attempt a number of',
      'small implementation projects, which often build on one another, in order to get them used to',
      'working with real-world images and the challenges that these present. The students are then',
      'asked to choose an individual topic for each of their small-group, final projects. (Sometimes',
      'these projects even turn into conference papers!) The exercises at the end of each chapter',
      'contain numerous suggestions for smaller mid-term projects, as well as more open-ended',
      'problems whose solutions are still active research topics. Wherever possible, I encourage',
      'students to try their algorithms on their own personal photographs, since this better motivates',
      'them, often leads to creative variants on the problems, and better acquaints them with the',
      'variety and complexity of real-world imagery.',
      'In formulating and solving computer vision problems, I have often found it useful to draw',
      'inspiration from three high-level approaches:',
    ]
    const found = new Set(texts.map((t) => t.text))
    const exact = lines.filter((l) => found.has(l)).length
    console.log(`imageTextN.png: ${exact}/${lines.length} lines exact`)
    expect(exact).toBeGreaterThanOrEqual(12)
    // Lines come back in their places: the first line is the top-most.
    const first = texts.find((t) => t.text === lines[0])!
    expect(Math.min(...texts.map((t) => centre(t.quad)[1]))).toBeCloseTo(centre(first.quad)[1], 0)
    expect(await readPlates(runner, models, photo('examples/data/imageTextN.png'))).toEqual([])
  })

  it('recognises a real cropped word (text_rec_test.png, 66×18 px)', async () => {
    const img = await decodeImage(photo('opencv4/html/text_rec_test.png'))
    const crop = rectifyCrop(img, [[0, 0], [img.width, 0], [img.width, img.height], [0, img.height]], 48, 1280)
    const r = await recognize(runner, models.rec, crop, recClasses(models.rec))
    expect(r.text).toBe('Welcome')
    expect(Math.min(...r.probs)).toBeGreaterThan(0.5)
  })

  it('defocused and motion-blurred real text photos give no plate', async () => {
    for (const f of ['examples/data/text_motion.jpg', 'examples/data/text_defocus.jpg']) {
      expect(await readPlates(runner, models, photo(f)), f).toEqual([])
    }
  })

  it('a street photo (motion_original.jpg): the СТОП road sign is found as text, no plate is invented from it or the blurred cars', async () => {
    const img = photo('opencv4/html/motion_original.jpg')
    const texts = await readText(runner, models, img)
    const stop = texts.find((t) => /^[CС][TТ][OО0][ПN]$/u.test(t.text))
    expect(stop, JSON.stringify(texts.map((t) => t.text))).toBeDefined()
    const [cx, cy] = centre(stop!.quad)
    expect(cx).toBeGreaterThan(560)
    expect(cy).toBeLessThan(110)
    expect(await readPlates(runner, models, img)).toEqual([])
  })

  it('a real but motion-blurred plate (licenseplate_motion.jpg) is not read as anything', async () => {
    // The US plate there is smeared beyond reading by people too: the honest result is no plate.
    expect(await readPlates(runner, models, photo('examples/data/licenseplate_motion.jpg'))).toEqual([])
  })

  it('frames with no plate give no read', async () => {
    for (const f of ['examples/data/messi5.jpg', 'examples/data/building.jpg', 'examples/data/home.jpg', 'opencv4/html/black_car.jpg', 'opencv4/html/white_car.jpg']) {
      expect(await readPlates(runner, models, photo(f)), f).toEqual([])
    }
  })
})

describe('shop signs composited onto real photos', () => {
  it('are read as text but never as plates, even with a province character, letters and digits', async () => {
    const signs = ['苏宁易购 SUNING', '京东便利店 24H', '粤菜馆 020-8765', '川味小吃 NO.1', '沪上阿姨 A8', 'SALE 50% OFF']
    for (const [i, text] of signs.entries()) {
      const jpeg = await signFrame(text, i + 1, i % 2 ? { bg: '#0d47a8', fg: '#ffffff' } : undefined)
      const texts = await readText(runner, models, jpeg, { limitSideLen: 960 })
      const squash = (s: string) => s.replace(/\s/g, '').toUpperCase()
      // The sign is legible (so no plate is a decision, not blindness)…
      expect(texts.some((t) => squash(t.text).includes(squash(text).slice(0, 3))), `${text}: ${JSON.stringify(texts.map((t) => t.text))}`).toBe(true)
      // …and it is not a plate.
      expect(await readPlates(runner, models, jpeg), text).toEqual([])
    }
  })
})

describe('plates composited onto real photos', () => {
  const N = 50
  const results: Array<{ plate: string; kind: string; read: PlateRead | undefined }> = []

  beforeAll(async () => {
    for (let seed = 1; seed <= N; seed++) {
      const f = await synthFrame(seed)
      const reads = await readPlates(runner, models, f.jpeg)
      const read = reads[0]
      results.push({ plate: f.plate, kind: f.kind, read })
      // Where the reader says the plate is, it is.
      if (read?.plate === f.plate) expect(inConvex(f.quad, ...centre(read.quad))).toBe(true)
    }
  }, 120_000)

  it('reads the exact plate in at least 90% of 1280×720 frames (blue ordinary and green new-energy)', () => {
    const rate = (kind?: string) => {
      const set = results.filter((r) => !kind || r.kind === kind)
      return { n: set.length, ok: set.filter((r) => r.read?.plate === r.plate).length }
    }
    const all = rate()
    const misses = results.filter((r) => r.read?.plate !== r.plate).map((r) => `${r.plate} → ${r.read?.plate ?? r.read?.text ?? 'nothing'}`)
    console.log(
      `plates: exact ${all.ok}/${all.n} (ordinary ${rate('ordinary').ok}/${rate('ordinary').n}, new-energy ${rate('new-energy').ok}/${rate('new-energy').n})` +
        (misses.length ? `; misses: ${misses.join(', ')}` : ''),
    )
    expect(all.ok / all.n).toBeGreaterThanOrEqual(0.9)
  })

  it('confidence of correct reads is high (every one over 0.3, mean over 0.7) and never above 1', () => {
    const good = results.filter((r) => r.read?.plate === r.plate).map((r) => r.read!.confidence)
    console.log(`plates: confidence of correct reads min ${Math.min(...good).toFixed(3)}, mean ${(good.reduce((a, b) => a + b, 0) / good.length).toFixed(3)}`)
    expect(Math.min(...good)).toBeGreaterThan(0.3)
    expect(good.reduce((a, b) => a + b, 0) / good.length).toBeGreaterThan(0.7)
    for (const r of results) if (r.read) expect(r.read.confidence).toBeLessThanOrEqual(1)
  })

  it('reads an upside-down plate with the direction classifier', async () => {
    let withCls = 0
    let without = 0
    const seeds = [101, 102, 103, 104, 105, 106]
    for (const seed of seeds) {
      const f = await synthFrame(seed, { upsideDown: true })
      if ((await readPlates(runner, models, f.jpeg))[0]?.plate === f.plate) withCls++
      if ((await readPlates(runner, models, f.jpeg, { useCls: false }))[0]?.plate === f.plate) without++
    }
    expect(withCls).toBeGreaterThanOrEqual(5)
    expect(without).toBeLessThanOrEqual(1)
  })

  it('reads two plates in one frame, one read each', async () => {
    const f = await synthFrame(8)
    const frame = await decodeImage(f.jpeg)
    const other = f.plate.startsWith('浙') ? '沪AD12345' : '浙B7K392'
    const img = await renderPlate(other, 200)
    // Beside the first plate, on the other half of the frame.
    const x = centre(f.quad)[0] < 640 ? 900 : 150
    compositeQuad(frame, img, [[x, 560], [x + img.width, 556], [x + img.width, 556 + img.height], [x, 560 + img.height]])
    const reads = await readPlates(runner, models, frame)
    expect(reads.map((r) => r.plate).sort()).toEqual([f.plate, other].sort())
  })

  it('reads the same plate when told the region to look in', async () => {
    const f = await synthFrame(3)
    const xs = f.quad.map((p) => p[0])
    const ys = f.quad.map((p) => p[1])
    const region = { x: Math.min(...xs) - 120, y: Math.min(...ys) - 80, w: Math.max(...xs) - Math.min(...xs) + 240, h: Math.max(...ys) - Math.min(...ys) + 160 }
    const reads = await readPlates(runner, models, f.jpeg, { region })
    expect(reads[0]?.plate).toBe(f.plate)
  })
})

describe('manifest problems', () => {
  it('bad decoder parameters are STORE_EDGE_ERR_MODEL_MANIFEST naming the model and the field', async () => {
    const det = { ...models.det, decoder: { thresh: 2, unclip: 1 } }
    const err = await readPlates(runner, { ...models, det }, (await synthFrame(1)).jpeg).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'STORE_EDGE_ERR_MODEL_MANIFEST' })
    expect(String((err as Error).message)).toMatch(/ppocr-det.*\/thresh/)
  })

  it('a dictionary that does not fit the recogniser is STORE_EDGE_ERR_MODEL_MISMATCH with both counts', async () => {
    const rec = { ...models.rec, decoder: { ...models.rec.decoder, useSpaceChar: false } }
    const err = await readPlates(runner, { ...models, rec }, (await synthFrame(1)).jpeg).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'STORE_EDGE_ERR_MODEL_MISMATCH' })
    expect(String((err as Error).message)).toMatch(/ppocr-rec has 6625 classes but its labels give 6624/)
  })
})

describe('bad input', () => {
  it('a corrupt image is STORE_EDGE_ERR_BAD_FRAME', async () => {
    const jpeg = (await synthFrame(1)).jpeg
    await expect(readPlates(runner, models, jpeg.subarray(0, 200))).rejects.toMatchObject({ code: 'STORE_EDGE_ERR_BAD_FRAME' })
    await expect(readPlates(runner, models, Buffer.from('not an image at all'))).rejects.toMatchObject({ code: 'STORE_EDGE_ERR_BAD_FRAME' })
    await expect(readPlates(runner, models, { width: 10, height: 10, channels: 3, data: new Uint8Array(7) })).rejects.toMatchObject({ code: 'STORE_EDGE_ERR_BAD_FRAME' })
  })

  it('a tiny or blank frame gives no read', async () => {
    const blank = await sharp({ create: { width: 640, height: 360, channels: 3, background: '#777' } }).png().toBuffer()
    expect(await readPlates(runner, models, blank)).toEqual([])
    const tiny = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } }).png().toBuffer()
    expect(await readPlates(runner, models, tiny)).toEqual([])
  })
})
