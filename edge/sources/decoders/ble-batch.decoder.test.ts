import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { DecodeResult } from '../../contracts/index.ts'
import { decodeBleBatch } from './ble-batch.decoder.ts'
import { ad, ascii, checkRejections, h, hashed, junk, leakedMac, mfr, svc16, testContext, u16, u32 } from './test-support.ts'

const NOW = Date.UTC(2025, 5, 1, 10, 0, 0)
const ctx = testContext('scanner-1', NOW)

// --- advertisements built from the specs (builders in test-support.ts)
const flags = ad(0x01, h(0x06))

const APPLE_UUID = 'e2c56db5-dffb-48d2-b060-d0f5a71096e0'
const IBEACON = flags + mfr(0x004c, h(0x02, 0x15) + APPLE_UUID.replaceAll('-', '') + u16(1) + u16(2) + h(-59))
const ALT_ID = '2f234454cf6d4a0fadf2f4911ba9ffa6'
const ALTBEACON = flags + mfr(0x0118, 'beac' + ALT_ID + u16(3) + u16(4) + h(-60) + h(0))
const EDDY_NS = 'edd1ebeac04e5defa017'
const EDDY_INST = '0123456789ab'
const EDDY_UID = flags + ad(0x03, h(0xaa, 0xfe)) + svc16(0xfeaa, h(0x00, -18) + EDDY_NS + EDDY_INST + '0000')
const EDDY_URL = flags + svc16(0xfeaa, h(0x10, -20, 0x03) + ascii('example') + h(0x00))
const EDDY_EID = flags + svc16(0xfeaa, h(0x30, -25) + '1122334455667788')
const EDDY_TLM = flags + svc16(0xfeaa, h(0x20, 0x00) + u16(2950) + h(0x15, 0x40) + u32(1234) + u32(36000))
const APPLE_NEARBY = ad(0x01, h(0x1a)) + ad(0x0a, h(0x0c)) + mfr(0x004c, h(0x10, 0x05, 0x01, 0x18, 0x44, 0x12, 0x33))
const FAST_PAIR = flags + svc16(0xfe2c, h(0x00, 0x01, 0x02))

const MAC = 'C4:7C:8D:6A:01:02'
const MAC2 = 'd0-03-df-aa-bb-cc'
const MAC3 = '5a1b2c3d4e5f'

const batch = (sightings: unknown[], extra: Record<string, unknown> = {}) => JSON.stringify({ v: 1, ts: NOW, sightings, ...extra })

describe('decodeBleBatch: envelope', () => {
  it('rejects non-JSON, non-objects and schema failures as a whole', () => {
    expect(decodeBleBatch('{nope', ctx).rejects[0]!.code).toBe('STORE_EDGE_ERR_PAYLOAD_NOT_JSON')
    expect(decodeBleBatch('[1,2]', ctx).rejects[0]!.code).toBe('STORE_EDGE_ERR_SCHEMA')
    expect(decodeBleBatch('null', ctx).rejects[0]!.code).toBe('STORE_EDGE_ERR_SCHEMA')
    const noTs = decodeBleBatch(JSON.stringify({ v: 1, sightings: [] }), ctx)
    expect(noTs.rejects[0]!.code).toBe('STORE_EDGE_ERR_SCHEMA')
    expect(noTs.rejects[0]!.reason).toMatch(/ts/)
    expect(decodeBleBatch(JSON.stringify({ v: 1, ts: NOW, sightings: {} }), ctx).rejects[0]!.code).toBe('STORE_EDGE_ERR_SCHEMA')
    expect(decodeBleBatch(JSON.stringify({ ts: NOW, sightings: [] }), ctx).rejects[0]!.code).toBe('STORE_EDGE_ERR_SCHEMA')
  })
  it('v other than 1 → STORE_EDGE_ERR_SCHEMA_VERSION, without echoing the value', () => {
    const r = decodeBleBatch(JSON.stringify({ v: 2, ts: NOW, sightings: [] }), ctx)
    expect(r.rejects).toEqual([{ code: 'STORE_EDGE_ERR_SCHEMA_VERSION', reason: expect.any(String) }])
    const s = decodeBleBatch(JSON.stringify({ v: MAC, ts: NOW, sightings: [] }), ctx)
    expect(s.rejects[0]!.code).toBe('STORE_EDGE_ERR_SCHEMA_VERSION')
    expect(leakedMac(s, [MAC])).toBeUndefined()
  })
  it('too many items → STORE_EDGE_ERR_BATCH_TOO_LARGE', () => {
    const items = Array.from({ length: 501 }, () => ({ mac: MAC, rssi: -60 }))
    const r = decodeBleBatch(batch(items), ctx)
    expect(r.sightings).toEqual([])
    expect(r.rejects).toEqual([{ code: 'STORE_EDGE_ERR_BATCH_TOO_LARGE', reason: '/sightings: 501 items > 500' }])
    expect(decodeBleBatch(batch(items.slice(1)), ctx).sightings).toHaveLength(500)
  })
  it('envelope ts beyond the skew → STORE_EDGE_ERR_TIMESTAMP', () => {
    const r = decodeBleBatch(JSON.stringify({ v: 1, ts: NOW - 600_001, sightings: [{ mac: MAC, rssi: -50 }] }), ctx)
    expect(r.rejects[0]!.code).toBe('STORE_EDGE_ERR_TIMESTAMP')
    expect(r.sightings).toEqual([])
    expect(decodeBleBatch(JSON.stringify({ v: 1, ts: NOW + 600_000, sightings: [] }), ctx).rejects).toEqual([])
  })
  it('payload too large → STORE_EDGE_ERR_PAYLOAD_TOO_LARGE', () => {
    expect(decodeBleBatch(Buffer.alloc(300 * 1024, 0x20), ctx).rejects[0]!.code).toBe('STORE_EDGE_ERR_PAYLOAD_TOO_LARGE')
  })
  it('accepts a Buffer and an empty batch', () => {
    expect(decodeBleBatch(Buffer.from(batch([])), ctx)).toEqual({ sightings: [], rejects: [] })
  })
})

describe('decodeBleBatch: items', () => {
  it('a plain public address → hashed MAC, idKind mac; random or absent → idKind random', () => {
    const r = decodeBleBatch(
      batch([
        { mac: MAC, addrType: 'public', rssi: -61 },
        { mac: MAC2, addrType: 'random', rssi: -70, ts: NOW - 1000 },
        { mac: MAC3, rssi: -80 },
      ]),
      ctx,
    )
    expect(r.rejects).toEqual([])
    expect(r.sightings).toEqual([
      { source: 'ble', sensorId: 'scanner-1', id: hashed(MAC), idKind: 'mac', randomAddress: false, deviceClass: 'other', rssi: -61, ts: NOW },
      { source: 'ble', sensorId: 'scanner-1', id: hashed(MAC2), idKind: 'random', randomAddress: true, deviceClass: 'other', rssi: -70, ts: NOW - 1000 },
      { source: 'ble', sensorId: 'scanner-1', id: hashed(MAC3), idKind: 'random', randomAddress: true, deviceClass: 'other', rssi: -80, ts: NOW },
    ])
    expect(hashed(MAC)).toBe(ctx.hashMac('c4:7c:8d:6a:01:02')) // the hash is of the normalised form
  })

  it('beacons get beacon ids (not the MAC), are never random, carry RSSI at 1 m', () => {
    const r = decodeBleBatch(
      batch([
        { mac: MAC, rssi: -55, adv: IBEACON },
        { mac: MAC, rssi: -56, adv: ALTBEACON },
        { mac: MAC, rssi: -57, adv: EDDY_UID },
        { mac: MAC, rssi: -58, adv: EDDY_EID },
        { mac: MAC, rssi: -59, adv: EDDY_URL },
      ]),
      ctx,
    )
    expect(r.rejects).toEqual([])
    const [ib, alt, uid, eid, url] = r.sightings
    expect(ib).toMatchObject({ id: `ibeacon:${APPLE_UUID}:1:2`, idKind: 'ibeacon', randomAddress: false, deviceClass: 'beacon', txPower: -59, beacon: { uuid: APPLE_UUID, major: 1, minor: 2 } })
    expect(alt).toMatchObject({ id: `altbeacon:${ALT_ID}:3:4`, idKind: 'altbeacon', randomAddress: false, txPower: -60, beacon: { uuid: ALT_ID, major: 3, minor: 4 } })
    expect(uid).toMatchObject({ id: `eddystone-uid:${EDDY_NS}:${EDDY_INST}`, idKind: 'eddystone-uid', randomAddress: false, txPower: -18 - 41, beacon: { uuid: EDDY_NS, instance: EDDY_INST } })
    expect(eid).toMatchObject({ id: 'eddystone-eid:1122334455667788', idKind: 'eddystone-eid', txPower: -25 - 41 })
    expect(url).toMatchObject({ id: `eddystone-url:${hashed(MAC)}`, idKind: 'eddystone-url', randomAddress: false, txPower: -61, beacon: { url: 'https://example.com/' } })
  })

  it('Eddystone TLM → telemetry on a sighting keyed by the hashed MAC', () => {
    const [s] = decodeBleBatch(batch([{ mac: MAC, rssi: -66, adv: EDDY_TLM, addrType: 'random' }]), ctx).sightings
    expect(s).toEqual({
      source: 'ble',
      sensorId: 'scanner-1',
      id: hashed(MAC),
      idKind: 'random',
      randomAddress: true,
      deviceClass: 'beacon',
      rssi: -66,
      ts: NOW,
      telemetry: { batteryMv: 2950, temperatureC: 21.25, advCount: 1234, uptimeS: 3600 },
    })
  })

  it('fingerprints Apple and Android; AD 0x0A TX power is not RSSI at 1 m', () => {
    const r = decodeBleBatch(batch([{ mac: MAC, rssi: -50, adv: APPLE_NEARBY }, { mac: MAC2, rssi: -50, adv: FAST_PAIR }]), ctx)
    expect(r.sightings[0]).toMatchObject({ deviceClass: 'apple', idKind: 'random' })
    expect(r.sightings[0]!.txPower).toBeUndefined()
    expect(r.sightings[1]!.deviceClass).toBe('android')
  })

  it('never outputs a local name', () => {
    const r = decodeBleBatch(batch([{ mac: MAC, rssi: -50, adv: flags + ad(0x09, ascii("John's iPhone")) }]), ctx)
    expect(r.sightings).toHaveLength(1)
    expect(JSON.stringify(r)).not.toMatch(/john/i)
  })

  it('each bad item is one rejection with its index; the good items beside it survive', () => {
    const items: unknown[] = [
      { mac: MAC, rssi: -60 }, // 0 ok
      { mac: 'C4:7C:8D:6A:01', rssi: -60 }, // 1 short mac
      { rssi: -60 }, // 2 missing mac
      { mac: MAC, rssi: -128 }, // 3 rssi too low
      { mac: MAC, rssi: '-60' }, // 4 rssi as string: not our schema
      { mac: MAC, rssi: -60, ts: NOW - 700_000 }, // 5 skewed ts
      { mac: MAC, rssi: -60, ts: 1.5 }, // 6 non-integer ts
      { mac: MAC, rssi: -60, adv: '1aff4c00' }, // 7 AD past end
      { mac: MAC, rssi: -60, adv: 'zz' }, // 8 non-hex
      { mac: MAC, rssi: -60, adv: '00'.repeat(63) }, // 9 too long
      { mac: MAC, rssi: -60, addrType: 'static' }, // 10 bad addrType
      'not an object', // 11
      null, // 12
      { mac: 'ff:ff:ff:ff:ff:ff', rssi: -60 }, // 13 broadcast address
      { mac: MAC2, rssi: 20, adv: IBEACON }, // 14 ok
      { mac: MAC, rssi: -60, adv: 42 }, // 15 adv not a string
    ]
    const r = decodeBleBatch(batch(items), ctx)
    expect(r.sightings.map((s) => s.rssi)).toEqual([-60, 20])
    expect(r.rejects.map((x) => [x.index, x.code])).toEqual([
      [1, 'STORE_EDGE_ERR_BAD_MAC'],
      [2, 'STORE_EDGE_ERR_BAD_MAC'],
      [3, 'STORE_EDGE_ERR_BAD_RSSI'],
      [4, 'STORE_EDGE_ERR_BAD_RSSI'],
      [5, 'STORE_EDGE_ERR_TIMESTAMP'],
      [6, 'STORE_EDGE_ERR_TIMESTAMP'],
      [7, 'STORE_EDGE_ERR_BAD_ADV'],
      [8, 'STORE_EDGE_ERR_BAD_ADV'],
      [9, 'STORE_EDGE_ERR_BAD_ADV'],
      [10, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
      [11, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
      [12, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
      [13, 'STORE_EDGE_ERR_BAD_MAC'],
      [15, 'STORE_EDGE_ERR_BAD_ADV'],
    ])
    expect(r.rejects[0]!.reason).toBe('mac at /sightings/1 is not a 48-bit address')
    expect(r.rejects[6]!.reason).toMatch(/^adv at \/sightings\/7: AD structure at byte 0/)
    expect(leakedMac(r, [MAC, MAC2, 'C4:7C:8D:6A:01'])).toBeUndefined()
    expect(JSON.stringify(r)).not.toMatch(/c4.?7c.?8d/i)
  })

  it('a beacon whose id embeds its MAC is keyed by the hashed MAC instead', () => {
    const adv = flags + svc16(0xfeaa, h(0x00, -18) + EDDY_NS + 'c47c8d6a0102')
    const r = decodeBleBatch(batch([{ mac: MAC, addrType: 'public', rssi: -60, adv }]), ctx)
    expect(r.sightings[0]).toMatchObject({ id: `eddystone-uid:${hashed(MAC)}`, idKind: 'eddystone-uid' })
    expect(leakedMac(r, [MAC])).toBeUndefined()
  })
})

// ----------------------------------------------------------------- property / fuzz tests

function checkInvariants(r: DecodeResult, macs: unknown[]): void {
  checkRejections(r)
  for (const s of r.sightings) {
    if (s.randomAddress !== (s.idKind === 'random')) throw new Error(`randomAddress ${s.randomAddress} with idKind ${s.idKind}`)
    if (s.rssi < -127 || s.rssi > 20) throw new Error('rssi out of range')
  }
  const leak = leakedMac(r, macs)
  if (leak) throw new Error(`raw MAC ${leak} in output`)
}

const macBytes = fc.uint8Array({ minLength: 6, maxLength: 6 })
const hx = (b: Uint8Array) => Buffer.from(b).toString('hex')
const macArb = macBytes.chain((b) => {
  const p = [...b].map((x) => x.toString(16).padStart(2, '0'))
  return fc.constantFrom(p.join(':'), p.join('-'), p.join(''), p.join(':').toUpperCase(), p.join('').toUpperCase())
})
const knownAdv = fc.constantFrom(IBEACON, ALTBEACON, EDDY_UID, EDDY_URL, EDDY_EID, EDDY_TLM, APPLE_NEARBY, FAST_PAIR, '', flags)
/** Valid advertisements with one byte flipped, cut or extended: mostly still well-formed hex. */
const mutatedAdv = fc.tuple(knownAdv, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 })).map(([a, pos, byte, op]) => {
  const b = Buffer.from(a, 'hex')
  if (b.length === 0) return h(byte)
  const i = pos % b.length
  if (op === 0) b[i] = byte
  if (op === 1) return b.subarray(0, i).toString('hex')
  if (op === 2) return b.toString('hex') + h(byte)
  return b.toString('hex')
})
const advArb = fc.oneof(
  { arbitrary: knownAdv, weight: 3 },
  { arbitrary: mutatedAdv, weight: 4 },
  { arbitrary: fc.uint8Array({ maxLength: 70 }).map(hx), weight: 3 },
  { arbitrary: fc.string({ maxLength: 130 }), weight: 1 },
  { arbitrary: junk, weight: 1 },
)
const itemArb = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record(
      {
        mac: fc.oneof({ arbitrary: macArb, weight: 6 }, { arbitrary: junk, weight: 1 }),
        addrType: fc.oneof({ arbitrary: fc.constantFrom('public', 'random'), weight: 6 }, { arbitrary: junk, weight: 1 }),
        rssi: fc.oneof({ arbitrary: fc.integer({ min: -127, max: 20 }), weight: 6 }, { arbitrary: junk, weight: 1 }, { arbitrary: fc.integer({ min: -300, max: 300 }), weight: 1 }),
        ts: fc.oneof({ arbitrary: fc.integer({ min: NOW - 900_000, max: NOW + 900_000 }), weight: 4 }, { arbitrary: junk, weight: 1 }),
        adv: advArb,
        extra: junk,
      },
      { requiredKeys: ['mac', 'rssi'] },
    ),
  },
  { weight: 1, arbitrary: junk },
)

/** The mac values of a parsed envelope's items (whatever their type). */
function itemMacs(env: unknown): unknown[] {
  const items = typeof env === 'object' && env !== null ? (env as { sightings?: unknown }).sightings : undefined
  if (!Array.isArray(items)) return []
  return items.map((i: unknown) => (typeof i === 'object' && i !== null ? (i as { mac?: unknown }).mac : undefined))
}

describe('fuzz: decodeBleBatch', () => {
  it('well-formed envelopes with mutated items: no throw, sightings + item rejections = items, no MAC leaks', () => {
    let seen = 0
    let rejected = 0
    fc.assert(
      fc.property(fc.array(itemArb, { maxLength: 12 }), (items) => {
        const r = decodeBleBatch(batch(items), ctx)
        seen += r.sightings.length
        rejected += r.rejects.length
        checkInvariants(r, itemMacs({ sightings: items }))
        expect(r.sightings.length + r.rejects.length).toBe(items.length)
        for (const x of r.rejects) expect(x.index).toBeTypeOf('number')
      }),
      { numRuns: 5000 },
    )
    // The generators must exercise both paths, or the invariants above prove little.
    expect(seen).toBeGreaterThan(500)
    expect(rejected).toBeGreaterThan(500)
  })
  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        checkInvariants(decodeBleBatch(Buffer.from(b), ctx), [])
      }),
      { numRuns: 5000 },
    )
  })
  it('random JSON, and random envelopes', () => {
    const envArb = fc.record(
      { v: fc.oneof(fc.constant(1), junk), ts: fc.oneof(fc.constant(NOW), junk), sightings: fc.oneof(fc.array(itemArb, { maxLength: 5 }), junk) },
      { requiredKeys: [] },
    )
    fc.assert(
      fc.property(fc.oneof(fc.json({ maxDepth: 4 }), envArb.map((e) => JSON.stringify(e))), (json) => {
        checkInvariants(decodeBleBatch(json, ctx), itemMacs(JSON.parse(json)))
      }),
      { numRuns: 5000 },
    )
  })
})
