import type { Box, FaceDetection, RawImage } from '../inference/types.ts'

/**
 * Is a detected face worth embedding? Three cheap checks, in this order (the first failure is the
 * reason): size (a face smaller than minFacePx gives an embedding that matches anyone a little),
 * blur (variance of the Laplacian of the grey face, normalised to a fixed size so one threshold
 * fits near and far faces), pose (yaw from where the nose sits between the eyes, roll from the
 * eye line; a profile face embeds as a different person). Pure and synchronous: runs in the
 * inference worker between the detector and the embedder.
 */

export interface FaceQualityOptions {
  /** Smallest accepted face: the larger side of the detector's box, in frame pixels. */
  minFacePx: number
  /** Smallest accepted variance of the Laplacian of the grey face resampled to SHARPNESS_SIDE². */
  minSharpness: number
  /** Largest accepted |yaw| (degrees; 0 = looking at the camera). */
  maxYawDeg: number
  /** Largest accepted |roll| (degrees; the embedder levels the eyes, so this only drops faces lying sideways). */
  maxRollDeg: number
}

export const defaultFaceQuality: FaceQualityOptions = {
  minFacePx: 40,
  // Measured on the 42 opencv-doc faces of tests/support/face-set.ts of 46–320 px: sharp ones 256–11 468;
  // the same faces under a Gaussian blur of sigma = face size / 40 (1.6 px at the 64-px scale) 12–110.
  minSharpness: 150,
  maxYawDeg: 40,
  maxRollDeg: 35,
}

export type FaceRejection = 'size' | 'blur' | 'pose'

export interface FaceQuality {
  /** Larger side of the face box, frame pixels. */
  sizePx: number
  /** Variance of the Laplacian (see minSharpness); 0 when not measured (too small). */
  sharpness: number
  /** Estimated yaw in degrees (positive: the nose points to image-right); absent without landmarks. */
  yawDeg?: number
  /** Eye-line angle in degrees (positive: clockwise in the image); absent without landmarks. */
  rollDeg?: number
  ok: boolean
  reason?: FaceRejection
}

/** Side of the square grey face the blur measure runs on. */
export const SHARPNESS_SIDE = 64

/**
 * The ratio (nose offset from the eyes' midpoint) / (half the eye distance) is about
 * NOSE_DEPTH · tan(yaw): the nose tip stands about 0.9 half-eye-distances in front of the eye
 * plane on an average adult face. Rough by design: it separates "looking at the camera" from
 * "profile", it is not a head-pose estimator.
 */
const NOSE_DEPTH = 0.9

/** Grey (BT.601 luma) of the part of `img` under `box`, resampled to side×side (area average when shrinking, bilinear when enlarging). */
export function greyFace(img: RawImage, box: Box, side = SHARPNESS_SIDE): Float32Array {
  const x0 = Math.max(0, Math.floor(box.x))
  const y0 = Math.max(0, Math.floor(box.y))
  const x1 = Math.min(img.width, Math.ceil(box.x + box.w))
  const y1 = Math.min(img.height, Math.ceil(box.y + box.h))
  const w = Math.max(0, x1 - x0)
  const h = Math.max(0, y1 - y0)
  const out = new Float32Array(side * side)
  if (w < 2 || h < 2) return out
  const grey = new Float32Array(w * h)
  const d = img.data
  for (let y = 0; y < h; y++) {
    let s = ((y0 + y) * img.width + x0) * 3
    for (let x = 0; x < w; x++, s += 3) grey[y * w + x] = 0.299 * d[s]! + 0.587 * d[s + 1]! + 0.114 * d[s + 2]!
  }
  const kx = w / side
  const ky = h / side
  for (let v = 0; v < side; v++) {
    for (let u = 0; u < side; u++) {
      let val: number
      if (kx >= 1 && ky >= 1) {
        // area average over the output pixel's footprint
        const sx0 = Math.floor(u * kx)
        const sx1 = Math.max(sx0 + 1, Math.floor((u + 1) * kx))
        const sy0 = Math.floor(v * ky)
        const sy1 = Math.max(sy0 + 1, Math.floor((v + 1) * ky))
        let acc = 0
        for (let y = sy0; y < sy1; y++) for (let x = sx0; x < sx1; x++) acc += grey[y * w + x]!
        val = acc / ((sx1 - sx0) * (sy1 - sy0))
      } else {
        const fx = Math.min(w - 1, Math.max(0, (u + 0.5) * kx - 0.5))
        const fy = Math.min(h - 1, Math.max(0, (v + 0.5) * ky - 0.5))
        const ix = Math.min(w - 2, Math.floor(fx))
        const iy = Math.min(h - 2, Math.floor(fy))
        const ax = fx - ix
        const ay = fy - iy
        const i = iy * w + ix
        val = grey[i]! * (1 - ax) * (1 - ay) + grey[i + 1]! * ax * (1 - ay) + grey[i + w]! * (1 - ax) * ay + grey[i + w + 1]! * ax * ay
      }
      out[v * side + u] = val
    }
  }
  return out
}

/** Variance of the 4-neighbour Laplacian over the interior of a grey w×h image (OpenCV's usual focus measure). */
export function laplacianVariance(grey: ArrayLike<number>, w: number, h: number): number {
  let n = 0
  let sum = 0
  let sq = 0
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x
      const l = grey[i - 1]! + grey[i + 1]! + grey[i - w]! + grey[i + w]! - 4 * grey[i]!
      n++
      sum += l
      sq += l * l
    }
  }
  if (n === 0) return 0
  const mean = sum / n
  return sq / n - mean * mean
}

/**
 * Yaw and roll in degrees from BlazeFace landmarks (0 right eye, 1 left eye, 2 nose tip; both
 * eyes as they appear in the image, so the sign follows the image, not the person). Undefined when
 * the landmarks are missing or the eyes coincide.
 */
export function facePose(landmarks: ReadonlyArray<readonly [number, number]>): { yawDeg: number; rollDeg: number } | undefined {
  const [a, b, nose] = landmarks
  if (!a || !b || !nose) return undefined
  // image-left eye first, whatever the model's order
  const [l, r] = a[0] <= b[0] ? [a, b] : [b, a]
  const dx = r[0] - l[0]
  const dy = r[1] - l[1]
  const eyeDist = Math.hypot(dx, dy)
  if (!(eyeDist > 1e-6)) return undefined
  const roll = Math.atan2(dy, dx)
  // nose offset along the eye line, in half eye distances
  const mx = (l[0] + r[0]) / 2
  const my = (l[1] + r[1]) / 2
  const along = ((nose[0] - mx) * dx + (nose[1] - my) * dy) / eyeDist
  const ratio = along / (eyeDist / 2)
  const yaw = Math.atan2(ratio, NOSE_DEPTH)
  return { yawDeg: (yaw * 180) / Math.PI, rollDeg: (roll * 180) / Math.PI }
}

/** Judge one face of `img` (face box and landmarks in the image's pixels). */
export function faceQuality(img: RawImage, face: Pick<FaceDetection, 'x' | 'y' | 'w' | 'h' | 'landmarks'>, opts: Partial<FaceQualityOptions> = {}): FaceQuality {
  const o = { ...defaultFaceQuality, ...opts }
  const sizePx = Math.max(face.w, face.h)
  const pose = facePose(face.landmarks)
  const base = { sizePx, ...(pose ? { yawDeg: pose.yawDeg, rollDeg: pose.rollDeg } : {}) }
  if (sizePx < o.minFacePx) return { ...base, sharpness: 0, ok: false, reason: 'size' }
  const sharpness = laplacianVariance(greyFace(img, face), SHARPNESS_SIDE, SHARPNESS_SIDE)
  if (sharpness < o.minSharpness) return { ...base, sharpness, ok: false, reason: 'blur' }
  if (pose && (Math.abs(pose.yawDeg) > o.maxYawDeg || Math.abs(pose.rollDeg) > o.maxRollDeg)) return { ...base, sharpness, ok: false, reason: 'pose' }
  return { ...base, sharpness, ok: true }
}
