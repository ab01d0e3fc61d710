import * as ort from 'onnxruntime-node'
import { FLOAT, INT32, INT8, UINT8, type OnnxGraph, type OnnxNode, serialize } from './onnx-ir.ts'
import type { Tensor } from '../../edge/vision/inference/types.ts'

/**
 * Static int8 quantization of a converted graph in onnxruntime's QDQ format:
 * QuantizeLinear → DequantizeLinear pairs around the ops onnxruntime's CPU provider fuses into
 * integer kernels (Conv → QLinearConv, Add → QLinearAdd, LeakyRelu/Sigmoid → QLinearLeakyRelu /
 * QLinearSigmoid, Concat → QLinearConcat; MaxPool and Resize run on uint8 directly), so chains of
 * them stay in uint8 between Q and DQ.
 *
 * - Weights of Conv: int8, symmetric, one scale per output channel (zero point 0).
 * - Bias of Conv: int32 with scale = input scale × weight scale (per channel).
 * - Activations: uint8, asymmetric, one scale and zero point per tensor, from ranges measured by
 *   running the float model on calibration inputs (calibrationModel + collectRanges).
 * - Relu / Clip after a Conv or Add that feeds only them are not quantized in between: the
 *   range after the activation starts at 0 (and ends at Clip's max at most) so onnxruntime drops
 *   the activation altogether (ReluQuantFusion / ClipQuantFusion) and the Conv or Add writes uint8.
 * - MaxPool and Resize keep their input's scale (onnxruntime runs them on uint8 only then).
 * - Graph outputs stay float with their names; `floatTail` also leaves the last Convs (those with
 *   no Conv after them: the detection heads) in float.
 *
 * Ranges are rounded outward to a coarse grid (1/32 to 1/16 of the range) so that the tiny float
 * differences between machines do not change the bytes of the quantized model.
 */

export const QUANTIZER_VERSION = '1.0.0'

export interface QuantizeOptions {
  /** Leave the Convs with no Conv downstream (detection/regression heads) in float. */
  floatTail?: boolean
}

export type Range = [number, number]

const QUANT_OPS = new Set(['Conv', 'Add', 'LeakyRelu', 'Sigmoid', 'Concat', 'MaxPool', 'Resize', 'Relu', 'Clip'])
/** Ops onnxruntime runs on uint8 only when input and output share one scale and zero point. */
const SAME_SCALE = new Set(['MaxPool', 'Resize'])
/** Activations that can be folded into the quantization of their producer's output. */
const FUSABLE_ACT = new Set(['Relu', 'Clip'])

export interface QuantPlan {
  /** Tensors that get a Q/DQ pair, in graph order. */
  tensors: string[]
  /** Tensors whose range must be measured (the rest take another tensor's range, `sameAs`). */
  calibrate: string[]
  /** Output of a same-scale op → the tensor whose quantization it shares. */
  sameAs: Map<string, string>
  /** Fixed bounds that a range must lie within (Relu: ≥ 0; Clip: its bounds). */
  bounds: Map<string, Range>
  /** Conv nodes whose weights are quantized. */
  convs: Set<OnnxNode>
}

function scalarOf(g: OnnxGraph, name: string | undefined): number | undefined {
  if (!name) return undefined
  const init = g.initializers.get(name)
  return init && init.data.length === 1 ? Number(init.data[0]) : undefined
}

/** Decide which tensors to quantize. */
export function planQuantization(g: OnnxGraph, opts: QuantizeOptions = {}): QuantPlan {
  const producers = g.producers()
  const consumers = g.consumers()
  const isActivation = (t: string) => !!t && !g.initializers.has(t) && !g.isGraphOutput(t)

  // Convs with no Conv downstream (the heads), left in float when asked.
  const tail = new Set<OnnxNode>()
  if (opts.floatTail) {
    const reachesConv = new Map<string, boolean>()
    const reaches = (t: string): boolean => {
      const known = reachesConv.get(t)
      if (known !== undefined) return known
      reachesConv.set(t, false)
      const r = (consumers.get(t) ?? []).some((c) => c.op === 'Conv' || c.outputs.some(reaches))
      reachesConv.set(t, r)
      return r
    }
    for (const n of g.nodes) if (n.op === 'Conv' && !reaches(n.outputs[0]!)) tail.add(n)
  }

  const quantNodes = g.nodes.filter((n) => {
    if (!QUANT_OPS.has(n.op) || tail.has(n)) return false
    if (n.op === 'Conv') return g.initializers.get(n.inputs[1]!)?.dataType === FLOAT
    if (n.op === 'Add') return n.inputs.every(isActivation)
    return true
  })
  const quantSet = new Set(quantNodes)

  // Conv/Add → Relu/Clip where the producer feeds only the activation: quantize after the activation only.
  const fused = new Set<string>()
  const bounds = new Map<string, Range>()
  for (const n of quantNodes) {
    if (!FUSABLE_ACT.has(n.op)) continue
    const x = n.inputs[0]!
    const p = producers.get(x)
    const lo = n.op === 'Relu' ? 0 : scalarOf(g, n.inputs[1])
    const hi = n.op === 'Relu' ? Infinity : scalarOf(g, n.inputs[2])
    if (lo === undefined || hi === undefined || lo > 0) continue
    bounds.set(n.outputs[0]!, [lo, hi])
    if (p && quantSet.has(p) && (p.op === 'Conv' || p.op === 'Add') && (consumers.get(x) ?? []).length === 1 && !g.isGraphOutput(x)) fused.add(x)
  }

  const tensors: string[] = []
  const seen = new Set<string>()
  const want = (t: string | undefined) => {
    if (t && isActivation(t) && !fused.has(t) && !seen.has(t)) {
      seen.add(t)
      tensors.push(t)
    }
  }
  for (const n of quantNodes) {
    const fusedAct = FUSABLE_ACT.has(n.op) && fused.has(n.inputs[0]!)
    if (!fusedAct) {
      if (n.op === 'Add' || n.op === 'Concat') n.inputs.forEach(want)
      else want(n.inputs[0])
    }
    want(n.outputs[0])
  }

  const sameAs = new Map<string, string>()
  for (const n of quantNodes) {
    if (SAME_SCALE.has(n.op) && seen.has(n.inputs[0]!) && seen.has(n.outputs[0]!)) sameAs.set(n.outputs[0]!, n.inputs[0]!)
  }
  const root = (t: string): string => (sameAs.has(t) ? root(sameAs.get(t)!) : t)
  for (const [t] of sameAs) sameAs.set(t, root(t))
  const calibrate = tensors.filter((t) => !sameAs.has(t))
  return { tensors, calibrate, sameAs, bounds, convs: new Set(quantNodes.filter((n) => n.op === 'Conv')) }
}

/** A copy of the float model with every tensor to calibrate also a graph output. */
export function calibrationModel(g: OnnxGraph, plan: QuantPlan, name: string): Uint8Array {
  const outputs = [...g.outputs, ...plan.calibrate.map((t) => ({ name: t, elemType: FLOAT, shape: [], unknownShape: true }))]
  const copy = Object.assign(Object.create(Object.getPrototypeOf(g)) as OnnxGraph, g, { outputs })
  return serialize(copy, { opset: 13, graphName: `${name}-calibration`, producerVersion: 'calibration' })
}

export type CalibrationMethod = { kind: 'minmax' } | { kind: 'percentile'; percentile: number } | { kind: 'mse' }

/**
 * Run the calibration model (onnxruntime, graph optimisations off, one thread: the same floats on
 * every run) on each input and return the range of every calibrated tensor: the min and max over
 * all inputs, the given percentile at each end, or (mse) the min/max range shrunk by the factor
 * in 1, 0.95 … 0.5 whose uint8 quantization has the least squared error (percentile and mse over a
 * fixed stride sample of every tensor: 8192 values per input).
 * Infinite values (the -inf padding before a MaxPool) are left out: they quantize to the bottom
 * of the range, which is still below every real value.
 */
export async function collectRanges(
  calibration: Uint8Array,
  tensors: string[],
  inputName: string,
  inputs: Tensor[],
  method: CalibrationMethod,
  onInput?: (i: number) => void,
): Promise<Map<string, Range>> {
  const session = await ort.InferenceSession.create(calibration, {
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  })
  const SAMPLES = 8192
  const mins = new Map<string, number>()
  const maxs = new Map<string, number>()
  const samples = new Map<string, Float32Array[]>()
  try {
    for (let i = 0; i < inputs.length; i++) {
      const t = inputs[i]!
      const out = await session.run({ [inputName]: new ort.Tensor('float32', t.data, t.dims) }, tensors)
      for (const name of tensors) {
        const data = out[name]!.data as Float32Array
        let lo = Infinity
        let hi = -Infinity
        for (let k = 0; k < data.length; k++) {
          const v = data[k]!
          if (!Number.isFinite(v)) continue // -inf padding before a MaxPool
          if (v < lo) lo = v
          if (v > hi) hi = v
        }
        mins.set(name, Math.min(mins.get(name) ?? Infinity, lo))
        maxs.set(name, Math.max(maxs.get(name) ?? -Infinity, hi))
        if (method.kind !== 'minmax') {
          const stride = Math.max(1, Math.floor(data.length / SAMPLES))
          const s = new Float32Array(Math.ceil(data.length / stride))
          for (let k = 0, j = 0; k < data.length; k += stride, j++) s[j] = Number.isFinite(data[k]!) ? data[k]! : 0
          const list = samples.get(name)
          if (list) list.push(s)
          else samples.set(name, [s])
        }
      }
      onInput?.(i)
    }
  } finally {
    await session.release()
  }
  const ranges = new Map<string, Range>()
  for (const name of tensors) {
    let lo = mins.get(name)!
    let hi = maxs.get(name)!
    if (method.kind !== 'minmax') {
      const parts = samples.get(name)!
      const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0))
      let o = 0
      for (const p of parts) {
        all.set(p, o)
        o += p.length
      }
      all.sort()
      const q = (p: number) => all[Math.min(all.length - 1, Math.max(0, Math.round(p * (all.length - 1))))]!
      if (method.kind === 'percentile') {
        lo = q(1 - method.percentile / 100)
        hi = q(method.percentile / 100)
      } else {
        ;[lo, hi] = mseRange(all, lo, hi)
      }
    }
    ranges.set(name, [lo, hi])
  }
  return ranges
}

/** The min/max range shrunk by the factor (1, 0.95 … 0.5) whose uint8 quantization has the least squared error on the samples. */
function mseRange(samples: Float32Array, lo: number, hi: number): Range {
  let best: Range = [lo, hi]
  let bestErr = Infinity
  for (let k = 0; k <= 10; k++) {
    const f = 1 - 0.05 * k
    const r = roundRange([lo * f, hi * f])
    const { scale, zeroPoint } = activationParams(r)
    let err = 0
    for (let i = 0; i < samples.length; i++) {
      const v = samples[i]!
      const q = Math.max(0, Math.min(255, Math.round(v / scale) + zeroPoint))
      const d = (q - zeroPoint) * scale - v
      err += d * d
    }
    if (err < bestErr) {
      bestErr = err
      best = [lo * f, hi * f]
    }
  }
  return best
}

/**
 * A range made quantizable and machine-independent: it holds 0, lies within `bound`, and is
 * rounded outward to a grid of 2^(⌈log2(hi − lo)⌉ − 5), except at a bound (kept exact).
 */
export function roundRange([lo, hi]: Range, bound?: Range): Range {
  lo = Math.min(lo, 0)
  hi = Math.max(hi, 0)
  if (bound) {
    lo = Math.max(lo, bound[0])
    hi = Math.min(hi, bound[1])
  }
  const span = Math.max(hi - lo, 1e-3)
  const step = 2 ** (Math.ceil(Math.log2(span)) - 5)
  let rlo = Math.floor(lo / step) * step
  let rhi = Math.ceil(hi / step) * step
  if (bound) {
    rlo = Math.max(rlo, bound[0])
    rhi = Math.min(rhi, bound[1])
  }
  if (rhi - rlo < 1e-3) rhi = rlo + 1e-3
  return [rlo, rhi]
}

/** uint8 scale and zero point of a range holding 0. */
export function activationParams([lo, hi]: Range): { scale: number; zeroPoint: number } {
  const scale = Math.fround((hi - lo) / 255)
  const zeroPoint = Math.max(0, Math.min(255, Math.round(-lo / scale)))
  return { scale, zeroPoint }
}

/**
 * The ranges the model is built from: each measured range made quantizable and rounded
 * (roundRange, with the Relu/Clip bounds), for every tensor in `plan.calibrate`. This is what
 * the committed calibration file holds.
 */
export function finalRanges(plan: QuantPlan, measured: Map<string, Range>): Map<string, Range> {
  const out = new Map<string, Range>()
  for (const t of plan.calibrate) {
    const r = measured.get(t)
    if (!r) throw new Error(`no calibration range for ${t}`)
    out.set(t, roundRange(r, plan.bounds.get(t)))
  }
  return out
}

/**
 * Insert the Q/DQ pairs and quantize the Conv weights and biases, in place. `ranges` (finalRanges)
 * holds the range of every tensor in `plan.calibrate`.
 */
export function quantizeGraph(g: OnnxGraph, plan: QuantPlan, ranges: Map<string, Range>): { quantizedConvs: number; qdqPairs: number } {
  const params = new Map<string, { scale: string; zp: string; scaleValue: number }>()
  const rangeOf = (t: string): Range => {
    const r = ranges.get(t)
    if (!r) throw new Error(`no calibration range for ${t}`)
    return r
  }
  for (const t of plan.calibrate) {
    const { scale, zeroPoint } = activationParams(rangeOf(t))
    const s = g.constF('q_scale', [], [scale])
    const z = g.fresh('q_zp')
    g.initializers.set(z, { dataType: UINT8, dims: [], data: Uint8Array.from([zeroPoint]) })
    params.set(t, { scale: s, zp: z, scaleValue: scale })
  }
  for (const [t, root] of plan.sameAs) params.set(t, params.get(root)!)

  const dq = new Map<string, string>()
  const producers = g.producers()
  const nodes = g.nodes
  g.nodes = []
  // The input's Q/DQ comes first; every other pair right after its producer.
  const emitPair = (t: string) => {
    const p = params.get(t)!
    const q = g.fresh(`${t}_q`)
    const d = g.fresh(`${t}_dq`)
    g.add('QuantizeLinear', [t, p.scale, p.zp], [q])
    g.add('DequantizeLinear', [q, p.scale, p.zp], [d])
    dq.set(t, d)
  }
  for (const t of plan.tensors) if (!producers.has(t)) emitPair(t)
  const quantized = new Set(plan.tensors)
  let quantizedConvs = 0
  for (const n of nodes) {
    const x = n.inputs[0]!
    n.inputs = n.inputs.map((i) => dq.get(i) ?? i)
    if (plan.convs.has(n) && dq.has(x)) {
      quantizeConvWeights(g, n, params.get(x)!.scaleValue)
      quantizedConvs++
    }
    g.nodes.push(n)
    for (const o of n.outputs) if (quantized.has(o)) emitPair(o)
  }
  return { quantizedConvs, qdqPairs: plan.tensors.length }
}

function quantizeConvWeights(g: OnnxGraph, n: OnnxNode, inputScale: number): void {
  const W = g.initializers.get(n.inputs[1]!)!
  const co = W.dims[0]!
  const per = W.data.length / co
  const wq = new Int8Array(W.data.length)
  const ws = new Float32Array(co)
  for (let c = 0; c < co; c++) {
    let m = 0
    for (let i = 0; i < per; i++) m = Math.max(m, Math.abs(Number(W.data[c * per + i])))
    ws[c] = Math.max(m, 1e-8) / 127
    for (let i = 0; i < per; i++) wq[c * per + i] = Math.max(-127, Math.min(127, Math.round(Number(W.data[c * per + i]) / ws[c]!)))
  }
  const wName = g.fresh('w_int8')
  g.initializers.set(wName, { dataType: INT8, dims: W.dims, data: wq })
  const wScale = g.constF('w_scale', [co], ws)
  const wZp = g.fresh('w_zp')
  g.initializers.set(wZp, { dataType: INT8, dims: [co], data: new Int8Array(co) })
  const wOut = g.fresh('w_dq')
  g.add('DequantizeLinear', [wName, wScale, wZp], [wOut], { axis: { kind: 'int', v: 0 } })
  const inputs = [n.inputs[0]!, wOut]
  const biasName = n.inputs[2]
  if (biasName) {
    const B = g.initializers.get(biasName)!
    const bs = Float32Array.from(ws, (w) => w * inputScale)
    const bq = new Int32Array(co)
    for (let c = 0; c < co; c++) bq[c] = Math.max(-(2 ** 31) + 1, Math.min(2 ** 31 - 1, Math.round(Number(B.data[c]) / bs[c]!)))
    const bName = g.fresh('b_int32')
    g.initializers.set(bName, { dataType: INT32, dims: [co], data: bq })
    const bScale = g.constF('b_scale', [co], bs)
    const bZp = g.fresh('b_zp')
    g.initializers.set(bZp, { dataType: INT32, dims: [co], data: new Int32Array(co) })
    const bOut = g.fresh('b_dq')
    g.add('DequantizeLinear', [bName, bScale, bZp], [bOut], { axis: { kind: 'int', v: 0 } })
    inputs.push(bOut)
  }
  n.inputs = inputs
}
