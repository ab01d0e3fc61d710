import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { sourcePackageDir } from '../build.ts'
import type { ModelManifest } from '../manifest.ts'
import { getModel, loadRegistry, modelPath } from '../registry.ts'
import { defaultModelsDir } from '../paths.ts'
import { readTfjsGraph, type TfjsGraph } from './tfjs-model.ts'

/**
 * Numerical parity of a converted model: the same inputs through the original TF.js graph model
 * (@tensorflow/tfjs-core with the pure-JS CPU backend and tfjs-converter) and through the ONNX file
 * in onnxruntime-node. Inputs are a real photo (Debian opencv-doc's messi5.jpg, resized and
 * normalised as the manifest says) and a seeded random tensor.
 */

export interface Feed {
  dims: number[]
  data: Float32Array
}

export interface ParityResult {
  model: string
  maxAbsDiff: number
  /** Max abs difference per output name (over all inputs). */
  perOutput: Record<string, number>
  /** What was fed, for the report. */
  inputs: string[]
}

export const PARITY_IMAGE = '/usr/share/doc/opencv-doc/examples/data/messi5.jpg'

type Tf = typeof import('@tensorflow/tfjs-core')
let tfPromise: Promise<Tf> | undefined

/** TF.js with the CPU backend only (no tfjs-node: the reference must be the pure-JS kernels). */
export function loadTf(): Promise<Tf> {
  tfPromise ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core')
    // PROD silences TF.js' console advice to install tfjs-node; the reference must stay pure JS.
    tf.env().set('PROD', true)
    await import('@tensorflow/tfjs-backend-cpu')
    await tf.setBackend('cpu')
    await tf.ready()
    return tf
  })()
  return tfPromise
}

/** Run a TF.js graph model (read from disk, no fetch) on `feeds`, returning the named outputs. */
export async function runTfjs(graph: TfjsGraph, feeds: Record<string, Feed>, outputs: string[]): Promise<Record<string, Feed>> {
  const tf = await loadTf()
  const { loadGraphModel } = await import('@tensorflow/tfjs-converter')
  const mj = graph.modelJson
  const handler = {
    load: async () => ({
      modelTopology: mj.modelTopology,
      weightSpecs: graph.weightSpecs,
      weightData: graph.weightData,
      format: mj.format,
      generatedBy: mj.generatedBy,
      convertedBy: mj.convertedBy,
      signature: mj.signature,
      userDefinedMetadata: mj.userDefinedMetadata,
    }),
  }
  // The IOHandler type wants the full ModelArtifacts; ours is that shape read from disk.
  const model = await loadGraphModel(handler as unknown as Parameters<typeof loadGraphModel>[0])
  const inputs: Record<string, import('@tensorflow/tfjs-core').Tensor> = {}
  for (const [name, f] of Object.entries(feeds)) inputs[name] = tf.tensor(f.data, f.dims, 'float32')
  try {
    const res = model.execute(inputs, outputs) as import('@tensorflow/tfjs-core').Tensor | import('@tensorflow/tfjs-core').Tensor[]
    const list = Array.isArray(res) ? res : [res]
    const out: Record<string, Feed> = {}
    list.forEach((t, i) => {
      out[outputs[i]!] = { dims: [...t.shape], data: Float32Array.from(t.dataSync() as Float32Array) }
      t.dispose()
    })
    return out
  } finally {
    for (const t of Object.values(inputs)) t.dispose()
    model.dispose()
  }
}

/** Run an ONNX model (path or bytes) in onnxruntime-node on one thread. */
export async function runOnnx(model: string | Uint8Array, feeds: Record<string, Feed>, outputs: string[]): Promise<Record<string, Feed>> {
  const ort = await import('onnxruntime-node')
  const session = typeof model === 'string'
    ? await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 })
    : await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 })
  try {
    const f: Record<string, InstanceType<typeof ort.Tensor>> = {}
    for (const [name, v] of Object.entries(feeds)) f[name] = new ort.Tensor('float32', v.data, v.dims)
    const res = await session.run(f, outputs)
    const out: Record<string, Feed> = {}
    for (const name of outputs) {
      const t = res[name]!
      out[name] = { dims: [...t.dims], data: Float32Array.from(t.data as Float32Array) }
    }
    return out
  } finally {
    await session.release()
  }
}

export function maxAbsDiff(a: Feed, b: Feed): number {
  if (a.data.length !== b.data.length) return Infinity
  let m = 0
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!)
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d
  }
  return m
}

/** A deterministic uniform random tensor (mulberry32). */
export function seededTensor(dims: number[], seed: number, lo = -1, hi = 1): Feed {
  let s = seed >>> 0
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const n = dims.reduce((a, b) => a * b, 1)
  const data = new Float32Array(n)
  for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * next()
  return { dims, data }
}

/** The manifest's input as a concrete shape (batch 1 where dynamic). */
function concreteShape(m: ModelManifest): number[] {
  return m.input.shape.map((d, i) => (d === null ? (i === 0 ? 1 : 0) : d))
}

/** messi5.jpg stretched to the input size, normalised per the manifest (colour order, mean/std, layout). */
export async function imageFeed(m: ModelManifest, path = PARITY_IMAGE): Promise<Feed | undefined> {
  if (!existsSync(path)) return undefined
  const dims = concreteShape(m)
  const nchw = m.input.layout === 'NCHW'
  const [h, w] = nchw ? [dims[2]!, dims[3]!] : [dims[1]!, dims[2]!]
  if (!h || !w) return undefined
  const sharp = (await import('sharp')).default
  const raw = await sharp(path).removeAlpha().resize(w, h, { fit: 'fill' }).raw().toBuffer()
  const data = new Float32Array(h * w * 3)
  const order = m.input.colour === 'bgr' ? [2, 1, 0] : [0, 1, 2]
  for (let p = 0; p < h * w; p++) {
    for (let c = 0; c < 3; c++) {
      const v = (raw[p * 3 + order[c]!]! - m.input.mean[c]!) / m.input.std[c]!
      data[nchw ? c * h * w + p : p * 3 + c] = v
    }
  }
  return { dims, data }
}

/** Range of a normalised pixel, for the random input. */
function inputRange(m: ModelManifest): [number, number] {
  const lo = Math.min(...m.input.mean.map((mu, c) => (0 - mu) / m.input.std[c]!))
  const hi = Math.max(...m.input.mean.map((mu, c) => (255 - mu) / m.input.std[c]!))
  return [lo, hi]
}

/** Where the TF.js source model of a tfjs-graph manifest is. */
export function sourceModelJson(m: ModelManifest): string {
  if (m.build.kind !== 'tfjs-graph') throw new Error(`model '${m.name}' is not built from a TF.js graph (build.kind ${m.build.kind})`)
  return join(sourcePackageDir(m), m.build.modelJson)
}

export interface ParityOptions {
  modelsDir?: string
  /** ONNX file or bytes to check instead of the built file in modelsDir. */
  onnx?: string | Uint8Array
  /** Inputs to use instead of the photo + random tensor. */
  inputs?: Feed[]
}

/** TF.js vs onnxruntime on the same inputs; the second argument is the options or just the inputs. */
export async function parity(manifestOrName: ModelManifest | string, optsOrInputs: ParityOptions | Feed[] = {}): Promise<ParityResult> {
  const opts: ParityOptions = Array.isArray(optsOrInputs) ? { inputs: optsOrInputs } : optsOrInputs
  const m = typeof manifestOrName === 'string' ? getModel(loadRegistry(), manifestOrName).manifest : manifestOrName
  const graph = readTfjsGraph(sourceModelJson(m))
  const onnx = opts.onnx ?? modelPath(m, opts.modelsDir ?? defaultModelsDir())
  const feeds: Array<{ label: string; feed: Feed }> = []
  if (opts.inputs) opts.inputs.forEach((feed, i) => feeds.push({ label: `input ${i}`, feed }))
  else {
    const img = await imageFeed(m)
    if (img) feeds.push({ label: PARITY_IMAGE, feed: img })
    const [lo, hi] = inputRange(m)
    feeds.push({ label: `seeded random [${lo.toFixed(3)}, ${hi.toFixed(3)}]`, feed: seededTensor(concreteShape(m), 20260521, lo, hi) })
  }
  const names = m.outputs.map((o) => o.name)
  const perOutput: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]))
  for (const { feed } of feeds) {
    const a = await runTfjs(graph, { [m.input.name]: feed }, names)
    const b = await runOnnx(onnx, { [m.input.name]: feed }, names)
    for (const n of names) perOutput[n] = Math.max(perOutput[n]!, maxAbsDiff(a[n]!, b[n]!))
  }
  return { model: m.name, maxAbsDiff: Math.max(...Object.values(perOutput)), perOutput, inputs: feeds.map((f) => f.label) }
}
