import type { TSchema, Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { StoreEdgeError } from '../../contracts/errors.ts'
import type { ModelManifest } from '../../../models/manifest.ts'
import type { Box, InputTransform, Tensor } from '../inference/types.ts'
import { unmapBox } from '../inference/preprocess.ts'

/**
 * Decoder parameters live in a manifest's free-form `decoder` object; each family declares its own
 * TypeBox schema (with defaults) and reads them through here, so a typo or a bad threshold is refused
 * when the model is loaded, naming the model and every bad field, never silently ignored.
 */
export function parseDecoderParams<S extends TSchema>(schema: S, manifest: Pick<ModelManifest, 'name' | 'family' | 'decoder'>): Static<S> {
  const value = Value.Default(schema, structuredClone(manifest.decoder ?? {}))
  const errors = [...Value.Errors(schema, value)]
  if (errors.length > 0) {
    const lines = errors.slice(0, 20).map((e) => `  /decoder${e.path}: ${e.message}`)
    throw new StoreEdgeError(
      'STORE_EDGE_ERR_MODEL_MANIFEST',
      `model '${manifest.name}' (${manifest.family} decoder) has bad decoder parameters; fix its manifest:\n${lines.join('\n')}`,
    )
  }
  return value as Static<S>
}

/** A model output the decoder cannot use: the model is not the family its manifest says. */
export function outputMismatch(model: string, detail: string): StoreEdgeError {
  return new StoreEdgeError('STORE_EDGE_ERR_MODEL_MISMATCH', `model '${model}': ${detail}; check the manifest's family and outputs`)
}

/** Dims without leading 1s (batch), so [1, N, C] and [N, C] read alike. */
export function squeezeLeading(dims: number[]): number[] {
  const out = [...dims]
  while (out.length > 2 && out[0] === 1) out.shift()
  return out
}

export function describe(outputs: Record<string, Tensor>): string {
  return Object.entries(outputs)
    .map(([k, t]) => `${k}[${t.dims.join(',')}]`)
    .join(' ')
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x))

/** A candidate in model-input pixels → a box in source-image pixels (letterbox / stretch undone, clamped). */
export function unmapCandidate(c: { x1: number; y1: number; x2: number; y2: number }, t: InputTransform): Box {
  return unmapBox({ x: c.x1, y: c.y1, w: c.x2 - c.x1, h: c.y2 - c.y1 }, t)
}

/** The logit of a probability threshold (±Infinity at 0 and 1), so raw logits compare without a sigmoid each. */
export const logit = (p: number): number => (p <= 0 ? -Infinity : p >= 1 ? Infinity : Math.log(p / (1 - p)))
