import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import { ErrorCodes, StoreEdgeError, type ErrorCode } from '../../contracts/errors.ts'
import type { EdgeConfig } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import type { EdgeMetrics } from '../../core/metrics.ts'
import type { EdgeModule } from '../../core/module.ts'
import { getModel, loadRegistry, type ModelRegistry } from '../../../models/registry.ts'
import { defaultModelsDir } from '../../../models/paths.ts'
import { FairQueue } from './fair-queue.ts'
import type { ExecutionProvider } from './ort-runner.ts'
import { packPayload, type FromWorker, type JobTimings, type TaskModels, type ToWorker, type WorkerInit } from './protocol.ts'
import type { DetectFacesOptions } from '../pipelines/face.ts'
import type { PersonBox, PersonFace, PersonFacesOptions, PersonFacesPayload } from '../faces/person-faces.ts'
import type { DetectObjectsOptions } from '../pipelines/person.ts'
import type { ReadPlatesOptions } from '../plates/plate-reader.ts'
import type { EmbedPayload, ImagePayload, ImageResult, PipelinePayload, RawPayload } from './tasks.ts'
import type { Detection, FaceDetection, FaceEmbedding, ImageInput, PlateRead, RawImage, Tensor } from './types.ts'

/**
 * The inference service: a pool of worker threads, each with its own onnxruntime sessions, fed
 * from per-source bounded queues served round-robin. A camera that outpaces the pool loses its
 * oldest waiting frame (STORE_EDGE_ERR_INFERENCE_DROPPED, counted), never memory; a worker that
 * dies loses only the job it held (STORE_EDGE_ERR_INFERENCE) and is started again with backoff.
 */

export type VisionConfig = EdgeConfig['vision']

export interface InferenceServiceOptions {
  config: VisionConfig
  metrics: EdgeMetrics
  log: Logger
  /** Load our committed manifests as well as config.manifestDirs (default true). */
  includeOurManifests?: boolean
  /** Make sure the enabled models exist and match their manifests before the workers load them (default: models/build.ts ensureModels). */
  ensureModels?: (names: string[], modelsDir: string) => Promise<void>
  /** Accept the test-only tasks (__crash, __sleep, __echo). Never set in production. */
  testHooks?: boolean
  /** Respawn backoff after a worker dies: first delay, doubled per consecutive death, up to max. */
  respawnMs?: { min: number; max: number }
}

export interface SubmitOptions {
  /**
   * Move the image's (or feeds') memory to the worker instead of copying it (default true): a typed
   * array that owns its whole buffer is detached once the job is sent. Pass false to keep using it.
   * A view into a larger buffer is always copied (just its bytes) when submitted.
   */
  transfer?: boolean
}

interface Job {
  id: number
  source: string
  task: string
  /** Model label of the task's metrics. */
  model: string
  payload: unknown
  /** Buffers moved to the worker with the payload. */
  transferList: ArrayBuffer[]
  submittedAt: number
  dispatchedAt?: number
  timer?: NodeJS.Timeout
  resolve(value: unknown): void
  reject(err: Error): void
}

interface Slot {
  index: number
  worker: Worker
  ready: boolean
  job?: Job
  /** Resolves when the thread has exited. */
  exited: Promise<void>
}

export interface InferenceStatus {
  state: 'stopped' | 'starting' | 'running' | 'stopping' | 'failed'
  workers: { configured: number; ready: number; busy: number }
  queued: number
  sources: number
  models: Record<string, string>
  providers: Record<string, ExecutionProvider>
  restarts: number
  dropped: number
  warmupMs: Record<string, number>
}

const TASK_MODEL: Record<string, keyof TaskModels | undefined> = {
  persons: 'person',
  objects: 'person',
  faces: 'faceDetect',
  embed: 'faceEmbed',
  plates: 'plateDet',
}

function stoppedError(detail: string): StoreEdgeError {
  return new StoreEdgeError('STORE_EDGE_ERR_INFERENCE_STOPPED', detail)
}

/**
 * How to start a worker thread. From the esbuild bundle: dist/inference.worker.mjs beside the running
 * file. From source (tsx, vitest): the .ts entry, loaded through tsx's ESM hooks registered inside
 * the worker first (`execArgv: ['--import', 'tsx']` registers them too late for the entry itself).
 */
function workerSpec(): { code: string | URL; eval: boolean } {
  // The bundle is split into chunks (dist/chunks/): this module may sit one level below the entry.
  const bundled = [new URL('./inference.worker.mjs', import.meta.url), new URL('../inference.worker.mjs', import.meta.url)].find((u) => existsSync(fileURLToPath(u)))
  if (bundled) return { code: bundled, eval: false }
  const source = new URL('./inference.worker.ts', import.meta.url)
  if (!existsSync(fileURLToPath(source))) {
    throw new StoreEdgeError('STORE_EDGE_ERR_INFERENCE', `inference worker entry not found: ${fileURLToPath(new URL('./inference.worker.mjs', import.meta.url))} is missing (build with \`npm run build\`, which emits it beside the bundle)`)
  }
  const entry = source.href
  let tsx = 'tsx/esm/api'
  try {
    tsx = import.meta.resolve(tsx)
  } catch {
    // resolved from the working directory then
  }
  return { code: `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}) })`, eval: true }
}

function isRaw(x: ImageInput): x is RawImage {
  return typeof x === 'object' && x !== null && !(x instanceof Uint8Array) && 'width' in x
}

/** Cheap checks on the caller's thread, so an unusable frame never takes a queue slot. */
function checkImage(image: ImageInput, maxBytes: number): void {
  const bytes = isRaw(image) ? image.data?.length : image?.length
  if (bytes > maxBytes) throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', `frame of ${bytes} bytes is larger than vision.maxFrameBytes (${maxBytes})`)
  if (isRaw(image)) {
    const { width, height, data } = image
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || !(data instanceof Uint8Array) || data.length !== width * height * 3) {
      throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', `raw frame ${width}x${height} with ${(data as Uint8Array | undefined)?.length ?? 'no'} bytes (expected width*height*3 RGB)`)
    }
  } else if (!(image instanceof Uint8Array) || image.length === 0) {
    throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', 'image is empty or not a Buffer/Uint8Array/RawImage')
  }
}

export class InferenceService implements EdgeModule {
  readonly name = 'vision'
  private state: InferenceStatus['state'] = 'stopped'
  private registry?: ModelRegistry
  private queue: FairQueue<Job>
  private slots: Array<Slot | undefined> = []
  private respawnTimers = new Set<NodeJS.Timeout>()
  private deaths: number[] = []
  private nextId = 1
  private restarts = 0
  private dropped = 0
  private providers: Record<string, ExecutionProvider> = {}
  private warmupMs: Record<string, number> = {}
  private dropLabels = new Set<string>()
  private readonly loadNames: string[]
  private spec?: { code: string | URL; eval: boolean }

  constructor(private readonly opts: InferenceServiceOptions) {
    const m = opts.config.models
    this.loadNames = [...new Set([m.person, m.faceDetect, m.faceEmbed, m.plateDet, m.plateRec, m.plateCls].filter((n) => n !== ''))]
    this.queue = new FairQueue<Job>(opts.config.queueDepth, opts.config.maxSources)
  }

  private get modelsDir(): string {
    return this.opts.config.modelsDir || defaultModelsDir()
  }

  private get log(): Logger {
    return this.opts.log
  }

  async start(): Promise<void> {
    if (this.state !== 'stopped' && this.state !== 'failed') throw new Error(`inference service is ${this.state}`)
    this.state = 'starting'
    const cfg = this.opts.config
    try {
      this.registry = loadRegistry({ dirs: cfg.manifestDirs, includeOurs: this.opts.includeOurManifests !== false })
      for (const name of this.loadNames) getModel(this.registry, name)
      if (this.opts.ensureModels) await this.opts.ensureModels(this.loadNames, this.modelsDir)
      else {
        // Builds what is missing (the first start after install converts the TF.js models), then verifies.
        const { ensureModels } = await import('../../../models/build.ts')
        await ensureModels(this.loadNames, this.modelsDir, { manifestDirs: cfg.manifestDirs })
      }
      this.spec = workerSpec()
      const cores = availableParallelism()
      if (cfg.workers * cfg.threads > cores) {
        this.log.warn({ workers: cfg.workers, threads: cfg.threads, cores }, 'vision.workers × vision.threads exceeds the CPU cores; inferences will slow each other down')
      }
      const t0 = performance.now()
      this.slots = new Array(cfg.workers).fill(undefined)
      await Promise.all(this.slots.map((_, i) => this.spawn(i, true)))
      this.state = 'running'
      this.log.info(
        { workers: cfg.workers, threads: cfg.threads, models: this.loadNames, providers: this.providers, warmupMs: this.warmupMs, startMs: Math.round(performance.now() - t0) },
        'inference service started',
      )
    } catch (err) {
      this.state = 'failed'
      await this.terminateAll()
      throw err
    }
  }

  /** Start worker `index`; at start-up resolves when it is ready (rejects on its init error). */
  private spawn(index: number, initial: boolean): Promise<void> {
    const cfg = this.opts.config
    const init: WorkerInit = {
      modelsDir: this.modelsDir,
      manifestDirs: cfg.manifestDirs,
      includeOurManifests: this.opts.includeOurManifests !== false,
      threads: cfg.threads,
      providers: cfg.providers,
      models: cfg.models,
      load: this.loadNames,
      warmup: cfg.warmup,
      testHooks: this.opts.testHooks === true,
    }
    const spec = (this.spec ??= workerSpec())
    const worker = new Worker(spec.code, { eval: spec.eval, workerData: init, name: `inference-${index}` })
    let onExit!: () => void
    const slot: Slot = { index, worker, ready: false, exited: new Promise<void>((r) => (onExit = r)) }
    this.slots[index] = slot
    return new Promise<void>((resolve, reject) => {
      let settled = false
      const settle = (err?: Error) => {
        if (settled) return
        settled = true
        if (err) reject(err)
        else resolve()
      }
      worker.on('message', (msg: FromWorker) => {
        switch (msg.type) {
          case 'ready':
            slot.ready = true
            Object.assign(this.providers, msg.providers)
            if (initial) this.warmupMs = msg.warmupMs
            this.opts.metrics.inferenceWorkers.inc()
            settle()
            this.pump()
            return
          case 'init-error': {
            const err = new StoreEdgeError(msg.error.code as ErrorCode, undefined)
            err.message = msg.error.message
            this.log.error({ err, worker: index }, 'inference worker could not load its models')
            settle(err)
            void worker.terminate()
            return
          }
          case 'log':
            this.log[msg.level]({ ...msg.obj, worker: index }, msg.msg)
            return
          case 'done':
            this.finish(slot, msg)
            return
        }
      })
      worker.on('error', (err) => {
        // An uncaught exception in the thread; 'exit' follows and does the recovery.
        this.log.error({ err, worker: index }, 'inference worker crashed')
      })
      worker.on('exit', (code) => {
        onExit()
        if (slot.ready) this.opts.metrics.inferenceWorkers.dec()
        slot.ready = false
        if (this.slots[index] === slot) this.slots[index] = undefined
        const job = slot.job
        this.release(slot)
        if (this.state === 'stopping' || this.state === 'stopped' || this.state === 'failed') {
          if (job) this.fail(job, stoppedError(`the inference service stopped while source '${job.source}' frame ran`))
          settle(stoppedError('stopped during start'))
          return
        }
        if (!settled) {
          settle(new StoreEdgeError('STORE_EDGE_ERR_INFERENCE', `inference worker ${index} exited with code ${code} before it was ready`))
          if (initial) return
        }
        this.log.error({ worker: index, code, task: job?.task, source: job?.source }, 'inference worker exited; restarting it')
        if (job) this.fail(job, new StoreEdgeError('STORE_EDGE_ERR_INFERENCE', `worker ${index} died (exit code ${code}) while running task '${job.task}' for source '${job.source}'`))
        this.scheduleRespawn(index)
        this.pump() // the source it held may go to another worker now
      })
    })
  }

  private scheduleRespawn(index: number): void {
    const { min, max } = this.opts.respawnMs ?? { min: 100, max: 10_000 }
    // Deaths in the last minute set the backoff: a worker that keeps dying is retried less and less often.
    const now = performance.now()
    this.deaths = this.deaths.filter((t) => now - t < 60_000)
    this.deaths.push(now)
    const delay = Math.min(max, min * 2 ** (this.deaths.length - 1))
    this.restarts++
    this.opts.metrics.inferenceWorkerRestarts.inc()
    const timer = setTimeout(() => {
      this.respawnTimers.delete(timer)
      if (this.state !== 'running') return
      this.spawn(index, false).catch((err) => {
        // Its exit handler schedules the next try.
        this.log.error({ err, worker: index }, 'inference worker restart failed')
      })
    }, delay)
    this.respawnTimers.add(timer)
  }

  private readonly inFlight = new Map<string, number>()
  private readonly sourceBusy = (source: string) => (this.inFlight.get(source) ?? 0) >= this.opts.config.inFlightPerSource

  private take(slot: Slot, job: Job): void {
    slot.job = job
    this.inFlight.set(job.source, (this.inFlight.get(job.source) ?? 0) + 1)
  }

  /** The slot's job is over (done, failed, timed out, or its worker died). */
  private release(slot: Slot): void {
    const job = slot.job
    if (!job) return
    slot.job = undefined
    const n = (this.inFlight.get(job.source) ?? 1) - 1
    if (n > 0) this.inFlight.set(job.source, n)
    else this.inFlight.delete(job.source)
  }

  /** Give idle ready workers the next job in turn. */
  private pump(): void {
    for (const slot of this.slots) {
      while (slot && slot.ready && !slot.job && this.queue.size > 0) {
        const job = this.queue.next(this.sourceBusy)
        if (!job) break
        this.take(slot, job)
        job.dispatchedAt = performance.now()
        try {
          const msg: ToWorker = { type: 'job', id: job.id, task: job.task, payload: job.payload }
          slot.worker.postMessage(msg, job.transferList)
          job.payload = undefined // the worker has it now; drop our references
          job.transferList = []
          job.timer = setTimeout(() => this.timedOut(slot, job), this.opts.config.jobTimeoutMs)
        } catch (err) {
          // Not cloneable (a caller passed something odd): that job's fault only; the slot takes the next.
          this.release(slot)
          this.fail(job, new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', `cannot send the job to a worker: ${(err as Error).message}`))
        }
      }
    }
    this.opts.metrics.inferenceQueueDepth.set(this.queue.size)
  }

  /** A job past vision.jobTimeoutMs: it fails, and its worker (stuck in native code or a loop) is replaced. */
  private timedOut(slot: Slot, job: Job): void {
    if (slot.job !== job) return
    this.release(slot)
    // Out of service now: nothing more is sent to it while it is being terminated.
    slot.ready = false
    this.opts.metrics.inferenceWorkers.dec()
    this.log.error({ worker: slot.index, task: job.task, source: job.source, timeoutMs: this.opts.config.jobTimeoutMs }, 'inference job timed out; replacing its worker')
    this.fail(job, new StoreEdgeError('STORE_EDGE_ERR_INFERENCE', `task '${job.task}' for source '${job.source}' ran longer than vision.jobTimeoutMs (${this.opts.config.jobTimeoutMs} ms); its worker was restarted`))
    void slot.worker.terminate() // 'exit' schedules the replacement
    this.pump()
  }

  private finish(slot: Slot, msg: Extract<FromWorker, { type: 'done' }>): void {
    const job = slot.job
    if (!job || job.id !== msg.id) return
    this.release(slot)
    if (msg.timings) this.observe(job, msg.timings)
    if (msg.ok) {
      clearTimeout(job.timer)
      this.opts.metrics.inferenceJobs.inc({ task: job.task, outcome: 'ok' })
      job.resolve(msg.value)
    } else {
      const code = (msg.error.code in ErrorCodes ? msg.error.code : 'STORE_EDGE_ERR_INFERENCE') as ErrorCode
      const err = new StoreEdgeError(code)
      err.message = msg.error.message
      this.fail(job, err)
    }
    this.pump()
  }

  private observe(job: Job, t: JobTimings): void {
    const h = this.opts.metrics.inferenceSeconds
    const now = performance.now()
    h.observe({ model: job.model, stage: 'queue' }, ((job.dispatchedAt ?? now) - job.submittedAt) / 1000)
    h.observe({ model: job.model, stage: 'prepare' }, t.prepareMs / 1000)
    for (const [model, ms] of Object.entries(t.inferMs)) h.observe({ model, stage: 'infer' }, ms / 1000)
    h.observe({ model: job.model, stage: 'decode' }, t.decodeMs / 1000)
    h.observe({ model: job.model, stage: 'total' }, (now - job.submittedAt) / 1000)
  }

  private fail(job: Job, err: StoreEdgeError): void {
    clearTimeout(job.timer)
    this.opts.metrics.inferenceJobs.inc({ task: job.task, outcome: err.code })
    job.reject(err)
  }

  /** A job refused before it was queued: counted like the others, never queued. */
  private refuse(task: string, err: StoreEdgeError): Promise<never> {
    this.opts.metrics.inferenceJobs.inc({ task, outcome: err.code })
    return Promise.reject(err)
  }

  /** Source label of the drop counter: bounded like the queue's sources, the rest are 'other'. */
  private dropLabel(source: string): string {
    if (this.dropLabels.has(source)) return source
    if (this.dropLabels.size >= this.opts.config.maxSources) return 'other'
    this.dropLabels.add(source)
    return source
  }

  private drop(job: Job, why: string): void {
    this.dropped++
    this.opts.metrics.inferenceDropped.inc({ source: this.dropLabel(job.source) })
    this.fail(job, new StoreEdgeError('STORE_EDGE_ERR_INFERENCE_DROPPED', why))
  }

  /**
   * Queue one job for `source` (a camera id). Resolves with the task's result; rejects with
   * STORE_EDGE_ERR_INFERENCE_DROPPED when a newer frame of the same source replaced it.
   */
  private submit<T>(source: string, task: string, payload: unknown, model: string, opts: SubmitOptions = {}): Promise<T> {
    if (this.state !== 'running') return this.refuse(task, stoppedError(`the inference service is ${this.state}`))
    if (typeof source !== 'string' || source.length === 0 || source.length > 128) {
      return this.refuse(task, new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', 'source must be a non-empty string of at most 128 characters'))
    }
    // Packed now, not at dispatch: a waiting frame is a snapshot, whatever the caller does with a view it passed.
    const packed = packPayload(payload, opts.transfer !== false)
    return new Promise<T>((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        source,
        task,
        model,
        payload: packed.payload,
        transferList: packed.transferList,
        submittedAt: performance.now(),
        resolve: resolve as (v: unknown) => void,
        reject,
      }
      const r = this.queue.push(job)
      if (!r.accepted) {
        this.drop(job, `${this.queue.sources} sources already have frames waiting (vision.maxSources); frame of '${source}' refused`)
        return
      }
      if (r.dropped) this.drop(r.dropped, `source '${source}' submitted a newer frame while ${this.opts.config.queueDepth} were waiting (vision.queueDepth)`)
      this.pump()
    })
  }

  private unknownModel(model: string): StoreEdgeError {
    try {
      getModel(this.registry!, model)
    } catch (err) {
      return err as StoreEdgeError
    }
    return new StoreEdgeError('STORE_EDGE_ERR_MODEL_MANIFEST', `no manifest for model '${model}'`)
  }

  private modelOf(task: string): string {
    const key = TASK_MODEL[task]
    const name = key ? this.opts.config.models[key] : ''
    if (!name) throw new StoreEdgeError('STORE_EDGE_ERR_INFERENCE', `task '${task}' is off: vision.models.${key} is empty`)
    return name
  }

  /** Run a registry model on prepared feeds (a user model with their own decoder). */
  raw(source: string, model: string, feeds: Record<string, Tensor>, opts?: SubmitOptions): Promise<Record<string, Tensor>> {
    // Known models only: the name becomes a metrics label.
    if (this.registry && !this.registry.has(model)) return this.refuse('raw', this.unknownModel(model))
    const bytes = Object.values(feeds).reduce((n, t) => n + (t?.data?.byteLength ?? 0), 0)
    if (bytes > this.opts.config.maxFrameBytes) {
      return this.refuse('raw', new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', `feeds of ${bytes} bytes are larger than vision.maxFrameBytes (${this.opts.config.maxFrameBytes})`))
    }
    const payload: RawPayload = { model, feeds }
    return this.submit(source, 'raw', payload, model, opts)
  }

  /** Prepare an image as the model's manifest says and run it: raw outputs plus the transform back to image pixels. */
  runImage(source: string, model: string, image: ImageInput, size?: { width: number; height: number }, opts?: SubmitOptions): Promise<ImageResult> {
    try {
      if (this.registry && !this.registry.has(model)) throw this.unknownModel(model)
      checkImage(image, this.opts.config.maxFrameBytes)
    } catch (err) {
      return this.refuse('image', err as StoreEdgeError)
    }
    const payload: ImagePayload = { model, image, size }
    return this.submit(source, 'image', payload, model, opts)
  }

  private image<T>(source: string, task: string, payload: { image: ImageInput }, opts?: SubmitOptions): Promise<T> {
    let model: string
    try {
      model = this.modelOf(task)
      checkImage(payload.image, this.opts.config.maxFrameBytes)
    } catch (err) {
      return this.refuse(task, err as StoreEdgeError)
    }
    return this.submit<T>(source, task, payload, model, opts)
  }

  /** People (COCO class 0) in a frame, in source-image pixels. */
  detectPersons(source: string, image: ImageInput, opts?: Omit<DetectObjectsOptions, 'classes'>, submit?: SubmitOptions): Promise<Detection[]> {
    const payload: PipelinePayload<typeof opts> = { image, opts }
    return this.image(source, 'persons', payload, submit)
  }

  /** Every COCO object the person model finds (filter with opts.classes). */
  detectObjects(source: string, image: ImageInput, opts?: DetectObjectsOptions, submit?: SubmitOptions): Promise<Detection[]> {
    const payload: PipelinePayload<typeof opts> = { image, opts }
    return this.image(source, 'objects', payload, submit)
  }

  /** Faces with landmarks, best first. */
  detectFaces(source: string, image: ImageInput, opts?: DetectFacesOptions, submit?: SubmitOptions): Promise<FaceDetection[]> {
    const payload: PipelinePayload<typeof opts> = { image, opts }
    return this.image(source, 'faces', payload, submit)
  }

  /** The L2-normalised embedding of `face` in `image` (or of the whole image, already a face crop). */
  embedFace(source: string, image: ImageInput, face?: FaceDetection, submit?: SubmitOptions): Promise<FaceEmbedding> {
    const payload: EmbedPayload = { image, face }
    return this.image(source, 'embed', payload, submit)
  }

  /**
   * Faces of tracked people in one raw RGB frame (person boxes with track ids, frame pixels): upper
   * part of each box tall enough, face detection, quality filter, embedding of the faces that pass.
   * Boxes, scores, quality and embeddings come back; never pixels.
   */
  personFaces(source: string, image: RawImage, persons: PersonBox[], opts?: PersonFacesOptions, submit?: SubmitOptions): Promise<PersonFace[]> {
    const m = this.opts.config.models
    const off = m.faceDetect === '' ? 'faceDetect' : m.faceEmbed === '' && opts?.embed !== false ? 'faceEmbed' : undefined
    try {
      if (off) throw new StoreEdgeError('STORE_EDGE_ERR_INFERENCE', `task 'personFaces' is off: vision.models.${off} is empty`)
      if (!isRaw(image)) throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', 'personFaces takes a raw RGB frame ({ width, height, channels: 3, data })')
      checkImage(image, this.opts.config.maxFrameBytes)
    } catch (err) {
      return this.refuse('personFaces', err as StoreEdgeError)
    }
    // Plain numbers only: the boxes may be tracker objects with more fields than the worker needs.
    const boxes = persons.map(({ trackId, x, y, w, h }) => ({ trackId, x, y, w, h }))
    const payload: PersonFacesPayload = { image, persons: boxes, opts }
    return this.submit(source, 'personFaces', payload, m.faceDetect, submit)
  }

  /** Licence plates read in a frame. */
  readPlates(source: string, image: ImageInput, opts?: ReadPlatesOptions, submit?: SubmitOptions): Promise<PlateRead[]> {
    const payload: PipelinePayload<typeof opts> = { image, opts }
    return this.image(source, 'plates', payload, submit)
  }

  /** Internal to tests: a task by name (test hooks) with the given payload. */
  submitTask<T>(source: string, task: string, payload: unknown, opts?: SubmitOptions): Promise<T> {
    let model = task
    try {
      if (TASK_MODEL[task]) model = this.modelOf(task)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.submit<T>(source, task, payload, model, opts)
  }

  status(): InferenceStatus {
    const live = this.slots.filter((s): s is Slot => !!s)
    return {
      state: this.state,
      workers: { configured: this.opts.config.workers, ready: live.filter((s) => s.ready).length, busy: live.filter((s) => s.job).length },
      queued: this.queue.size,
      sources: this.queue.sources,
      models: Object.fromEntries(Object.entries(this.opts.config.models).filter(([, v]) => v !== '')),
      providers: { ...this.providers },
      restarts: this.restarts,
      dropped: this.dropped,
      warmupMs: Object.fromEntries(Object.entries(this.warmupMs).map(([k, v]) => [k, Math.round(v * 10) / 10])),
    }
  }

  /** Threads currently alive (for tests: zero after stop). */
  get threads(): number {
    return this.slots.filter((s) => !!s).length
  }

  private async terminateAll(): Promise<void> {
    for (const t of this.respawnTimers) clearTimeout(t)
    this.respawnTimers.clear()
    const live = this.slots.filter((s): s is Slot => !!s)
    await Promise.all(live.map(async (s) => {
      await s.worker.terminate()
      await s.exited
    }))
    this.slots = []
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return
    this.state = 'stopping'
    for (const job of this.queue.drain()) this.fail(job, stoppedError(`stopped before source '${job.source}' frame ran`))
    this.opts.metrics.inferenceQueueDepth.set(0)
    await this.terminateAll()
    this.state = 'stopped'
  }
}
