import { existsSync, readFileSync } from 'node:fs'
import { basename, isAbsolute, join } from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { StoreEdgeError } from '../../contracts/index.ts'
import type { ModelManifest } from '../../../models/manifest.ts'
import { defaultModelsDir, manifestsDir, packageRoot } from '../../../models/paths.ts'
import { cropImage, decodeImage, prepareImage, toTensor } from '../inference/preprocess.ts'
import type { Box, ImageInput, ModelRunner, RawImage, Tensor } from '../inference/types.ts'
import { ctcClasses, ctcGreedy, type CtcResult } from './ctc.ts'
import { dbBoxes, type DbOptions } from './db-postprocess.ts'
import { quadSize, type Point } from './geometry.ts'
import { rotate180, warpQuad } from './warp.ts'

/**
 * PaddleOCR PP-OCR text reading over a ModelRunner: DB detection → quad → perspective crop →
 * (optional 180° direction check) → CTC recognition. The plate reader builds on this; it is also
 * usable on its own for any text (signs, labels).
 */

export interface OcrModels {
  det: ModelManifest
  rec: ModelManifest
  cls?: ModelManifest
}

/** Detector decoder parameters (manifest `decoder` of a ppocr-det model). */
export const DetDecoder = Type.Object(
  {
    thresh: Type.Number({ minimum: 0, maximum: 1, default: 0.3, description: 'Probability-map binarisation threshold.' }),
    boxThresh: Type.Number({ minimum: 0, maximum: 1, default: 0.6, description: 'Minimum mean probability inside a box.' }),
    unclipRatio: Type.Number({ exclusiveMinimum: 0, default: 1.5, description: 'DB unclip (box expansion) ratio.' }),
    limitSideLen: Type.Integer({ minimum: 32, default: 960, description: 'Longest side of the detector input (multiple of 32 after rounding).' }),
    minSize: Type.Number({ minimum: 0, default: 3, description: 'Boxes with a shorter side (map pixels) are dropped.' }),
    maxCandidates: Type.Integer({ minimum: 1, default: 1000, description: 'Most regions considered per image.' }),
  },
  { additionalProperties: false },
)
export type DetDecoder = Static<typeof DetDecoder>

/** Recogniser decoder parameters (ppocr-rec). */
export const RecDecoder = Type.Object(
  {
    useSpaceChar: Type.Boolean({ default: true, description: 'The last class is a space (PaddleOCR use_space_char).' }),
    padToWidth: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'Narrower crops are zero-padded (in normalised space) to this width, as PaddleOCR pads its batches to 320; 0 feeds the crop as is (half the time for a plate, same reads).',
    }),
    maxWidth: Type.Integer({ minimum: 48, default: 1280, description: 'Crops wider than this are squeezed to it.' }),
  },
  { additionalProperties: false },
)
export type RecDecoder = Static<typeof RecDecoder>

/** Direction classifier decoder parameters (ppocr-cls). */
export const ClsDecoder = Type.Object(
  {
    labels: Type.Array(Type.String(), { default: ['0', '180'], description: 'Class names; "180" means upside down.' }),
    thresh: Type.Number({ minimum: 0, maximum: 1, default: 0.9, description: 'Rotate only when P(180) is at least this.' }),
  },
  { additionalProperties: false },
)
export type ClsDecoder = Static<typeof ClsDecoder>

function decoderParams<T extends typeof DetDecoder | typeof RecDecoder | typeof ClsDecoder>(schema: T, m: ModelManifest): Static<T> {
  const params = Value.Default(schema, structuredClone(m.decoder ?? {})) as unknown
  const errors = [...Value.Errors(schema, params)]
  if (errors.length > 0) {
    throw new StoreEdgeError(
      'STORE_EDGE_ERR_MODEL_MANIFEST',
      `model ${m.name}: decoder ${errors.map((e) => `${e.path || '/'}: ${e.message}`).join('; ')} (fix the "decoder" object in its manifest)`,
    )
  }
  return params as Static<T>
}

export function detParams(m: ModelManifest): DetDecoder {
  return decoderParams(DetDecoder, m)
}
export function recParams(m: ModelManifest): RecDecoder {
  return decoderParams(RecDecoder, m)
}
export function clsParams(m: ModelManifest): ClsDecoder {
  return decoderParams(ClsDecoder, m)
}

const classCache = new Map<string, string[]>()

/** Where to look for a relative labels file. */
export interface LabelDirs {
  /** Where `store-edge models build` put the models (it copies the dictionary beside them). Default: defaultModelsDir(). */
  modelsDir?: string
  /** The manifest's own directory. Default: our manifests directory. */
  manifestDir?: string
}

/**
 * The recogniser's CTC classes from its labels file: an absolute path, or a name looked up beside the
 * built models (where the build copies ppocr_keys_v1.txt), beside the manifest, then in the source
 * package the build copied it from (so a worker with another models directory still finds it).
 */
export function recClasses(m: ModelManifest, dirs: LabelDirs = {}): string[] {
  if (!m.labels) throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_MANIFEST', `model ${m.name}: a ppocr-rec manifest needs "labels" (the dictionary file, e.g. ppocr_keys_v1.txt)`)
  const useSpace = recParams(m).useSpaceChar
  // Last resort: the file in the installed source package the build copies it from.
  const fromSource = Object.keys(m.source.files)
    .filter((rel) => basename(rel) === m.labels)
    .map((rel) => join(packageRoot(), 'node_modules', m.source.package, rel))
  const candidates = isAbsolute(m.labels)
    ? [m.labels]
    : [join(dirs.modelsDir ?? defaultModelsDir(), m.labels), join(dirs.manifestDir ?? manifestsDir(), m.labels), ...fromSource]
  for (const path of candidates) {
    const key = `${path}|${useSpace}`
    const cached = classCache.get(key)
    if (cached) return cached
    if (!existsSync(path)) continue
    const classes = ctcClasses(readFileSync(path, 'utf8'), useSpace)
    classCache.set(key, classes)
    return classes
  }
  throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_MISSING', `model ${m.name}: labels file ${m.labels} not found (looked at ${candidates.join(', ')}); check "labels" in its manifest`)
}

function output(m: ModelManifest, out: Record<string, Tensor>): Tensor {
  const name = m.outputs[0]!.name
  const t = out[name]
  if (!t) throw new StoreEdgeError('STORE_EDGE_ERR_INFERENCE', `model ${m.name} returned no output "${name}" (got ${Object.keys(out).join(', ')})`)
  return t
}

/** Detector input size: the longer side limited to `limit`, both sides rounded to multiples of 32 (PaddleOCR DetResizeForTest, limit_type max). */
export function detInputSize(width: number, height: number, limit: number): { width: number; height: number } {
  const ratio = Math.max(width, height) > limit ? limit / Math.max(width, height) : 1
  const r32 = (v: number) => Math.max(32, Math.round((v * ratio) / 32) * 32)
  return { width: r32(width), height: r32(height) }
}

export interface DetectedText {
  /** Corners in source-image pixels, TL, TR, BR, BL. */
  quad: Point[]
  score: number
}

export interface DetectOptions {
  /** Longest side of the detector input; overrides the manifest's limitSideLen. */
  limitSideLen?: number
  /** Only look inside this region of the image (a gate camera's plate zone). */
  region?: Box
  /** Scale the (region of the) image by this factor instead of limiting its longer side (may enlarge). */
  scale?: number
  /** Override the manifest's DB thresholds for this call. */
  db?: Partial<DbOptions>
}

/** DB text detection; quads in source pixels, highest score first. */
export async function detectText(runner: ModelRunner, det: ModelManifest, img: RawImage, opts: DetectOptions = {}): Promise<DetectedText[]> {
  const p = detParams(det)
  let src = img
  let ox = 0
  let oy = 0
  if (opts.region) {
    src = await cropImage(img, opts.region)
    ox = Math.max(0, Math.min(img.width - 1, Math.floor(opts.region.x)))
    oy = Math.max(0, Math.min(img.height - 1, Math.floor(opts.region.y)))
  }
  const size =
    opts.scale !== undefined
      ? { width: Math.max(32, Math.round((src.width * opts.scale) / 32) * 32), height: Math.max(32, Math.round((src.height * opts.scale) / 32) * 32) }
      : detInputSize(src.width, src.height, opts.limitSideLen ?? p.limitSideLen)
  const { tensor, transform } = await prepareImage(src, { ...det.input, resize: 'stretch' }, size)
  const out = output(det, await runner.run(det.name, { [det.input.name]: tensor }))
  const [mh, mw] = out.dims.slice(-2) as [number, number]
  if (mh !== size.height || mw !== size.width) {
    throw new StoreEdgeError('STORE_EDGE_ERR_INFERENCE', `model ${det.name}: probability map ${mw}x${mh}, expected ${size.width}x${size.height}`)
  }
  const boxes = dbBoxes(out.data, mw, mh, { ...p, ...opts.db })
  return boxes
    .map((b) => ({
      score: b.score,
      quad: b.quad.map(([x, y]): Point => [
        Math.max(0, Math.min(src.width, x / transform.scaleX)) + ox,
        Math.max(0, Math.min(src.height, y / transform.scaleY)) + oy,
      ]),
    }))
    .sort((a, b) => b.score - a.score)
}

/** Perspective-rectified crop of a quad at the recogniser's height, width by aspect ratio. */
export function rectifyCrop(img: RawImage, quad: Point[], height: number, maxWidth: number): RawImage {
  const { width, height: h } = quadSize(quad)
  const w = Math.max(1, Math.min(maxWidth, Math.ceil((height * width) / Math.max(1, h))))
  return warpQuad(img, quad, w, height)
}

/** Whether the direction classifier says the crop is upside down. */
export async function isUpsideDown(runner: ModelRunner, cls: ModelManifest, crop: RawImage): Promise<boolean> {
  const p = clsParams(cls)
  const [, , H = 48, W = 192] = cls.input.shape.map((d) => d ?? undefined)
  const { data } = rectifyToBox(crop, H, W)
  const t = toTensor(data, W, H, cls.input)
  const out = output(cls, await runner.run(cls.name, { [cls.input.name]: t }))
  const i180 = p.labels.indexOf('180')
  return i180 >= 0 && out.data[i180]! >= p.thresh
}

/** Resize (keeping aspect) into H×W, left-aligned, the rest filled with mid-grey (zero after (x/255-0.5)/0.5). */
function rectifyToBox(img: RawImage, H: number, W: number): RawImage {
  const w = Math.max(1, Math.min(W, Math.ceil((H * img.width) / img.height)))
  const scaled = warpQuad(img, [[0, 0], [img.width, 0], [img.width, img.height], [0, img.height]], w, H)
  return padRight(scaled, W)
}

function padRight(img: RawImage, W: number): RawImage {
  if (img.width >= W) return img
  const out = new Uint8Array(W * img.height * 3).fill(128)
  for (let y = 0; y < img.height; y++) out.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), y * W * 3)
  return { width: W, height: img.height, channels: 3, data: out }
}

/** Recognise one upright crop (already at the recogniser's height). */
export async function recognize(runner: ModelRunner, rec: ModelManifest, crop: RawImage, classes: string[]): Promise<CtcResult> {
  const p = recParams(rec)
  const padded = padRight(crop, p.padToWidth)
  const t = toTensor(padded.data, padded.width, padded.height, rec.input)
  if (rec.input.mean.every((m) => m === 127.5) && rec.input.std.every((s) => s === 127.5)) {
    // Exact zero padding, as PaddleOCR pads after normalising (128 would give 1/127.5).
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < padded.height; y++) {
        const row = (c * padded.height + y) * padded.width
        t.data.fill(0, row + crop.width, row + padded.width)
      }
    }
  }
  const out = output(rec, await runner.run(rec.name, { [rec.input.name]: t }))
  const C = out.dims[out.dims.length - 1]!
  const T = out.dims[out.dims.length - 2]!
  if (C !== classes.length) {
    throw new StoreEdgeError(
      'STORE_EDGE_ERR_MODEL_MISMATCH',
      `model ${rec.name} has ${C} classes but its labels give ${classes.length} (blank + dictionary${recParams(rec).useSpaceChar ? ' + space' : ''}); check "labels" and decoder.useSpaceChar in its manifest`,
    )
  }
  return ctcGreedy(out.data, T, classes)
}

export interface TextRead {
  text: string
  /** Probability of each recognised character. */
  probs: number[]
  /** Detection score (mean DB probability in the box). */
  score: number
  /** Source-image quad, TL, TR, BR, BL. */
  quad: Point[]
  /** The crop was turned 180° on the direction classifier's word. */
  rotated: boolean
}

export interface ReadTextOptions extends DetectOptions, LabelDirs {
  /** Run the direction classifier (when a cls model is given). Default true. */
  useCls?: boolean
  /** Only recognise quads that pass this test (in source pixels). */
  filter?: (quad: Point[], score: number) => boolean
  /** Recognise at most this many quads (highest detection score first). */
  maxTexts?: number
}

/** Detect and recognise every text line in an image. */
export async function readText(runner: ModelRunner, models: OcrModels, input: ImageInput, opts: ReadTextOptions = {}): Promise<TextRead[]> {
  const img = await decodeImage(input)
  const classes = recClasses(models.rec, opts)
  const H = models.rec.input.shape[2] ?? 48
  const maxWidth = recParams(models.rec).maxWidth
  let found = await detectText(runner, models.det, img, opts)
  if (opts.filter) found = found.filter((d) => opts.filter!(d.quad, d.score))
  if (opts.maxTexts !== undefined) found = found.slice(0, opts.maxTexts)
  const reads: TextRead[] = []
  for (const d of found) {
    let crop = rectifyCrop(img, d.quad, H, maxWidth)
    let rotated = false
    if (models.cls && opts.useCls !== false && (await isUpsideDown(runner, models.cls, crop))) {
      crop = rotate180(crop)
      rotated = true
    }
    const r = await recognize(runner, models.rec, crop, classes)
    reads.push({ text: r.text, probs: r.probs, score: d.score, quad: d.quad, rotated })
  }
  return reads
}
