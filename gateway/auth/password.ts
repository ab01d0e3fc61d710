import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

/**
 * Password hashing (scrypt, node:crypto only) and random secrets for sessions and API tokens.
 * Hash format: `scrypt$N$r$p$salt$hash` (salt and hash base64url), so the cost can be raised later
 * without invalidating stored hashes: verify reads the parameters from the string.
 */
const N = 16384
const R = 8
const P = 1
const KEY_LEN = 32
const SALT_LEN = 16

function scryptAsync(password: string, salt: Buffer, keyLen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, keyLen, opts, (err, key) => (err ? reject(err) : resolve(key))),
  )
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_LEN)
  const key = await scryptAsync(password, salt, KEY_LEN, { N, r: R, p: P })
  return ['scrypt', N, R, P, salt.toString('base64url'), key.toString('base64url')].join('$')
}

/** Constant-time compare; a malformed hash verifies as false rather than throwing. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [n, r, p] = parts.slice(1, 4).map(Number)
  const salt = Buffer.from(parts[4] ?? '', 'base64url')
  const expected = Buffer.from(parts[5] ?? '', 'base64url')
  if (!n || !r || !p || salt.length === 0 || expected.length === 0) return false
  // Bounds keep a corrupt row from asking for gigabytes; scrypt needs about 128·N·r bytes.
  if (n > 2 ** 17 || r > 16 || p > 16) return false
  const key = await scryptAsync(password, salt, expected.length, { N: n, r, p, maxmem: 256 * n * r })
  return timingSafeEqual(key, expected)
}

let dummyHash: Promise<string> | undefined
/** Burns one verification's worth of CPU, so "no such user" takes as long as "wrong password". */
export async function dummyVerify(password: string): Promise<void> {
  dummyHash ??= hashPassword('dummy password for timing')
  await verifyPassword(password, await dummyHash)
}

/** A URL-safe secret: `<prefix>_<32 random bytes, base64url>`. Shown once, stored only as sha256. */
export function randomToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`
}

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}
