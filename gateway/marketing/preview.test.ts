import { describe, expect, it } from 'vitest'
import { inHoldout, type Campaign, type Member } from '../../edge/contracts/index.ts'
import { PreviewReplay, STALE_VISIT_MS, VISIT_GAP_MS, type PreviewEvent, type PreviewInputs } from './preview.ts'

/** Pure replays: time zones, caps, visit history and visits, with hand-built events. */

const H = 3_600_000
const DAY = 24 * H
// 2030-01-07 is a Monday; midnight in Shanghai is 16:00 UTC the day before.
const MON = Date.UTC(2030, 0, 6, 16)
const campaign = (over: Partial<Campaign> = {}): Campaign => ({
  id: 'c',
  name: 'C',
  version: 1,
  enabled: true,
  stores: ['s'],
  event: 'enter',
  zones: ['cosmetics'],
  audience: { membersOnly: true },
  schedule: {},
  caps: {},
  holdoutPct: 0,
  priority: 100,
  lateAfterS: 900,
  coupon: { templateId: 't', title: 'T', body: '', validHours: 24, valueCents: 100 },
  ...over,
})
const member = (ref: string, over: Partial<Member> = {}): Member => ({ ref, tier: 1, tags: [], beaconIds: [], plates: [], visits: 0, ...over })
let seq = 0
const ev = (ref: string | null, ts: number, over: Partial<PreviewEvent> = {}): PreviewEvent => ({
  id: `e${++seq}`,
  storeId: 's',
  type: 'enter',
  zone: 'cosmetics',
  source: 'ble',
  ts,
  enteredAt: ts,
  subject: ref ? `member:${ref}` : `h:${seq}`,
  memberRef: ref,
  ...over,
})
function run(c: Campaign, events: PreviewEvent[], inputs: Partial<PreviewInputs> = {}) {
  const r = new PreviewReplay(c, {
    from: MON - 7 * DAY,
    to: MON + 7 * DAY,
    timeZone: () => 'Asia/Shanghai',
    members: new Map(['m1', 'm2', 'm3'].map((m) => [m, member(m)])),
    visits: new Map(),
    ...inputs,
  })
  for (const e of events) r.feed(e)
  return r.result()
}
const ids = (r: ReturnType<typeof run>) => r.matches.map((m) => m.eventId)

describe('preview replay', () => {
  it('judges the schedule in the store’s time zone (quiet hours, weekdays)', () => {
    const c = campaign({ schedule: { days: [1], quietHours: [{ start: '12:00', end: '14:00' }] } })
    const events = [ev('m1', MON + 10 * H), ev('m2', MON + 13 * H), ev('m3', MON + DAY + 10 * H)]
    const r = run(c, events)
    expect(ids(r)).toEqual([events[0]!.id])
    expect(r.suppressed).toEqual({ 'quiet-hours': 1, weekday: 1 })
  })

  it('per-day caps count local days; cooldown and rolling week hold; budget stops everyone', () => {
    const c = campaign({ caps: { perMemberPerDay: 1, cooldownS: 36 * 3600, perMemberPerWeek: 2 } })
    // 23:30 and 00:30 local are two local days, but the cooldown (36 h) holds the second.
    const a = [ev('m1', MON + 23.5 * H), ev('m1', MON + 24.5 * H), ev('m1', MON + 3 * DAY), ev('m1', MON + 5 * DAY)]
    const r = run(c, a)
    expect(ids(r)).toEqual([a[0]!.id, a[2]!.id])
    expect(r.suppressed).toEqual({ cooldown: 1, 'cap-week': 1 })
    const b = [ev('m1', MON + H), ev('m2', MON + 2 * H), ev('m3', MON + 3 * H)]
    const budget = run(campaign({ caps: { budget: 2 } }), b)
    expect(ids(budget)).toEqual([b[0]!.id, b[1]!.id])
    expect(budget.suppressed).toEqual({ budget: 1 })
    expect(budget.members).toBe(2)
  })

  it('first visit and lapsed days use today’s history minus the visits the replay sees', () => {
    // m1 has 1 recorded visit: the one in the window (a car-park stay that ended); so the first event is a first visit.
    const visits = new Map([['m1\u0000s', { visits: 1, lastVisitAt: MON + 2 * H }]])
    const events = [
      ev('m1', MON + H, { zone: 'carpark' }),
      ev('m1', MON + 1.5 * H),
      ev('m1', MON + 2 * H, { type: 'exit', zone: 'carpark' }),
      ev('m1', MON + DAY),
    ]
    const first = run(campaign({ zones: ['cosmetics'], audience: { membersOnly: true, firstVisit: true } }), events, { visits })
    expect(ids(first)).toEqual([events[1]!.id])
    expect(first.suppressed).toEqual({ 'not-first-visit': 1 })
    // Lapsed 30 days: a visit recorded 40 days ago (before the window) and nothing since.
    const old = new Map([['m2\u0000s', { visits: 3, lastVisitAt: MON - 40 * DAY }]])
    const e2 = [ev('m2', MON + H), ev('m2', MON + 3 * DAY)]
    const lapsed = run(campaign({ audience: { membersOnly: true, lapsedDays: 30 } }), e2, { visits: old })
    // The first visit in the window qualifies; by the second, the previous visit was 3 days ago.
    expect(ids(lapsed)).toEqual([e2[0]!.id])
    expect(lapsed.suppressed).toEqual({ 'not-lapsed': 1 })
  })

  it('a visit lasts while the member is in a zone; a gap with no open zone ends it', () => {
    const c = campaign({ event: 'exit', zones: ['carpark'], visitZones: ['cosmetics'] })
    // Parked for 5 h: cosmetics early on still counts at the exit.
    const stay = [ev('m1', MON + 10 * H, { zone: 'carpark' }), ev('m1', MON + 10.5 * H), ev('m1', MON + 15 * H, { type: 'exit', zone: 'carpark' })]
    expect(ids(run(c, stay))).toEqual([stay[2]!.id])
    // Left cosmetics, then nothing for longer than the gap: a new visit that never reached cosmetics.
    const gap = [ev('m2', MON + 10 * H), ev('m2', MON + 10.2 * H, { type: 'exit' }), ev('m2', MON + 10.2 * H + VISIT_GAP_MS + 1, { zone: 'carpark' }), ev('m2', MON + 14 * H, { type: 'exit', zone: 'carpark' })]
    expect(ids(run(c, gap))).toEqual([])
    // Trade-area events belong to no visit: passing the trade area is not reaching a zone.
    const trade = [ev('m1', MON + 20 * H, { zone: 'carpark' }), ev('m1', MON + 20.1 * H, { zone: 'cosmetics', zoneKind: 'trade-area' }), ev('m1', MON + 22 * H, { type: 'exit', zone: 'carpark' })]
    expect(ids(run(c, trade))).toEqual([])
    // A lost exit does not keep a visit open forever.
    const stale = [ev('m3', MON), ev('m3', MON + STALE_VISIT_MS + 1, { zone: 'carpark' }), ev('m3', MON + STALE_VISIT_MS + 2 * H, { type: 'exit', zone: 'carpark' })]
    expect(ids(run(c, stale))).toEqual([])
  })

  it('one dwell coupon per stay; strangers and opted-out members are nobody to push to', () => {
    const c = campaign({ event: 'dwell', dwellS: 300 })
    const stay = MON + 10 * H
    const events = [
      ev('m1', stay + 300_000, { type: 'dwell', enteredAt: stay, dwellS: 300 }),
      ev('m1', stay + 900_000, { type: 'dwell', enteredAt: stay, dwellS: 900 }),
      ev('m1', stay + 2 * H, { type: 'dwell', enteredAt: stay + 2 * H - 400_000, dwellS: 400 }),
      ev(null, stay, { type: 'dwell', dwellS: 400 }),
      ev('gone', stay, { type: 'dwell', dwellS: 400 }),
    ]
    const r = run(c, events)
    expect(ids(r)).toEqual([events[0]!.id, events[2]!.id])
    expect(r.suppressed).toEqual({ 'not-member': 2 })
    expect(run(campaign({ event: 'dwell', dwellS: 300, audience: { membersOnly: false } }), events.slice(3)).suppressed).toEqual({ anonymous: 2 })
    expect(r.events).toBe(5)
  })

  it('holdout is the deterministic split the edges use; a disabled campaign previews as if enabled', () => {
    const refs = Array.from({ length: 40 }, (_, i) => `h${i}`)
    const events = refs.map((ref, i) => ev(ref, MON + i * 60_000))
    const r = run(campaign({ holdoutPct: 30, enabled: false }), events, { members: new Map(refs.map((m) => [m, member(m)])) })
    expect(r.matches).toHaveLength(40)
    for (const m of r.matches) expect(m.holdout).toBe(inHoldout('c', m.memberRef, 30))
    expect(r.matches.some((m) => m.holdout) && r.matches.some((m) => !m.holdout)).toBe(true)
  })
})
