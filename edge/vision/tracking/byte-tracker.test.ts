import { describe, expect, it } from 'vitest'
import type { TrackBox } from '../camera/types.ts'
import { ByteTracker, type ByteTrackerOptions, type Detection } from './byte-tracker.ts'
import { rng } from '../../presence/test-support.ts'

const FRAME = 200 // 5 fps, the detect rate of the cameras

/** Runs a tracker over frames of detections; returns every frame's confirmed tracks. */
function run(frames: Array<{ ts: number; dets: Detection[] }>, opts?: Partial<ByteTrackerOptions>): TrackBox[][] {
  const t = new ByteTracker(opts)
  return frames.map((f) => t.update(f.dets, f.ts))
}

function nearest(tracks: TrackBox[], x: number, y: number): TrackBox | undefined {
  let best: TrackBox | undefined
  let bd = Infinity
  for (const t of tracks) {
    const d = Math.hypot(t.x - x, t.y - y)
    if (d < bd) [best, bd] = [t, d]
  }
  return bd < 30 ? best : undefined
}

describe('ByteTracker', () => {
  it('keeps a slowing person through a 1 s occlusion on low-score boxes; without them the id switches', () => {
    // Walks right at 100 px/s; occluded (score 0.3) for 1 s while slowing to a stop; then seen again.
    const xAt = (ts: number) => {
      if (ts <= 2000) return 100 + 0.1 * ts
      const tau = Math.min(ts - 2000, 1000) / 1000
      return 300 + 100 * tau - 50 * tau * tau
    }
    const frames = []
    for (let ts = 0; ts <= 4000; ts += FRAME) {
      const occluded = ts > 2000 && ts <= 3000
      frames.push({ ts, dets: [{ x: xAt(ts), y: 200, w: 40, h: 100, score: occluded ? 0.3 : 0.9 }] })
    }
    const withLow = run(frames)
    // Confirmed from the second frame on, one id, reported on every frame (occlusion included).
    expect(withLow[0]).toEqual([])
    for (const tracks of withLow.slice(1)) {
      expect(tracks.map((t) => t.id)).toEqual([1])
      expect(tracks[0]!.state).toBe('confirmed')
    }
    expect(Math.abs(withLow.at(-1)![0]!.x - xAt(4000))).toBeLessThan(3)

    // The same frames with the second association off (weak boxes dropped): the track is lost during
    // the occlusion, its prediction runs on at 100 px/s and the person is a new track afterwards.
    const highOnly = run(frames, { lowThresh: 0.5 })
    const ids = new Set(highOnly.flat().map((t) => t.id))
    expect([...ids]).toEqual([1, 2])
    expect(highOnly.slice(12, 16).every((f) => f.length === 0)).toBe(true)
  })

  it('two people crossing keep their ids, also when the one behind is half hidden', () => {
    // A walks right at y=100, B walks left at y=130; they pass each other at t ≈ 2 s.
    const a = (ts: number) => ({ x: 150 + 0.1 * ts, y: 100 })
    const b = (ts: number) => ({ x: 550 - 0.1 * ts, y: 130 })
    for (const hideB of [false, true]) {
      const frames = []
      for (let ts = 0; ts <= 4000; ts += FRAME) {
        const pa = a(ts)
        const pb = b(ts)
        const overlapping = Math.abs(pa.x - pb.x) < 40
        frames.push({
          ts,
          dets: [
            { ...pb, w: 40, h: 100, score: hideB && overlapping ? 0.35 : 0.85 },
            { ...pa, w: 40, h: 100, score: 0.9 },
          ],
        })
      }
      const out = run(frames)
      const idA = nearest(out[1]!, a(FRAME).x, 100)!.id
      const idB = nearest(out[1]!, b(FRAME).x, 130)!.id
      expect(idA).not.toBe(idB)
      for (let i = 1; i < frames.length; i++) {
        const ts = frames[i]!.ts
        expect(nearest(out[i]!, a(ts).x, 100)?.id, `A at ${ts} ms`).toBe(idA)
        expect(nearest(out[i]!, b(ts).x, 130)?.id, `B at ${ts} ms`).toBe(idB)
      }
    }
  })

  it('a one-frame false positive never becomes a track nor uses an id', () => {
    const t = new ByteTracker()
    expect(t.update([], 0)).toEqual([])
    expect(t.update([{ x: 300, y: 300, w: 40, h: 100, score: 0.95 }], 200)).toEqual([])
    expect(t.allTracks().map((x) => x.state)).toEqual(['tentative'])
    expect(t.update([], 400)).toEqual([])
    expect(t.allTracks()).toEqual([])
    // A real person afterwards is id 1.
    t.update([{ x: 10, y: 10, w: 40, h: 100, score: 0.9 }], 600)
    expect(t.update([{ x: 14, y: 10, w: 40, h: 100, score: 0.9 }], 800).map((x) => x.id)).toEqual([1])
  })

  it('low-score boxes and boxes below newTrackThresh start nothing', () => {
    const t = new ByteTracker()
    for (let ts = 0; ts < 2000; ts += FRAME) {
      expect(
        t.update(
          [
            { x: 100, y: 100, w: 40, h: 100, score: 0.3 },
            { x: 300, y: 100, w: 40, h: 100, score: 0.55 },
          ],
          ts,
        ),
      ).toEqual([])
    }
    expect(t.allTracks()).toEqual([])
  })

  it('removes a lost track after maxLostMs of time, whatever the frame rate', () => {
    const t = new ByteTracker({ maxLostMs: 1500 })
    const box = { x: 100, y: 100, w: 40, h: 100, score: 0.9 }
    t.update([box], 0)
    t.update([box], 100)
    expect(t.update([], 700)).toEqual([])
    expect(t.allTracks().map((x) => [x.id, x.state])).toEqual([[1, 'lost']])
    t.update([], 1600) // 1500 ms since the last sighting: still kept
    expect(t.allTracks()).toHaveLength(1)
    expect(t.removedIds()).toEqual([])
    t.update([], 1601)
    expect(t.allTracks()).toEqual([])
    expect(t.removedIds()).toEqual([1])
    t.update([], 1800)
    expect(t.removedIds()).toEqual([])
  })

  it('re-finds a lost track by its predicted box and keeps its id', () => {
    const t = new ByteTracker()
    const at = (ts: number) => ({ x: 100 + 0.1 * ts, y: 100, w: 40, h: 100, score: 0.9 })
    for (let ts = 0; ts <= 1000; ts += FRAME) t.update([at(ts)], ts)
    for (let ts = 1200; ts <= 2000; ts += FRAME) expect(t.update([], ts)).toEqual([])
    const back = t.update([at(2200)], 2200)
    expect(back.map((x) => [x.id, x.state])).toEqual([[1, 'confirmed']])
  })

  it('observation-centric re-update: after a gap the velocity follows the observations', () => {
    // Walks right at 60 px/s, unseen for 0.8 s during which it stops; found again standing.
    const box = (x: number) => ({ x, y: 100, w: 100, h: 200, score: 0.9 })
    const frames = []
    for (let ts = 0; ts <= 2000; ts += FRAME) frames.push({ ts, dets: [box(100 + 0.06 * ts)] })
    for (let ts = 2200; ts <= 2800; ts += FRAME) frames.push({ ts, dets: [] })
    frames.push({ ts: 3000, dets: [box(220)] })
    const oc = run(frames).at(-1)!
    const plain = run(frames, { observationCentric: false }).at(-1)!
    expect(oc.map((x) => x.id)).toEqual([1])
    expect(plain.map((x) => x.id)).toEqual([1])
    // The virtual path says it moved 0 px in 1 s; the plain filter still believes in most of 60 px/s.
    expect(Math.abs(oc[0]!.vx)).toBeLessThan(Math.abs(plain[0]!.vx))
    expect(Math.abs(oc[0]!.vx)).toBeLessThan(25)
  })

  it('is deterministic, with ids in order of confirmation', () => {
    const rand = rng(42)
    const people = Array.from({ length: 12 }, () => ({ x: rand() * 700, y: rand() * 450, vx: (rand() - 0.5) * 0.3, vy: (rand() - 0.5) * 0.1, start: Math.floor(rand() * 20) * FRAME }))
    const frames = []
    for (let ts = 0; ts <= 8000; ts += FRAME) {
      const dets: Detection[] = []
      for (const p of people) {
        if (ts < p.start) continue
        const dt = ts - p.start
        const score = rand()
        dets.push({ x: p.x + p.vx * dt + (rand() - 0.5) * 4, y: p.y + p.vy * dt + (rand() - 0.5) * 4, w: 30 + rand() * 4, h: 80 + rand() * 6, score })
      }
      frames.push({ ts, dets })
    }
    const first = run(frames)
    expect(JSON.stringify(run(frames))).toBe(JSON.stringify(first))
    const order: number[] = []
    for (const f of first) for (const t of f) if (!order.includes(t.id)) order.push(t.id)
    expect(order.length).toBeGreaterThan(5)
    expect(order).toEqual([...order].sort((p, q) => p - q))
    expect(order[0]).toBe(1)
    // Every id is one of a dense 1..n range (no ids spent on tentative tracks).
    expect(Math.max(...order)).toBe(order.length)
  })
})
