import { StoreEdgeError } from '../../edge/contracts/errors.ts'
import { binary, broadcastShape, concat, resolveReshape, size, sparseToDense, transposeData } from './const-eval.ts'
import { FLOAT, INT32, OnnxGraph, float, int, ints, str, serialize, type AttrValue } from './onnx-ir.ts'
import { optimize, type OptimizeStats } from './optimize.ts'
import {
  attrBool,
  attrFloat,
  attrInts,
  attrShape,
  attrString,
  attrStrings,
  readTfjsGraph,
  type ConstTensor,
  type TfjsGraph,
  type TfNode,
} from './tfjs-model.ts'

/**
 * TF.js graph model → ONNX. Each TF node becomes one or a few ONNX nodes; NHWC convolutions,
 * pools and resizes are wrapped in Transpose pairs (ONNX is NCHW) which the optimiser then cancels
 * or pushes through elementwise ops. Constants (including SparseToDense and shape arithmetic)
 * are folded here; static shapes are tracked so paddings and Resize sizes are explicit.
 *
 * Bump CONVERTER_VERSION whenever the output bytes can change: it is part of the build cache key.
 */
export const CONVERTER_VERSION = '1.0.0'

export interface ConvertOptions {
  /** Model name for error messages. */
  name: string
  opset?: number
  /** Skip the optimiser (tests compare both). */
  optimize?: boolean
}

export interface ConvertResult {
  bytes: Uint8Array
  inputs: Array<{ name: string; shape: Array<number | null> }>
  outputs: Array<{ name: string; shape: Array<number | null> }>
  tfOps: Record<string, number>
  onnxOps: Record<string, number>
  stats: OptimizeStats
}

export const SUPPORTED_OPS = [
  'Abs', 'Add', 'AddN', 'AddV2', 'AvgPool', 'BiasAdd', 'Cast', 'ConcatV2', 'Const', 'Conv2D', 'DepthwiseConv2dNative',
  'ClipByValue', 'Elu', 'Exp', 'ExpandDims', 'FusedDepthwiseConv2dNative', 'Identity', 'LeakyRelu', 'Log', 'MatMul', 'MaxPool',
  'Maximum', 'Mean', 'Minimum', 'Mul', 'Neg', 'NoOp', 'Pad', 'PadV2', 'Placeholder', 'Prelu', 'RealDiv', 'Relu',
  'Relu6', 'Reshape', 'ResizeBilinear', 'ResizeNearestNeighbor', 'Rsqrt', 'Shape', 'Sigmoid', 'Softmax',
  'SparseToDense', 'Split', 'SplitV', 'Sqrt', 'Square', 'Squeeze', 'Sub', 'Sum', 'Tanh', 'Transpose',
  '_FusedConv2D', '_FusedMatMul',
]

const BINARY: Record<string, string> = {
  Add: 'Add', AddV2: 'Add', BiasAdd: 'Add', Sub: 'Sub', Mul: 'Mul', RealDiv: 'Div', Minimum: 'Min', Maximum: 'Max',
}
const UNARY: Record<string, string> = {
  Relu: 'Relu', Sigmoid: 'Sigmoid', Tanh: 'Tanh', Abs: 'Abs', Neg: 'Neg', Exp: 'Exp', Log: 'Log', Sqrt: 'Sqrt', Elu: 'Elu',
}
const FOLD_BINARY: Record<string, (x: number, y: number) => number> = {
  Add: (x, y) => x + y, AddV2: (x, y) => x + y, Sub: (x, y) => x - y, Mul: (x, y) => x * y,
  RealDiv: (x, y) => x / y, Minimum: Math.min, Maximum: Math.max,
}

const NHWC_TO_NCHW = [0, 3, 1, 2]
const NCHW_TO_NHWC = [0, 2, 3, 1]

class UnsupportedError extends Error {}

/** Name of a TF tensor reference ("node", "node:1", "^ctrl") as an ONNX value name. */
function tensorRef(ref: string): { node: string; index: number; value: string } {
  const [node, idx] = ref.split(':')
  const index = idx ? Number(idx) : 0
  return { node: node!, index, value: index === 0 ? node! : `${node}:${index}` }
}

class Converter {
  readonly g = new OnnxGraph()
  readonly consts = new Map<string, ConstTensor>()
  private materialised = new Set<string>()

  constructor(
    private readonly tf: TfjsGraph,
    private readonly name: string,
  ) {}

  run(): void {
    const byName = new Map(this.tf.nodes.map((n) => [n.name, n]))
    const order = this.topo(byName)
    for (const node of order) {
      try {
        this.convertNode(node)
      } catch (err) {
        if (err instanceof StoreEdgeError) throw err
        const msg = (err as Error).message
        throw new StoreEdgeError(
          'STORE_EDGE_ERR_MODEL_CONVERT',
          err instanceof UnsupportedError
            ? `model '${this.name}': op '${node.op}' (node '${node.name}') ${msg}; the converter supports: ${SUPPORTED_OPS.join(', ')}. Add a handler in models/convert/convert.ts or export the model to ONNX another way (build kind "none")`
            : `model '${this.name}': node '${node.name}' (op '${node.op}'): ${msg}`,
        )
      }
    }
    for (const out of this.tf.outputs) {
      const shape = this.shapeOf(out)
      if (this.consts.has(out)) this.value(out)
      this.g.outputs.push({ name: out, elemType: FLOAT, shape: shape.map((d, i) => (d >= 0 ? d : i === 0 ? 'batch' : `d${i}`)) })
    }
  }

  private topo(byName: Map<string, TfNode>): TfNode[] {
    const out: TfNode[] = []
    const state = new Map<string, number>()
    const visit = (n: TfNode) => {
      const s = state.get(n.name)
      if (s === 2) return
      if (s === 1) throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_CONVERT', `model '${this.name}': the graph has a cycle at node '${n.name}'`)
      state.set(n.name, 1)
      for (const i of n.input) {
        const dep = byName.get(tensorRef(i.replace(/^\^/, '')).node)
        if (dep) visit(dep)
      }
      state.set(n.name, 2)
      out.push(n)
    }
    // Only what the outputs need, in a deterministic depth-first order.
    for (const o of this.tf.outputs) {
      const n = byName.get(o)
      if (!n) throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_CONVERT', `model '${this.name}': output node '${o}' is not in the graph`)
      visit(n)
    }
    return out
  }

  // ---- values, constants, shapes ----

  private dataInputs(node: TfNode): string[] {
    return node.input.filter((i) => !i.startsWith('^')).map((i) => tensorRef(i).value)
  }

  shapeOf(value: string): number[] {
    const c = this.consts.get(value)
    if (c) return c.shape
    const s = this.g.shapes.get(value)
    if (!s) throw new Error(`shape of '${value}' is unknown`)
    return s
  }

  constOf(value: string, what: string): ConstTensor {
    const c = this.consts.get(value)
    if (!c) throw new UnsupportedError(`needs a constant ${what} (input '${value}' is computed at run time)`)
    return c
  }

  /** The ONNX value for a TF tensor: constants become initializers on first use. */
  value(v: string): string {
    const c = this.consts.get(v)
    if (c && !this.materialised.has(v)) {
      this.materialised.add(v)
      this.g.initializers.set(v, { dataType: c.dtype === 'float32' ? FLOAT : INT32, dims: c.shape, data: c.data })
      this.g.shapes.set(v, c.shape)
    }
    return v
  }

  private setConst(v: string, t: ConstTensor): void {
    this.consts.set(v, t)
  }

  private transpose(x: string, perm: number[], out?: string): string {
    const name = out ?? this.g.fresh(`${x}/transpose`)
    this.g.add('Transpose', [x], [name], { perm: ints(perm) })
    const s = this.shapeOf(x)
    this.g.shapes.set(name, perm.map((p) => s[p]!))
    return name
  }

  private emit(op: string, inputs: string[], out: string, shape: number[], attrs: Record<string, AttrValue> = {}): string {
    this.g.add(op, inputs, [out], attrs)
    this.g.shapes.set(out, shape)
    return out
  }

  // ---- the op table ----

  private convertNode(node: TfNode): void {
    const ins = this.dataInputs(node)
    const out = node.name
    const op = node.op

    if (op === 'Const') {
      const w = this.tf.weights.get(node.name)
      if (!w) throw new Error(`constant has no weight in the weights manifest`)
      this.setConst(out, w)
      return
    }
    if (op === 'Placeholder') {
      const shape = attrShape(node, 'shape')
      if (!shape) throw new Error('input has no static shape')
      this.g.inputs.push({ name: out, elemType: FLOAT, shape: shape.map((d, i) => (d >= 0 ? d : i === 0 ? 'batch' : `d${i}`)) })
      this.g.shapes.set(out, shape)
      return
    }
    if (op === 'NoOp') return

    // Everything constant folds, where we know how.
    if (ins.length && ins.every((i) => this.consts.has(i)) && this.fold(node, ins)) return

    if (op === 'Identity') {
      this.emit('Identity', [this.value(ins[0]!)], out, this.shapeOf(ins[0]!))
      return
    }
    if (op === 'Conv2D' || op === '_FusedConv2D' || op === 'DepthwiseConv2dNative' || op === 'FusedDepthwiseConv2dNative') {
      this.conv(node, ins)
      return
    }
    if (op === 'MaxPool' || op === 'AvgPool') {
      this.pool(node, ins)
      return
    }
    if (BINARY[op]) {
      const [a, b] = [ins[0]!, ins[1]!]
      const shape = broadcastShape(this.shapeOf(a), this.shapeOf(b))
      if (!shape) throw new Error(`inputs [${this.shapeOf(a)}] and [${this.shapeOf(b)}] do not broadcast`)
      if (op === 'BiasAdd' && attrString(node, 'data_format', 'NHWC') !== 'NHWC') throw new UnsupportedError('with data_format NCHW is not supported')
      this.emit(BINARY[op]!, [this.value(a), this.value(b)], out, shape)
      return
    }
    if (UNARY[op]) {
      this.emit(UNARY[op]!, [this.value(ins[0]!)], out, this.shapeOf(ins[0]!))
      return
    }
    switch (op) {
      case 'AddN': {
        let acc = this.value(ins[0]!)
        let shape = this.shapeOf(ins[0]!)
        ins.slice(1).forEach((v, k) => {
          shape = broadcastShape(shape, this.shapeOf(v)) ?? shape
          acc = this.emit('Add', [acc, this.value(v)], k === ins.length - 2 ? out : this.g.fresh(`${out}/sum`), shape)
        })
        if (ins.length === 1) this.emit('Identity', [acc], out, shape)
        return
      }
      case 'ClipByValue': {
        const lo = this.constOf(ins[1]!, 'minimum').data
        const hi = this.constOf(ins[2]!, 'maximum').data
        if (lo.length !== 1 || hi.length !== 1) throw new UnsupportedError('with per-element bounds is not supported')
        this.clip(ins[0]!, out, lo[0]!, hi[0]!)
        return
      }
      case 'Relu6':
        this.clip(ins[0]!, out, 0, 6)
        return
      case 'LeakyRelu':
        this.emit('LeakyRelu', [this.value(ins[0]!)], out, this.shapeOf(ins[0]!), { alpha: float(attrFloat(node, 'alpha', 0.2)) })
        return
      case 'Prelu':
        this.emit('PRelu', [this.value(ins[0]!), this.value(ins[1]!)], out, this.shapeOf(ins[0]!))
        return
      case 'Rsqrt': {
        const s = this.shapeOf(ins[0]!)
        const sq = this.emit('Sqrt', [this.value(ins[0]!)], this.g.fresh(`${out}/sqrt`), s)
        this.emit('Reciprocal', [sq], out, s)
        return
      }
      case 'Square':
        this.emit('Mul', [this.value(ins[0]!), this.value(ins[0]!)], out, this.shapeOf(ins[0]!))
        return
      case 'Softmax': {
        const s = this.shapeOf(ins[0]!)
        this.emit('Softmax', [this.value(ins[0]!)], out, s, { axis: int(s.length - 1) })
        return
      }
      case 'Mean':
      case 'Sum':
        this.reduce(node, ins)
        return
      case '_FusedMatMul':
      case 'MatMul':
        this.matmul(node, ins)
        return
      case 'Pad':
      case 'PadV2': {
        const x = ins[0]!
        const p = this.constOf(ins[1]!, 'paddings')
        const rank = this.shapeOf(x).length
        const before: number[] = []
        const after: number[] = []
        for (let d = 0; d < rank; d++) {
          before.push(p.data[2 * d]!)
          after.push(p.data[2 * d + 1]!)
        }
        const inputs = [this.value(x), this.g.constI64(`${out}/pads`, [...before, ...after])]
        if (op === 'PadV2') {
          const cv = this.constOf(ins[2]!, 'constant value')
          inputs.push(this.g.constF(`${out}/value`, [], [cv.data[0]!]))
        }
        const shape = this.shapeOf(x).map((d, i) => (d < 0 ? d : d + before[i]! + after[i]!))
        this.emit('Pad', inputs, out, shape, { mode: str('constant') })
        return
      }
      case 'Reshape': {
        const x = ins[0]!
        const target = Array.from(this.constOf(ins[1]!, 'shape').data)
        if (target.includes(0)) throw new UnsupportedError('with a zero-sized target dimension is not supported')
        const shape = resolveReshape(target, this.shapeOf(x))
        const inShape = this.shapeOf(x)
        // A dynamic batch stays dynamic: reshape to -1 on the leading dim when the input batch is unknown.
        const onnxTarget = inShape[0] === -1 && target[0] === 1 && target.length > 0 ? [-1, ...target.slice(1)] : target
        this.emit('Reshape', [this.value(x), this.g.constI64(`${out}/shape`, onnxTarget)], out, inShape[0] === -1 ? [-1, ...shape.slice(1)] : shape)
        return
      }
      case 'Squeeze': {
        const x = ins[0]!
        const s = this.shapeOf(x)
        let axes = attrInts(node, 'squeeze_dims', [])
        if (!axes.length) axes = attrInts(node, 'axis', [])
        if (!axes.length) axes = s.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)
        axes = axes.map((a) => (a < 0 ? a + s.length : a)).sort((a, b) => a - b)
        this.emit('Squeeze', [this.value(x), this.g.constI64(`${out}/axes`, axes)], out, s.filter((_, i) => !axes.includes(i)))
        return
      }
      case 'ExpandDims': {
        const x = ins[0]!
        const s = this.shapeOf(x)
        let axis = this.constOf(ins[1]!, 'axis').data[0]!
        if (axis < 0) axis += s.length + 1
        const shape = [...s]
        shape.splice(axis, 0, 1)
        this.emit('Unsqueeze', [this.value(x), this.g.constI64(`${out}/axes`, [axis])], out, shape)
        return
      }
      case 'Transpose': {
        const perm = Array.from(this.constOf(ins[1]!, 'perm').data)
        this.transpose(this.value(ins[0]!), perm, out)
        return
      }
      case 'ConcatV2': {
        const parts = ins.slice(0, -1)
        const rank = this.shapeOf(parts[0]!).length
        let axis = this.constOf(ins[ins.length - 1]!, 'axis').data[0]!
        if (axis < 0) axis += rank
        const shape = [...this.shapeOf(parts[0]!)]
        shape[axis] = parts.reduce((s, p) => (s < 0 || this.shapeOf(p)[axis]! < 0 ? -1 : s + this.shapeOf(p)[axis]!), 0)
        this.emit('Concat', parts.map((p) => this.value(p)), out, shape, { axis: int(axis) })
        return
      }
      case 'SplitV':
      case 'Split': {
        const x = op === 'SplitV' ? ins[0]! : ins[1]!
        const s = this.shapeOf(x)
        let axis = this.constOf(op === 'SplitV' ? ins[2]! : ins[0]!, 'split dimension').data[0]!
        if (axis < 0) axis += s.length
        let sizes: number[]
        if (op === 'SplitV') {
          sizes = Array.from(this.constOf(ins[1]!, 'size_splits').data)
          const known = sizes.filter((v) => v >= 0).reduce((a, b) => a + b, 0)
          sizes = sizes.map((v) => (v < 0 ? s[axis]! - known : v))
        } else {
          const n = Number(node.attr.num_split?.i ?? 1)
          sizes = new Array<number>(n).fill(s[axis]! / n)
        }
        const outs = sizes.map((_, k) => (k === 0 ? out : `${out}:${k}`))
        this.g.add('Split', [this.value(x), this.g.constI64(`${out}/split`, sizes)], outs, { axis: int(axis) })
        outs.forEach((o, k) => this.g.shapes.set(o, s.map((d, i) => (i === axis ? sizes[k]! : d))))
        return
      }
      case 'ResizeBilinear':
      case 'ResizeNearestNeighbor':
        this.resize(node, ins)
        return
      case 'Cast': {
        const to = node.attr.DstT?.type
        const x = ins[0]!
        if (to === 'DT_FLOAT') this.emit('Cast', [this.value(x)], out, this.shapeOf(x), { to: int(FLOAT) })
        else if (to === 'DT_INT32') this.emit('Cast', [this.value(x)], out, this.shapeOf(x), { to: int(INT32) })
        else throw new UnsupportedError(`to ${to} is not supported`)
        return
      }
      case 'Shape': {
        const s = this.shapeOf(ins[0]!)
        if (s.some((d) => d < 0)) throw new UnsupportedError('of a tensor with a dynamic dimension is not supported')
        this.setConst(out, { dtype: 'int32', shape: [s.length], data: Int32Array.from(s) })
        return
      }
    }
    throw new UnsupportedError('is not supported')
  }

  /** Constant folding; false when the op has no folding rule (it is then converted normally). */
  private fold(node: TfNode, ins: string[]): boolean {
    const c = (i: number) => this.consts.get(ins[i]!)!
    const op = node.op
    const out = node.name
    if (op === 'Identity') this.setConst(out, c(0))
    else if (FOLD_BINARY[op]) {
      const r = binary(c(0), c(1), FOLD_BINARY[op]!)
      if (r.data instanceof Float32Array) r.data = Float32Array.from(r.data)
      this.setConst(out, r)
    } else if (op === 'SparseToDense') this.setConst(out, sparseToDense(c(0), c(1), c(2), c(3)))
    else if (op === 'Reshape') {
      const t = c(0)
      this.setConst(out, { ...t, shape: resolveReshape(Array.from(c(1).data), t.shape) })
    } else if (op === 'Transpose') this.setConst(out, transposeData(c(0), Array.from(c(1).data)))
    else if (op === 'ConcatV2') this.setConst(out, concat(ins.slice(0, -1).map((_, i) => c(i)), c(ins.length - 1).data[0]!))
    else if (op === 'Cast') {
      const t = c(0)
      const to = node.attr.DstT?.type
      if (to === 'DT_FLOAT') this.setConst(out, { dtype: 'float32', shape: t.shape, data: Float32Array.from(t.data) })
      else if (to === 'DT_INT32' || to === 'DT_INT64') this.setConst(out, { dtype: 'int32', shape: t.shape, data: Int32Array.from(t.data, Math.trunc) })
      else return false
    } else if (op === 'Shape') this.setConst(out, { dtype: 'int32', shape: [c(0).shape.length], data: Int32Array.from(c(0).shape) })
    else return false
    return true
  }

  private clip(x: string, out: string, lo: number, hi: number): string {
    return this.emit('Clip', [this.value(x), this.g.constF(`${out}/min`, [], [lo]), this.g.constF(`${out}/max`, [], [hi])], out, this.shapeOf(x))
  }

  /** The fused activation of _FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul, applied to `y`. */
  private activation(node: TfNode, ins: string[], y: string, out: string, channelAxis: number): string {
    const fused = attrStrings(node, 'fused_ops')
    if (fused.length === 0) return y
    if (fused[0] !== 'BiasAdd') throw new UnsupportedError(`with fused_ops [${fused.join(', ')}] is not supported (only BiasAdd first)`)
    const act = fused[1]
    if (fused.length > 2) throw new UnsupportedError(`with fused_ops [${fused.join(', ')}] is not supported`)
    const shape = this.shapeOf(y)
    switch (act) {
      case undefined:
        return y
      case 'Relu':
        return this.emit('Relu', [y], out, shape)
      case 'Relu6':
        return this.emit('Clip', [y, this.g.constF(`${out}/min`, [], [0]), this.g.constF(`${out}/max`, [], [6])], out, shape)
      case 'Elu':
        return this.emit('Elu', [y], out, shape)
      case 'Sigmoid':
        return this.emit('Sigmoid', [y], out, shape)
      case 'LeakyRelu':
        return this.emit('LeakyRelu', [y], out, shape, { alpha: float(attrFloat(node, 'leakyrelu_alpha', 0.2)) })
      case 'Prelu': {
        const alpha = this.constOf(ins[3]!, 'PReLU alpha')
        const c = alpha.data.length
        const dims = new Array<number>(shape.length).fill(1)
        dims[channelAxis] = c
        const slope = this.g.constF(`${out}/slope`, channelAxis === shape.length - 1 ? [c] : dims.slice(1), alpha.data)
        return this.emit('PRelu', [y, slope], out, shape)
      }
      default:
        throw new UnsupportedError(`with fused activation '${act}' is not supported`)
    }
  }

  private conv(node: TfNode, ins: string[]): void {
    const out = node.name
    const depthwise = node.op.includes('Depthwise')
    const fmt = attrString(node, 'data_format', 'NHWC')
    if (fmt !== 'NHWC') throw new UnsupportedError(`with data_format ${fmt} is not supported`)
    const x = ins[0]!
    const filter = this.constOf(ins[1]!, 'filter')
    const [kh, kw, cin, cm] = filter.shape as [number, number, number, number]
    const strides = attrInts(node, 'strides', [1, 1, 1, 1])
    const dil = attrInts(node, 'dilations', [1, 1, 1, 1])
    const xs = this.shapeOf(x)
    const [n, h, w] = xs as [number, number, number, number]
    const padding = attrString(node, 'padding')
    const pads = this.pads(padding, [h, w], [kh, kw], [strides[1]!, strides[2]!], [dil[1]!, dil[2]!], node)
    const outH = Math.floor((h + pads[0]! + pads[2]! - ((kh - 1) * dil[1]! + 1)) / strides[1]!) + 1
    const outW = Math.floor((w + pads[1]! + pads[3]! - ((kw - 1) * dil[2]! + 1)) / strides[2]!) + 1
    let weight: string
    let cout: number
    let group = 1
    if (depthwise) {
      // TF [H, W, C, M] → ONNX [C*M, 1, H, W], group C: output channel c*M + m.
      cout = cin * cm
      const t = transposeData(filter, [2, 3, 0, 1])
      weight = this.g.constF(`${out}/W`, [cout, 1, kh, kw], t.data)
      group = cin
    } else {
      // TF HWIO → ONNX OIHW. A grouped TF conv (filter I < input C) maps to ONNX group.
      cout = cm
      const t = transposeData(filter, [3, 2, 0, 1])
      weight = this.g.constF(`${out}/W`, [cout, cin, kh, kw], t.data)
      if (xs[3]! > 0 && xs[3] !== cin) group = xs[3]! / cin
    }
    const inputs = [this.transpose(this.value(x), NHWC_TO_NCHW), weight]
    const fused = attrStrings(node, 'fused_ops')
    if (fused[0] === 'BiasAdd') {
      const b = this.constOf(ins[2]!, 'bias')
      inputs.push(this.g.constF(`${out}/B`, [cout], b.data))
    }
    const y = this.emit('Conv', inputs, this.g.fresh(`${out}/conv`), [n, cout, outH, outW], {
      dilations: ints([dil[1]!, dil[2]!]),
      group: int(group),
      kernel_shape: ints([kh, kw]),
      pads: ints(pads),
      strides: ints([strides[1]!, strides[2]!]),
    })
    const a = this.activation(node, ins, y, this.g.fresh(`${out}/act`), 1)
    this.transpose(a, NCHW_TO_NHWC, out)
  }

  /** ONNX pads [top, left, bottom, right] for TF SAME / VALID / EXPLICIT (TF puts the odd pixel at the end). */
  private pads(padding: string, size: number[], k: number[], s: number[], d: number[], node: TfNode): number[] {
    if (padding === 'VALID') return [0, 0, 0, 0]
    if (padding === 'EXPLICIT') {
      const e = attrInts(node, 'explicit_paddings')
      return [e[2]!, e[4]!, e[3]!, e[5]!]
    }
    if (padding !== 'SAME') throw new UnsupportedError(`with padding ${padding} is not supported`)
    const before: number[] = []
    const after: number[] = []
    for (let i = 0; i < 2; i++) {
      if (size[i]! < 0) throw new UnsupportedError('with SAME padding on a dynamic spatial size is not supported')
      const outSize = Math.ceil(size[i]! / s[i]!)
      const total = Math.max((outSize - 1) * s[i]! + (k[i]! - 1) * d[i]! + 1 - size[i]!, 0)
      before.push(Math.floor(total / 2))
      after.push(total - Math.floor(total / 2))
    }
    return [before[0]!, before[1]!, after[0]!, after[1]!]
  }

  private pool(node: TfNode, ins: string[]): void {
    const out = node.name
    const fmt = attrString(node, 'data_format', 'NHWC')
    if (fmt !== 'NHWC') throw new UnsupportedError(`with data_format ${fmt} is not supported`)
    const x = ins[0]!
    const [n, h, w, c] = this.shapeOf(x) as [number, number, number, number]
    const k = attrInts(node, 'ksize')
    const s = attrInts(node, 'strides')
    const pads = this.pads(attrString(node, 'padding'), [h, w], [k[1]!, k[2]!], [s[1]!, s[2]!], [1, 1], node)
    const outH = Math.floor((h + pads[0]! + pads[2]! - k[1]!) / s[1]!) + 1
    const outW = Math.floor((w + pads[1]! + pads[3]! - k[2]!) / s[2]!) + 1
    const attrs: Record<string, AttrValue> = { kernel_shape: ints([k[1]!, k[2]!]), pads: ints(pads), strides: ints([s[1]!, s[2]!]) }
    // TF's SAME average pooling divides by the number of real pixels.
    if (node.op === 'AvgPool') attrs.count_include_pad = int(0)
    const y = this.emit(node.op === 'MaxPool' ? 'MaxPool' : 'AveragePool', [this.transpose(this.value(x), NHWC_TO_NCHW)], this.g.fresh(`${out}/pool`), [n, c, outH, outW], attrs)
    this.transpose(y, NCHW_TO_NHWC, out)
  }

  private reduce(node: TfNode, ins: string[]): void {
    const out = node.name
    const x = ins[0]!
    const s = this.shapeOf(x)
    const axes = Array.from(this.constOf(ins[1]!, 'axes').data)
      .map((a) => (a < 0 ? a + s.length : a))
      .sort((a, b) => a - b)
    const keep = attrBool(node, 'keep_dims', false)
    const shape = keep ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i))
    if (node.op === 'Mean') this.emit('ReduceMean', [this.value(x)], out, shape, { axes: ints(axes), keepdims: int(keep ? 1 : 0) })
    else this.emit('ReduceSum', [this.value(x), this.g.constI64(`${out}/axes`, axes)], out, shape, { keepdims: int(keep ? 1 : 0) })
  }

  private matmul(node: TfNode, ins: string[]): void {
    const out = node.name
    const [a, b] = [ins[0]!, ins[1]!]
    const ta = attrBool(node, 'transpose_a', false)
    const tb = attrBool(node, 'transpose_b', false)
    const as = this.shapeOf(a)
    const bs = this.shapeOf(b)
    if (as.length !== 2 || bs.length !== 2) throw new UnsupportedError('on tensors of rank other than 2 is not supported')
    const m = ta ? as[1]! : as[0]!
    const nOut = tb ? bs[0]! : bs[1]!
    const fused = attrStrings(node, 'fused_ops')
    const inputs = [this.value(a), this.value(b)]
    if (fused[0] === 'BiasAdd') inputs.push(this.value(ins[2]!))
    const y = this.emit('Gemm', inputs, node.op === 'MatMul' || fused.length < 2 ? out : this.g.fresh(`${out}/gemm`), [m, nOut], {
      transA: int(ta ? 1 : 0),
      transB: int(tb ? 1 : 0),
    })
    if (fused.length >= 2) this.activation(node, ins, y, out, 1)
  }

  private resize(node: TfNode, ins: string[]): void {
    const out = node.name
    const x = ins[0]!
    const [n, h, w, c] = this.shapeOf(x) as [number, number, number, number]
    const sz = Array.from(this.constOf(ins[1]!, 'size').data)
    const alignCorners = attrBool(node, 'align_corners', false)
    const halfPixel = attrBool(node, 'half_pixel_centers', false)
    const bilinear = node.op === 'ResizeBilinear'
    const attrs: Record<string, AttrValue> = { mode: str(bilinear ? 'linear' : 'nearest') }
    // TF's coordinate rules, as ONNX names them.
    if (alignCorners) {
      attrs.coordinate_transformation_mode = str('align_corners')
      if (!bilinear) attrs.nearest_mode = str('round_prefer_ceil')
    } else if (halfPixel) {
      attrs.coordinate_transformation_mode = str(bilinear ? 'half_pixel' : 'tf_half_pixel_for_nn')
      if (!bilinear) attrs.nearest_mode = str('round_prefer_ceil')
    } else {
      attrs.coordinate_transformation_mode = str('asymmetric')
      if (!bilinear) attrs.nearest_mode = str('floor')
    }
    const xt = this.transpose(this.value(x), NHWC_TO_NCHW)
    let inputs: string[]
    if (n > 0 && c > 0) {
      inputs = [xt, '', '', this.g.constI64(`${out}/sizes`, [n, c, sz[0]!, sz[1]!])]
    } else {
      if (h < 0 || w < 0) throw new UnsupportedError('on a dynamic spatial size is not supported')
      inputs = [xt, '', this.g.constF(`${out}/scales`, [4], [1, 1, sz[0]! / h, sz[1]! / w])]
    }
    const y = this.emit('Resize', inputs, this.g.fresh(`${out}/resize`), [n, c, sz[0]!, sz[1]!], attrs)
    this.transpose(y, NCHW_TO_NHWC, out)
  }
}

/** The converted (and optimised) in-memory graph, before serialisation. */
export function buildOnnxGraph(tf: TfjsGraph, opts: ConvertOptions): { graph: OnnxGraph; stats: OptimizeStats } {
  const conv = new Converter(tf, opts.name)
  conv.run()
  const g = conv.g
  const stats = opts.optimize === false ? { removedTransposes: 0, fused: 0, passes: 0 } : optimize(g)
  return { graph: g, stats }
}

/** Multiply-accumulates of the Conv and Gemm nodes (static shapes), for the report. */
export function countMacs(g: OnnxGraph): number {
  let macs = 0
  for (const n of g.nodes) {
    if (n.op !== 'Conv' && n.op !== 'Gemm') continue
    const w = g.initializers.get(n.inputs[1]!)
    const out = g.shapes.get(n.outputs[0]!)
    if (!w || !out) continue
    const perOut = n.op === 'Conv' ? w.data.length / w.dims[0]! : (w.dims[0]! * w.dims[1]!) / out[out.length - 1]!
    macs += out.reduce((a, b) => a * Math.max(b, 1), 1) * perOut
  }
  return macs
}

/** Convert a TF.js graph model (already read) to ONNX bytes. */
export function convertGraph(tf: TfjsGraph, opts: ConvertOptions): ConvertResult {
  const { graph: g, stats } = buildOnnxGraph(tf, opts)
  const opset = opts.opset ?? 13
  const bytes = serialize(g, {
    opset,
    graphName: opts.name,
    producerVersion: CONVERTER_VERSION,
    docString: `${opts.name}: converted from a TF.js graph model by store-edge`,
  })
  const count = (ops: string[]) => {
    const r: Record<string, number> = {}
    for (const o of ops.sort()) r[o] = (r[o] ?? 0) + 1
    return r
  }
  const dim = (d: number | string) => (typeof d === 'number' ? d : null)
  return {
    bytes,
    inputs: g.inputs.map((i) => ({ name: i.name, shape: i.shape.map(dim) })),
    outputs: g.outputs.map((o) => ({ name: o.name, shape: o.shape.map(dim) })),
    tfOps: count(tf.nodes.map((n) => n.op)),
    onnxOps: count(g.nodes.map((n) => n.op)),
    stats,
  }
}

/** Read model.json (+ shards) and convert. */
export function convertTfjsModel(modelJsonPath: string, opts: ConvertOptions): ConvertResult {
  let tf: TfjsGraph
  try {
    tf = readTfjsGraph(modelJsonPath)
  } catch (err) {
    throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_SOURCE', `model '${opts.name}': cannot read ${modelJsonPath}: ${(err as Error).message}; reinstall the source package with \`npm ci\``)
  }
  return convertGraph(tf, opts)
}

export { size }
