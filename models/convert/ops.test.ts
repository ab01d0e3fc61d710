import { describe, expect, it } from 'vitest'
import { StoreEdgeError } from '../../edge/contracts/errors.ts'
import { convertGraph, type ConvertResult } from './convert.ts'
import { decodeModel } from './onnx-ir.ts'
import { maxAbsDiff, runOnnx, runTfjs, type Feed } from './parity.ts'
import { A, convAttrs, rand, tfGraph, type GraphSpec } from './test-graph.ts'
import { decodeWeights, halfToFloat } from './tfjs-model.ts'

/**
 * Op-level tests: small hand-built TF graphs run by TF.js itself (CPU backend) and, converted, by
 * onnxruntime. Each case exercises a conversion rule that a wrong mapping would break (TF SAME
 * padding's odd pixel, depthwise channel order, resize coordinate modes, transpose folding...).
 */

async function check(spec: GraphSpec, tol = 2e-5): Promise<ConvertResult> {
  const graph = tfGraph(spec)
  const conv = convertGraph(graph, { name: 'op-test' })
  const feeds: Record<string, Feed> = {}
  Object.entries(spec.inputs).forEach(([name, dims], i) => {
    feeds[name] = { dims, data: rand(dims.reduce((a, b) => a * b, 1), 7 + i) }
  })
  const a = await runTfjs(graph, feeds, spec.outputs)
  const b = await runOnnx(conv.bytes, feeds, spec.outputs)
  for (const o of spec.outputs) {
    expect(b[o]!.dims, `dims of ${o}`).toEqual(a[o]!.dims)
    expect(maxAbsDiff(a[o]!, b[o]!), `max |Δ| of ${o}`).toBeLessThanOrEqual(tol)
  }
  return conv
}

const f32 = (shape: number[], seed: number) => ({ dtype: 'float32' as const, shape, values: rand(shape.reduce((a, b) => a * b, 1), seed) })
const i32 = (values: number[], shape = [values.length]) => ({ dtype: 'int32' as const, shape, values })

describe('convolutions', () => {
  it('Conv2D SAME stride 2 with odd total padding puts the extra padding at the end, as TF does', async () => {
    const conv = await check({
      inputs: { x: [1, 8, 10, 3] },
      consts: { w: f32([3, 3, 3, 4], 1) },
      nodes: [{ name: 'y', op: 'Conv2D', input: ['x', 'w'], attr: convAttrs(2, 'SAME') }],
      outputs: ['y'],
    })
    expect(conv.outputs[0]!.shape).toEqual([1, 4, 5, 4])
    // 8 → 4 with k 3, s 2 needs 1 pixel of padding: TF puts it at the bottom/right.
    expect(conv.onnxOps.Conv).toBe(1)
  })

  it('Conv2D VALID with dilation 2', async () => {
    await check({
      inputs: { x: [1, 9, 9, 2] },
      consts: { w: f32([3, 3, 2, 5], 2) },
      nodes: [{ name: 'y', op: 'Conv2D', input: ['x', 'w'], attr: convAttrs(1, 'VALID', {}, 2) }],
      outputs: ['y'],
    })
  })

  for (const [act, extra] of [
    ['Relu', {}],
    ['Relu6', {}],
    ['LeakyRelu', { leakyrelu_alpha: A.f(0.15) }],
  ] as const) {
    it(`_FusedConv2D BiasAdd + ${act}`, async () => {
      await check({
        inputs: { x: [1, 6, 6, 3] },
        consts: { w: f32([3, 3, 3, 4], 3), b: f32([4], 4) },
        nodes: [{ name: 'y', op: '_FusedConv2D', input: ['x', 'w', 'b'], attr: convAttrs(1, 'SAME', { fused_ops: A.strs(['BiasAdd', act]), num_args: A.i(1), epsilon: A.f(0), ...extra }) }],
        outputs: ['y'],
      })
    })
  }

  it('_FusedConv2D BiasAdd + Prelu (per-channel alpha)', async () => {
    await check({
      inputs: { x: [1, 5, 5, 3] },
      consts: { w: f32([1, 1, 3, 4], 5), b: f32([4], 6), alpha: f32([4], 7) },
      nodes: [{ name: 'y', op: '_FusedConv2D', input: ['x', 'w', 'b', 'alpha'], attr: convAttrs(1, 'VALID', { fused_ops: A.strs(['BiasAdd', 'Prelu']), num_args: A.i(2), epsilon: A.f(0) }) }],
      outputs: ['y'],
    })
  })

  it('DepthwiseConv2dNative with channel multiplier 2 keeps TF channel order (c*M + m)', async () => {
    await check({
      inputs: { x: [1, 8, 8, 3] },
      consts: { w: f32([3, 3, 3, 2], 8) },
      nodes: [{ name: 'y', op: 'DepthwiseConv2dNative', input: ['x', 'w'], attr: convAttrs(2, 'SAME') }],
      outputs: ['y'],
    })
  })

  it('FusedDepthwiseConv2dNative BiasAdd + Relu', async () => {
    await check({
      inputs: { x: [1, 6, 6, 4] },
      consts: { w: f32([3, 3, 4, 1], 9), b: f32([4], 10) },
      nodes: [{ name: 'y', op: 'FusedDepthwiseConv2dNative', input: ['x', 'w', 'b'], attr: convAttrs(1, 'SAME', { fused_ops: A.strs(['BiasAdd', 'Relu']), num_args: A.i(1) }) }],
      outputs: ['y'],
    })
  })

  it('a conv chain with elementwise ops between convs keeps only the boundary transposes', async () => {
    const conv = await check({
      inputs: { x: [1, 8, 8, 3] },
      consts: { w1: f32([3, 3, 3, 4], 11), b1: f32([4], 12), w2: f32([1, 1, 4, 4], 13), s: f32([4], 14), w3: f32([3, 3, 4, 1], 15), c6: i32([0]) },
      nodes: [
        { name: 'c1', op: 'Conv2D', input: ['x', 'w1'], attr: convAttrs(1, 'SAME') },
        { name: 'a1', op: 'BiasAdd', input: ['c1', 'b1'], attr: { data_format: A.s('NHWC') } },
        { name: 'r1', op: 'Relu', input: ['a1'] },
        { name: 'c2', op: 'Conv2D', input: ['r1', 'w2'], attr: convAttrs(1, 'VALID') },
        { name: 'm2', op: 'Mul', input: ['c2', 's'] },
        { name: 'add', op: 'AddV2', input: ['m2', 'r1'] },
        { name: 'd3', op: 'DepthwiseConv2dNative', input: ['add', 'w3'], attr: convAttrs(1, 'SAME') },
        { name: 'y', op: 'Sigmoid', input: ['d3'] },
      ],
      outputs: ['y'],
    })
    // One transpose in (NHWC → NCHW) and one out; the bias Add and the per-channel Mul fold into the convs.
    expect(conv.onnxOps.Transpose).toBe(2)
    expect(conv.onnxOps.Mul ?? 0).toBe(0)
    expect(conv.onnxOps.Conv).toBe(3)
    expect(conv.stats.fused).toBeGreaterThanOrEqual(2)
  })
})

describe('pooling, padding, shapes', () => {
  it('MaxPool SAME stride 2 with one pixel of padding (at the end)', async () => {
    await check({
      inputs: { x: [1, 8, 6, 2] },
      nodes: [{ name: 'y', op: 'MaxPool', input: ['x'], attr: { data_format: A.s('NHWC'), ksize: A.ints([1, 3, 3, 1]), strides: A.ints([1, 2, 2, 1]), padding: A.s('SAME') } }],
      outputs: ['y'],
    })
  })

  it('Pad on channels and PadV2 with a constant value', async () => {
    await check({
      inputs: { x: [1, 4, 4, 2] },
      consts: { p: i32([0, 0, 1, 2, 0, 1, 0, 3], [4, 2]), q: i32([0, 0, 1, 1, 1, 1, 0, 0], [4, 2]), v: { dtype: 'float32', shape: [], values: [-7] } },
      nodes: [
        { name: 'y', op: 'Pad', input: ['x', 'p'] },
        { name: 'z', op: 'PadV2', input: ['x', 'q', 'v'] },
      ],
      outputs: ['y', 'z'],
    })
  })

  it('Reshape, Squeeze, Transpose, ConcatV2 (negative axis), SplitV (-1 size)', async () => {
    await check({
      inputs: { x: [1, 4, 6, 2] },
      consts: { shape: i32([1, -1, 4]), perm: i32([0, 2, 1, 3]), axis: i32([-1], []), sizes: i32([1, -1]), dim: i32([3], []) },
      nodes: [
        { name: 'r', op: 'Reshape', input: ['x', 'shape'] },
        { name: 't', op: 'Transpose', input: ['x', 'perm'] },
        { name: 'cat', op: 'ConcatV2', input: ['x', 'x', 'axis'], attr: { N: A.i(2) } },
        { name: 'sp', op: 'SplitV', input: ['cat', 'sizes', 'dim'], attr: { num_split: A.i(2) } },
        { name: 'sq', op: 'Squeeze', input: ['sp'], attr: { squeeze_dims: A.ints([3]) } },
        { name: 'sp1', op: 'Identity', input: ['sp:1'] },
      ],
      outputs: ['r', 't', 'sq', 'sp1'],
    })
  })

  it('Mean (keep_dims false) over H, W and Sum (keep_dims true) over C after a conv', async () => {
    const conv = await check({
      inputs: { x: [1, 5, 5, 3] },
      consts: { w: f32([3, 3, 3, 4], 16), hw: i32([1, 2]), c: i32([3]) },
      nodes: [
        { name: 'c1', op: 'Conv2D', input: ['x', 'w'], attr: convAttrs(1, 'SAME') },
        { name: 'mean', op: 'Mean', input: ['c1', 'hw'], attr: { keep_dims: A.b(false) } },
        { name: 'sum', op: 'Sum', input: ['c1', 'c'], attr: { keep_dims: A.b(true) } },
      ],
      outputs: ['mean', 'sum'],
    })
    expect(decodeModel(conv.bytes).nodes.some((n) => n.op === 'ReduceMean')).toBe(true)
  })
})

describe('resize', () => {
  for (const [label, alignCorners, halfPixel] of [
    ['half_pixel_centers', false, true],
    ['align_corners', true, false],
    ['neither (asymmetric)', false, false],
  ] as const) {
    it(`ResizeBilinear ${label}, 5×7 → 8×11`, async () => {
      await check({
        inputs: { x: [1, 5, 7, 2] },
        consts: { size: i32([8, 11]) },
        nodes: [{ name: 'y', op: 'ResizeBilinear', input: ['x', 'size'], attr: { align_corners: A.b(alignCorners), half_pixel_centers: A.b(halfPixel) } }],
        outputs: ['y'],
      })
    })
  }
})

describe('elementwise, matmul, folding', () => {
  it('Abs, Square, Rsqrt, Minimum, Maximum, Sub, Mul, LeakyRelu, Softmax', async () => {
    await check({
      inputs: { x: [2, 6] },
      consts: { one: { dtype: 'float32', shape: [], values: [1] }, lo: { dtype: 'float32', shape: [6], values: [-0.5, -0.2, 0, 0.1, 0.3, 0.5] } },
      nodes: [
        { name: 'abs', op: 'Abs', input: ['x'] },
        { name: 'sq', op: 'Square', input: ['x'] },
        { name: 'plus', op: 'AddV2', input: ['sq', 'one'] },
        { name: 'rs', op: 'Rsqrt', input: ['plus'] },
        { name: 'mn', op: 'Minimum', input: ['x', 'lo'] },
        { name: 'mx', op: 'Maximum', input: ['mn', 'abs'] },
        { name: 'sub', op: 'Sub', input: ['mx', 'rs'] },
        { name: 'mul', op: 'Mul', input: ['sub', 'x'] },
        { name: 'lr', op: 'LeakyRelu', input: ['mul'], attr: { alpha: A.f(0.1) } },
        { name: 'sm', op: 'Softmax', input: ['lr'] },
      ],
      outputs: ['sm', 'rs'],
    })
  })

  it('AddN, ClipByValue, Relu6, Elu, Tanh, Neg, Exp, RealDiv', async () => {
    await check({
      inputs: { x: [1, 3, 4, 2], y: [1, 3, 4, 2] },
      consts: { lo: { dtype: 'float32', shape: [], values: [-0.25] }, hi: { dtype: 'float32', shape: [], values: [0.4] }, two: { dtype: 'float32', shape: [], values: [2] } },
      nodes: [
        { name: 'n', op: 'AddN', input: ['x', 'y', 'x'], attr: { N: A.i(3) } },
        { name: 'c', op: 'ClipByValue', input: ['n', 'lo', 'hi'] },
        { name: 'r6', op: 'Relu6', input: ['n'] },
        { name: 'e', op: 'Elu', input: ['x'] },
        { name: 't', op: 'Tanh', input: ['y'] },
        { name: 'ng', op: 'Neg', input: ['t'] },
        { name: 'ex', op: 'Exp', input: ['ng'] },
        { name: 'd', op: 'RealDiv', input: ['ex', 'two'] },
      ],
      outputs: ['c', 'r6', 'e', 'd'],
    })
  })

  it('AvgPool SAME divides by the real pixels at the border; ExpandDims', async () => {
    await check({
      inputs: { x: [1, 5, 6, 3] },
      consts: { axis: i32([-1], []) },
      nodes: [
        { name: 'p', op: 'AvgPool', input: ['x'], attr: { data_format: A.s('NHWC'), ksize: A.ints([1, 3, 3, 1]), strides: A.ints([1, 2, 2, 1]), padding: A.s('SAME') } },
        { name: 'e', op: 'ExpandDims', input: ['p', 'axis'] },
      ],
      outputs: ['e'],
    })
  })

  it('_FusedMatMul BiasAdd + Relu, and plain BiasAdd', async () => {
    await check({
      inputs: { x: [3, 8] },
      consts: { w: f32([8, 5], 17), b: f32([5], 18), w2: f32([5, 4], 19), b2: f32([4], 20) },
      nodes: [
        { name: 'h', op: '_FusedMatMul', input: ['x', 'w', 'b'], attr: { fused_ops: A.strs(['BiasAdd', 'Relu']), transpose_a: A.b(false), transpose_b: A.b(false), num_args: A.i(1), epsilon: A.f(0) } },
        { name: 'y', op: '_FusedMatMul', input: ['h', 'w2', 'b2'], attr: { fused_ops: A.strs(['BiasAdd']), transpose_a: A.b(false), transpose_b: A.b(false), num_args: A.i(1), epsilon: A.f(0) } },
      ],
      outputs: ['y'],
    })
  })

  it('SparseToDense and integer shape arithmetic on constants fold away', async () => {
    const conv = await check({
      inputs: { x: [1, 4, 6] },
      consts: {
        idx: i32([], [0, 1]),
        outShape: i32([3]),
        vals: i32([], [0]),
        zero: i32([0], []),
        base: i32([1, 24, 1]),
      },
      nodes: [
        { name: 'dense', op: 'SparseToDense', input: ['idx', 'outShape', 'vals', 'zero'], attr: { validate_indices: A.b(true), Tindices: A.type('DT_INT32') } },
        { name: 'shape', op: 'AddV2', input: ['base', 'dense'], attr: { T: A.type('DT_INT32') } },
        { name: 'y', op: 'Reshape', input: ['x', 'shape'] },
      ],
      outputs: ['y'],
    })
    expect(Object.keys(conv.onnxOps)).toEqual(['Reshape'])
  })
})

describe('weights and errors', () => {
  it('dequantizes uint8, uint16 and float16 weights exactly as TF.js does', async () => {
    const tf = await import('@tensorflow/tfjs-core')
    const u8 = Uint8Array.from([0, 1, 127, 255])
    const u16 = Uint16Array.from([0, 300, 65535])
    const f16 = Uint16Array.from([0x0000, 0x0001, 0x03ff, 0x3c00, 0xc000, 0x7bff, 0x8400, 0x7c00])
    const buf = Buffer.concat([Buffer.from(u8.buffer), Buffer.from(u16.buffer), Buffer.from(f16.buffer)])
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer
    const specs = [
      { name: 'a', shape: [4], dtype: 'float32', quantization: { dtype: 'uint8' as const, scale: 0.0123, min: -1.5 } },
      { name: 'b', shape: [3], dtype: 'float32', quantization: { dtype: 'uint16' as const, scale: 0.001, min: -3 } },
      { name: 'c', shape: [8], dtype: 'float32', quantization: { dtype: 'float16' as const } },
    ]
    const ours = decodeWeights(ab, specs)
    const theirs = tf.io.decodeWeights(ab, specs as Parameters<typeof tf.io.decodeWeights>[1])
    for (const s of specs) expect(Array.from(ours.get(s.name)!.data)).toEqual(Array.from(theirs[s.name]!.dataSync()))
    expect(halfToFloat(0x3c00)).toBe(1)
    expect(halfToFloat(0x0001)).toBe(2 ** -24)
  })

  it('an unsupported op is STORE_EDGE_ERR_MODEL_CONVERT naming the op, the node and the model', () => {
    const graph = tfGraph({
      inputs: { x: [1, 4] },
      consts: { axis: i32([1], []) },
      nodes: [{ name: 'scan/total', op: 'Cumsum', input: ['x', 'axis'] }],
      outputs: ['scan/total'],
    })
    let err: unknown
    try {
      convertGraph(graph, { name: 'my-model' })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(StoreEdgeError)
    const e = err as StoreEdgeError
    expect(e.code).toBe('STORE_EDGE_ERR_MODEL_CONVERT')
    expect(e.message).toContain("model 'my-model'")
    expect(e.message).toContain("op 'Cumsum'")
    expect(e.message).toContain("node 'scan/total'")
  })

  it('the same graph converts to the same bytes twice', () => {
    const spec: GraphSpec = {
      inputs: { x: [1, 6, 6, 3] },
      consts: { w: f32([3, 3, 3, 4], 21), b: f32([4], 22) },
      nodes: [{ name: 'y', op: '_FusedConv2D', input: ['x', 'w', 'b'], attr: convAttrs(2, 'SAME', { fused_ops: A.strs(['BiasAdd', 'Relu']), num_args: A.i(1) }) }],
      outputs: ['y'],
    }
    const a = convertGraph(tfGraph(spec), { name: 'det' }).bytes
    const b = convertGraph(tfGraph(spec), { name: 'det' }).bytes
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true)
  })
})
