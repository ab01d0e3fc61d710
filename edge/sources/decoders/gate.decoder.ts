import { GateEventItem, normalizePlate, type DecodeContext, type PlateKind, type Rejection } from '../../contracts/index.ts'
import { checker, checkTs, parseJsonPayload, reject, schemaErrors } from './common.ts'
import { describeValue, notJsonRejection } from './wifi-batch.decoder.ts'

/**
 * Parking-system gate events (`GateBatch` on `sensors/{deviceId}/parking`, and the same body on the
 * edge's `POST /v1/parking/events`). The envelope is checked first and rejects the whole message;
 * after that every event stands on its own, so one bad event never poisons the others.
 *
 * Plates are normalised with `normalizePlate` (GA 36-2018; a reader's O/I become 0/1). A plate that
 * does not validate is rejected with STORE_EDGE_ERR_BAD_PLATE and the reason, and the event is
 * still returned with `plateValid: false`: a car did pass the gate, and the car park's counts need
 * it even when its plate cannot be used. Rejection reasons never quote a plate.
 *
 * Privacy: `plate` leaves this decoder only towards the parking module, which resolves it to a
 * member or hashes it before anything else sees it.
 */

export interface GateRead {
  /** The device (gate controller, or the webhook's parking system) the event came from. */
  deviceId: string
  /** Index of the event in its batch. */
  index: number
  /** The parking system's own event id, when it sent one. */
  id?: string
  type: 'entry' | 'exit'
  gate: string
  ts: number
  confidence?: number
  /** The normalised plate when `plateValid`, else the text as read (separators and case cleaned). */
  plate: string
  plateValid: boolean
  plateKind?: PlateKind
  /** O/I read where only 0/1 may stand, corrected. */
  corrected?: boolean
}

export interface GateDecodeResult {
  events: GateRead[]
  rejects: Rejection[]
}

const itemCheck = checker(GateEventItem)
const what = (x: unknown) => (x === undefined ? 'nothing' : describeValue(x))

/** schemaErrors paths are relative to the item; make them batch paths. */
function prefixed(path: string, errors: string): string {
  return errors
    .split('; ')
    .map((e) => (e.startsWith('/:') ? path + e.slice(1) : path + e))
    .join('; ')
}

/** Decode a GateBatch that is already parsed (the webhook parses its body itself). */
export function decodeGateValue(body: unknown, ctx: DecodeContext): GateDecodeResult {
  const events: GateRead[] = []
  const rejects: Rejection[] = []
  const whole = (r: Rejection): GateDecodeResult => ({ events, rejects: [r] })

  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return whole(reject('STORE_EDGE_ERR_SCHEMA', `/: expected an object, got ${describeValue(body)}`))
  }
  const env = body as Record<string, unknown>
  if (env.v !== 1) {
    return whole(reject('STORE_EDGE_ERR_SCHEMA_VERSION', env.v === undefined ? '/v: missing, expected 1' : `/v: expected 1, got ${describeValue(env.v)}`))
  }
  if (!Array.isArray(env.events)) {
    return whole(reject('STORE_EDGE_ERR_SCHEMA', `/events: expected an array, got ${what(env.events)}`))
  }
  if (env.events.length > ctx.maxBatch) {
    return whole(reject('STORE_EDGE_ERR_BATCH_TOO_LARGE', `/events: ${env.events.length} items > ${ctx.maxBatch}`))
  }

  env.events.forEach((item: unknown, i: number) => {
    const path = `/events/${i}`
    const bad = (code: Rejection['code'], reason: string) => rejects.push(reject(code, `${path}${reason}`, i))
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      bad('STORE_EDGE_ERR_ITEM_SCHEMA', `: expected an object, got ${describeValue(item)}`)
      return
    }
    const e = item as Record<string, unknown>
    if (e.type !== 'entry' && e.type !== 'exit') {
      bad('STORE_EDGE_ERR_ITEM_SCHEMA', `/type: expected "entry" or "exit", got ${what(e.type)}`)
      return
    }
    const ts = typeof e.ts === 'number' && Number.isInteger(e.ts) && e.ts >= 0 ? checkTs(e.ts, e.ts, ctx) : undefined
    if (ts === undefined) {
      bad('STORE_EDGE_ERR_TIMESTAMP', `/ts: expected epoch ms within ${ctx.maxSkewMs} ms of now, got ${what(e.ts)}`)
      return
    }
    if (typeof e.plate !== 'string') {
      bad('STORE_EDGE_ERR_ITEM_SCHEMA', `/plate: expected a string, got ${what(e.plate)}`)
      return
    }
    // gate, id, confidence and the plate's length: what the schema constrains. Its messages name
    // the constraint, never the value, so a plate cannot leak through them.
    if (!itemCheck.Check(e)) {
      rejects.push(reject('STORE_EDGE_ERR_ITEM_SCHEMA', prefixed(path, schemaErrors(itemCheck, e)), i))
      return
    }
    const read: GateRead = { deviceId: ctx.deviceId, index: i, type: e.type, gate: e.gate as string, ts, plate: '', plateValid: false }
    if (typeof e.id === 'string') read.id = e.id
    if (typeof e.confidence === 'number') read.confidence = e.confidence
    const p = normalizePlate(e.plate)
    if (p.ok) {
      read.plate = p.plate
      read.plateValid = true
      read.plateKind = p.kind
      if (p.corrected) read.corrected = true
    } else {
      read.plate = e.plate.normalize('NFC').replace(/[\s.·•・\-_]/gu, '').toUpperCase()
      bad('STORE_EDGE_ERR_BAD_PLATE', `/plate: ${p.reason}`)
    }
    events.push(read)
  })
  return { events, rejects }
}

export function decodeGateBatch(payload: Buffer | string, ctx: DecodeContext): GateDecodeResult {
  const parsed = parseJsonPayload(payload)
  if (!parsed.ok) return { events: [], rejects: [notJsonRejection(parsed.rejection)] }
  return decodeGateValue(parsed.value, ctx)
}
