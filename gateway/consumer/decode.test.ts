import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ErrorCodes, type CouponRequest, type EdgeHealth, type GeofenceEvent, type MinuteAggregate, type ParkingEvent, type PresenceEvent } from '../../edge/contracts/index.ts'
import { decodeUplink, isRejection, type Uplink, type UplinkRejection } from './decode.ts'

const minute = Date.UTC(2024, 4, 17, 9, 31)
const agg: MinuteAggregate = {
  v: 1,
  storeId: 'store-1',
  minute,
  sources: [{ source: 'ble', visitors: 3, passersBy: 5, unique: 1, repeat: 1, randomized: 9, sightings: 70 }],
  zones: [{ zone: 'entrance', occupancy: 2, occupancyBySource: { ble: 2, wifi: 0 }, enters: 1, exits: 0, dwellCount: 0, dwellP50S: null, dwellP90S: null }],
}
const presence: PresenceEvent = { v: 1, type: 'exit', id: 'h:3f2a', source: 'ble', zone: 'entrance', ts: minute + 5000, dwellS: 310, confidence: 0.9, randomAddress: false }
const health: EdgeHealth = { v: 1, storeId: 'store-1', status: 'online', ts: minute, devicesOnline: 4 }

const buf = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))
const rejected = (topic: string, payload: Buffer): UplinkRejection => {
  const r = decodeUplink(topic, payload)
  if (!isRejection(r)) throw new Error(`expected a rejection, got ${r.kind}`)
  return r
}
const accepted = (topic: string, payload: Buffer): Uplink => {
  const r = decodeUplink(topic, payload)
  if (isRejection(r)) throw new Error(`expected acceptance, got ${r.reason}: ${r.detail}`)
  return r
}

describe('decodeUplink: accepted', () => {
  it('a minute aggregate', () => {
    expect(accepted('stores/store-1/agg', buf(agg))).toEqual({ kind: 'agg', storeId: 'store-1', agg })
  })

  it('a presence event (its payload names no store: the topic does)', () => {
    expect(accepted('stores/store-1/events/presence', buf(presence))).toEqual({ kind: 'presence', storeId: 'store-1', event: presence })
  })

  it('edge health', () => {
    expect(accepted('stores/store-1/health', buf(health))).toEqual({ kind: 'health', storeId: 'store-1', health })
  })

  it('other event types pass as "other", whatever their version', () => {
    const cfg = { v: 1, part: 'zones', version: 3, ok: true, errors: [], ts: minute }
    expect(accepted('stores/store-1/events/config', buf(cfg))).toEqual({ kind: 'other', storeId: 'store-1', topic: 'stores/store-1/events/config', payload: cfg })
    expect(accepted('stores/store-1/events/camera', buf({ v: 7, x: 1 }))).toMatchObject({ kind: 'other', payload: { v: 7 } })
  })

  const request: CouponRequest = {
    v: 1,
    key: 'a'.repeat(40),
    storeId: 'store-1',
    campaignId: 'c-welcome',
    campaignVersion: 2,
    memberRef: 'm-7',
    event: { id: 'ev-1', type: 'enter', zone: 'carpark', source: 'plate', ts: minute },
    firedAt: minute + 10,
    localDay: '2024-05-17',
    holdout: false,
    priority: 100,
  }
  const geofence: GeofenceEvent = { v: 1, id: 'gf-00000001', type: 'exit', storeId: 'store-1', zone: 'beauty', zoneKind: 'indoor', source: 'ble', subject: 'member:m-7', memberRef: 'm-7', confidence: 0.9, enteredAt: minute, ts: minute + 60_000, dwellS: 60 }
  const parking: ParkingEvent = { v: 1, id: 'p-1', type: 'exit', storeId: 'store-1', gate: 'north', ts: minute, subject: 'h:ab12', stayS: 7200 }

  it('coupon requests, geofence and parking events against their schemas', () => {
    expect(accepted('stores/store-1/coupons/requests', buf(request))).toEqual({ kind: 'coupon-request', storeId: 'store-1', request })
    expect(accepted('stores/store-1/events/geofence', buf(geofence))).toEqual({ kind: 'geofence', storeId: 'store-1', event: geofence })
    expect(accepted('stores/store-1/events/parking', buf(parking))).toEqual({ kind: 'parking', storeId: 'store-1', event: parking })
    expect(rejected('stores/store-1/coupons/requests', buf({ member: 'm1' })).reason).toBe('STORE_EDGE_ERR_SCHEMA_VERSION')
    expect(rejected('stores/store-1/coupons/requests', buf({ ...request, key: 'not-hex' }))).toMatchObject({ reason: 'STORE_EDGE_ERR_SCHEMA', detail: expect.stringContaining('/key') })
    expect(rejected('stores/store-2/coupons/requests', buf(request)).reason).toBe('STORE_EDGE_ERR_STORE_MISMATCH')
    expect(rejected('stores/store-1/events/geofence', buf({ ...geofence, type: 'left' })).reason).toBe('STORE_EDGE_ERR_SCHEMA')
    expect(rejected('stores/store-2/events/geofence', buf(geofence)).reason).toBe('STORE_EDGE_ERR_STORE_MISMATCH')
    expect(rejected('stores/store-1/events/parking', buf({ ...parking, v: 2 })).reason).toBe('STORE_EDGE_ERR_SCHEMA_VERSION')
  })

  it('store ids with spaces and non-ASCII are topic levels like any other', () => {
    expect(accepted('stores/上海 1/agg', buf({ ...agg, storeId: '上海 1' }))).toMatchObject({ kind: 'agg', storeId: '上海 1' })
  })
})

describe('decodeUplink: every rejection reason', () => {
  it.each([
    ['not under stores/', 'sensors/dev-1/ble'],
    ['unknown leaf', 'stores/store-1/aggregate'],
    ['too deep', 'stores/store-1/agg/extra'],
    ['empty store id', 'stores//agg'],
    ['wildcard in the store id', 'stores/a+b/agg'],
    ['bad event type', 'stores/store-1/events/Presence'],
    ['downlink config is not an uplink', 'stores/store-1/config/zones'],
  ])('bad topic (%s) → STORE_EDGE_ERR_TOPIC', (_name, topic) => {
    expect(rejected(topic, buf(agg)).reason).toBe('STORE_EDGE_ERR_TOPIC')
  })

  it('more than 1 MiB → STORE_EDGE_ERR_PAYLOAD_TOO_LARGE, before parsing', () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 0x20)
    expect(rejected('stores/store-1/agg', big)).toEqual({ reason: 'STORE_EDGE_ERR_PAYLOAD_TOO_LARGE', detail: `${1024 * 1024 + 1} bytes` })
  })

  it.each([['{'], ['not json'], [''], ['{"v":1,}']])('not JSON (%j) → STORE_EDGE_ERR_PAYLOAD_NOT_JSON', (text) => {
    expect(rejected('stores/store-1/agg', buf(text)).reason).toBe('STORE_EDGE_ERR_PAYLOAD_NOT_JSON')
  })

  it.each([['null'], ['42'], ['"text"'], ['true']])('JSON that is not an object (%s) → STORE_EDGE_ERR_SCHEMA', (text) => {
    expect(rejected('stores/store-1/agg', buf(text))).toEqual({ reason: 'STORE_EDGE_ERR_SCHEMA', detail: 'not an object' })
    expect(rejected('stores/store-1/events/camera', buf(text)).reason).toBe('STORE_EDGE_ERR_SCHEMA')
  })

  it('schema: the first error names its path', () => {
    const r = rejected('stores/store-1/agg', buf({ ...agg, sources: [{ ...agg.sources[0], visitors: -1 }] }))
    expect(r.reason).toBe('STORE_EDGE_ERR_SCHEMA')
    expect(r.detail).toMatch(/^\/sources\/0\/visitors: /)
    expect(rejected('stores/store-1/events/presence', buf({ ...presence, source: 'lora' })).detail).toMatch(/^\/source: /)
    expect(rejected('stores/store-1/health', buf({ ...health, status: 'sleepy' })).reason).toBe('STORE_EDGE_ERR_SCHEMA')
  })

  it.each([
    ['stores/store-1/agg', { ...agg, v: 2 }, 'v=2'],
    ['stores/store-1/health', { ...health, v: '1' }, 'v="1"'],
    ['stores/store-1/events/presence', { ...presence, v: undefined }, 'v=undefined'],
  ])('version: %s with %j → STORE_EDGE_ERR_SCHEMA_VERSION', (topic, payload, detail) => {
    expect(rejected(topic, buf(payload))).toEqual({ reason: 'STORE_EDGE_ERR_SCHEMA_VERSION', detail })
  })

  it('store mismatch between topic and payload → STORE_EDGE_ERR_STORE_MISMATCH', () => {
    expect(rejected('stores/store-2/agg', buf(agg))).toEqual({ reason: 'STORE_EDGE_ERR_STORE_MISMATCH', detail: 'store-1 on store-2' })
    expect(rejected('stores/store-2/health', buf(health))).toEqual({ reason: 'STORE_EDGE_ERR_STORE_MISMATCH', detail: 'store-1 on store-2' })
  })

  it('a minute that is not whole seconds → STORE_EDGE_ERR_TIMESTAMP', () => {
    expect(rejected('stores/store-1/agg', buf({ ...agg, minute: minute + 1 })).reason).toBe('STORE_EDGE_ERR_TIMESTAMP')
    expect(rejected('stores/store-1/agg', buf({ ...agg, minute: minute + 999 })).reason).toBe('STORE_EDGE_ERR_TIMESTAMP')
    expect(accepted('stores/store-1/agg', buf({ ...agg, minute: minute + 1000 })).kind).toBe('agg')
  })
})

describe('decodeUplink: never throws', () => {
  const topic = fc.oneof(
    fc.constantFrom('stores/s/agg', 'stores/s/health', 'stores/s/events/presence', 'stores/s/events/other', 'stores/s/coupons/requests', 'stores/s/config/zones'),
    fc.string({ maxLength: 60 }),
  )
  const jsonish = fc.oneof(
    fc.jsonValue().map((v) => buf(v)),
    fc.record({ v: fc.oneof(fc.constant(1), fc.anything()), storeId: fc.constantFrom('s', 't'), minute: fc.anything(), sources: fc.anything(), zones: fc.anything() }, { requiredKeys: [] }).map((v) => buf(v)),
    fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  )

  it('returns an Uplink or a rejection with a catalogued reason for arbitrary topics and bytes', () => {
    fc.assert(
      fc.property(topic, jsonish, (t, payload) => {
        const r = decodeUplink(t, payload)
        if (isRejection(r)) {
          expect(Object.keys(ErrorCodes)).toContain(r.reason)
          expect(typeof r.detail).toBe('string')
        } else {
          expect(['agg', 'presence', 'health', 'other', 'coupon-request', 'geofence', 'parking']).toContain(r.kind)
          expect(t.startsWith(`stores/${r.storeId}/`)).toBe(true)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('deeply nested JSON is refused, not a stack overflow', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000)
    expect(isRejection(decodeUplink('stores/s/agg', buf(deep)))).toBe(true)
    expect(() => decodeUplink('stores/s/events/camera', buf(`{"v":1,"x":${deep}}`))).not.toThrow()
  })
})
