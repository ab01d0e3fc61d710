import { describe, expect, it } from 'vitest'
import type { ModelManifest } from '../../../models/manifest.ts'
import { cosine, decodeEmbedding, embeddingParams, l2normalize } from './embedding.ts'

const manifest = (decoder: Record<string, unknown> = {}) => ({ name: 'emb', family: 'faceres', decoder }) as Pick<ModelManifest, 'name' | 'family' | 'decoder'>

describe('l2normalize / cosine', () => {
  it('unit length; zero stays zero', () => {
    expect(Array.from(l2normalize([3, 4]))).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)])
    expect(Array.from(l2normalize([0, 0, 0]))).toEqual([0, 0, 0])
  })
  it('cosine of known vectors', () => {
    expect(cosine([1, 0], [0, 1])).toBe(0)
    expect(cosine([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12)
    expect(cosine([1, 0], [-1, 0])).toBe(-1)
    // (1,1)·(1,0) / √2 = 0.7071
    expect(cosine([1, 1], [1, 0])).toBeCloseTo(Math.SQRT1_2, 12)
    expect(cosine([0, 0], [1, 0])).toBe(0)
    expect(() => cosine([1], [1, 2])).toThrow(RangeError)
  })
})

describe('decodeEmbedding', () => {
  const desc = new Float32Array(16)
  desc.set([2, 0, 1, 2]) // norm 3
  const age = new Float32Array(100)
  age[30] = 0.25
  age[40] = 0.75 // expectation 37.5 years
  const outputs = {
    'gender_pred/Sigmoid': { dims: [1, 1], data: Float32Array.of(0.8) },
    'global_pooling/Mean': { dims: [1, 16], data: desc },
    'age_pred/Softmax': { dims: [1, 100], data: age },
  }

  it('faceres: L2-normalised descriptor (the widest output), expected age, P(male)', () => {
    // the age output (100 wide) is wider than this toy descriptor, so name the descriptor
    const e = decodeEmbedding('emb', outputs, embeddingParams(manifest({ descriptor: 'global_pooling/Mean' })))
    expect(Array.from(e.vector.slice(0, 4))).toEqual([expect.closeTo(2 / 3, 6), 0, expect.closeTo(1 / 3, 6), expect.closeTo(2 / 3, 6)])
    expect(e.age).toBeCloseTo(37.5, 6)
    expect(e.genderMale).toBeCloseTo(0.8, 6)
  })

  it('an embedding-only model (mobilefacenet): no age, no gender', () => {
    const e = decodeEmbedding('emb', { embeddings: { dims: [1, 16], data: desc } }, embeddingParams(manifest()))
    expect(e.vector[0]).toBeCloseTo(2 / 3, 6)
    expect(e.age).toBeUndefined()
    expect(e.genderMale).toBeUndefined()
  })

  it('refuses a named output that is not there, and bad parameters', () => {
    expect(() => decodeEmbedding('emb', outputs, embeddingParams(manifest({ descriptor: 'nope' })))).toThrow(expect.objectContaining({ code: 'STORE_EDGE_ERR_MODEL_MISMATCH' }))
    expect(() => decodeEmbedding('emb', outputs, embeddingParams(manifest({ descriptor: 'global_pooling/Mean', age: 'x' })))).toThrow(/decoder\.age/)
    for (const bad of [{ matchThreshold: 1.2 }, { margin: 0 }, { align: 'yes' }, { threshold: 0.5 }]) {
      expect(() => embeddingParams(manifest(bad))).toThrow(expect.objectContaining({ code: 'STORE_EDGE_ERR_MODEL_MANIFEST' }))
    }
  })
})
