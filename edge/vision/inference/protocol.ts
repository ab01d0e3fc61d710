import type { ExecutionProvider } from './ort-runner.ts'

/**
 * Messages between the InferenceService (main thread) and its workers. Plain data: typed arrays
 * travel in the transfer list (moved, not copied).
 */

/** Which registry model serves each task ('' = the task is off). Mirrors config vision.models. */
export interface TaskModels {
  person: string
  faceDetect: string
  faceEmbed: string
  plateDet: string
  plateRec: string
  plateCls: string
}

export interface WorkerInit {
  modelsDir: string
  manifestDirs: string[]
  /** Load our committed manifests too (tests that bring their own set this false). */
  includeOurManifests: boolean
  threads: number
  providers: ExecutionProvider[]
  models: TaskModels
  /** Models whose sessions are created (and warmed up) before the worker reports ready. */
  load: string[]
  warmup: boolean
  /** Accept the test-only tasks (__crash, __sleep, __echo). */
  testHooks: boolean
}

export interface WireError {
  code: string
  message: string
}

export interface JobTimings {
  /** From job start in the worker to the first model run. */
  prepareMs: number
  /** Time inside onnxruntime, per model. */
  inferMs: Record<string, number>
  /** The rest: decoders, crops between stages, result building. */
  decodeMs: number
}

export type ToWorker = { type: 'job'; id: number; task: string; payload: unknown }

export type FromWorker =
  | { type: 'ready'; providers: Record<string, ExecutionProvider>; warmupMs: Record<string, number> }
  | { type: 'init-error'; error: WireError }
  | { type: 'log'; level: 'info' | 'warn'; obj: Record<string, unknown>; msg: string }
  | { type: 'done'; id: number; ok: true; value: unknown; timings: JobTimings }
  | { type: 'done'; id: number; ok: false; error: WireError; timings?: JobTimings }

/**
 * The buffers of every typed array in a value that owns its whole buffer (so moving it cannot
 * detach memory the sender shares with something else, like Node's Buffer pool). Each buffer once.
 */
export function transferablesOf(value: unknown, out: Set<ArrayBuffer> = new Set(), depth = 0): ArrayBuffer[] {
  if (depth > 6 || value === null || typeof value !== 'object') return [...out]
  if (ArrayBuffer.isView(value)) {
    const buf = value.buffer
    if (buf instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === buf.byteLength && buf.byteLength > 0) out.add(buf)
    return [...out]
  }
  if (Array.isArray(value)) {
    for (const v of value) transferablesOf(v, out, depth + 1)
  } else {
    for (const v of Object.values(value)) transferablesOf(v, out, depth + 1)
  }
  return [...out]
}
