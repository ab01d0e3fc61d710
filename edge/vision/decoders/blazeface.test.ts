import { describe, expect, it } from 'vitest'
import type { ModelManifest } from '../../../models/manifest.ts'
import type { InputTransform, Tensor } from '../inference/types.ts'
import { blazefaceAnchors, blazefaceParams, decodeBlazeface } from './blazeface.ts'

const manifest = (decoder: Record<string, unknown> = {}) => ({ name: 'bf', family: 'blazeface', decoder }) as Pick<ModelManifest, 'name' | 'family' | 'decoder'>
const logit = (p: number) => Math.log(p / (1 - p))

// A 512×256 frame letterboxed into 256×256: scale 0.5, 64 px bars above and below.
const T: InputTransform = { scaleX: 0.5, scaleY: 0.5, padX: 0, padY: 64, width: 256, height: 256, srcWidth: 512, srcHeight: 256 }

/** Outputs of the 256×256 model as the human-models export has them: per layer, [1,N,1] scores and [1,N,16] regressors. */
function outputs() {
  const s16 = new Float32Array(512).fill(-10)
  const r16 = new Float32Array(512 * 16)
  const s32 = new Float32Array(384).fill(-10)
  const r32 = new Float32Array(384 * 16)
  // Face 1 at stride 16, cell (col 3, row 8), anchor 1: i = (8·16 + 3)·2 + 1 = 263, anchor centre (56, 136).
  // Centre offset (+4, −2), size 40×50 → box (40, 109)–(80, 159) in the model; landmark 0 at offset (−10, −8) → (46, 128).
  s16[263] = logit(0.8)
  r16.set([4, -2, 40, 50, -10, -8, 10, -8, 0, 0, 0, 10, -18, 0, 18, 0], 263 * 16)
  // The same face seen by anchor 0 of that cell, a little shifted (x + 4) and far less sure: blended in by weighted NMS.
  s16[262] = logit(0.2)
  r16.set([8, -2, 40, 50, -6, -8, 14, -8, 4, 0, 4, 10, -14, 0, 22, 0], 262 * 16)
  // Face 2 at stride 32, cell (col 6, row 4), anchor 4: i = (4·8 + 6)·6 + 4 = 232, anchor centre (208, 144), 64×64 → (176, 112)–(240, 176).
  s32[232] = logit(0.95)
  r32.set([0, 0, 64, 64], 232 * 16)
  // Under the threshold: ignored.
  s32[10] = logit(0.3)
  r32.set([0, 0, 30, 30], 10 * 16)
  return {
    'Identity:0': { dims: [1, 512, 1], data: s16 },
    'Identity_2:0': { dims: [1, 512, 16], data: r16 },
    'Identity_1:0': { dims: [1, 384, 1], data: s32 },
    'Identity_3:0': { dims: [1, 384, 16], data: r32 },
  } satisfies Record<string, Tensor>
}

describe('blazeface anchors', () => {
  it('256×256: 16×16 cells × 2 at stride 16, then 8×8 × 6 at stride 32 (896 anchors), centred in their cells', () => {
    const [a16, a32] = blazefaceAnchors(256, 256, blazefaceParams(manifest()))
    expect(a16!.length / 2).toBe(512)
    expect(a32!.length / 2).toBe(384)
    expect([a16![0], a16![1], a16![2], a16![3]]).toEqual([8, 8, 8, 8]) // two anchors per cell
    expect([a16![4], a16![5]]).toEqual([24, 8]) // next cell to the right
    expect([a16![263 * 2], a16![263 * 2 + 1]]).toEqual([56, 136])
    expect([a32![232 * 2], a32![232 * 2 + 1]]).toEqual([208, 144])
  })
})

describe('decodeBlazeface', () => {
  it('decodes boxes, scores and landmarks and maps them back through the letterbox', () => {
    const faces = decodeBlazeface('bf', outputs(), T, blazefaceParams(manifest({ nms: 'hard' })))
    expect(faces).toHaveLength(2)
    const [f2, f1] = faces
    // face 2: (176,112)–(240,176) → x 352, y (112 − 64)/0.5 = 96, 128×128
    expect(f2!.score).toBeCloseTo(0.95, 6)
    expect(f2!.x).toBeCloseTo(352, 4)
    expect(f2!.y).toBeCloseTo(96, 4)
    expect(f2!.w).toBeCloseTo(128, 4)
    expect(f2!.h).toBeCloseTo(128, 4)
    // face 1: (40,109)–(80,159) → x 80, y 90, 80×100; hard NMS keeps the best anchor only (IoU 36·50 / 44·50 = 0.82)
    expect(f1!.score).toBeCloseTo(0.8, 6)
    expect([f1!.x, f1!.y, f1!.w, f1!.h].map((v) => Math.round(v * 1000) / 1000)).toEqual([80, 90, 80, 100])
    expect(f1!.landmarks).toHaveLength(6)
    // landmark 0: (46, 128) in the model → (92, 128)
    expect(f1!.landmarks[0]![0]).toBeCloseTo(92, 4)
    expect(f1!.landmarks[0]![1]).toBeCloseTo(128, 4)
    // landmark 5 (ear): (56 + 18, 136) → (148, 144)
    expect(f1!.landmarks[5]![0]).toBeCloseTo(148, 4)
    expect(f1!.landmarks[5]![1]).toBeCloseTo(144, 4)
  })

  it('weighted NMS blends the overlapping predictions of one face by score', () => {
    const faces = decodeBlazeface('bf', outputs(), T, blazefaceParams(manifest({ scoreThreshold: 0.1 })))
    expect(faces).toHaveLength(3) // face 2, face 1 (blended), the 0.3 one
    const f1 = faces[1]!
    expect(f1.score).toBeCloseTo(0.8, 6)
    // x1 = (40·0.8 + 44·0.2) / 1.0 = 40.8 in the model → 81.6 in the frame
    expect(f1.x).toBeCloseTo(81.6, 3)
    expect(f1.landmarks[0]![0]).toBeCloseTo(((46 * 0.8 + 50 * 0.2) / 1.0) / 0.5, 3)
  })

  it('a threshold override applies; a single concatenated [896,1] + [896,16] pair decodes the same', () => {
    const o = outputs()
    const scores = new Float32Array(896)
    scores.set(o['Identity:0'].data, 0)
    scores.set(o['Identity_1:0'].data, 512)
    const regs = new Float32Array(896 * 16)
    regs.set(o['Identity_2:0'].data, 0)
    regs.set(o['Identity_3:0'].data, 512 * 16)
    const p = blazefaceParams(manifest({ nms: 'hard' }))
    const joined = decodeBlazeface('bf', { s: { dims: [1, 896, 1], data: scores }, r: { dims: [1, 896, 16], data: regs } }, T, p)
    expect(joined).toEqual(decodeBlazeface('bf', o, T, p))
    expect(decodeBlazeface('bf', o, T, p, { scoreThreshold: 0.9 })).toHaveLength(1)
  })

  it('refuses outputs that are not BlazeFace', () => {
    expect(() => decodeBlazeface('bf', { x: { dims: [1, 100, 1], data: new Float32Array(100) } }, T, blazefaceParams(manifest()))).toThrow(
      expect.objectContaining({ code: 'STORE_EDGE_ERR_MODEL_MISMATCH', message: expect.stringContaining("model 'bf'") }),
    )
  })

  it('refuses bad decoder parameters naming the model and the field', () => {
    for (const bad of [{ scoreThreshold: 1.5 }, { iouThreshold: -1 }, { nms: 'soft' }, { strides: [] }, { typo: 1 }, { strides: [16, 32], anchorsPerCell: [2] }]) {
      expect(() => blazefaceParams(manifest(bad))).toThrow(expect.objectContaining({ code: 'STORE_EDGE_ERR_MODEL_MANIFEST', message: expect.stringContaining("'bf'") }))
    }
    expect(() => blazefaceParams(manifest({ scoreThreshold: 1.5 }))).toThrow(/\/decoder\/scoreThreshold/)
  })
})
