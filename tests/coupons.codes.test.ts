import { createPublicKey, randomBytes, randomUUID, type KeyObject } from 'node:crypto'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  base32Decode,
  base32Encode,
  generateSigningKey,
  maskCode,
  parseCouponCode,
  publicKeyFrom,
  signCouponCode,
  verifyCouponCode,
} from '../gateway/coupons/codes.ts'
import { DEFAULT_KEY_FILE, loadSigningKey } from '../gateway/coupons/signing-key.ts'
import { tempDir, testLogger } from './helpers.ts'

const log = testLogger()
const T = Date.UTC(2030, 0, 1)

describe('coupon codes (Ed25519, offline verification)', () => {
  let dir: string
  let cleanup: () => Promise<void>
  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('se-codes-'))
  })
  afterAll(() => cleanup())

  it('base32 round-trips any bytes and refuses non-canonical text', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => base32Decode(base32Encode(b))?.equals(Buffer.from(b)) === true))
    expect(base32Encode(Buffer.from('foobar'))).toBe('MZXW6YTBOI') // RFC 4648 §10
    expect(base32Decode('MZXW6YTBOJ')).toBeUndefined() // non-zero padding bits
    expect(base32Decode('mzxw6')).toBeUndefined()
  })

  it('signs a compact code that verifies with the public key alone', () => {
    const key = generateSigningKey()
    const id = randomUUID()
    const code = signCouponCode({ id, campaignId: 'c-welcome', expiresAt: T + 3_600_000 }, key)
    expect(code).toMatch(/^SE1[A-Z2-7]+$/) // QR alphanumeric mode
    expect(code.length).toBeLessThanOrEqual(170)
    // The till holds only the public key, as the API publishes it (PEM or raw base64).
    const pub = publicKeyFrom(loadPublicPem(key))
    expect(verifyCouponCode(code, pub, T)).toEqual({ ok: true, claims: { id, campaignId: 'c-welcome', expiresAt: T + 3_600_000, kid: pub.kid } })
    expect(verifyCouponCode(code.toLowerCase(), pub, T).ok).toBe(true) // scanners may lower-case
  })

  it('refuses tampered codes, foreign keys and garbage; reports expiry with the claims', () => {
    const key = generateSigningKey()
    const pub = publicKeyFrom(loadPublicPem(key))
    const id = randomUUID()
    const code = signCouponCode({ id, campaignId: 'c-1', expiresAt: T + 1000 }, key)
    // Flip each character of the body in turn: never valid.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
    let refused = 0
    for (let i = 3; i < code.length; i++) {
      const c = alphabet[(alphabet.indexOf(code[i]!) + 1) % 32]!
      const v = verifyCouponCode(code.slice(0, i) + c + code.slice(i + 1), pub, T)
      if (!v.ok) refused++
    }
    expect(refused).toBe(code.length - 3)
    // A claim changed and re-encoded (a longer expiry): the signature no longer matches.
    const parsed = parseCouponCode(code)!
    const body = Buffer.from(parsed.body)
    body.writeUInt32BE(body.readUInt32BE(21) + 86_400, 21)
    expect(verifyCouponCode('SE1' + base32Encode(Buffer.concat([body, parsed.sig])), pub, T)).toEqual({ ok: false, reason: 'bad-signature' })
    // Signed by another key: unknown kid; the same kid with another key's bytes: bad signature.
    const other = generateSigningKey()
    const forged = signCouponCode({ id, campaignId: 'c-1', expiresAt: T + 1000 }, other)
    expect(verifyCouponCode(forged, pub, T)).toEqual({ ok: false, reason: 'unknown-key' })
    expect(verifyCouponCode(forged, { kid: publicKeyFrom(loadPublicPem(other)).kid, key: pub.key }, T)).toEqual({ ok: false, reason: 'bad-signature' })
    for (const junk of ['', 'SE1', 'SE1AAAA', 'XX1' + code.slice(3), code + 'A', 'SE1' + base32Encode(randomBytes(120))]) {
      expect(verifyCouponCode(junk, pub, T)).toMatchObject({ ok: false, reason: 'malformed' })
    }
    expect(verifyCouponCode(code, pub, T + 1000)).toEqual({ ok: false, reason: 'expired', claims: { id, campaignId: 'c-1', expiresAt: T + 1000, kid: pub.kid } })
    expect(maskCode(code)).toMatch(/^SE1.{4}….{4}$/)
  })

  it('trusts any of several keys (one per replica) by kid', () => {
    const a = generateSigningKey()
    const b = generateSigningKey()
    const keys = [publicKeyFrom(loadPublicPem(a)), publicKeyFrom(loadPublicPem(b))]
    for (const k of [a, b]) expect(verifyCouponCode(signCouponCode({ id: randomUUID(), campaignId: 'c', expiresAt: T + 1000 }, k), keys, T).ok).toBe(true)
  })

  it('generates the signing key once into the data dir with mode 0600, and reads it back', () => {
    const first = loadSigningKey({ dataDir: dir, log })
    expect(statSync(join(dir, DEFAULT_KEY_FILE)).mode & 0o777).toBe(0o600)
    const second = loadSigningKey({ dataDir: dir, log })
    expect(second.kid).toBe(first.kid)
    expect(Buffer.from(second.publicKeyB64, 'base64')).toHaveLength(32)
    expect(publicKeyFrom(second.publicKeyB64).kid).toBe(first.kid)
    expect(() => loadSigningKey({ keyFile: join(dir, 'missing.pem'), dataDir: dir, log })).toThrow(/cannot read the coupon signing key/)
  })
})

function loadPublicPem(k: KeyObject): string {
  return createPublicKey(k).export({ format: 'pem', type: 'spki' }).toString()
}
