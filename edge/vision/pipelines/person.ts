import { StoreEdgeError } from '../../contracts/errors.ts'
import type { ModelManifest } from '../../../models/manifest.ts'
import { decodeImage, prepareImage } from '../inference/preprocess.ts'
import type { Detection, ImageInput, ModelRunner } from '../inference/types.ts'
import { builtinLabels } from '../decoders/labels.ts'
import { decodeNanodet, nanodetParams, type NanodetParams } from '../decoders/nanodet.ts'
import { decodeYolo, yoloParams, type YoloParams } from '../decoders/yolo.ts'

/**
 * Object and person detection: image → model input (the manifest's resize, colour order and
 * normalisation) → the model → the family's decoder (NanoDet GFL head or YOLOv8/YOLO11 head) →
 * boxes in source-image pixels. Pure apart from the runner, so it runs in the inference worker
 * and on the main thread in tests and the benchmark alike.
 */

export interface DetectObjectsOptions {
  scoreThreshold?: number
  iouThreshold?: number
  /** Keep only these class ids (COCO: 0 = person). */
  classes?: number[]
  /** Class names; default: the manifest's built-in list ("coco80"), else "class N". */
  labels?: readonly string[]
  /** Model input size where the manifest's input has dynamic height/width (default 640×640). */
  inputSize?: { width: number; height: number }
}

type Params = { family: 'nanodet'; p: NanodetParams } | { family: 'yolov8'; p: YoloParams }
const cache = new WeakMap<ModelManifest, Params>()

/** The decoder parameters of a detection manifest, validated once per manifest object. */
export function detectorParams(manifest: ModelManifest): Params {
  let params = cache.get(manifest)
  if (!params) {
    if (manifest.family === 'nanodet') params = { family: 'nanodet', p: nanodetParams(manifest) }
    else if (manifest.family === 'yolov8') params = { family: 'yolov8', p: yoloParams(manifest) }
    else {
      throw new StoreEdgeError(
        'STORE_EDGE_ERR_MODEL_MANIFEST',
        `model '${manifest.name}' is family '${manifest.family}'; object detection needs family 'nanodet' or 'yolov8'`,
      )
    }
    cache.set(manifest, params)
  }
  return params
}

export async function detectObjects(runner: ModelRunner, manifest: ModelManifest, img: ImageInput, opts: DetectObjectsOptions = {}): Promise<Detection[]> {
  const params = detectorParams(manifest)
  const image = await decodeImage(img)
  const { tensor, transform } = await prepareImage(image, manifest.input, opts.inputSize ?? { width: 640, height: 640 })
  const outputs = await runner.run(manifest.name, { [manifest.input.name]: tensor })
  const decodeOpts = { ...opts, labels: opts.labels ?? builtinLabels(manifest) }
  return params.family === 'nanodet'
    ? decodeNanodet(manifest.name, outputs, transform, params.p, decodeOpts)
    : decodeYolo(manifest.name, outputs, transform, params.p, decodeOpts)
}

/** People only (COCO class 0). */
export function detectPersons(runner: ModelRunner, manifest: ModelManifest, img: ImageInput, opts: Omit<DetectObjectsOptions, 'classes'> = {}): Promise<Detection[]> {
  return detectObjects(runner, manifest, img, { ...opts, classes: [0] })
}
