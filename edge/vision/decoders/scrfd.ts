import { Type, type Static } from '@sinclair/typebox'
import type { ModelManifest } from '../../../models/manifest.ts'
import type { FaceDetection, InputTransform, Tensor } from '../inference/types.ts'
import { unmapPoint } from '../inference/preprocess.ts'
import { describe, outputMismatch, parseDecoderParams, squeezeLeading, unmapCandidate } from './common.ts'
import { nms, type Candidate } from './nms.ts'

/**
 * SCRFD (InsightFace) face detection. For each stride s (8, 16, 32) the ONNX export has three
 * outputs over N = rows·cols·A predictions (A = 2 anchors per cell, cell-major, the two anchors of
 * a cell adjacent): scores [N, 1] (already sigmoid), box distances [N, 4] and, for the *_kps
 * models, keypoint offsets [N, 10], both in units of s. The anchor centre is (col·s, row·s) — the
 * cell's top-left corner, as InsightFace's scrfd.py has it. distance2bbox: (cx − d0·s, cy − d1·s,
 * cx + d2·s, cy + d3·s); distance2kps: (cx + dx·s, cy + dy·s) for each of the 5 points (left eye,
 * right eye, nose, left and right mouth corner, as seen in the image). Outputs are found by shape,
 * so their names do not matter; with a batch axis ([1, N, k]) too.
 */

export const ScrfdParams = Type.Object(
  {
    scoreThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.5 }),
    iouThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.4 }),
    maxDetections: Type.Integer({ minimum: 1, default: 100 }),
    strides: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, default: [8, 16, 32] }),
    anchorsPerCell: Type.Integer({ minimum: 1, default: 2 }),
    centerOffset: Type.Number({ minimum: 0, maximum: 1, default: 0, description: 'Anchor centre within its cell; InsightFace uses 0.' }),
    keypoints: Type.Integer({ minimum: 0, default: 5, description: 'Keypoints per face (0 for models without the kps head).' }),
  },
  { additionalProperties: false },
)
export type ScrfdParams = Static<typeof ScrfdParams>

export function scrfdParams(manifest: Pick<ModelManifest, 'name' | 'family' | 'decoder'>): ScrfdParams {
  return parseDecoderParams(ScrfdParams, manifest)
}

export function decodeScrfd(model: string, outputs: Record<string, Tensor>, t: InputTransform, p: ScrfdParams, opts: { scoreThreshold?: number; iouThreshold?: number } = {}): FaceDetection[] {
  const all = Object.values(outputs).map((o) => ({ t: o, d: squeezeLeading(o.dims) }))
  const find = (n: number, k: number) => all.find((o) => o.d.length === 2 && o.d[0] === n && o.d[1] === k)
  const threshold = opts.scoreThreshold ?? p.scoreThreshold
  const A = p.anchorsPerCell
  const K = p.keypoints
  const cands: Candidate[] = []
  for (const s of p.strides) {
    const cols = Math.ceil(t.width / s)
    const rows = Math.ceil(t.height / s)
    const n = rows * cols * A
    const score = find(n, 1)
    const bbox = find(n, 4)
    const kps = K > 0 ? find(n, 2 * K) : undefined
    if (!score || !bbox || (K > 0 && !kps)) {
      throw outputMismatch(model, `scrfd expects [${n},1] scores, [${n},4] boxes${K > 0 ? ` and [${n},${2 * K}] keypoints` : ''} for stride ${s} at ${t.width}x${t.height}; outputs are ${describe(outputs)}`)
    }
    const sc = score.t.data
    const bb = bbox.t.data
    const kp = kps?.t.data
    for (let i = 0; i < n; i++) {
      const v = sc[i]!
      if (!(v >= threshold)) continue
      const cell = Math.floor(i / A)
      const cx = ((cell % cols) + p.centerOffset) * s
      const cy = (Math.floor(cell / cols) + p.centerOffset) * s
      const points: Array<[number, number]> = []
      if (kp) for (let k = 0; k < K; k++) points.push([cx + kp[i * 2 * K + 2 * k]! * s, cy + kp[i * 2 * K + 2 * k + 1]! * s])
      cands.push({ x1: cx - bb[i * 4]! * s, y1: cy - bb[i * 4 + 1]! * s, x2: cx + bb[i * 4 + 2]! * s, y2: cy + bb[i * 4 + 3]! * s, score: v, classId: 0, points })
    }
  }
  const kept = nms(cands, { iouThreshold: opts.iouThreshold ?? p.iouThreshold, maxDetections: p.maxDetections })
  return kept.map((c) => ({ ...unmapCandidate(c, t), score: c.score, landmarks: (c.points ?? []).map(([x, y]) => unmapPoint(x, y, t)) }))
}

