import { describe, expect, it } from 'vitest'
import { WifiVisitClassifier, type VisitClass, type VisitEvent } from './wifi-visits.ts'
import { sighting, testConfig } from './test-support.ts'

const T0 = 1_700_000_000_000
const MIN = 60_000
const DAY = 86_400_000
const wifi = testConfig().wifi // enter −70, stay −80, gap 5 min, min visit 3 min, repeat 30 days

const probe = (id: string, rssi: number, ts: number, extra: Record<string, unknown> = {}) =>
  sighting({ source: 'wifi', sensorId: 'sa', id, rssi, ts, ...extra })

function run(c: WifiVisitClassifier, probes: Array<[number, number]>, id = 'h:1', extra: Record<string, unknown> = {}) {
  const events: VisitEvent[] = []
  const classes: VisitClass[] = []
  for (const [ts, rssi] of probes) classes.push(c.observe(probe(id, rssi, ts, extra), events))
  return { events, classes }
}

describe('WifiVisitClassifier', () => {
  it('a walk-by at −75 dBm for 40 s is a passer-by and opens no visit', () => {
    const c = new WifiVisitClassifier(wifi)
    const { events, classes } = run(c, Array.from({ length: 9 }, (_, i): [number, number] => [T0 + i * 5000, -75]))
    expect(new Set(classes)).toEqual(new Set(['passer-by']))
    expect(events).toEqual([])
    expect(c.size).toBe(0)
    expect(c.tick(T0 + 60 * MIN)).toEqual([])
  })

  it('a strong but short pass (−60 dBm for 40 s) is pending, then a passer-by when the gap closes it', () => {
    const c = new WifiVisitClassifier(wifi)
    const { events, classes } = run(c, Array.from({ length: 9 }, (_, i): [number, number] => [T0 + i * 5000, -60]))
    expect(new Set(classes)).toEqual(new Set(['pending']))
    expect(events).toEqual([])
    expect(c.tick(T0 + 40_000 + 5 * MIN)).toEqual([]) // exactly the tolerance: still open
    const closed = c.tick(T0 + 40_001 + 5 * MIN)
    expect(closed).toMatchObject([{ type: 'pass', id: 'h:1', source: 'wifi', durationMs: 40_000 }])
    expect(c.size).toBe(0)
  })

  it('10 minutes at −65 dBm with 3-minute gaps is one visit, confirmed at minVisitMs', () => {
    const c = new WifiVisitClassifier(wifi)
    const { events, classes } = run(c, [
      [T0, -65],
      [T0 + 3 * MIN, -65],
      [T0 + 6 * MIN, -65],
      [T0 + 9 * MIN, -65],
      [T0 + 10 * MIN, -65],
    ])
    expect(classes).toEqual(['pending', 'visitor', 'visitor', 'visitor', 'visitor'])
    expect(events).toMatchObject([{ type: 'visit', id: 'h:1', repeat: false, ts: T0 + 3 * MIN, durationMs: 3 * MIN }])
    const end = c.tick(T0 + 16 * MIN)
    expect(end).toMatchObject([{ type: 'end', durationMs: 10 * MIN }])
  })

  it('weak probes never start a visit but keep one alive above stayRssi; too weak ones do not', () => {
    const c = new WifiVisitClassifier(wifi)
    // −75 (between stay −80 and enter −70) keeps the visit alive past minVisitMs
    const a = run(c, [
      [T0, -75],
      [T0 + MIN, -68],
      [T0 + 3 * MIN, -75],
      [T0 + 4 * MIN, -78],
    ])
    expect(a.classes).toEqual(['passer-by', 'pending', 'pending', 'visitor'])
    // −85 is below stayRssi: heard but does not extend the visit, which ends short
    const b = run(c, [
      [T0, -68],
      [T0 + 2 * MIN, -85],
      [T0 + 4 * MIN, -85],
    ], 'h:2')
    expect(b.classes).toEqual(['pending', 'pending', 'pending'])
    expect(c.tick(T0 + 5 * MIN + 1).filter((e) => e.id === 'h:2')).toMatchObject([{ type: 'pass', durationMs: 0 }])
  })

  it('a gap longer than gapToleranceMs splits visits, even without tick()', () => {
    const c = new WifiVisitClassifier(wifi)
    const { events } = run(c, [
      [T0, -60],
      [T0 + 4 * MIN, -60], // visit 1 confirmed
      [T0 + 10 * MIN, -60], // 6 min gap: visit 1 ends, visit 2 starts
      [T0 + 14 * MIN, -60], // visit 2 confirmed: repeat (visit 1 ended 10 min before)
    ])
    expect(events.map((e) => [e.type, e.repeat])).toEqual([
      ['visit', false],
      ['end', false],
      ['visit', true],
    ])
  })

  it('repeat only within repeatWindowDays; random-address devices are never repeat nor remembered', () => {
    const c = new WifiVisitClassifier({ ...wifi, repeatWindowDays: 7 })
    const visit = (id: string, start: number, extra: Record<string, unknown> = {}) => {
      const { events } = run(c, [
        [start, -60],
        [start + 4 * MIN, -60],
      ], id, extra)
      c.tick(start + 20 * MIN)
      return events.find((e) => e.type === 'visit')!
    }
    expect(visit('h:1', T0).repeat).toBe(false)
    expect(visit('h:1', T0 + 2 * DAY).repeat).toBe(true)
    expect(visit('h:1', T0 + 10 * DAY).repeat).toBe(false) // the last visit ended 8 days before
    expect(visit('h:r', T0, { randomAddress: true }).repeat).toBe(false)
    expect(visit('h:r', T0 + DAY, { randomAddress: true })).toMatchObject({ repeat: false, randomAddress: true })
    expect(c.remembered).toBe(1)
    c.tick(T0 + 30 * DAY)
    expect(c.remembered).toBe(0) // pruned past the window
  })

  it('stays bounded: open visits and the repeat memory are capped, least recent first', () => {
    const c = new WifiVisitClassifier(wifi, { maxOpenVisits: 3, maxRemembered: 2 })
    const events: VisitEvent[] = []
    for (let i = 0; i < 5; i++) c.observe(probe(`h:${i}`, -60, T0 + i), events)
    expect(c.size).toBe(3)
    expect(events.map((e) => [e.type, e.id])).toEqual([
      ['pass', 'h:0'],
      ['pass', 'h:1'],
    ])
    for (let i = 0; i < 4; i++) {
      c.observe(probe(`v:${i}`, -60, T0 + i * 10 * MIN))
      c.observe(probe(`v:${i}`, -60, T0 + i * 10 * MIN + 4 * MIN))
      c.tick(T0 + i * 10 * MIN + 10 * MIN - 1)
    }
    expect(c.remembered).toBe(2)
  })

  it('applies the per-sensor RSSI offset before the thresholds', () => {
    const c = new WifiVisitClassifier(wifi, { sensors: [{ id: 'sa', rssiOffset: 10 }] })
    expect(c.observe(probe('h:1', -75, T0))).toBe('pending') // −75 + 10 = −65 ≥ −70
  })

  describe('address rotation stitching', () => {
    // A phone that rotates its random address every 5 minutes during a 12-minute visit.
    const rotating = (c: WifiVisitClassifier, extra: Record<string, unknown> = {}) => {
      const events: VisitEvent[] = []
      for (let t = 0; t <= 12 * MIN; t += 5000) {
        const id = `h:rot${Math.floor(t / (5 * MIN))}`
        c.observe(probe(id, -60, T0 + t, { randomAddress: true, idKind: 'random', deviceClass: 'apple', ...extra }), events)
      }
      events.push(...c.tick(T0 + 30 * MIN))
      return events
    }

    it('continues one visit across rotated random addresses (one visit, not three)', () => {
      const c = new WifiVisitClassifier(wifi)
      const events = rotating(c)
      expect(events.filter((e) => e.type === 'visit')).toHaveLength(1)
      expect(events.filter((e) => e.type === 'end')).toMatchObject([{ durationMs: 12 * MIN }])
      expect(events.filter((e) => e.type === 'pass')).toEqual([])
      expect(c.stitched).toBe(2)
    })

    it('without stitching the same phone counts as several visits', () => {
      const events = rotating(new WifiVisitClassifier(wifi, { stitchMs: 0 }))
      expect(events.filter((e) => e.type === 'visit').length + events.filter((e) => e.type === 'pass').length).toBe(3)
    })

    it('never stitches a public address, another device class, another sensor, or a device that left long ago', () => {
      const c = new WifiVisitClassifier(wifi)
      const ev: VisitEvent[] = []
      c.observe(probe('h:a', -60, T0, { randomAddress: true, idKind: 'random', deviceClass: 'apple' }), ev)
      // 5 s later: an Android phone, a phone at another sensor, a public address: all new visits
      c.observe(probe('h:b', -60, T0 + 5000, { randomAddress: true, idKind: 'random', deviceClass: 'android' }), ev)
      c.observe(sighting({ source: 'wifi', sensorId: 'sb', id: 'h:c', rssi: -60, ts: T0 + 5000, randomAddress: true, idKind: 'random', deviceClass: 'apple' }), ev)
      c.observe(probe('h:d', -60, T0 + 5000, { deviceClass: 'apple' }), ev)
      // 60 s later (beyond stitchMs): a new apple phone at the same sensor is a new visit too
      c.observe(probe('h:e', -60, T0 + 65_000, { randomAddress: true, idKind: 'random', deviceClass: 'apple' }), ev)
      expect(c.stitched).toBe(0)
      expect(c.size).toBe(5)
    })
  })
})
