import { Type, type Static } from '@sinclair/typebox'
import type { ModelManifest } from '../../../models/manifest.ts'
import type { Detection, InputTransform, Tensor } from '../inference/types.ts'
import { describe, logit, outputMismatch, parseDecoderParams, sigmoid, squeezeLeading, unmapCandidate } from './common.ts'
import { labelOf } from './labels.ts'
import { nms, type Candidate } from './nms.ts'

/**
 * NanoDet (GFL head) decoding. For each stride s (8, 16, 32) the model emits, per feature-map cell
 * (row-major), C class scores ([N, C], already sigmoid in the human-models export) and a distance
 * distribution [N, 4·(regMax+1)]: for each side in the order left, top, right, bottom, regMax+1
 * logits over the distances 0..regMax (in units of s). The distance is the expectation under the
 * softmax; the box is (cx − l·s, cy − t·s, cx + r·s, cy + b·s) around the cell centre
 * ((col + offset)·s, (row + offset)·s). Then class-aware greedy NMS.
 */

export const NanodetParams = Type.Object(
  {
    scoreThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.35, description: 'Minimum class score.' }),
    iouThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'NMS overlap threshold.' }),
    maxDetections: Type.Integer({ minimum: 1, default: 100 }),
    strides: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, default: [8, 16, 32] }),
    regMax: Type.Integer({ minimum: 0, default: 10, description: 'Largest distance bin; each side has regMax+1 bins.' }),
    numClasses: Type.Integer({ minimum: 1, default: 80 }),
    centerOffset: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'Cell centre offset (0.5 = middle of the cell).' }),
    scoreActivation: Type.Union([Type.Literal('none'), Type.Literal('sigmoid')], {
      default: 'none',
      description: 'none when the graph already ends in a sigmoid, sigmoid for raw logits.',
    }),
    classAgnosticNms: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
)
export type NanodetParams = Static<typeof NanodetParams>

export function nanodetParams(manifest: Pick<ModelManifest, 'name' | 'family' | 'decoder'>): NanodetParams {
  return parseDecoderParams(NanodetParams, manifest)
}

export interface DetectOptions {
  scoreThreshold?: number
  iouThreshold?: number
  /** Keep only these class ids (e.g. [0] for people). */
  classes?: readonly number[]
  labels?: readonly string[]
}

/** Expected value of a softmax over `n` logits starting at `off`. */
function softmaxExpectation(d: Float32Array, off: number, n: number): number {
  let max = -Infinity
  for (let k = 0; k < n; k++) max = Math.max(max, d[off + k]!)
  let sum = 0
  let acc = 0
  for (let k = 0; k < n; k++) {
    const e = Math.exp(d[off + k]! - max)
    sum += e
    acc += e * k
  }
  return acc / sum
}

export function decodeNanodet(model: string, outputs: Record<string, Tensor>, t: InputTransform, p: NanodetParams, opts: DetectOptions = {}): Detection[] {
  const bins = p.regMax + 1
  const all = Object.values(outputs).map((o) => ({ t: o, d: squeezeLeading(o.dims) }))
  const threshold = opts.scoreThreshold ?? p.scoreThreshold
  const classes = opts.classes ? opts.classes.filter((c) => c >= 0 && c < p.numClasses) : Array.from({ length: p.numClasses }, (_, c) => c)
  // Compare raw values against the threshold's logit when the head ends in raw logits: one exp per candidate, not per score.
  const rawThreshold = p.scoreActivation === 'sigmoid' ? logit(threshold) : threshold
  const cands: Candidate[] = []
  for (const stride of p.strides) {
    const cols = Math.ceil(t.width / stride)
    const rows = Math.ceil(t.height / stride)
    const n = cols * rows
    const cls = all.find((o) => o.d.length === 2 && o.d[0] === n && o.d[1] === p.numClasses)
    const reg = all.find((o) => o.d.length === 2 && o.d[0] === n && o.d[1] === 4 * bins)
    if (!cls || !reg) {
      throw outputMismatch(model, `nanodet expects [${n},${p.numClasses}] scores and [${n},${4 * bins}] distances for stride ${stride} at ${t.width}x${t.height}; outputs are ${describe(outputs)}`)
    }
    const s = cls.t.data
    const r = reg.t.data
    for (let i = 0; i < n; i++) {
      let box: [number, number, number, number] | undefined
      const row = i * p.numClasses
      for (const c of classes) {
        const raw = s[row + c]!
        if (!(raw >= rawThreshold)) continue
        const score = p.scoreActivation === 'sigmoid' ? sigmoid(raw) : raw
        if (!box) {
          const cx = ((i % cols) + p.centerOffset) * stride
          const cy = (Math.floor(i / cols) + p.centerOffset) * stride
          const o = i * 4 * bins
          const l = softmaxExpectation(r, o, bins) * stride
          const tp = softmaxExpectation(r, o + bins, bins) * stride
          const rt = softmaxExpectation(r, o + 2 * bins, bins) * stride
          const b = softmaxExpectation(r, o + 3 * bins, bins) * stride
          box = [cx - l, cy - tp, cx + rt, cy + b]
        }
        cands.push({ x1: box[0], y1: box[1], x2: box[2], y2: box[3], score, classId: c })
      }
    }
  }
  const kept = nms(cands, { iouThreshold: opts.iouThreshold ?? p.iouThreshold, classAware: !p.classAgnosticNms, maxDetections: p.maxDetections })
  return kept.map((c) => ({ ...unmapCandidate(c, t), score: c.score, classId: c.classId, label: labelOf(opts.labels, c.classId) }))
}
