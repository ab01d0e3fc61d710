import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { expectWellFormed, macTextArb as macArb, testContext, testHashMac as hashMac } from './test-support.ts'
import { decodeWifiBatch } from './wifi-batch.decoder.ts'

const NOW = Date.parse('2026-05-14T09:31:50Z')
const ctx = testContext('sniffer-1', NOW)
const batch = (probes: unknown[], extra: Record<string, unknown> = {}) => JSON.stringify({ v: 1, ts: NOW - 2000, probes, ...extra })

describe('decodeWifiBatch', () => {
  it('turns probes into hashed Wi-Fi sightings of the sniffer', () => {
    const r = decodeWifiBatch(
      batch([
        { mac: 'F0:18:98:4E:7C:21', rssi: -61, ts: NOW - 2500, channel: 6, seq: 1021 },
        { mac: 'da-a1-19-6e-03-c5', rssi: -77, channel: 1 },
      ]),
      ctx,
    )
    expect(r.rejects).toEqual([])
    expect(r.sightings).toEqual([
      { source: 'wifi', sensorId: 'sniffer-1', id: hashMac('f0:18:98:4e:7c:21'), idKind: 'mac', randomAddress: false, deviceClass: 'other', rssi: -61, ts: NOW - 2500 },
      // locally administered (0xda has bit 0x02): Wi-Fi MAC randomisation; ts defaults to the envelope's
      { source: 'wifi', sensorId: 'sniffer-1', id: hashMac('da:a1:19:6e:03:c5'), idKind: 'random', randomAddress: true, deviceClass: 'other', rssi: -77, ts: NOW - 2000 },
    ])
  })

  it('accepts a Buffer payload', () => {
    expect(decodeWifiBatch(Buffer.from(batch([{ mac: 'f018984e7c21', rssi: -50 }])), ctx).sightings).toHaveLength(1)
  })

  it('rejects the envelope as a whole: JSON, shape, version, size, time', () => {
    const code = (p: string) => decodeWifiBatch(p, ctx).rejects.map((x) => x.code)
    expect(code('not json')).toEqual(['STORE_EDGE_ERR_PAYLOAD_NOT_JSON'])
    expect(code('[1,2]')).toEqual(['STORE_EDGE_ERR_SCHEMA'])
    expect(code(JSON.stringify({ v: 2, ts: NOW, probes: [] }))).toEqual(['STORE_EDGE_ERR_SCHEMA_VERSION'])
    expect(code(JSON.stringify({ ts: NOW, probes: [] }))).toEqual(['STORE_EDGE_ERR_SCHEMA_VERSION'])
    expect(code(JSON.stringify({ v: 1, ts: NOW }))).toEqual(['STORE_EDGE_ERR_SCHEMA'])
    expect(code(JSON.stringify({ v: 1, ts: 'now', probes: [] }))).toEqual(['STORE_EDGE_ERR_SCHEMA'])
    expect(code(batch(Array.from({ length: 501 }, () => ({ mac: 'f018984e7c21', rssi: -50 }))))).toEqual(['STORE_EDGE_ERR_BATCH_TOO_LARGE'])
    expect(code(JSON.stringify({ v: 1, ts: NOW - 3_600_000, probes: [] }))).toEqual(['STORE_EDGE_ERR_TIMESTAMP'])
    for (const p of ['not json', '[1,2]', JSON.stringify({ v: 2, ts: NOW, probes: [] })]) {
      expect(decodeWifiBatch(p, ctx).rejects[0]!.index).toBeUndefined()
    }
  })

  it('rejects bad probes one by one, with their index, and keeps the good ones', () => {
    const r = decodeWifiBatch(
      batch([
        { mac: 'f0:18:98:4e:7c:21', rssi: -61 },
        { mac: 'f0:18:98:4e:7c:zz', rssi: -61 },
        { mac: 'f0:18:98:4e:7c:22', rssi: 40 },
        { mac: 'f0:18:98:4e:7c:23', rssi: '-61' },
        { mac: 'f0:18:98:4e:7c:24', rssi: -61, ts: NOW - 3_600_000 },
        { mac: 'f0:18:98:4e:7c:25', rssi: -61, channel: 0 },
        'nope',
        { mac: 'f0:18:98:4e:7c:26', rssi: -61, seq: 4096 },
        { mac: 'ff:ff:ff:ff:ff:ff', rssi: -61 },
        { mac: 'f0:18:98:4e:7c:27', rssi: -61 },
      ]),
      ctx,
    )
    expect(r.sightings.map((s) => s.id)).toEqual([hashMac('f0:18:98:4e:7c:21'), hashMac('f0:18:98:4e:7c:27')])
    expect(r.rejects.map((x) => [x.index, x.code])).toEqual([
      [1, 'STORE_EDGE_ERR_BAD_MAC'],
      [2, 'STORE_EDGE_ERR_BAD_RSSI'],
      [3, 'STORE_EDGE_ERR_BAD_RSSI'],
      [4, 'STORE_EDGE_ERR_TIMESTAMP'],
      [5, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
      [6, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
      [7, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
      [8, 'STORE_EDGE_ERR_BAD_MAC'],
    ])
    expect(r.rejects[4]!.reason).toContain('/probes/5/channel')
    expectWellFormed(r, ['f0:18:98:4e:7c:2' + '1', 'f0:18:98:4e:7c:22', 'f0:18:98:4e:7c:24', 'f0:18:98:4e:7c:25', 'f0:18:98:4e:7c:26'])
  })

  it('never copies an SSID, and never echoes a MAC in a reason', () => {
    const r = decodeWifiBatch(batch([{ mac: 'f0:18:98:4e:7c:21', rssi: -61, ssid: 'Home-Network-Of-Alice' }, { mac: 'f0:18:98:4e:7c:22', rssi: 'f0:18:98:4e:7c:22' }]), ctx)
    expect(JSON.stringify(r)).not.toContain('Alice')
    expect(r.rejects[0]!.reason).toBe('/probes/1/rssi: expected -127..20 dBm, got a string')
    // JSON.parse quotes the input in its message; the reason must not
    const bad = decodeWifiBatch('f0:18:98:4e:7c:21', ctx)
    expect(bad.rejects[0]!.code).toBe('STORE_EDGE_ERR_PAYLOAD_NOT_JSON')
    expectWellFormed(bad, ['f0:18:98:4e:7c:21'])
    expectWellFormed(decodeWifiBatch('{"v":1,"ts":1,"probes":[{"mac":"f0:18:98:4e:7c:21"', ctx), ['f0:18:98:4e:7c:21'])
  })

  it('de-duplicates the same MAC + sequence number inside a batch, keeping the strongest reading', () => {
    const r = decodeWifiBatch(
      batch([
        { mac: 'f0:18:98:4e:7c:21', rssi: -70, seq: 7, channel: 1 },
        { mac: 'F0:18:98:4E:7C:21', rssi: -60, seq: 7, channel: 6 },
        { mac: 'f0:18:98:4e:7c:21', rssi: -65, seq: 8 },
        { mac: 'f0:18:98:4e:7c:21', rssi: -65 },
        { mac: 'f0:18:98:4e:7c:21', rssi: -66 },
      ]),
      ctx,
    )
    expect(r.rejects).toEqual([])
    expect(r.sightings.map((s) => s.rssi)).toEqual([-60, -65, -65, -66])
  })

  it('rejects on the skew window edges exactly', () => {
    const at = (ts: number) => decodeWifiBatch(batch([{ mac: 'f0:18:98:4e:7c:21', rssi: -50, ts }]), ctx)
    expect(at(NOW + 600_000).sightings).toHaveLength(1)
    expect(at(NOW + 600_001).rejects[0]!.code).toBe('STORE_EDGE_ERR_TIMESTAMP')
    expect(at(1.5).rejects[0]!.code).toBe('STORE_EDGE_ERR_TIMESTAMP')
  })
})

describe('decodeWifiBatch properties (fuzz)', () => {
  const RUNS = 5000
  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        expectWellFormed(decodeWifiBatch(Buffer.from(bytes), ctx))
      }),
      { numRuns: RUNS },
    )
  })

  it('never throws on random JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expectWellFormed(decodeWifiBatch(JSON.stringify(v) ?? 'null', ctx))
      }),
      { numRuns: RUNS },
    )
  })

  it('accounts for every probe of a well-formed envelope, leaks no MAC, and never throws on mutated items', () => {
    const anything = fc.oneof(fc.jsonValue(), macArb, fc.double(), fc.constant(undefined))
    const probe = fc
      .record({
        mac: fc.oneof({ weight: 4, arbitrary: macArb }, { weight: 1, arbitrary: anything }),
        rssi: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -127, max: 20 }) }, { weight: 1, arbitrary: anything }),
        ts: fc.oneof(fc.constant(undefined), fc.integer({ min: NOW - 700_000, max: NOW + 700_000 }), anything),
        channel: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 14 }), anything),
        // a unique valid seq (its index), none, or an invalid one: duplicates are tested on their own above
        seq: fc.constantFrom<unknown>('unique', undefined, -1, 4096, 'x', 1.5),
        ssid: fc.oneof(fc.constant(undefined), macArb, fc.string()),
      })
      .map((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)))
    const probes = fc
      .array(fc.oneof({ weight: 9, arbitrary: probe }, { weight: 1, arbitrary: anything }), { maxLength: 30 })
      .map((items) => items.map((p, i) => (p && typeof p === 'object' && (p as { seq?: unknown }).seq === 'unique' ? { ...p, seq: i } : p)))
    fc.assert(
      fc.property(probes, (items) => {
        const r = decodeWifiBatch(batch(items), ctx)
        const macs = items.flatMap((p) => (p && typeof p === 'object' ? Object.values(p as object).filter((v): v is string => typeof v === 'string') : typeof p === 'string' ? [p] : []))
        expectWellFormed(r, macs)
        const indexes = r.rejects.map((x) => x.index)
        if (!indexes.every((i) => i !== undefined && i >= 0 && i < items.length)) throw new Error('rejection without a valid index')
        if (new Set(indexes).size !== indexes.length) throw new Error('an item rejected twice')
        if (r.sightings.length + r.rejects.length !== items.length) throw new Error('items unaccounted for')
        for (const s of r.sightings) {
          if (!/^h:[0-9a-f]{20}$/.test(s.id) || s.sensorId !== 'sniffer-1' || Math.abs(s.ts - NOW) > ctx.maxSkewMs) throw new Error('bad sighting')
        }
      }),
      { numRuns: RUNS },
    )
  })
})
