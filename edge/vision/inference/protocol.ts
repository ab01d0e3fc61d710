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

type View = ArrayBufferView & { buffer: ArrayBufferLike }

/** A compact copy of a view: only its own bytes, in a buffer of its own. */
function compact(view: View): ArrayBufferView {
  const buf = (view.buffer as ArrayBuffer).slice(view.byteOffset, view.byteOffset + view.byteLength)
  if (view instanceof Buffer || view instanceof DataView) return view instanceof DataView ? new DataView(buf) : new Uint8Array(buf)
  const Ctor = view.constructor as new (b: ArrayBuffer) => ArrayBufferView
  return new Ctor(buf)
}

/**
 * Ready a payload for postMessage. Structured clone copies a typed array's whole underlying buffer,
 * so a small view into a large buffer (a frame inside a decoder's ring buffer, a pooled Buffer)
 * would copy all of it: such views are replaced by compact copies. With `transfer`, views that own
 * their buffer are moved as they are (the caller's array is detached); without it everything is
 * copied compactly, and the copies are moved. Objects and arrays are copied only where a child changed.
 */
export function packPayload(value: unknown, transfer: boolean): { payload: unknown; transferList: ArrayBuffer[] } {
  const list = new Set<ArrayBuffer>()
  const walk = (v: unknown, depth: number): unknown => {
    if (depth > 6 || v === null || typeof v !== 'object') return v
    if (ArrayBuffer.isView(v)) {
      const view = v as View
      const owns = view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength
      if (transfer && owns) {
        if (view.byteLength > 0) list.add(view.buffer as ArrayBuffer)
        return view
      }
      const copy = compact(view)
      if (copy.byteLength > 0) list.add(copy.buffer as ArrayBuffer)
      return copy
    }
    if (Array.isArray(v)) {
      let changed = false
      const out = v.map((x) => {
        const y = walk(x, depth + 1)
        if (y !== x) changed = true
        return y
      })
      return changed ? out : v
    }
    let out: Record<string, unknown> | undefined
    for (const [k, x] of Object.entries(v)) {
      const y = walk(x, depth + 1)
      if (y !== x) (out ??= { ...(v as Record<string, unknown>) })[k] = y
    }
    return out ?? v
  }
  const payload = walk(value, 0)
  return { payload, transferList: [...list] }
}
