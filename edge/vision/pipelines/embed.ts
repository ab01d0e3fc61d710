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
  let region: RawImage
  if (Math.abs(angle) < (0.5 * Math.PI) / 180) {
    region = squareRegion(img, cx, cy, s)
  } else {
    // Rotating a square of side s needs s·(|cos|+|sin|) of source around it; sharp turns the region
    // about its centre (positive = clockwise), so −angle brings the eyes level; then cut the middle.
    const big = Math.ceil(s * (Math.abs(Math.cos(angle)) + Math.abs(Math.sin(angle)))) + 2
    const src = squareRegion(img, cx, cy, big)
    const { data, info } = await sharp(src.data, { raw: { width: big, height: big, channels: 3 } })
      .rotate((-angle * 180) / Math.PI, { background: { r: 0, g: 0, b: 0 } })
      .raw()
      .toBuffer({ resolveWithObject: true })
    const rotated: RawImage = { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data.buffer, data.byteOffset, data.length) }
    region = squareRegion(rotated, info.width / 2, info.height / 2, s)
  }
  return resizeRaw(region, width, height)
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
