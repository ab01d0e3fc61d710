import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { afterAll, describe, expect, it } from 'vitest'
import { buildModels, measureInt8Ranges, type CalibrationFile } from '../build.ts'
import { packageRoot } from '../paths.ts'
import { getModel, loadRegistry, sha256File } from '../registry.ts'
import { decodeModel } from './onnx-ir.ts'
import { activationParams, roundRange } from './quantize.ts'

/**
 * The int8 build: byte-determinism against the committed sha256 (calibration included), the
 * range rounding, and what onnxruntime actually runs (profiling: integer kernels, not float).
 */

const tmp = mkdtempSync(join(tmpdir(), 'store-edge-int8-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
const registry = loadRegistry()
const INT8 = ['nanodet-int8', 'faceres-int8']

describe('int8 quantization', () => {
  it('ranges hold 0, keep Relu/Clip bounds exactly, and are rounded outward to a coarse grid', () => {
    expect(roundRange([0.013, 0.97])).toEqual([0, 1])
    expect(roundRange([-1.234, 1.276])).toEqual([-1.25, 1.375]) // grid 2^(2-5) = 0.125
    expect(roundRange([0.2, 5.3], [0, 6])).toEqual([0, 5.5])
    expect(roundRange([0, 5.99], [0, 6])).toEqual([0, 6]) // not past Clip's max: onnxruntime can drop the Clip
    // nearby measurements give the same range (what makes the bytes machine-independent)
    expect(roundRange([-1.2341, 1.2760001])).toEqual(roundRange([-1.2339, 1.2759]))
    expect(activationParams([0, 6])).toEqual({ scale: Math.fround(6 / 255), zeroPoint: 0 })
    expect(activationParams([-0.25, 1.875]).zeroPoint).toBe(30)
  })

  it('calibrating again on the real images gives exactly the committed calibration files', async () => {
    for (const name of INT8) {
      const committed = JSON.parse(readFileSync(join(packageRoot(), 'models', 'manifests', 'calibration', `${name}.json`), 'utf8')) as CalibrationFile
      const measured = await measureInt8Ranges(name, { modelsDir: join(tmp, 'det') })
      expect(Object.keys(measured.ranges).length, name).toBeGreaterThan(25)
      expect(measured, name).toEqual(committed)
    }
  }, 120_000)

  it('building twice from the committed calibration reproduces the committed sha256 of every int8 model', async () => {
    const dir = join(tmp, 'det')
    for (const pass of [1, 2]) {
      const built = await buildModels({ names: INT8, modelsDir: dir, force: pass === 2, progress: false })
      for (const r of built) {
        expect(r.cached, `${r.name} pass ${pass}`).toBe(false)
        expect(await sha256File(r.file), `${r.name} pass ${pass}`).toBe(getModel(registry, r.name).manifest.sha256)
      }
    }
    // the QDQ graph: int8 Conv weights behind DequantizeLinear, Q/DQ pairs on the activations
    const ops = (f: string) => decodeModel(readFileSync(join(dir, f))).nodes.map((n) => n.op)
    const nano = ops('nanodet-int8.onnx')
    expect(nano.filter((o) => o === 'Conv')).toHaveLength(34)
    expect(nano.filter((o) => o === 'QuantizeLinear').length).toBeGreaterThanOrEqual(80)
  }, 60_000)

  it('onnxruntime runs the int8 models on integer kernels (profiling)', async () => {
    const dir = join(tmp, 'det')
    const kernels = async (name: string, dims: number[]) => {
      const m = getModel(registry, name).manifest
      const prefix = join(tmp, `prof-${name}`)
      const s = await ort.InferenceSession.create(join(dir, m.file), {
        intraOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        enableProfiling: true,
        profileFilePrefix: prefix,
      })
      const x = new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => (i % 251) / 251)
      await s.run({ [m.input.name]: new ort.Tensor('float32', x, dims) })
      s.endProfiling()
      await s.release()
      const file = readdirSync(tmp).find((f) => f.startsWith(`prof-${name}`))!
      const counts: Record<string, number> = {}
      for (const e of JSON.parse(readFileSync(join(tmp, file), 'utf8')) as Array<{ cat: string; name: string; args?: { op_name?: string } }>) {
        if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) counts[e.args!.op_name!] = (counts[e.args!.op_name!] ?? 0) + 1
      }
      return counts
    }
    const nano = await kernels('nanodet-int8', [1, 3, 416, 416])
    console.log(`[int8] nanodet-int8 kernels: ${JSON.stringify(nano)}`)
    expect(nano.QLinearConv).toBe(34)
    expect(nano.Conv ?? 0).toBe(0)
    expect(nano.QLinearLeakyRelu).toBe(28)
    expect(nano.QLinearConcat).toBe(12)
    expect(nano.QLinearAdd).toBe(4)
    const face = await kernels('faceres-int8', [1, 224, 224, 3])
    console.log(`[int8] faceres-int8 kernels: ${JSON.stringify(face)}`)
    expect(face.QLinearConv).toBe(27)
    expect(face.Conv ?? 0).toBe(0)
    expect(face.Clip ?? 0).toBe(0) // folded into the uint8 range of each Conv's output
  }, 60_000)
})
