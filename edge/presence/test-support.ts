import type { Sighting } from '../contracts/index.ts'
import { resolveConfig, type EdgeConfig } from '../core/config.ts'

/** Helpers shared by the presence and aggregate tests (not production code). */

/** Deterministic PRNG (mulberry32), uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Standard normal samples (Box–Muller) from a uniform source. */
export function gaussian(uniform: () => number): () => number {
  return () => {
    const u = 1 - uniform()
    const v = uniform()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
}

/** RSSI a sensor with default calibration reports at `d` metres (rssiAt1m −65, absorption 3.5). */
export function rssiAt(d: number, noiseDb = 0, ref = -65, absorption = 3.5): number {
  return ref - 10 * absorption * Math.log10(d) + noiseDb
}

/** A store config through the real schema (defaults filled), with zones a, b (floor 0) and c (floor 1). */
export function testConfig(overrides: Record<string, unknown> = {}): EdgeConfig {
  return resolveConfig({
    zones: [
      { id: 'a', name: 'A', floor: 0 },
      { id: 'b', name: 'B', floor: 0 },
      { id: 'c', name: 'C', floor: 1 },
    ],
    sensors: [
      { id: 'sa', zone: 'a' },
      { id: 'sb', zone: 'b' },
      { id: 'sc', zone: 'c' },
    ],
    ...overrides,
  })
}

export function sighting(over: Partial<Sighting> & Pick<Sighting, 'sensorId' | 'id' | 'rssi' | 'ts'>): Sighting {
  return { source: 'ble', idKind: 'mac', randomAddress: false, deviceClass: 'android', ...over }
}
