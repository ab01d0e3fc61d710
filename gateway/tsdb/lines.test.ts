import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { EdgeHealth, MinuteAggregate } from '../../edge/contracts/index.ts'
import { aggregateLines, cameraLines, couponLines, healthLines, parkingLines, tagValue } from './lines.ts'

interface ParsedLine {
  measurement: string
  tags: Record<string, string>
  fields: Record<string, string>
  ts: string
}

/**
 * A small reference parser of Influx line protocol as far as these lines use it (no string
 * fields): a backslash escapes `\`, `,`, `=` and space; any other backslash is literal.
 */
function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = []
  let cur = ''
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1]
      i++
    } else if (c === sep) {
      out.push(cur)
      cur = ''
    } else cur += c
  }
  out.push(cur)
  return out
}
const unescape = (s: string) => s.replace(/\\([\\,= ])/g, '$1')

function parseLine(line: string): ParsedLine {
  const parts = splitUnescaped(line, ' ')
  expect(parts).toHaveLength(3)
  const [key, fieldSet, ts] = parts as [string, string, string]
  const [measurement, ...tagPairs] = splitUnescaped(key, ',')
  const tags: Record<string, string> = {}
  for (const pair of tagPairs) {
    const kv = splitUnescaped(pair, '=')
    expect(kv, `tag pair ${pair}`).toHaveLength(2)
    tags[unescape(kv[0]!)] = unescape(kv[1]!)
  }
  const fields: Record<string, string> = {}
  for (const f of splitUnescaped(fieldSet, ',')) {
    const kv = splitUnescaped(f, '=')
    fields[unescape(kv[0]!)] = kv[1]!
  }
  return { measurement: unescape(measurement!), tags, fields, ts }
}

const minute = Date.UTC(2024, 4, 17, 9, 31)
const agg: MinuteAggregate = {
  v: 1,
  storeId: 'ignored-in-favour-of-the-topic-store',
  minute,
  sources: [
    { source: 'ble', visitors: 12, passersBy: 30, unique: 4, repeat: 2, randomized: 55, sightings: 900 },
    { source: 'wifi', visitors: 3, passersBy: 8, unique: 1, repeat: 0, randomized: 21, sightings: 140 },
  ],
  zones: [
    { zone: 'entrance', occupancy: 7, occupancyBySource: { ble: 5, wifi: 2 }, enters: 3, exits: 1, dwellCount: 2, dwellP50S: 41.5, dwellP90S: 120 },
    { zone: 'tills', occupancy: 2, occupancyBySource: { ble: 2, wifi: 0 }, enters: 0, exits: 0, dwellCount: 0, dwellP50S: null, dwellP90S: null },
    { zone: 'back', occupancy: 1, occupancyBySource: { ble: 1, wifi: 1 }, enters: 1, exits: 0, dwellCount: 1, dwellP50S: null, dwellP90S: 15 },
  ],
}

describe('aggregateLines', () => {
  const lines = aggregateLines(agg, 'store-1').map(parseLine)
  const find = (m: string, tags: Record<string, string>) => lines.filter((l) => l.measurement === m && Object.entries(tags).every(([k, v]) => l.tags[k] === v))

  it('writes one visitors line per source, one occupancy line per zone and source, dwell only where stays ended', () => {
    expect(lines.map((l) => l.measurement).sort()).toEqual([...Array(2).fill('dwell'), ...Array(9).fill('occupancy'), ...Array(2).fill('visitors')].sort())
  })

  it('stamps every line with the aggregate minute in ms, not the time of writing', () => {
    expect(new Set(lines.map((l) => l.ts))).toEqual(new Set([String(minute)]))
  })

  it('tags with the topic store, never the payload storeId', () => {
    expect(new Set(lines.map((l) => l.tags.store))).toEqual(new Set(['store-1']))
  })

  it('visitors: integer fields per source', () => {
    expect(find('visitors', { source: 'ble' })).toEqual([
      { measurement: 'visitors', tags: { store: 'store-1', source: 'ble' }, fields: { visitors: '12i', passers_by: '30i', unique: '4i', repeat: '2i', randomized: '55i', sightings: '900i' }, ts: String(minute) },
    ])
    expect(find('visitors', { source: 'wifi' })[0]!.fields).toMatchObject({ visitors: '3i', unique: '1i', repeat: '0i' })
  })

  it('occupancy: source=all carries value, enters, exits; ble and wifi carry value only', () => {
    expect(find('occupancy', { zone: 'entrance', source: 'all' })[0]!.fields).toEqual({ value: '7i', enters: '3i', exits: '1i' })
    expect(find('occupancy', { zone: 'entrance', source: 'ble' })[0]!.fields).toEqual({ value: '5i' })
    expect(find('occupancy', { zone: 'entrance', source: 'wifi' })[0]!.fields).toEqual({ value: '2i' })
    expect(find('occupancy', { zone: 'tills', source: 'wifi' })[0]!.fields).toEqual({ value: '0i' })
  })

  it('dwell: count with p50/p90 as floats; a null percentile is omitted, a zone with no ended stays has no line', () => {
    expect(find('dwell', { zone: 'entrance' })[0]).toEqual({ measurement: 'dwell', tags: { store: 'store-1', zone: 'entrance' }, fields: { count: '2i', p50_s: '41.5', p90_s: '120' }, ts: String(minute) })
    expect(find('dwell', { zone: 'back' })[0]!.fields).toEqual({ count: '1i', p90_s: '15' })
    expect(find('dwell', { zone: 'tills' })).toEqual([])
  })

  it('an aggregate with no sources and no zones writes nothing', () => {
    expect(aggregateLines({ ...agg, sources: [], zones: [] }, 'store-1')).toEqual([])
  })
})

describe('healthLines', () => {
  const h: EdgeHealth = { v: 1, storeId: 's', status: 'online', ts: 1_715_938_265_123, devicesOnline: 14, uptimeS: 3600.5 }

  it('writes up, devices_online and uptime_s at the health message time', () => {
    expect(healthLines(h, 'store-1').map(parseLine)).toEqual([
      { measurement: 'edge_health', tags: { store: 'store-1' }, fields: { up: '1i', devices_online: '14i', uptime_s: '3600.5' }, ts: '1715938265123' },
    ])
  })

  it('offline is up=0 and absent optional fields are omitted', () => {
    const [line] = healthLines({ v: 1, storeId: 's', status: 'offline', ts: 5000 }, 'store-1').map(parseLine)
    expect(line!.fields).toEqual({ up: '0i' })
    expect(line!.ts).toBe('5000')
  })
})

describe('tagValue escaping', () => {
  const roundTrip = (v: string) => parseLine(healthLines({ v: 1, storeId: 's', status: 'online', ts: 1 }, v)[0]!).tags.store

  it.each([
    ['plain', 'store-1'],
    ['spaces', 'store one  two '],
    ['commas', 'a,b,,c'],
    ['equals', 'k=v=='],
    ['double quotes', '"quoted" store'],
    ['single quotes', "o'brien"],
    ['backslash inside', 'a\\b'],
    ['trailing backslash', 'store\\'],
    ['only backslashes', '\\\\\\'],
    ['backslash before a separator', 'a\\,b\\ c\\=d'],
    ['backslash before a letter', '\\n\\t'],
    ['Chinese', '上海南京路店'],
    ['emoji', 'shop 🛒,🏬=1'],
    ['everything', ' ,=\\"中🛒\\'],
  ])('%s round-trips: %s', (_name, v) => {
    expect(roundTrip(v)).toBe(v)
  })

  it('a trailing backslash does not swallow the separator after it', () => {
    const line = healthLines({ v: 1, storeId: 's', status: 'online', ts: 1 }, 'x\\')[0]!
    expect(line).toBe('edge_health,store=x\\\\ up=1i 1')
  })

  it('line breaks and NUL cannot be carried: they become spaces', () => {
    expect(tagValue('a\nb\r\u0000c')).toBe('a\\ b\\ \\ c')
    expect(roundTrip('a\nb\r\u0000c')).toBe('a b  c')
  })

  it('property: any non-empty string without control characters round-trips through the line', () => {
    // Control characters (which the client would escape differently, or cannot be carried) excluded.
    const noControl = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => !/\p{Cc}/u.test(s))
    const withSpecials = fc.array(fc.constantFrom('\\', ',', '=', ' ', '"', 'a', '中', '🛒'), { minLength: 1, maxLength: 20 }).map((a) => a.join(''))
    fc.assert(
      fc.property(fc.oneof(noControl, withSpecials), (v) => {
        expect(roundTrip(v)).toBe(v)
        const line = aggregateLines({ ...agg, zones: [agg.zones[0]!] }, v)
        for (const l of line) expect(parseLine(l).tags.store).toBe(v)
      }),
      { numRuns: 500 },
    )
  })
})

describe('parkingLines and couponLines', () => {
  const minute = Date.UTC(2024, 4, 17, 9, 31)
  const base: MinuteAggregate = { v: 1, storeId: 's', minute, sources: [], zones: [] }

  it('parking: arrivals, departures and occupancy at the minute, only when the aggregate has them', () => {
    expect(parkingLines(base, 'store 1')).toEqual([])
    expect(parkingLines({ ...base, parking: { arrivals: 3, departures: 1, occupancy: 42 } }, 'store 1')).toEqual([`parking,store=store\\ 1 arrivals=3i,departures=1i,occupancy=42i ${minute}`])
  })

  it('coupons: every field written (zeros too) so a recount overwrites the whole point', () => {
    const line = couponLines({ minute, campaignId: 'c=1', storeId: 's', requested: 5, issued: 2, holdout: 1, rejected: 2, pushed: 0, dead: 0, redeemed: 0 })
    expect(line).toBe(`coupons,campaign=c\\=1,store=s requested=5i,issued=2i,holdout=1i,rejected=2i,pushed=0i,dead=0i,redeemed=0i ${minute}`)
  })
})

describe('cameraLines', () => {
  const minute = Date.UTC(2024, 4, 17, 9, 31)
  const base: MinuteAggregate = { v: 1, storeId: 's', minute, sources: [], zones: [] }

  it('writes nothing without cameras', () => {
    expect(cameraLines(base, 's')).toEqual([])
  })

  it('footfall per entrance and camera, camera zones beside radio zones, store occupancy, face visitors, camera health', () => {
    const lines = cameraLines(
      {
        ...base,
        cameras: {
          footfall: [{ entrance: 'main door', camera: 'cam-1', in: 7, out: 3 }],
          zones: [
            { zone: 'tills', camera: 'cam-1', people: 4, peak: 6, dwellCount: 2, dwellP50S: 30.5, dwellP90S: 80, loitering: 1 },
            { zone: 'aisle', camera: 'cam-1', people: 0, peak: 0, dwellCount: 0, dwellP50S: null, dwellP90S: null, loitering: 0 },
          ],
          occupancy: 12,
          visitors: { unique: 5, repeat: 1 },
          health: [{ camera: 'cam-1', up: 1, fps: 4.98, lagMs: 180, dropped: 2 }],
        },
      },
      's',
    ).map(parseLine)
    expect(lines.find((l) => l.measurement === 'footfall')).toEqual({ measurement: 'footfall', tags: { camera: 'cam-1', entrance: 'main door', store: 's' }, fields: { in: '7i', out: '3i' }, ts: String(minute) })
    expect(lines.filter((l) => l.measurement === 'occupancy' && l.tags.source === 'camera').map((l) => [l.tags.zone, l.fields.value, l.fields.peak, l.fields.loitering])).toEqual([
      ['tills', '4i', '6i', '1i'],
      ['aisle', '0i', '0i', '0i'],
    ])
    expect(lines.filter((l) => l.measurement === 'dwell').map((l) => l.fields)).toEqual([{ count: '2i', p50_s: '30.5', p90_s: '80' }])
    expect(lines.find((l) => l.tags.source === 'lines')?.fields).toEqual({ value: '12i' })
    expect(lines.find((l) => l.measurement === 'visitors')?.fields).toEqual({ unique: '5i', repeat: '1i' })
    expect(lines.find((l) => l.measurement === 'edge_health')).toEqual({ measurement: 'edge_health', tags: { camera: 'cam-1', store: 's' }, fields: { up: '1i', fps: '4.98', lag_ms: '180', dropped: '2i' }, ts: String(minute) })
  })
})
