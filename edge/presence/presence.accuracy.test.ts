import { describe, expect, it } from 'vitest'
import { Value } from '@sinclair/typebox/value'
import { PresenceEvent } from '../contracts/index.ts'
import { resolveConfig } from '../core/config.ts'
import { PresenceEngine } from './presence.engine.ts'
import { gaussian, rng, rssiAt, sighting } from './test-support.ts'

/**
 * Synthetic accuracy: devices walk between four 10 m × 10 m zones in a row (one sensor in the middle
 * of each, 2.5 m above the floor), dwell 30–120 s at random spots and walk on at 0.8–1.4 m/s to a
 * spot in another zone (so about a fifth of the time is spent walking, often through a third zone).
 * Each sensor hears each device once a second with log-normal RSSI noise (σ dB), 15 % packet loss and
 * a −100 dBm sensitivity. Accuracy = fraction of (device, second) samples where the engine's zone is
 * the zone the device is really in, walking included; `settled` leaves out the 10 s after each real
 * zone change, where the configured hysteresis (1 m margin held 4 s) lags by design.
 */

const ZONES = 4
const ZONE_M = 10
const SENSOR_HEIGHT_M = 2.5

interface Walker {
  x: number
  y: number
  tx: number
  ty: number
  speed: number
  dwellUntil: number
}

function simulate(devices: number, seconds: number, sigmaDb: number, seed: number) {
  const cfg = resolveConfig({
    zones: Array.from({ length: ZONES }, (_, i) => ({ id: `z${i}`, name: `Zone ${i}` })),
    sensors: Array.from({ length: ZONES }, (_, i) => ({ id: `s${i}`, zone: `z${i}` })),
  })
  const engine = new PresenceEngine(cfg)
  const u = rng(seed)
  const g = gaussian(rng(seed + 1))
  const spot = (zone: number) => ({ x: zone * ZONE_M + 1 + u() * (ZONE_M - 2), y: 1 + u() * (ZONE_M - 2) })
  const walkers: Walker[] = []
  for (let d = 0; d < devices; d++) {
    const p = spot(Math.floor(u() * ZONES))
    walkers.push({ ...p, tx: p.x, ty: p.y, speed: 0.8 + u() * 0.6, dwellUntil: Math.floor(u() * 120) })
  }
  const engineZone = new Map<string, string>()
  const t0 = 1_700_000_000_000
  const truthOf = new Map<number, { zone: string; since: number }>()
  let truthChanges = 0
  let hits = 0
  let samples = 0
  let settledHits = 0
  let settledSamples = 0
  let moves = 0
  let invalid = 0
  for (let sec = 0; sec < seconds; sec++) {
    for (let d = 0; d < devices; d++) {
      const w = walkers[d]!
      if (sec >= w.dwellUntil) {
        const dx = w.tx - w.x
        const dy = w.ty - w.y
        const dist = Math.hypot(dx, dy)
        if (dist <= w.speed) {
          w.x = w.tx
          w.y = w.ty
          if (sec > w.dwellUntil) {
            // arrived: dwell, then pick a target in another zone
            const cur = Math.floor(w.x / ZONE_M)
            const next = (cur + 1 + Math.floor(u() * (ZONES - 1))) % ZONES
            const p = spot(next)
            w.tx = p.x
            w.ty = p.y
            w.dwellUntil = sec + 30 + Math.floor(u() * 90)
          }
        } else {
          w.x += (dx / dist) * w.speed
          w.y += (dy / dist) * w.speed
        }
      }
      const id = `h:${d.toString(16).padStart(8, '0')}`
      for (let s = 0; s < ZONES; s++) {
        if (u() < 0.15) continue
        const ts = t0 + sec * 1000 + Math.floor(u() * 1000)
        const dist = Math.hypot(w.x - (s * ZONE_M + ZONE_M / 2), w.y - ZONE_M / 2, SENSOR_HEIGHT_M)
        const rssi = Math.round(rssiAt(dist, sigmaDb * g()))
        if (rssi < -100) continue
        for (const e of engine.ingest(sighting({ sensorId: `s${s}`, id, rssi, ts })) ?? []) {
          if (!Value.Check(PresenceEvent, e)) invalid++
          if (e.type === 'move') moves++
          engineZone.set(e.id, e.zone)
        }
      }
      const truth = `z${Math.floor(w.x / ZONE_M)}`
      const prevTruth = truthOf.get(d)
      if (prevTruth === undefined || prevTruth.zone !== truth) {
        if (prevTruth !== undefined) truthChanges++
        truthOf.set(d, { zone: truth, since: sec })
      }
      const got = engineZone.get(id)
      if (got !== undefined) {
        samples++
        if (got === truth) hits++
        if (sec - truthOf.get(d)!.since >= 10) {
          settledSamples++
          if (got === truth) settledHits++
        }
      }
    }
    engine.tick(t0 + sec * 1000 + 999)
  }
  return { accuracy: hits / samples, settled: settledHits / settledSamples, samples, moves, truthChanges, invalid }
}

describe('presence accuracy (synthetic)', () => {
  it('places walking devices in the right zone most of the time (σ = 4 dB)', () => {
    const r = simulate(40, 1200, 4, 7)
    console.log(
      `presence zone accuracy (σ 4 dB, 40 devices, 20 min, 4 zones): ${(r.accuracy * 100).toFixed(1)} % of ${r.samples} samples, ` +
        `${(r.settled * 100).toFixed(1)} % settled; ${r.moves} moves for ${r.truthChanges} real zone changes`,
    )
    expect(r.invalid).toBe(0)
    expect(r.accuracy).toBeGreaterThanOrEqual(0.85)
    expect(r.settled).toBeGreaterThanOrEqual(0.95)
    expect(r.moves).toBeLessThanOrEqual(r.truthChanges * 1.1) // no flapping on top of real changes
  })

  it('degrades gracefully with heavier noise (σ = 6 dB)', () => {
    const r = simulate(40, 1200, 6, 11)
    console.log(`presence zone accuracy (σ 6 dB): ${(r.accuracy * 100).toFixed(1)} %, ${(r.settled * 100).toFixed(1)} % settled; ${r.moves} moves for ${r.truthChanges} real zone changes`)
    expect(r.accuracy).toBeGreaterThanOrEqual(0.8)
  })
})
