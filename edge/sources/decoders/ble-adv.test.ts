import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bleIdentity, bytesToHex, decodeEddystone, hexToBytes, parseBleAdv, parseBleAdvBytes, type BleAdv } from './ble-adv.ts'
import { ad, ascii, h, mfr, svc16, testHashMac as hashMac, u16, u32 } from './test-support.ts'

// --- advertisement builders, straight from the specs (Core Spec Vol 3 Part C §11: Length | AD type | data);
// h, ad, mfr, svc16, u16, u32 and ascii come from test-support.ts
const flags = (f = 0x06) => ad(0x01, h(f))
const uuids16 = (...u: number[]) => ad(0x03, u.map((x) => h(x & 0xff, x >> 8)).join(''))

/** Apple's iBeacon example UUID (AirLocate sample code). */
const APPLE_UUID = 'e2c56db5-dffb-48d2-b060-d0f5a71096e0'
const ibeacon = (uuid: string, major: number, minor: number, power: number) => mfr(0x004c, h(0x02, 0x15) + uuid.replaceAll('-', '') + u16(major) + u16(minor) + h(power))
/** Namespace and instance used in Google's Eddystone examples. */
const EDDY_NS = 'edd1ebeac04e5defa017'
const EDDY_INST = '0123456789ab'
const eddyUid = (tx: number, ns = EDDY_NS, inst = EDDY_INST, rfu = '0000') => uuids16(0xfeaa) + svc16(0xfeaa, h(0x00, tx) + ns + inst + rfu)
const eddyUrl = (tx: number, scheme: number, encodedHex: string) => uuids16(0xfeaa) + svc16(0xfeaa, h(0x10, tx, scheme) + encodedHex)

function ok(hex: string): BleAdv {
  const r = parseBleAdv(hex)
  if (!r.ok) throw new Error(`expected ok, got ${r.error}`)
  return r.adv
}
function err(hex: string): string {
  const r = parseBleAdv(hex)
  if (r.ok) throw new Error('expected an error')
  return r.error
}

describe('hex helpers', () => {
  it('round-trips with upper and lower case', () => {
    const b = hexToBytes('00aAfF10', 10)
    expect(b).toEqual(new Uint8Array([0x00, 0xaa, 0xff, 0x10]))
    expect(bytesToHex(b as Uint8Array)).toBe('00aaff10')
  })
  it('reports odd length, non-hex and over-long input by position and size only', () => {
    expect(hexToBytes('abc', 10)).toMatch(/odd number/)
    expect(hexToBytes('zz', 10)).toMatch(/position 0/)
    expect(hexToBytes('0g', 10)).toMatch(/position 1/)
    expect(hexToBytes('0\u0100', 10)).toMatch(/position 1/)
    expect(hexToBytes('00'.repeat(11), 10)).toMatch(/11 bytes, more than 10/)
  })
})

describe('AD structures', () => {
  it('reads flags, TX power level, 16-bit UUID lists, service data and manufacturer data', () => {
    const a = ok(flags(0x1a) + ad(0x0a, h(0xf4)) + uuids16(0x180f, 0x1812) + svc16(0x180f, h(0x64)) + mfr(0x0059, h(1, 2, 3)))
    expect(a.flags).toBe(0x1a)
    expect(a.txPowerLevel).toBe(-12)
    expect(a.serviceUuids16).toEqual([0x180f, 0x1812])
    expect(a.serviceData16).toHaveLength(1)
    expect(a.serviceData16[0]!.uuid).toBe(0x180f)
    expect([...a.serviceData16[0]!.data]).toEqual([0x64])
    expect(a.manufacturerData[0]!.companyId).toBe(0x0059)
    expect([...a.manufacturerData[0]!.data]).toEqual([1, 2, 3])
    expect(a.deviceClass).toBe('other')
  })

  it('notes a local name but never keeps its value', () => {
    const a = ok(flags() + ad(0x09, ascii("John's iPhone")) + ad(0x08, ascii('John')))
    expect(a.hasLocalName).toBe(true)
    expect(JSON.stringify(a)).not.toMatch(/john/i)
    expect(JSON.stringify(a)).not.toContain(ascii('John'))
  })

  it('accepts empty data and an AD with only a type', () => {
    expect(ok('').deviceClass).toBe('other')
    expect(ok(h(0x01, 0xff)).manufacturerData).toEqual([]) // 0xFF with no company id: ignored
  })

  it('treats a zero length as end of data (Core Spec Vol 3 Part C §11), ignoring what follows', () => {
    const a = ok(flags() + '00' + 'ffffffff')
    expect(a.flags).toBe(6)
    expect(ok(flags() + '00'.repeat(29)).flags).toBe(6) // advertisement zero-padded to 31 bytes
  })

  it('rejects malformed input with a clear error, never throwing', () => {
    expect(err('0201060')).toMatch(/odd number of hex digits/)
    expect(err('02010x')).toMatch(/non-hex character at position 5/)
    expect(err('1aff4c000215')).toMatch(/AD structure at byte 0 declares 26 bytes but only 5 remain/)
    expect(err(flags() + '05ff4c00')).toMatch(/AD structure at byte 3/)
    expect(err('00'.repeat(63))).toMatch(/63 bytes, more than 62/)
    expect(parseBleAdvBytes(new Uint8Array(63)).ok).toBe(false)
  })

  it('accepts exactly 62 bytes (advertisement + scan response)', () => {
    const adv = flags() + ibeacon(APPLE_UUID, 1, 2, -59) // 3 + 27 = 30 bytes
    const scan = ad(0x09, ascii('x'.repeat(29))) // 31 bytes
    expect((adv + scan + '00').length / 2).toBe(62)
    expect(ok(adv + scan + '00').beacon?.kind).toBe('ibeacon')
  })
})

describe('iBeacon', () => {
  it('decodes the Apple example frame: UUID bytes 4..19, major/minor big-endian, measured power int8', () => {
    const a = ok('0201061aff4c000215e2c56db5dffb48d2b060d0f5a71096e000010002c5')
    expect(a.beacon).toEqual({ kind: 'ibeacon', uuid: APPLE_UUID, major: 1, minor: 2, measuredPower: -59 })
    expect(a.deviceClass).toBe('beacon')
  })
  it('reads large major/minor unsigned and positive power', () => {
    expect(ok(flags() + ibeacon(APPLE_UUID, 0xffff, 0x8001, 3)).beacon).toMatchObject({ major: 65535, minor: 32769, measuredPower: 3 })
  })
  it('wrong length byte or short frame is Apple but not a beacon', () => {
    const a = ok(mfr(0x004c, h(0x02, 0x14) + '00'.repeat(21)))
    expect(a.beacon).toBeUndefined()
    expect(a.deviceClass).toBe('apple')
    expect(a.appleType).toBe(0x02)
  })
})

describe('AltBeacon', () => {
  it('decodes the spec example (Radius Networks 0x0118, beacon code 0xBEAC)', () => {
    const id = '2f234454cf6d4a0fadf2f4911ba9ffa6'
    const a = ok(flags() + mfr(0x0118, 'beac' + id + u16(1) + u16(2) + h(-59) + h(0x00)))
    expect(a.beacon).toEqual({ kind: 'altbeacon', companyId: 0x0118, id, major: 1, minor: 2, refRssi: -59, mfgReserved: 0 })
    expect(a.deviceClass).toBe('beacon')
  })
  it('needs the full 20-byte id + reference RSSI + reserved byte', () => {
    expect(ok(mfr(0x0118, 'beac' + '00'.repeat(21))).beacon).toBeUndefined()
  })
})

describe('Eddystone', () => {
  it('UID: tx power at 0 m, 10-byte namespace, 6-byte instance', () => {
    const a = ok(flags() + eddyUid(-18))
    expect(a.beacon).toEqual({ kind: 'eddystone-uid', txPower0m: -18, namespace: EDDY_NS, instance: EDDY_INST })
    expect(a.deviceClass).toBe('beacon')
    expect(ok(eddyUid(-18, EDDY_NS, EDDY_INST, '')).beacon?.kind).toBe('eddystone-uid') // RFU omitted
  })

  it('URL: scheme prefixes and expansion codes', () => {
    const url = (scheme: number, enc: string) => {
      const b = ok(eddyUrl(-20, scheme, enc)).beacon
      return b && b.kind === 'eddystone-url' ? b.url : undefined
    }
    expect(url(0x00, ascii('google') + h(0x07))).toBe('http://www.google.com')
    expect(url(0x01, ascii('example') + h(0x00) + ascii('shop'))).toBe('https://www.example.com/shop')
    expect(url(0x02, ascii('goo.gl/S6zT6P'))).toBe('http://goo.gl/S6zT6P')
    expect(url(0x03, ascii('a') + h(0x01, 0x02, 0x03, 0x04, 0x05, 0x06) + ascii('b') + h(0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d))).toBe(
      'https://a.org/.edu/.net/.info/.biz/.gov/b.org.edu.net.info.biz.gov',
    )
    expect(ok(eddyUrl(-20, 0x02, ascii('x'))).beacon).toMatchObject({ txPower0m: -20 })
    expect(url(0x04, ascii('x'))).toBeUndefined() // reserved scheme
    expect(url(0x02, h(0x0e))).toBeUndefined() // reserved code
    expect(url(0x02, h(0x80))).toBeUndefined()
    expect(url(0x02, ascii('x'.repeat(18)))).toBeUndefined() // more than 17 encoded bytes
  })

  it('TLM v0: battery mV, 8.8 temperature, adv count, seconds in 0.1 s', () => {
    const a = ok(flags() + svc16(0xfeaa, h(0x20, 0x00) + u16(3000) + h(0x18, 0x80) + u32(100) + u32(3600)))
    expect(a.tlm).toEqual({ version: 0, batteryMv: 3000, temperatureC: 24.5, advCount: 100, secCount: 3600 })
    expect(a.beacon).toBeUndefined()
    expect(a.deviceClass).toBe('beacon')
  })
  it('TLM: negative temperature, 0x8000 and 0 mV mean not supported, big counters stay unsigned', () => {
    expect(decodeEddystone(hexToBytes(h(0x20, 0) + u16(0) + h(0xff, 0x80) + u32(0xffffffff) + u32(0), 20) as Uint8Array)).toEqual({
      version: 0,
      temperatureC: -0.5,
      advCount: 4294967295,
      secCount: 0,
    })
    expect(decodeEddystone(hexToBytes(h(0x20, 0) + u16(2900) + h(0x80, 0x00) + u32(1) + u32(2), 20) as Uint8Array)).toEqual({
      version: 0,
      batteryMv: 2900,
      advCount: 1,
      secCount: 2,
    })
  })
  it('TLM v1 (encrypted) is recognised but not read; short TLM is ignored', () => {
    expect(ok(svc16(0xfeaa, h(0x20, 0x01) + '00'.repeat(16))).tlm).toEqual({ version: 1 })
    expect(ok(svc16(0xfeaa, h(0x20, 0x00, 0x0b))).tlm).toBeUndefined()
  })
  it('EID: tx power and 8-byte ephemeral id', () => {
    expect(ok(svc16(0xfeaa, h(0x30, -10) + '1122334455667788')).beacon).toEqual({ kind: 'eddystone-eid', txPower0m: -10, eid: '1122334455667788' })
  })
  it('unknown frame types and short frames are not beacons', () => {
    expect(ok(svc16(0xfeaa, h(0x40, 0))).deviceClass).toBe('other')
    expect(ok(svc16(0xfeaa, h(0x00, 0) + '00'.repeat(10))).beacon).toBeUndefined()
    expect(ok(svc16(0xfeaa, h(0x30, 0) + '00'.repeat(7))).beacon).toBeUndefined()
  })
})

describe('device class fingerprint', () => {
  it.each([
    ['Nearby Info 0x10', mfr(0x004c, h(0x10, 0x05, 0x01, 0x18, 0x44, 0x12, 0x33)), 0x10],
    ['Find My 0x12', mfr(0x004c, h(0x12, 0x19, 0x10) + '00'.repeat(24)), 0x12],
    ['proximity pairing 0x07', mfr(0x004c, h(0x07, 0x19, 0x01, 0x0e, 0x20) + '00'.repeat(20)), 0x07],
    ['AirPlay 0x09', mfr(0x004c, h(0x09, 0x06, 0x03, 0x1e, 0xc0, 0xa8, 0x01, 0x02)), 0x09],
    ['Handoff 0x0C', mfr(0x004c, h(0x0c, 0x0e, 0x00) + '00'.repeat(14)), 0x0c],
  ])('Apple Continuity %s → apple', (_, hex, type) => {
    const a = ok(flags(0x1a) + hex)
    expect(a.deviceClass).toBe('apple')
    expect(a.appleType).toBe(type)
  })

  it.each([
    ['Google company 0x00E0', mfr(0x00e0, h(1, 2))],
    ['Google company 0x018E', mfr(0x018e, h(1))],
    ['Samsung company 0x0075', mfr(0x0075, h(0x42, 0x04))],
    ['Fast Pair service data 0xFE2C', svc16(0xfe2c, h(0x00, 0x01, 0x02))],
    ['service UUID 0xFE9F', uuids16(0xfe9f)],
    ['service UUID 0xFEF3', ad(0x02, h(0xf3, 0xfe))],
    ['service data 0xFCF1', svc16(0xfcf1, h(0x00))],
  ])('%s → android', (_, hex) => {
    expect(ok(flags() + hex).deviceClass).toBe('android')
  })

  it('beacon beats apple (an iBeacon is Apple manufacturer data)', () => {
    expect(ok(flags() + ibeacon(APPLE_UUID, 1, 1, -59)).deviceClass).toBe('beacon')
  })
  it('anything else → other', () => {
    expect(ok(flags() + mfr(0x0006, h(1, 9, 0x20))).deviceClass).toBe('other')
    expect(ok(uuids16(0x180d)).deviceClass).toBe('other')
  })
})

describe('bleIdentity', () => {
  const mac = 'c4:7c:8d:6a:01:02'
  const parsed = (hex: string) => ok(hex).beacon
  it('non-beacons: hashed MAC, random unless public', () => {
    expect(bleIdentity(undefined, mac, true, hashMac)).toEqual({ id: hashMac(mac), idKind: 'random', randomAddress: true })
    expect(bleIdentity(undefined, mac, false, hashMac)).toEqual({ id: hashMac(mac), idKind: 'mac', randomAddress: false })
    expect(bleIdentity(undefined, undefined, false, hashMac)).toBeUndefined()
  })
  it('beacon ids are not the MAC and are never random', () => {
    expect(bleIdentity(parsed(ibeacon(APPLE_UUID, 1, 2, -59)), mac, true, hashMac)).toEqual({
      id: `ibeacon:${APPLE_UUID}:1:2`,
      idKind: 'ibeacon',
      randomAddress: false,
      txPower: -59,
      beacon: { uuid: APPLE_UUID, major: 1, minor: 2 },
    })
    expect(bleIdentity(parsed(eddyUid(-18)), mac, true, hashMac)).toMatchObject({ id: `eddystone-uid:${EDDY_NS}:${EDDY_INST}`, txPower: -59 })
    expect(bleIdentity(parsed(svc16(0xfeaa, h(0x30, -10) + '1122334455667788')), undefined, true, hashMac)?.id).toBe('eddystone-eid:1122334455667788')
  })
  it('Eddystone-URL is keyed by the hashed MAC (URLs are shared); needs a MAC', () => {
    const b = parsed(eddyUrl(-20, 0x03, ascii('store.example') + h(0x00)))
    expect(bleIdentity(b, mac, true, hashMac)).toEqual({
      id: `eddystone-url:${hashMac(mac)}`,
      idKind: 'eddystone-url',
      randomAddress: false,
      txPower: -61,
      beacon: { url: 'https://store.example.com/' },
    })
    expect(bleIdentity(b, undefined, true, hashMac)).toBeUndefined()
  })
  it('a beacon id that embeds the device MAC (either byte order) is re-keyed by the hashed MAC', () => {
    const fwd = bleIdentity(parsed(eddyUid(-18, EDDY_NS, 'c47c8d6a0102')), mac, false, hashMac)
    expect(fwd).toEqual({ id: `eddystone-uid:${hashMac(mac)}`, idKind: 'eddystone-uid', randomAddress: false, txPower: -59, beacon: {} })
    const rev = bleIdentity(parsed(eddyUid(-18, EDDY_NS, '02016a8d7cc4')), mac, false, hashMac)
    expect(rev?.id).toBe(`eddystone-uid:${hashMac(mac)}`)
    const ib = bleIdentity(parsed(ibeacon('c47c8d6a-0102-48d2-b060-d0f5a71096e0', 7, 8, -60)), mac, false, hashMac)
    expect(ib).toEqual({ id: `ibeacon:${hashMac(mac)}`, idKind: 'ibeacon', randomAddress: false, txPower: -60, beacon: { major: 7, minor: 8 } })
    const url = bleIdentity(parsed(eddyUrl(-20, 0x02, ascii('c4-7c-8d-6a-01-02'))), mac, false, hashMac)
    expect(url?.beacon).toEqual({})
  })
})

describe('fuzz: parseBleAdv never throws', () => {
  it('random bytes (0..70) and random hex strings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70 }), (bytes) => {
        const r = parseBleAdvBytes(bytes)
        const r2 = parseBleAdv(Buffer.from(bytes).toString('hex'))
        expect(r.ok).toBe(r2.ok)
        if (!r.ok) expect(r.error.length).toBeGreaterThan(0)
        if (bytes.length > 62) expect(r.ok).toBe(false)
      }),
      { numRuns: 5000 },
    )
  })
  it('random strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 140 }), (s) => {
        const r = parseBleAdv(s)
        if (!r.ok) expect(r.error.length).toBeGreaterThan(0)
      }),
      { numRuns: 5000 },
    )
  })
  it('well-formed AD sequences always parse; beacons are classed beacon', () => {
    const adArb = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 12 })).map(([t, d]) => ad(t, Buffer.from(d).toString('hex')))
    const beaconArb = fc.constantFrom(ibeacon(APPLE_UUID, 1, 2, -59), eddyUid(-18), eddyUrl(-20, 3, ascii('a.b')), svc16(0xfeaa, h(0x30, 0) + '00'.repeat(8)))
    fc.assert(
      fc.property(fc.array(adArb, { maxLength: 4 }), fc.option(beaconArb, { nil: undefined }), (ads, beacon) => {
        const hex = (beacon ?? '') + ads.join('')
        if (hex.length > 124) return
        const r = parseBleAdv(hex)
        expect(r.ok).toBe(true)
        if (r.ok && beacon) expect(r.adv.deviceClass).toBe('beacon')
      }),
      { numRuns: 5000 },
    )
  })
})
