import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import protobuf from 'protobufjs'
import { packageRoot } from '../paths.ts'

/**
 * A small in-memory ONNX graph the converter builds and optimises, and its serialisation with
 * protobufjs from models/convert/onnx.proto (official field numbers). Serialisation is
 * byte-deterministic: nodes, initializers and attributes are written in a fixed order, with no
 * timestamps or paths.
 */

export const FLOAT = 1
export const UINT8 = 2
export const INT8 = 3
export const INT32 = 6
export const INT64 = 7
export const BOOL = 9

export type AttrValue =
  | { kind: 'int'; v: number }
  | { kind: 'float'; v: number }
  | { kind: 'string'; v: string }
  | { kind: 'ints'; v: number[] }
  | { kind: 'floats'; v: number[] }

export interface OnnxNode {
  name: string
  op: string
  inputs: string[]
  outputs: string[]
  attrs: Record<string, AttrValue>
}

/**
 * An initializer. INT64 data is held as Float64Array (the values we store are small integers);
 * INT8 / UINT8 (quantized weights and zero points, models/convert/quantize.ts) as Int8Array / Uint8Array.
 */
export interface Initializer {
  dataType: number
  dims: number[]
  data: Float32Array | Int32Array | Float64Array | Int8Array | Uint8Array
}

export interface ValueInfo {
  name: string
  elemType: number
  /** A number for a fixed size, a string for a symbolic dimension (dynamic batch). */
  shape: Array<number | string>
  /** Write no shape at all (rank unknown: the calibration copy's extra outputs). */
  unknownShape?: boolean
}

export class OnnxGraph {
  nodes: OnnxNode[] = []
  initializers = new Map<string, Initializer>()
  inputs: ValueInfo[] = []
  outputs: ValueInfo[] = []
  /** Static shape of every value we know (-1 for an unknown dimension). */
  shapes = new Map<string, number[]>()
  private counter = 0

  /** A fresh value or node name, deterministic (a counter, never a random id). */
  fresh(base: string): string {
    this.counter++
    return `${base}__${this.counter}`
  }

  add(op: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}, name?: string): OnnxNode {
    const node: OnnxNode = { name: name ?? this.fresh(op), op, inputs, outputs, attrs }
    this.nodes.push(node)
    return node
  }

  constF(base: string, dims: number[], values: ArrayLike<number>): string {
    const name = this.fresh(base)
    this.initializers.set(name, { dataType: FLOAT, dims, data: Float32Array.from(values) })
    this.shapes.set(name, dims)
    return name
  }

  constI64(base: string, values: number[], dims: number[] = [values.length]): string {
    const name = this.fresh(base)
    this.initializers.set(name, { dataType: INT64, dims, data: Float64Array.from(values) })
    this.shapes.set(name, dims)
    return name
  }

  producers(): Map<string, OnnxNode> {
    const m = new Map<string, OnnxNode>()
    for (const n of this.nodes) for (const o of n.outputs) m.set(o, n)
    return m
  }

  consumers(): Map<string, OnnxNode[]> {
    const m = new Map<string, OnnxNode[]>()
    for (const n of this.nodes) {
      for (const i of n.inputs) {
        if (!i) continue
        const list = m.get(i)
        if (list) list.push(n)
        else m.set(i, [n])
      }
    }
    return m
  }

  isGraphOutput(name: string): boolean {
    return this.outputs.some((o) => o.name === name)
  }
}

export const ints = (v: number[]): AttrValue => ({ kind: 'ints', v })
export const int = (v: number): AttrValue => ({ kind: 'int', v })
export const float = (v: number): AttrValue => ({ kind: 'float', v })
export const str = (v: string): AttrValue => ({ kind: 'string', v })

let rootCache: protobuf.Root | undefined
function onnxRoot(): protobuf.Root {
  if (!rootCache) {
    const text = readFileSync(join(packageRoot(), 'models', 'convert', 'onnx.proto'), 'utf8')
    rootCache = protobuf.parse(text, { keepCase: true }).root
  }
  return rootCache
}

function tensorBytes(init: Initializer): Uint8Array {
  if (init.dataType === INT64) {
    const b = new BigInt64Array(init.data.length)
    for (let i = 0; i < init.data.length; i++) b[i] = BigInt(Math.trunc(init.data[i]!))
    return new Uint8Array(b.buffer)
  }
  if (init.dataType === BOOL) return Uint8Array.from(init.data, (v) => (v ? 1 : 0))
  const data = init.data
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice()
}

function attrMessage(name: string, a: AttrValue): Record<string, unknown> {
  switch (a.kind) {
    case 'int':
      return { name, type: 2, i: a.v }
    case 'float':
      return { name, type: 1, f: a.v }
    case 'string':
      return { name, type: 3, s: Buffer.from(a.v, 'utf8') }
    case 'ints':
      return { name, type: 7, ints: a.v }
    case 'floats':
      return { name, type: 6, floats: a.v }
  }
}

function valueInfo(v: ValueInfo): Record<string, unknown> {
  if (v.unknownShape) return { name: v.name, type: { tensor_type: { elem_type: v.elemType } } }
  return {
    name: v.name,
    type: {
      tensor_type: {
        elem_type: v.elemType,
        shape: { dim: v.shape.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) },
      },
    },
  }
}

export interface SerializeOptions {
  opset: number
  graphName: string
  producerVersion: string
  docString?: string
  metadata?: Record<string, string>
}

/** Encode the graph as an ONNX ModelProto (IR version 8). */
export function serialize(g: OnnxGraph, opts: SerializeOptions): Uint8Array {
  const root = onnxRoot()
  const Model = root.lookupType('onnx.ModelProto')
  const used = new Set(g.nodes.flatMap((n) => n.inputs))
  const initializers = [...g.initializers.entries()]
    .filter(([name]) => used.has(name))
    .map(([name, init]) => ({ name, dims: init.dims, data_type: init.dataType, raw_data: tensorBytes(init) }))
  const message = {
    ir_version: 8,
    opset_import: [{ domain: '', version: opts.opset }],
    producer_name: 'store-edge tfjs-graph converter',
    producer_version: opts.producerVersion,
    doc_string: opts.docString ?? '',
    graph: {
      name: opts.graphName,
      node: g.nodes.map((n) => ({
        name: n.name,
        op_type: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.keys(n.attrs)
          .sort()
          .map((k) => attrMessage(k, n.attrs[k]!)),
      })),
      initializer: initializers,
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
    metadata_props: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  }
  const err = Model.verify(message)
  if (err) throw new Error(`ONNX message invalid: ${err}`)
  return Model.encode(Model.fromObject(message)).finish()
}

/** Decode an ONNX file we wrote (tests inspect node types and initializers). */
export function decodeModel(bytes: Uint8Array): {
  opset: number
  nodes: Array<{ op: string; name: string; inputs: string[]; outputs: string[] }>
  inputs: string[]
  outputs: string[]
  metadata: Record<string, string>
} {
  const Model = onnxRoot().lookupType('onnx.ModelProto')
  const m = Model.toObject(Model.decode(bytes), { longs: Number, defaults: false }) as {
    opset_import?: Array<{ version: number }>
    graph?: {
      node?: Array<{ op_type: string; name: string; input?: string[]; output?: string[] }>
      input?: Array<{ name: string }>
      output?: Array<{ name: string }>
    }
    metadata_props?: Array<{ key: string; value: string }>
  }
  return {
    opset: m.opset_import?.[0]?.version ?? 0,
    nodes: (m.graph?.node ?? []).map((n) => ({ op: n.op_type, name: n.name, inputs: n.input ?? [], outputs: n.output ?? [] })),
    inputs: (m.graph?.input ?? []).map((i) => i.name),
    outputs: (m.graph?.output ?? []).map((o) => o.name),
    metadata: Object.fromEntries((m.metadata_props ?? []).map((p) => [p.key, p.value])),
  }
}
