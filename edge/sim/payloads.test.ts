import { Value } from '@sinclair/typebox/value'
import { describe, expect, it } from 'vitest'
import { BleBatch, BleSightingItem, parseSensorTopic, WifiBatch, WifiProbeItem } from '../contracts/index.ts'
import { demoStore } from './demo-store.ts'
import { MEMBER_BEACON_UUID, StoreModel, type BleAdvertiser } from './model.ts'
import {
  androidFe9fAdv,
  appleNearbyAdv,
  bleBatch,
  EspresenseReporter,
  espresenseBeaconId,
  iBeaconAdv,
  parseAdStructures,
  wifiBatch,
} from './payloads.ts'
import { Radio, type BleHeard, type WifiHeard } from './radio.ts'

const NOON = Date.UTC(2025, 4, 10, 4, 0, 0) // 12:00 in Asia/Shanghai

/** A busy store, and what its sensors heard over a few minutes. */
function heardAtNoon(minutes = 3): { ble: Map<string, BleHeard[]>; wifi: WifiHeard[]; ts: number } {
  const m = new StoreModel({ startMs: NOON, seed: 31, rateMultiplier: 3, memberShare: 0.4, warmupMs: 20 * 60_000 })
  const r = new Radio(demoStore, { seed: 5 })
  const wifi: WifiHeard[] = []
  let ble = new Map<string, BleHeard[]>()
  let ts = NOON
  for (let i = 1; i <= minutes * 60; i++) {
    ts = NOON + i * 1000
    const { probes } = m.step(ts)
    ble = r.scanBle(ts, 1000, m.bleAdvertisers())
    for (const h of r.hearWifi(probes).values()) wifi.push(...h)
  }
  return { ble, wifi, ts }
}

const bytes = (h: string) => Array.from({ length: h.length / 2 }, (_, i) => parseInt(h.slice(i * 2, i * 2 + 2), 16))

describe('iBeacon advertisement', () => {
  it('follows Apple’s frame layout byte for byte', () => {
    const adv = iBeaconAdv('E2C56DB5-DFFB-48D2-B060-D0F5A71096E0', 0x0102, 0xbeef, -59)
    expect(adv).toBe(
      '020106' + // flags: LE General Discoverable, BR/EDR not supported
        '1aff' + // length 26, manufacturer specific data
        '4c00' + // Apple, little-endian
        '0215' + // iBeacon type, 21 bytes follow
        'e2c56db5dffb48d2b060d0f5a71096e0' + // proximity UUID
        '0102' + // major, big-endian
        'beef' + // minor, big-endian
        'c5', // measured power −59 as int8
    )
    const b = bytes(adv)
    expect(b.length).toBe(30)
    // iBeacon: bytes 9..24 are the UUID, 25..26 major, 27..28 minor, 29 measured power.
    expect(b.slice(9, 25)).toEqual(bytes('e2c56db5dffb48d2b060d0f5a71096e0'))
    expect((b[25]! << 8) | b[26]!).toBe(0x0102)
    expect((b[27]! << 8) | b[28]!).toBe(0xbeef)
    expect((b[29]! << 24) >> 24).toBe(-59)
  })

  it('parses back into AD structures', () => {
    const ads = parseAdStructures(iBeaconAdv(MEMBER_BEACON_UUID, 3, 65535, -59))!
    expect(ads.map((a) => a.type)).toEqual([0x01, 0xff])
    expect(ads[1]!.data.slice(0, 4)).toEqual([0x4c, 0x00, 0x02, 0x15])
    expect(ads[1]!.data.length).toBe(25)
  })
})

describe('phone advertisements', () => {
  it('iPhones send Apple Continuity Nearby Info, Android phones Google 0xFE9F service data', () => {
    for (let nonce = 1; nonce < 50; nonce++) {
      const apple = parseAdStructures(appleNearbyAdv(nonce))!
      const mfr = apple.find((a) => a.type === 0xff)!
      expect(mfr.data.slice(0, 4)).toEqual([0x4c, 0x00, 0x10, 0x05]) // Apple, Nearby Info, length 5
      expect(mfr.data.length).toBe(4 + 5)
      const android = parseAdStructures(androidFe9fAdv(nonce))!
      expect(android.find((a) => a.type === 0x03)!.data).toEqual([0x9f, 0xfe])
      const sd = android.find((a) => a.type === 0x16)!
      expect(sd.data.slice(0, 2)).toEqual([0x9f, 0xfe])
      // Legacy advertising: 31 bytes at most.
      expect(appleNearbyAdv(nonce).length / 2).toBeLessThanOrEqual(31)
      expect(androidFe9fAdv(nonce).length / 2).toBeLessThanOrEqual(31)
    }
    // The rotating bytes change with the address (nonce) and only then.
    expect(appleNearbyAdv(7)).toBe(appleNearbyAdv(7))
    expect(appleNearbyAdv(7)).not.toBe(appleNearbyAdv(8))
  })
})

describe('BLE batch', () => {
  it('validates against the contract schemas, every sighting too', () => {
    const { ble, ts } = heardAtNoon()
    let sightings = 0
    const kinds = new Set<string>()
    for (const [sensorId, heard] of ble) {
      const batch = JSON.parse(JSON.stringify(bleBatch(ts, heard)))
      expect(Value.Check(BleBatch, batch), sensorId).toBe(true)
      for (const s of batch.sightings) {
        expect(Value.Check(BleSightingItem, s), JSON.stringify(s)).toBe(true)
        expect(s.addrType).toBe('random')
        expect(Number.isInteger(s.rssi)).toBe(true)
        expect(s.rssi).toBeGreaterThanOrEqual(-95)
        expect(parseAdStructures(s.adv)).toBeDefined()
        sightings++
      }
      for (const h of heard) kinds.add(h.advertiser.kind)
      // One sighting per device per batch.
      expect(new Set(heard.map((h) => h.advertiser.mac)).size).toBe(heard.length)
    }
    expect(sightings).toBeGreaterThan(20)
    expect(kinds).toEqual(new Set(['apple-nearby', 'android-fe9f', 'ibeacon']))
  })
})

describe('Wi-Fi batch', () => {
  it('validates against the contract schemas; random MACs are locally administered', () => {
    const { wifi, ts } = heardAtNoon()
    const batch = JSON.parse(JSON.stringify(wifiBatch(ts, wifi)))
    expect(Value.Check(WifiBatch, batch)).toBe(true)
    expect(batch.probes.length).toBeGreaterThan(20)
    let random = 0
    let stable = 0
    for (const [i, p] of batch.probes.entries()) {
      expect(Value.Check(WifiProbeItem, p), JSON.stringify(p)).toBe(true)
      expect(p.ssid).toBeUndefined()
      const first = parseInt(p.mac.slice(0, 2), 16)
      if (wifi[i]!.probe.random) {
        expect(first & 0x02).toBe(0x02)
        random++
      } else {
        expect(first & 0x02).toBe(0)
        stable++
      }
    }
    expect(random).toBeGreaterThan(stable)
  })
})

describe('ESPresense node', () => {
  const advertiser = (over: Partial<BleAdvertiser> = {}): BleAdvertiser => ({
    personId: 'p1',
    mac: '5a:01:02:03:04:05',
    addrType: 'random',
    kind: 'ibeacon',
    nonce: 1,
    txAt1m: -59,
    intervalMs: 250,
    beacon: { uuid: MEMBER_BEACON_UUID, major: 2, minor: 417, measuredPower: -59, id: `ibeacon:${MEMBER_BEACON_UUID}:2:417` },
    x: 0,
    y: 0,
    floor: 1,
    ...over,
  })

  it('publishes iBeacons in ESPresense’s own shape on espresense/devices/{id}/{room}', () => {
    const node = new EspresenseReporter('esp-cafe', { absorption: 3 })
    const out = node.report(1000, [
      { advertiser: advertiser(), rssi: -71, packets: 3 },
      { advertiser: advertiser({ kind: 'apple-nearby', beacon: undefined, mac: '4b:00:00:00:00:01' }), rssi: -60, packets: 4 },
    ])
    expect(out).toHaveLength(1)
    const { topic, payload } = out[0]!
    expect(payload.id).toBe(`iBeacon:${MEMBER_BEACON_UUID}-2-417`)
    expect(espresenseBeaconId(MEMBER_BEACON_UUID.toUpperCase(), 2, 417)).toBe(payload.id)
    expect(topic).toBe(`espresense/devices/${payload.id}/esp-cafe`)
    expect(parseSensorTopic(topic)).toEqual({ kind: 'espresense', deviceId: 'esp-cafe', beaconId: payload.id })
    expect(payload).toMatchObject({ idType: 180, 'rssi@1m': -59, rssi: -71, mac: '5a0102030405' })
    // −59 at 1 m, −71 heard, n = 3: 10^(12/30) ≈ 2.51 m.
    expect(payload.raw).toBeCloseTo(2.51, 2)
    expect(payload.distance).toBeCloseTo(2.51, 2)
    expect(payload.interval).toBeGreaterThan(0)
    expect(Object.keys(payload).sort()).toEqual(['distance', 'id', 'idType', 'interval', 'mac', 'raw', 'rssi', 'rssi@1m', 'speed'])
  })

  it('reports a device at most every skip_ms unless it moved more than skip_distance', () => {
    const node = new EspresenseReporter('esp-cafe', { absorption: 3, skipMs: 5000, skipDistance: 0.5 })
    const hear = (ts: number, rssi: number) => node.report(ts, [{ advertiser: advertiser(), rssi, packets: 3 }]).length
    expect(hear(1000, -71)).toBe(1)
    expect(hear(2000, -71)).toBe(0)
    expect(hear(3000, -72)).toBe(0)
    expect(hear(6000, -71)).toBe(1)
    expect(hear(7000, -85)).toBe(1) // walked away: reported early
  })
})
