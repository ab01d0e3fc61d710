import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeEspresense } from './espresense.decoder.ts'
import { checkSingleMessageInvariants as checkInvariants, hashed, junk, leakedMac, testContext } from './test-support.ts'

const NOW = Date.UTC(2025, 5, 1, 10, 0, 0)
const ctx = testContext('cosmetics-1', NOW)
const decode = (msg: unknown, topicId = 'x') => decodeEspresense(JSON.stringify(msg), ctx, topicId)

// Shapes as ESPresense's BleFingerprint::fill() publishes them (mac: 12 hex, lowercase).
const MAC = 'c47c8d6a0102'
const IBEACON_MSG = {
  mac: MAC,
  id: 'iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-1-2',
  idType: 180,
  'rssi@1m': -59,
  rssi: -71,
  raw: 3.98,
  channel: 38,
  distance: 2.51,
  mean: 2.4,
  var: 0.12,
  int: 102,
}
const APPLE_MSG = { mac: '5a1b2c3d4e5f', id: 'apple:1005:9-26', idType: 150, 'rssi@1m': -65, rssi: -80, raw: 5.1, distance: 4.9, int: 300 }

describe('decodeEspresense', () => {
  it('iBeacon id → our ibeacon id, rssi@1m → txPower, distance → distanceM, ts = now', () => {
    const r = decode(IBEACON_MSG, IBEACON_MSG.id)
    expect(r.rejects).toEqual([])
    expect(r.sightings).toEqual([
      {
        source: 'ble',
        sensorId: 'cosmetics-1',
        id: 'ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:2',
        idKind: 'ibeacon',
        randomAddress: false,
        deviceClass: 'beacon',
        rssi: -71,
        txPower: -59,
        distanceM: 2.51,
        ts: NOW,
        beacon: { uuid: 'e2c56db5-dffb-48d2-b060-d0f5a71096e0', major: 1, minor: 2 },
      },
    ])
  })

  it('accepts numbers sent as strings (older firmware, serialized floats)', () => {
    const r = decode({ ...IBEACON_MSG, rssi: '-71', 'rssi@1m': '-59', distance: '2.51' })
    expect(r.sightings[0]).toMatchObject({ rssi: -71, txPower: -59, distanceM: 2.51 })
  })

  it('AltBeacon and Eddystone ids; the UUID may come upper case or without dashes', () => {
    const alt = decode({ ...IBEACON_MSG, id: 'altBeacon:2F234454-CF6D-4A0F-ADF2-F4911BA9FFA6-3-4' }).sightings[0]
    expect(alt).toMatchObject({ id: 'altbeacon:2f234454cf6d4a0fadf2f4911ba9ffa6:3:4', idKind: 'altbeacon', deviceClass: 'beacon' })
    const ib = decode({ ...IBEACON_MSG, id: 'iBeacon:E2C56DB5DFFB48D2B060D0F5A71096E0-65535-0' }).sightings[0]
    expect(ib?.id).toBe('ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:65535:0')
    const eddy = decode({ ...IBEACON_MSG, id: 'eddy:edd1ebeac04e5defa017-0123456789ab' }).sightings[0]
    expect(eddy).toMatchObject({ id: 'eddystone-uid:edd1ebeac04e5defa017:0123456789ab', idKind: 'eddystone-uid' })
    // Some firmware prints namespace byte 4 twice (22 hex digits); read it back as the 10-byte namespace.
    const dup = decode({ ...IBEACON_MSG, id: 'eddy:edd1ebeac0c04e5defa017-0123456789ab' }).sightings[0]
    expect(dup?.id).toBe('eddystone-uid:edd1ebeac04e5defa017:0123456789ab')
  })

  it('malformed beacon ids fall back to the hashed MAC', () => {
    for (const id of ['iBeacon:nope-1-2', 'iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-70000-1', 'iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0--1', 'eddy:zz-00']) {
      const s = decode({ ...IBEACON_MSG, id }).sightings[0]
      expect(s).toMatchObject({ id: hashed(MAC), idKind: 'random', deviceClass: 'other' })
    }
  })

  it('fingerprint ids are never emitted: keyed by the hashed mac field, random unless idType 55 (public)', () => {
    const r = decode(APPLE_MSG, APPLE_MSG.id)
    expect(r.sightings[0]).toMatchObject({ id: hashed('5a1b2c3d4e5f'), idKind: 'random', randomAddress: true, deviceClass: 'apple', txPower: -65 })
    expect(JSON.stringify(r)).not.toContain('1005')
    const pub = decode({ mac: MAC, id: MAC, idType: 55, rssi: -60 }).sightings[0]
    expect(pub).toMatchObject({ id: hashed(MAC), idKind: 'mac', randomAddress: false })
  })

  it('device class from fingerprints', () => {
    const cls = (id: string) => decode({ mac: MAC, id, rssi: -60 }).sightings[0]?.deviceClass
    expect(cls('apple:findmy')).toBe('apple')
    expect(cls('md:004c:12')).toBe('apple')
    expect(cls('md:00e0:10')).toBe('android')
    expect(cls('md:0075:24-12')).toBe('android')
    expect(cls('samsung:' + MAC)).toBe('android')
    expect(cls('sd:0xfe9f')).toBe('android')
    expect(cls('ad:0xfe2c-12')).toBe('android')
    expect(cls('msft:cdp:0209')).toBe('other')
    expect(cls('name:johns-iphone')).toBe('other')
  })

  it('never emits names, name: ids or aliases', () => {
    const r = decode({ mac: MAC, id: 'name:johns-iphone', name: "John's iPhone", idType: 35, rssi: -60 }, 'name:johns-iphone')
    expect(r.sightings).toHaveLength(1)
    expect(JSON.stringify(r)).not.toMatch(/john/i)
  })

  it('ids that are raw MACs (bare or prefixed) are hashed, never passed through', () => {
    for (const id of [MAC, 'known:' + MAC, 'tile:' + MAC, 'sonos:' + MAC.toUpperCase()]) {
      const r = decode({ id, idType: 210, rssi: -60 }, id) // older firmware: no mac field
      expect(r.sightings[0]).toMatchObject({ id: hashed(MAC), idKind: 'random' })
      expect(leakedMac(r, [MAC])).toBeUndefined()
    }
  })

  it('a fingerprint id with no mac field is rejected: nothing safe to key it by', () => {
    const r = decode({ id: 'apple:1005:9-26', rssi: -60 })
    expect(r.sightings).toEqual([])
    expect(r.rejects[0]!.code).toBe('STORE_EDGE_ERR_BAD_MAC')
    expect(decode({ rssi: -60 }, 'md:00e0:10').rejects[0]!.code).toBe('STORE_EDGE_ERR_BAD_MAC') // id from topic
  })

  it('uses the topic id when the message has none', () => {
    expect(decode({ rssi: -60 }, 'iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-1-2').sightings[0]?.idKind).toBe('ibeacon')
  })

  it('a beacon id that embeds the MAC is re-keyed by the hashed MAC', () => {
    const r = decode({ mac: MAC, id: 'eddy:edd1ebeac04e5defa017-' + MAC, rssi: -60 })
    expect(r.sightings[0]).toMatchObject({ id: `eddystone-uid:${hashed(MAC)}`, idKind: 'eddystone-uid' })
    expect(leakedMac(r, [MAC])).toBeUndefined()
  })

  it('telemetry: mV and temp when present', () => {
    const s = decode({ mac: MAC, id: 'miTherm:' + MAC, rssi: -60, mV: 2980, temp: '21.5', rh: 40 }).sightings[0]
    expect(s?.telemetry).toEqual({ batteryMv: 2980, temperatureC: 21.5 })
  })

  it('rejections: bad JSON, non-object, missing/invalid rssi, bad mac, bad id', () => {
    expect(decodeEspresense('{', ctx, 'x').rejects[0]!.code).toBe('STORE_EDGE_ERR_PAYLOAD_NOT_JSON')
    expect(decodeEspresense('[]', ctx, 'x').rejects[0]!.code).toBe('STORE_EDGE_ERR_SCHEMA')
    expect(decode({ mac: MAC, id: MAC }).rejects[0]!.code).toBe('STORE_EDGE_ERR_BAD_RSSI')
    expect(decode({ mac: MAC, id: MAC, rssi: 'loud' }).rejects[0]!.code).toBe('STORE_EDGE_ERR_BAD_RSSI')
    expect(decode({ mac: MAC, id: MAC, rssi: -200 }).rejects[0]!.code).toBe('STORE_EDGE_ERR_BAD_RSSI')
    const badMac = decode({ mac: 'c47c8d6a01', id: 'apple:1005:9-26', rssi: -60 })
    expect(badMac.rejects[0]!.code).toBe('STORE_EDGE_ERR_BAD_MAC')
    expect(JSON.stringify(badMac)).not.toContain('c47c8d6a01')
    expect(decode({ mac: MAC, id: 42, rssi: -60 }).rejects[0]!.code).toBe('STORE_EDGE_ERR_SCHEMA')
  })
})

// ----------------------------------------------------------------- property / fuzz tests

const macBytes = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => Buffer.from(b).toString('hex'))
const numOrString = (min: number, max: number) => fc.oneof(fc.integer({ min, max }), fc.integer({ min, max }).map(String), fc.double({ min, max, noNaN: true }), junk)
const idArb = (mac: string) =>
  fc.oneof(
    fc.constant(mac),
    fc.constantFrom('known:', 'tile:', 'sonos:', 'itag:', 'miTherm:').map((p) => p + mac),
    fc.constantFrom('apple:1005:9-26', 'apple:findmy', 'md:00e0:10', 'sd:0xfe9f', 'name:johns-iphone', 'msft:cdp:0209', 'irk:00112233445566778899aabbccddeeff'),
    fc.tuple(fc.uuid(), fc.integer({ min: -5, max: 70000 }), fc.integer({ min: 0, max: 65535 })).map(([u, a, b]) => `iBeacon:${u}-${a}-${b}`),
    fc.tuple(fc.uint8Array({ minLength: 10, maxLength: 11 }), fc.uint8Array({ minLength: 6, maxLength: 6 })).map(([n, i]) => `eddy:${Buffer.from(n).toString('hex')}-${Buffer.from(i).toString('hex')}`),
    fc.string({ maxLength: 40 }),
    junk,
  )
const msgArb = macBytes.chain((mac) =>
  fc.record(
    {
      mac: fc.oneof({ arbitrary: fc.constantFrom(mac, mac.toUpperCase()), weight: 5 }, { arbitrary: junk, weight: 1 }),
      id: idArb(mac),
      idType: fc.oneof(fc.constantFrom(1, 5, 35, 55, 150, 180, 210), junk),
      'rssi@1m': numOrString(-100, 0),
      rssi: fc.oneof({ arbitrary: numOrString(-127, 20), weight: 5 }, { arbitrary: numOrString(-300, 300), weight: 1 }),
      raw: numOrString(0, 100),
      distance: numOrString(-1, 100),
      mV: numOrString(0, 4000),
      temp: numOrString(-40, 80),
      name: fc.string({ maxLength: 20 }),
    },
    { requiredKeys: [] },
  ).map((m) => ({ m, mac })),
)

describe('fuzz: decodeEspresense', () => {
  it('mutated real-shaped messages: one result each, known codes, no MAC leaks (also via topic ids)', () => {
    let seen = 0
    let rejected = 0
    fc.assert(
      fc.property(msgArb, fc.boolean(), ({ m, mac }, topicIsMac) => {
        const r = decodeEspresense(JSON.stringify(m), ctx, topicIsMac ? mac : 'iBeacon:x')
        seen += r.sightings.length
        rejected += r.rejects.length
        checkInvariants(r, [mac, m.mac])
      }),
      { numRuns: 5000 },
    )
    // The generators must exercise both paths, or the invariants above prove little.
    expect(seen).toBeGreaterThan(500)
    expect(rejected).toBeGreaterThan(500)
  })
  it('random bytes and random JSON', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), fc.json({ maxDepth: 3 })), fc.string({ maxLength: 30 }), (p, topic) => {
        checkInvariants(decodeEspresense(p, ctx, topic), [topic])
      }),
      { numRuns: 5000 },
    )
  })
})
