import { readFileSync } from 'node:fs'
import sharp from 'sharp'
import type { ModelManifest } from '../../models/manifest.ts'
import { decodeImage } from '../../edge/vision/inference/preprocess.ts'
import type { FaceDetection, ModelRunner, RawImage } from '../../edge/vision/inference/types.ts'
import { detectFaces } from '../../edge/vision/pipelines/face.ts'

/**
 * The real faces the embedding tests compare (Debian opencv-doc photos), with who is who by eye:
 * the two portraits, ab.jpg and ab-1.jpg (two different people), the Mona Lisa, the four people of
 * facereg.jpg, Messi, and every face of the 3.jpg and 2.jpg grids are all different people; the
 * three faces of example.jpg are one person (three frames of one video; the middle one has the face
 * model's outline drawn over it).
 */
const DOC = '/usr/share/doc/opencv-doc'
const HTML = `${DOC}/opencv4/html`
const DATA = `${DOC}/examples/data`

export interface Face {
  id: string
  person: string
  img: RawImage
  face: FaceDetection
}

/** Every face the detector finds (score ≥ 0.6) in the photos, sorted top-down then left-right. */
export async function loadFaceSet(runner: ModelRunner, detector: ModelManifest): Promise<Face[]> {
  const faces: Face[] = []
  const add = async (file: string, id: string, person: (i: number) => string, max = 99) => {
    const img = await decodeImage(readFileSync(file))
    const found = (await detectFaces(runner, detector, img, { scoreThreshold: 0.6 })).slice(0, max)
    found.sort((a, b) => a.y - b.y || a.x - b.x)
    found.forEach((face, i) => faces.push({ id: found.length > 1 ? `${id}#${i}` : id, person: person(i), img, face }))
  }
  await add(`${HTML}/227943776_1.jpg`, 'A', () => 'A')
  await add(`${HTML}/230501201_1.jpg`, 'B', () => 'B')
  await add(`${HTML}/ab.jpg`, 'C', () => 'C')
  await add(`${HTML}/ab-1.jpg`, 'D', () => 'D', 1)
  await add(`${HTML}/julia_facedetect_sample.jpg`, 'E', () => 'E')
  await add(`${HTML}/example.jpg`, 'F', () => 'F')
  await add(`${HTML}/facereg.jpg`, 'G', (i) => `G${i}`)
  await add(`${DATA}/messi5.jpg`, 'M', () => 'M', 1)
  await add(`${HTML}/3.jpg`, 'T3', (i) => `T3-${i}`)
  await add(`${HTML}/2.jpg`, 'T2', (i) => `T2-${i}`)
  return faces
}

export type FaceVariant = 'flip' | 'shift' | 'brighter' | 'darker'

/** The same face under a change a camera makes: mirrored, the crop jittered, brighter or darker. */
export async function faceVariant(f: Face, kind: FaceVariant): Promise<{ img: RawImage; face: FaceDetection }> {
  const { img, face } = f
  if (kind === 'flip') {
    // mirror the image; the detector's box and eyes mirror with it (the image-left eye stays first)
    const data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).flop().raw().toBuffer()
    const W = img.width
    const lm = face.landmarks.map(([x, y]) => [W - x, y] as [number, number])
    ;[lm[0], lm[1]] = [lm[1]!, lm[0]!]
    return { img: { ...img, data: new Uint8Array(data) }, face: { ...face, x: W - face.x - face.w, landmarks: lm } }
  }
  if (kind === 'shift') {
    // the crop moved by 10 % of the face right and up (a detector's jitter between frames)
    const dx = 0.1 * face.w
    const dy = -0.1 * face.h
    return { img, face: { ...face, x: face.x + dx, y: face.y + dy, landmarks: face.landmarks.map(([x, y]) => [x + dx, y + dy]) } }
  }
  const k = kind === 'brighter' ? 1.3 : 0.7
  const data = new Uint8Array(img.data.length)
  for (let i = 0; i < data.length; i++) data[i] = Math.min(255, Math.round(img.data[i]! * k))
  return { img: { ...img, data }, face }
}

/** n, min, p5, median, p95, max of a list of similarities, for the test log. */
export function similarityStats(a: number[]): string {
  const s = [...a].sort((x, y) => x - y)
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(3)
  return `n=${s.length} min=${s[0]!.toFixed(3)} p5=${q(0.05)} median=${q(0.5)} p95=${q(0.95)} max=${s.at(-1)!.toFixed(3)}`
}
