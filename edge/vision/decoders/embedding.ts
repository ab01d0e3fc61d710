import { Type, type Static } from '@sinclair/typebox'
import type { ModelManifest } from '../../../models/manifest.ts'
import type { FaceEmbedding, Tensor } from '../inference/types.ts'
import { describe, outputMismatch, parseDecoderParams, squeezeLeading } from './common.ts'

/**
 * Face embedding outputs: the descriptor is L2-normalised so cosine similarity is a dot product and
 * one threshold (decoder.matchThreshold, measured per model on real faces) separates "same person"
 * from "different people". FaceRes also predicts age (softmax over 0..99 years; we report the
 * expectation) and gender (sigmoid, P(male)).
 */

export const EmbeddingParams = Type.Object(
  {
    matchThreshold: Type.Number({ minimum: -1, maximum: 1, default: 0.5, description: 'Cosine similarity at or above which two faces are the same person.' }),
    margin: Type.Number({ exclusiveMinimum: 0, maximum: 4, default: 1.0, description: 'Crop side = margin × the larger side of the face box.' }),
    shiftY: Type.Number({ minimum: -1, maximum: 1, default: 0, description: 'Crop centre moved down by this fraction of the face box height.' }),
    align: Type.Boolean({ default: true, description: 'Rotate the face so the eyes are level when landmarks are given.' }),
    descriptor: Type.Optional(Type.String({ minLength: 1, description: 'Descriptor output name; default: the largest output.' })),
    age: Type.Optional(Type.String({ minLength: 1, description: 'Age output name (softmax over years); default: a 100-wide output if any.' })),
    gender: Type.Optional(Type.String({ minLength: 1, description: 'Gender output name (sigmoid, P(male)); default: a 1-wide output if any.' })),
  },
  { additionalProperties: false },
)
export type EmbeddingParams = Static<typeof EmbeddingParams>

export function embeddingParams(manifest: Pick<ModelManifest, 'name' | 'family' | 'decoder'>): EmbeddingParams {
  return parseDecoderParams(EmbeddingParams, manifest)
}

/** A new unit-length copy of v (all zeros stay zeros). */
export function l2normalize(v: ArrayLike<number>): Float32Array {
  let sum = 0
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!
  const k = sum > 0 ? 1 / Math.sqrt(sum) : 0
  const out = new Float32Array(v.length)
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * k
  return out
}

/** Cosine similarity in [-1, 1]; 0 when either vector is all zeros. Lengths must match. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`cosine: vectors of length ${a.length} and ${b.length}`)
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!
    na += a[i]! * a[i]!
    nb += b[i]! * b[i]!
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0
}

function pick(outputs: Record<string, Tensor>, name: string | undefined, test: (width: number) => boolean): Tensor | undefined {
  if (name) return outputs[name]
  return Object.values(outputs).find((t) => {
    const d = squeezeLeading(t.dims)
    return d.length === 2 && d[0] === 1 && test(d[1]!)
  })
}

/** Decode the raw outputs of one face (batch 1). */
export function decodeEmbedding(model: string, outputs: Record<string, Tensor>, p: EmbeddingParams): FaceEmbedding {
  let desc = p.descriptor ? outputs[p.descriptor] : undefined
  if (!desc) {
    if (p.descriptor) throw outputMismatch(model, `no output named '${p.descriptor}' (decoder.descriptor); outputs are ${describe(outputs)}`)
    desc = Object.values(outputs).reduce<Tensor | undefined>((best, t) => (!best || t.data.length > best.data.length ? t : best), undefined)
  }
  if (!desc || desc.data.length < 16) throw outputMismatch(model, `no descriptor output; outputs are ${describe(outputs)}`)
  const out: FaceEmbedding = { vector: l2normalize(desc.data) }
  const age = pick(outputs, p.age, (w) => w === 100)
  if (p.age && !age) throw outputMismatch(model, `no output named '${p.age}' (decoder.age); outputs are ${describe(outputs)}`)
  if (age && age !== desc) {
    let years = 0
    let sum = 0
    for (let i = 0; i < age.data.length; i++) {
      years += i * age.data[i]!
      sum += age.data[i]!
    }
    out.age = sum > 0 ? years / sum : 0
  }
  const gender = pick(outputs, p.gender, (w) => w === 1)
  if (p.gender && !gender) throw outputMismatch(model, `no output named '${p.gender}' (decoder.gender); outputs are ${describe(outputs)}`)
  if (gender && gender !== desc) out.genderMale = gender.data[0]!
  return out
}
