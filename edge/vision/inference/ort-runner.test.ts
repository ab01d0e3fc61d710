import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StoreEdgeError } from '../../contracts/errors.ts'
import { loadRegistry, type ModelRegistry } from '../../../models/registry.ts'
import { writePpocrTestManifests } from '../../../tests/support/ppocr-models.ts'
import { createOrtRunner } from './ort-runner.ts'
import type { Tensor } from './types.ts'

let dir: string
let registry: ModelRegistry
const warnings: Array<{ obj: object; msg: string }> = []
const log = { info() {}, warn: (obj: object, msg: string) => void warnings.push({ obj, msg }) }

const image = (h: number, w: number, v = 0.25): Tensor => ({ dims: [1, 3, h, w], data: new Float32Array(3 * h * w).fill(v) })

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'store-edge-ort-'))
  registry = loadRegistry({ dirs: [writePpocrTestManifests(join(dir, 'manifests'))], includeOurs: false })
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('createOrtRunner (real onnxruntime, real PP-OCRv4)', () => {
  it('runs a model, one session per model, and outputs float tensors with their dims', async () => {
    const runner = createOrtRunner(registry, { threads: 1, log })
    const a = runner.run('test-ppocr-det', { x: image(64, 96) })
    const b = runner.run('test-ppocr-det', { x: image(64, 96) })
    const [ra, rb] = await Promise.all([a, b])
    const out = ra['sigmoid_0.tmp_0']!
    expect(out.dims).toEqual([1, 1, 64, 96])
    expect(out.data).toBeInstanceOf(Float32Array)
    expect(out.data.length).toBe(64 * 96)
    expect(Array.from(out.data)).toEqual(Array.from(rb['sigmoid_0.tmp_0']!.data))
    expect([...runner.providerOf]).toEqual([['test-ppocr-det', 'cpu']])
    await runner.close()
    await expect(runner.run('test-ppocr-det', { x: image(32, 32) })).rejects.toMatchObject({ code: 'STORE_EDGE_ERR_INFERENCE_STOPPED' })
  })

  it('asking for CUDA where its provider is not installed falls back to CPU once, logged', async () => {
    warnings.length = 0
    const runner = createOrtRunner(registry, { providers: ['cuda', 'cpu'], log })
    await runner.load(['test-ppocr-det', 'test-ppocr-rec'])
    expect(runner.providerOf.get('test-ppocr-det')).toBe('cpu')
    expect(runner.providerOf.get('test-ppocr-rec')).toBe('cpu')
    expect(warnings.filter((w) => /CUDA execution provider unavailable/.test(w.msg))).toHaveLength(1)
    const out = await runner.run('test-ppocr-rec', { x: image(48, 160) })
    const probs = out['softmax_11.tmp_0']!
    expect(probs.dims[2]).toBe(6625)
    // softmax rows sum to 1
    const row = probs.data.subarray(0, 6625).reduce((s, v) => s + v, 0)
    expect(row).toBeCloseTo(1, 3)
    await runner.close()
  })

  it('verifies a model when its session is created; a failed load is not cached', async () => {
    const reg = loadRegistry({ dirs: [join(dir, 'manifests')], includeOurs: false })
    const entry = reg.get('test-ppocr-det')!
    const good = entry.manifest.sha256
    entry.manifest.sha256 = '0'.repeat(64)
    const runner = createOrtRunner(reg, { log })
    await expect(runner.run('test-ppocr-det', { x: image(32, 32) })).rejects.toMatchObject({ code: 'STORE_EDGE_ERR_MODEL_CORRUPT' })
    entry.manifest.sha256 = good
    entry.manifest.outputs = [{ name: 'sigmoid_0.tmp_0', shape: [1, 2, null, null] }]
    await expect(runner.load(['test-ppocr-det'])).rejects.toThrow(/output 'sigmoid_0.tmp_0' dimension 1 is 1 in the model, the manifest says 2/)
    entry.manifest.outputs = [{ name: 'sigmoid_0.tmp_0', shape: [1, 1, null, null] }]
    expect((await runner.run('test-ppocr-det', { x: image(32, 32) }))['sigmoid_0.tmp_0']!.dims).toEqual([1, 1, 32, 32])
    await runner.close()
  })

  it('bad feeds are STORE_EDGE_ERR_BAD_FRAME, an unknown model names the known ones', async () => {
    const runner = createOrtRunner(registry, { log })
    const bad = async (feeds: Record<string, Tensor>) => {
      try {
        await runner.run('test-ppocr-rec', feeds)
      } catch (err) {
        expect(err).toBeInstanceOf(StoreEdgeError)
        return (err as StoreEdgeError).code + ' ' + (err as Error).message
      }
      return 'resolved'
    }
    expect(await bad({ x: { dims: [1, 3, 48, 10], data: new Float32Array(5) } })).toMatch(/BAD_FRAME.*need 1440 values, got 5/)
    expect(await bad({ x: image(32, 100) })).toMatch(/BAD_FRAME.*dimension 2 is 32, the model takes 48/)
    expect(await bad({ x: { dims: [3, 48, 10], data: new Float32Array(1440) } })).toMatch(/BAD_FRAME.*rank 3/)
    expect(await bad({ y: image(48, 10) })).toMatch(/BAD_FRAME.*has no input 'y'/)
    expect(await bad({})).toMatch(/BAD_FRAME.*no feed for input 'x'/)
    // The session is still fine after all that.
    expect((await runner.run('test-ppocr-rec', { x: image(48, 64) }))['softmax_11.tmp_0']!.dims[2]).toBe(6625)
    await expect(runner.run('nanodet-nope', {})).rejects.toThrow(/no manifest for model 'nanodet-nope'; known: test-ppocr-det, test-ppocr-rec/)
    await runner.close()
  })
})
