import { Type, type Static } from '@sinclair/typebox'
import type { ModelManifest } from '../../../models/manifest.ts'
import type { Detection, InputTransform, Tensor } from '../inference/types.ts'
import { describe, logit, outputMismatch, parseDecoderParams, sigmoid, squeezeLeading, unmapCandidate } from './common.ts'
import { labelOf } from './labels.ts'
import type { DetectOptions } from './nanodet.ts'
import { nms, type Candidate } from './nms.ts'

/**
 * YOLOv8 / YOLO11 detection head (Ultralytics ONNX export): one output [1, 4 + C, N] — for each of
 * the N predictions, box centre x, centre y, width, height in model-input pixels, then C class
 * scores (already sigmoid, no objectness). Some exports transpose it to [1, N, 4 + C]; the
 * orientation is read from the shape (decoder.layout, else decoder.numClasses or the labels, else the
 * longer axis is the predictions'; a square output needs decoder.layout). Then class-aware greedy NMS and letterbox unmapping.
 */

export const YoloParams = Type.Object(
  {
    scoreThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.25 }),
    iouThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.45 }),
    maxDetections: Type.Integer({ minimum: 1, default: 300 }),
    numClasses: Type.Optional(Type.Integer({ minimum: 1, description: 'Classes in the head; default: from the output shape.' })),
    layout: Type.Union([Type.Literal('auto'), Type.Literal('channels-first'), Type.Literal('channels-last')], {
      default: 'auto',
      description: 'channels-first is [1, 4+C, N] (Ultralytics), channels-last [1, N, 4+C]; auto reads it from the shape.',
    }),
    output: Type.Optional(Type.String({ minLength: 1, description: 'Output name; default: the only (or first) 3-D output.' })),
    scoreActivation: Type.Union([Type.Literal('none'), Type.Literal('sigmoid')], { default: 'none' }),
    classAgnosticNms: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
)
export type YoloParams = Static<typeof YoloParams>

export function yoloParams(manifest: Pick<ModelManifest, 'name' | 'family' | 'decoder'>): YoloParams {
  return parseDecoderParams(YoloParams, manifest)
}

export function decodeYolo(model: string, outputs: Record<string, Tensor>, t: InputTransform, p: YoloParams, opts: DetectOptions = {}): Detection[] {
  const out = p.output ? outputs[p.output] : Object.values(outputs).find((o) => squeezeLeading(o.dims).length === 2)
  if (!out) throw outputMismatch(model, `yolov8 expects ${p.output ? `an output named '${p.output}'` : 'a [1, 4+C, N] output'}; outputs are ${describe(outputs)}`)
  const d = squeezeLeading(out.dims)
  if (d.length !== 2) throw outputMismatch(model, `yolov8 output must be [1, 4+C, N] or [1, N, 4+C], got [${out.dims.join(',')}]`)
  const [a, b] = d as [number, number]
  // channelsFirst: [4+C, N]; otherwise [N, 4+C].
  // The class count settles the orientation: from the manifest, else from the labels when they fit an
  // axis, else the longer axis is the predictions' (thousands of them against 4 + C channels).
  const labelled = opts.labels && (a === opts.labels.length + 4 || b === opts.labels.length + 4) ? opts.labels.length : undefined
  const numClasses = p.numClasses ?? labelled
  let channelsFirst: boolean
  if (p.layout !== 'auto') {
    channelsFirst = p.layout === 'channels-first'
    const ch = channelsFirst ? a : b
    if (numClasses !== undefined && ch !== 4 + numClasses) throw outputMismatch(model, `yolov8 ${p.layout} with ${numClasses} classes needs ${4 + numClasses} channels, output is [${out.dims.join(',')}]`)
  } else if (numClasses !== undefined && a !== b) {
    const ch = 4 + numClasses
    if (a === ch) channelsFirst = true
    else if (b === ch) channelsFirst = false
    else throw outputMismatch(model, `yolov8 with ${numClasses} classes needs a dimension of ${ch}, output is [${out.dims.join(',')}]`)
  } else {
    channelsFirst = a <= b
  }
  const ch = channelsFirst ? a : b
  const n = channelsFirst ? b : a
  const nc = ch - 4
  if (nc < 1) throw outputMismatch(model, `yolov8 output [${out.dims.join(',')}] has no class scores`)
  const x = out.data
  // Element (channel c, prediction i).
  const at = channelsFirst ? (c: number, i: number) => x[c * n + i]! : (c: number, i: number) => x[i * ch + c]!
  const threshold = opts.scoreThreshold ?? p.scoreThreshold
  const classes = opts.classes ? opts.classes.filter((c) => c >= 0 && c < nc) : Array.from({ length: nc }, (_, c) => c)
  const rawThreshold = p.scoreActivation === 'sigmoid' ? logit(threshold) : threshold
  const cands: Candidate[] = []
  for (let i = 0; i < n; i++) {
    let box: [number, number, number, number] | undefined
    for (const c of classes) {
      const raw = at(4 + c, i)
      if (!(raw >= rawThreshold)) continue
      const score = p.scoreActivation === 'sigmoid' ? sigmoid(raw) : raw
      if (!box) {
        const cx = at(0, i)
        const cy = at(1, i)
        const hw = at(2, i) / 2
        const hh = at(3, i) / 2
        box = [cx - hw, cy - hh, cx + hw, cy + hh]
      }
      cands.push({ x1: box[0], y1: box[1], x2: box[2], y2: box[3], score, classId: c })
    }
  }
  const kept = nms(cands, { iouThreshold: opts.iouThreshold ?? p.iouThreshold, classAware: !p.classAgnosticNms, maxDetections: p.maxDetections })
  return kept.map((c) => ({ ...unmapCandidate(c, t), score: c.score, classId: c.classId, label: labelOf(opts.labels, c.classId) }))
}
