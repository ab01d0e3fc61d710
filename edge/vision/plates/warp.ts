import type { RawImage } from '../inference/types.ts'
import { rectToQuad, type Point } from './geometry.ts'

/**
 * Perspective rectification of a text quad into an upright outW×outH image (PaddleOCR's
 * get_rotate_crop_image followed by the recogniser's resize, done in one pass): every output pixel
 * maps through the homography onto the source, sampled bilinearly with edge replication. When the
 * crop shrinks (source text taller than the output) each output pixel averages an n×n grid of
 * samples so thin strokes do not alias away.
 */
export function warpQuad(img: RawImage, quad: Point[], outW: number, outH: number): RawImage {
  const H = rectToQuad(outW, outH, quad)
  const { width: W, height: Hh, data: src } = img
  const out = new Uint8Array(outW * outH * 3)
  const srcH = Math.max(Math.hypot(quad[3]![0] - quad[0]![0], quad[3]![1] - quad[0]![1]), Math.hypot(quad[2]![0] - quad[1]![0], quad[2]![1] - quad[1]![1]))
  const srcW = Math.max(Math.hypot(quad[1]![0] - quad[0]![0], quad[1]![1] - quad[0]![1]), Math.hypot(quad[2]![0] - quad[3]![0], quad[2]![1] - quad[3]![1]))
  const n = Math.max(1, Math.min(4, Math.ceil(Math.max(srcH / outH, srcW / outW) - 0.25)))
  const inv = 1 / (n * n)
  const h0 = H[0]!, h1 = H[1]!, h2 = H[2]!, h3 = H[3]!, h4 = H[4]!, h5 = H[5]!, h6 = H[6]!, h7 = H[7]!, h8 = H[8]!
  const acc = [0, 0, 0]
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      acc[0] = acc[1] = acc[2] = 0
      for (let sy = 0; sy < n; sy++) {
        const y = oy + (sy + 0.5) / n
        for (let sx = 0; sx < n; sx++) {
          const x = ox + (sx + 0.5) / n
          const d = h6 * x + h7 * y + h8
          // Source position of this sample, in pixel-centre coordinates.
          let X = (h0 * x + h1 * y + h2) / d - 0.5
          let Y = (h3 * x + h4 * y + h5) / d - 0.5
          if (X < 0) X = 0
          else if (X > W - 1) X = W - 1
          if (Y < 0) Y = 0
          else if (Y > Hh - 1) Y = Hh - 1
          const x0 = Math.floor(X)
          const y0 = Math.floor(Y)
          const x1 = x0 + 1 < W ? x0 + 1 : x0
          const y1 = y0 + 1 < Hh ? y0 + 1 : y0
          const fx = X - x0
          const fy = Y - y0
          const p00 = (y0 * W + x0) * 3, p01 = (y0 * W + x1) * 3, p10 = (y1 * W + x0) * 3, p11 = (y1 * W + x1) * 3
          for (let c = 0; c < 3; c++) {
            const top = src[p00 + c]! + (src[p01 + c]! - src[p00 + c]!) * fx
            const bot = src[p10 + c]! + (src[p11 + c]! - src[p10 + c]!) * fx
            acc[c] = acc[c]! + top + (bot - top) * fy
          }
        }
      }
      const o = (oy * outW + ox) * 3
      out[o] = Math.round(acc[0]! * inv)
      out[o + 1] = Math.round(acc[1]! * inv)
      out[o + 2] = Math.round(acc[2]! * inv)
    }
  }
  return { width: outW, height: outH, channels: 3, data: out }
}

/** Rotate an image by 180°. */
export function rotate180(img: RawImage): RawImage {
  const n = img.width * img.height
  const out = new Uint8Array(n * 3)
  for (let i = 0; i < n; i++) {
    const j = (n - 1 - i) * 3
    out[i * 3] = img.data[j]!
    out[i * 3 + 1] = img.data[j + 1]!
    out[i * 3 + 2] = img.data[j + 2]!
  }
  return { width: img.width, height: img.height, channels: 3, data: out }
}
