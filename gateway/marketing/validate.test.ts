import { describe, expect, it } from 'vitest'
import { Campaign } from '../../edge/contracts/index.ts'
import { campaignDraft, checkCampaign, checkGeofence as check, diffSummary, geofenceDraft, schemaErrors, type RuleTargets } from './validate.ts'

const checkGeofence = (g: unknown, layout: ReadonlySet<string>) => check(geofenceDraft(g), layout)

const targets: RuleTargets = {
  stores: new Set(['a', 'b']),
  zones: (id) => new Set(id === 'a' ? ['cosmetics', 'entrance'] : ['shoes', 'b-trade']),
}
const base = {
  id: 'c1',
  name: 'C1',
  stores: ['a'],
  event: 'enter',
  zones: ['cosmetics'],
  coupon: { templateId: 't', title: 'T', valueCents: 500 },
}

describe('schemaErrors', () => {
  it('reports each path once, literal unions as their choices, unknown properties by name', () => {
    const errs = schemaErrors(Campaign, campaignDraft({ ...base, event: 'wave', sources: ['ble', 'sonar'], extra: 1, caps: { budget: 0 } }, 1))
    expect(errs).toEqual(
      expect.arrayContaining([
        '/event: must be one of "enter", "dwell", "exit"',
        '/sources/1: must be one of "ble", "wifi", "face", "plate", "gps"',
        '/extra: unknown property',
        expect.stringMatching(/^\/caps\/budget: /),
      ]),
    )
    expect(new Set(errs.map((e) => e.split(':')[0])).size).toBe(errs.length)
  })

  it('a non-object is one error at the root', () => {
    expect(schemaErrors(Campaign, campaignDraft('nope', 1))).toEqual([expect.stringMatching(/^\/: /)])
  })
})

describe('campaignDraft', () => {
  it('fills defaults and empty sections without touching the input', () => {
    const input = { ...base }
    const d = campaignDraft(input, 3) as Record<string, unknown>
    expect(input).not.toHaveProperty('version')
    expect(d).toMatchObject({ version: 3, enabled: true, holdoutPct: 0, priority: 100, lateAfterS: 900, audience: { membersOnly: true }, schedule: {}, caps: {}, coupon: { body: '', validHours: 24 } })
  })
})

describe('checkCampaign', () => {
  it('knows the zones of the stores it names, the car park, and nothing else', () => {
    expect(checkCampaign(campaignDraft(base, 1), targets).ok).toBe(true)
    expect(checkCampaign(campaignDraft({ ...base, zones: ['carpark'] }, 1), targets).ok).toBe(true)
    expect(checkCampaign(campaignDraft({ ...base, zones: ['shoes'] }, 1), targets).errors).toEqual(['/zones/0: unknown zone or geofence "shoes"'])
  })

  it('"*" knows every store’s zones; an unknown store is named', () => {
    expect(checkCampaign(campaignDraft({ ...base, stores: ['*'], zones: ['shoes', 'cosmetics'] }, 1), targets).ok).toBe(true)
    expect(checkCampaign(campaignDraft({ ...base, stores: ['a', 'zz'] }, 1), targets).errors).toEqual(['/stores/1: unknown store "zz"'])
  })

  it('schema errors come first and alone (rule checks need a well-formed rule)', () => {
    const r = checkCampaign(campaignDraft({ ...base, zones: [], coupon: {} }, 1), targets)
    expect(r.ok).toBe(false)
    expect(r.errors.every((e) => e.startsWith('/zones') || e.startsWith('/coupon'))).toBe(true)
  })
})

describe('checkGeofence', () => {
  const g = { id: 'ta', name: 'TA', shape: { kind: 'circle', center: { lat: 31, lng: 121 }, radiusM: 1500 } }
  it('refuses the car park id and layout zone ids', () => {
    expect(checkGeofence(g, new Set()).ok).toBe(true)
    expect(checkGeofence({ ...g, id: 'carpark' }, new Set()).errors).toEqual(['/id: "carpark" is the car park\'s zone'])
    expect(checkGeofence({ ...g, id: 'cosmetics' }, new Set(['cosmetics'])).errors).toEqual(['/id: "cosmetics" is already a zone of the store\'s layout'])
  })
  it('a radius out of range is a schema error with its path', () => {
    expect(checkGeofence({ ...g, shape: { ...g.shape, radiusM: 20_000 } }, new Set()).errors).toEqual(['/shape/radiusM: expected number to be less or equal to 10000'])
    expect(checkGeofence({ ...g, shape: { kind: 'polygon', points: [{ lat: 1, lng: 2 }] } }, new Set()).errors).toEqual([expect.stringMatching(/^\/shape\/points: /)])
    expect(checkGeofence({ ...g, shape: { kind: 'hexagon' } }, new Set()).errors).toEqual(['/shape: kind must be one of "circle", "polygon"'])
  })
})

describe('diffSummary', () => {
  it('names nested paths with before and after, arrays whole, absent as ∅', () => {
    expect(diffSummary({ a: 1, caps: { day: 1 }, zones: ['x'] }, { a: 1, caps: { day: 2, week: 5 }, zones: ['x', 'y'] })).toEqual(['caps.day: 1 → 2', 'caps.week: ∅ → 5', 'zones: ["x"] → ["x","y"]'])
    expect(diffSummary({ a: 1 }, { a: 1 })).toEqual([])
    expect(diffSummary({}, { caps: { day: 1 }, name: 'x' })).toEqual(['caps.day: ∅ → 1', 'name: ∅ → "x"'])
    expect(diffSummary({ caps: { day: 1 } }, { caps: 5 })).toEqual(['caps: {"day":1} → 5'])
  })
  it('stops at max lines and counts the rest', () => {
    const before = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${String(i).padStart(2, '0')}`, i]))
    const after = Object.fromEntries(Object.keys(before).map((k) => [k, -1]))
    const d = diffSummary(before, after, 30)
    expect(d).toHaveLength(31)
    expect(d.at(-1)).toBe('… and 10 more')
  })
})
