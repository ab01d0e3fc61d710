import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'

/**
 * Coupon codes a till can check offline: Ed25519 signatures (RFC 8032) over a compact binary
 * claim set, written in RFC 4648 base32 (upper case, no padding) so a QR code can carry it in its
 * alphanumeric mode. Verification needs only the public key (`GET /v1/coupons/public-key`): a till
 * holds no minting secret. This file imports node:crypto only, so a till can copy it as it is.
 *
 * Layout (version 1), signed as `store-edge/coupon/v1` ‖ claims:
 *   0      version (1)
 *   1..4   kid: the first 4 bytes of sha256(raw public key)
 *   5..20  coupon id (uuid, 16 bytes)
 *   21..24 expiry, seconds since the epoch (uint32, big endian)
 *   25     n = campaign id length (≤ 64)
 *   26..   campaign id (ASCII)
 *   then   64-byte signature
 * The text form is `SE1` followed by the base32 of claims ‖ signature: ~160 characters for a
 * 10-character campaign id (a version 7 QR code at level M).
 */

export const CODE_PREFIX = 'SE1'
const VERSION = 1
const DOMAIN = Buffer.from('store-edge/coupon/v1', 'ascii')
const SIG_BYTES = 64
const FIXED = 26

export interface CouponClaims {
  /** Coupon id (uuid). */
  id: string
  campaignId: string
  /** ms since the epoch (whole seconds). */
  expiresAt: number
  /** Key id: which public key verifies it. */
  kid: string
}

export type VerifyResult =
  | { ok: true; claims: CouponClaims }
  | { ok: false; reason: 'malformed' | 'unknown-key' | 'bad-signature'; claims?: undefined }
  | { ok: false; reason: 'expired'; claims: CouponClaims }

export interface CouponPublicKey {
  kid: string
  key: KeyObject
}

// ── base32 (RFC 4648, no padding) ───────────────────────────────────────────────────────────

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const LOOKUP = new Map([...ALPHABET].map((c, i) => [c, i]))

export function base32Encode(buf: Uint8Array): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of buf) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
    value &= 0xff
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31]
  return out
}

export function base32Decode(text: string): Buffer | undefined {
  const bytes: number[] = []
  let bits = 0
  let value = 0
  for (const c of text) {
    const v = LOOKUP.get(c)
    if (v === undefined) return undefined
    value = ((value << 5) | v) & 0xfff
    bits += 5
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  // Leftover bits must be zero padding shorter than a byte, or the text is not canonical.
  if (bits >= 5 || (value & ((1 << bits) - 1)) !== 0) return undefined
  return Buffer.from(bytes)
}

// ── keys ────────────────────────────────────────────────────────────────────────────────────

/** The raw 32-byte Ed25519 public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  const jwk = pub.export({ format: 'jwk' }) as { x?: string; crv?: string }
  if (jwk.crv !== 'Ed25519' || !jwk.x) throw new Error('not an Ed25519 key')
  return Buffer.from(jwk.x, 'base64url')
}

export const keyId = (key: KeyObject): string => createHash('sha256').update(rawPublicKey(key)).digest('hex').slice(0, 8)

/** A public key from PEM (SPKI), base64 or base64url of the raw 32 bytes. */
export function publicKeyFrom(text: string): CouponPublicKey {
  const t = text.trim()
  const key = t.startsWith('-----BEGIN')
    ? createPublicKey(t)
    : createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64').toString('base64url') }, format: 'jwk' })
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 public key')
  return { kid: keyId(key), key }
}

export function generateSigningKey(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey
}

export function privateKeyFromPem(pem: string): KeyObject {
  const key = createPrivateKey(pem)
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('the coupon signing key must be an Ed25519 private key')
  return key
}

// ── sign and verify ────────────────────────────────────────────────────────────────────────

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const CAMPAIGN_RE = /^[\x21-\x7e]{1,64}$/

function uuidBytes(id: string): Buffer {
  if (!UUID_RE.test(id)) throw new Error(`not a uuid: ${id}`)
  return Buffer.from(id.replace(/-/g, ''), 'hex')
}

function uuidText(b: Buffer): string {
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** Sign a coupon: returns the code text (`SE1…`). Expiry is kept to whole seconds (rounded up). */
export function signCouponCode(claims: { id: string; campaignId: string; expiresAt: number }, privateKey: KeyObject): string {
  if (!CAMPAIGN_RE.test(claims.campaignId)) throw new Error(`campaign id cannot go into a code: ${claims.campaignId}`)
  const campaign = Buffer.from(claims.campaignId, 'ascii')
  const body = Buffer.alloc(FIXED + campaign.length)
  body[0] = VERSION
  Buffer.from(keyId(privateKey), 'hex').copy(body, 1)
  uuidBytes(claims.id).copy(body, 5)
  body.writeUInt32BE(Math.ceil(claims.expiresAt / 1000), 21)
  body[25] = campaign.length
  campaign.copy(body, FIXED)
  const sig = sign(null, Buffer.concat([DOMAIN, body]), privateKey)
  return CODE_PREFIX + base32Encode(Buffer.concat([body, sig]))
}

/** Reads the claims without checking anything (for display or to find the key id). */
export function parseCouponCode(code: string): { claims: CouponClaims; body: Buffer; sig: Buffer } | undefined {
  const text = code.trim().toUpperCase()
  if (!text.startsWith(CODE_PREFIX) || text.length > 400) return undefined
  const raw = base32Decode(text.slice(CODE_PREFIX.length))
  if (!raw || raw.length < FIXED + 1 + SIG_BYTES || raw[0] !== VERSION) return undefined
  const n = raw[25]!
  if (n < 1 || n > 64 || raw.length !== FIXED + n + SIG_BYTES) return undefined
  const body = raw.subarray(0, FIXED + n)
  const campaignId = body.subarray(FIXED).toString('ascii')
  if (!CAMPAIGN_RE.test(campaignId)) return undefined
  return {
    claims: { id: uuidText(body.subarray(5, 21)), campaignId, expiresAt: body.readUInt32BE(21) * 1000, kid: body.subarray(1, 5).toString('hex') },
    body,
    sig: raw.subarray(FIXED + n),
  }
}

/**
 * Verify a code offline. `keys`: the public keys the till trusts (all of `GET /v1/coupons/public-key`'s
 * `keys`). A code past its expiry verifies but answers `expired` with its claims.
 */
export function verifyCouponCode(code: string, keys: CouponPublicKey | readonly CouponPublicKey[], now: number = Date.now()): VerifyResult {
  const parsed = parseCouponCode(code)
  if (!parsed) return { ok: false, reason: 'malformed' }
  const key = (Array.isArray(keys) ? keys : [keys as CouponPublicKey]).find((k) => k.kid === parsed.claims.kid)
  if (!key) return { ok: false, reason: 'unknown-key' }
  if (!verify(null, Buffer.concat([DOMAIN, parsed.body]), key.key, parsed.sig)) return { ok: false, reason: 'bad-signature' }
  if (now >= parsed.claims.expiresAt) return { ok: false, reason: 'expired', claims: parsed.claims }
  return { ok: true, claims: parsed.claims }
}

/** A code shown in lists: enough to recognise it, not enough to redeem it. */
export const maskCode = (code: string | null): string | null => (code ? `${code.slice(0, 7)}…${code.slice(-4)}` : null)
