import { describe, expect, it } from 'vitest'
import type { TrackBox, ZoneEvent, ZoneSpec } from '../camera/types.ts'
import { ZoneMonitor } from './zone-monitor.ts'

function feet(id: number, fx: number, fy: number, state: TrackBox['state'] = 'confirmed'): TrackBox {
  return { id, x: fx - 20, y: fy - 100, w: 40, h: 100, score: 0.9, state, hits: 5, firstTs: 0, lastTs: 0, vx: 0, vy: 0 }
}

const SQUARE = [
  { x: 100, y: 100 },
  { x: 300, y: 100 },
  { x: 300, y: 300 },
  { x: 100, y: 300 },
]
const ZONE: ZoneSpec = { id: 'till', polygon: SQUARE, loiterMs: 0, maxPeople: 0, overcrowdHoldMs: 0, clearHoldMs: 0 }

const brief = (e: ZoneEvent) => ('trackId' in e ? [e.type, e.trackId, e.ts, 'dwellMs' in e ? e.dwellMs : null] : [e.type, e.ts, e.count])

describe('ZoneMonitor', () => {
  it('enter, exit after the grace time, dwell; people per zone', () => {
    const z = new ZoneMonitor([ZONE], { exitGraceMs: 500 })
    const ev: ZoneEvent[] = []
    ev.push(...z.update([feet(1, 50, 200)], 0))
    ev.push(...z.update([feet(1, 150, 200)], 1000))
    expect(z.counts()).toEqual(new Map([['till', 1]]))
    expect(z.zonesOf(1)).toEqual(['till'])
    ev.push(...z.update([feet(1, 250, 200)], 3000))
    ev.push(...z.update([feet(1, 350, 200)], 3200)) // outside from 3200
    ev.push(...z.update([feet(1, 400, 200)], 3600))
    expect(z.counts().get('till')).toBe(1) // still within the grace time
    ev.push(...z.update([feet(1, 450, 200)], 3700))
    expect(ev.map(brief)).toEqual([
      ['enter', 1, 1000, null],
      ['exit', 1, 3200, 2200],
    ])
    expect(z.counts().get('till')).toBe(0)
    expect(z.zonesOf(1)).toEqual([])
  })

  it('jitter across the border does not flap', () => {
    const z = new ZoneMonitor([ZONE], { exitGraceMs: 500 })
    const ev: ZoneEvent[] = []
    for (let i = 0; i < 30; i++) ev.push(...z.update([feet(1, i % 2 ? 298 : 302, 200)], i * 200))
    expect(ev.map((e) => e.type)).toEqual(['enter'])
  })

  it('a track that disappears exits after the timeout, dated when last seen inside', () => {
    const z = new ZoneMonitor([ZONE], { trackTimeoutMs: 1500 })
    z.update([feet(4, 200, 200)], 0)
    z.update([feet(4, 200, 200)], 400)
    expect(z.update([], 1900)).toEqual([])
    expect(z.update([], 1901).map(brief)).toEqual([['exit', 4, 400, 400]])
  })

  it('loitering is raised once per track and zone, re-entering does not repeat it', () => {
    const z = new ZoneMonitor([{ ...ZONE, loiterMs: 3000 }], { exitGraceMs: 0 })
    const ev: ZoneEvent[] = []
    for (let ts = 0; ts <= 10_000; ts += 200) ev.push(...z.update([feet(1, 200, 200), feet(2, ts < 2000 ? 200 : 500, 200)], ts))
    // Track 1 leaves and comes back, and stays long again.
    ev.push(...z.update([feet(1, 500, 200)], 10_200))
    for (let ts = 10_400; ts <= 20_000; ts += 200) ev.push(...z.update([feet(1, 200, 200)], ts))
    expect(ev.filter((e) => e.type === 'loitering').map(brief)).toEqual([['loitering', 1, 3000, 3000]])
    expect(ev.filter((e) => e.type === 'enter').map(brief)).toEqual([
      ['enter', 1, 0, null],
      ['enter', 2, 0, null],
      ['enter', 1, 10_400, null],
    ])
  })

  it('overcrowding with hold times on the way up and down', () => {
    const z = new ZoneMonitor([{ ...ZONE, maxPeople: 2, overcrowdHoldMs: 2000, clearHoldMs: 3000 }], { exitGraceMs: 0 })
    const ev: ZoneEvent[] = []
    const frame = (ts: number, n: number) => {
      const tracks = [1, 2, 3, 4].map((id) => feet(id, id <= n ? 120 + id * 30 : 500, 200))
      ev.push(...z.update(tracks, ts))
    }
    frame(0, 3) // 3 > 2 from 0
    frame(1000, 3)
    frame(1500, 2) // drops back before the hold: no alert
    frame(1600, 3) // over again from 1600
    frame(3400, 3)
    expect(ev.filter((e) => e.type === 'overcrowded')).toEqual([])
    frame(3600, 4) // held 2000 ms
    expect(z.overcrowded()).toEqual(['till'])
    frame(4000, 2) // at max from 4000
    frame(6000, 2)
    frame(6500, 3) // over again before the clear hold: still crowded
    frame(7000, 1) // at or below from 7000
    frame(9999, 2)
    frame(10_000, 2)
    frame(12_000, 1)
    expect(ev.filter((e) => e.type.startsWith('overcrowd')).map(brief)).toEqual([
      ['overcrowded', 3600, 4],
      ['overcrowding-cleared', 10_000, 2],
    ])
    expect(ev.find((e) => e.type === 'overcrowded')).toMatchObject({ zone: 'till', max: 2 })
    expect(z.overcrowded()).toEqual([])
  })

  it('dwell percentiles of the stays ended since the last drain', () => {
    const z = new ZoneMonitor([ZONE, { ...ZONE, id: 'other', polygon: SQUARE.map((p) => ({ x: p.x + 1000, y: p.y })) }], { exitGraceMs: 0 })
    // Ten people with stays of 1..10 s.
    for (let id = 1; id <= 10; id++) {
      z.update([feet(id, 200, 200)], id * 100_000)
      z.update([feet(id, 200, 200)], id * 100_000 + id * 1000)
      z.update([feet(id, 500, 200)], id * 100_000 + id * 1000 + 200)
    }
    expect(z.drainDwell()).toEqual({
      till: { stays: 10, p50Ms: 5200, p90Ms: 9200 },
      other: { stays: 0, p50Ms: null, p90Ms: null },
    })
    expect(z.drainDwell().till).toEqual({ stays: 0, p50Ms: null, p90Ms: null })
  })

  it('skips tentative tracks, keeps lost ones, finish() ends every stay', () => {
    const z = new ZoneMonitor([ZONE], { trackTimeoutMs: 1000 })
    expect(z.update([feet(-2, 200, 200, 'tentative')], 0)).toEqual([])
    z.update([feet(1, 200, 200)], 200)
    z.update([feet(1, 900, 900, 'lost')], 1000) // a prediction outside: no exit, still alive
    z.update([feet(1, 900, 900, 'lost')], 2000)
    expect(z.counts().get('till')).toBe(1)
    expect(z.finish().map(brief)).toEqual([['exit', 1, 200, 0]])
  })
})
