import { describe, expect, it } from 'vitest'
import type { ModelManifest } from '../../../models/manifest.ts'
import type { InputTransform, Tensor } from '../inference/types.ts'
import { decodeYolo, yoloParams } from './yolo.ts'

const manifest = (decoder: Record<string, unknown> = { numClasses: 2 }) => ({ name: 'y8', family: 'yolov8', decoder }) as Pick<ModelManifest, 'name' | 'family' | 'decoder'>
// A 1280×720 frame letterboxed into 640×640: scale 0.5, 640×360 image, 140 px bars above and below.
const T: InputTransform = { scaleX: 0.5, scaleY: 0.5, padX: 0, padY: 140, width: 640, height: 640, srcWidth: 1280, srcHeight: 720 }

// Four predictions of a 2-class head: cx, cy, w, h, score0, score1.
const PREDS = [
  [100, 300, 40, 80, 0.9, 0.1], // class 0: (80, 260)–(120, 340) → frame (160, 240) 80×160
  [104, 300, 40, 80, 0.8, 0.05], // same object, IoU 36·80 / (2·3200 − 2880) = 0.818: suppressed
  [100, 300, 40, 80, 0.1, 0.7], // the same box as class 1: kept by class-aware NMS
  [500, 400, 100, 50, 0.2, 0.24], // under 0.25: dropped
]

/** Ultralytics layout [1, 4+C, N]: channel c of prediction i at c·N + i. */
function channelsFirst(preds = PREDS): Tensor {
  const n = preds.length
  const data = new Float32Array(6 * n)
  preds.forEach((p, i) => p.forEach((v, c) => (data[c * n + i] = v)))
  return { dims: [1, 6, n], data }
}
/** Transposed export [1, N, 4+C]. */
function channelsLast(preds = PREDS): Tensor {
  return { dims: [1, preds.length, 6], data: Float32Array.from(preds.flat()) }
}

const round = (d: { x: number; y: number; w: number; h: number }) => [d.x, d.y, d.w, d.h].map((v) => Math.round(v * 1e4) / 1e4)

describe('decodeYolo', () => {
  it('[1, 4+C, N]: centre/size boxes, class-aware NMS, letterbox unmapping', () => {
    const dets = decodeYolo('y8', { output0: channelsFirst() }, T, yoloParams(manifest()), { labels: ['person', 'car'] })
    expect(dets.map((d) => [d.classId, d.label, Math.round(d.score * 1e6) / 1e6])).toEqual([
      [0, 'person', 0.9],
      [1, 'car', 0.7],
    ])
    expect(round(dets[0]!)).toEqual([160, 240, 80, 160])
    expect(round(dets[1]!)).toEqual([160, 240, 80, 160])
  })

  it('the transposed [1, N, 4+C] export decodes the same', () => {
    const p = yoloParams(manifest())
    expect(decodeYolo('y8', { o: channelsLast() }, T, p)).toEqual(decodeYolo('y8', { o: channelsFirst() }, T, p))
  })

  it('orientation: numClasses or the labels settle it, else the longer axis holds the predictions', () => {
    // 6 predictions of 2 classes make a square [1, 6, 6] output: the shape cannot tell the axes apart (auto
    // reads it channels-first); decoder.layout says which, and both layouts then decode alike
    const six = [...PREDS, [300, 320, 20, 20, 0.6, 0], [400, 320, 20, 20, 0, 0.3]]
    const first = decodeYolo('y8', { o: channelsFirst(six) }, T, yoloParams(manifest()))
    expect(first.map((d) => d.classId)).toEqual([0, 1, 0, 1])
    expect(decodeYolo('y8', { o: channelsLast(six) }, T, yoloParams(manifest({ numClasses: 2, layout: 'channels-last' })))).toEqual(first)
    expect(decodeYolo('y8', { o: channelsFirst(six) }, T, yoloParams(manifest({ layout: 'channels-first' })))).toEqual(first)
    // without numClasses, labels that fit one axis decide
    const unnamed = yoloParams(manifest({}))
    expect(decodeYolo('y8', { o: channelsLast() }, T, unnamed, { labels: ['a', 'b'] })).toHaveLength(2)
    // and with neither, the longer axis is taken for the predictions (right for real heads: [1, 84, 8400])
    const many = Array.from({ length: 10 }, (_, i) => [50 + 60 * i, 320, 20, 20, i === 3 ? 0.9 : 0, 0])
    const d = decodeYolo('y8', { o: channelsLast(many) }, T, unnamed)
    expect(d).toHaveLength(1)
    expect(round(d[0]!)).toEqual([(230 - 10) * 2, (320 - 10 - 140) * 2, 40, 40])
  })

  it('raw logits with scoreActivation sigmoid decode to the same detections', () => {
    const logits = PREDS.map((p) => [...p.slice(0, 4), ...p.slice(4).map((q) => Math.log(q / (1 - q)))])
    const probs = decodeYolo('y8', { o: channelsFirst() }, T, yoloParams(manifest()))
    const fromLogits = decodeYolo('y8', { o: channelsFirst(logits) }, T, yoloParams(manifest({ numClasses: 2, scoreActivation: 'sigmoid' })))
    expect(fromLogits.map((d) => [d.classId, d.score])).toEqual(probs.map((d) => [d.classId, expect.closeTo(d.score, 5)]))
  })

  it('class filter and class-agnostic NMS', () => {
    expect(decodeYolo('y8', { o: channelsFirst() }, T, yoloParams(manifest()), { classes: [1] }).map((d) => d.classId)).toEqual([1])
    expect(decodeYolo('y8', { o: channelsFirst() }, T, yoloParams(manifest({ numClasses: 2, classAgnosticNms: true })))).toHaveLength(1)
  })

  it('picks the named output; refuses shapes that cannot be a YOLO head', () => {
    const p = yoloParams(manifest({ numClasses: 2, output: 'dets' }))
    expect(decodeYolo('y8', { other: { dims: [1, 2], data: new Float32Array(2) }, dets: channelsFirst() }, T, p)).toHaveLength(2)
    expect(() => decodeYolo('y8', { other: channelsFirst() }, T, p)).toThrow(expect.objectContaining({ code: 'STORE_EDGE_ERR_MODEL_MISMATCH' }))
    expect(() => decodeYolo('y8', { o: channelsFirst() }, T, yoloParams(manifest({ numClasses: 80 })))).toThrow(/84/)
    expect(() => decodeYolo('y8', { o: { dims: [1, 4, 10], data: new Float32Array(40) } }, T, yoloParams(manifest({})))).toThrow(/no class scores/)
    for (const bad of [{ scoreThreshold: -0.1 }, { numClasses: 0 }, { output: '' }, { nms: true }, { layout: 'NCHW' }]) {
      expect(() => yoloParams(manifest(bad))).toThrow(expect.objectContaining({ code: 'STORE_EDGE_ERR_MODEL_MANIFEST' }))
    }
  })
})
