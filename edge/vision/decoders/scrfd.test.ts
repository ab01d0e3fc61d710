import { describe, expect, it } from 'vitest'
import type { ModelManifest } from '../../../models/manifest.ts'
import type { InputTransform, Tensor } from '../inference/types.ts'
import { decodeScrfd, scrfdParams } from './scrfd.ts'

const manifest = (decoder: Record<string, unknown> = {}) => ({ name: 'scrfd', family: 'scrfd', decoder }) as Pick<ModelManifest, 'name' | 'family' | 'decoder'>
// A 32×32 input (4×4, 2×2, 1×1 cells at strides 8, 16, 32; 2 anchors each → 32, 8, 2 predictions) fed
// from a 64×48 frame letterboxed: scale 0.5, 32×24 image, 4 px bars above and below.
const T: InputTransform = { scaleX: 0.5, scaleY: 0.5, padX: 0, padY: 4, width: 32, height: 32, srcWidth: 64, srcHeight: 48 }

function outputs(batchAxis = false) {
  const t = (n: number, k: number, data: Float32Array): Tensor => ({ dims: batchAxis ? [1, n, k] : [n, k], data })
  const sc8 = new Float32Array(32)
  const bb8 = new Float32Array(32 * 4)
  const kp8 = new Float32Array(32 * 10)
  // Stride 8, cell (col 1, row 2), anchor 1 → i = (2·4 + 1)·2 + 1 = 19; anchor centre (8, 16) — the cell's corner.
  // distances (1, 0.5, 2, 1.5)·8 → box (0, 12)–(24, 28); keypoint 0 at (0.5, −0.25)·8 → (12, 14), keypoint 4 at (1, 1)·8 → (16, 24).
  sc8[19] = 0.8
  bb8.set([1, 0.5, 2, 1.5], 19 * 4)
  kp8.set([0.5, -0.25, 1.5, -0.25, 1, 0.5, 0.5, 1, 1, 1], 19 * 10)
  // Anchor 0 of the same cell predicts nearly the same box, less sure: suppressed (IoU 0.9).
  sc8[18] = 0.7
  bb8.set([1, 0.5, 1.8, 1.5], 18 * 4)
  const sc16 = new Float32Array(8)
  const bb16 = new Float32Array(8 * 4)
  // Stride 16, cell (1, 0), anchor 0 → i = 2, centre (16, 0), score under 0.5.
  sc16[2] = 0.3
  bb16.set([0.5, 0, 0.5, 1], 2 * 4)
  const sc32 = new Float32Array(2)
  const bb32 = new Float32Array(2 * 4)
  // Stride 32, the only cell, anchor 1 → i = 1, centre (0, 0): distances (0, 0, 0.5, 0.5)·32 → (0, 0)–(16, 16), partly in the top bar.
  sc32[1] = 0.9
  bb32.set([0, 0, 0.5, 0.5], 4)
  // InsightFace's order (scores, boxes, keypoints per stride) under meaningless names; shuffled on purpose.
  return {
    '471': t(8, 4, bb16),
    '448': t(32, 1, sc8),
    '494': t(8, 10, new Float32Array(80)),
    '451': t(32, 4, bb8),
    '454': t(32, 10, kp8),
    '474': t(2, 1, sc32),
    '477': t(2, 4, bb32),
    '468': t(8, 1, sc16),
    '497': t(2, 10, new Float32Array(20)),
  }
}

const round = (d: { x: number; y: number; w: number; h: number }) => [d.x, d.y, d.w, d.h].map((v) => Math.round(v * 1e4) / 1e4)

describe('decodeScrfd', () => {
  it('distance2bbox / distance2kps from corner anchors, NMS, letterbox unmapping', () => {
    const faces = decodeScrfd('scrfd', outputs(), T, scrfdParams(manifest()))
    expect(faces.map((f) => Math.round(f.score * 1e6) / 1e6)).toEqual([0.9, 0.8])
    // (0, 0)–(16, 16) → y (0 − 4)/0.5 clamps to 0: frame (0, 0)–(32, 24)
    expect(round(faces[0]!)).toEqual([0, 0, 32, 24])
    // (0, 12)–(24, 28) → (0, 16)–(48, 48)
    expect(round(faces[1]!)).toEqual([0, 16, 48, 32])
    expect(faces[1]!.landmarks).toHaveLength(5)
    // (12, 14) → (24, 20); (16, 24) → (32, 40)
    expect(faces[1]!.landmarks[0]).toEqual([24, 20])
    expect(faces[1]!.landmarks[4]).toEqual([32, 40])
  })

  it('a batch axis, a lower threshold, the no-keypoint variant', () => {
    const p = scrfdParams(manifest())
    expect(decodeScrfd('scrfd', outputs(true), T, p)).toEqual(decodeScrfd('scrfd', outputs(), T, p))
    expect(decodeScrfd('scrfd', outputs(), T, p, { scoreThreshold: 0.25 })).toHaveLength(3)
    expect(decodeScrfd('scrfd', outputs(), T, p, { iouThreshold: 0.95 })).toHaveLength(3)
    const o: Record<string, Tensor> = outputs()
    for (const k of ['454', '494', '497']) delete o[k]
    const bare = decodeScrfd('scrfd', o, T, scrfdParams(manifest({ keypoints: 0 })))
    expect(bare.map(round)).toEqual([[0, 0, 32, 24], [0, 16, 48, 32]])
    expect(bare[1]!.landmarks).toEqual([])
    expect(() => decodeScrfd('scrfd', o, T, p)).toThrow(expect.objectContaining({ code: 'STORE_EDGE_ERR_MODEL_MISMATCH', message: expect.stringMatching(/\[32,10\] keypoints for stride 8/) }))
  })

  it('refuses bad parameters', () => {
    for (const bad of [{ anchorsPerCell: 0 }, { centerOffset: 2 }, { strides: 'auto' }, { scoreThresh: 0.5 }]) {
      expect(() => scrfdParams(manifest(bad))).toThrow(expect.objectContaining({ code: 'STORE_EDGE_ERR_MODEL_MANIFEST', message: expect.stringContaining("'scrfd'") }))
    }
  })
})
