import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Crossing, LineSpec, TrackBox } from '../camera/types.ts'
import { LineCounter } from './counting-line.ts'

/** A confirmed 40×100 track whose feet are at (fx, fy). */
function feet(id: number, fx: number, fy: number, state: TrackBox['state'] = 'confirmed'): TrackBox {
  return { id, x: fx - 20, y: fy - 100, w: 40, h: 100, score: 0.9, state, hits: 5, firstTs: 0, lastTs: 0, vx: 0, vy: 0 }
}

/** Vertical segment x = 400 from y 100 (a) to 500 (b): "in" is towards larger x by default. */
const VERTICAL: LineSpec = { id: 'door', entrance: 'main', a: { x: 400, y: 100 }, b: { x: 400, y: 500 }, extended: false, lateCount: false, anchor: 'feet' }

/** Walks one track through the given feet x positions (at feet y = fy), one frame per 200 ms. */
function walk(counter: LineCounter, id: number, xs: number[], fy = 300, t0 = 0): Crossing[] {
  const out: Crossing[] = []
  xs.forEach((x, i) => out.push(...counter.update([feet(id, x, fy)], t0 + i * 200)))
  return out
}

const range = (from: number, to: number, step: number) => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step)

describe('LineCounter', () => {
  it('counts in and out by direction', () => {
    const c = new LineCounter(VERTICAL)
    expect(walk(c, 1, range(300, 500, 20))).toEqual([{ line: 'door', entrance: 'main', trackId: 1, dir: 'in', ts: 1200 }]) // x 400 is on the line; 420 at 1200 ms is in
    expect(walk(c, 2, range(500, 300, -20), 300, 5000).map((x) => [x.trackId, x.dir])).toEqual([[2, 'out']])
    expect(c.counts()).toEqual({ in: 1, out: 1, rejected: 0, repeated: 0 })
  })

  it('counts a track once per direction: round the end of the segment and in again is one in', () => {
    const c = new LineCounter(VERTICAL)
    const out: Crossing[] = []
    let ts = 0
    const step = (x: number, y: number) => out.push(...c.update([feet(7, x, y)], (ts += 200)))
    for (const x of range(300, 500, 25)) step(x, 300) // in through the segment
    for (const y of range(300, 600, 25)) step(500, y) // down past its end at y 500
    for (const x of range(500, 300, -25)) step(x, 600) // back to the out side below the segment
    for (const y of range(600, 300, -25)) step(300, y)
    for (const x of range(300, 500, 25)) step(x, 300) // in again
    expect(out.map((x) => x.dir)).toEqual(['in'])
    expect(c.counts()).toMatchObject({ in: 1, out: 0, rejected: 1, repeated: 1 })
  })

  it('in, out and in again through the line are three counts (they alternate)', () => {
    const c = new LineCounter(VERTICAL)
    const xs = [...range(300, 500, 50), ...range(450, 300, -50), ...range(350, 500, 50)]
    expect(walk(c, 3, xs).map((x) => x.dir)).toEqual(['in', 'out', 'in'])
  })

  it('jitter on the line does not count; leaving the band does, once', () => {
    const c = new LineCounter(VERTICAL, { hysteresisPx: 4 })
    const jitter = Array.from({ length: 40 }, (_, i) => 400 + (i % 2 ? 3.5 : -3.5) + (i % 3) * 0.1)
    const xs = [...range(300, 390, 30), ...jitter, ...range(410, 500, 30)]
    expect(walk(c, 4, xs).map((x) => x.dir)).toEqual(['in'])
    // The same walk with no hysteresis counts every wobble.
    const raw = new LineCounter(VERTICAL, { hysteresisPx: 0 })
    expect(walk(raw, 4, xs).length).toBeGreaterThan(10)
  })

  it('lateCount: back and forth cancels; the net is decided when the track ends', () => {
    const c = new LineCounter({ ...VERTICAL, lateCount: true }, { trackTimeoutMs: 1500 })
    // Track 1: in, out, in → net in. Track 2: in, out → nothing.
    const xs1 = [...range(300, 500, 50), ...range(450, 300, -50), ...range(350, 500, 50)]
    expect(walk(c, 1, xs1)).toEqual([])
    expect(walk(c, 2, [...range(300, 500, 50), ...range(450, 300, -50)], 250)).toEqual([])
    expect(c.counts()).toMatchObject({ in: 0, out: 0 })
    // Last seen: track 1 at 2400 ms, track 2 at 1850 ms; neither has been gone 1500 ms at 3300.
    expect(c.update([], 3300)).toEqual([])
    // Track 1's last crossing into "in" was x 400 → 450 at 2200 ms; track 2's net is 0.
    const done = c.update([], 4301)
    expect(done).toEqual([{ line: 'door', entrance: 'main', trackId: 1, dir: 'in', ts: 2200 }])
    expect(c.size()).toBe(0)
    expect(c.counts()).toMatchObject({ in: 1, out: 0 })
  })

  it('lateCount: endTrack and finish decide at once', () => {
    const c = new LineCounter({ ...VERTICAL, lateCount: true })
    walk(c, 1, range(500, 300, -50))
    walk(c, 2, range(300, 500, 50))
    expect(c.endTrack(1).map((x) => [x.trackId, x.dir])).toEqual([[1, 'out']])
    expect(c.endTrack(1)).toEqual([])
    expect(c.finish(9999).map((x) => [x.trackId, x.dir])).toEqual([[2, 'in']])
    expect(c.finish(9999)).toEqual([])
  })

  it('activation polygon: only crossings inside it count', () => {
    const activation = [
      { x: 350, y: 100 },
      { x: 450, y: 100 },
      { x: 450, y: 300 },
      { x: 350, y: 300 },
    ]
    const c = new LineCounter({ ...VERTICAL, activation })
    expect(walk(c, 1, range(300, 500, 20), 200).map((x) => x.dir)).toEqual(['in'])
    expect(walk(c, 2, range(300, 500, 20), 400)).toEqual([])
    expect(c.counts()).toMatchObject({ in: 1, rejected: 1 })
  })

  it('segment vs extended line', () => {
    const seg = new LineCounter(VERTICAL)
    const ext = new LineCounter({ ...VERTICAL, extended: true })
    expect(walk(seg, 1, range(300, 500, 20), 700)).toEqual([])
    expect(walk(ext, 1, range(300, 500, 20), 700).map((x) => x.dir)).toEqual(['in'])
    // A step that jumps across the segment's end counts only if the path cuts the segment itself.
    const seg2 = new LineCounter(VERTICAL)
    seg2.update([feet(2, 380, 480)], 0)
    expect(seg2.update([feet(2, 420, 540)], 200)).toHaveLength(0) // cuts x=400 at y 510: past b
    const seg3 = new LineCounter(VERTICAL)
    seg3.update([feet(3, 380, 470)], 0)
    expect(seg3.update([feet(3, 420, 520)], 200)).toHaveLength(1) // cuts at y 495
  })

  it('direction conventions: default left of a→b on screen, or the side of inPoint', () => {
    const dirOf = (spec: LineSpec, from: [number, number], to: [number, number]) => {
      const c = new LineCounter(spec)
      c.update([feet(1, ...from)], 0)
      return c.update([feet(1, ...to)], 200).map((x) => x.dir)
    }
    // Vertical top → bottom: larger x is in.
    expect(dirOf(VERTICAL, [300, 300], [500, 300])).toEqual(['in'])
    // Drawn bottom → top: larger x is out.
    expect(dirOf({ ...VERTICAL, a: VERTICAL.b, b: VERTICAL.a }, [300, 300], [500, 300])).toEqual(['out'])
    // Horizontal left → right (y = 300): up (smaller y) is in.
    const horizontal: LineSpec = { ...VERTICAL, a: { x: 100, y: 300 }, b: { x: 700, y: 300 } }
    expect(dirOf(horizontal, [400, 400], [400, 200])).toEqual(['in'])
    expect(dirOf(horizontal, [400, 200], [400, 400])).toEqual(['out'])
    // inPoint overrides: in is where it lies.
    expect(dirOf({ ...VERTICAL, inPoint: { x: 0, y: 0 } }, [300, 300], [500, 300])).toEqual(['out'])
    expect(dirOf({ ...horizontal, inPoint: { x: 400, y: 550 } }, [400, 200], [400, 400])).toEqual(['in'])
  })

  it('anchor: feet or centre', () => {
    // Horizontal line at y 300; the box's feet go from 280 to 340, its centre from 230 to 290.
    const horizontal: LineSpec = { ...VERTICAL, a: { x: 100, y: 300 }, b: { x: 700, y: 300 } }
    const feetC = new LineCounter(horizontal)
    const centreC = new LineCounter({ ...horizontal, anchor: 'center' })
    for (const c of [feetC, centreC]) {
      c.update([feet(1, 400, 280)], 0)
      c.update([feet(1, 400, 340)], 200)
    }
    expect(feetC.counts().out).toBe(1)
    expect(centreC.counts().out).toBe(0)
  })

  it('ignores tentative tracks; lost ones only stay alive', () => {
    const c = new LineCounter({ ...VERTICAL, lateCount: true }, { trackTimeoutMs: 1000 })
    c.update([feet(-3, 300, 300, 'tentative')], 0)
    c.update([feet(-3, 500, 300, 'tentative')], 200)
    expect(c.size()).toBe(0)
    c.update([feet(1, 300, 300)], 400)
    c.update([feet(1, 500, 300)], 600)
    // Lost at a predicted box back on the out side: no crossing, but the track is kept.
    expect(c.update([feet(1, 300, 300, 'lost')], 1500)).toEqual([])
    expect(c.update([feet(1, 300, 300, 'lost')], 2400)).toEqual([])
    expect(c.size()).toBe(1)
    expect(c.update([], 3401).map((x) => x.dir)).toEqual(['in'])
  })

  it('property: counts of a track alternate; a late count is the net side change, at most one', () => {
    const path = fc.array(fc.double({ min: -40, max: 40, noNaN: true }), { minLength: 1, maxLength: 60 })
    fc.assert(
      fc.property(path, fc.double({ min: 0, max: 6, noNaN: true }), (steps, hyst) => {
        const spec: LineSpec = { ...VERTICAL, extended: true }
        const now = new LineCounter(spec, { hysteresisPx: hyst })
        const late = new LineCounter({ ...spec, lateCount: true }, { hysteresisPx: hyst })
        let x = 400
        const seen: Crossing[] = []
        const sides: number[] = []
        steps.forEach((dx, i) => {
          x += dx
          seen.push(...now.update([feet(1, x, 300)], i * 200))
          late.update([feet(1, x, 300)], i * 200)
          if (Math.abs(x - 400) >= hyst) sides.push(Math.sign(x - 400))
        })
        for (let i = 1; i < seen.length; i++) expect(seen[i]!.dir).not.toBe(seen[i - 1]!.dir)
        const decided = late.finish()
        expect(decided.length).toBeLessThanOrEqual(1)
        const net = sides.length ? (sides.at(-1)! - sides[0]!) / 2 : 0
        expect(decided.map((c) => c.dir)).toEqual(net > 0 ? ['in'] : net < 0 ? ['out'] : [])
      }),
      { numRuns: 500, seed: 6 },
    )
  })
})
