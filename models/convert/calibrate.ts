import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StoreEdgeError } from '../../edge/contracts/errors.ts'
import { decodeImage, prepareImage } from '../../edge/vision/inference/preprocess.ts'
import type { ModelRunner, Tensor } from '../../edge/vision/inference/types.ts'
import type { ModelManifest } from '../manifest.ts'

/**
 * Calibration inputs for int8 quantization (models/convert/quantize.ts): real images from Debian's
 * opencv-doc package, prepared exactly as the runtime prepares them (preprocess.ts with the
 * manifest's input spec; face crops through the real detector and embedder crop).
 *
 * - `people`: 20 frames of vtest.avi (every 40th from 0, decoded with ffmpeg) and three photos with
 *   people (basketball1.png, messi5.jpg, demo.jpg).
 * - `faces`: the face photos.
 * - `face-crops`: every face BlazeFace (fp32) finds at score ≥ 0.6 in the face photos, cropped
 *   and aligned by the embedder's own crop (pipelines/embed.ts).
 */

export const CALIBRATION_SETS = ['people', 'faces', 'face-crops'] as const
export type CalibrationSet = (typeof CALIBRATION_SETS)[number]

const DOC = '/usr/share/doc/opencv-doc'
const HTML = `${DOC}/opencv4/html`
const DATA = `${DOC}/examples/data`

const PEOPLE_PHOTOS = [`${DATA}/basketball1.png`, `${DATA}/messi5.jpg`, `${HTML}/demo.jpg`]
const FACE_PHOTOS = [
  `${HTML}/227943776_1.jpg`, `${HTML}/230501201_1.jpg`, `${HTML}/ab.jpg`, `${HTML}/ab-1.jpg`, `${HTML}/julia_facedetect_sample.jpg`,
  `${HTML}/example.jpg`, `${HTML}/facereg.jpg`, `${DATA}/messi5.jpg`, `${HTML}/3.jpg`, `${HTML}/2.jpg`,
]
const VTEST_FRAMES = Array.from({ length: 20 }, (_, i) => i * 40)

function need(model: string, files: string[]): void {
  const missing = files.filter((f) => !existsSync(f))
  if (missing.length) {
    throw new StoreEdgeError(
      'STORE_EDGE_ERR_MODEL_SOURCE',
      `model '${model}': the int8 calibration images are missing (${missing.join(', ')}); install Debian's opencv-doc package (apt-get install opencv-doc) or build the fp32 model instead`,
    )
  }
}

/** The vtest.avi frames as PNG buffers (ffmpeg). */
export function vtestFrames(model: string, frames: number[] = VTEST_FRAMES): Buffer[] {
  need(model, [`${DATA}/vtest.avi`])
  const dir = mkdtempSync(join(tmpdir(), 'calib-'))
  try {
    const select = frames.map((n) => `eq(n\\,${n})`).join('+')
    execFileSync('ffmpeg', ['-v', 'error', '-i', `${DATA}/vtest.avi`, '-vf', `select=${select}`, '-vsync', '0', join(dir, 'f%03d.png')])
    return readdirSync(dir).sort().map((f) => readFileSync(join(dir, f)))
  } catch (err) {
    if (err instanceof StoreEdgeError) throw err
    throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_SOURCE', `model '${model}': could not decode vtest.avi with ffmpeg for int8 calibration (${(err as Error).message.split('\n')[0]}); install ffmpeg`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

class Captured extends Error {}

/**
 * The input tensors of one calibration set for model `m`. `faceRunner` (face-crops only) runs
 * the fp32 face detector `detector`.
 */
export async function calibrationInputs(
  m: ModelManifest,
  set: CalibrationSet,
  face?: { runner: ModelRunner; detector: ModelManifest },
): Promise<Tensor[]> {
  if (set === 'people') {
    need(m.name, PEOPLE_PHOTOS)
    const images = [...vtestFrames(m.name), ...PEOPLE_PHOTOS.map((f) => readFileSync(f))]
    const out: Tensor[] = []
    for (const b of images) out.push((await prepareImage(await decodeImage(b), m.input)).tensor)
    return out
  }
  need(m.name, FACE_PHOTOS)
  if (set === 'faces') {
    const out: Tensor[] = []
    for (const f of FACE_PHOTOS) out.push((await prepareImage(await decodeImage(readFileSync(f)), m.input, { width: 640, height: 640 })).tensor)
    return out
  }
  if (!face) throw new Error('face-crops calibration needs a face detector')
  const { detectFaces } = await import('../../edge/vision/pipelines/face.ts')
  const { embedFace } = await import('../../edge/vision/pipelines/embed.ts')
  const out: Tensor[] = []
  // The embedder's crop, taken where the pipeline hands it to the model.
  const capture: ModelRunner = {
    run: async (_model, feeds) => {
      out.push(feeds[m.input.name]!)
      throw new Captured()
    },
  }
  for (const f of FACE_PHOTOS) {
    const img = await decodeImage(readFileSync(f))
    const faces = await detectFaces(face.runner, face.detector, img, { scoreThreshold: 0.6 })
    faces.sort((a, b) => a.y - b.y || a.x - b.x)
    for (const fd of faces) {
      try {
        await embedFace(capture, m, img, fd)
      } catch (err) {
        if (!(err instanceof Captured)) throw err
      }
    }
  }
  return out
}
