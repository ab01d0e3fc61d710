import sharp from 'sharp'
import { StoreEdgeError } from '../../contracts/index.ts'
import type { InputSpec } from '../../../models/manifest.ts'
import type { Box, ImageInput, InputTransform, RawImage, Tensor } from './types.ts'

/**
 * Image preparation with sharp (libvips): decode, crop, resize (letterbox or stretch), then one
 * pass in JS that reorders channels, normalises and lays the tensor out as the manifest says.
 */

/** Frames larger than this are refused: a 4K frame is 8.3 Mpx; this leaves headroom, not a bomb. */
const MAX_PIXELS = 40_000_000

export function isRawImage(x: ImageInput): x is RawImage {
  return typeof x === 'object' && x !== null && !(x instanceof Uint8Array) && 'width' in x && 'data' in x
}

function checkRaw(img: RawImage): RawImage {
  const { width, height, channels, data } = img
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width * height > MAX_PIXELS) {
    throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', `dimensions ${width}x${height}`)
  }
  if (channels !== 3 || !(data instanceof Uint8Array) || data.length !== width * height * 3) {
    throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', `expected ${width}x${height}x3 bytes, got ${data?.length ?? 'none'} with ${channels} channels`)
  }
  return img
}

/** Decode an encoded image (or validate a raw one) into 8-bit RGB. EXIF orientation is applied. */
export async function decodeImage(input: ImageInput): Promise<RawImage> {
  if (isRawImage(input)) return checkRaw(input)
  if (!(input instanceof Uint8Array) || input.length === 0) throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', 'empty or not a buffer')
  try {
    const { data, info } = await sharp(input, { limitInputPixels: MAX_PIXELS })
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true })
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`)
    return { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data.buffer, data.byteOffset, data.length) }
  } catch (err) {
    if (err instanceof StoreEdgeError) throw err
    throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', (err as Error).message)
  }
}

function rawSharp(img: RawImage) {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
}

/** Crop a box (clamped to the image, at least 1×1) out of a raw image. */
export async function cropImage(img: RawImage, box: Box): Promise<RawImage> {
  const left = Math.max(0, Math.min(img.width - 1, Math.floor(box.x)))
  const top = Math.max(0, Math.min(img.height - 1, Math.floor(box.y)))
  const width = Math.max(1, Math.min(img.width - left, Math.round(box.w)))
  const height = Math.max(1, Math.min(img.height - top, Math.round(box.h)))
  const { data, info } = await rawSharp(img).extract({ left, top, width, height }).raw().toBuffer({ resolveWithObject: true })
  return { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data.buffer, data.byteOffset, data.length) }
}

/** Resolve the model input size: the manifest's fixed H/W, or the caller's for dynamic dimensions. */
export function inputSize(spec: InputSpec, size?: { width: number; height: number }): { width: number; height: number } {
  const [hIdx, wIdx] = spec.layout === 'NCHW' ? [2, 3] : [1, 2]
  const h = spec.shape[hIdx] ?? size?.height
  const w = spec.shape[wIdx] ?? size?.width
  if (!h || !w) throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_MISMATCH', `input ${spec.name} has a dynamic size and no size was given`)
  return { width: w, height: h }
}

/**
 * Resize an image to the model input and build the normalised tensor (batch 1).
 * Returns the tensor and the transform from model pixels back to image pixels.
 */
export async function prepareImage(
  img: RawImage,
  spec: InputSpec,
  size?: { width: number; height: number },
): Promise<{ tensor: Tensor; transform: InputTransform }> {
  checkRaw(img)
  const { width, height } = inputSize(spec, size)
  let scaleX = width / img.width
  let scaleY = height / img.height
  let padX = 0
  let padY = 0
  let resized: Buffer
  if (spec.resize === 'letterbox') {
    const s = Math.min(scaleX, scaleY)
    const rw = Math.max(1, Math.round(img.width * s))
    const rh = Math.max(1, Math.round(img.height * s))
    padX = Math.floor((width - rw) / 2)
    padY = Math.floor((height - rh) / 2)
    scaleX = rw / img.width
    scaleY = rh / img.height
    const pad = spec.padValue
    resized = await rawSharp(img)
      .resize(rw, rh, { fit: 'fill', kernel: 'linear' })
      .extend({ left: padX, top: padY, right: width - rw - padX, bottom: height - rh - padY, background: { r: pad, g: pad, b: pad } })
      .raw()
      .toBuffer()
  } else {
    resized = await rawSharp(img).resize(width, height, { fit: 'fill', kernel: 'linear' }).raw().toBuffer()
  }
  const tensor = toTensor(resized, width, height, spec)
  return { tensor, transform: { scaleX, scaleY, padX, padY, width, height, srcWidth: img.width, srcHeight: img.height } }
}

/** Interleaved RGB bytes → normalised float tensor in the manifest's colour order and layout. */
export function toTensor(rgb: Uint8Array, width: number, height: number, spec: InputSpec): Tensor {
  const n = width * height
  const out = new Float32Array(n * 3)
  // Source channel feeding each model channel: RGB as is, BGR reversed.
  const [s0, s1, s2] = spec.colour === 'rgb' ? [0, 1, 2] : [2, 1, 0]
  const [m0, m1, m2] = spec.mean
  const [k0, k1, k2] = spec.std.map((s) => 1 / s)
  if (spec.layout === 'NCHW') {
    for (let i = 0, p = 0; i < n; i++, p += 3) {
      out[i] = (rgb[p + s0]! - m0!) * k0!
      out[n + i] = (rgb[p + s1]! - m1!) * k1!
      out[2 * n + i] = (rgb[p + s2]! - m2!) * k2!
    }
    return { dims: [1, 3, height, width], data: out }
  }
  for (let i = 0, p = 0; i < n; i++, p += 3) {
    out[p] = (rgb[p + s0]! - m0!) * k0!
    out[p + 1] = (rgb[p + s1]! - m1!) * k1!
    out[p + 2] = (rgb[p + s2]! - m2!) * k2!
  }
  return { dims: [1, height, width, 3], data: out }
}

/** Map a box from model-input pixels back to source-image pixels, clamped to the image. */
export function unmapBox(b: Box, t: InputTransform): Box {
  const x1 = Math.max(0, Math.min(t.srcWidth, (b.x - t.padX) / t.scaleX))
  const y1 = Math.max(0, Math.min(t.srcHeight, (b.y - t.padY) / t.scaleY))
  const x2 = Math.max(0, Math.min(t.srcWidth, (b.x + b.w - t.padX) / t.scaleX))
  const y2 = Math.max(0, Math.min(t.srcHeight, (b.y + b.h - t.padY) / t.scaleY))
  return { x: x1, y: y1, w: x2 - x1, h: y2 - y1 }
}

/** Map a point from model-input pixels back to source-image pixels (not clamped). */
export function unmapPoint(x: number, y: number, t: InputTransform): [number, number] {
  return [(x - t.padX) / t.scaleX, (y - t.padY) / t.scaleY]
}
