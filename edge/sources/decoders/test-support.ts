import { createHmac } from 'node:crypto'
import fc from 'fast-check'
import { ErrorCodes, type DecodeContext, type DecodeResult } from '../../contracts/index.ts'
import { normalizeMac } from './common.ts'

/** Helpers shared by the decoder tests (not a test file itself: vitest only collects `*.test.ts`). */

// ----------------------------------------------------------------- context and MAC hashing

/** The MAC hash the tests use: a salted HMAC, shortened, with an `h:` prefix. */
export const testHashMac = (m: string): string => 'h:' + createHmac('sha256', 'test-salt').update(m).digest('hex').slice(0, 20)

/** A decode context with the test hash, 10 minutes of allowed skew and batches of up to 500. */
export function testContext(deviceId: string, now: number, overrides: Partial<DecodeContext> = {}): DecodeContext {
  return { deviceId, hashMac: testHashMac, now, maxSkewMs: 600_000, maxBatch: 500, ...overrides }
}

/** The id a raw MAC becomes: the test hash of its normalised form. */
export const hashed = (m: string): string => testHashMac(normalizeMac(m)!)

// ----------------------------------------------------------------- MAC leak and result checks

/** Every textual form a MAC could leak in: colon, dash, bare, and byte-reversed bare. */
export function macForms(raw: unknown): string[] {
  const n = normalizeMac(raw)
  if (!n) return []
  const p = n.split(':')
  return [n, p.join('-'), p.join(''), [...p].reverse().join('')]
}
export function leakedMac(result: DecodeResult, macs: unknown[]): string | undefined {
  const out = JSON.stringify(result).toLowerCase()
  for (const m of macs) for (const f of macForms(m)) if (out.includes(f)) return f
  return undefined
}

const KNOWN_CODES = new Set(Object.keys(ErrorCodes))

/** Every rejection carries a known error code and a non-empty reason. */
export function checkRejections(r: DecodeResult): void {
  for (const x of r.rejects) {
    if (!KNOWN_CODES.has(x.code)) throw new Error(`unknown code ${x.code}`)
    if (typeof x.reason !== 'string' || x.reason.length === 0) throw new Error('empty reason')
  }
}

/** Every invariant a decoder result must hold, whatever the input (plain checks: this runs ~10⁵ times). */
export function expectWellFormed(r: DecodeResult, rawMacs: string[] = []): void {
  checkRejections(r)
  if (rawMacs.length === 0) return
  const out = JSON.stringify(r).toLowerCase()
  for (const raw of rawMacs) {
    const n = normalizeMac(raw)
    if (!n) continue
    for (const form of [raw.toLowerCase(), n, n.replace(/:/g, ''), n.replace(/:/g, '-')]) {
      if (out.includes(form)) throw new Error(`raw MAC ${form} leaked into ${out}`)
    }
  }
}

/** The invariants of a one-message decoder (ESPresense, OMG): exactly one sighting or one rejection. */
export function checkSingleMessageInvariants(r: DecodeResult, macs: unknown[]): void {
  if (r.sightings.length + r.rejects.length !== 1) throw new Error('one message must give exactly one sighting or one rejection')
  checkRejections(r)
  for (const s of r.sightings) if (s.randomAddress !== (s.idKind === 'random')) throw new Error('randomAddress/idKind mismatch')
  const leak = leakedMac(r, macs)
  if (leak) throw new Error(`raw MAC ${leak} in output`)
}

/** A random MAC as text: ':', '-' or no separator, lower or upper case. */
export const macTextArb = fc
  .tuple(fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.constantFrom(':', '-', ''), fc.boolean())
  .map(([b, sep, upper]) => {
    const s = [...b].map((x) => x.toString(16).padStart(2, '0')).join(sep)
    return upper ? s.toUpperCase() : s
  })

/** Any JSON-ish value a field could wrongly hold. */
export const junk = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.double(), fc.constant(null), fc.boolean(), fc.jsonValue({ maxDepth: 2 }))

// ----------------------------------------------------------------- byte / advertisement builders
// From the specs (Core Spec Vol 3 Part C §11: Length | AD type | data); all produce lowercase hex.

/** Bytes as hex; each value is taken modulo 256, so negative dBm values work. */
export const h = (...bytes: number[]): string => bytes.map((b) => (b & 0xff).toString(16).padStart(2, '0')).join('')
/** Big-endian 16 and 32-bit integers. */
export const u16 = (n: number): string => h(n >> 8, n)
export const u32 = (n: number): string => h(n >>> 24, n >>> 16, n >>> 8, n)
/** One AD structure. */
export const ad = (type: number, dataHex: string): string => h(dataHex.length / 2 + 1, type) + dataHex
/** Manufacturer specific data (AD 0xFF), company id little-endian first. */
export const mfr = (company: number, dataHex: string): string => ad(0xff, h(company & 0xff, company >> 8) + dataHex)
/** Service data for a 16-bit UUID (AD 0x16), UUID little-endian first. */
export const svc16 = (uuid: number, dataHex: string): string => ad(0x16, h(uuid & 0xff, uuid >> 8) + dataHex)
export const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex')
