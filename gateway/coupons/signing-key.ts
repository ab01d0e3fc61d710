import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createPublicKey, type KeyObject } from 'node:crypto'
import type { Queryable } from '../db/db.ts'
import type { Logger } from '../core/logger.ts'
import { generateSigningKey, keyId, privateKeyFromPem, publicKeyFrom, rawPublicKey, type CouponPublicKey } from './codes.ts'

export interface SigningKey {
  kid: string
  privateKey: KeyObject
  publicKeyPem: string
  /** Raw 32-byte public key, base64. */
  publicKeyB64: string
}

export const DEFAULT_KEY_FILE = 'coupon-signing-key.pem'

/**
 * The replica's coupon signing key: the PEM file named in config (shared by replicas that mount
 * the same secret), or one generated on first start into {dataDir}/coupon-signing-key.pem with
 * mode 0600. Never in the repository, never in the database: only its public half is registered
 * there, so redemption on any replica (and a till) verifies codes any replica signed.
 */
export function loadSigningKey(opts: { keyFile?: string; dataDir: string; log: Logger }): SigningKey {
  const file = opts.keyFile || join(opts.dataDir, DEFAULT_KEY_FILE)
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
    const mode = statSync(file).mode & 0o777
    if (mode & 0o077) opts.log.warn({ file, mode: mode.toString(8) }, 'coupon signing key is readable by others; chmod 600 it')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || opts.keyFile) throw new Error(`cannot read the coupon signing key ${file}: ${(err as Error).message}`, { cause: err })
    mkdirSync(dirname(file), { recursive: true })
    const generated = generateSigningKey().export({ format: 'pem', type: 'pkcs8' }).toString()
    try {
      // 'wx': two processes on one data dir cannot both create it; the loser reads the winner's.
      writeFileSync(file, generated, { mode: 0o600, flag: 'wx' })
      chmodSync(file, 0o600)
      opts.log.info({ file }, 'generated a coupon signing key')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
    pem = readFileSync(file, 'utf8')
  }
  const privateKey = privateKeyFromPem(pem)
  const pub = createPublicKey(privateKey)
  return {
    kid: keyId(privateKey),
    privateKey,
    publicKeyPem: pub.export({ format: 'pem', type: 'spki' }).toString(),
    publicKeyB64: rawPublicKey(pub).toString('base64'),
  }
}

/** Registers the public half so every replica can verify what this one signs. */
export async function registerPublicKey(db: Queryable, key: SigningKey): Promise<void> {
  await db.query('insert into coupon_signing_keys (kid, public_key_pem) values ($1, $2) on conflict (kid) do nothing', [key.kid, key.publicKeyPem])
}

/** Every registered, unretired public key. */
export async function publicKeys(db: Queryable): Promise<Array<CouponPublicKey & { publicKeyPem: string; createdAt: Date }>> {
  const rows = await db.query<{ kid: string; public_key_pem: string; created_at: Date }>('select kid, public_key_pem, created_at from coupon_signing_keys where retired_at is null order by created_at')
  return rows.map((r) => ({ ...publicKeyFrom(r.public_key_pem), publicKeyPem: r.public_key_pem, createdAt: r.created_at }))
}
