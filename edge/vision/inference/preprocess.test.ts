import { describe, expect, it } from 'vitest'
import sharp from 'sharp'
import type { InputSpec } from '../../../models/manifest.ts'
import { cropImage, decodeImage, prepareImage, unmapBox } from './preprocess.ts'
import type { RawImage } from './types.ts'

const spec = (over: Partial<InputSpec> = {}): InputSpec => ({
  name: 'x',
  shape: [1, 3, 4, 4],
  layout: 'NCHW',
  colour: 'rgb',
  resize: 'stretch',
  padValue: 0,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  ...over,
})

/** An image whose pixel (x, y) is (r, g, b) = (x * 10, y * 10, 200). */
function ramp(w: number, h: number): RawImage {
  const data = new Uint8Array(w * h * 3)
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) data.set([x * 10, y * 10, 200], (y * w + x) * 3)
  return { width: w, height: h, channels: 3, data }
}

describe('prepareImage', () => {
  it('same size: pixels pass through, NCHW planes in RGB order', async () => {
    const { tensor, transform } = await prepareImage(ramp(4, 4), spec())
    expect(tensor.dims).toEqual([1, 3, 4, 4])
    // R plane is x*10, G plane is y*10, B plane 200.
    expect(Array.from(tensor.data.subarray(0, 4))).toEqual([0, 10, 20, 30])
    expect(Array.from(tensor.data.subarray(16, 20))).toEqual([0, 0, 0, 0])
    expect(Array.from(tensor.data.subarray(16 + 4, 16 + 8))).toEqual([10, 10, 10, 10])
    expect(tensor.data[32]).toBe(200)
    expect(transform).toMatchObject({ scaleX: 1, scaleY: 1, padX: 0, padY: 0 })
  })

  it('upscale 2× is bilinear with half-pixel centres (edge-clamped)', async () => {
    const { tensor } = await prepareImage(ramp(2, 1), spec({ shape: [1, 3, 1, 4] }))
    // Source x = (i + 0.5) / 2 - 0.5 → -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1): R = 0, 2.5, 7.5, 10.
    expect(Array.from(tensor.data.subarray(0, 4))).toEqual([0, 2.5, 7.5, 10])
  })

  it('normalises with mean/std, reverses channels for BGR and interleaves for NHWC', async () => {
    const s = spec({ layout: 'NHWC', colour: 'bgr', shape: [1, 4, 4, 3], mean: [100, 0, 50], std: [2, 1, 10] })
    const { tensor } = await prepareImage(ramp(4, 4), s)
    expect(tensor.dims).toEqual([1, 4, 4, 3])
    // Pixel (3, 2): RGB (30, 20, 200) → BGR (200, 20, 30) → ((200-100)/2, (20-0)/1, (30-50)/10).
    const i = (2 * 4 + 3) * 3
    expect(tensor.data[i]).toBeCloseTo(50)
    expect(tensor.data[i + 1]).toBeCloseTo(20)
    expect(tensor.data[i + 2]).toBeCloseTo(-2)
  })

  it('letterbox keeps the aspect ratio, centres the image and fills the pad value', async () => {
    const s = spec({ resize: 'letterbox', shape: [1, 3, 8, 8], padValue: 114 })
    const { tensor, transform } = await prepareImage(ramp(8, 4), s)
    expect(transform).toMatchObject({ scaleX: 1, scaleY: 1, padX: 0, padY: 2 })
    expect(tensor.data[0]).toBe(114) // row 0 is padding
    expect(tensor.data[2 * 8 + 3]).toBe(30) // row 2 is image row 0: R = x*10
    expect(tensor.data[7 * 8]).toBe(114)
    expect(unmapBox({ x: 2, y: 3, w: 4, h: 2 }, transform)).toEqual({ x: 2, y: 1, w: 4, h: 2 })
  })

  it('a large frame is box-averaged before sampling (no aliasing of a 1-pixel checkerboard)', async () => {
    const w = 64
    const data = new Uint8Array(w * w * 3)
    for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) data.fill((x + y) % 2 ? 255 : 0, (y * w + x) * 3, (y * w + x) * 3 + 3)
    const { tensor } = await prepareImage({ width: w, height: w, channels: 3, data }, spec({ shape: [1, 3, 8, 8] }))
    for (const v of tensor.data) expect(Math.abs(v - 127.5)).toBeLessThanOrEqual(1)
  })

  it('agrees with a sharp (libvips) resize of a real photo within a few grey levels on average', async () => {
    const img = await decodeImage(await sharp('/usr/share/doc/opencv-doc/examples/data/messi5.jpg').toBuffer())
    const s = spec({ shape: [1, 3, 240, 320] })
    const { tensor } = await prepareImage(img, s)
    const ref = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
      .resize(320, 240, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer()
    let sum = 0
    for (let i = 0; i < 320 * 240; i++) sum += Math.abs(tensor.data[i]! - ref[i * 3]!)
    expect(sum / (320 * 240)).toBeLessThan(4)
  })

  it('refuses frames with inconsistent dimensions and undecodable bytes', async () => {
    await expect(prepareImage({ width: 4, height: 4, channels: 3, data: new Uint8Array(10) }, spec())).rejects.toMatchObject({ code: 'STORE_EDGE_ERR_BAD_FRAME' })
    await expect(decodeImage(Buffer.from('not an image'))).rejects.toMatchObject({ code: 'STORE_EDGE_ERR_BAD_FRAME' })
    await expect(prepareImage(ramp(4, 4), spec({ shape: [1, 3, null, null] }))).rejects.toMatchObject({ code: 'STORE_EDGE_ERR_MODEL_MISMATCH' })
  })

  it('crops clamp to the image', async () => {
    const c = await cropImage(ramp(4, 4), { x: 2, y: 2, w: 10, h: 10 })
    expect([c.width, c.height]).toEqual([2, 2])
    expect(Array.from(c.data.subarray(0, 3))).toEqual([20, 20, 200])
  })
})
