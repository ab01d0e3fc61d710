import { createHash } from 'node:crypto'
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import type { InferenceSession } from 'onnxruntime-node'
import { StoreEdgeError } from '../edge/contracts/errors.ts'
import { ModelManifest, type OutputSpec } from './manifest.ts'
import { defaultModelsDir, manifestsDir } from './paths.ts'

/**
 * The model registry: manifests (ours in models/manifests, a user's in extra directories) and the
 * checks that a model file on disk is the one its manifest describes. Every error names the model,
 * what does not match and how to fix it.
 */

export interface RegistryEntry {
  manifest: ModelManifest
  manifestPath: string
}
export type ModelRegistry = Map<string, RegistryEntry>

/** Read and validate one manifest; STORE_EDGE_ERR_MODEL_MANIFEST lists every schema error with its path. */
export function loadManifestFile(path: string): ModelManifest {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_MANIFEST', `cannot read ${path}: ${(err as Error).message}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_MANIFEST', `${path} is not valid JSON: ${(err as Error).message}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_MANIFEST', `${path}: a manifest must be a JSON object`)
  }
  const value = Value.Default(ModelManifest, structuredClone(raw))
  const errors = [...Value.Errors(ModelManifest, value)]
  if (errors.length > 0) {
    const name = typeof (raw as { name?: unknown }).name === 'string' ? `model '${(raw as { name: string }).name}', ` : ''
    const lines = errors.slice(0, 100).map((e) => `  ${e.path || '/'}: ${e.message}`)
    throw new StoreEdgeError(
      'STORE_EDGE_ERR_MODEL_MANIFEST',
      `${name}${path} (see models/manifest.ts for the schema):\n${lines.join('\n')}`,
    )
  }
  const manifest = value as ModelManifest
  const problems = manifestProblems(manifest)
  if (problems.length) {
    throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_MANIFEST', `model '${manifest.name}', ${path}:\n${problems.map((p) => `  ${p}`).join('\n')}`)
  }
  return manifest
}

/** Rules the schema cannot say. */
function manifestProblems(m: ModelManifest): string[] {
  const out: string[] = []
  const rank = m.input.shape.length
  if (rank === 4) {
    const c = m.input.layout === 'NCHW' ? m.input.shape[1] : m.input.shape[3]
    if (c !== null && c !== 3) out.push(`/input/shape: ${m.input.layout} channel dimension is ${c}, the runtime feeds 3 (RGB or BGR)`)
  }
  const names = new Set<string>()
  m.outputs.forEach((o, i) => {
    if (names.has(o.name)) out.push(`/outputs/${i}/name: '${o.name}' is listed twice`)
    names.add(o.name)
  })
  return out
}

/**
 * Every manifest in our directory plus `dirs` (a user's own models). A name defined twice is an
 * error naming both files: the runtime must never guess which one is meant.
 */
export function loadRegistry(opts: { dirs?: string[]; includeOurs?: boolean } = {}): ModelRegistry {
  const dirs = [...(opts.includeOurs === false ? [] : [manifestsDir()]), ...(opts.dirs ?? [])]
  const registry: ModelRegistry = new Map()
  for (const dir of dirs) {
    if (!existsSync(dir)) {
      if (dir === manifestsDir()) continue
      throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_MANIFEST', `manifest directory ${dir} does not exist (vision.manifestDirs)`)
    }
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
      const manifestPath = resolve(dir, file)
      const manifest = loadManifestFile(manifestPath)
      const other = registry.get(manifest.name)
      if (other) {
        throw new StoreEdgeError(
          'STORE_EDGE_ERR_MODEL_MANIFEST',
          `model '${manifest.name}' is defined twice: ${other.manifestPath} and ${manifestPath}; rename one (names are unique)`,
        )
      }
      registry.set(manifest.name, { manifest, manifestPath })
    }
  }
  return registry
}

/** The registry entry of `name`, or an error that lists the names there are. */
export function getModel(registry: ModelRegistry, name: string): RegistryEntry {
  const entry = registry.get(name)
  if (!entry) {
    throw new StoreEdgeError(
      'STORE_EDGE_ERR_MODEL_MANIFEST',
      `no manifest for model '${name}'; known: ${[...registry.keys()].sort().join(', ') || '(none)'}. Add a manifest to models/manifests or to a directory in vision.manifestDirs`,
    )
  }
  return entry
}

/** Where the model's .onnx file is: `file` relative to the models directory, or absolute. */
export function modelPath(manifest: ModelManifest, modelsDir: string = defaultModelsDir()): string {
  return isAbsolute(manifest.file) ? manifest.file : join(modelsDir, manifest.file)
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

function howToGet(manifest: ModelManifest): string {
  return manifest.build.kind === 'none'
    ? `it is a user model (build.kind none): put the ONNX file there, or fix 'file' in its manifest`
    : `run \`store-edge models build ${manifest.name}\` (or point vision.modelsDir / STORE_EDGE_MODELS_DIR at the directory that holds it)`
}

/** Minimal view of an ORT session's signature, so the check works on any session (runner, worker, tools). */
export interface SessionSignature {
  inputNames: readonly string[]
  outputNames: readonly string[]
  inputMetadata: readonly InferenceSession.ValueMetadata[]
  outputMetadata: readonly InferenceSession.ValueMetadata[]
}

const fmtShape = (s: ReadonlyArray<number | string | null>) => `[${s.map((d) => (d === null ? 'null' : typeof d === 'string' ? `'${d}'` : d)).join(', ')}]`

function compareShape(what: string, expected: ReadonlyArray<number | null>, meta: InferenceSession.ValueMetadata | undefined): string[] {
  if (!meta || !meta.isTensor) return meta ? [`${what} is not a tensor in the model`] : []
  const out: string[] = []
  if (meta.type !== 'float32') out.push(`${what} has element type ${meta.type}, the runtime feeds and reads float32`)
  const actual = meta.shape
  if (actual.length === 0) return out // shape not recorded in the graph: nothing to compare
  if (actual.length !== expected.length) {
    out.push(`${what} has rank ${actual.length} ${fmtShape(actual)}, the manifest says rank ${expected.length} ${fmtShape(expected)}`)
    return out
  }
  expected.forEach((e, i) => {
    const a = actual[i]
    // A null in the manifest accepts anything; a symbolic dimension in the model accepts the manifest's size.
    if (e !== null && typeof a === 'number' && a >= 0 && a !== e) {
      out.push(`${what} dimension ${i} is ${a} in the model, the manifest says ${e} (model ${fmtShape(actual)}, manifest ${fmtShape(expected)})`)
    }
  })
  return out
}

/** Differences between a manifest's input/outputs and a loaded session; empty when they agree. */
export function signatureProblems(manifest: ModelManifest, session: SessionSignature): string[] {
  const problems: string[] = []
  const inName = manifest.input.name
  if (!session.inputNames.includes(inName)) {
    problems.push(`input '${inName}' is not in the model; its inputs are: ${session.inputNames.map((n) => `'${n}'`).join(', ')}`)
  } else {
    problems.push(...compareShape(`input '${inName}'`, manifest.input.shape, session.inputMetadata.find((m) => m.name === inName)))
  }
  const extra = session.inputNames.filter((n) => n !== inName)
  if (extra.length) problems.push(`the model has inputs the runtime does not feed: ${extra.map((n) => `'${n}'`).join(', ')}`)
  for (const o of manifest.outputs as OutputSpec[]) {
    if (!session.outputNames.includes(o.name)) {
      problems.push(`output '${o.name}' is not in the model; its outputs are: ${session.outputNames.map((n) => `'${n}'`).join(', ')}`)
      continue
    }
    problems.push(...compareShape(`output '${o.name}'`, o.shape, session.outputMetadata.find((m) => m.name === o.name)))
  }
  return problems
}

export function assertSignature(manifest: ModelManifest, session: SessionSignature, file: string): void {
  const problems = signatureProblems(manifest, session)
  if (problems.length) {
    throw new StoreEdgeError(
      'STORE_EDGE_ERR_MODEL_MISMATCH',
      `model '${manifest.name}' (${file}):\n${problems.map((p) => `  ${p}`).join('\n')}\n` +
        `Fix the manifest's input/outputs to match the model (inspect it with Netron or onnxruntime's inputMetadata), or rebuild it with \`store-edge models build ${manifest.name} --force\``,
    )
  }
}

/** Missing or wrong-hash file: the errors the runtime and the build share. Resolves to the file's path. */
export async function verifyModelHash(manifest: ModelManifest, modelsDir: string = defaultModelsDir()): Promise<string> {
  const file = modelPath(manifest, modelsDir)
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_MISSING', `model '${manifest.name}': ${file} does not exist; ${howToGet(manifest)}`)
  }
  const actual = await sha256File(file)
  if (actual !== manifest.sha256) {
    throw new StoreEdgeError(
      'STORE_EDGE_ERR_MODEL_CORRUPT',
      `model '${manifest.name}': ${file} has sha256 ${actual}, the manifest says ${manifest.sha256}; ` +
        (manifest.build.kind === 'none'
          ? `replace the file with the one the manifest describes, or update 'sha256' in the manifest if the new file is intended`
          : `rebuild it with \`store-edge models build ${manifest.name} --force\``),
    )
  }
  return file
}

/**
 * The file exists, has the manifest's sha256, and onnxruntime opens it with the inputs and outputs
 * the manifest names (fixed dimensions equal, null dimensions anything).
 */
export async function verifyModelFile(manifest: ModelManifest, modelsDir: string = defaultModelsDir()): Promise<void> {
  const file = await verifyModelHash(manifest, modelsDir)
  const ort = await import('onnxruntime-node')
  let session: InferenceSession
  try {
    session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, interOpNumThreads: 1 })
  } catch (err) {
    throw new StoreEdgeError(
      'STORE_EDGE_ERR_MODEL_CORRUPT',
      `model '${manifest.name}': onnxruntime cannot open ${file} (${(err as Error).message.split('\n')[0]}); rebuild it with \`store-edge models build ${manifest.name} --force\``,
    )
  }
  try {
    assertSignature(manifest, session, file)
  } finally {
    await session.release()
  }
}
