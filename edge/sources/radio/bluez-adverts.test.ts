import { describe, expect, it } from 'vitest'
import { decodeBleBatch } from '../decoders/ble-batch.decoder.ts'
import { parseBleAdv } from '../decoders/ble-adv.ts'
import { hashed, testContext } from '../decoders/test-support.ts'
import { advFromBluez, plainProps, shortUuid, sightingFromBluez } from './bluez-adverts.ts'

const hex = (s: string) => Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex')
// iBeacon: Apple (76), 02 15, UUID, major 1, minor 2, measured power -59.
const IBEACON = hex('0215 fda50693a4e24fb1afcfc6eb07647825 0001 0002 c5')
// Eddystone-UID: frame 00, tx -20, namespace(10), instance(6), RFU(2).
const EDDYSTONE_UID = hex('00 ec 00010203040506070809 0a0b0c0d0e0f 0000')
const FEAA = '0000feaa-0000-1000-8000-00805f9b34fb'

describe('BlueZ Device1 properties → a scanner’s sighting', () => {
  it('short UUIDs only on the Bluetooth base UUID', () => {
    expect(shortUuid(FEAA)).toBe(0xfeaa)
    expect(shortUuid('0000FE2C-0000-1000-8000-00805F9B34FB')).toBe(0xfe2c)
    expect(shortUuid('fda50693-a4e2-4fb1-afcf-c6eb07647825')).toBeUndefined()
  })

  it('rebuilds the AD structures the decoders read: an iBeacon decodes to the same beacon', () => {
    const adv = advFromBluez({ ManufacturerData: { '76': IBEACON }, TxPower: -8, Name: 'Beacon' })
    const parsed = parseBleAdv(adv)
    expect(parsed.ok).toBe(true)
    const ctx = testContext('edge-radio', 1_800_000_000_000)
    const r = decodeBleBatch(JSON.stringify({ v: 1, ts: ctx.now, sightings: [sightingFromBluez({ Address: 'C3:00:00:00:00:01', AddressType: 'random', RSSI: -61, ManufacturerData: { '76': IBEACON } }, ctx.now)] }), ctx)
    expect(JSON.stringify(r)).toContain('ibeacon')
    expect(JSON.stringify(r)).toContain('fda50693-a4e2-4fb1-afcf-c6eb07647825')
    expect(JSON.stringify(r)).not.toContain('c3:00:00:00:00:01') // the MAC never leaves the decoder
  })

  it('Eddystone service data under the 16-bit UUID, and the phone’s address hashed like a scanner’s', () => {
    const ctx = testContext('edge-radio', 1_800_000_000_000)
    const s = sightingFromBluez({ Address: 'AA:BB:CC:DD:EE:01', AddressType: 'public', RSSI: -70, ServiceData: { [FEAA]: EDDYSTONE_UID }, UUIDs: [FEAA] }, ctx.now)!
    expect(s).toMatchObject({ mac: 'aa:bb:cc:dd:ee:01', addrType: 'public', rssi: -70, ts: ctx.now })
    expect(s.adv!.slice(0, 12)).toBe('1716aafe00ec') // len 0x17 (type + uuid + 20 bytes), type 0x16, uuid aafe (LE), frame 00, tx ec
    const r = JSON.stringify(decodeBleBatch(JSON.stringify({ v: 1, ts: ctx.now, sightings: [s] }), ctx))
    expect(r).toContain('eddystone')
    const phone = JSON.stringify(decodeBleBatch(JSON.stringify({ v: 1, ts: ctx.now, sightings: [sightingFromBluez({ Address: 'AA:BB:CC:DD:EE:02', AddressType: 'public', RSSI: -80 }, ctx.now)] }), ctx))
    expect(phone).toContain(hashed('aa:bb:cc:dd:ee:02'))
  })

  it('never exceeds 62 bytes: the name is cut, whatever BlueZ reports', () => {
    const adv = advFromBluez({ ManufacturerData: { '76': IBEACON }, ServiceData: { [FEAA]: EDDYSTONE_UID }, Name: 'x'.repeat(100) })
    expect(adv.length / 2).toBeLessThanOrEqual(62)
    expect(parseBleAdv(adv).ok).toBe(true)
  })

  it('no address or no RSSI: no sighting; RSSI clamped to the schema', () => {
    expect(sightingFromBluez({ RSSI: -50 }, 1)).toBeUndefined()
    expect(sightingFromBluez({ Address: 'AA:BB:CC:DD:EE:03' }, 1)).toBeUndefined()
    expect(sightingFromBluez({ Address: 'AA:BB:CC:DD:EE:03', RSSI: -200 }, 1)!.rssi).toBe(-127)
  })

  it('unwraps dbus-next Variants (a{qv} of ay)', () => {
    const v = (signature: string, value: unknown) => ({ signature, value })
    const p = plainProps({ RSSI: v('n', -42), ManufacturerData: v('a{qv}', { 76: v('ay', IBEACON) }), Address: v('s', 'AA:BB:CC:DD:EE:04') })
    expect(p.RSSI).toBe(-42)
    expect(p.Address).toBe('AA:BB:CC:DD:EE:04')
    expect(Buffer.from(p.ManufacturerData!['76']!).equals(IBEACON)).toBe(true)
  })
})
