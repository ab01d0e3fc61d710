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
 * Resize an image to the model input and build the normalised tensor (batch 1), in one pass in JS:
 * a box pre-shrink by an integer factor where the image is at least twice the input (so a large
 * frame is averaged, not aliased, as libvips' shrink does), then bilinear sampling with half-pixel
 * centres straight into the float tensor, padding written as the normalised pad value. For model-sized
 * outputs this is 2–4× faster than a sharp resize + extend, whose fixed cost per call is ~3 ms.
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
  let rw = width
  let rh = height
  if (spec.resize === 'letterbox') {
    const s = Math.min(scaleX, scaleY)
    rw = Math.max(1, Math.min(width, Math.round(img.width * s)))
    rh = Math.max(1, Math.min(height, Math.round(img.height * s)))
    padX = Math.floor((width - rw) / 2)
    padY = Math.floor((height - rh) / 2)
    scaleX = rw / img.width
    scaleY = rh / img.height
  }
  const src = boxShrink(img, Math.floor(Math.min(img.width / rw, img.height / rh)))
  const tensor = resampleToTensor(src, rw, rh, padX, padY, width, height, spec)
  return { tensor, transform: { scaleX, scaleY, padX, padY, width, height, srcWidth: img.width, srcHeight: img.height } }
}

/** Average k×k blocks (k ≥ 2); the last partial row/column of blocks is dropped (< k pixels). */
function boxShrink(img: RawImage, k: number): RawImage {
  if (k < 2) return img
  const w = Math.floor(img.width / k)
  const h = Math.floor(img.height / k)
  const out = new Uint8Array(w * h * 3)
  const acc = new Uint32Array(w * 3)
  const inv = 1 / (k * k)
  const stride = img.width * 3
  const d = img.data
  for (let y = 0; y < h; y++) {
    acc.fill(0)
    for (let dy = 0; dy < k; dy++) {
      const row = (y * k + dy) * stride
      for (let x = 0, a = 0; x < w; x++, a += 3) {
        let p = row + x * k * 3
        for (let dx = 0; dx < k; dx++, p += 3) {
          acc[a] = acc[a]! + d[p]!
          acc[a + 1] = acc[a + 1]! + d[p + 1]!
          acc[a + 2] = acc[a + 2]! + d[p + 2]!
        }
      }
    }
    const o = y * w * 3
    for (let i = 0; i < w * 3; i++) out[o + i] = Math.round(acc[i]! * inv)
  }
  return { width: w, height: h, channels: 3, data: out }
}

/**
 * Bilinear resample of `img` to rw×rh (half-pixel centres, edge-clamped), written at (padX, padY)
 * into a width×height tensor normalised and laid out as `spec` says; the rest is the pad value.
 */
function resampleToTensor(img: RawImage, rw: number, rh: number, padX: number, padY: number, width: number, height: number, spec: InputSpec): Tensor {
  const n = width * height
  const out = new Float32Array(n * 3)
  const [s0, s1, s2] = spec.colour === 'rgb' ? [0, 1, 2] : [2, 1, 0]
  const mean = spec.mean
  const k = spec.std.map((v) => 1 / v)
  const nchw = spec.layout === 'NCHW'
  if (rw !== width || rh !== height) {
    for (let c = 0; c < 3; c++) {
      const v = (spec.padValue - mean[c]!) * k[c]!
      if (nchw) out.fill(v, c * n, (c + 1) * n)
      else for (let i = c; i < n * 3; i += 3) out[i] = v
    }
  }
  // Per-column source indices and weights, computed once.
  const fx = img.width / rw
  const x0s = new Int32Array(rw)
  const x1s = new Int32Array(rw)
  const wxs = new Float32Array(rw)
  for (let x = 0; x < rw; x++) {
    const sx = Math.min(img.width - 1, Math.max(0, (x + 0.5) * fx - 0.5))
    const x0 = Math.floor(sx)
    x0s[x] = x0 * 3
    x1s[x] = Math.min(img.width - 1, x0 + 1) * 3
    wxs[x] = sx - x0
  }
  const fy = img.height / rh
  const d = img.data
  const stride = img.width * 3
  const m0 = mean[0]!, m1 = mean[1]!, m2 = mean[2]!
  const k0 = k[0]!, k1 = k[1]!, k2 = k[2]!
  for (let y = 0; y < rh; y++) {
    const sy = Math.min(img.height - 1, Math.max(0, (y + 0.5) * fy - 0.5))
    const y0 = Math.floor(sy)
    const r0 = y0 * stride
    const r1 = Math.min(img.height - 1, y0 + 1) * stride
    const wy = sy - y0
    const oy = (y + padY) * width + padX
    for (let x = 0; x < rw; x++) {
      const a0 = r0 + x0s[x]!
      const b0 = r0 + x1s[x]!
      const a1 = r1 + x0s[x]!
      const b1 = r1 + x1s[x]!
      const wx = wxs[x]!
      // Bilinear weights of the four neighbours.
      const w11 = wx * wy
      const w10 = wy - w11
      const w01 = wx - w11
      const w00 = 1 - wx - wy + w11
      const p0 = d[a0 + s0]! * w00 + d[b0 + s0]! * w01 + d[a1 + s0]! * w10 + d[b1 + s0]! * w11
      const p1 = d[a0 + s1]! * w00 + d[b0 + s1]! * w01 + d[a1 + s1]! * w10 + d[b1 + s1]! * w11
      const p2 = d[a0 + s2]! * w00 + d[b0 + s2]! * w01 + d[a1 + s2]! * w10 + d[b1 + s2]! * w11
      const o = oy + x
      if (nchw) {
        out[o] = (p0 - m0) * k0
        out[n + o] = (p1 - m1) * k1
        out[2 * n + o] = (p2 - m2) * k2
      } else {
        const q = o * 3
        out[q] = (p0 - m0) * k0
        out[q + 1] = (p1 - m1) * k1
        out[q + 2] = (p2 - m2) * k2
      }
    }
  }
  return { dims: nchw ? [1, 3, height, width] : [1, height, width, 3], data: out }
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
