import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from '../edge/core/config.ts'
import { createMetrics, type EdgeMetrics } from '../edge/core/metrics.ts'
import { InferenceService } from '../edge/vision/inference/inference.service.ts'
import { createOrtRunner } from '../edge/vision/inference/ort-runner.ts'
import { decodeImage, prepareImage } from '../edge/vision/inference/preprocess.ts'
import type { Tensor } from '../edge/vision/inference/types.ts'
import { loadRegistry } from '../models/registry.ts'
import { writePpocrTestManifests } from './support/ppocr-models.ts'
import { EdgeApp } from '../edge/app.ts'
import { tempDir, testConfig, testLogger } from './helpers.ts'

/**
 * The inference service for real: worker threads with onnxruntime sessions of the PP-OCRv4 models
 * (shipped as ONNX, no build step), real images, real crashes. Ordering is made deterministic by
 * submitting synchronously while the single worker holds a job; nothing asserts on wall-clock time.
 */

const TEXT_IMAGE = '/usr/share/doc/opencv-doc/examples/data/imageTextN.png'
const DET = 'test-ppocr-det'
const REC = 'test-ppocr-rec'
const OUT_DET = 'sigmoid_0.tmp_0'

let tmp: Awaited<ReturnType<typeof tempDir>>
let manifestDir: string
const logLines: Array<Record<string, unknown>> = []
const log = pino(
  { level: 'info' },
  new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>)
      cb()
    },
  }),
)

function visionConfig(over: Record<string, unknown> = {}) {
  return resolveConfig({
    vision: {
      enabled: true,
      manifestDirs: [manifestDir],
      models: { person: '', faceDetect: '', faceEmbed: '', plateDet: DET, plateRec: REC },
      ...over,
    },
  }).vision
}

/** A recogniser input whose values identify the frame. */
const recFeeds = (v: number): Record<string, Tensor> => ({ x: { dims: [1, 3, 48, 32], data: new Float32Array(3 * 48 * 32).fill(v) } })

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (err) {
    return (err as { code?: string }).code ?? String(err)
  }
}

beforeAll(async () => {
  tmp = await tempDir('store-edge-inference-')
  manifestDir = writePpocrTestManifests(join(tmp.dir, 'manifests'))
})
afterAll(() => tmp.cleanup())

describe('InferenceService (1 worker)', () => {
  let svc: InferenceService
  let metrics: EdgeMetrics

  beforeAll(async () => {
    metrics = createMetrics({ defaultMetrics: false })
    svc = new InferenceService({
      config: visionConfig({ workers: 1, queueDepth: 2, maxSources: 4, maxFrameBytes: 200_000, providers: ['cuda', 'cpu'] }),
      metrics,
      log,
      includeOurManifests: false,
      testHooks: true,
      respawnMs: { min: 10, max: 100 },
    })
    await svc.start()
  })
  afterAll(() => svc.stop())

  it('starts warm, on CPU after a logged CUDA fallback', () => {
    const st = svc.status()
    expect(st.state).toBe('running')
    expect(st.workers).toEqual({ configured: 1, ready: 1, busy: 0 })
    expect(Object.keys(st.warmupMs).sort()).toEqual([DET, REC])
    expect(st.providers).toEqual({ [DET]: 'cpu', [REC]: 'cpu' })
    expect(logLines.some((l) => /CUDA execution provider unavailable/.test(String(l.msg)) && l.worker === 0)).toBe(true)
  })

  it('runs a real image through the worker exactly as onnxruntime does on the main thread', async () => {
    const bytes = readFileSync(TEXT_IMAGE)
    const size = { width: 320, height: 320 }
    const res = await svc.runImage('cam1', DET, Buffer.from(bytes), size)
    const map = res.outputs[OUT_DET]!
    expect(map.dims).toEqual([1, 1, 320, 320])
    expect(res.transform.srcWidth).toBeGreaterThan(0)
    // Text is found: a good share of the probability map is confident text.
    const texty = map.data.reduce((n, v) => n + (v > 0.5 ? 1 : 0), 0)
    expect(texty).toBeGreaterThan(320 * 320 * 0.01)

    const registry = loadRegistry({ dirs: [manifestDir], includeOurs: false })
    const direct = createOrtRunner(registry, { threads: 1 })
    const { tensor } = await prepareImage(await decodeImage(bytes), registry.get(DET)!.manifest.input, size)
    const expected = (await direct.run(DET, { x: tensor }))[OUT_DET]!
    await direct.close()
    let maxDiff = 0
    for (let i = 0; i < expected.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(expected.data[i]! - map.data[i]!))
    expect(maxDiff).toBe(0)

    // A flat grey frame has no text.
    const grey = { width: 64, height: 64, channels: 3 as const, data: new Uint8Array(64 * 64 * 3).fill(128) }
    const empty = (await svc.runImage('cam1', DET, grey, { width: 64, height: 64 })).outputs[OUT_DET]!
    expect(Math.max(...empty.data)).toBeLessThan(0.5)
  })

  it('moves feeds to the worker (transfer) unless asked to copy', async () => {
    const moved = recFeeds(0.1)
    const kept = recFeeds(0.1)
    const [a, b] = await Promise.all([svc.raw('cam1', REC, moved), svc.raw('cam2', REC, kept, { transfer: false })])
    expect(moved.x!.data.byteLength).toBe(0)
    expect(kept.x!.data.length).toBe(3 * 48 * 32)
    expect(Array.from(a['softmax_11.tmp_0']!.data)).toEqual(Array.from(b['softmax_11.tmp_0']!.data))
  })

  it('copies a view into a larger buffer at submit (just its bytes, a snapshot), never detaching the larger buffer', async () => {
    const n = 3 * 48 * 32
    const ring = new Float32Array(n * 4).fill(0.7)
    const view = ring.subarray(n, 2 * n)
    const blocker = svc.submitTask('blocker', '__sleep', { ms: 50 })
    const queued = svc.raw('ring', REC, { x: { dims: [1, 3, 48, 32], data: view } })
    ring.fill(-3) // the decoder reuses its ring buffer while the frame waits
    const [, got] = await Promise.all([blocker, queued])
    expect(ring.length).toBe(n * 4)
    const expected = await svc.raw('ring', REC, recFeeds(0.7))
    expect(Array.from(got['softmax_11.tmp_0']!.data)).toEqual(Array.from(expected['softmax_11.tmp_0']!.data))
  })

  it('drops the oldest waiting frame of a source under a burst; each source’s latest frames are served; memory stays bounded', async () => {
    const dropsBefore = svc.status().dropped
    // The worker holds this while the burst arrives (submits are synchronous, so nothing finishes in between).
    const blocker = svc.submitTask('blocker', '__sleep', { ms: 200 })
    const results: Record<string, Array<Promise<string>>> = { camA: [], camB: [] }
    let maxQueued = 0
    for (let i = 0; i < 50; i++) {
      for (const cam of ['camA', 'camB'] as const) {
        results[cam]!.push(outcome(svc.raw(cam, REC, recFeeds(i / 50))))
        maxQueued = Math.max(maxQueued, svc.status().queued)
      }
    }
    expect(maxQueued).toBe(4) // queueDepth × sources, never more
    expect(await outcome(blocker)).toBe('ok')
    for (const cam of ['camA', 'camB']) {
      const got = await Promise.all(results[cam]!)
      expect(got.slice(48)).toEqual(['ok', 'ok'])
      expect(got.slice(0, 48).every((o) => o === 'STORE_EDGE_ERR_INFERENCE_DROPPED')).toBe(true)
    }
    expect(svc.status().dropped - dropsBefore).toBe(96)
    const text = await metrics.registry.metrics()
    expect(text).toContain('store_edge_inference_dropped_total{source="camA"} 48')
    expect(text).toContain('store_edge_inference_dropped_total{source="camB"} 48')
    expect(svc.status().queued).toBe(0)

    // A fifth source while four have frames waiting is refused, not queued.
    const hold = svc.submitTask('blocker', '__sleep', { ms: 100 })
    const waiting = ['s1', 's2', 's3', 's4'].map((s) => outcome(svc.raw(s, REC, recFeeds(0))))
    expect(await outcome(svc.raw('s5', REC, recFeeds(0)))).toBe('STORE_EDGE_ERR_INFERENCE_DROPPED')
    expect(await Promise.all([outcome(hold), ...waiting])).toEqual(['ok', 'ok', 'ok', 'ok', 'ok'])
  })

  it('serves sources in turn, not in arrival order', async () => {
    const order: string[] = []
    const blocker = svc.submitTask('blocker', '__sleep', { ms: 100 })
    const jobs = [
      ['busy', 1],
      ['busy', 2],
      ['quiet', 1],
      ['other', 1],
      ['quiet', 2],
    ] as const
    const all = jobs.map(([src, n]) => svc.raw(src, REC, recFeeds(n / 10)).then(() => order.push(`${src}${n}`)))
    await blocker
    await Promise.all(all)
    expect(order).toEqual(['busy1', 'quiet1', 'other1', 'busy2', 'quiet2'])
  })

  it('rejects bad frames with STORE_EDGE_ERR_BAD_FRAME while the good ones beside them succeed', async () => {
    const good = readFileSync(TEXT_IMAGE)
    const truncated = good.subarray(0, 200)
    const size = { width: 96, height: 96 }
    const badRaw = { width: 10, height: 10, channels: 3 as const, data: new Uint8Array(7) }
    // Four sources waiting at most (maxSources 4): cam1's first frame runs at once, the rest queue.
    const got = await Promise.all([
      outcome(svc.runImage('cam1', DET, Buffer.from(good), size)),
      outcome(svc.runImage('cam2', DET, Buffer.from(truncated), size)),
      outcome(svc.runImage('cam3', DET, Buffer.from('not an image at all'), size)),
      outcome(svc.runImage('cam2', DET, badRaw, size)),
      outcome(svc.runImage('cam3', DET, Buffer.alloc(0), size)),
      outcome(svc.raw('cam4', REC, { x: { dims: [1, 3, 40, 32], data: new Float32Array(3 * 40 * 32) } })),
      outcome(svc.raw('cam4', 'no-such-model', recFeeds(0))),
      // Not structured-cloneable: refused when it is posted, and the worker takes the next job.
      outcome(svc.raw('cam3', REC, { x: Object.assign(recFeeds(0).x!, { hook: () => 1 }) })),
      outcome(svc.runImage('cam1', DET, Buffer.from(good), size)),
      // Over vision.maxFrameBytes (200 kB here): refused before it takes a queue slot.
      outcome(svc.runImage('cam2', DET, { width: 300, height: 300, channels: 3, data: new Uint8Array(300 * 300 * 3) }, size)),
      outcome(svc.raw('cam2', REC, { x: { dims: [1, 3, 48, 400], data: new Float32Array(3 * 48 * 400) } })),
    ])
    expect(got).toEqual([
      'ok',
      'STORE_EDGE_ERR_BAD_FRAME',
      'STORE_EDGE_ERR_BAD_FRAME',
      'STORE_EDGE_ERR_BAD_FRAME',
      'STORE_EDGE_ERR_BAD_FRAME',
      'STORE_EDGE_ERR_BAD_FRAME',
      'STORE_EDGE_ERR_MODEL_MANIFEST',
      'STORE_EDGE_ERR_BAD_FRAME',
      'ok',
      'STORE_EDGE_ERR_BAD_FRAME',
      'STORE_EDGE_ERR_BAD_FRAME',
    ])
    expect(svc.status().restarts).toBe(0)
  })

  it('a worker that dies loses only its own job, and is restarted', async () => {
    const crash = svc.submitTask('x', '__crash', { code: 9 })
    const queued = svc.raw('y', REC, recFeeds(0.3))
    let crashErr: Error | undefined
    await crash.catch((e: Error) => (crashErr = e))
    expect(crashErr).toMatchObject({ code: 'STORE_EDGE_ERR_INFERENCE' })
    expect(crashErr!.message).toMatch(/worker 0 died \(exit code 9\) while running task '__crash' for source 'x'/)
    expect((await queued)['softmax_11.tmp_0']!.dims[2]).toBe(6625)
    expect(svc.status().restarts).toBe(1)
    expect(svc.status().workers.ready).toBe(1)
    expect(await metrics.registry.metrics()).toContain('store_edge_inference_worker_restarts_total 1')
    expect(logLines.some((l) => l.msg === 'inference worker exited; restarting it' && l.code === 9)).toBe(true)
  })

  it('exposes latency histograms per model and stage, jobs and errors in the edge registry', async () => {
    const text = await metrics.registry.metrics()
    for (const stage of ['queue', 'prepare', 'infer', 'decode', 'total']) {
      expect(text).toMatch(new RegExp(`store_edge_inference_seconds_count\\{model="${DET}",stage="${stage}"\\} [1-9]`))
    }
    expect(text).toMatch(new RegExp(`store_edge_inference_seconds_count\\{model="${REC}",stage="infer"\\} [1-9]`))
    expect(text).toMatch(/store_edge_inference_jobs_total\{task="raw",outcome="ok"\} [1-9]/)
    expect(text).toMatch(/store_edge_inference_jobs_total\{task="image",outcome="STORE_EDGE_ERR_BAD_FRAME"\} 5/)
    expect(text).toContain('store_edge_inference_queue_depth 0')
    expect(text).toContain('store_edge_inference_workers 1')
  })
})

describe('InferenceService lifecycle', () => {
  it('two workers share the load; stop() rejects what waits and runs, and leaves no threads', async () => {
    const metrics = createMetrics({ defaultMetrics: false })
    const svc = new InferenceService({ config: visionConfig({ workers: 2, warmup: false, queueDepth: 3 }), metrics, log, includeOurManifests: false, testHooks: true })
    await svc.start()
    expect(svc.threads).toBe(2)
    // One frame of a source at a time (inFlightPerSource 1): results in frame order, the other worker free for other cameras.
    const order: number[] = []
    const same = [1, 2, 3].map((n) => svc.raw('same', REC, recFeeds(n / 10)).then(() => order.push(n)))
    expect(svc.status().workers.busy).toBe(1)
    expect(svc.status().queued).toBe(2)
    const other = svc.raw('other', REC, recFeeds(0))
    expect(svc.status().workers.busy).toBe(2)
    await Promise.all([...same, other])
    expect(order).toEqual([1, 2, 3])
    // Both workers take a job at once.
    const a = outcome(svc.submitTask('a', '__sleep', { ms: 5000 }))
    const b = outcome(svc.submitTask('b', '__sleep', { ms: 5000 }))
    expect(svc.status().workers.busy).toBe(2)
    const waiting = outcome(svc.raw('c', REC, recFeeds(0)))
    expect(svc.status().queued).toBe(1)
    await svc.stop()
    expect(await Promise.all([a, b, waiting])).toEqual([
      'STORE_EDGE_ERR_INFERENCE_STOPPED',
      'STORE_EDGE_ERR_INFERENCE_STOPPED',
      'STORE_EDGE_ERR_INFERENCE_STOPPED',
    ])
    // threads counts workers whose 'exit' has not fired; stop() awaited every exit.
    expect(svc.threads).toBe(0)
    expect(svc.status()).toMatchObject({ state: 'stopped', workers: { ready: 0, busy: 0 }, queued: 0 })
    expect(await outcome(svc.raw('c', REC, recFeeds(0)))).toBe('STORE_EDGE_ERR_INFERENCE_STOPPED')
    expect(await metrics.registry.metrics()).toContain('store_edge_inference_workers 0')
  })

  it('a job that runs past jobTimeoutMs fails, and its stuck worker is replaced', async () => {
    const metrics = createMetrics({ defaultMetrics: false })
    const svc = new InferenceService({ config: visionConfig({ workers: 1, warmup: false, jobTimeoutMs: 300 }), metrics, log, includeOurManifests: false, testHooks: true, respawnMs: { min: 10, max: 100 } })
    await svc.start()
    try {
      const stuck = svc.submitTask('cam', '__sleep', { ms: 600_000 })
      const next = svc.raw('cam', REC, recFeeds(0.5))
      let err: Error | undefined
      await stuck.catch((e: Error) => (err = e))
      expect(err).toMatchObject({ code: 'STORE_EDGE_ERR_INFERENCE' })
      expect(err!.message).toMatch(/ran longer than vision.jobTimeoutMs \(300 ms\)/)
      expect((await next)['softmax_11.tmp_0']!.dims[2]).toBe(6625)
      expect(svc.status()).toMatchObject({ restarts: 1, workers: { ready: 1 } })
      expect(await metrics.registry.metrics()).toContain('store_edge_inference_workers 1')
    } finally {
      await svc.stop()
    }
  })

  it('a model that does not match its manifest fails start with the model named, and no thread is left', async () => {
    const metrics = createMetrics({ defaultMetrics: false })
    const svc = new InferenceService({
      config: visionConfig({ models: { person: '', faceDetect: '', faceEmbed: '', plateDet: DET, plateRec: 'nanodet-missing' } }),
      metrics,
      log,
      includeOurManifests: false,
    })
    await expect(svc.start()).rejects.toThrow(/no manifest for model 'nanodet-missing'; known: test-ppocr-det, test-ppocr-rec/)
    expect(svc.threads).toBe(0)
    expect(svc.status().state).toBe('failed')
  })
})

describe('the edge app', () => {
  it('runs the inference service only when vision.enabled; /health and /metrics show it', async () => {
    const off = await new EdgeApp({ config: testConfig(join(tmp.dir, 'edge-off')), logger: testLogger(), defaultMetrics: false }).start()
    try {
      expect(off.vision).toBeUndefined()
      const health = (await (await fetch(`${off.api.url}/health`)).json()) as { vision: unknown }
      expect(health.vision).toBeNull()
    } finally {
      await off.stop()
    }

    const vision = { enabled: true, warmup: true, manifestDirs: [manifestDir], models: { person: '', faceDetect: '', faceEmbed: '', plateDet: DET, plateRec: REC } }
    const edge = await new EdgeApp({ config: testConfig(join(tmp.dir, 'edge-on'), { vision }), logger: testLogger(), defaultMetrics: false }).start()
    try {
      expect(edge.moduleStatus.get('vision')).toBe('up')
      const out = await edge.vision!.raw('gate-cam', REC, recFeeds(0.2))
      expect(out['softmax_11.tmp_0']!.dims[2]).toBe(6625)
      const res = await fetch(`${edge.api.url}/health`)
      const health = (await res.json()) as { status: string; modules: Record<string, string>; vision: { state: string; workers: { ready: number }; providers: Record<string, string> } }
      expect(res.status).toBe(200)
      expect(health.modules.vision).toBe('up')
      expect(health.vision).toMatchObject({ state: 'running', workers: { ready: 1 }, providers: { [DET]: 'cpu', [REC]: 'cpu' } })
      const metricsText = await (await fetch(`${edge.api.url}/metrics`)).text()
      expect(metricsText).toMatch(new RegExp(`store_edge_inference_seconds_count\\{model="${REC}",stage="total"\\} 1`))
      expect(metricsText).toContain('store_edge_module_up{module="vision"} 1')
    } finally {
      await edge.stop()
    }
    expect(edge.vision!.threads).toBe(0)
  })

  it('a vision module that cannot load its models is marked failed; the rest of the edge runs', async () => {
    const vision = { enabled: true, manifestDirs: [manifestDir], models: { person: '', faceDetect: '', faceEmbed: '', plateDet: DET, plateRec: 'missing-model' } }
    const edge = await new EdgeApp({ config: testConfig(join(tmp.dir, 'edge-bad'), { vision }), logger: testLogger(), defaultMetrics: false }).start()
    try {
      expect(edge.moduleStatus.get('vision')).toBe('failed')
      expect(edge.moduleStatus.get('api')).toBe('up')
      const res = await fetch(`${edge.api.url}/health`)
      expect(res.status).toBe(503)
      expect(((await res.json()) as { vision: { state: string } }).vision.state).toBe('failed')
      expect(edge.vision!.threads).toBe(0)
    } finally {
      await edge.stop()
    }
  })
})
