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

const HEX = /^[0-9a-f]{12}$/
/** Normalise a MAC to `aa:bb:cc:dd:ee:ff`; undefined when it is not a 48-bit address. */
export function normalizeMac(raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw.length < 12 || raw.length > 17) return undefined
  const hex = raw.replace(/[:\-.]/g, '').toLowerCase()
  if (!HEX.test(hex)) return undefined
  if (raw.length === 17 && !/^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){5}$/.test(raw)) return undefined
  if (hex === '000000000000' || hex === 'ffffffffffff') return undefined
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
