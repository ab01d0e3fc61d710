import type { ConstTensor } from './tfjs-model.ts'

/**
 * Constant folding on TF constants: the handful of ops that build shapes and paddings at graph
 * level (SparseToDense, integer arithmetic, Reshape, ConcatV2...). Evaluated in plain JS with
 * numpy broadcasting; float results are rounded to float32 like TF would.
 */

export const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1)

export function broadcastShape(a: number[], b: number[]): number[] | undefined {
  const r = Math.max(a.length, b.length)
  const out: number[] = []
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1
    const db = b[b.length - r + i] ?? 1
    if (da === db || db === 1) out.push(da)
    else if (da === 1) out.push(db)
    else if (da === -1 || db === -1) out.push(-1)
    else return undefined
  }
  return out
}

function strides(shape: number[]): number[] {
  const s = new Array<number>(shape.length).fill(1)
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!
  return s
}

/** Index into a broadcast operand for each flat output index. */
function broadcastIndex(out: number[], src: number[]): (flat: number) => number {
  const r = out.length
  const padded = [...new Array<number>(r - src.length).fill(1), ...src]
  const ss = strides(padded)
  const os = strides(out)
  return (flat) => {
    let idx = 0
    for (let d = 0; d < r; d++) {
      const coord = Math.floor(flat / os[d]!) % out[d]!
      if (padded[d] !== 1) idx += coord * ss[d]!
    }
    return idx
  }
}

export function binary(a: ConstTensor, b: ConstTensor, f: (x: number, y: number) => number): ConstTensor {
  const shape = broadcastShape(a.shape, b.shape)
  if (!shape) throw new Error(`shapes [${a.shape}] and [${b.shape}] do not broadcast`)
  const n = size(shape)
  const ia = broadcastIndex(shape, a.shape)
  const ib = broadcastIndex(shape, b.shape)
  const isFloat = a.dtype === 'float32' || b.dtype === 'float32'
  const data = isFloat ? new Float32Array(n) : new Int32Array(n)
  for (let i = 0; i < n; i++) data[i] = f(a.data[ia(i)]!, b.data[ib(i)]!)
  return { dtype: isFloat ? 'float32' : a.dtype, shape, data }
}

export function transposeData(t: ConstTensor, perm: number[]): ConstTensor {
  const shape = perm.map((p) => t.shape[p]!)
  const n = size(shape)
  const inStrides = strides(t.shape)
  const outStrides = strides(shape)
  const data = t.data instanceof Float32Array ? new Float32Array(n) : new Int32Array(n)
  for (let i = 0; i < n; i++) {
    let src = 0
    for (let d = 0; d < shape.length; d++) src += (Math.floor(i / outStrides[d]!) % shape[d]!) * inStrides[perm[d]!]!
    data[i] = t.data[src]!
  }
  return { dtype: t.dtype, shape, data }
}

export function concat(ts: ConstTensor[], axis: number): ConstTensor {
  const first = ts[0]!
  const rank = first.shape.length
  const ax = axis < 0 ? axis + rank : axis
  const outer = size(first.shape.slice(0, ax))
  const shape = [...first.shape]
  shape[ax] = ts.reduce((s, t) => s + t.shape[ax]!, 0)
  const isFloat = ts.some((t) => t.dtype === 'float32')
  const data = isFloat ? new Float32Array(size(shape)) : new Int32Array(size(shape))
  let o = 0
  for (let i = 0; i < outer; i++) {
    for (const t of ts) {
      const inner = size(t.shape.slice(ax))
      for (let j = 0; j < inner; j++) data[o++] = t.data[i * inner + j]!
    }
  }
  return { dtype: isFloat ? 'float32' : first.dtype, shape, data }
}

/** tf.sparseToDense(indices, outputShape, values, defaultValue). */
export function sparseToDense(indices: ConstTensor, outputShape: ConstTensor, values: ConstTensor, dflt: ConstTensor): ConstTensor {
  const shape = Array.from(outputShape.data)
  const n = size(shape)
  const isFloat = values.dtype === 'float32'
  const data = isFloat ? new Float32Array(n) : new Int32Array(n)
  data.fill(dflt.data[0] ?? 0)
  const rank = shape.length
  const count = indices.shape.length === 0 ? 1 : indices.shape[0]!
  const st = strides(shape)
  for (let k = 0; k < count; k++) {
    let flat = 0
    if (indices.shape.length <= 1 && rank <= 1) flat = indices.data[k]!
    else for (let d = 0; d < rank; d++) flat += indices.data[k * rank + d]! * st[d]!
    data[flat] = values.shape.length === 0 ? values.data[0]! : values.data[k]!
  }
  return { dtype: values.dtype, shape, data }
}

/** Resolve a TF reshape target (one -1 allowed) against a known element count. */
export function resolveReshape(target: number[], inShape: number[]): number[] {
  const known = inShape.every((d) => d >= 0)
  if (!known) return target
  const total = size(inShape)
  const fixed = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1)
  return target.map((d) => (d === -1 ? total / fixed : d))
}
