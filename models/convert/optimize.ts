import { transposeData } from './const-eval.ts'
import { FLOAT, INT64, OnnxGraph, type OnnxNode } from './onnx-ir.ts'

/**
 * Graph clean-up after conversion, so the ONNX model runs as fast as a hand-exported one:
 * - Transposes are pushed down through elementwise ops, Pad, Concat, Split, Resize, reductions and
 *   Squeeze, then adjacent Transpose pairs that cancel are removed and duplicates merged. What was
 *   NHWC → (Transpose, Conv, Transpose) chains ends up as plain NCHW convolutions.
 * - Folds: Conv → Mul(per-channel constant) and Conv → Add(per-channel constant) into the Conv
 *   weights/bias (batch-norm remnants), Pad(0) → Conv into the Conv pads, Relu → Min(a) → Max(0)
 *   into Clip(0, a), and relu(x) + c·(x − |x|) into PRelu(x, 2c) (MobileFaceNet's PReLU).
 * - Dead nodes removed, nodes written in a deterministic topological order.
 * All rewrites are exact or differ only by float rounding of folded weights.
 */

export interface OptimizeStats {
  removedTransposes: number
  fused: number
  passes: number
}

const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Min', 'Max', 'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Abs', 'Neg', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Elu', 'Clip', 'PRelu', 'Identity'])
const PUSHABLE = new Set([...ELEMENTWISE, 'Pad', 'Concat', 'Split', 'Resize', 'ReduceMean', 'ReduceSum', 'Squeeze'])

const isIdentityPerm = (p: number[]) => p.every((v, i) => v === i)
const invert = (p: number[]) => {
  const inv = new Array<number>(p.length)
  p.forEach((v, i) => (inv[v] = i))
  return inv
}
function permOf(n: OnnxNode): number[] {
  const a = n.attrs.perm
  return a && a.kind === 'ints' ? a.v : []
}

function renameInputs(g: OnnxGraph, from: string, to: string): void {
  for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i))
}

function removeNode(g: OnnxGraph, node: OnnxNode): void {
  const i = g.nodes.indexOf(node)
  if (i >= 0) g.nodes.splice(i, 1)
}

function initData(g: OnnxGraph, name: string): number[] | undefined {
  const init = g.initializers.get(name)
  return init ? Array.from(init.data) : undefined
}

/** A constant input reshaped to `rank` (leading 1s) and transposed by `perm`, as a new initializer. */
function permuteConst(g: OnnxGraph, name: string, rank: number, perm: number[]): string | undefined {
  const init = g.initializers.get(name)
  if (!init || init.dataType !== FLOAT) return undefined
  if (init.dims.length > rank) return undefined
  if (init.dims.every((d) => d === 1) || init.dims.length === 0) return name
  const dims = [...new Array<number>(rank - init.dims.length).fill(1), ...init.dims]
  const t = transposeData({ dtype: 'float32', shape: dims, data: init.data as Float32Array }, perm)
  const out = g.fresh(`${name}/perm`)
  g.initializers.set(out, { dataType: FLOAT, dims: t.shape, data: t.data })
  g.shapes.set(out, t.shape)
  return out
}

/**
 * Push one Transpose layer down through `node` when every runtime input comes from a Transpose
 * with the same perm: node(T(x, P)) → T(node'(x), P'), where node' works in x's layout.
 */
function pushThrough(g: OnnxGraph, node: OnnxNode, producers: Map<string, OnnxNode>): boolean {
  if (!PUSHABLE.has(node.op)) return false
  // Which inputs carry data (the rest are parameters: pads, axes, sizes, split, clip bounds).
  const dataIdx =
    node.op === 'Concat' || ELEMENTWISE.has(node.op)
      ? node.inputs.map((_, i) => i).filter((i) => !(node.op === 'Clip' && i > 0))
      : [0]
  let perm: number[] | undefined
  const transposed: number[] = []
  for (const i of dataIdx) {
    const v = node.inputs[i]!
    if (!v) continue
    if (g.initializers.has(v)) continue
    const p = producers.get(v)
    if (!p || p.op !== 'Transpose') return false
    const pp = permOf(p)
    if (perm && pp.join() !== perm.join()) return false
    perm = pp
    transposed.push(i)
  }
  if (!perm || transposed.length === 0) return false
  const P = perm
  const inv = invert(P)
  const rank = P.length
  const newInputs = [...node.inputs]
  for (const i of dataIdx) {
    const v = node.inputs[i]!
    if (!v) continue
    if (transposed.includes(i)) newInputs[i] = producers.get(v)!.inputs[0]!
    else {
      const c = permuteConst(g, v, rank, inv)
      if (!c) return false
      newInputs[i] = c
    }
  }
  // Output perm: the same P, except where reductions/squeezes drop axes.
  let outPerm = P
  const attrs = { ...node.attrs }
  const mapAxis = (a: number) => P[a < 0 ? a + rank : a]!
  switch (node.op) {
    case 'Concat':
    case 'Split': {
      const a = attrs.axis
      if (!a || a.kind !== 'int') return false
      attrs.axis = { kind: 'int', v: mapAxis(a.v) }
      break
    }
    case 'Pad': {
      const pads = initData(g, node.inputs[1]!)
      if (!pads || pads.length !== 2 * rank) return false
      const np = new Array<number>(2 * rank)
      for (let i = 0; i < rank; i++) {
        np[P[i]!] = pads[i]!
        np[rank + P[i]!] = pads[rank + i]!
      }
      newInputs[1] = g.constI64('pads', np)
      break
    }
    case 'Resize': {
      const idx = node.inputs[3] ? 3 : 2
      const vals = initData(g, node.inputs[idx]!)
      if (!vals || vals.length !== rank) return false
      const nv = new Array<number>(rank)
      for (let i = 0; i < rank; i++) nv[P[i]!] = vals[i]!
      newInputs[idx] = idx === 3 ? g.constI64('sizes', nv) : g.constF('scales', [rank], nv)
      break
    }
    case 'ReduceMean':
    case 'ReduceSum':
    case 'Squeeze': {
      let axes: number[]
      if (node.op === 'ReduceMean') {
        const a = attrs.axes
        if (!a || a.kind !== 'ints') return false
        axes = a.v
      } else {
        const d = node.inputs[1] ? initData(g, node.inputs[1]) : undefined
        if (!d) return false
        axes = d
      }
      const mapped = axes.map(mapAxis).sort((a, b) => a - b)
      if (node.op === 'ReduceMean') attrs.axes = { kind: 'ints', v: mapped }
      else newInputs[1] = g.constI64('axes', mapped)
      const keep = node.op !== 'Squeeze' && !(attrs.keepdims && attrs.keepdims.kind === 'int' && attrs.keepdims.v === 0)
      if (!keep) {
        const removed = new Set(axes.map((a) => (a < 0 ? a + rank : a)))
        const desired = P.filter((_, i) => !removed.has(i))
        const sorted = [...desired].sort((a, b) => a - b)
        outPerm = desired.map((d) => sorted.indexOf(d))
      }
      break
    }
  }
  const oldOutputs = node.outputs
  const newOutputs = oldOutputs.map((o) => g.fresh(`${o}/pre`))
  node.inputs = newInputs
  node.attrs = attrs
  node.outputs = newOutputs
  const outInv = invert(outPerm)
  oldOutputs.forEach((o, k) => {
    const s = g.shapes.get(o)
    if (s) g.shapes.set(newOutputs[k]!, outInv.map((p) => s[p]!))
    if (isIdentityPerm(outPerm)) {
      g.add('Identity', [newOutputs[k]!], [o])
    } else {
      g.add('Transpose', [newOutputs[k]!], [o], { perm: { kind: 'ints', v: outPerm } })
    }
  })
  return true
}

/** T2(T1(x)) → T(x) with the composed perm, or x itself; identical Transposes of one value merged; Identities dropped. */
function simplify(g: OnnxGraph): number {
  let removed = 0
  let changed = true
  while (changed) {
    changed = false
    const producers = g.producers()
    const seen = new Map<string, OnnxNode>()
    for (const n of [...g.nodes]) {
      if (n.op === 'Identity' && !g.isGraphOutput(n.outputs[0]!)) {
        renameInputs(g, n.outputs[0]!, n.inputs[0]!)
        removeNode(g, n)
        changed = true
        continue
      }
      if (n.op !== 'Transpose') continue
      const src = producers.get(n.inputs[0]!)
      if (src && src.op === 'Transpose') {
        const p1 = permOf(src)
        const p2 = permOf(n)
        const q = p2.map((i) => p1[i]!)
        n.inputs = [src.inputs[0]!]
        n.attrs = { perm: { kind: 'ints', v: q } }
        changed = true
      }
      const p = permOf(n)
      if (isIdentityPerm(p)) {
        if (g.isGraphOutput(n.outputs[0]!)) {
          n.op = 'Identity'
          n.attrs = {}
        } else {
          renameInputs(g, n.outputs[0]!, n.inputs[0]!)
          removeNode(g, n)
        }
        removed++
        changed = true
        continue
      }
      const key = `${n.inputs[0]}|${p.join()}`
      const first = seen.get(key)
      if (first && !g.isGraphOutput(n.outputs[0]!)) {
        renameInputs(g, n.outputs[0]!, first.outputs[0]!)
        removeNode(g, n)
        removed++
        changed = true
        continue
      }
      if (!first) seen.set(key, n)
    }
    removed += deadCode(g)
    if (changed) continue
  }
  return removed
}

/** Remove nodes nothing needs; returns how many Transposes went. */
function deadCode(g: OnnxGraph): number {
  const producers = g.producers()
  const live = new Set<OnnxNode>()
  const stack = g.outputs.map((o) => o.name)
  while (stack.length) {
    const v = stack.pop()!
    const p = producers.get(v)
    if (!p || live.has(p)) continue
    live.add(p)
    for (const i of p.inputs) if (i) stack.push(i)
  }
  const dead = g.nodes.filter((n) => !live.has(n))
  g.nodes = g.nodes.filter((n) => live.has(n))
  return dead.filter((n) => n.op === 'Transpose').length
}

function singleConsumer(g: OnnxGraph, consumers: Map<string, OnnxNode[]>, value: string): OnnxNode | undefined {
  if (g.isGraphOutput(value)) return undefined
  const c = consumers.get(value)
  return c && c.length === 1 ? c[0] : undefined
}

/** A per-channel constant (NCHW channel axis 1) of `channels` values, or a scalar; else undefined. */
function channelConst(g: OnnxGraph, name: string, channels: number): Float32Array | undefined {
  const init = g.initializers.get(name)
  if (!init || init.dataType !== FLOAT) return undefined
  const d = init.dims
  const n = init.data.length
  if (n === 1) return new Float32Array(channels).fill(init.data[0]!)
  if (n !== channels) return undefined
  const ok = (d.length === 4 && d[1] === channels) || (d.length === 3 && d[0] === channels) || (d.length === 1 && channels === 1)
  return ok ? Float32Array.from(init.data) : undefined
}

function fuse(g: OnnxGraph): number {
  let fused = 0
  let changed = true
  while (changed) {
    changed = false
    const consumers = g.consumers()
    const producers = g.producers()
    for (const n of g.nodes) {
      // Conv → Mul / Add by a per-channel constant.
      if (n.op === 'Conv') {
        const next = singleConsumer(g, consumers, n.outputs[0]!)
        if (next && (next.op === 'Mul' || next.op === 'Add')) {
          const other = next.inputs[0] === n.outputs[0] ? next.inputs[1]! : next.inputs[0]!
          const w = g.initializers.get(n.inputs[1]!)!
          const cout = w.dims[0]!
          const c = channelConst(g, other, cout)
          if (c) {
            const per = w.data.length / cout
            const b = n.inputs[2] ? Float32Array.from(g.initializers.get(n.inputs[2])!.data) : new Float32Array(cout)
            if (next.op === 'Mul') {
              const nw = Float32Array.from(w.data)
              for (let o = 0; o < cout; o++) for (let k = 0; k < per; k++) nw[o * per + k]! *= c[o]!
              n.inputs[1] = g.constF('W', w.dims, nw)
              for (let o = 0; o < cout; o++) b[o]! *= c[o]!
              if (n.inputs[2]) n.inputs[2] = g.constF('B', [cout], b)
            } else {
              for (let o = 0; o < cout; o++) b[o]! += c[o]!
              n.inputs[2] = g.constF('B', [cout], b)
            }
            n.outputs = next.outputs
            removeNode(g, next)
            fused++
            changed = true
            break
          }
        }
      }
      // Pad(0, spatial only) → Conv.
      if (n.op === 'Pad' && (!n.inputs[2] || initData(g, n.inputs[2])?.[0] === 0)) {
        const next = singleConsumer(g, consumers, n.outputs[0]!)
        const pads = initData(g, n.inputs[1]!)
        const mode = n.attrs.mode
        if (next && next.op === 'Conv' && pads && pads.length === 8 && (!mode || (mode.kind === 'string' && mode.v === 'constant'))) {
          if (pads[0] === 0 && pads[1] === 0 && pads[4] === 0 && pads[5] === 0 && pads.every((p) => p >= 0)) {
            const cp = next.attrs.pads
            const cur = cp && cp.kind === 'ints' ? cp.v : [0, 0, 0, 0]
            next.attrs = { ...next.attrs, pads: { kind: 'ints', v: [cur[0]! + pads[2]!, cur[1]! + pads[3]!, cur[2]! + pads[6]!, cur[3]! + pads[7]!] } }
            next.inputs[0] = n.inputs[0]!
            removeNode(g, n)
            fused++
            changed = true
            break
          }
        }
      }
      // Relu → Min(a) → Max(0)  ⇒  Clip(0, a)  (Keras ReLU6 as TF exports it).
      if (n.op === 'Max') {
        const zero = n.inputs.find((i) => g.initializers.has(i))
        const minOut = n.inputs.find((i) => !g.initializers.has(i))
        const min = minOut ? producers.get(minOut) : undefined
        if (zero && minOut && min?.op === 'Min' && singleConsumer(g, consumers, minOut) === n && g.initializers.get(zero)!.data.length === 1 && g.initializers.get(zero)!.data[0] === 0) {
          const hiName = min.inputs.find((i) => g.initializers.has(i))
          const reluOut = min.inputs.find((i) => !g.initializers.has(i))
          const relu = reluOut ? producers.get(reluOut) : undefined
          if (hiName && reluOut && relu?.op === 'Relu' && singleConsumer(g, consumers, reluOut) === min && g.initializers.get(hiName)!.data.length === 1) {
            const hi = g.initializers.get(hiName)!.data[0]!
            if (hi >= 0) {
              n.op = 'Clip'
              n.inputs = [relu.inputs[0]!, g.constF('min', [], [0]), g.constF('max', [], [hi])]
              removeNode(g, min)
              removeNode(g, relu)
              fused++
              changed = true
              break
            }
          }
        }
      }
      // r + c·(r − |r|) with r = relu(·) is r exactly (r − |r| = 0): a PReLU applied after a fused ReLU.
      if (n.op === 'Add') {
        const [a, b] = n.inputs.map((i) => producers.get(i))
        const mul = a?.op === 'Mul' ? a : b?.op === 'Mul' ? b : undefined
        const r = mul === a ? n.inputs[1]! : n.inputs[0]!
        const relu = producers.get(r)
        const subOut = mul?.inputs.find((i) => !g.initializers.has(i))
        const sub = subOut ? producers.get(subOut) : undefined
        const abs = sub?.op === 'Sub' && sub.inputs[0] === r ? producers.get(sub.inputs[1]!) : undefined
        const cName = mul?.inputs.find((i) => g.initializers.has(i))
        if (
          mul && relu?.op === 'Relu' && cName && sub && abs?.op === 'Abs' && abs.inputs[0] === r &&
          Array.from(g.initializers.get(cName)!.data).every(Number.isFinite) &&
          singleConsumer(g, consumers, mul.outputs[0]!) === n && singleConsumer(g, consumers, sub.outputs[0]!) === mul &&
          singleConsumer(g, consumers, abs.outputs[0]!) === sub
        ) {
          n.op = 'Identity'
          n.inputs = [r]
          for (const dead of [mul, sub, abs]) removeNode(g, dead)
          fused++
          changed = true
          break
        }
      }
      // relu(x) + c·(x − |x|)  ⇒  PRelu(x, 2c)  (x − |x| = 2x for x < 0, 0 otherwise: exact).
      if (n.op === 'Add') {
        const [a, b] = n.inputs.map((i) => producers.get(i))
        const relu = a?.op === 'Relu' ? a : b?.op === 'Relu' ? b : undefined
        const mul = a?.op === 'Mul' ? a : b?.op === 'Mul' ? b : undefined
        if (relu && mul) {
          const x = relu.inputs[0]!
          const cName = mul.inputs.find((i) => g.initializers.has(i))
          const subOut = mul.inputs.find((i) => !g.initializers.has(i))
          const sub = subOut ? producers.get(subOut) : undefined
          const abs = sub?.op === 'Sub' && sub.inputs[0] === x ? producers.get(sub.inputs[1]!) : undefined
          if (
            cName && sub && abs?.op === 'Abs' && abs.inputs[0] === x &&
            singleConsumer(g, consumers, relu.outputs[0]!) === n && singleConsumer(g, consumers, mul.outputs[0]!) === n &&
            singleConsumer(g, consumers, sub.outputs[0]!) === mul && singleConsumer(g, consumers, abs.outputs[0]!) === sub
          ) {
            const c = g.initializers.get(cName)!
            const slope = Float32Array.from(c.data, (v) => 2 * v)
            const dims = c.dims.length === 4 && c.dims[0] === 1 ? c.dims.slice(1) : c.dims
            n.op = 'PRelu'
            n.inputs = [x, g.constF('slope', dims, slope)]
            for (const dead of [relu, mul, sub, abs]) removeNode(g, dead)
            fused++
            changed = true
            break
          }
        }
      }
    }
  }
  return fused
}

/** Deterministic topological order: depth-first from the graph outputs, inputs in order. */
function topoSort(g: OnnxGraph): void {
  const producers = g.producers()
  const done = new Set<OnnxNode>()
  const order: OnnxNode[] = []
  const visit = (n: OnnxNode) => {
    if (done.has(n)) return
    done.add(n)
    for (const i of n.inputs) {
      const p = i ? producers.get(i) : undefined
      if (p) visit(p)
    }
    order.push(n)
  }
  for (const o of g.outputs) {
    const p = producers.get(o.name)
    if (p) visit(p)
  }
  g.nodes = order
}

export function optimize(g: OnnxGraph): OptimizeStats {
  const before = g.nodes.filter((n) => n.op === 'Transpose').length
  let passes = 0
  simplify(g)
  for (;;) {
    passes++
    topoSort(g)
    let pushed = false
    // One push per pass per node, walking in topological order, then clean up.
    let producers = g.producers()
    for (const n of [...g.nodes]) {
      if (pushThrough(g, n, producers)) {
        pushed = true
        producers = g.producers()
      }
    }
    simplify(g)
    if (!pushed || passes > 200) break
  }
  const fused = fuse(g)
  simplify(g)
  deadCode(g)
  topoSort(g)
  // Unused initializers are dropped by serialize(); shapes stay for debugging.
  void INT64
  return { removedTransposes: before - g.nodes.filter((n) => n.op === 'Transpose').length, fused, passes }
}
