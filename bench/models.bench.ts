/**
 * Models benchmark: the on-device models on real images, per image, through the same pipeline
 * functions the inference workers run (prepare with the manifest's input spec → onnxruntime →
 * decode), on the main thread so the figures are the model work, not the worker hop.
 *  - person: 24 frames of vtest.avi (768×576) → detectPersons (the configured person model, 416×416);
 *  - faceDet: the opencv-doc face photos → detectFaces (blazeface 256×256);
 *  - faceEmbed: every face found there → embedFace (crop, eye alignment, embedding), per face;
 *  - plate: 24 composited 1280×720 frames (Chinese plates on real photos) → readPlates.
 * Each figure is the median milliseconds per image (per face for embeddings). The headline run is
 * pinned to ONE core (`taskset` on every thread of this process, onnxruntime intra-op threads 1);
 * the same is then run on both cores with 2 intra-op threads and logged. CPU milliseconds per image
 * and model-only (session.run) medians are logged beside the wall figures. parityMaxAbsDiff is the
 * largest difference TF.js (pure-JS CPU backend) vs onnxruntime over the converted fp32 models.
 * Progress goes to stderr; the last stdout line is the JSON result.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { resolveConfig } from '../edge/core/config.ts'
import { createOrtRunner } from '../edge/vision/inference/ort-runner.ts'
import { decodeImage } from '../edge/vision/inference/preprocess.ts'
import type { FaceDetection, ModelRunner, RawImage, Tensor } from '../edge/vision/inference/types.ts'
import { detectPersons } from '../edge/vision/pipelines/person.ts'
import { detectFaces } from '../edge/vision/pipelines/face.ts'
import { embedFace } from '../edge/vision/pipelines/embed.ts'
import { readPlates } from '../edge/vision/plates/plate-reader.ts'
import { ensureModels } from '../models/build.ts'
import { parity } from '../models/convert/parity.ts'
import { getModel, loadRegistry } from '../models/registry.ts'
import { synthFrame } from '../tests/fixtures/plates/synth.ts'

const log = (msg: string) => process.stderr.write(`[bench models] ${msg}\n`)
const quiet = pino({ level: process.env.BENCH_LOG ?? 'silent' }, pino.destination(2))
const DATA = '/usr/share/doc/opencv-doc/examples/data'
const HTML = '/usr/share/doc/opencv-doc/opencv4/html'
const FACE_PHOTOS = [
  `${HTML}/227943776_1.jpg`,
  `${HTML}/230501201_1.jpg`,
  `${HTML}/facereg.jpg`,
  `${HTML}/example.jpg`,
  `${HTML}/ab.jpg`,
  `${HTML}/ab-1.jpg`,
  `${HTML}/julia_facedetect_sample.jpg`,
  `${HTML}/3.jpg`,
  `${DATA}/messi5.jpg`,
  `${DATA}/basketball1.png`,
]
const FRAMES = Number(process.env.BENCH_FRAMES ?? 24)
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3)

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.floor(s.length / 2)]! : NaN
}
const r2 = (x: number) => Math.round(x * 100) / 100

const cfg = resolveConfig({})
const names = {
  person: cfg.vision.models.person,
  faceDet: cfg.vision.models.faceDetect,
  faceEmbed: cfg.vision.models.faceEmbed,
  plateDet: cfg.vision.models.plateDet,
  plateRec: cfg.vision.models.plateRec,
  plateCls: 'ppocr-cls',
}
log(`machine: ${cpus().length} cores (${cpus()[0]?.model}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
log(`models: ${JSON.stringify(names)}`)

const registry = loadRegistry()
log('building any model that is missing (store-edge models build) …')
await ensureModels(Object.values(names))

// Inputs, decoded once.
const frameDir = mkdtempSync(join(tmpdir(), 'bench-models-'))
execFileSync('ffmpeg', ['-v', 'error', '-i', `${DATA}/vtest.avi`, '-vf', `select=not(mod(n\\,33))`, '-vsync', '0', '-frames:v', String(FRAMES), join(frameDir, 'f%03d.png')])
const frames: RawImage[] = []
for (const f of readdirSync(frameDir).sort()) frames.push(await decodeImage(readFileSync(join(frameDir, f))))
rmSync(frameDir, { recursive: true, force: true })
const photos: RawImage[] = []
for (const f of FACE_PHOTOS) photos.push(await decodeImage(readFileSync(f)))
const plates: Array<{ img: RawImage; plate: string }> = []
for (let i = 0; i < FRAMES; i++) {
  const s = synthFrame(9000 + i)
  const f = await s
  plates.push({ img: await decodeImage(f.jpeg), plate: f.plate })
}
log(`inputs: ${frames.length} vtest frames, ${photos.length} face photos, ${plates.length} plate frames`)

/** A runner that records session.run time per model (model-only latency). */
function timed(runner: ModelRunner) {
  const runs = new Map<string, number[]>()
  return {
    runs,
    run: async (model: string, feeds: Record<string, Tensor>) => {
      const t0 = performance.now()
      const out = await runner.run(model, feeds)
      const list = runs.get(model) ?? []
      list.push(performance.now() - t0)
      runs.set(model, list)
      return out
    },
  }
}

function pin(cpuList: string) {
  // -a: every thread of the process (onnxruntime's pool, libuv's, sharp's), now and those they spawn.
  execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(process.pid)], { stdio: 'ignore' })
}

async function measure(threads: number) {
  const ort = createOrtRunner(registry, { threads, log: quiet })
  await ort.load(Object.values(names))
  const runner = timed(ort)
  const m = (n: string) => getModel(registry, n).manifest
  const person = m(names.person)
  const faceDet = m(names.faceDet)
  const faceEmbed = m(names.faceEmbed)
  const ocr = { det: m(names.plateDet), rec: m(names.plateRec), cls: m(names.plateCls) }

  async function perItem<T>(label: string, items: T[], fn: (x: T) => Promise<unknown>, afterWarmup = () => {}) {
    for (const x of items.slice(0, 3)) await fn(x) // warm-up
    afterWarmup()
    runner.runs.clear()
    const wall: number[] = []
    const cpu0 = process.cpuUsage()
    for (let r = 0; r < REPEAT; r++) {
      for (const x of items) {
        const t0 = performance.now()
        await fn(x)
        wall.push(performance.now() - t0)
      }
    }
    const c = process.cpuUsage(cpu0)
    const cpuMs = (c.user + c.system) / 1000 / wall.length
    const model = Object.fromEntries([...runner.runs].map(([k, v]) => [k, r2(median(v))]))
    log(`  ${label}: median ${median(wall).toFixed(2)} ms per item (p90 ${r2([...wall].sort((a, b) => a - b)[Math.floor(wall.length * 0.9)]!)}), CPU ${cpuMs.toFixed(2)} ms per item, session.run medians ${JSON.stringify(model)}`)
    return { ms: r2(median(wall)), cpuMs: r2(cpuMs), model }
  }

  let people = 0
  const personR = await perItem(
    'person',
    frames,
    async (f) => {
      people += (await detectPersons(runner, person, f)).length
    },
    () => (people = 0),
  )
  const faces: Array<{ img: RawImage; face: FaceDetection }> = []
  let collect = true
  const faceR = await perItem(
    'faceDet',
    photos,
    async (p) => {
      const found = await detectFaces(runner, faceDet, p)
      if (collect) for (const face of found) faces.push({ img: p, face })
    },
    () => {
      faces.length = 0
    },
  )
  // The faces of one pass over the photos (the first measured repeat).
  const uniqueFaces = faces.slice(0, Math.round(faces.length / REPEAT))
  collect = false
  const embedR = await perItem('faceEmbed', uniqueFaces, (x) => embedFace(runner, faceEmbed, x.img, x.face))
  let exact = 0
  let reads = 0
  const plateR = await perItem(
    'plate',
    plates,
    async (p) => {
      const got = await readPlates(runner, ocr, p.img)
      reads++
      if (got[0]?.plate === p.plate) exact++
    },
    () => (exact = reads = 0),
  )
  log(`  people found per vtest frame ${(people / (REPEAT * frames.length)).toFixed(1)}, faces ${uniqueFaces.length}, plates exact ${exact}/${reads}`)
  await ort.close()
  return { personR, faceR, embedR, plateR, exact, reads, faces: uniqueFaces.length }
}

log('one core: taskset -c 0, intra-op threads 1')
pin('0')
const one = await measure(1)
const two = await (async () => {
  if (cpus().length < 2) return undefined
  log('two cores: taskset -c 0,1, intra-op threads 2')
  pin('0,1')
  return measure(2)
})()
pin(cpus().map((_, i) => i).join(','))

log('parity: TF.js CPU backend vs onnxruntime on every converted fp32 model …')
const perModel: Record<string, number> = {}
for (const [name, { manifest }] of registry) {
  if (manifest.build.kind !== 'tfjs-graph' || ('quantize' in manifest.build && manifest.build.quantize)) continue
  await ensureModels([name])
  perModel[name] = (await parity(manifest)).maxAbsDiff
  log(`  ${name}: max abs diff ${perModel[name]!.toExponential(2)}`)
}
const parityMax = Math.max(...Object.values(perModel))

if (two) {
  log(
    `two threads: person ${two.personR.ms} ms, faceDet ${two.faceR.ms} ms, faceEmbed ${two.embedR.ms} ms, plate ${two.plateR.ms} ms ` +
      `(one core: ${one.personR.ms} / ${one.faceR.ms} / ${one.embedR.ms} / ${one.plateR.ms})`,
  )
}
console.log(
  JSON.stringify({
    bench: 'models',
    personMs: one.personR.ms,
    faceDetMs: one.faceR.ms,
    faceEmbedMs: one.embedR.ms,
    plateMs: one.plateR.ms,
    parityMaxAbsDiff: Number(parityMax.toExponential(2)),
    threads: 1,
    models: names,
    modelOnlyMs: { ...one.personR.model, ...one.faceR.model, ...one.embedR.model, ...one.plateR.model },
    cpuMsPerItem: { person: one.personR.cpuMs, faceDet: one.faceR.cpuMs, faceEmbed: one.embedR.cpuMs, plate: one.plateR.cpuMs },
    plateExact: `${one.exact}/${one.reads}`,
    twoThreads: two ? { personMs: two.personR.ms, faceDetMs: two.faceR.ms, faceEmbedMs: two.embedR.ms, plateMs: two.plateR.ms } : null,
  }),
)
