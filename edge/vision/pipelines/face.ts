import { StoreEdgeError } from '../../contracts/errors.ts'
import type { ModelManifest } from '../../../models/manifest.ts'
import { decodeImage, prepareImage } from '../inference/preprocess.ts'
import type { FaceDetection, ImageInput, ModelRunner } from '../inference/types.ts'
import { blazefaceParams, decodeBlazeface, type BlazefaceParams } from '../decoders/blazeface.ts'
import { decodeScrfd, scrfdParams, type ScrfdParams } from '../decoders/scrfd.ts'

/**
 * Face detection: image → model input → BlazeFace or SCRFD decoder → face boxes and landmarks in
 * source-image pixels, best first.
 */

export interface DetectFacesOptions {
  scoreThreshold?: number
  iouThreshold?: number
  /** Drop faces whose larger side is under this many source pixels. */
  minSize?: number
  /** Model input size where the manifest's input has dynamic height/width (default 640×640). */
  inputSize?: { width: number; height: number }
}

type Params = { family: 'blazeface'; p: BlazefaceParams } | { family: 'scrfd'; p: ScrfdParams }
const cache = new WeakMap<ModelManifest, Params>()

export function faceDetectorParams(manifest: ModelManifest): Params {
  let params = cache.get(manifest)
  if (!params) {
    if (manifest.family === 'blazeface') params = { family: 'blazeface', p: blazefaceParams(manifest) }
    else if (manifest.family === 'scrfd') params = { family: 'scrfd', p: scrfdParams(manifest) }
    else {
      throw new StoreEdgeError(
        'STORE_EDGE_ERR_MODEL_MANIFEST',
        `model '${manifest.name}' is family '${manifest.family}'; face detection needs family 'blazeface' or 'scrfd'`,
      )
    }
    cache.set(manifest, params)
  }
  return params
}

export async function detectFaces(runner: ModelRunner, manifest: ModelManifest, img: ImageInput, opts: DetectFacesOptions = {}): Promise<FaceDetection[]> {
  const params = faceDetectorParams(manifest)
  const image = await decodeImage(img)
  const { tensor, transform } = await prepareImage(image, manifest.input, opts.inputSize ?? { width: 640, height: 640 })
  const outputs = await runner.run(manifest.name, { [manifest.input.name]: tensor })
  const faces = params.family === 'blazeface'
    ? decodeBlazeface(manifest.name, outputs, transform, params.p, opts)
    : decodeScrfd(manifest.name, outputs, transform, params.p, opts)
  const min = opts.minSize ?? 0
  return min > 0 ? faces.filter((f) => Math.max(f.w, f.h) >= min) : faces
}
