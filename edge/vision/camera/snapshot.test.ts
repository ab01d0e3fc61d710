import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { HEAD_FRACTION, privacyRegions, renderSnapshot } from './snapshot.ts'

/** Which regions of a snapshot get hidden; the pixel-level check against a real frame is in tests/security.view.test.ts. */
describe('privacyRegions', () => {
  it('hides every face and the head (top HEAD_FRACTION) of every person, padded by 12 %', () => {
    const r = privacyRegions({ people: [{ x: 100, y: 50, w: 40, h: 100 }], faces: [{ x: 300, y: 200, w: 20, h: 20 }] }, 640, 480)
    expect(r).toEqual([
      { left: 297, top: 197, width: 26, height: 26 }, // 20 + 2 × 2.4, outward-rounded
      { left: 95, top: 47, width: 50, height: 28 }, // head 40 × 22, padded 4.8 / 2.64
    ])
    expect(HEAD_FRACTION).toBeCloseTo(0.22)
  })

  it('clips to the image, drops empty and degenerate boxes, and scales detect-frame boxes to the JPEG', () => {
    const r = privacyRegions(
      {
        people: [{ x: -20, y: -10, w: 60, h: 50 }, { x: 10, y: 10, w: 0, h: 40 }, { x: 900, y: 10, w: 40, h: 40 }],
        faces: [{ x: Number.NaN, y: 0, w: 10, h: 10 }],
      },
      640,
      480,
    )
    expect(r).toEqual([{ left: 0, top: 0, width: 48, height: 3 }])
    // A 320 × 240 detect frame, a 640 × 480 JPEG: boxes double.
    expect(privacyRegions({ people: [], faces: [{ x: 10, y: 10, w: 10, h: 10 }] }, 640, 480, 2, 2)).toEqual([{ left: 17, top: 17, width: 26, height: 26 }])
  })
})

describe('renderSnapshot', () => {
  it('blurred: a flat picture stays flat outside, a checkerboard face turns to mush; unblurred: the same bytes', async () => {
    const w = 160
    const h = 120
    const raw = Buffer.alloc(w * h * 3, 128)
    // A high-contrast 4 px checkerboard where the face is.
    for (let y = 40; y < 80; y++) for (let x = 60; x < 100; x++) raw.fill(((x >> 2) + (y >> 2)) % 2 ? 255 : 0, (y * w + x) * 3, (y * w + x) * 3 + 3)
    const jpeg = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 95 }).toBuffer()
    const s = { id: 's', camera: 'c', ts: 0, width: w, height: h, jpeg, people: [], faces: [{ x: 60, y: 40, w: 40, h: 40 }] }
    expect(await renderSnapshot(s, { blur: false })).toBe(jpeg)
    const out = await sharp(await renderSnapshot(s, { blur: true })).raw().toBuffer()
    const at = (x: number, y: number) => out[(y * w + x) * 3]!
    let spread = 0
    for (let y = 44; y < 76; y++) for (let x = 64; x < 96; x++) spread = Math.max(spread, Math.abs(at(x, y) - 128))
    expect(spread).toBeLessThan(40) // was ±128 every 4 px
    expect(Math.abs(at(10, 10) - 128)).toBeLessThan(4)
  })
})
