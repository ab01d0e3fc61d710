import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureModels } from '../models/build.ts'
import type { ModelManifest } from '../models/manifest.ts'
import { loadRegistry } from '../models/registry.ts'
import { createOrtRunner, type OrtRunner } from '../edge/vision/inference/ort-runner.ts'
import { decodeImage } from '../edge/vision/inference/preprocess.ts'
import type { Box, Detection, FaceDetection } from '../edge/vision/inference/types.ts'
import { detectFaces } from '../edge/vision/pipelines/face.ts'
import { faceVariant, loadFaceSet, similarityStats, type Face } from './support/face-set.ts'
import { cosine, embedFace, matchThreshold } from '../edge/vision/pipelines/embed.ts'
import { detectObjects, detectPersons } from '../edge/vision/pipelines/person.ts'

/**
 * People, faces and face embeddings on the real models (NanoDet-m, BlazeFace, FaceRes; one intra-op
 * thread) and real images only: Debian's opencv-doc (vtest.avi and the sample photos).
 *
 * How the expected answers were established: every image (and every vtest frame used) was converted
 * to PNG and looked at by eye; people and faces were counted and their positions written down in
 * source pixels below. Boxes drawn into some of the photos by their authors (ab.jpg, ab-1.jpg,
 * julia_facedetect_sample.jpg, example.jpg) serve as reference face boxes. Tolerances are stated
 * beside each assertion; they come from what the models do on these images, never widened to pass.
 */

const DOC = '/usr/share/doc/opencv-doc'
const HTML = `${DOC}/opencv4/html`
const DATA = `${DOC}/examples/data`
const MODELS = ['nanodet', 'blazeface', 'faceres']

let runner: OrtRunner
let nanodet: ModelManifest
let blazeface: ModelManifest
let faceres: ModelManifest
let frameDir: string
const frames = new Map<number, Buffer>()

// vtest.avi (768×576, pedestrians seen from a first floor). People counted by eye in each frame; each
// point is roughly the middle of one person (between chest and hips), in frame pixels.
const VTEST: Record<number, Array<[number, number]>> = {
  0: [[265, 265], [515, 190], [662, 280]],
  // one far away on the top path (about 33 px tall); one mostly hidden behind the sign, only the legs show
  100: [[230, 77], [362, 238], [393, 215], [440, 235], [507, 182], [529, 182], [603, 192]],
  200: [[95, 185], [235, 230], [500, 180], [687, 125], [711, 125], [632, 315], [722, 300]],
  300: [[200, 195], [255, 190], [310, 190], [330, 255], [596, 195], [630, 198]],
  400: [[288, 240], [602, 170], [715, 355]],
  // two of them overlap (one stands right behind the other at x ≈ 580); a sliver of someone at the right edge is not counted
  500: [[320, 225], [574, 280], [590, 340], [627, 320]],
  600: [[198, 180], [580, 240], [688, 255], [472, 355], [655, 360], [305, 500]],
  // the one in red at (413, 180) stands behind another walker
  700: [[198, 200], [293, 250], [380, 210], [413, 180], [485, 165], [532, 198], [705, 265], [122, 340]],
  790: [[235, 195], [260, 230], [385, 195], [663, 175], [650, 275], [622, 315], [433, 320]],
}

beforeAll(async () => {
  await ensureModels(MODELS)
  const registry = loadRegistry()
  runner = createOrtRunner(registry, { threads: 1 })
  await runner.load(MODELS)
  nanodet = runner.manifest('nanodet')
  blazeface = runner.manifest('blazeface')
  faceres = runner.manifest('faceres')
  frameDir = mkdtempSync(join(tmpdir(), 'vtest-'))
  const select = Object.keys(VTEST).map((n) => `eq(n\\,${n})`).join('+')
  execFileSync('ffmpeg', ['-v', 'error', '-i', `${DATA}/vtest.avi`, '-vf', `select=${select}`, '-vsync', '0', join(frameDir, 'f%d.png')])
  Object.keys(VTEST).forEach((n, i) => frames.set(Number(n), readFileSync(join(frameDir, `f${i + 1}.png`))))
}, 120_000)

afterAll(async () => {
  await runner?.close()
  if (frameDir) rmSync(frameDir, { recursive: true, force: true })
})

const contains = (b: Box, [x, y]: [number, number]) => x >= b.x && x <= b.x + b.w && y >= b.y && y <= b.y + b.h
function iou(a: Box, b: Box): number {
  const iw = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x)
  const ih = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y)
  return iw <= 0 || ih <= 0 ? 0 : (iw * ih) / (a.w * a.h + b.w * b.h - iw * ih)
}
/** One-to-one match of detections to hand-marked points: a detection is a hit when its box holds a point not yet taken. */
function match(dets: Box[], truth: Array<[number, number]>) {
  const taken = new Set<number>()
  let hits = 0
  for (const d of dets) {
    const i = truth.findIndex((p, k) => !taken.has(k) && contains(d, p))
    if (i >= 0) {
      taken.add(i)
      hits++
    }
  }
  return { hits, falsePositives: dets.length - hits, misses: truth.length - hits }
}
const fmt = (d: Box & { score: number }) => `${d.score.toFixed(2)}@${Math.round(d.x)},${Math.round(d.y)},${Math.round(d.w)}x${Math.round(d.h)}`

describe('people (NanoDet-m 416, person class)', () => {
  it('vtest.avi frames: counts within ±1 of the hand count per frame, boxes on the people, upright', async () => {
    let hits = 0
    let fps = 0
    let truthTotal = 0
    const lines: string[] = []
    for (const [n, truth] of Object.entries(VTEST)) {
      const dets = await detectPersons(runner, nanodet, frames.get(Number(n))!)
      const m = match(dets, truth)
      lines.push(`frame ${n}: truth ${truth.length}, detected ${dets.length} (hits ${m.hits}, false ${m.falsePositives}, missed ${m.misses}) ${dets.map(fmt).join(' ')}`)
      // per frame: at most one person missed and at most one box not on a person
      expect(m.misses, lines.at(-1)).toBeLessThanOrEqual(1)
      expect(m.falsePositives, lines.at(-1)).toBeLessThanOrEqual(1)
      expect(Math.abs(dets.length - truth.length), lines.at(-1)).toBeLessThanOrEqual(1)
      for (const d of dets.filter((d) => truth.some((p) => contains(d, p)))) {
        // a pedestrian here is taller than wide and 25–180 px tall
        expect(d.h, fmt(d)).toBeGreaterThan(d.w)
        expect(d.h).toBeGreaterThan(25)
        expect(d.h).toBeLessThan(180)
        expect(d.label).toBe('person')
        expect(d.classId).toBe(0)
      }
      hits += m.hits
      fps += m.falsePositives
      truthTotal += truth.length
    }
    console.log(`[vision quality] people on vtest.avi:\n  ${lines.join('\n  ')}\n  recall ${hits}/${truthTotal}, precision ${hits}/${hits + fps}`)
    // over the 51 people in the nine frames: recall and precision at least 90 % (measured: 48/51 and 48/50)
    expect(hits / truthTotal).toBeGreaterThanOrEqual(0.9)
    expect(hits / (hits + fps)).toBeGreaterThanOrEqual(0.9)
  })

  it('photos: both players in basketball1.png, Messi in messi5.jpg; no people in the shuttle or the fruit', async () => {
    // basketball1.png (640×480, grey): two people — the one holding the ball (left, about x 40–160, y 85–475) fully
    // seen and facing us, and one cut by the right edge (about x 430–640), seen from behind. Both are found.
    const b1 = await detectPersons(runner, nanodet, readFileSync(`${DATA}/basketball1.png`))
    expect(b1.map(fmt)).toHaveLength(2)
    expect(b1.some((d) => contains(d, [95, 250]) && d.x + d.w < 250)).toBe(true)
    expect(b1.some((d) => contains(d, [560, 250]) && d.x > 350)).toBe(true)
    // messi5.jpg (548×342): one player in focus (the crowd behind is a blur): one box holding his body.
    const messi = await detectPersons(runner, nanodet, readFileSync(`${DATA}/messi5.jpg`))
    expect(messi.map(fmt)).toHaveLength(1)
    expect(contains(messi[0]!, [240, 90])).toBe(true) // head
    expect(contains(messi[0]!, [280, 230])).toBe(true) // shorts
    for (const f of [`${HTML}/space_shuttle.jpg`, `${DATA}/fruits.jpg`]) {
      expect((await detectPersons(runner, nanodet, readFileSync(f))).map(fmt), f).toEqual([])
    }
  })

  it('person_multi_det.jpg (a blurry 416×416 plot of a street basketball scene): a hard case, stated as measured', async () => {
    // Fourteen people, 10–35 px wide, blurred by the plot's resampling; their middles read off the image
    // (its own pixels, with a 20 px grid laid over it). NanoDet-m scores them 0.15–0.30, so the 0.35 default finds
    // none; at 0.15 it finds 8 boxes, and (matched one to one) at least 6 of them hold a person.
    const people: Array<[number, number]> = [
      [30, 235], [36, 225], [49, 232], [117, 230], [150, 230], [165, 235], [185, 240], [204, 240],
      [257, 200], [270, 215], [302, 230], [332, 240], [344, 230], [359, 250],
    ]
    const img = readFileSync(`${HTML}/person_multi_det.jpg`)
    expect(await detectPersons(runner, nanodet, img)).toEqual([])
    const low = await detectPersons(runner, nanodet, img, { scoreThreshold: 0.15 })
    const m = match(low, people)
    console.log(`[vision quality] person_multi_det.jpg at 0.15: ${low.length} boxes, ${m.hits} on people: ${low.map(fmt).join(' ')}`)
    expect(m.hits).toBeGreaterThanOrEqual(6)
  })

  it('detectObjects keeps other COCO classes (the vans and cars in vtest frame 0)', async () => {
    const all: Detection[] = await detectObjects(runner, nanodet, frames.get(0)!)
    // the white van parked at about (688, 70)
    expect(all.some((d) => (d.label === 'car' || d.label === 'truck') && contains(d, [688, 70])), all.map((d) => `${d.label} ${fmt(d)}`).join(' ')).toBe(true)
    expect(all.filter((d) => d.label === 'person')).toHaveLength(3)
  })
})

describe('faces (BlazeFace 256, back-camera model)', () => {
  // Counts by eye. 2.jpg is a 3×8 grid of 24 faces (landmark dots drawn on them, several cut by the cell
  // edges); 3.jpg a 2×6 grid of 12; facereg.jpg a 2×2 grid of 4; example.jpg three copies of one face side by
  // side; the rest one face each. messi5.jpg: one face in focus (the crowd's faces are a few blurred pixels).
  const COUNTS: Array<[string, number, number]> = [
    // [file, expected, tolerance]
    [`${HTML}/227943776_1.jpg`, 1, 0],
    [`${HTML}/230501201_1.jpg`, 1, 0],
    [`${HTML}/facereg.jpg`, 4, 0],
    [`${HTML}/example.jpg`, 3, 0],
    [`${HTML}/julia_facedetect_sample.jpg`, 1, 0],
    [`${HTML}/ab.jpg`, 1, 0],
    [`${HTML}/ab-1.jpg`, 1, 0],
    [`${HTML}/3.jpg`, 12, 0],
    [`${DATA}/messi5.jpg`, 1, 0],
    // measured 19 of 24 at the 0.5 default: the misses are faces cut by the grid cells or covered in dots
    [`${HTML}/2.jpg`, 24, 6],
  ]

  it('counts faces on the face photos', async () => {
    const lines: string[] = []
    for (const [file, n, tol] of COUNTS) {
      const faces = await detectFaces(runner, blazeface, readFileSync(file))
      lines.push(`${file.split('/').pop()}: truth ${n}, detected ${faces.length}`)
      expect(Math.abs(faces.length - n), lines.at(-1)).toBeLessThanOrEqual(tol)
    }
    console.log(`[vision quality] faces:\n  ${lines.join('\n  ')}`)
  })

  it('finds no face where there is none (or none big enough to see)', async () => {
    for (const f of [`${HTML}/space_shuttle.jpg`, `${DATA}/fruits.jpg`, `${DATA}/building.jpg`]) {
      expect((await detectFaces(runner, blazeface, readFileSync(f))).map(fmt), f).toEqual([])
    }
    // vtest: people at 60 px tall have faces of a few pixels, below what a 256×256 detector can see
    expect(await detectFaces(runner, blazeface, frames.get(600)!)).toEqual([])
  })

  it('face boxes overlap the boxes drawn into the photos by their authors (IoU ≥ 0.5), eyes where eyes are', async () => {
    // Reference boxes as drawn in the images (x, y, w, h in source pixels), read off the PNGs.
    const drawn: Array<[string, Box]> = [
      [`${HTML}/ab.jpg`, { x: 143, y: 137, w: 152, h: 153 }],
      [`${HTML}/ab-1.jpg`, { x: 101, y: 183, w: 198, h: 197 }],
      [`${HTML}/julia_facedetect_sample.jpg`, { x: 183, y: 137, w: 133, h: 163 }],
      // the middle copy in example.jpg (1162×580), green box
      [`${HTML}/example.jpg`, { x: 422, y: 139, w: 305, h: 390 }],
    ]
    for (const [file, ref] of drawn) {
      const faces = await detectFaces(runner, blazeface, readFileSync(file))
      const best = faces.reduce((a, f) => (iou(f, ref) > iou(a, ref) ? f : a), faces[0]!)
      expect(iou(best, ref), `${file} ${fmt(best)}`).toBeGreaterThanOrEqual(0.5)
      checkLandmarks(best)
    }
    // messi5.jpg: the face is at about (240, 112); the box is small (30–50 px) and holds it
    const [messi] = await detectFaces(runner, blazeface, readFileSync(`${DATA}/messi5.jpg`))
    expect(contains(messi!, [240, 112])).toBe(true)
    expect(messi!.w).toBeGreaterThan(25)
    expect(messi!.w).toBeLessThan(60)
  })
})

/** BlazeFace landmarks: eyes inside the box in its upper half, the image-left one first; the nose between them in x. */
function checkLandmarks(f: FaceDetection) {
  expect(f.landmarks).toHaveLength(6)
  const [e0, e1, nose] = f.landmarks as [[number, number], [number, number], [number, number]]
  for (const e of [e0, e1]) {
    expect(contains(f, e)).toBe(true)
    expect(e[1]).toBeLessThan(f.y + f.h * 0.6)
  }
  expect(e0[0]).toBeLessThan(e1[0])
  expect(nose[0]).toBeGreaterThan(e0[0])
  expect(nose[0]).toBeLessThan(e1[0])
  expect(nose[1]).toBeGreaterThan(Math.min(e0[1], e1[1]))
}

describe('face embeddings (FaceRes 224, 1024-d)', () => {
  let faces: Face[] = []
  beforeAll(async () => {
    faces = await loadFaceSet(runner, blazeface)
  }, 60_000)
  const variant = faceVariant
  const stats = similarityStats

  it('same face under flip, crop shift and brightness ±30 % stays above the match threshold; different people stay below', async () => {
    const threshold = matchThreshold(faceres)
    expect(faces.length).toBeGreaterThanOrEqual(35)
    const base = new Map<Face, Float32Array>()
    for (const f of faces) base.set(f, (await embedFace(runner, faceres, f.img, f.face)).vector)

    const same: Array<[string, number]> = []
    for (const f of faces.filter((f) => !f.id.startsWith('T'))) {
      for (const kind of ['flip', 'shift', 'brighter', 'darker'] as const) {
        const v = await variant(f, kind)
        same.push([`${f.id}/${kind}`, cosine(base.get(f)!, (await embedFace(runner, faceres, v.img, v.face)).vector)])
      }
    }
    const fs = faces.filter((f) => f.person === 'F')
    expect(fs).toHaveLength(3)
    for (let i = 0; i < fs.length; i++) for (let j = i + 1; j < fs.length; j++) same.push([`${fs[i]!.id}~${fs[j]!.id}`, cosine(base.get(fs[i]!)!, base.get(fs[j]!)!)])

    const diff: Array<[string, number]> = []
    for (let i = 0; i < faces.length; i++) {
      for (let j = i + 1; j < faces.length; j++) {
        if (faces[i]!.person !== faces[j]!.person) diff.push([`${faces[i]!.id}~${faces[j]!.id}`, cosine(base.get(faces[i]!)!, base.get(faces[j]!)!)])
      }
    }
    same.sort((a, b) => a[1] - b[1])
    diff.sort((a, b) => b[1] - a[1])
    const show = (xs: Array<[string, number]>) => xs.slice(0, 5).map(([k, v]) => `${k}=${v.toFixed(3)}`).join(' ')
    console.log(
      `[vision quality] faceres cosine, threshold ${threshold}:\n` +
        `  same person (${faces.filter((f) => !f.id.startsWith('T')).length} faces × flip/shift/±30 %, and the 3 example.jpg frames): ${stats(same.map((s) => s[1]))}; lowest ${show(same)}\n` +
        `  different people (${faces.length} faces): ${stats(diff.map((d) => d[1]))}; highest ${show(diff)}`,
    )
    for (const [k, v] of same) expect(v, k).toBeGreaterThanOrEqual(threshold)
    for (const [k, v] of diff) expect(v, k).toBeLessThan(threshold)
  })

  it('faceres age and gender on the faces whose answer is plain to see', async () => {
    const by = (id: string) => faces.find((f) => f.id === id)!
    const e = async (id: string) => embedFace(runner, faceres, by(id).img, by(id).face)
    const [a, b, d, g0, g2, g3] = await Promise.all(['A', 'B', 'D', 'G#0', 'G#2', 'G#3'].map(e))
    // A, B, D are men; in facereg.jpg G#0 (top left) and G#3 (bottom left) are women, G#2 (bottom right) a man.
    for (const m of [a, b, d, g2]) expect(m!.genderMale).toBeGreaterThan(0.5)
    for (const w of [g0, g3]) expect(w!.genderMale).toBeLessThan(0.5)
    // D (ab-1.jpg, a man in his fifties) is older than A (227943776_1.jpg, in his twenties); all are adults.
    expect(d!.age! - a!.age!).toBeGreaterThan(5)
    for (const x of [a, b, d, g0, g2, g3]) {
      expect(x!.age).toBeGreaterThan(18)
      expect(x!.age).toBeLessThan(70)
      expect(x!.vector).toHaveLength(1024)
    }
    console.log(`[vision quality] faceres age/P(male): ${['A', 'B', 'D', 'G#0', 'G#2', 'G#3'].map((id, i) => `${id} ${[a, b, d, g0, g2, g3][i]!.age!.toFixed(1)}/${[a, b, d, g0, g2, g3][i]!.genderMale!.toFixed(2)}`).join(', ')}`)
  })

  it('a face turned 20° embeds like the upright one when the eyes are levelled', async () => {
    // Rotate the whole portrait by 20° with sharp, detect again, embed: alignment must undo the roll.
    const a = faces.find((f) => f.id === 'A')!
    const rotatedPng = await sharp(a.img.data, { raw: { width: a.img.width, height: a.img.height, channels: 3 } }).rotate(20, { background: '#000' }).png().toBuffer()
    const rotated = await decodeImage(rotatedPng)
    const [face] = await detectFaces(runner, blazeface, rotated)
    expect(face).toBeDefined()
    const [e0, e1] = face!.landmarks as [[number, number], [number, number]]
    // the eye line now slopes down to the right by about 20°
    expect((Math.atan2(e1[1] - e0[1], e1[0] - e0[0]) * 180) / Math.PI).toBeGreaterThan(12)
    const upright = (await embedFace(runner, faceres, a.img, a.face)).vector
    const aligned = (await embedFace(runner, faceres, rotated, face)).vector
    const unaligned = (await embedFace(runner, { ...faceres, decoder: { ...faceres.decoder, align: false } }, rotated, face)).vector
    console.log(`[vision quality] 20° roll: aligned ${cosine(upright, aligned).toFixed(3)}, not aligned ${cosine(upright, unaligned).toFixed(3)}`)
    expect(cosine(upright, aligned)).toBeGreaterThanOrEqual(matchThreshold(faceres))
    expect(cosine(upright, aligned)).toBeGreaterThan(cosine(upright, unaligned))
  })
})
