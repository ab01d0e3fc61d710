import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CameraConfig } from '../../edge/contracts/index.ts'
import { resolveConfig } from '../../edge/core/config.ts'
import type { TruthCrossing } from '../../edge/vision/audit/match-crossings.ts'
import { packageRoot } from '../../models/paths.ts'

/** The hand-counted counting line on vtest.avi (tests/fixtures/vtest/README.md) as camera config. */
// From the package root: the benchmark runs this bundled in dist/.
const FIX = join(packageRoot(), 'tests', 'fixtures', 'vtest')
export const vtestLine = JSON.parse(readFileSync(join(FIX, 'line.json'), 'utf8')) as {
  width: number
  height: number
  fps: number
  line: { a: { x: number; y: number }; b: { x: number; y: number } }
}
export const vtestTruth = JSON.parse(readFileSync(join(FIX, 'line-truth.json'), 'utf8')) as TruthCrossing[]

/** A camera with the hand-counted line (normalised; "in" toward larger x) at the live detect rate. */
export function vtestCamera(id: string, url: string, over: Partial<CameraConfig> = {}, fps = 5): CameraConfig {
  const { width: w, height: h, line } = vtestLine
  return resolveConfig({
    cameras: [
      {
        id,
        url,
        detect: { fps, width: 768, height: 576 },
        lines: [{ id: 'door', entrance: 'main', a: { x: line.a.x / w, y: line.a.y / h }, b: { x: line.b.x / w, y: line.b.y / h } }],
        ...over,
      },
    ],
  }).cameras[0]!
}
