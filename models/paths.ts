import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Where the registry lives on disk. The code runs from source (tsx, vitest) and from the esbuild
 * bundle in dist/, so paths are found from the package root, not from this file's location.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const pj = join(dir, 'package.json')
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'store-edge') return dir
    const up = dirname(dir)
    if (up === dir) throw new Error('store-edge package root not found above ' + fileURLToPath(import.meta.url))
    dir = up
  }
}

/** Our manifests, committed. */
export function manifestsDir(): string {
  return join(packageRoot(), 'models', 'manifests')
}

/** Where built .onnx files land (not committed); STORE_EDGE_MODELS_DIR overrides. */
export function defaultModelsDir(): string {
  return resolve(process.env.STORE_EDGE_MODELS_DIR ?? join(packageRoot(), 'models', 'build'))
}
