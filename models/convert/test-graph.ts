import type { ModelJson, TfAttr, TfjsGraph, TfNode, WeightSpec } from './tfjs-model.ts'
import { decodeWeights } from './tfjs-model.ts'

/**
 * Hand-built TF.js graph models for the converter's op tests: the same GraphDef JSON a real
 * model.json holds (attributes in protobuf JSON: base64 strings, int64 as strings), with float32 /
 * int32 constants packed into one weights buffer, so TF.js' own loader and executor run them.
 */

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')

export const A = {
  s: (v: string): TfAttr => ({ s: b64(v) }),
  ints: (v: number[]): TfAttr => ({ list: { i: v.map(String) } }),
  strs: (v: string[]): TfAttr => ({ list: { s: v.map(b64) } }),
  f: (v: number): TfAttr => ({ f: v }),
  b: (v: boolean): TfAttr => ({ b: v }),
  i: (v: number): TfAttr => ({ i: String(v) }),
  type: (v: string): TfAttr => ({ type: v }),
}

export interface ConstSpec {
  dtype: 'float32' | 'int32'
  shape: number[]
  values: ArrayLike<number>
}

export interface GraphSpec {
  inputs: Record<string, number[]>
  consts?: Record<string, ConstSpec>
  nodes: Array<{ name: string; op: string; input: string[]; attr?: Record<string, TfAttr> }>
  outputs: string[]
}

/** Conv-style attributes: NHWC, strides, padding, dilations. */
export function convAttrs(strides: number, padding: 'SAME' | 'VALID', extra: Record<string, TfAttr> = {}, dilation = 1): Record<string, TfAttr> {
  return {
    data_format: A.s('NHWC'),
    strides: A.ints([1, strides, strides, 1]),
    dilations: A.ints([1, dilation, dilation, 1]),
    padding: A.s(padding),
    explicit_paddings: { list: {} },
    T: A.type('DT_FLOAT'),
    ...extra,
  }
}

export function tfGraph(spec: GraphSpec): TfjsGraph {
  const nodes: TfNode[] = []
  for (const [name, shape] of Object.entries(spec.inputs)) {
    nodes.push({ name, op: 'Placeholder', input: [], attr: { dtype: A.type('DT_FLOAT'), shape: { shape: { dim: shape.map((d) => ({ size: String(d) })) } } } })
  }
  const specs: WeightSpec[] = []
  const chunks: Buffer[] = []
  for (const [name, c] of Object.entries(spec.consts ?? {})) {
    const dt = c.dtype === 'float32' ? 'DT_FLOAT' : 'DT_INT32'
    nodes.push({
      name,
      op: 'Const',
      input: [],
      attr: { dtype: A.type(dt), value: { tensor: { dtype: dt, tensorShape: { dim: c.shape.map((d) => ({ size: String(d) })) } } } },
    })
    specs.push({ name, shape: c.shape, dtype: c.dtype })
    const arr = c.dtype === 'float32' ? Float32Array.from(c.values) : Int32Array.from(c.values)
    chunks.push(Buffer.from(arr.buffer))
  }
  for (const n of spec.nodes) nodes.push({ name: n.name, op: n.op, input: n.input, attr: { T: A.type('DT_FLOAT'), ...(n.attr ?? {}) } })
  const all = Buffer.concat(chunks)
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer
  const modelJson: ModelJson = {
    format: 'graph-model',
    generatedBy: 'store-edge tests',
    convertedBy: 'store-edge tests',
    modelTopology: { node: nodes, library: {}, versions: {} },
    weightsManifest: [{ paths: [], weights: specs }],
  }
  return { modelJson, nodes, weights: decodeWeights(weightData, specs), inputs: Object.keys(spec.inputs), outputs: [...spec.outputs].sort(), weightData, weightSpecs: specs }
}

/** Deterministic pseudo-random values in [-1, 1). */
export function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    out[i] = s / 2 ** 31 - 1
  }
  return out
}
