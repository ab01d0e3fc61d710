import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeOmg } from './omg.decoder.ts'
import { checkSingleMessageInvariants as checkInvariants, h, hashed, junk, leakedMac, testContext, u16, u32 } from './test-support.ts'

const NOW = Date.UTC(2025, 5, 1, 10, 0, 0)
const ctx = testContext('omg-entrance', NOW)
const decode = (msg: unknown, topicMac = '45E174126E00') => decodeOmg(JSON.stringify(msg), ctx, topicMac)

const APPLE_UUID = 'e2c56db5-dffb-48d2-b060-d0f5a71096e0'
/** OMG's manufacturerdata: the whole AD payload, company id (LE) first. */
const IBEACON_MD = '4c000215' + APPLE_UUID.replaceAll('-', '') + u16(100) + u16(7) + h(-59)

describe('decodeOmg', () => {
  it('the documented presence message (docs/use/ble.md): hashed id, no mac_type → random', () => {
    const r = decode({ id: '45:e1:74:12:6e:00', rssi: -89, distance: 21.51847, servicedata: 'fe0000000000000000000000000000000000000000' })
    expect(r.rejects).toEqual([])
    expect(r.sightings).toEqual([
      { source: 'ble', sensorId: 'omg-entrance', id: hashed('45:e1:74:12:6e:00'), idKind: 'random', randomAddress: true, deviceClass: 'other', rssi: -89, distanceM: 21.51847, ts: NOW },
    ])
    expect(leakedMac(r, ['45:e1:74:12:6e:00'])).toBeUndefined()
  })

  it('mac_type 0 (public) → idKind mac; 1 (random) → random; strings accepted', () => {
    expect(decode({ id: '45:E1:74:12:6E:00', mac_type: 0, rssi: -60 }).sightings[0]).toMatchObject({ idKind: 'mac', randomAddress: false })
    expect(decode({ id: '45:E1:74:12:6E:00', mac_type: '0', rssi: '-60' }).sightings[0]).toMatchObject({ idKind: 'mac', rssi: -60 })
    expect(decode({ id: '45:E1:74:12:6E:00', mac_type: 1, rssi: -60 }).sightings[0]).toMatchObject({ idKind: 'random', randomAddress: true })
    expect(decode({ id: '45:E1:74:12:6E:00', mac_type: 2, rssi: -60 }).sightings[0]?.idKind).toBe('mac')
  })

  it('iBeacon from manufacturerdata (Theengs fields beside it), txpower (AD 0x0A) is not RSSI at 1 m', () => {
    const msg = { id: 'D0:03:DF:AA:BB:CC', mac_type: 1, adv_type: 0, manufacturerdata: IBEACON_MD, rssi: -70, txpower: 4, brand: 'GENERIC', model: 'IBEACON', model_id: 'IBEACON', mfid: '4c00', uuid: APPLE_UUID.replaceAll('-', ''), major: 100, minor: 7, power: 197 }
    const s = decode(msg, 'D003DFAABBCC').sightings[0]
    expect(s).toEqual({
      source: 'ble',
      sensorId: 'omg-entrance',
      id: `ibeacon:${APPLE_UUID}:100:7`,
      idKind: 'ibeacon',
      randomAddress: false,
      deviceClass: 'beacon',
      rssi: -70,
      txPower: -59,
      ts: NOW,
      beacon: { uuid: APPLE_UUID, major: 100, minor: 7 },
    })
  })

  it('iBeacon from Theengs decoded fields alone', () => {
    const s = decode({ id: 'D0:03:DF:AA:BB:CC', rssi: -70, model_id: 'IBEACON', uuid: APPLE_UUID.toUpperCase(), major: '100', minor: 7, power: -59 }).sightings[0]
    expect(s).toMatchObject({ id: `ibeacon:${APPLE_UUID}:100:7`, txPower: -59 })
    expect(decode({ id: 'D0:03:DF:AA:BB:CC', rssi: -70, model_id: 'IBEACON', uuid: 'nope', major: 1, minor: 2, power: -59 }).sightings[0]?.idKind).toBe('random')
  })

  it('Eddystone UID and TLM from servicedata + servicedatauuid', () => {
    const uid = decode({ id: 'D0:03:DF:AA:BB:CC', rssi: -60, servicedatauuid: '0xfeaa', servicedata: h(0x00, -18) + 'edd1ebeac04e5defa017' + '0123456789ab' + '0000' }).sightings[0]
    expect(uid).toMatchObject({ id: 'eddystone-uid:edd1ebeac04e5defa017:0123456789ab', txPower: -59, deviceClass: 'beacon' })
    const tlm = decode({ id: 'D0:03:DF:AA:BB:CC', rssi: -60, servicedatauuid: '0000feaa-0000-1000-8000-00805f9b34fb', servicedata: h(0x20, 0) + u16(3100) + h(0xfe, 0x00) + u32(5) + u32(10) }).sightings[0]
    expect(tlm).toMatchObject({ id: hashed('D0:03:DF:AA:BB:CC'), deviceClass: 'beacon', telemetry: { batteryMv: 3100, temperatureC: -2, advCount: 5, uptimeS: 1 } })
    const url = decode({ id: 'D0:03:DF:AA:BB:CC', rssi: -60, servicedatauuid: 'FEAA', servicedata: h(0x10, -20, 0x01) + Buffer.from('example').toString('hex') + h(0x07) }).sightings[0]
    expect(url).toMatchObject({ id: `eddystone-url:${hashed('D0:03:DF:AA:BB:CC')}`, beacon: { url: 'https://www.example.com' } })
  })

  it('fingerprints Apple Continuity, Google and Samsung manufacturer data, Fast Pair service data', () => {
    const cls = (m: Record<string, unknown>) => decode({ id: 'D0:03:DF:AA:BB:CC', rssi: -60, ...m }).sightings[0]?.deviceClass
    expect(cls({ manufacturerdata: '4c0010050118441233' })).toBe('apple')
    expect(cls({ manufacturerdata: '4c0012190010' })).toBe('apple')
    expect(cls({ manufacturerdata: 'e0000102' })).toBe('android')
    expect(cls({ manufacturerdata: '75004204' })).toBe('android')
    expect(cls({ servicedatauuid: '0xfe2c', servicedata: '000102' })).toBe('android')
    expect(cls({ model_id: 'APPLE_CONT' })).toBe('apple')
    expect(cls({ manufacturerdata: '0600010920' })).toBe('other')
  })

  it('never outputs the name', () => {
    const r = decode({ id: '59:D6:88:02:47:B8', name: "John's iPhone", rssi: -63, distance: 1.602966 })
    expect(JSON.stringify(r)).not.toMatch(/john/i)
  })

  it('falls back to the topic MAC when the message has no id', () => {
    expect(decode({ rssi: -60 }, '59D6880247B8').sightings[0]?.id).toBe(hashed('59:d6:88:02:47:b8'))
  })

  it('unixtime (s) when present must be within skew', () => {
    expect(decode({ id: '59:D6:88:02:47:B8', rssi: -60, unixtime: NOW / 1000 - 5 }).sightings[0]?.ts).toBe(NOW - 5000)
    expect(decode({ id: '59:D6:88:02:47:B8', rssi: -60, unixtime: 1000 }).rejects[0]!.code).toBe('STORE_EDGE_ERR_TIMESTAMP')
  })

  it('rejections, never echoing the MAC', () => {
    expect(decodeOmg('nope', ctx, '59D6880247B8').rejects[0]!.code).toBe('STORE_EDGE_ERR_PAYLOAD_NOT_JSON')
    expect(decodeOmg('"x"', ctx, '59D6880247B8').rejects[0]!.code).toBe('STORE_EDGE_ERR_SCHEMA')
    const badId = decode({ id: '59:D6:88:02:47', rssi: -60 })
    expect(badId.rejects[0]!.code).toBe('STORE_EDGE_ERR_BAD_MAC')
    expect(JSON.stringify(badId)).not.toMatch(/59:?d6/i)
    expect(decode({ rssi: -60 }, 'nope').rejects[0]!.code).toBe('STORE_EDGE_ERR_BAD_MAC')
    expect(decode({ id: '59:D6:88:02:47:B8' }).rejects[0]!.code).toBe('STORE_EDGE_ERR_BAD_RSSI')
    expect(decode({ id: '59:D6:88:02:47:B8', rssi: -60, manufacturerdata: '4c0' }).rejects[0]!.code).toBe('STORE_EDGE_ERR_BAD_ADV')
    expect(decode({ id: '59:D6:88:02:47:B8', rssi: -60, manufacturerdata: 12 }).rejects[0]!.code).toBe('STORE_EDGE_ERR_BAD_ADV')
    expect(decode({ id: '59:D6:88:02:47:B8', rssi: -60, servicedata: 'zz' }).rejects[0]!.code).toBe('STORE_EDGE_ERR_BAD_ADV')
  })
})

// ----------------------------------------------------------------- property / fuzz tests

const hexArb = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b).toString('hex'))
const mdArb = fc.oneof(
  fc.constantFrom(IBEACON_MD, '4c0010050118441233', 'e0000102', '75004204', '1801beac' + '00'.repeat(22)),
  hexArb(40),
  fc.tuple(fc.constantFrom('4c00', 'e000', '7500', '1801'), hexArb(30)).map(([a, b]) => a + b),
  fc.string({ maxLength: 20 }),
  junk,
)
const msgArb = fc.uint8Array({ minLength: 6, maxLength: 6 }).chain((b) => {
  const p = [...b].map((x) => x.toString(16).padStart(2, '0').toUpperCase())
  const mac = p.join(':')
  return fc
    .record(
      {
        id: fc.oneof({ arbitrary: fc.constant(mac), weight: 5 }, { arbitrary: junk, weight: 1 }),
        mac_type: fc.oneof(fc.constantFrom(0, 1, 2, 3, '0', '1'), junk),
        adv_type: fc.integer({ min: 0, max: 4 }),
        name: fc.string({ maxLength: 20 }),
        rssi: fc.oneof({ arbitrary: fc.integer({ min: -127, max: 20 }), weight: 5 }, { arbitrary: fc.integer({ min: -127, max: 20 }).map(String), weight: 2 }, { arbitrary: junk, weight: 1 }),
        txpower: fc.oneof(fc.integer({ min: -30, max: 10 }), junk),
        manufacturerdata: mdArb,
        servicedata: fc.oneof(hexArb(24), fc.constant(h(0x00, -18) + 'edd1ebeac04e5defa017' + p.join('').toLowerCase()), junk),
        servicedatauuid: fc.oneof(fc.constantFrom('0xfeaa', '0xfe2c', 'feaa', '0000feaa-0000-1000-8000-00805f9b34fb'), junk),
        distance: fc.oneof(fc.double({ min: 0, max: 50, noNaN: true }), junk),
        model_id: fc.oneof(fc.constantFrom('IBEACON', 'APPLE_CONT'), junk),
        uuid: fc.oneof(fc.uuid(), junk),
        major: fc.oneof(fc.integer({ min: 0, max: 65535 }), junk),
        minor: fc.oneof(fc.integer({ min: 0, max: 65535 }), junk),
        power: fc.oneof(fc.integer({ min: -128, max: 255 }), junk),
        unixtime: fc.oneof(fc.integer({ min: NOW / 1000 - 900, max: NOW / 1000 + 900 }), junk),
      },
      { requiredKeys: [] },
    )
    .map((m) => ({ m, mac, topic: p.join('') }))
})

describe('fuzz: decodeOmg', () => {
  it('mutated real-shaped messages: one result each, known codes, no MAC leaks', () => {
    let seen = 0
    let rejected = 0
    fc.assert(
      fc.property(msgArb, ({ m, mac, topic }) => {
        const r = decodeOmg(JSON.stringify(m), ctx, topic)
        seen += r.sightings.length
        rejected += r.rejects.length
        checkInvariants(r, [mac, m.id])
      }),
      { numRuns: 5000 },
    )
    // The generators must exercise both paths, or the invariants above prove little.
    expect(seen).toBeGreaterThan(500)
    expect(rejected).toBeGreaterThan(500)
  })
  it('random bytes and random JSON', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), fc.json({ maxDepth: 3 })), fc.string({ maxLength: 20 }), (p, topic) => {
        checkInvariants(decodeOmg(p, ctx, topic), [topic])
      }),
      { numRuns: 5000 },
    )
  })
})
