import { describe, expect, it } from 'vitest'
import type { Campaign, Member } from './payloads/marketing.ts'
import { audienceAllows, campaignProblems, couponKey, eventMatches, geofenceEventId, geofenceProblems, inHoldout, localTime, scheduleAllows } from './rules.ts'

const base: Campaign = {
  id: 'welcome',
  name: 'Welcome',
  version: 1,
  enabled: true,
  stores: ['s1'],
  event: 'enter',
  zones: ['entrance'],
  audience: { membersOnly: true },
  schedule: {},
  caps: {},
  holdoutPct: 0,
  priority: 100,
  lateAfterS: 900,
  coupon: { templateId: 't1', title: '10 off', body: '', valueCents: 1000, validHours: 24 },
}
const member: Member = { ref: 'm-1', tier: 2, tags: ['beauty'], beaconIds: [], plates: [], visits: 3, lastVisitAt: 0 }
const TZ = 'Asia/Shanghai'
// 2026-12-02 10:30 in Shanghai (UTC+8), a Wednesday.
const WED_1030 = Date.UTC(2026, 11, 2, 2, 30)

describe('campaignProblems', () => {
  it('accepts a sound campaign', () => expect(campaignProblems(base)).toEqual([]))
  it('names every cross-field problem with its path', () => {
    const bad: Campaign = {
      ...base,
      event: 'dwell',
      zones: ['a', 'a'],
      visitZones: ['cosmetics'],
      schedule: { start: '10:00', end: '10:00', from: '2026-12-31', until: '2026-12-01' },
      caps: { perMemberPerDay: 5, perMemberPerWeek: 2 },
      coupon: { ...base.coupon, percentOff: 10 },
      audience: { membersOnly: true, firstVisit: true, lapsedDays: 30 },
    }
    const p = campaignProblems(bad, { zones: new Set(['a']) })
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringContaining('/dwellS'),
        expect.stringContaining('/visitZones'),
        expect.stringContaining('/zones: duplicate'),
        expect.stringContaining('/visitZones/0: unknown zone "cosmetics"'),
        expect.stringContaining('start equals end'),
        expect.stringContaining('is after until'),
        expect.stringContaining('perMemberPerDay (5) exceeds perMemberPerWeek (2)'),
        expect.stringContaining('not both'),
        expect.stringContaining('firstVisit and lapsedDays'),
      ]),
    )
  })
})

describe('geofenceProblems', () => {
  const poly = (points: Array<[number, number]>) => ({ id: 'g', name: 'g', bufferM: 50, shape: { kind: 'polygon' as const, points: points.map(([lat, lng]) => ({ lat, lng })) } })
  it('accepts a square and rejects a bow-tie and a line', () => {
    expect(geofenceProblems(poly([[0, 0], [0, 1], [1, 1], [1, 0]]))).toEqual([])
    expect(geofenceProblems(poly([[0, 0], [1, 1], [0, 1], [1, 0]])).join('\n')).toContain('edges 0 and 2 cross')
    expect(geofenceProblems(poly([[0, 0], [1, 1], [2, 2]]))[0]).toContain('no area')
  })
})

describe('schedule in the store time zone', () => {
  it('reads local date, weekday and minutes', () => {
    expect(localTime(WED_1030, TZ)).toEqual({ date: '2026-12-02', weekday: 3, minutes: 630 })
    expect(localTime(WED_1030, 'UTC')).toEqual({ date: '2026-12-02', weekday: 3, minutes: 150 })
  })
  it('applies days, hours across midnight, quiet hours and dates', () => {
    expect(scheduleAllows({}, WED_1030, TZ)).toEqual({ ok: true })
    expect(scheduleAllows({ days: [0, 6] }, WED_1030, TZ)).toEqual({ ok: false, reason: 'weekday' })
    expect(scheduleAllows({ start: '10:00', end: '22:00' }, WED_1030, TZ)).toEqual({ ok: true })
    expect(scheduleAllows({ start: '11:00', end: '22:00' }, WED_1030, TZ)).toEqual({ ok: false, reason: 'hours' })
    expect(scheduleAllows({ start: '22:00', end: '11:00' }, WED_1030, TZ)).toEqual({ ok: true })
    expect(scheduleAllows({ quietHours: [{ start: '10:00', end: '10:45' }] }, WED_1030, TZ)).toEqual({ ok: false, reason: 'quiet-hours' })
    expect(scheduleAllows({ from: '2026-12-03' }, WED_1030, TZ)).toEqual({ ok: false, reason: 'date' })
    expect(scheduleAllows({ until: '2026-12-02' }, WED_1030, TZ)).toEqual({ ok: true })
  })
})

describe('audience', () => {
  it('tiers, tags, first visit and lapse', () => {
    const h = { previousVisits: 3, previousVisitAt: WED_1030 - 40 * 86_400_000 }
    expect(audienceAllows({ membersOnly: true }, undefined, h, WED_1030)).toEqual({ ok: false, reason: 'not-member' })
    expect(audienceAllows({ membersOnly: false }, undefined, h, WED_1030)).toEqual({ ok: true })
    expect(audienceAllows({ membersOnly: true, tiers: [3] }, member, h, WED_1030)).toEqual({ ok: false, reason: 'tier' })
    expect(audienceAllows({ membersOnly: true, tagsAny: ['sports', 'beauty'] }, member, h, WED_1030)).toEqual({ ok: true })
    expect(audienceAllows({ membersOnly: true, tagsAll: ['sports', 'beauty'] }, member, h, WED_1030)).toEqual({ ok: false, reason: 'tags' })
    expect(audienceAllows({ membersOnly: true, firstVisit: true }, member, h, WED_1030)).toEqual({ ok: false, reason: 'not-first-visit' })
    expect(audienceAllows({ membersOnly: true, firstVisit: true }, member, { previousVisits: 0 }, WED_1030)).toEqual({ ok: true })
    expect(audienceAllows({ membersOnly: true, lapsedDays: 30 }, member, h, WED_1030)).toEqual({ ok: true })
    expect(audienceAllows({ membersOnly: true, lapsedDays: 60 }, member, h, WED_1030)).toEqual({ ok: false, reason: 'not-lapsed' })
    expect(audienceAllows({ membersOnly: true, lapsedDays: 30 }, member, { previousVisits: 0 }, WED_1030)).toEqual({ ok: false, reason: 'not-lapsed' })
  })
})

describe('eventMatches', () => {
  const e = { type: 'enter' as const, zone: 'entrance', source: 'ble' as const, storeId: 's1' }
  it('checks store, type, zone, source, dwell and the visit', () => {
    expect(eventMatches(base, e, new Set())).toEqual({ ok: true })
    expect(eventMatches({ ...base, enabled: false }, e, new Set())).toEqual({ ok: false, reason: 'disabled' })
    expect(eventMatches(base, { ...e, storeId: 's2' }, new Set())).toEqual({ ok: false, reason: 'store' })
    expect(eventMatches({ ...base, stores: ['*'] }, { ...e, storeId: 's2' }, new Set())).toEqual({ ok: true })
    expect(eventMatches(base, { ...e, type: 'exit' }, new Set())).toEqual({ ok: false, reason: 'type' })
    expect(eventMatches(base, { ...e, zone: 'cosmetics' }, new Set())).toEqual({ ok: false, reason: 'zone' })
    expect(eventMatches({ ...base, sources: ['plate'] }, e, new Set())).toEqual({ ok: false, reason: 'source' })
    const stay = { ...base, event: 'exit' as const, zones: ['carpark'], dwellS: 7200, visitZones: ['cosmetics'] }
    const out = { type: 'exit' as const, zone: 'carpark', source: 'plate' as const, storeId: 's1', dwellS: 8000 }
    expect(eventMatches(stay, out, new Set(['carpark', 'cosmetics']))).toEqual({ ok: true })
    expect(eventMatches(stay, out, new Set(['carpark']))).toEqual({ ok: false, reason: 'visit-zones' })
    expect(eventMatches(stay, { ...out, dwellS: 3600 }, new Set(['cosmetics']))).toEqual({ ok: false, reason: 'dwell' })
  })
})

describe('deterministic ids and holdout', () => {
  it('the same inputs give the same ids; any change gives another', () => {
    const id = geofenceEventId('s1', 'member:m-1', 'entrance', 'enter', 1000)
    expect(geofenceEventId('s1', 'member:m-1', 'entrance', 'enter', 1000)).toBe(id)
    expect(geofenceEventId('s1', 'member:m-1', 'entrance', 'enter', 1001)).not.toBe(id)
    expect(couponKey('s1', 'c', 'm-1', id)).toMatch(/^[0-9a-f]{40}$/)
    expect(couponKey('s1', 'c', 'm-1', id)).not.toBe(couponKey('s1', 'c', 'm-2', id))
  })
  it('holds out close to the asked share, stably', () => {
    let held = 0
    for (let i = 0; i < 10_000; i++) if (inHoldout('c', `m-${i}`, 10)) held++
    expect(held).toBeGreaterThan(900)
    expect(held).toBeLessThan(1100)
    expect(inHoldout('c', 'm-1', 0)).toBe(false)
    expect(inHoldout('c', 'm-7', 10)).toBe(inHoldout('c', 'm-7', 10))
  })
})
