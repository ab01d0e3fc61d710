import { execFile, execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '../edge/core/config.ts'
import { createMetrics } from '../edge/core/metrics.ts'
import { InferenceService } from '../edge/vision/inference/inference.service.ts'
import { createOrtRunner, type OrtRunner } from '../edge/vision/inference/ort-runner.ts'
import { decodeImage, prepareImage } from '../edge/vision/inference/preprocess.ts'
import type { Detection } from '../edge/vision/inference/types.ts'
import { detectObjects, detectPersons } from '../edge/vision/pipelines/person.ts'
import { ensureModels } from '../models/build.ts'
import type { ModelManifest } from '../models/manifest.ts'
import { loadManifestFile, loadRegistry } from '../models/registry.ts'
import { tempDir, testLogger } from './helpers.ts'
import { buildNanodetYoloFormat, YOLO_FORMAT_OUTPUT } from './support/yolo-format.ts'

/**
 * "Drop in your own exported ONNX model by writing a manifest" (models/README.md, build kind none),
 * end to end with a real model: NanoDet-m's real weights with its heads decoded inside the graph into
 * the YOLOv8 / YOLO11 export layout [1, 84, N] (tests/support/yolo-format.ts). A user manifest
 * (family yolov8) in a directory of its own must pass `store-edge models verify`, be refused when its
 * hash or output shape is wrong, and detect the same people on real vtest.avi frames as the built-in
 * NanoDet manifest, through the pipeline on this thread and through the inference service's worker.
 * That checks the yolov8 decoder against real model output, which no other test can do offline.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi'
const FRAMES = [0, 100, 200, 300, 400, 500, 600, 700, 790]
const USER = 'my-yolo-people'

let tmp: Awaited<ReturnType<typeof tempDir>>
let manifestDir: string
let user: ModelManifest
let nanodet: ModelManifest
let runner: OrtRunner
const frames = new Map<number, Buffer>()

function userManifest(file: string, over: Partial<ModelManifest> = {}): Record<string, unknown> {
  const ours = JSON.parse(readFileSync(join(ROOT, 'models', 'manifests', 'nanodet.json'), 'utf8')) as ModelManifest
  return {
    v: 1,
    name: USER,
    task: 'person-detection',
    family: 'yolov8',
    file,
    sha256: createHash('sha256').update(readFileSync(file)).digest('hex'),
    licence: 'Apache-2.0',
    source: { package: '', version: '', upstream: 'https://github.com/RangiLyu/nanodet', files: {} },
    build: { kind: 'none' },
    input: ours.input,
    outputs: [{ name: YOLO_FORMAT_OUTPUT, shape: [1, 84, 3549] }],
    labels: 'coco80',
    // NanoDet's manifest thresholds (the yolov8 defaults are 0.25 / 0.45 / 300), so both decode alike.
    decoder: { scoreThreshold: ours.decoder.scoreThreshold, iouThreshold: ours.decoder.iouThreshold, maxDetections: ours.decoder.maxDetections },
    ...over,
  }
}

function writeManifest(dir: string, m: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `${String(m.name)}.json`), JSON.stringify(m, null, 2))
  return dir
}

beforeAll(async () => {
  await ensureModels(['nanodet'])
  tmp = await tempDir('store-edge-dropin-')
  const built = buildNanodetYoloFormat()
  expect(built.predictions).toBe(52 * 52 + 26 * 26 + 13 * 13)
  const file = join(tmp.dir, 'model', 'my-yolo.onnx')
  mkdirSync(join(tmp.dir, 'model'))
  writeFileSync(file, built.bytes)
  manifestDir = writeManifest(join(tmp.dir, 'manifests'), userManifest(file))
  user = loadManifestFile(join(manifestDir, `${USER}.json`))

  const registry = loadRegistry({ dirs: [manifestDir] })
  nanodet = registry.get('nanodet')!.manifest
  runner = createOrtRunner(registry, { threads: 1 })
  await runner.load(['nanodet', USER])

  const frameDir = join(tmp.dir, 'frames')
  mkdirSync(frameDir)
  const select = FRAMES.map((n) => `eq(n\\,${n})`).join('+')
  execFileSync('ffmpeg', ['-v', 'error', '-i', VTEST, '-vf', `select=${select}`, '-vsync', '0', join(frameDir, 'f%d.png')])
  FRAMES.forEach((n, i) => frames.set(n, readFileSync(join(frameDir, `f${i + 1}.png`))))
}, 120_000)

afterAll(async () => {
  await runner?.close()
  await tmp?.cleanup()
})

function iou(a: Detection, b: Detection): number {
  const iw = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x)
  const ih = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y)
  return iw <= 0 || ih <= 0 ? 0 : (iw * ih) / (a.w * a.h + b.w * b.h - iw * ih)
}

/**
 * One-to-one match of `got` to `want` (same class and label, best IoU). Asserts the same count, every
 * detection matched at IoU ≥ 0.9, scores within 1e-3 and corners within 0.01 px (the two graphs differ
 * only by float32 rounding); returns the worst IoU, score and corner differences.
 */
function expectSame(want: Detection[], got: Detection[], what: string) {
  expect(got.length, `${what}: detections`).toBe(want.length)
  const taken = new Set<number>()
  let minIou = 1
  let maxScore = 0
  let maxCoord = 0
  for (const w of want) {
    let best = -1
    let bestIou = 0
    got.forEach((g, k) => {
      if (taken.has(k) || g.classId !== w.classId || g.label !== w.label) return
      const v = iou(w, g)
      if (v > bestIou) [best, bestIou] = [k, v]
    })
    expect(best, `${what}: no match for ${w.label} at ${w.x.toFixed(1)},${w.y.toFixed(1)}`).toBeGreaterThanOrEqual(0)
    taken.add(best)
    const g = got[best]!
    minIou = Math.min(minIou, bestIou)
    maxScore = Math.max(maxScore, Math.abs(g.score - w.score))
    maxCoord = Math.max(maxCoord, Math.abs(g.x - w.x), Math.abs(g.y - w.y), Math.abs(g.x + g.w - w.x - w.w), Math.abs(g.y + g.h - w.y - w.h))
  }
  expect(minIou, `${what}: IoU`).toBeGreaterThanOrEqual(0.9)
  expect(maxScore, `${what}: score`).toBeLessThanOrEqual(1e-3)
  expect(maxCoord, `${what}: corners (px)`).toBeLessThanOrEqual(0.01)
  return { minIou, maxScore, maxCoord }
}

describe('a user ONNX model in the YOLOv8 layout, dropped in with a manifest', () => {
  it('the test model is byte-deterministic', () => {
    const again = buildNanodetYoloFormat().bytes
    expect(createHash('sha256').update(again).digest('hex')).toBe(user.sha256)
  })

  it('`store-edge models verify` accepts the manifest and refuses a wrong sha256 or output shape, naming the model and the error code', async () => {
    const cli = (dir: string) =>
      promisify(execFile)(process.execPath, ['bin/store-edge.js', 'models', 'verify', USER, '--manifests', dir], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 }).then(
        ({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }),
        (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
      )
    const good = userManifest(user.file)
    const badSha = writeManifest(join(tmp.dir, 'bad-sha'), { ...good, sha256: '0'.repeat(64) })
    const badShape = writeManifest(join(tmp.dir, 'bad-shape'), { ...good, outputs: [{ name: YOLO_FORMAT_OUTPUT, shape: [1, 84, 8400] }] })
    const [ok, sha, shape] = await Promise.all([cli(manifestDir), cli(badSha), cli(badShape)])

    expect(ok.code, ok.out).toBe(0)
    expect(ok.out).toMatch(new RegExp(`${USER}\\s+ok`))
    expect(sha.code, sha.out).not.toBe(0)
    expect(sha.out).toContain('STORE_EDGE_ERR_MODEL_CORRUPT')
    expect(sha.out).toContain(`model '${USER}'`)
    expect(sha.out).toContain(user.sha256) // the file's actual hash, to compare with the manifest's
    expect(shape.code, shape.out).not.toBe(0)
    expect(shape.out).toContain('STORE_EDGE_ERR_MODEL_MISMATCH')
    expect(shape.out).toContain(`model '${USER}'`)
    expect(shape.out).toMatch(/output 'output0' dimension 2 is 3549 in the model, the manifest says 8400/)
  }, 90_000)

  it('its raw output is NanoDet\'s scores verbatim, [1, 84, 3549] channels first', async () => {
    const { tensor } = await prepareImage(await decodeImage(frames.get(0)!), nanodet.input)
    const yolo = (await runner.run(USER, { [user.input.name]: tensor }))[YOLO_FORMAT_OUTPUT]!
    const nd = await runner.run('nanodet', { [nanodet.input.name]: tensor })
    expect(yolo.dims).toEqual([1, 84, 3549])
    const n = 3549
    let offset = 0
    let maxDiff = 0
    // NanoDet's score outputs ([1, N_s, 80]) in stride order 8, 16, 32, as the builder concatenates them.
    const scoreOutputs = nanodet.outputs.filter((o) => o.shape[2] === 80).sort((a, b) => Number(b.shape[1]) - Number(a.shape[1]))
    expect(scoreOutputs.map((o) => o.shape[1])).toEqual([2704, 676, 169])
    for (const { name } of scoreOutputs) {
      const cls = nd[name]!
      const rows = cls.dims[1]!
      for (let i = 0; i < rows; i++) for (let c = 0; c < 80; c++) maxDiff = Math.max(maxDiff, Math.abs(yolo.data[(4 + c) * n + offset + i]! - cls.data[i * 80 + c]!))
      offset += rows
    }
    expect(offset).toBe(n)
    expect(maxDiff).toBe(0)
  })

  it('finds the same people as the built-in NanoDet on real vtest.avi frames (yolov8 decoder vs nanodet decoder)', async () => {
    const lines: string[] = []
    let total = 0
    let worst = { minIou: 1, maxScore: 0, maxCoord: 0 }
    for (const n of FRAMES) {
      const img = await decodeImage(frames.get(n)!)
      const want = await detectPersons(runner, nanodet, img)
      const got = await detectPersons(runner, user, img)
      lines.push(`frame ${n}: nanodet ${want.length}, ${USER} ${got.length}`)
      const c = expectSame(want, got, `frame ${n}`)
      lines[lines.length - 1] += `, min IoU ${c.minIou.toFixed(5)}, max |Δscore| ${c.maxScore.toExponential(1)}, max |Δcorner| ${c.maxCoord.toExponential(1)} px`
      expect(got.every((d) => d.classId === 0 && d.label === 'person')).toBe(true)
      total += want.length
      worst = { minIou: Math.min(worst.minIou, c.minIou), maxScore: Math.max(worst.maxScore, c.maxScore), maxCoord: Math.max(worst.maxCoord, c.maxCoord) }
    }
    console.log(`[drop-in] people per frame, built-in nanodet vs the yolov8-format copy:\n  ${lines.join('\n  ')}\n  ${total} people; worst IoU ${worst.minIou.toFixed(5)}, score ${worst.maxScore.toExponential(1)}, corner ${worst.maxCoord.toExponential(1)} px`)
    // Not vacuous: vtest frames hold 3 to 8 walkers each.
    expect(total).toBeGreaterThanOrEqual(30)
  })

  it('every COCO class agrees too (class channels in the right order: the truck in frame 0)', async () => {
    let classes = new Set<string>()
    for (const n of [0, 400]) {
      const img = await decodeImage(frames.get(n)!)
      const want = await detectObjects(runner, nanodet, img)
      const got = await detectObjects(runner, user, img)
      const c = expectSame(want, got, `frame ${n}`)
      console.log(`[drop-in] all classes, frame ${n}: ${got.length} detections (${got.map((d) => d.label).join(', ')}), max |Δscore| ${c.maxScore.toExponential(1)}, max |Δcorner| ${c.maxCoord.toExponential(1)} px`)
      classes = new Set([...classes, ...got.map((d) => d.label ?? '')])
    }
    expect([...classes].filter((l) => l !== 'person').length).toBeGreaterThan(0)
  })

  it('a transposed export [1, N, 84] decodes the same (orientation read from the shape)', async () => {
    const dir = join(tmp.dir, 'channels-last')
    const file = join(dir, 'my-yolo-t.onnx')
    mkdirSync(dir)
    writeFileSync(file, buildNanodetYoloFormat({ layout: 'channels-last' }).bytes)
    const m = userManifest(file, { name: `${USER}-t`, outputs: [{ name: YOLO_FORMAT_OUTPUT, shape: [1, 3549, 84] }] })
    const registry = loadRegistry({ dirs: [writeManifest(join(dir, 'manifests'), m)], includeOurs: false })
    const transposed = createOrtRunner(registry, { threads: 1 })
    try {
      for (const n of [100, 700]) {
        const img = await decodeImage(frames.get(n)!)
        const got = await detectPersons(transposed, registry.get(`${USER}-t`)!.manifest, img)
        const c = expectSame(await detectPersons(runner, user, img), got, `frame ${n}`)
        console.log(`[drop-in] [1, N, 84], frame ${n}: ${got.length} people, max |Δscore| ${c.maxScore.toExponential(1)}, max |Δcorner| ${c.maxCoord.toExponential(1)} px`)
      }
    } finally {
      await transposed.close()
    }
  })

  it('the inference service, configured with the manifest directory and models.person = the user model, returns the same detections', async () => {
    const svc = new InferenceService({
      config: resolveConfig({
        vision: { enabled: true, workers: 1, manifestDirs: [manifestDir], models: { person: USER, faceDetect: '', faceEmbed: '', plateDet: '', plateRec: '' } },
      }).vision,
      metrics: createMetrics({ defaultMetrics: false }),
      log: testLogger(),
    })
    await svc.start()
    try {
      expect(svc.status().state).toBe('running')
      expect(Object.keys(svc.status().warmupMs)).toEqual([USER])
      for (const n of [0, 200, 700]) {
        const want = await detectPersons(runner, user, await decodeImage(frames.get(n)!))
        const got = await svc.detectPersons('cam1', frames.get(n)!)
        const c = expectSame(want, got, `service, frame ${n}`)
        console.log(`[drop-in] service, frame ${n}: ${got.length} people, max |Δscore| ${c.maxScore.toExponential(1)}, max |Δcorner| ${c.maxCoord.toExponential(1)} px`)
      }
    } finally {
      await svc.stop()
    }
  }, 60_000)
})
