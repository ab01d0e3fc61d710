import { describe, expect, it } from 'vitest'
import { Value } from '@sinclair/typebox/value'
import { Campaign, couponKey, inHoldout, type GeofenceEvent, type Member } from '../contracts/index.ts'
import { MemberIndex } from '../geofence/member-index.ts'
import type { VisitView } from '../geofence/geofence.engine.ts'
import { dwellThresholdsOf, TriggerEngine } from './trigger.engine.ts'

const STORE = 'sh-01'
const TZ = 'Asia/Shanghai'
const H = 3_600_000
const DAY = 24 * H
/** 2026-06-01 (a Monday) at hh:mm in Shanghai (UTC+8, no DST). */
const sh = (hh: number, mm = 0, day = 1) => Date.UTC(2026, 5, day, hh - 8, mm)

function campaign(over: Partial<Campaign> & { id: string }): Campaign {
  return Value.Default(Campaign, {
    name: over.id,
    version: 3,
    stores: ['*'],
    event: 'enter',
    zones: ['cosmetics'],
    audience: {},
    schedule: {},
    caps: {},
    coupon: { templateId: 'tpl', title: '10% off', percentOff: 10 },
    ...over,
  }) as Campaign
}

const member = (ref: string, over: Partial<Member> = {}): Member => ({ ref, tier: 1, tags: [], beaconIds: [], plates: [], visits: 1, ...over })

function engine(campaigns: Campaign[], members: Member[] = [member('m-1')]) {
  const e = new TriggerEngine({ storeId: STORE, timeZone: TZ })
  e.setTriggers({ campaigns })
  e.setMembers(new MemberIndex({ v: 1, version: 1, members }))
  return e
}

let seq = 0
function event(over: Partial<GeofenceEvent> = {}): GeofenceEvent {
  const ts = over.ts ?? sh(15)
  return {
    v: 1,
    id: `ev-${String(++seq).padStart(10, '0')}`,
    type: 'enter',
    storeId: STORE,
    zone: 'cosmetics',
    zoneKind: 'indoor',
    source: 'ble',
    subject: 'member:m-1',
    memberRef: 'm-1',
    confidence: 0.9,
    enteredAt: ts,
    ts,
    ...over,
  }
}

const fired = (r: { requests: Array<{ campaignId: string }> }) => r.requests.map((x) => x.campaignId)
const why = (r: { suppressed: Array<{ campaignId: string; reason: string }> }) => r.suppressed.map((x) => `${x.campaignId}:${x.reason}`)

describe('trigger engine', () => {
  it('turns a matching event into a coupon request with its idempotency key', () => {
    const e = engine([campaign({ id: 'beauty-welcome', exclusiveGroup: 'welcome', priority: 150 })])
    const ev = event()
    const now = ev.ts + 800
    const r = e.evaluate(ev, undefined, now)
    expect(r.suppressed).toEqual([])
    expect(r.requests).toEqual([
      {
        v: 1,
        key: couponKey(STORE, 'beauty-welcome', 'm-1', ev.id),
        storeId: STORE,
        campaignId: 'beauty-welcome',
        campaignVersion: 3,
        memberRef: 'm-1',
        event: { id: ev.id, type: 'enter', zone: 'cosmetics', source: 'ble', ts: ev.ts },
        firedAt: now,
        localDay: '2026-06-01',
        holdout: false,
        priority: 150,
        exclusiveGroup: 'welcome',
      },
    ])
    // the same event again (a replay): not requested twice
    expect(why(e.evaluate(ev, undefined, now + 1000))).toEqual(['beauty-welcome:duplicate'])
  })

  it('ignores other zones, types, sources and stores quietly; counts near misses and non-members', () => {
    const e = engine([
      campaign({ id: 'a' }),
      campaign({ id: 'b', zones: ['shoes'] }),
      campaign({ id: 'c', stores: ['bj-02'] }),
      campaign({ id: 'd', sources: ['plate'] }),
      campaign({ id: 'e', event: 'dwell', dwellS: 600 }),
    ])
    expect(fired(e.evaluate(event(), undefined, sh(15)))).toEqual(['a'])
    const anon = event({ subject: 'h:abc', memberRef: undefined })
    delete anon.memberRef
    expect(why(e.evaluate(anon, undefined, sh(15)))).toEqual(['a:not-member'])
    expect(why(e.evaluate(event({ type: 'dwell', dwellS: 300 }), undefined, sh(15)))).toEqual(['e:dwell'])
    expect(fired(e.evaluate(event({ type: 'dwell', dwellS: 600 }), undefined, sh(15)))).toEqual(['e'])
  })

  it('follows the schedule and quiet hours in the store’s time zone (Asia/Shanghai)', () => {
    const c = campaign({ id: 'day', schedule: { start: '10:00', end: '22:00', quietHours: [{ start: '12:00', end: '13:30' }], days: [1, 2, 3, 4, 5] } })
    const at = (ts: number) => {
      const e = engine([c])
      const r = e.evaluate(event({ ts }), undefined, ts)
      return r.requests.length ? 'fired' : r.suppressed[0]!.reason
    }
    expect(at(sh(9, 59))).toBe('hours') // 01:59 UTC
    expect(at(sh(10, 0))).toBe('fired')
    expect(at(sh(12, 30))).toBe('quiet-hours')
    expect(at(sh(13, 30))).toBe('fired')
    expect(at(sh(21, 59))).toBe('fired')
    expect(at(sh(22, 0))).toBe('hours') // 14:00 UTC, still Monday in UTC
    expect(at(sh(11, 0, 6))).toBe('weekday') // Saturday
    // quiet hours across midnight: 22:00–08:00 local
    const night = campaign({ id: 'night', schedule: { quietHours: [{ start: '22:00', end: '08:00' }] } })
    const q = (ts: number) => engine([night]).evaluate(event({ ts }), undefined, ts).requests.length
    expect(q(sh(23, 30))).toBe(0)
    expect(q(sh(7, 59))).toBe(0)
    expect(q(sh(8, 0))).toBe(1)
  })

  it('caps per member per local day, rolling week and campaign life, with a cooldown', () => {
    const e = engine([campaign({ id: 'daily', caps: { perMemberPerDay: 1, perMemberPerWeek: 2, perMemberPerCampaign: 3 } })])
    const go = (ts: number) => {
      const r = e.evaluate(event({ ts }), undefined, ts)
      return r.requests.length ? 'fired' : r.suppressed[0]!.reason
    }
    expect(go(sh(10))).toBe('fired')
    expect(go(sh(23, 59))).toBe('cap-day') // 15:59 UTC: still 1 June in Shanghai
    expect(go(sh(0, 1, 2))).toBe('fired') // 16:01 UTC the same UTC day, but 2 June locally
    expect(go(sh(12, 0, 3))).toBe('cap-week')
    expect(go(sh(10, 1, 8))).toBe('fired') // 1 June 10:00 left the rolling week
    expect(go(sh(12, 0, 20))).toBe('cap-campaign')

    const cool = engine([campaign({ id: 'cool', caps: { cooldownS: 600 } })])
    const c = (ts: number) => cool.evaluate(event({ ts }), undefined, ts).requests.length
    expect(c(sh(10))).toBe(1)
    expect(c(sh(10, 9))).toBe(0)
    expect(c(sh(10, 10))).toBe(1)
  })

  it('fires one campaign per exclusive group per event: highest priority, ties by id, a capped one yields', () => {
    const e = engine([
      campaign({ id: 'b-low', exclusiveGroup: 'arrival', priority: 100 }),
      campaign({ id: 'a-high', exclusiveGroup: 'arrival', priority: 200, caps: { perMemberPerDay: 1 } }),
      campaign({ id: 'a-tie', exclusiveGroup: 'other', priority: 50 }),
      campaign({ id: 'b-tie', exclusiveGroup: 'other', priority: 50 }),
      campaign({ id: 'solo' }),
    ])
    const r1 = e.evaluate(event({ ts: sh(10) }), undefined, sh(10))
    expect(fired(r1)).toEqual(['a-high', 'solo', 'a-tie']) // priority order
    expect(why(r1).sort()).toEqual(['b-low:exclusive-group', 'b-tie:exclusive-group'])
    const r2 = e.evaluate(event({ ts: sh(11) }), undefined, sh(11))
    expect(fired(r2)).toEqual(['b-low', 'solo', 'a-tie'])
    expect(why(r2)).toEqual(['a-high:cap-day', 'b-tie:exclusive-group'])
  })

  it('shares the cooldown across an exclusive group', () => {
    const e = engine([
      campaign({ id: 'x', exclusiveGroup: 'g', priority: 200, zones: ['cosmetics'], caps: { cooldownS: 3600 } }),
      campaign({ id: 'y', exclusiveGroup: 'g', priority: 100, zones: ['shoes'], caps: { cooldownS: 3600 } }),
    ])
    expect(fired(e.evaluate(event({ ts: sh(10) }), undefined, sh(10)))).toEqual(['x'])
    expect(why(e.evaluate(event({ ts: sh(10, 20), zone: 'shoes' }), undefined, sh(10, 20)))).toEqual(['y:cooldown'])
    expect(fired(e.evaluate(event({ ts: sh(11, 1), zone: 'shoes' }), undefined, sh(11, 1)))).toEqual(['y'])
  })

  it('marks a deterministic holdout share of members, the same on every engine', () => {
    const c = campaign({ id: 'uplift', holdoutPct: 30 })
    const refs = Array.from({ length: 400 }, (_, i) => `m-${i}`)
    const run = () => {
      const e = engine([c], refs.map((r) => member(r)))
      return refs.map((ref) => e.evaluate(event({ memberRef: ref, subject: `member:${ref}` }), undefined, sh(15)).requests[0]!.holdout)
    }
    const a = run()
    expect(run()).toEqual(a)
    expect(a).toEqual(refs.map((r) => inHoldout('uplift', r, 30)))
    const share = a.filter(Boolean).length / refs.length
    expect(share).toBeGreaterThan(0.22)
    expect(share).toBeLessThan(0.38)
  })

  it('audience: tier, tags, first visit (counting visits this edge saw since the sync) and lapsed days', () => {
    const now = sh(15, 0, 20)
    const members = [
      member('new', { visits: 0 }),
      member('vip', { tier: 3, tags: ['beauty', 'vip'] }),
      member('lapsed', { visits: 4, lastVisitAt: now - 40 * DAY }),
      member('recent', { visits: 4, lastVisitAt: now - 10 * DAY }),
    ]
    const e = engine(
      [
        campaign({ id: 'first', audience: { membersOnly: true, firstVisit: true } }),
        campaign({ id: 'vip', audience: { membersOnly: true, tiers: [3], tagsAll: ['beauty', 'vip'] } }),
        campaign({ id: 'winback', audience: { membersOnly: true, lapsedDays: 30 } }),
      ],
      members,
    )
    const ev = (ref: string, ts: number, visit?: VisitView) =>
      e.evaluate(event({ memberRef: ref, subject: `member:${ref}`, ts }), visit, ts)
    const v1: VisitView = { startedAt: now - H, zones: new Set(['cosmetics']) }
    expect(fired(ev('new', now, v1))).toEqual(['first'])
    // a later visit of the same member: the first one, seen here, now counts
    const v2: VisitView = { startedAt: now + DAY, zones: new Set(['cosmetics']) }
    expect(why(ev('new', now + DAY + H, v2))).toContain('first:not-first-visit')
    expect(fired(ev('vip', now))).toEqual(['vip'])
    expect(fired(ev('lapsed', now))).toEqual(['winback'])
    expect(why(ev('recent', now))).toContain('winback:not-lapsed')
    // a new sync that already includes the visits seen here does not count them twice
    e.setMembers(new MemberIndex({ v: 1, version: 2, members: [member('new', { visits: 1, lastVisitAt: now })] }))
    const v3: VisitView = { startedAt: now + 2 * DAY, zones: new Set() }
    const r = ev('new', now + 2 * DAY + H, v3)
    expect(why(r)).toContain('first:not-first-visit')
  })

  it('keeps a first visit first when a members sync during the visit already counts it', () => {
    const t = sh(15)
    const e = engine([campaign({ id: 'first', event: 'dwell', dwellS: 600, audience: { membersOnly: true, firstVisit: true } })], [member('new', { visits: 0 })])
    const visit: VisitView = { startedAt: t, zones: new Set(['entrance']) }
    // the visit's first event (an enter elsewhere), then central counts the visit at an exit and syncs
    expect(e.evaluate(event({ memberRef: 'new', subject: 'member:new', zone: 'entrance', ts: t }), visit, t).requests).toEqual([])
    e.setMembers(new MemberIndex({ v: 1, version: 2, members: [member('new', { visits: 1, lastVisitAt: t + 60_000 })] }))
    const dwell = event({ memberRef: 'new', subject: 'member:new', type: 'dwell', dwellS: 600, ts: t + 700_000 })
    expect(fired(e.evaluate(dwell, visit, t + 700_000))).toEqual(['first'])
  })

  it('a departure rule on the stay and on the visit: left the car park after 2 h, having reached cosmetics', () => {
    const dep = campaign({ id: 'departure', event: 'exit', zones: ['carpark'], dwellS: 7200, visitZones: ['cosmetics'], sources: ['plate'] })
    const e = engine([dep])
    const exit = (dwellS: number, zones: string[]) =>
      e.evaluate(event({ type: 'exit', zone: 'carpark', zoneKind: 'carpark', source: 'plate', dwellS, explicit: true }), { startedAt: sh(10), zones: new Set(zones) }, sh(15))
    expect(why(exit(3 * 3600, ['carpark', 'shoes']))).toEqual(['departure:visit-zones'])
    expect(why(exit(3600, ['carpark', 'cosmetics']))).toEqual(['departure:dwell'])
    expect(fired(exit(3 * 3600, ['carpark', 'cosmetics']))).toEqual(['departure'])
  })

  it('drops an event older than the campaign’s lateAfterS', () => {
    const e = engine([campaign({ id: 'arrival', lateAfterS: 900 })])
    expect(why(e.evaluate(event({ ts: sh(10) }), undefined, sh(10, 16)))).toEqual(['arrival:late'])
  })

  it('lists the dwell thresholds the geofence engine must fire', () => {
    expect(
      dwellThresholdsOf(
        [
          campaign({ id: 'd1', event: 'dwell', dwellS: 300, zones: ['cosmetics', 'shoes'] }),
          campaign({ id: 'd2', event: 'dwell', dwellS: 600, enabled: false }),
          campaign({ id: 'd3', event: 'dwell', dwellS: 900, stores: ['bj-02'] }),
          campaign({ id: 'e1' }),
        ],
        STORE,
      ),
    ).toEqual([
      { zone: 'cosmetics', dwellS: 300 },
      { zone: 'shoes', dwellS: 300 },
    ])
  })
})
