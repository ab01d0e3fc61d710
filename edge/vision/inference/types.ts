/**
 * Shared shapes of the inference runtime: what goes into a model, what comes out of a decoder.
 * Plain data only (typed arrays and numbers) so every value crosses worker_threads by structured
 * clone, with the big arrays transferred, never copied.
 */

/** A dense float tensor, row-major. */
export interface Tensor {
  dims: number[]
  data: Float32Array
}

/** A decoded image: interleaved RGB, 8 bits per channel, row-major. */
export interface RawImage {
  width: number
  height: number
  channels: 3
  data: Uint8Array
}

/** What a pipeline accepts: an encoded image (JPEG, PNG, WebP) or already decoded RGB. */
export type ImageInput = Buffer | Uint8Array | RawImage

/**
 * How model-input pixels map back to the source image:
 * x_image = (x_model - padX) / scaleX, y_image = (y_model - padY) / scaleY.
 * (Letterbox has scaleX === scaleY; stretch has them differ and no padding.)
 */
export interface InputTransform {
  scaleX: number
  scaleY: number
  padX: number
  padY: number
  /** Model input width and height in pixels. */
  width: number
  height: number
  /** Source image size, for clamping. */
  srcWidth: number
  srcHeight: number
}

/** An axis-aligned box in source-image pixels. */
export interface Box {
  x: number
  y: number
  w: number
  h: number
}

export interface Detection extends Box {
  score: number
  /** Class index in the model's label list (COCO: 0 = person). */
  classId: number
  label: string
}

export interface FaceDetection extends Box {
  score: number
  /** Landmarks in source-image pixels, in the model's order (blazeface: right eye, left eye, nose, mouth, right ear, left ear). */
  landmarks: Array<[number, number]>
}

export interface FaceEmbedding {
  /** L2-normalised; cosine similarity is the dot product. */
  vector: Float32Array
  /** Where the model predicts them (faceres): years and P(male). */
  age?: number
  genderMale?: number
}

export interface PlateRead {
  /** Normalised plate (edge/contracts/plates.ts), or null when the text is not a valid plate. */
  plate: string | null
  /** Raw recognised text before normalisation. */
  text: string
  /** 0..1: product of detection score and mean character probability. */
  confidence: number
  /** Quadrilateral of the text in source-image pixels, clockwise from top-left. */
  quad: Array<[number, number]>
}

/**
 * Runs one ONNX model by name. Implemented over onnxruntime-node sessions inside a worker
 * (and directly on the main thread in tests and tools). Feeds and outputs are keyed by tensor name.
 */
export interface ModelRunner {
  run(model: string, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>
}
