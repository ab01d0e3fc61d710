import { StoreEdgeError } from '../../contracts/errors.ts'
import type { ModelManifest } from '../../../models/manifest.ts'
import { personFaces, type PersonFacesPayload } from '../faces/person-faces.ts'
import { embedFace } from '../pipelines/embed.ts'
import { detectFaces, type DetectFacesOptions } from '../pipelines/face.ts'
import { detectObjects, detectPersons, type DetectObjectsOptions } from '../pipelines/person.ts'
import { readPlates, type ReadPlatesOptions } from '../plates/plate-reader.ts'
import { decodeImage, prepareImage } from './preprocess.ts'
import type { TaskModels } from './protocol.ts'
import type { FaceDetection, ImageInput, InputTransform, ModelRunner, Tensor } from './types.ts'

/**
 * What an inference worker can do, by task name. Each task is a pure function of a ModelRunner
 * (the worker's sessions) and a plain-data payload; adding a task is adding one entry here and one
 * method on InferenceService.
 */
export interface TaskContext {
  runner: ModelRunner
  models: TaskModels
  manifest(name: string): ModelManifest
}

// any: each task has its own payload type; the service's typed methods are what build payloads.
export type Task = (ctx: TaskContext, payload: any) => Promise<unknown>

export interface RawPayload {
  model: string
  feeds: Record<string, Tensor>
}
export interface ImagePayload {
  model: string
  image: ImageInput
  /** Model input size where the manifest's H/W are dynamic. */
  size?: { width: number; height: number }
}
export interface PipelinePayload<O> {
  image: ImageInput
  opts?: O
}
export interface EmbedPayload {
  image: ImageInput
  face?: FaceDetection
}
export interface ImageResult {
  outputs: Record<string, Tensor>
  transform: InputTransform
}

export function modelFor(ctx: TaskContext, key: keyof TaskModels, task: string): string {
  const name = ctx.models[key]
  if (!name) throw new StoreEdgeError('STORE_EDGE_ERR_INFERENCE', `task '${task}' is off: vision.models.${key} is empty`)
  return name
}

export const tasks: Record<string, Task> = {
  /** Feeds in, outputs out: any registry model, for a user's own decoder. */
  raw: (ctx, p: RawPayload) => ctx.runner.run(p.model, p.feeds),

  /** An image prepared as the model's manifest says (resize, colour, normalisation), outputs and the transform back. */
  image: async (ctx, p: ImagePayload): Promise<ImageResult> => {
    const m = ctx.manifest(p.model)
    const img = await decodeImage(p.image)
    const { tensor, transform } = await prepareImage(img, m.input, p.size)
    const outputs = await ctx.runner.run(p.model, { [m.input.name]: tensor })
    return { outputs, transform }
  },

  persons: (ctx, p: PipelinePayload<Omit<DetectObjectsOptions, 'classes'>>) =>
    detectPersons(ctx.runner, ctx.manifest(modelFor(ctx, 'person', 'persons')), p.image, p.opts),

  objects: (ctx, p: PipelinePayload<DetectObjectsOptions>) => detectObjects(ctx.runner, ctx.manifest(modelFor(ctx, 'person', 'objects')), p.image, p.opts),

  faces: (ctx, p: PipelinePayload<DetectFacesOptions>) => detectFaces(ctx.runner, ctx.manifest(modelFor(ctx, 'faceDetect', 'faces')), p.image, p.opts),

  embed: (ctx, p: EmbedPayload) => embedFace(ctx.runner, ctx.manifest(modelFor(ctx, 'faceEmbed', 'embed')), p.image, p.face),

  /** Faces of tracked people (crop, detect, quality, embed) in one job: the frame crosses the thread once. */
  personFaces: (ctx, p: PersonFacesPayload) => {
    const detector = ctx.manifest(modelFor(ctx, 'faceDetect', 'personFaces'))
    const embedder = p.opts?.embed === false ? undefined : ctx.manifest(modelFor(ctx, 'faceEmbed', 'personFaces'))
    return personFaces(ctx.runner, { detector, embedder }, p.image, p.persons, p.opts)
  },

  plates: (ctx, p: PipelinePayload<ReadPlatesOptions>) => {
    const det = ctx.manifest(modelFor(ctx, 'plateDet', 'plates'))
    const rec = ctx.manifest(modelFor(ctx, 'plateRec', 'plates'))
    const cls = ctx.models.plateCls ? ctx.manifest(ctx.models.plateCls) : undefined
    return readPlates(ctx.runner, { det, rec, cls }, p.image, p.opts)
  },
}

/** Test-only tasks: make a worker die, stall or fail, so crash recovery and fairness can be tested for real. */
export const testTasks: Record<string, Task> = {
  __crash: async (_ctx, p: { code?: number }) => process.exit(p?.code ?? 7),
  __sleep: async (_ctx, p: { ms: number; tag?: unknown }) => {
    await new Promise((r) => setTimeout(r, p.ms))
    return p.tag
  },
  __echo: async (_ctx, p: { data: Float32Array }) => ({ data: p.data, transferred: p.data.byteLength }),
}
