import { describe, expect, it } from 'vitest'
import type { ModelManifest } from '../../../models/manifest.ts'
import type { InputTransform, Tensor } from '../inference/types.ts'
import { COCO80 } from './labels.ts'
import { decodeNanodet, nanodetParams } from './nanodet.ts'

const manifest = (decoder: Record<string, unknown>) => ({ name: 'nd', family: 'nanodet', decoder }) as Pick<ModelManifest, 'name' | 'family' | 'decoder'>
// A small head: 64×64 input, 3 classes, regMax 3 (4 bins per side, 16 distance values per cell).
const P = nanodetParams(manifest({ numClasses: 3, regMax: 3 }))
// A 128×96 frame stretched to 64×64: x_model = x·0.5, y_model = y·(2/3).
const T: InputTransform = { scaleX: 0.5, scaleY: 64 / 96, padX: 0, padY: 0, width: 64, height: 64, srcWidth: 128, srcHeight: 96 }

/** One-hot-ish distance logits: 30 at bin k (softmax puts ~1 on it); 'u' = all equal (expectation 1.5). */
const side = (k: number | 'u') => [0, 1, 2, 3].map((b) => (k === 'u' ? 0 : b === k ? 30 : 0))

function outputs() {
  const cls8 = new Float32Array(64 * 3)
  const reg8 = new Float32Array(64 * 16)
  const cls16 = new Float32Array(16 * 3)
  const reg16 = new Float32Array(16 * 16)
  const cls32 = new Float32Array(4 * 3)
  const reg32 = new Float32Array(4 * 16)
  // Stride 8, cell (col 2, row 3) → i = 26, centre (20, 28). left 2 bins (16), top uniform (1.5 → 12), right 1 (8), bottom 3 (24)
  // → box (4, 16)–(28, 52); class 1 at 0.9 and class 2 at 0.6 on the same box.
  cls8[26 * 3 + 1] = 0.9
  cls8[26 * 3 + 2] = 0.6
  reg8.set([...side(2), ...side('u'), ...side(1), ...side(3)], 26 * 16)
  // Its neighbour (col 3, centre (28, 28)) predicts the identical box, class 1 at 0.8: left 3 (24), right 0.
  cls8[27 * 3 + 1] = 0.8
  reg8.set([...side(3), ...side('u'), ...side(0), ...side(3)], 27 * 16)
  // A weak one, under the 0.35 default.
  cls16[5 * 3] = 0.2
  // Stride 32, cell (1, 1) → i = 3, centre (48, 48), class 0 at 0.5, every side 1 bin (32) → (16, 16)–(80, 80), past the right/bottom edge.
  cls32[3 * 3] = 0.5
  reg32.set([...side(1), ...side(1), ...side(1), ...side(1)], 3 * 16)
  // Names and order as the human-models export: not relied on.
  return {
    Identity_5: { dims: [1, 4, 16], data: reg32 },
    Identity: { dims: [1, 64, 3], data: cls8 },
    Identity_4: { dims: [1, 16, 16], data: reg16 },
    Identity_2: { dims: [1, 4, 3], data: cls32 },
    Identity_3: { dims: [1, 64, 16], data: reg8 },
    Identity_1: { dims: [1, 16, 3], data: cls16 },
  } satisfies Record<string, Tensor>
}

const round = (d: { x: number; y: number; w: number; h: number }) => [d.x, d.y, d.w, d.h].map((v) => Math.round(v * 1e4) / 1e4)

describe('decodeNanodet', () => {
  it('softmax-expectation distances from the cell centre, class-aware NMS, stretch unmapping', () => {
    const dets = decodeNanodet('nd', outputs(), T, P, { labels: COCO80 })
    expect(dets.map((d) => [d.classId, d.label, d.score])).toEqual([
      [1, 'bicycle', expect.closeTo(0.9, 6)],
      [2, 'car', expect.closeTo(0.6, 6)],
      [0, 'person', expect.closeTo(0.5, 6)],
    ])
    // (4, 16)–(28, 52) → x 8, y 24, w 48, h 54 in the 128×96 frame
    expect(round(dets[0]!)).toEqual([8, 24, 48, 54])
    expect(round(dets[1]!)).toEqual([8, 24, 48, 54])
    // (16, 16)–(80, 80) → (32, 24)–(160, 120) clamped to the frame → (32, 24)–(128, 96)
    expect(round(dets[2]!)).toEqual([32, 24, 96, 72])
  })

  it('class filter, class-agnostic NMS, thresholds from the caller', () => {
    expect(decodeNanodet('nd', outputs(), T, P, { classes: [0] }).map((d) => d.classId)).toEqual([0])
    const agnostic = nanodetParams(manifest({ numClasses: 3, regMax: 3, classAgnosticNms: true }))
    expect(decodeNanodet('nd', outputs(), T, agnostic).map((d) => d.classId)).toEqual([1, 0])
    expect(decodeNanodet('nd', outputs(), T, P, { scoreThreshold: 0.1 })).toHaveLength(4)
    // with NMS off in effect (IoU must exceed 1) the duplicate 0.8 box comes back
    expect(decodeNanodet('nd', outputs(), T, P, { iouThreshold: 1 })).toHaveLength(4)
    expect(decodeNanodet('nd', outputs(), T, P).every((d) => d.label.startsWith('class '))).toBe(true)
  })

  it('raw logits with scoreActivation sigmoid', () => {
    const o = outputs()
    const logits = { ...o, Identity: { dims: [1, 64, 3], data: o.Identity.data.map((p) => (p > 0 ? Math.log(p / (1 - p)) : -20)) } }
    const p = nanodetParams(manifest({ numClasses: 3, regMax: 3, scoreActivation: 'sigmoid' }))
    expect(decodeNanodet('nd', logits, T, p)[0]!.score).toBeCloseTo(0.9, 5)
  })

  it('refuses outputs of another shape, and bad parameters', () => {
    const o: Record<string, Tensor> = { ...outputs() }
    delete o.Identity_3
    expect(() => decodeNanodet('nd', o, T, P)).toThrow(expect.objectContaining({ code: 'STORE_EDGE_ERR_MODEL_MISMATCH', message: expect.stringMatching(/stride 8/) }))
    for (const bad of [{ regMax: -1 }, { scoreThreshold: 'high' }, { strides: [0] }, { scoreActivation: 'softmax' }]) {
      expect(() => nanodetParams(manifest(bad))).toThrow(expect.objectContaining({ code: 'STORE_EDGE_ERR_MODEL_MANIFEST' }))
    }
  })
})
