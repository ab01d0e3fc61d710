import sharp from 'sharp'
import { StoreEdgeError } from '../../contracts/errors.ts'
import type { ModelManifest } from '../../../models/manifest.ts'
import { decodeImage, inputSize, toTensor } from '../inference/preprocess.ts'
import type { FaceDetection, FaceEmbedding, ImageInput, ModelRunner, RawImage } from '../inference/types.ts'
import { cosine, decodeEmbedding, embeddingParams, type EmbeddingParams } from '../decoders/embedding.ts'

export { cosine }

/**
 * Face embedding: cut the face out of the frame with a margin, turn it so the eyes are level
 * (when the detector gave landmarks; landmarks 0 and 1 are the eyes for BlazeFace and SCRFD),
 * resize to the model input, run, and L2-normalise. FaceRes also gives age and P(male).
 * Two embeddings of one person have a cosine similarity at or above the model's
 * decoder.matchThreshold (see matchThreshold()).
 */

const FAMILIES = new Set(['faceres', 'mobilefacenet', 'embedding'])
const cache = new WeakMap<ModelManifest, EmbeddingParams>()

export function embedderParams(manifest: ModelManifest): EmbeddingParams {
  let p = cache.get(manifest)
  if (!p) {
    if (!FAMILIES.has(manifest.family)) {
      throw new StoreEdgeError(
        'STORE_EDGE_ERR_MODEL_MANIFEST',
        `model '${manifest.name}' is family '${manifest.family}'; face embedding needs family 'faceres', 'mobilefacenet' or 'embedding'`,
      )
    }
    p = embeddingParams(manifest)
    cache.set(manifest, p)
  }
  return p
}

/** The cosine similarity at or above which this model's embeddings are the same person. */
export function matchThreshold(manifest: ModelManifest): number {
  return embedderParams(manifest).matchThreshold
}

/** The square, level face crop: centre, side and roll angle (radians) in source pixels. */
export function faceCrop(face: Pick<FaceDetection, 'x' | 'y' | 'w' | 'h' | 'landmarks'>, p: Pick<EmbeddingParams, 'margin' | 'shiftY' | 'align'>) {
  const cx = face.x + face.w / 2
  const cy = face.y + face.h / 2 + p.shiftY * face.h
  const side = Math.max(face.w, face.h) * p.margin
  const [e0, e1] = face.landmarks
  const angle = p.align && e0 && e1 ? Math.atan2(e1[1] - e0[1], e1[0] - e0[0]) : 0
  return { cx, cy, side, angle }
}

/** A size×size square of `img` centred at (cx, cy); pixels outside the image are black. */
function squareRegion(img: RawImage, cx: number, cy: number, size: number): RawImage {
  const x0 = Math.round(cx - size / 2)
  const y0 = Math.round(cy - size / 2)
  const data = new Uint8Array(size * size * 3)
  const xa = Math.max(0, x0)
  const xb = Math.min(img.width, x0 + size)
  if (xb > xa) {
    for (let y = Math.max(0, y0); y < Math.min(img.height, y0 + size); y++) {
      const src = (y * img.width + xa) * 3
      data.set(img.data.subarray(src, src + (xb - xa) * 3), ((y - y0) * size + (xa - x0)) * 3)
    }
  }
  return { width: size, height: size, channels: 3, data }
}

/** Cut, level and resize the face to width×height RGB bytes. */
export async function alignedFace(
  img: RawImage,
  face: Pick<FaceDetection, 'x' | 'y' | 'w' | 'h' | 'landmarks'>,
  p: Pick<EmbeddingParams, 'margin' | 'shiftY' | 'align'>,
  width: number,
  height: number,
): Promise<Uint8Array> {
  const { cx, cy, side, angle } = faceCrop(face, p)
  const s = Math.max(2, Math.round(side))
  const limit = 4 * Math.max(width, height)
  if (s > limit && Math.min(img.width, img.height) > 8) {
    // A face far larger than the model input (a close-up in a big frame): shrink the frame first so the
    // crop buffers stay small (about twice the model input), then cut as usual.
    const w = Math.max(1, Math.round((img.width * limit) / 2 / s))
    const h = Math.max(1, Math.round((img.height * limit) / 2 / s))
    const fx = w / img.width
    const fy = h / img.height
    const small: RawImage = { width: w, height: h, channels: 3, data: await resizeRaw(img, w, h) }
    const scaled = { x: face.x * fx, y: face.y * fy, w: face.w * fx, h: face.h * fy, landmarks: face.landmarks.map(([x, y]) => [x * fx, y * fy] as [number, number]) }
    return alignedFace(small, scaled, p, width, height)
  }
  if (Math.abs(angle) < (0.5 * Math.PI) / 180) return resizeRaw(squareRegion(img, cx, cy, s), width, height)
  // A level square of side s turned by `angle` spans s·(|cos|+|sin|) of the source: cut that, shrink it
  // with sharp (proper filtering) until one output pixel is about one region pixel, then sample the
  // turned square bilinearly in one pass.
  const big = Math.ceil(s * (Math.abs(Math.cos(angle)) + Math.abs(Math.sin(angle)))) + 2
  let region = squareRegion(img, cx, cy, big)
  const shrink = Math.min(s / width, s / height)
  if (shrink > 1) {
    const n = Math.max(2, Math.round(big / shrink))
    region = { width: n, height: n, channels: 3, data: await resizeRaw(region, n, n) }
  }
  return rotateSample(region, angle, (s * region.width) / big, width, height)
}

/**
 * Sample a side×side square centred in `src`, turned by `angle` (radians, y down), into width×height:
 * output pixel (u, v) comes from centre + R(angle)·(offset from the output centre, scaled). Bilinear;
 * outside `src` is black.
 */
function rotateSample(src: RawImage, angle: number, side: number, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 3)
  const cos = Math.cos(angle)
  const sin = Math.sin(angle)
  const kx = side / width
  const ky = side / height
  const c = src.width / 2
  const W = src.width
  const H = src.height
  const d = src.data
  for (let v = 0; v < height; v++) {
    const dv = (v + 0.5 - height / 2) * ky
    for (let u = 0; u < width; u++) {
      const du = (u + 0.5 - width / 2) * kx
      // continuous source position, then to pixel-index space (centres at integer + 0.5)
      const x = c + du * cos - dv * sin - 0.5
      const y = c + du * sin + dv * cos - 0.5
      const x0 = Math.floor(x)
      const y0 = Math.floor(y)
      const fx = x - x0
      const fy = y - y0
      const o = (v * width + u) * 3
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < W && y0 + 1 < H) {
        const i00 = (y0 * W + x0) * 3
        const i10 = i00 + 3
        const i01 = i00 + W * 3
        const i11 = i01 + 3
        const w00 = (1 - fx) * (1 - fy)
        const w10 = fx * (1 - fy)
        const w01 = (1 - fx) * fy
        const w11 = fx * fy
        for (let ch = 0; ch < 3; ch++) {
          out[o + ch] = Math.round(d[i00 + ch]! * w00 + d[i10 + ch]! * w10 + d[i01 + ch]! * w01 + d[i11 + ch]! * w11)
        }
      } else {
        // at the border: the same weights, black outside
        for (let ch = 0; ch < 3; ch++) {
          let acc = 0
          for (const [xx, yy, w] of [[x0, y0, (1 - fx) * (1 - fy)], [x0 + 1, y0, fx * (1 - fy)], [x0, y0 + 1, (1 - fx) * fy], [x0 + 1, y0 + 1, fx * fy]] as const) {
            if (xx >= 0 && yy >= 0 && xx < W && yy < H) acc += d[(yy * W + xx) * 3 + ch]! * w
          }
          out[o + ch] = Math.round(acc)
        }
      }
    }
  }
  return out
}

async function resizeRaw(img: RawImage, width: number, height: number): Promise<Uint8Array> {
  const out = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer()
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

/**
 * Embed one face of `img` (the whole image when `face` is not given: an already cropped face).
 */
export async function embedFace(runner: ModelRunner, manifest: ModelManifest, img: ImageInput, face?: FaceDetection): Promise<FaceEmbedding> {
  const p = embedderParams(manifest)
  const image = await decodeImage(img)
  const { width, height } = inputSize(manifest.input)
  const pixels = face ? await alignedFace(image, face, p, width, height) : await resizeRaw(image, width, height)
  const tensor = toTensor(pixels, width, height, manifest.input)
  const outputs = await runner.run(manifest.name, { [manifest.input.name]: tensor })
  return decodeEmbedding(manifest.name, outputs, p)
}
