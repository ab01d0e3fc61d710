import { parentPort, workerData } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import { StoreEdgeError } from '../../contracts/errors.ts'
import { loadRegistry } from '../../../models/registry.ts'
import { createOrtRunner } from './ort-runner.ts'
import { packPayload, type FromWorker, type JobTimings, type ToWorker, type WireError, type WorkerInit } from './protocol.ts'
import { tasks, testTasks, type Task, type TaskContext } from './tasks.ts'
import type { ModelRunner, Tensor } from './types.ts'

/**
 * One inference worker thread: its own onnxruntime sessions (created and warmed up before it says
 * ready), then one job at a time from the InferenceService. An error in a job is answered as that
 * job's error; only a crash of the thread itself loses the job, and the service respawns it.
 */

const init = workerData as WorkerInit
const port = parentPort!

const post = (msg: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer)

function wire(err: unknown): WireError {
  if (err instanceof StoreEdgeError) return { code: err.code, message: err.message }
  return { code: 'STORE_EDGE_ERR_INFERENCE', message: `inference failed: ${(err as Error)?.message ?? String(err)}` }
}

/** A zero input of the model's shape: batch 1, dynamic spatial sizes 64 (divisible by every stride these models use). */
function warmupFeed(shape: Array<number | null>): Tensor {
  const dims = shape.map((d, i) => d ?? (i === 0 ? 1 : 64))
  return { dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) }
}

async function main(): Promise<void> {
  const registry = loadRegistry({ dirs: init.manifestDirs, includeOurs: init.includeOurManifests })
  const ort = createOrtRunner(registry, {
    modelsDir: init.modelsDir,
    threads: init.threads,
    providers: init.providers,
    log: {
      info: (obj, msg) => post({ type: 'log', level: 'info', obj: { ...obj }, msg }),
      warn: (obj, msg) => post({ type: 'log', level: 'warn', obj: { ...obj }, msg }),
    },
  })
  await ort.load(init.load)
  const warmupMs: Record<string, number> = {}
  if (init.warmup) {
    for (const name of init.load) {
      const m = ort.manifest(name)
      const t0 = performance.now()
      try {
        await ort.run(name, { [m.input.name]: warmupFeed(m.input.shape) })
      } catch (err) {
        throw new StoreEdgeError('STORE_EDGE_ERR_INFERENCE', `model '${name}': warm-up run on zeros ${JSON.stringify(warmupFeed(m.input.shape).dims)} failed: ${(err as Error).message}`)
      }
      warmupMs[name] = performance.now() - t0
    }
  }
  const table: Record<string, Task> = init.testHooks ? { ...tasks, ...testTasks } : tasks

  port.on('message', async (msg: ToWorker) => {
    if (msg.type !== 'job') return
    const start = performance.now()
    let firstRun: number | undefined
    const inferMs: Record<string, number> = {}
    // The runner the task sees: the same sessions, timed per model.
    const runner: ModelRunner = {
      async run(model, feeds) {
        const t = performance.now()
        firstRun ??= t
        try {
          return await ort.run(model, feeds)
        } finally {
          inferMs[model] = (inferMs[model] ?? 0) + performance.now() - t
        }
      },
    }
    const timings = (): JobTimings => {
      const total = performance.now() - start
      const prepareMs = (firstRun ?? performance.now()) - start
      const inferTotal = Object.values(inferMs).reduce((a, b) => a + b, 0)
      return { prepareMs, inferMs, decodeMs: Math.max(0, total - prepareMs - inferTotal) }
    }
    const ctx: TaskContext = { runner, models: init.models, manifest: (n) => ort.manifest(n) }
    try {
      const task = table[msg.task]
      if (!task) throw new StoreEdgeError('STORE_EDGE_ERR_INFERENCE', `unknown task '${msg.task}'`)
      const { payload: value, transferList } = packPayload(await task(ctx, msg.payload), true)
      post({ type: 'done', id: msg.id, ok: true, value, timings: timings() }, transferList)
    } catch (err) {
      post({ type: 'done', id: msg.id, ok: false, error: wire(err), timings: timings() })
    }
  })
  post({ type: 'ready', providers: Object.fromEntries(ort.providerOf), warmupMs })
}

main().catch((err) => {
  post({ type: 'init-error', error: wire(err) })
})
