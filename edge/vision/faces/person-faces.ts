import type { ModelManifest } from '../../../models/manifest.ts'
import { decodeImage } from '../inference/preprocess.ts'
import type { Box, FaceDetection, ModelRunner, RawImage } from '../inference/types.ts'
import { embedFace } from '../pipelines/embed.ts'
import { detectFaces } from '../pipelines/face.ts'
import { faceQuality, type FaceQuality, type FaceQualityOptions } from './face-quality.ts'

/**
 * Faces of tracked people, in one pass inside an inference worker: for each person box tall
 * enough to show a usable face, cut the upper part of the box out of the frame, find the face
 * there (BlazeFace), judge it (face-quality.ts) and embed the ones that pass (FaceRes). One job
 * per frame, so the frame crosses the thread boundary once. Only numbers come back: boxes, scores,
 * quality and embeddings; never pixels.
 */

/** A tracked person in frame pixels. */
export interface PersonBox extends Box {
  trackId: number
}

export interface PersonFacesOptions {
  /** People whose box is shorter than this (frame pixels) are skipped: their face would be too small anyway. */
  minPersonPx?: number
  /** Part of the person box, from its top, searched for the face. */
  upperFraction?: number
  /** Widen the searched part by this fraction of the box width on each side (boxes often clip the head). */
  sideMargin?: number
  /** Face detector score threshold. */
  scoreThreshold?: number
  quality?: Partial<FaceQualityOptions>
  /** Embed the faces that pass (default true). */
  embed?: boolean
}

export const defaultPersonFaces = {
  minPersonPx: 120,
  upperFraction: 0.45,
  sideMargin: 0.1,
  scoreThreshold: 0.6,
} as const

export interface PersonFace {
  trackId: number
  /** Face box in frame pixels. */
  box: Box
  /** Detector score. */
  score: number
  quality: FaceQuality
  /** L2-normalised; only for faces that passed the quality filter (and with embed on). */
  embedding?: Float32Array
}

export interface PersonFaceModels {
  detector: ModelManifest
  /** Absent: no embeddings (detection and quality only). */
  embedder?: ModelManifest
}

/** The searched region of one person, clamped to the frame; undefined when nothing is left or the person is too small. */
export function headRegion(p: Box, frame: { width: number; height: number }, o: Required<Pick<PersonFacesOptions, 'minPersonPx' | 'upperFraction' | 'sideMargin'>>): Box | undefined {
  if (!(p.h >= o.minPersonPx)) return undefined
  const x0 = Math.max(0, Math.floor(p.x - p.w * o.sideMargin))
  const x1 = Math.min(frame.width, Math.ceil(p.x + p.w * (1 + o.sideMargin)))
  const y0 = Math.max(0, Math.floor(p.y))
  // A standing person is 2–3× taller than wide and the head is in the top part; a box barely
  // taller than wide is a close-up (head and shoulders at a door or counter): search all of it.
  const fraction = p.h < 1.6 * p.w ? 1 : o.upperFraction
  const y1 = Math.min(frame.height, Math.ceil(p.y + p.h * fraction))
  if (x1 - x0 < 8 || y1 - y0 < 8) return undefined
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }
}

/** Copy an integer region of an RGB frame (rows are contiguous: one copy per row). */
function cut(img: RawImage, r: Box): RawImage {
  const data = new Uint8Array(r.w * r.h * 3)
  for (let y = 0; y < r.h; y++) {
    const src = ((r.y + y) * img.width + r.x) * 3
    data.set(img.data.subarray(src, src + r.w * 3), y * r.w * 3)
  }
  return { width: r.w, height: r.h, channels: 3, data }
}

export async function personFaces(
  runner: ModelRunner,
  models: PersonFaceModels,
  image: RawImage,
  persons: readonly PersonBox[],
  opts: PersonFacesOptions = {},
): Promise<PersonFace[]> {
  const o = { ...defaultPersonFaces, ...opts }
  const frame = await decodeImage(image)
  const out: PersonFace[] = []
  for (const person of persons) {
    const region = headRegion(person, frame, o)
    if (!region) continue
    const found = await detectFaces(runner, models.detector, cut(frame, region), { scoreThreshold: o.scoreThreshold })
    // One face per person: the detector's best in the upper part of their box (faces come best first).
    const f = found[0]
    if (!f) continue
    const face: FaceDetection = {
      x: f.x + region.x,
      y: f.y + region.y,
      w: f.w,
      h: f.h,
      score: f.score,
      landmarks: f.landmarks.map(([x, y]) => [x + region.x, y + region.y] as [number, number]),
    }
    const quality = faceQuality(frame, face, o.quality)
    const result: PersonFace = { trackId: person.trackId, box: { x: face.x, y: face.y, w: face.w, h: face.h }, score: face.score, quality }
    if (quality.ok && models.embedder && o.embed !== false) {
      result.embedding = (await embedFace(runner, models.embedder, frame, face)).vector
    }
    out.push(result)
  }
  return out
}

/** What the InferenceService sends to the worker's `personFaces` task. */
export interface PersonFacesPayload {
  image: RawImage
  persons: PersonBox[]
  opts?: PersonFacesOptions
}
