import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '../edge/core/config.ts'
import { createMetrics } from '../edge/core/metrics.ts'
import { InferenceService } from '../edge/vision/inference/inference.service.ts'
import { createOrtRunner, type OrtRunner } from '../edge/vision/inference/ort-runner.ts'
import { embedFace } from '../edge/vision/pipelines/embed.ts'
import { detectFaces } from '../edge/vision/pipelines/face.ts'
import { detectPersons } from '../edge/vision/pipelines/person.ts'
import { readPlates } from '../edge/vision/plates/plate-reader.ts'
import { ensureModels } from '../models/build.ts'
import { loadRegistry } from '../models/registry.ts'
import { synthFrame } from './fixtures/plates/synth.ts'
import { testLogger } from './helpers.ts'

/**
 * Every pipeline task through the worker pool gives exactly what the same pipeline gives on the
 * main thread over the same models, on real images: the pool adds scheduling, never different answers.
 */

const HTML = '/usr/share/doc/opencv-doc/opencv4/html'
const PEOPLE = `${HTML}/demo.jpg`
const FACES = `${HTML}/227943776_1.jpg`
const MODELS = ['nanodet-int8', 'blazeface', 'faceres-int8', 'ppocr-det', 'ppocr-rec']

let svc: InferenceService
let direct: OrtRunner
const registry = loadRegistry()
const manifest = (n: string) => registry.get(n)!.manifest

beforeAll(async () => {
  await ensureModels(MODELS)
  const config = resolveConfig({ vision: { enabled: true, workers: 1 } }).vision
  svc = new InferenceService({ config, metrics: createMetrics({ defaultMetrics: false }), log: testLogger() })
  await svc.start()
  direct = createOrtRunner(registry, { threads: 1 })
}, 300_000)
afterAll(async () => {
  await svc?.stop()
  await direct?.close()
})

describe('pipeline tasks in the worker pool (real models, real images)', () => {
  it('loads the default models, warm', () => {
    expect(Object.keys(svc.status().warmupMs).sort()).toEqual([...MODELS].sort())
  })

  it('persons', async () => {
    const bytes = readFileSync(PEOPLE)
    const pooled = await svc.detectPersons('cam-people', Buffer.from(bytes))
    expect(pooled.length).toBeGreaterThan(0)
    expect(pooled.every((d) => d.classId === 0)).toBe(true)
    expect(pooled).toEqual(await detectPersons(direct, manifest('nanodet-int8'), bytes))
  })

  it('faces and embeddings', async () => {
    const bytes = readFileSync(FACES)
    const faces = await svc.detectFaces('cam-faces', Buffer.from(bytes))
    expect(faces.length).toBeGreaterThan(0)
    expect(faces).toEqual(await detectFaces(direct, manifest('blazeface'), bytes))
    const emb = await svc.embedFace('cam-faces', Buffer.from(bytes), faces[0])
    const ref = await embedFace(direct, manifest('faceres-int8'), bytes, faces[0])
    expect(emb.vector).toBeInstanceOf(Float32Array)
    expect(Array.from(emb.vector)).toEqual(Array.from(ref.vector))
    expect(emb.vector.reduce((s, v) => s + v * v, 0)).toBeCloseTo(1, 4)
  })

  it('plates', async () => {
    const frame = await synthFrame(3)
    const pooled = await svc.readPlates('gate', Buffer.from(frame.jpeg))
    const ref = await readPlates(direct, { det: manifest('ppocr-det'), rec: manifest('ppocr-rec') }, frame.jpeg)
    expect(pooled).toEqual(ref)
    expect(pooled.map((p) => p.plate)).toContain(frame.plate)
  })

  it('a task whose model is switched off is refused with the config key to set', async () => {
    const config = resolveConfig({ vision: { enabled: true, warmup: false, models: { person: '', faceDetect: 'blazeface', faceEmbed: '', plateDet: '', plateRec: '' } } }).vision
    const small = new InferenceService({ config, metrics: createMetrics({ defaultMetrics: false }), log: testLogger() })
    await small.start()
    try {
      await expect(small.detectPersons('c', readFileSync(PEOPLE))).rejects.toThrow(/task 'persons' is off: vision.models.person is empty/)
      expect((await small.detectFaces('c', readFileSync(FACES))).length).toBeGreaterThan(0)
    } finally {
      await small.stop()
    }
  })
})
