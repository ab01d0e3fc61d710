import { TypeCompiler } from '@sinclair/typebox/compiler'
import {
  CouponRequest,
  EdgeHealth,
  GeofenceEvent,
  MinuteAggregate,
  ParkingEvent,
  PresenceEvent,
  parseStoreTopic,
  type ErrorCode,
} from '../../edge/contracts/index.ts'

/** One validated uplink message, or why it was refused. */
export type Uplink =
  | { kind: 'agg'; storeId: string; agg: MinuteAggregate }
  | { kind: 'presence'; storeId: string; event: PresenceEvent }
  | { kind: 'health'; storeId: string; health: EdgeHealth }
  /** `coupons/requests`: decided by the ledger, acknowledged once its transaction committed. */
  | { kind: 'coupon-request'; storeId: string; request: CouponRequest }
  /** `events/geofence`: stored (member-left checks, visit history, preview) and shown live. */
  | { kind: 'geofence'; storeId: string; event: GeofenceEvent }
  /** `events/parking`: gate events after normalisation (counted; the minute figures come with the aggregate). */
  | { kind: 'parking'; storeId: string; event: ParkingEvent }
  /** Other event types (config answers, later camera): accepted, not stored. */
  | { kind: 'other'; storeId: string; topic: string; payload: unknown }
export type UplinkRejection = { reason: ErrorCode; detail: string }

const checkAgg = TypeCompiler.Compile(MinuteAggregate)
const checkPresence = TypeCompiler.Compile(PresenceEvent)
const checkHealth = TypeCompiler.Compile(EdgeHealth)
const checkCoupon = TypeCompiler.Compile(CouponRequest)
const checkGeofence = TypeCompiler.Compile(GeofenceEvent)
const checkParking = TypeCompiler.Compile(ParkingEvent)
/** Event types with a schema of their own; any other type passes as 'other' whatever its version. */
const TYPED_EVENTS = new Set(['presence', 'geofence', 'parking'])

const MAX_BYTES = 1024 * 1024

function firstError(check: { Errors(v: unknown): Iterable<{ path: string; message: string }> }, v: unknown): string {
  for (const e of check.Errors(v)) return `${e.path || '/'}: ${e.message}`
  return 'invalid'
}

/** Validate an uplink message against the contracts; never throws. */
export function decodeUplink(topic: string, payload: Buffer): Uplink | UplinkRejection {
  const t = parseStoreTopic(topic)
  if (!t || t.kind === 'config' || t.kind === 'locations') return { reason: 'STORE_EDGE_ERR_TOPIC', detail: topic.slice(0, 200) }
  if (payload.length > MAX_BYTES) return { reason: 'STORE_EDGE_ERR_PAYLOAD_TOO_LARGE', detail: `${payload.length} bytes` }
  let v: unknown
  try {
    v = JSON.parse(payload.toString('utf8'))
  } catch {
    return { reason: 'STORE_EDGE_ERR_PAYLOAD_NOT_JSON', detail: topic }
  }
  const version = (v as { v?: unknown } | null)?.v
  if (typeof v !== 'object' || v === null) return { reason: 'STORE_EDGE_ERR_SCHEMA', detail: 'not an object' }
  if (!(t.kind === 'event' && !TYPED_EVENTS.has(t.type)) && version !== 1) {
    return { reason: 'STORE_EDGE_ERR_SCHEMA_VERSION', detail: `v=${JSON.stringify(version)}` }
  }
  switch (t.kind) {
    case 'agg':
      if (!checkAgg.Check(v)) return { reason: 'STORE_EDGE_ERR_SCHEMA', detail: firstError(checkAgg, v) }
      if (v.storeId !== t.storeId) return { reason: 'STORE_EDGE_ERR_STORE_MISMATCH', detail: `${v.storeId} on ${t.storeId}` }
      if (v.minute % 1000 !== 0) return { reason: 'STORE_EDGE_ERR_TIMESTAMP', detail: 'minute must be whole seconds' }
      return { kind: 'agg', storeId: t.storeId, agg: v }
    case 'health':
      if (!checkHealth.Check(v)) return { reason: 'STORE_EDGE_ERR_SCHEMA', detail: firstError(checkHealth, v) }
      if (v.storeId !== t.storeId) return { reason: 'STORE_EDGE_ERR_STORE_MISMATCH', detail: `${v.storeId} on ${t.storeId}` }
      return { kind: 'health', storeId: t.storeId, health: v }
    case 'event':
      if (t.type === 'presence') {
        if (!checkPresence.Check(v)) return { reason: 'STORE_EDGE_ERR_SCHEMA', detail: firstError(checkPresence, v) }
        return { kind: 'presence', storeId: t.storeId, event: v }
      }
      if (t.type === 'geofence') {
        if (!checkGeofence.Check(v)) return { reason: 'STORE_EDGE_ERR_SCHEMA', detail: firstError(checkGeofence, v) }
        if (v.storeId !== t.storeId) return { reason: 'STORE_EDGE_ERR_STORE_MISMATCH', detail: `${v.storeId} on ${t.storeId}` }
        return { kind: 'geofence', storeId: t.storeId, event: v }
      }
      if (t.type === 'parking') {
        if (!checkParking.Check(v)) return { reason: 'STORE_EDGE_ERR_SCHEMA', detail: firstError(checkParking, v) }
        if (v.storeId !== t.storeId) return { reason: 'STORE_EDGE_ERR_STORE_MISMATCH', detail: `${v.storeId} on ${t.storeId}` }
        return { kind: 'parking', storeId: t.storeId, event: v }
      }
      return { kind: 'other', storeId: t.storeId, topic, payload: v }
    case 'coupon-request':
      if (!checkCoupon.Check(v)) return { reason: 'STORE_EDGE_ERR_SCHEMA', detail: firstError(checkCoupon, v) }
      if (v.storeId !== t.storeId) return { reason: 'STORE_EDGE_ERR_STORE_MISMATCH', detail: `${v.storeId} on ${t.storeId}` }
      return { kind: 'coupon-request', storeId: t.storeId, request: v }
  }
}

export const isRejection = (x: Uplink | UplinkRejection): x is UplinkRejection => 'reason' in x
