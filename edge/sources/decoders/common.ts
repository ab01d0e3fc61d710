import type { TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import type { DecodeContext, ErrorCode, Rejection } from '../../contracts/index.ts'

/** Shared helpers of the decoders: strict, allocation-light, and never throwing on bad input. */

export type Parsed<T> = { ok: true; value: T } | { ok: false; rejection: Rejection }

export const reject = (code: ErrorCode, reason: string, index?: number): Rejection =>
  index === undefined ? { code, reason } : { code, reason, index }

/** Largest payload any decoder will parse; the broker's packet limit is the outer bound. */
export const MAX_PAYLOAD_BYTES = 256 * 1024

export function parseJsonPayload(payload: Buffer | string): Parsed<unknown> {
  const len = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
  if (len > MAX_PAYLOAD_BYTES) return { ok: false, rejection: reject('STORE_EDGE_ERR_PAYLOAD_TOO_LARGE', `${len} bytes > ${MAX_PAYLOAD_BYTES}`) }
  try {
    return { ok: true, value: JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8')) }
  } catch (err) {
    return { ok: false, rejection: reject('STORE_EDGE_ERR_PAYLOAD_NOT_JSON', (err as Error).message) }
  }
}

/** parseJsonPayload, then the value must be a JSON object (not null, not an array). */
export function parseJsonObject(payload: Buffer | string): Parsed<Record<string, unknown>> {
  const parsed = parseJsonPayload(payload)
  if (!parsed.ok) return parsed
  const m = parsed.value
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    return { ok: false, rejection: reject('STORE_EDGE_ERR_SCHEMA', '/: expected a JSON object') }
  }
  return { ok: true, value: m as Record<string, unknown> }
}

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>()
/** Compile a TypeBox schema once (TypeCompiler is ~10× faster than Value.Check on the hot path). */
export function checker<T extends TSchema>(schema: T): TypeCheck<T> {
  let c = compiled.get(schema)
  if (!c) {
    c = TypeCompiler.Compile(schema)
    compiled.set(schema, c)
  }
  return c as TypeCheck<T>
}

/** The first few schema errors as `path: message`, for a rejection reason. */
export function schemaErrors(check: TypeCheck<TSchema>, value: unknown, max = 3): string {
  const out: string[] = []
  for (const e of check.Errors(value)) {
    out.push(`${e.path || '/'}: ${e.message}`)
    if (out.length >= max) break
  }
  return out.join('; ')
}

const HEXVAL = new Int8Array(128).fill(-1)
for (let i = 0; i < 10; i++) HEXVAL[48 + i] = i
for (let i = 0; i < 6; i++) {
  HEXVAL[65 + i] = 10 + i
  HEXVAL[97 + i] = 10 + i
}

/**
 * Normalise a MAC to `aa:bb:cc:dd:ee:ff`; undefined when it is not a 48-bit address. Accepts
 * `aa:bb:…`, `aa-bb-…` (one separator used consistently) and 12 bare hex digits. Table-driven: it
 * runs once per sighting on the hot path.
 */
export function normalizeMac(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined
  const len = raw.length
  let step: number
  if (len === 17) {
    step = 3
    const sep = raw.charCodeAt(2)
    if (sep !== 58 && sep !== 45) return undefined
    for (let k = 5; k < 17; k += 3) if (raw.charCodeAt(k) !== sep) return undefined
  } else if (len === 12) step = 2
  else return undefined
  let allZero = true
  let allF = true
  // Already canonical (lowercase, ':'), the common case: return the input string itself. It is a
  // flat string straight from JSON.parse, so hashing it for the MAC-hash cache is cheap, where a
  // string built by concatenation would first have to be flattened.
  let canonical = step === 3 && raw.charCodeAt(2) === 58
  for (let k = 0, pos = 0; k < 6; k++, pos += step) {
    const a = raw.charCodeAt(pos)
    const b = raw.charCodeAt(pos + 1)
    const hi = a < 128 ? HEXVAL[a]! : -1
    const lo = b < 128 ? HEXVAL[b]! : -1
    if (hi < 0 || lo < 0) return undefined
    if (a >= 65 && a <= 70) canonical = false
    if (b >= 65 && b <= 70) canonical = false
    if (hi !== 0 || lo !== 0) allZero = false
    if (hi !== 15 || lo !== 15) allF = false
  }
  if (allZero || allF) return undefined
  if (canonical) return raw
  const hex = step === 2 ? raw.toLowerCase() : raw.toLowerCase().replaceAll(raw[2]!, '')
  return `${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}:${hex.slice(8, 10)}:${hex.slice(10, 12)}`
}

/**
 * IEEE 802: bit 1 (0x02) of the first octet set = locally administered (Wi-Fi MAC randomisation).
 * For BLE, the address type comes from the PDU's TxAdd bit instead; see the BLE decoder.
 */
export function isLocallyAdministered(mac: string): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 0x02) !== 0
}

/** Accept a number, or a numeric string (ESPresense, OpenMQTTGateway and Meraki send both). */
export function num(x: unknown): number | undefined {
  if (typeof x === 'number') return Number.isFinite(x) ? x : undefined
  if (typeof x === 'string' && x.trim() !== '' && x.length < 32) {
    const n = Number(x)
    return Number.isFinite(n) ? n : undefined
  }
  return undefined
}

export function rssiValid(n: number | undefined): n is number {
  return n !== undefined && n >= -127 && n <= 20
}

/** A timestamp within the allowed skew of now; undefined falls back to the given default. */
export function checkTs(ts: number | undefined, fallback: number, ctx: DecodeContext): number | undefined {
  const t = ts ?? fallback
  if (!Number.isFinite(t) || Math.abs(t - ctx.now) > ctx.maxSkewMs) return undefined
  return t
}
