import type { default as Sharp } from 'sharp'
import type { Box } from '../inference/types.ts'
import type { Snapshot } from './hub.ts'

/**
 * Event snapshots as people see them: blurred by default (privacy by construction). Every face box is
 * hidden, and so is the head of every person box (its top HEAD_FRACTION), because a face the face
 * detector missed (turned away, small, occluded) is still a face. The hiding is a coarse mosaic
 * followed by a blur: a plain Gaussian blur of a large face can be partly undone, a mosaic of a few
 * cells across cannot. Unblurred means the original JPEG, untouched; whether that is allowed is the
 * caller's decision (edge policy + the viewer's role at the gateway).
 */
export const HEAD_FRACTION = 0.22
/** Regions grow by this fraction of their size on every side (boxes are tight; hair and ears are not in them). */
const PAD = 0.12
/** Mosaic cells across the longer side of a region. */
const CELLS = 6
const JPEG_QUALITY = 85

export interface Region {
  left: number
  top: number
  width: number
  height: number
}

/**
 * The regions to hide, in pixels of a width × height image: faces and person heads, padded and clipped.
 * `scaleX/scaleY` map the snapshot's box coordinates to the JPEG's pixels (they differ when the JPEG is
 * not the detect frame's size).
 */
export function privacyRegions(s: Pick<Snapshot, 'people' | 'faces'>, width: number, height: number, scaleX = 1, scaleY = 1): Region[] {
  const heads: Box[] = s.people.map((p) => ({ x: p.x, y: p.y, w: p.w, h: p.h * HEAD_FRACTION }))
  const out: Region[] = []
  for (const b of [...s.faces, ...heads]) {
    if (!(b.w > 0 && b.h > 0)) continue
    const x0 = Math.floor((b.x - b.w * PAD) * scaleX)
    const y0 = Math.floor((b.y - b.h * PAD) * scaleY)
    const x1 = Math.ceil((b.x + b.w * (1 + PAD)) * scaleX)
    const y1 = Math.ceil((b.y + b.h * (1 + PAD)) * scaleY)
    const left = Math.max(0, Math.min(width, x0))
    const top = Math.max(0, Math.min(height, y0))
    const right = Math.max(0, Math.min(width, x1))
    const bottom = Math.max(0, Math.min(height, y1))
    if (right - left >= 1 && bottom - top >= 1) out.push({ left, top, width: right - left, height: bottom - top })
  }
  return out
}

/** sharp (libvips, ~30 MB resident) is loaded on the first snapshot: an edge without cameras never needs it. */
let sharpModule: Promise<typeof Sharp> | undefined
const loadSharp = () => (sharpModule ??= import('sharp').then((m) => m.default))

async function hide(sharp: typeof Sharp, raw: Buffer, info: { width: number; height: number; channels: number }, r: Region): Promise<Buffer> {
  const raw3 = { raw: { width: info.width, height: info.height, channels: info.channels as 3 } }
  const cellsX = Math.max(1, Math.round((CELLS * r.width) / Math.max(r.width, r.height)))
  const cellsY = Math.max(1, Math.round((CELLS * r.height) / Math.max(r.width, r.height)))
  const mosaic = await sharp(raw, raw3).extract(r).resize(cellsX, cellsY, { kernel: 'cubic' }).raw().toBuffer()
  const sigma = Math.max(1, Math.min(r.width, r.height) / 8)
  return sharp(mosaic, { raw: { width: cellsX, height: cellsY, channels: info.channels as 3 } })
    .resize(r.width, r.height, { kernel: 'nearest' })
    .blur(sigma)
    .raw()
    .toBuffer()
}

/** The snapshot as a JPEG: blurred (faces and heads hidden) unless `blur` is false. */
export async function renderSnapshot(s: Snapshot, opts: { blur: boolean }): Promise<Buffer> {
  if (!opts.blur) return s.jpeg
  const sharp = await loadSharp()
  const { data, info } = await sharp(s.jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  const scaleX = s.width > 0 ? info.width / s.width : 1
  const scaleY = s.height > 0 ? info.height / s.height : 1
  const regions = privacyRegions(s, info.width, info.height, scaleX, scaleY)
  const composites = await Promise.all(
    regions.map(async (r) => ({ input: await hide(sharp, data, info, r), raw: { width: r.width, height: r.height, channels: info.channels as 3 }, left: r.left, top: r.top })),
  )
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels as 3 } })
    .composite(composites)
    .jpeg({ quality: JPEG_QUALITY })
    .toBuffer()
}
