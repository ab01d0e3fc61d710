import { decodeImage } from '../inference/preprocess.ts'
import type { Box, ImageInput, ModelRunner, PlateRead, RawImage } from '../inference/types.ts'
import { minAreaRect, quadSize, rectCorners, type Point } from './geometry.ts'
import { detectText, isUpsideDown, recClasses, recognize, rectifyCrop, recParams, type LabelDirs, type OcrModels } from './ocr.ts'
import { plateFromText } from './plate-text.ts'
import { rotate180 } from './warp.ts'

/**
 * Licence-plate reading on PaddleOCR PP-OCRv4: DB text detection → plate-shaped quads → perspective
 * rectification → (180° check) → CTC recognition → Chinese plate normalisation. A pure function of a
 * ModelRunner, so it runs the same in the inference worker, in tests and in the benchmark.
 */

export interface ReadPlatesOptions extends LabelDirs {
  /** Longest side of the detector's first, whole-frame pass (default PLATE_DET_SIDE). */
  limitSideLen?: number
  /** Only look inside this region (a gate camera's plate zone): faster and fewer false texts. */
  region?: Box
  /** Run the direction classifier when a cls model is given (default true). */
  useCls?: boolean
  /** Recognise at most this many plate-shaped text boxes (highest detection score first). Default 6. */
  maxCandidates?: number
  /** Also return plate-shaped texts that are not valid plates (plate: null). Default false. */
  includeInvalid?: boolean
  /** Reads below this confidence are dropped. Default 0.3. */
  minConfidence?: number
}

/**
 * Longest side of the first detection pass over the whole frame. A gate camera's plate is 150–300 px
 * wide in a 1280×720 frame, still 50–100 px at 416; the second pass (refine) then looks closely
 * at each candidate. 416 keeps a read within ~60 ms on one core; 960 (PaddleOCR's default) costs ~4×.
 */
export const PLATE_DET_SIDE = 416

/** A plate's text box is a wide strip: a Chinese plate is 440×140 mm (480 for new energy), its characters fill most of it. */
const MIN_ASPECT = 1.8
const MAX_ASPECT = 9
/** Below this height (source pixels) the characters cannot be resolved. */
const MIN_HEIGHT = 8
/** Each look-alike correction lowers the confidence by this factor. */
const CORRECTION_PENALTY = 0.85

/** Whether a detected text quad has a plate's shape. */
export function plateShaped(quad: Point[]): boolean {
  const { width, height } = quadSize(quad)
  if (height < MIN_HEIGHT) return false
  const aspect = width / height
  return aspect >= MIN_ASPECT && aspect <= MAX_ASPECT
}

/** Axis, centre and extent of an ordered quad. */
function frame(q: Point[]) {
  const [tl, tr, br, bl] = q as [Point, Point, Point, Point]
  const ux = (tr[0] - tl[0] + br[0] - bl[0]) / 2
  const uy = (tr[1] - tl[1] + br[1] - bl[1]) / 2
  const len = Math.hypot(ux, uy) || 1
  const { height } = quadSize(q)
  return { u: [ux / len, uy / len] as Point, c: [(tl[0] + tr[0] + br[0] + bl[0]) / 4, (tl[1] + tr[1] + br[1] + bl[1]) / 4] as Point, width: len, height }
}

/**
 * Join text boxes that continue one line: at small detector sizes DB splits a plate at its
 * separator (province and letter in one box, the rest in another). Two boxes join when their
 * heights agree, their centres sit on one line, and the gap between them is under a character height.
 */
export function mergeLineBoxes<T extends { quad: Point[]; score: number }>(boxes: T[]): Array<{ quad: Point[]; score: number }> {
  const out = boxes.map((b) => ({ quad: b.quad, score: b.score }))
  for (let changed = true; changed; ) {
    changed = false
    outer: for (let i = 0; i < out.length; i++) {
      for (let j = 0; j < out.length; j++) {
        if (i === j) continue
        const a = frame(out[i]!.quad)
        const b = frame(out[j]!.quad)
        const h = Math.max(a.height, b.height)
        if (Math.min(a.height, b.height) < 0.4 * h) continue
        // Along a's axis: b starts after a, within a gap of one character height; across it, the centres align.
        const dx = b.c[0] - a.c[0]
        const dy = b.c[1] - a.c[1]
        const along = dx * a.u[0] + dy * a.u[1]
        const across = Math.abs(-dx * a.u[1] + dy * a.u[0])
        const gap = along - a.width / 2 - b.width / 2
        if (along <= 0 || gap > 1.0 * h || gap < -0.5 * h || across > 0.35 * h) continue
        const quad = rectCorners(minAreaRect([...out[i]!.quad, ...out[j]!.quad]))
        const wa = a.width * a.height
        const wb = b.width * b.height
        const score = (out[i]!.score * wa + out[j]!.score * wb) / (wa + wb)
        out.splice(Math.max(i, j), 1)
        out.splice(Math.min(i, j), 1, { quad, score })
        changed = true
        break outer
      }
    }
  }
  return out.sort((a, b) => b.score - a.score)
}

/** Text height (detector-map pixels) the refining pass aims for; PP-OCR reads best around 30–40 px. */
const REFINE_TEXT_HEIGHT = 36

/**
 * Second, close look at one candidate: detect again on a region around it, scaled so the text is
 * about REFINE_TEXT_HEIGHT pixels tall. A small plate found on a reduced whole frame gets a loose
 * box that can miss its narrow province character; this one is tight. Falls back to the first box.
 */
async function refine(runner: ModelRunner, models: OcrModels, img: RawImage, c: { quad: Point[]; score: number }): Promise<{ quad: Point[]; score: number }> {
  const f = frame(c.quad)
  const around = widen(c.quad, 1.6, 1.0)
  const xs = around.map((p) => p[0])
  const ys = around.map((p) => p[1])
  const x0 = Math.max(0, Math.min(...xs) - 0.4 * f.height)
  const y0 = Math.max(0, Math.min(...ys) - 0.6 * f.height)
  const x1 = Math.min(img.width, Math.max(...xs) + 0.4 * f.height)
  const y1 = Math.min(img.height, Math.max(...ys) + 0.6 * f.height)
  if (x1 - x0 < 4 || y1 - y0 < 4) return c
  const scale = Math.min(3, REFINE_TEXT_HEIGHT / Math.max(1, f.height))
  const found = await detectText(runner, models.det, img, { region: { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }, scale })
  const best = mergeLineBoxes(found)
    .filter((t) => plateShaped(t.quad))
    .sort((a, b) => quadSize(b.quad).width * b.score - quadSize(a.quad).width * a.score)[0]
  return best ?? c
}

/** The quad widened along its axis by `left`/`right` times its height, clamped to nothing (the warp replicates edges). */
export function widen(q: Point[], left: number, right: number): Point[] {
  const f = frame(q)
  const [tl, tr, br, bl] = q as [Point, Point, Point, Point]
  const l: Point = [-f.u[0] * left * f.height, -f.u[1] * left * f.height]
  const r: Point = [f.u[0] * right * f.height, f.u[1] * right * f.height]
  return [
    [tl[0] + l[0], tl[1] + l[1]],
    [tr[0] + r[0], tr[1] + r[1]],
    [br[0] + r[0], br[1] + r[1]],
    [bl[0] + l[0], bl[1] + l[1]],
  ]
}

/** Text that looks like a plate missing characters at its ends: 4 to 7 letters and digits. */
function partialPlate(text: string): boolean {
  const alnum = text.toUpperCase().replace(/[^A-Z0-9]/g, '')
  return alnum.length >= 4 && alnum.length <= 7
}

const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length)

/** Read the licence plates in an image, best first. */
export async function readPlates(runner: ModelRunner, models: OcrModels, input: ImageInput, opts: ReadPlatesOptions = {}): Promise<PlateRead[]> {
  const img = await decodeImage(input)
  const classes = recClasses(models.rec, opts)
  const H = models.rec.input.shape[2] ?? 48
  const maxWidth = recParams(models.rec).maxWidth
  const texts = await detectText(runner, models.det, img, { limitSideLen: opts.limitSideLen ?? PLATE_DET_SIDE, region: opts.region })
  const candidates = mergeLineBoxes(texts).filter((t) => plateShaped(t.quad)).slice(0, opts.maxCandidates ?? 6)
  const reads: PlateRead[] = []
  const recog = async (quad: Point[]) => {
    let crop = rectifyCrop(img, quad, H, maxWidth)
    if (models.cls && opts.useCls !== false && (await isUpsideDown(runner, models.cls, crop))) crop = rotate180(crop)
    const r = await recognize(runner, models.rec, crop, classes)
    return { r, plate: plateFromText(r.text) }
  }
  for (const coarse of candidates) {
    const t = await refine(runner, models, img, coarse)
    let quad = t.quad
    let { r, plate } = await recog(quad)
    if (!plate && partialPlate(r.text)) {
      // The narrow province character (or the last one) of a small plate is the one a box most
      // often misses. Read again: the first pass's own box when the close look changed it, then
      // the box widened by most of a character on the left and half of one on the right.
      const retries = t === coarse ? [widen(quad, 0.9, 0.45)] : [coarse.quad, widen(quad, 0.9, 0.45)]
      for (const q of retries) {
        const again = await recog(q)
        if (again.plate) {
          ;({ r, plate, quad } = { ...again, quad: q })
          break
        }
      }
    }
    if (plate) {
      const charP = mean(plate.indices.map((i) => r.probs[i] ?? 0))
      const confidence = t.score * charP * CORRECTION_PENALTY ** plate.corrections
      reads.push({ plate: plate.plate, text: r.text, confidence, quad })
    } else if (opts.includeInvalid) {
      reads.push({ plate: null, text: r.text, confidence: t.score * mean(r.probs), quad })
    }
  }
  const minConfidence = opts.minConfidence ?? 0.3
  const kept = reads.filter((r) => r.confidence >= minConfidence || (r.plate === null && opts.includeInvalid))
  kept.sort((a, b) => Number(b.plate !== null) - Number(a.plate !== null) || b.confidence - a.confidence)
  // One read per plate: the same plate seen in two overlapping boxes keeps its best.
  const seen = new Set<string>()
  return kept.filter((r) => r.plate === null || (!seen.has(r.plate) && (seen.add(r.plate), true)))
}
