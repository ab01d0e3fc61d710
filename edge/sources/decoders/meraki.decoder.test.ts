import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { normalizeMac } from './common.ts'
import { apSensorId, decodeMeraki, merakiTime } from './meraki.decoder.ts'
import { expectWellFormed, macTextArb as macArb, testContext, testHashMac as hashMac } from './test-support.ts'

const NOW = Date.parse('2026-05-14T09:31:50Z')
const ctx = testContext('meraki', NOW)

/** The fixtures were captured at 2024-05-14T09:31:50Z (their endTime); move every ISO time to "now". */
// any: tests poke into the fixture freely; the decoder under test treats it as unknown.
function fixture(name: 'wifi' | 'bluetooth', now = NOW): any {
  const text = readFileSync(new URL(`../../../tests/fixtures/meraki-v3-${name}.json`, import.meta.url), 'utf8')
  const shift = now - Date.parse('2024-05-14T09:31:50Z')
  return JSON.parse(text, (_k, v) => (typeof v === 'string' && /^\d{4}-\d\d-\d\dT[\d:]+Z$/.test(v) ? new Date(Date.parse(v) + shift).toISOString().replace('.000Z', 'Z') : v))
}
const t = (iso: string) => Date.parse(iso) + (NOW - Date.parse('2024-05-14T09:31:50Z'))

describe('decodeMeraki (Scanning API v3)', () => {
  it('decodes the WiFi fixture: one sighting per AP of the newest location, else latestRecord', () => {
    const r = decodeMeraki(fixture('wifi'), ctx)
    expect(r.type).toBe('WiFi')
    expect(r.rejects).toEqual([])
    const apple = { source: 'wifi', id: hashMac('f0:18:98:4e:7c:21'), idKind: 'mac', randomAddress: false, deviceClass: 'apple', ts: t('2024-05-14T09:31:47Z') }
    const random = { source: 'wifi', id: hashMac('da:a1:19:6e:03:c5'), idKind: 'random', randomAddress: true, deviceClass: 'other', ts: t('2024-05-14T09:31:39Z') }
    expect(r.sightings).toEqual([
      { ...apple, sensorId: 'ap-e0553d1a2b3c', rssi: -54 },
      { ...apple, sensorId: 'ap-e0553d1a2b4d', rssi: -69 },
      { ...apple, sensorId: 'ap-0c8ddb771002', rssi: -80 },
      // rssi arrives as strings here
      { ...random, sensorId: 'ap-e0553d1a2b4d', rssi: -63 },
      { ...random, sensorId: 'ap-0c8ddb771002', rssi: -77 },
      // no locations: latestRecord's nearest AP; os Android on a public address
      { source: 'wifi', sensorId: 'ap-0c8ddb771002', id: hashMac('3c:28:6d:91:5a:e0'), idKind: 'mac', randomAddress: false, deviceClass: 'android', rssi: -86, ts: t('2024-05-14T09:30:58Z') },
    ])
  })

  it('decodes the Bluetooth fixture as BLE sightings', () => {
    const r = decodeMeraki(fixture('bluetooth'), ctx)
    expect(r.type).toBe('Bluetooth')
    expect(r.rejects).toEqual([])
    expect(r.sightings.map((s) => [s.source, s.sensorId, s.rssi, s.randomAddress])).toEqual([
      ['ble', 'ap-e0553d1a2b3c', -67, true],
      ['ble', 'ap-e0553d1a2b4d', -79, true],
      ['ble', 'ap-e0553d1a2b4d', -88, false],
    ])
  })

  it('copies nothing about the client but a hashed MAC', () => {
    for (const name of ['wifi', 'bluetooth'] as const) {
      const body = fixture(name)
      const out = JSON.stringify(decodeMeraki(body, ctx))
      for (const secret of ['Store-Guest', '10.20.0.114', 'iOS', 'Apple', 'Google', '31.23', '121.47', 'f7826da6', '1bff75', 'meraki-fixture-secret', 'L_6468']) {
        expect(out).not.toContain(secret)
      }
      expectWellFormed(decodeMeraki(body, ctx), body.data.observations.map((o: { clientMac: string }) => o.clientMac))
    }
  })

  it('accepts a JSON string or Buffer body too', () => {
    expect(decodeMeraki(JSON.stringify(fixture('wifi')), ctx).sightings).toHaveLength(6)
    expect(decodeMeraki(Buffer.from(JSON.stringify(fixture('wifi'))), ctx).sightings).toHaveLength(6)
    expect(decodeMeraki('{"version": "3.0", "clientMac": "f0:18:98:4e:7c:21"', ctx).rejects[0]!.reason).not.toContain('f0:18')
  })

  it('rejects the post as a whole for version, type and shape', () => {
    const code = (b: unknown) => decodeMeraki(b, ctx).rejects.map((x) => x.code)
    expect(code({ ...fixture('wifi'), version: '2.0' })).toEqual(['STORE_EDGE_ERR_SCHEMA_VERSION'])
    expect(code({ ...fixture('wifi'), version: 3 })).toEqual([])
    expect(code({ ...fixture('wifi'), type: 'DevicesSeen' })).toEqual(['STORE_EDGE_ERR_WEBHOOK_TYPE'])
    expect(decodeMeraki({ ...fixture('wifi'), type: 'BLE' }, ctx).type).toBe('Bluetooth')
    expect(code({ ...fixture('wifi'), data: null })).toEqual(['STORE_EDGE_ERR_SCHEMA'])
    expect(code({ ...fixture('wifi'), data: { observations: {} } })).toEqual(['STORE_EDGE_ERR_SCHEMA'])
    expect(code('nope')).toEqual(['STORE_EDGE_ERR_PAYLOAD_NOT_JSON'])
    expect(code(42)).toEqual(['STORE_EDGE_ERR_SCHEMA'])
    const big = fixture('wifi')
    big.data.observations = Array.from({ length: 501 }, () => big.data.observations[0])
    expect(code(big)).toEqual(['STORE_EDGE_ERR_BATCH_TOO_LARGE'])
  })

  it('rejects bad observations one by one and keeps the good ones', () => {
    const body = fixture('wifi')
    const [good, , last] = body.data.observations
    body.data.observations = [
      good,
      { ...good, clientMac: 'not-a-mac' },
      { ...last, latestRecord: { ...last.latestRecord, nearestApRssi: 'loud' } },
      { ...last, latestRecord: { ...last.latestRecord, time: '2020-01-01T00:00:00Z' } },
      { ...last, latestRecord: { ...last.latestRecord, nearestApMac: 'zz' } },
      { ...good, locations: [{ ...good.locations[1], time: new Date(NOW - 3_600_000).toISOString() }], latestRecord: undefined },
      { ...good, locations: [], latestRecord: undefined },
      null,
      last,
    ]
    const r = decodeMeraki(body, ctx)
    expect(r.rejects.map((x) => [x.index, x.code])).toEqual([
      [1, 'STORE_EDGE_ERR_BAD_MAC'],
      [2, 'STORE_EDGE_ERR_BAD_RSSI'],
      [3, 'STORE_EDGE_ERR_TIMESTAMP'],
      [4, 'STORE_EDGE_ERR_BAD_MAC'],
      [5, 'STORE_EDGE_ERR_TIMESTAMP'],
      [6, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
      [7, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
    ])
    expect(r.rejects[1]!.reason).toBe('/data/observations/2/latestRecord/nearestApRssi: expected -127..20 dBm, got a string')
    expect(r.sightings).toHaveLength(4) // 3 APs for the first, 1 for the last
    expectWellFormed(r, [good.clientMac, last.clientMac])
  })

  it('falls back to latestRecord when the newest location is unusable, and keeps a location by its good records', () => {
    const body = fixture('wifi')
    const o = body.data.observations[0]
    o.locations[1].rssiRecords = [{ apMac: 'nope', rssi: -50 }, { apMac: 'e0:55:3d:1a:2b:4d', rssi: -200 }]
    let r = decodeMeraki({ ...body, data: { ...body.data, observations: [o] } }, ctx)
    expect(r.sightings.map((s) => [s.sensorId, s.rssi])).toEqual([['ap-e0553d1a2b3c', -54]])
    o.locations[1].rssiRecords.push({ apMac: 'E0-55-3D-1A-2B-4D', rssi: '-60' }, { apMac: 'e0553d1a2b4d', rssi: -65 })
    r = decodeMeraki({ ...body, data: { ...body.data, observations: [o] } }, ctx)
    // duplicates of one AP keep the strongest reading
    expect(r.sightings.map((s) => [s.sensorId, s.rssi])).toEqual([['ap-e0553d1a2b4d', -60]])
  })

  it('reads times as ISO 8601, epoch seconds or epoch milliseconds, numbers or strings', () => {
    expect(merakiTime('2019-11-28T14:27:46Z')).toBe(Date.parse('2019-11-28T14:27:46Z'))
    expect(merakiTime(1574951266)).toBe(1574951266000)
    expect(merakiTime('1574951266')).toBe(1574951266000)
    expect(merakiTime(1574951266123)).toBe(1574951266123)
    expect(merakiTime('yesterday')).toBeUndefined()
    expect(merakiTime('2019-13-45T99:99:99Z')).toBeUndefined()
    const body = fixture('wifi')
    body.data.observations[2].latestRecord.time = Math.round(NOW / 1000)
    expect(decodeMeraki(body, ctx).sightings.at(-1)!.ts).toBe(Math.round(NOW / 1000) * 1000)
    expect(apSensorId('0c:8d:db:77:10:02')).toBe('ap-0c8ddb771002')
  })
})

describe('decodeMeraki properties (fuzz)', () => {
  const RUNS = 5000
  const anything = fc.oneof(fc.jsonValue(), macArb, fc.double(), fc.constant(undefined))
  const num = (min: number, max: number) => fc.oneof(fc.integer({ min, max }), fc.integer({ min, max }).map(String))
  const time = fc.oneof(
    fc.integer({ min: NOW - 700_000, max: NOW + 700_000 }).map((ms) => new Date(ms).toISOString()),
    fc.integer({ min: NOW - 700_000, max: NOW + 700_000 }).map((ms) => Math.round(ms / 1000)),
  )
  const maybe = <T,>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: a }, { weight: 1, arbitrary: anything })
  const apMacs = ['e0:55:3d:1a:2b:3c', 'e0:55:3d:1a:2b:4d', '0c:8d:db:77:10:02']
  const record = fc.record({ apMac: maybe(fc.constantFrom(...apMacs)), rssi: maybe(num(-100, -30)) })
  const location = fc.record({ time: maybe(time), rssiRecords: maybe(fc.array(maybe(record), { maxLength: 4 })), lat: fc.double(), lng: fc.double(), x: fc.string(), variance: fc.double() })
  const observation = fc.record(
    {
      clientMac: maybe(macArb),
      locations: maybe(fc.array(maybe(location), { maxLength: 3 })),
      latestRecord: maybe(fc.record({ time: maybe(time), nearestApMac: maybe(fc.constantFrom(...apMacs)), nearestApRssi: maybe(num(-100, -30)) })),
      ssid: maybe(fc.oneof(fc.string(), macArb)),
      ipv4: maybe(fc.string()),
      os: maybe(fc.string()),
      manufacturer: maybe(fc.string()),
      name: maybe(fc.oneof(fc.string(), macArb)),
    },
    { requiredKeys: [] },
  )
  const body = fc.record({
    version: fc.constantFrom('3.0', '3.1', 3),
    secret: fc.string(),
    type: fc.constantFrom('WiFi', 'Bluetooth'),
    data: fc.record({ networkId: fc.string(), observations: fc.array(fc.oneof({ weight: 9, arbitrary: observation }, { weight: 1, arbitrary: anything }), { maxLength: 20 }) }),
  })

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => expectWellFormed(decodeMeraki(Buffer.from(bytes), ctx))),
      { numRuns: RUNS },
    )
  })

  it('never throws on random JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => expectWellFormed(decodeMeraki(v, ctx))),
      { numRuns: RUNS },
    )
  })

  it('accounts for every observation of a well-formed post, leaks no client MAC, never throws', () => {
    fc.assert(
      fc.property(body, (b) => {
        const r = decodeMeraki(JSON.parse(JSON.stringify(b)), ctx)
        const obs = b.data.observations
        const clientMacs = obs.flatMap((o) =>
          o && typeof o === 'object' ? [o, ...Object.values(o)].flatMap((v) => (typeof v === 'string' ? [v] : [])) : typeof o === 'string' ? [o] : [],
        )
        // AP MACs are the sensor ids by design: a client string that is also some AP's MAC is not a leak
        const aps = new Set<string>()
        JSON.stringify(b, (k, v) => {
          if ((k === 'apMac' || k === 'nearestApMac') && normalizeMac(v)) aps.add(normalizeMac(v)!)
          return v
        })
        expectWellFormed(r, clientMacs.filter((m) => !aps.has(normalizeMac(m) ?? '')))
        const rejected = new Set(r.rejects.map((x) => x.index))
        if (rejected.size !== r.rejects.length || [...rejected].some((i) => i === undefined || i < 0 || i >= obs.length)) throw new Error('bad rejection indexes')
        // one sighting per distinct AP of each accepted observation: at least one, at most all the APs it names
        const apsOf = (o: unknown) => {
          const s = new Set<string>()
          JSON.stringify(o, (k, v) => {
            if ((k === 'apMac' || k === 'nearestApMac') && normalizeMac(v)) s.add(normalizeMac(v)!)
            return v
          })
          return s.size
        }
        const most = obs.reduce<number>((n, o, i) => (rejected.has(i) ? n : n + apsOf(o)), 0)
        if (r.sightings.length < obs.length - rejected.size || r.sightings.length > most) {
          throw new Error(`observations unaccounted for: ${obs.length} observations, ${rejected.size} rejected, ${r.sightings.length} sightings`)
        }
        for (const s of r.sightings) {
          if (!/^h:[0-9a-f]{20}$/.test(s.id) || !/^ap-[0-9a-f]{12}$/.test(s.sensorId) || Math.abs(s.ts - NOW) > ctx.maxSkewMs) throw new Error('bad sighting')
          if (s.source !== (b.type === 'WiFi' ? 'wifi' : 'ble')) throw new Error('wrong source')
        }
      }),
      { numRuns: RUNS },
    )
  })
})
