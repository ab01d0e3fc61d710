import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { build } from 'esbuild'
import { afterAll, describe, expect, it } from 'vitest'
import { packageRoot } from '../models/paths.ts'
import { writePpocrTestManifests } from './support/ppocr-models.ts'

/**
 * The production path: the esbuild bundle starts its workers from dist/inference.worker.mjs (no
 * tsx). Built here with the options of `npm run build` into a scratch directory inside the package
 * (the bundle finds the package root by walking up), then run in a child process.
 */

const root = packageRoot()
const out = join(root, 'node_modules', '.cache', `store-edge-bundle-test-${process.pid}`)
afterAll(() => rmSync(out, { recursive: true, force: true }))

describe('inference service from the esbuild bundle', () => {
  it('npm run build lists the worker entry, and the bundled service runs jobs in bundled workers', async () => {
    const script = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { build: string } }).scripts.build
    expect(script).toContain('edge/vision/inference/inference.worker.ts')

    mkdirSync(out, { recursive: true })
    const manifests = writePpocrTestManifests(join(out, 'manifests'))
    const entry = join(out, 'main.ts')
    writeFileSync(
      entry,
      `
import { pino } from 'pino'
import { resolveConfig } from '${root}/edge/core/config.ts'
import { createMetrics } from '${root}/edge/core/metrics.ts'
import { InferenceService } from '${root}/edge/vision/inference/inference.service.ts'
const cfg = resolveConfig({ vision: { enabled: true, workers: 2, manifestDirs: [${JSON.stringify(manifests)}],
  models: { person: '', faceDetect: '', faceEmbed: '', plateDet: 'test-ppocr-det', plateRec: 'test-ppocr-rec' } } }).vision
const svc = new InferenceService({ config: cfg, metrics: createMetrics({ defaultMetrics: false }), log: pino({ level: 'silent' }), includeOurManifests: false })
await svc.start()
const x = { dims: [1, 3, 48, 32], data: new Float32Array(3 * 48 * 32) }
const outs = await Promise.all([svc.raw('a', 'test-ppocr-rec', { x }, { transfer: false }), svc.raw('b', 'test-ppocr-rec', { x }, { transfer: false })])
console.log(JSON.stringify({ dims: outs.map((o) => o['softmax_11.tmp_0'].dims), status: svc.status() }))
await svc.stop()
`,
    )
    await build({
      entryPoints: [entry, join(root, 'edge/vision/inference/inference.worker.ts')],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      packages: 'external',
      outdir: out,
      entryNames: '[name]',
      outExtension: { '.js': '.mjs' },
      logLevel: 'warning',
    })
    const { stdout } = await promisify(execFile)(process.execPath, [join(out, 'main.mjs')], { cwd: out, timeout: 60_000 })
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as { dims: number[][]; status: { state: string; workers: { ready: number } } }
    expect(result.dims).toEqual([
      [1, 4, 6625],
      [1, 4, 6625],
    ])
    // Only the bundled worker can have run: there is no .ts entry beside main.mjs for the source fallback.
    expect(result.status).toMatchObject({ state: 'running', workers: { ready: 2 } })
  })
})
