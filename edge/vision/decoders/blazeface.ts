import { Type, type Static } from '@sinclair/typebox'
import { StoreEdgeError } from '../../contracts/errors.ts'
import type { ModelManifest } from '../../../models/manifest.ts'
import type { FaceDetection, InputTransform, Tensor } from '../inference/types.ts'
import { unmapPoint } from '../inference/preprocess.ts'
import { describe, logit, outputMismatch, parseDecoderParams, sigmoid, squeezeLeading, unmapCandidate } from './common.ts'
import { nms, weightedNms, type Candidate } from './nms.ts'

/**
 * BlazeFace (MediaPipe face detector) decoding. The model predicts, for every anchor, a score logit
 * and 4 + 2·K regressors: box centre offset (dx, dy) from the anchor centre, box size (w, h) and K
 * landmark offsets, all in model-input pixels. Anchors sit at the centre of every cell of each
 * feature map (stride 16 → 16×16 cells × 2 anchors, stride 32 → 8×8 × 6 for the 256×256 "back"
 * model; strides 8/16 for the 128×128 "front" model), cell-major, anchors of one cell adjacent,
 * layers in stride order. Scores are sigmoid(clip(logit)). Overlapping predictions of one face are
 * blended by weighted NMS, as MediaPipe does.
 */

export const BlazefaceParams = Type.Object(
  {
    scoreThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'Minimum face score (after sigmoid).' }),
    iouThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.3, description: 'Overlap above which two faces are one.' }),
    maxDetections: Type.Integer({ minimum: 1, default: 100 }),
    strides: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, default: [16, 32], description: 'Feature-map strides in input pixels, in output order.' }),
    anchorsPerCell: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, default: [2, 6], description: 'Anchors per cell for each stride.' }),
    anchorOffset: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'Anchor centre within its cell (0.5 = middle).' }),
    keypoints: Type.Integer({ minimum: 0, default: 6, description: 'Landmarks per face.' }),
    scoreClip: Type.Number({ exclusiveMinimum: 0, default: 100, description: 'Logits are clipped to ±scoreClip before the sigmoid.' }),
    nms: Type.Union([Type.Literal('weighted'), Type.Literal('hard')], { default: 'weighted' }),
  },
  { additionalProperties: false },
)
export type BlazefaceParams = Static<typeof BlazefaceParams>

export function blazefaceParams(manifest: Pick<ModelManifest, 'name' | 'family' | 'decoder'>): BlazefaceParams {
  const p = parseDecoderParams(BlazefaceParams, manifest)
  if (p.strides.length !== p.anchorsPerCell.length) {
    throw new StoreEdgeError(
      'STORE_EDGE_ERR_MODEL_MANIFEST',
      `model '${manifest.name}': decoder.strides has ${p.strides.length} entries but decoder.anchorsPerCell has ${p.anchorsPerCell.length}; give one anchor count per stride`,
    )
  }
  return p
}

/** Anchor centres in input pixels, in the model's output order. */
export function blazefaceAnchors(width: number, height: number, p: Pick<BlazefaceParams, 'strides' | 'anchorsPerCell' | 'anchorOffset'>): Float32Array[] {
  return p.strides.map((stride, i) => {
    const cols = Math.ceil(width / stride)
    const rows = Math.ceil(height / stride)
    const n = p.anchorsPerCell[i]!
    const out = new Float32Array(rows * cols * n * 2)
    let k = 0
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        for (let a = 0; a < n; a++) {
          out[k++] = (x + p.anchorOffset) * stride
          out[k++] = (y + p.anchorOffset) * stride
        }
      }
    }
    return out
  })
}

interface Layer {
  scores: Float32Array
  boxes: Float32Array
  anchors: Float32Array
}

/** Pair score and regressor outputs with anchor layers by their anchor count (or one concatenated pair). */
function layers(model: string, outputs: Record<string, Tensor>, anchors: Float32Array[], regs: number): Layer[] {
  const all = Object.values(outputs).map((t) => ({ t, d: squeezeLeading(t.dims) }))
  const scoreTs = all.filter((o) => o.d.length === 2 && o.d[1] === 1)
  const boxTs = all.filter((o) => o.d.length === 2 && o.d[1] === regs)
  const counts = anchors.map((a) => a.length / 2)
  const total = counts.reduce((s, c) => s + c, 0)
  const single = scoreTs.find((o) => o.d[0] === total)
  const singleBox = boxTs.find((o) => o.d[0] === total)
  if (single && singleBox) {
    const merged = new Float32Array(total * 2)
    let off = 0
    for (const a of anchors) {
      merged.set(a, off)
      off += a.length
    }
    return [{ scores: single.t.data, boxes: singleBox.t.data, anchors: merged }]
  }
  const usedS = new Set<number>()
  const usedB = new Set<number>()
  return counts.map((count, i) => {
    const si = scoreTs.findIndex((o, j) => !usedS.has(j) && o.d[0] === count)
    const bi = boxTs.findIndex((o, j) => !usedB.has(j) && o.d[0] === count)
    if (si < 0 || bi < 0) {
      throw outputMismatch(model, `blazeface expects [${count},1] scores and [${count},${regs}] regressors for stride layer ${i} (or one [${total},1] + [${total},${regs}] pair); outputs are ${describe(outputs)}`)
    }
    usedS.add(si)
    usedB.add(bi)
    return { scores: scoreTs[si]!.t.data, boxes: boxTs[bi]!.t.data, anchors: anchors[i]! }
  })
}

/** Decode raw BlazeFace outputs into faces in source-image pixels. */
export function decodeBlazeface(
  model: string,
  outputs: Record<string, Tensor>,
  t: InputTransform,
  p: BlazefaceParams,
  opts: { scoreThreshold?: number; iouThreshold?: number } = {},
): FaceDetection[] {
  const regs = 4 + 2 * p.keypoints
  const ls = layers(model, outputs, blazefaceAnchors(t.width, t.height, p), regs)
  const threshold = opts.scoreThreshold ?? p.scoreThreshold
  const logitMin = logit(threshold)
  const cands: Candidate[] = []
  for (const { scores, boxes, anchors } of ls) {
    for (let i = 0; i < scores.length; i++) {
      const logit = Math.max(-p.scoreClip, Math.min(p.scoreClip, scores[i]!))
      if (logit < logitMin) continue
      const ax = anchors[2 * i]!
      const ay = anchors[2 * i + 1]!
      const r = i * regs
      const cx = ax + boxes[r]!
      const cy = ay + boxes[r + 1]!
      const hw = boxes[r + 2]! / 2
      const hh = boxes[r + 3]! / 2
      if (!(hw > 0 && hh > 0)) continue
      const points: Array<[number, number]> = []
      for (let k = 0; k < p.keypoints; k++) points.push([ax + boxes[r + 4 + 2 * k]!, ay + boxes[r + 5 + 2 * k]!])
      cands.push({ x1: cx - hw, y1: cy - hh, x2: cx + hw, y2: cy + hh, score: sigmoid(logit), classId: 0, points })
    }
  }
  const nmsOpts = { iouThreshold: opts.iouThreshold ?? p.iouThreshold, maxDetections: p.maxDetections }
  const kept = p.nms === 'weighted' ? weightedNms(cands, nmsOpts) : nms(cands, nmsOpts)
  return kept.map((c) => ({
    ...unmapCandidate(c, t),
    score: c.score,
    landmarks: (c.points ?? []).map(([x, y]) => unmapPoint(x, y, t)),
  }))
}
