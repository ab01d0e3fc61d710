import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/**
 * Reading a TF.js graph model: model.json (a GraphDef as JSON plus a weights manifest) and its
 * binary weight shards. Quantized weights are dequantized the way @tensorflow/tfjs-core's
 * `decodeWeights` does it, so the converter starts from exactly the numbers TF.js computes with.
 */

export type DType = 'float32' | 'int32' | 'bool'

/** A constant tensor: floats in Float32Array, integers (TF int32/int64, TF.js stores both as int32) in Int32Array. */
export interface ConstTensor {
  dtype: DType
  shape: number[]
  data: Float32Array | Int32Array
}

/** One attribute of a GraphDef node, as TF.js JSON writes it (protobuf JSON: int64 as strings, bytes as base64). */
export interface TfAttr {
  s?: string
  i?: string | number
  f?: number
  b?: boolean
  type?: string
  shape?: { dim?: Array<{ size?: string | number }>; unknownRank?: boolean }
  list?: { s?: string[]; i?: Array<string | number>; f?: number[]; type?: string[] }
  tensor?: { dtype?: string; tensorShape?: { dim?: Array<{ size?: string | number }> } }
}

export interface TfNode {
  name: string
  op: string
  input: string[]
  attr: Record<string, TfAttr>
}

export interface WeightSpec {
  name: string
  shape: number[]
  dtype: string
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number; original_dtype?: string }
}

export interface ModelJson {
  format?: string
  generatedBy?: string
  convertedBy?: string
  modelTopology: { node: TfNode[]; versions?: unknown; library?: unknown }
  weightsManifest: Array<{ paths: string[]; weights: WeightSpec[] }>
  signature?: { inputs?: Record<string, { name: string }>; outputs?: Record<string, { name: string }> }
  userDefinedMetadata?: { signature?: { inputs?: Record<string, { name: string }>; outputs?: Record<string, { name: string }> } }
}

export interface TfjsGraph {
  modelJson: ModelJson
  nodes: TfNode[]
  /** Weights by name (the Const node that holds them has the same name). */
  weights: Map<string, ConstTensor>
  /** Placeholder node names, in graph order. */
  inputs: string[]
  /** Output node names: the signature's outputs, else the nodes nothing consumes. */
  outputs: string[]
  /** The concatenated weight shards per group, for TF.js itself (parity). */
  weightData: ArrayBuffer
  weightSpecs: WeightSpec[]
}

/** Exact IEEE half → float (normals, subnormals, inf, NaN), the value TF.js' float16 decoder produces. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >> 10) & 0x1f
  const frac = h & 0x3ff
  if (exp === 0) return sign * frac * 2 ** -24
  if (exp === 0x1f) return frac ? NaN : sign * Infinity
  return sign * (1 + frac / 1024) * 2 ** (exp - 15)
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 }

/** Decode the weights of one concatenated buffer, in manifest order (tfjs-core io.decodeWeights). */
export function decodeWeights(buffer: ArrayBuffer, specs: WeightSpec[]): Map<string, ConstTensor> {
  const out = new Map<string, ConstTensor>()
  let offset = 0
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1)
    const q = spec.quantization
    const storedType = q ? q.dtype : spec.dtype
    const bytes = BYTES[storedType]
    if (bytes === undefined) throw new Error(`weight '${spec.name}' has unsupported dtype ${storedType}`)
    const nbytes = size * bytes
    if (offset + nbytes > buffer.byteLength) {
      throw new Error(`weight '${spec.name}' needs bytes ${offset}..${offset + nbytes} but the shards hold ${buffer.byteLength}`)
    }
    const slice = buffer.slice(offset, offset + nbytes)
    offset += nbytes
    const dtype: DType = spec.dtype === 'float32' ? 'float32' : spec.dtype === 'bool' ? 'bool' : 'int32'
    let data: Float32Array | Int32Array
    if (q) {
      if (q.dtype === 'float16') {
        const half = new Uint16Array(slice)
        const f = new Float32Array(size)
        for (let i = 0; i < size; i++) f[i] = halfToFloat(half[i]!)
        data = f
      } else {
        const raw = q.dtype === 'uint8' ? new Uint8Array(slice) : new Uint16Array(slice)
        const scale = q.scale ?? 1
        const min = q.min ?? 0
        // tfjs: Float32Array.from(quantized, v => v * scale + min); int32 originals are rounded.
        const f = Float32Array.from(raw, (v) => v * scale + min)
        data = spec.dtype === 'int32' ? Int32Array.from(f, (v) => Math.round(v)) : f
      }
    } else if (spec.dtype === 'float32') {
      data = new Float32Array(slice)
    } else if (spec.dtype === 'int32') {
      data = new Int32Array(slice)
    } else if (spec.dtype === 'bool') {
      data = Int32Array.from(new Uint8Array(slice))
    } else {
      throw new Error(`weight '${spec.name}' has unsupported dtype ${spec.dtype}`)
    }
    if (dtype === 'float32' && !(data instanceof Float32Array)) data = Float32Array.from(data)
    if (dtype !== 'float32' && !(data instanceof Int32Array)) data = Int32Array.from(data)
    out.set(spec.name, { dtype, shape: [...spec.shape], data })
  }
  return out
}

/** Read model.json and its shards (paths relative to model.json). */
export function readTfjsGraph(modelJsonPath: string): TfjsGraph {
  const modelJson = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as ModelJson
  if (!modelJson.modelTopology?.node) throw new Error(`${modelJsonPath} is not a TF.js graph model (no modelTopology.node)`)
  const dir = dirname(modelJsonPath)
  const buffers: Buffer[] = []
  const specs: WeightSpec[] = []
  for (const group of modelJson.weightsManifest ?? []) {
    for (const p of group.paths) buffers.push(readFileSync(join(dir, p)))
    specs.push(...group.weights)
  }
  // TF.js concatenates every group's shards into one buffer and decodes all specs in order.
  const all = Buffer.concat(buffers)
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer
  const weights = decodeWeights(weightData, specs)
  const nodes = modelJson.modelTopology.node.map((n) => ({ name: n.name, op: n.op, input: n.input ?? [], attr: n.attr ?? {} }))
  const inputs = nodes.filter((n) => n.op === 'Placeholder').map((n) => n.name)
  const sig = modelJson.signature ?? modelJson.userDefinedMetadata?.signature
  let outputs: string[]
  if (sig?.outputs && Object.keys(sig.outputs).length) {
    outputs = Object.values(sig.outputs).map((o) => o.name.split(':')[0]!)
  } else {
    const consumed = new Set(nodes.flatMap((n) => n.input.map((i) => i.replace(/^\^/, '').split(':')[0]!)))
    outputs = nodes.filter((n) => !consumed.has(n.name) && n.op !== 'Const').map((n) => n.name)
  }
  outputs.sort()
  return { modelJson, nodes, weights, inputs, outputs, weightData, weightSpecs: specs }
}

// ---- attribute helpers ----

export function attrString(node: TfNode, key: string, dflt?: string): string {
  const a = node.attr[key]
  if (a?.s === undefined) {
    if (dflt !== undefined) return dflt
    throw new Error(`attribute '${key}' missing`)
  }
  return Buffer.from(a.s, 'base64').toString('utf8')
}
export function attrInts(node: TfNode, key: string, dflt?: number[]): number[] {
  const a = node.attr[key]
  if (!a?.list) {
    if (dflt !== undefined) return dflt
    throw new Error(`attribute '${key}' missing`)
  }
  return (a.list.i ?? []).map(Number)
}
export function attrStrings(node: TfNode, key: string): string[] {
  return (node.attr[key]?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'))
}
export function attrFloat(node: TfNode, key: string, dflt: number): number {
  const f = node.attr[key]?.f
  return f === undefined ? dflt : Number(f)
}
export function attrInt(node: TfNode, key: string, dflt: number): number {
  const i = node.attr[key]?.i
  return i === undefined ? dflt : Number(i)
}
export function attrBool(node: TfNode, key: string, dflt: boolean): boolean {
  const b = node.attr[key]?.b
  return b === undefined ? dflt : b
}
export function attrShape(node: TfNode, key: string): number[] | undefined {
  const s = node.attr[key]?.shape
  if (!s || s.unknownRank) return undefined
  return (s.dim ?? []).map((d) => Number(d.size ?? 0))
}
