import { beforeAll, describe, expect, it } from 'vitest'
import { ensureModels } from '../build.ts'
import { getModel, loadRegistry } from '../registry.ts'
import { convertGraph } from './convert.ts'
import { imageFeed, parity, PARITY_IMAGE, sourceModelJson } from './parity.ts'
import { readTfjsGraph } from './tfjs-model.ts'

/**
 * The four converted models against their TF.js originals (pure-JS CPU backend): a real photo
 * (opencv-doc's messi5.jpg, normalised per the manifest) and, for the smaller models, a seeded
 * random tensor too. TF.js runs faceres and nanodet for ~5 and ~15 s on one core, so they get the photo only
 * (`store-edge models build` checks both inputs for every model).
 */

const registry = loadRegistry()
const manifest = (name: string) => getModel(registry, name).manifest

beforeAll(async () => {
  await ensureModels(['blazeface', 'mobilefacenet', 'faceres', 'nanodet'])
}, 120_000)

describe('parity TF.js vs onnxruntime on real models', () => {
  for (const name of ['blazeface', 'mobilefacenet']) {
    it(`${name}: photo and random input under the manifest tolerance`, async () => {
      const m = manifest(name)
      const r = await parity(m)
      console.log(`parity ${name}: max |Δ| ${r.maxAbsDiff.toExponential(3)} ${JSON.stringify(r.perOutput)} inputs ${r.inputs.join(' + ')}`)
      expect(r.inputs).toContain(PARITY_IMAGE)
      expect(Object.keys(r.perOutput).sort()).toEqual(m.outputs.map((o) => o.name).sort())
      expect(m.build.kind === 'tfjs-graph' && r.maxAbsDiff).toBeLessThanOrEqual(m.build.kind === 'tfjs-graph' ? m.build.parityTolerance : 0)
    }, 60_000)
  }

  for (const name of ['faceres', 'nanodet']) {
    it(`${name}: the photo under the manifest tolerance`, async () => {
      const m = manifest(name)
      const img = await imageFeed(m)
      expect(img, `${PARITY_IMAGE} (Debian opencv-doc) is needed`).toBeDefined()
      const r = await parity(m, { inputs: [img!] })
      console.log(`parity ${name}: max |Δ| ${r.maxAbsDiff.toExponential(3)} ${JSON.stringify(r.perOutput)}`)
      expect(m.build.kind === 'tfjs-graph' && r.maxAbsDiff).toBeLessThanOrEqual(m.build.kind === 'tfjs-graph' ? m.build.parityTolerance : 0)
    }, 90_000)
  }

  it('the check can fail: a converted model with its last convolution perturbed is far outside the tolerance', async () => {
    const m = manifest('mobilefacenet')
    const graph = readTfjsGraph(sourceModelJson(m))
    const last = graph.nodes.filter((n) => n.op === '_FusedConv2D').pop()!
    const w = graph.weights.get(last.input[1]!)!
    for (let i = 0; i < w.data.length; i += 3) w.data[i] = -2 * w.data[i]!
    const bytes = convertGraph(graph, { name: 'mobilefacenet-perturbed' }).bytes
    const img = await imageFeed(m)
    const r = await parity(m, { onnx: bytes, inputs: [img!] })
    expect(r.maxAbsDiff).toBeGreaterThan(m.build.kind === 'tfjs-graph' ? m.build.parityTolerance * 10 : 1)
  }, 60_000)
})
