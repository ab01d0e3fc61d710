import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, join } from 'node:path'
import { StoreEdgeError } from '../../contracts/errors.ts'
import type { ModelManifest } from '../../../models/manifest.ts'

/** The 80 COCO detection classes in the order COCO-trained detectors (NanoDet, YOLO) emit them. */
export const COCO80: readonly string[] = [
  'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
  'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
  'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
  'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
  'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
  'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed',
  'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven',
  'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush',
]

/** Labels a pipeline can use without I/O: the built-in list, or none (labels read "class N"). */
export function builtinLabels(manifest: Pick<ModelManifest, 'labels'>): readonly string[] | undefined {
  return manifest.labels === 'coco80' ? COCO80 : undefined
}

/** Read a manifest's labels: "coco80" or a file (one per line) relative to the manifest file. */
export function loadLabels(manifest: Pick<ModelManifest, 'name' | 'labels'>, manifestPath: string): readonly string[] | undefined {
  if (!manifest.labels) return undefined
  if (manifest.labels === 'coco80') return COCO80
  const file = isAbsolute(manifest.labels) ? manifest.labels : join(dirname(manifestPath), manifest.labels)
  try {
    return readFileSync(file, 'utf8').split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0)
  } catch (err) {
    throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_MANIFEST', `model '${manifest.name}': cannot read labels file ${file}: ${(err as Error).message}`)
  }
}

export function labelOf(labels: readonly string[] | undefined, classId: number): string {
  return labels?.[classId] ?? `class ${classId}`
}
