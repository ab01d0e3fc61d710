import * as ort from 'onnxruntime-node'
import { StoreEdgeError } from '../../contracts/errors.ts'
import type { ModelManifest } from '../../../models/manifest.ts'
import { assertSignature, getModel, modelPath, verifyModelHash, type ModelRegistry } from '../../../models/registry.ts'
import { defaultModelsDir } from '../../../models/paths.ts'
import type { ModelRunner, Tensor } from './types.ts'

/**
 * ModelRunner over onnxruntime-node: one InferenceSession per model, created once (on first use or
 * eagerly through load()), and checked against its manifest when created (sha256, names, fixed dims).
 * Execution providers follow the config; CUDA is used only where its provider library loads, else
 * the runner falls back to CPU once and says so.
 */

export type ExecutionProvider = 'cpu' | 'cuda'

export interface OrtRunnerOptions {
  modelsDir?: string
  /** Intra-op threads per session (1 = one core per inference). */
  threads?: number
  /** Inter-op threads per session (parallel branches of a graph; 1 is right for these models). */
  interOpThreads?: number
  providers?: ExecutionProvider[]
  /** Hash the file and compare its signature with the manifest when a session is created (default true). */
  verify?: boolean
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
}

export interface OrtRunner extends ModelRunner {
  /** Create the sessions of these models now (start-up), rather than on first use. */
  load(names: string[]): Promise<void>
  manifest(name: string): ModelManifest
  /** The execution provider each loaded model actually runs on. */
  readonly providerOf: ReadonlyMap<string, ExecutionProvider>
  /** Release every session; runs after this reject with STORE_EDGE_ERR_INFERENCE_STOPPED. */
  close(): Promise<void>
}

interface Loaded {
  session: ort.InferenceSession
  manifest: ModelManifest
  inputs: Map<string, ReadonlyArray<number | string>>
}

function toFloat32(t: ort.Tensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data
  const src = t.data as ArrayLike<number | bigint>
  const out = new Float32Array(src.length)
  for (let i = 0; i < src.length; i++) out[i] = Number(src[i])
  return out
}

/** The feed must have the rank and the fixed dimensions the model declares, and as many values as its dims say. */
function checkFeed(model: string, name: string, t: Tensor, declared: ReadonlyArray<number | string> | undefined): void {
  if (!declared) throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', `model '${model}' has no input '${name}'`)
  if (!(t.data instanceof Float32Array) || !Array.isArray(t.dims) || !t.dims.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', `model '${model}' input '${name}': expected a Float32Array with positive integer dims`)
  }
  const n = t.dims.reduce((a, b) => a * b, 1)
  if (n !== t.data.length) {
    throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', `model '${model}' input '${name}': dims [${t.dims.join(', ')}] need ${n} values, got ${t.data.length}`)
  }
  if (declared.length && declared.length !== t.dims.length) {
    throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', `model '${model}' input '${name}': rank ${t.dims.length}, the model takes rank ${declared.length}`)
  }
  declared.forEach((d, i) => {
    if (typeof d === 'number' && d >= 0 && d !== t.dims[i]) {
      throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', `model '${model}' input '${name}': dimension ${i} is ${t.dims[i]}, the model takes ${d}`)
    }
  })
}

export function createOrtRunner(registry: ModelRegistry, opts: OrtRunnerOptions = {}): OrtRunner {
  const modelsDir = opts.modelsDir ?? defaultModelsDir()
  const threads = opts.threads ?? 1
  const interOp = opts.interOpThreads ?? 1
  const wanted = opts.providers?.length ? opts.providers : (['cpu'] as ExecutionProvider[])
  const verify = opts.verify !== false
  const sessions = new Map<string, Promise<Loaded>>()
  const providerOf = new Map<string, ExecutionProvider>()
  // Set once CUDA failed to load: every later session goes straight to CPU without another try.
  let cudaFailed = false
  let closed = false

  async function create(name: string): Promise<Loaded> {
    const { manifest } = getModel(registry, name)
    const file = verify ? await verifyModelHash(manifest, modelsDir) : modelPath(manifest, modelsDir)
    const base: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: interOp,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
    }
    let session: ort.InferenceSession | undefined
    let provider: ExecutionProvider = 'cpu'
    if (wanted.includes('cuda') && !cudaFailed) {
      try {
        session = await ort.InferenceSession.create(file, { ...base, executionProviders: ['cuda', 'cpu'] })
        provider = 'cuda'
      } catch (err) {
        cudaFailed = true
        opts.log?.warn(
          { model: name, err: (err as Error).message.split('\n')[0] },
          'CUDA execution provider unavailable (onnxruntime-node CUDA binaries not installed or no GPU); falling back to CPU',
        )
      }
    }
    if (!session) {
      try {
        session = await ort.InferenceSession.create(file, { ...base, executionProviders: ['cpu'] })
      } catch (err) {
        throw new StoreEdgeError(
          'STORE_EDGE_ERR_MODEL_CORRUPT',
          `model '${name}': onnxruntime cannot open ${file} (${(err as Error).message.split('\n')[0]}); rebuild it with \`store-edge models build ${name} --force\``,
        )
      }
    }
    if (verify) {
      try {
        assertSignature(manifest, session, file)
      } catch (err) {
        await session.release()
        throw err
      }
    }
    providerOf.set(name, provider)
    const inputs = new Map<string, ReadonlyArray<number | string>>()
    for (const m of session.inputMetadata) inputs.set(m.name, m.isTensor ? m.shape : [])
    opts.log?.info({ model: name, provider, threads }, 'model session ready')
    return { session, manifest, inputs }
  }

  function get(name: string): Promise<Loaded> {
    if (closed) return Promise.reject(new StoreEdgeError('STORE_EDGE_ERR_INFERENCE_STOPPED', `model '${name}': the runner is closed`))
    let p = sessions.get(name)
    if (!p) {
      p = create(name)
      sessions.set(name, p)
      // A failed load is not cached: the file may be built or fixed before the next try.
      p.catch(() => sessions.delete(name))
    }
    return p
  }

  return {
    providerOf,
    async load(names) {
      await Promise.all(names.map((n) => get(n)))
    },
    manifest(name) {
      return getModel(registry, name).manifest
    },
    async run(model, feeds) {
      const { session, inputs } = await get(model)
      const ortFeeds: Record<string, ort.Tensor> = {}
      for (const [name, t] of Object.entries(feeds)) {
        checkFeed(model, name, t, inputs.get(name))
        ortFeeds[name] = new ort.Tensor('float32', t.data, t.dims)
      }
      const missing = session.inputNames.filter((n) => !(n in ortFeeds))
      if (missing.length) throw new StoreEdgeError('STORE_EDGE_ERR_BAD_FRAME', `model '${model}': no feed for input ${missing.map((n) => `'${n}'`).join(', ')}`)
      let out: ort.InferenceSession.ReturnType
      try {
        out = await session.run(ortFeeds)
      } catch (err) {
        throw new StoreEdgeError('STORE_EDGE_ERR_INFERENCE', `model '${model}': ${(err as Error).message.split('\n')[0]}`)
      }
      const result: Record<string, Tensor> = {}
      for (const [name, v] of Object.entries(out)) {
        const t = v as ort.Tensor
        result[name] = { dims: t.dims.map(Number), data: toFloat32(t) }
      }
      return result
    },
    async close() {
      closed = true
      const all = [...sessions.values()]
      sessions.clear()
      for (const p of all) {
        try {
          await (await p).session.release()
        } catch {
          // a session that failed to load has nothing to release
        }
      }
    },
  }
}
