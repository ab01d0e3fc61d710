import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { DEVICE_ID_PATTERN } from '../contracts/index.ts'

/**
 * Device credentials, one per device: username = client id = device id, a random password stored
 * only as an scrypt hash (N=2^14, r=8, p=1; RFC 7914). The file is written atomically (tmp+rename)
 * with mode 0600.
 */
export const DEVICE_KINDS = ['ble', 'wifi', 'espresense', 'omg', 'parking', 'service'] as const
export type DeviceKind = (typeof DEVICE_KINDS)[number]

export interface DeviceRecord {
  deviceId: string
  kind: DeviceKind
  /** base64 scrypt salt and hash */
  salt: string
  hash: string
  createdAt: string
  revoked?: boolean
}

interface CredentialFile {
  v: 1
  devices: Record<string, DeviceRecord>
}

const SCRYPT: ScryptOptions = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }
const KEYLEN = 32

function scrypt(password: Buffer | string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, KEYLEN, SCRYPT, (err, key) => (err ? reject(err) : resolve(key))),
  )
}

export class CredentialStore {
  private data: CredentialFile = { v: 1, devices: {} }
  private mtimeMs = 0

  constructor(readonly file: string) {}

  async load(): Promise<this> {
    try {
      // mtime first, then content: a write in between makes the next check reload again.
      const mtimeMs = (await stat(this.file)).mtimeMs
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as CredentialFile
      if (parsed?.v !== 1 || typeof parsed.devices !== 'object') throw new Error('unknown credentials file format')
      this.data = parsed
      this.mtimeMs = mtimeMs
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${this.file}: ${(err as Error).message}`)
    }
    return this
  }

  /** Create (or rotate) a device's credentials; the clear password is returned once, never stored. */
  async provision(deviceId: string, kind: DeviceKind): Promise<{ deviceId: string; username: string; password: string; kind: DeviceKind }> {
    if (!DEVICE_ID_PATTERN.test(deviceId)) {
      throw new Error(`device id "${deviceId}" must match ${DEVICE_ID_PATTERN} (lowercase letters, digits, - and _)`)
    }
    if (!DEVICE_KINDS.includes(kind)) throw new Error(`device kind "${kind}" must be one of ${DEVICE_KINDS.join(', ')}`)
    const password = randomBytes(18).toString('base64url')
    const salt = randomBytes(16)
    const hash = await scrypt(password, salt)
    this.data.devices[deviceId] = {
      deviceId,
      kind,
      salt: salt.toString('base64'),
      hash: hash.toString('base64'),
      createdAt: new Date().toISOString(),
    }
    await this.save()
    return { deviceId, username: deviceId, password, kind }
  }

  async revoke(deviceId: string): Promise<boolean> {
    const rec = this.data.devices[deviceId]
    if (!rec) return false
    rec.revoked = true
    await this.save()
    return true
  }

  get(deviceId: string): DeviceRecord | undefined {
    return this.data.devices[deviceId]
  }

  list(): DeviceRecord[] {
    return Object.values(this.data.devices)
  }

  /** Constant-time check; undefined for an unknown, revoked or wrong credential. */
  async verify(username: string, password: Buffer | string | undefined): Promise<DeviceRecord | undefined> {
    await this.reloadIfChanged()
    const rec = Object.hasOwn(this.data.devices, username) ? this.data.devices[username] : undefined
    // Hash even for unknown users so timing does not reveal which device ids exist.
    const salt = rec ? Buffer.from(rec.salt, 'base64') : Buffer.alloc(16)
    const got = await scrypt(password ?? '', salt)
    if (!rec || rec.revoked || !password || password.length === 0) return undefined
    return timingSafeEqual(got, Buffer.from(rec.hash, 'base64')) ? rec : undefined
  }

  /** `store-edge provision` may run while the edge does: pick up its changes on the next connect. */
  private reloading?: Promise<unknown>
  private async reloadIfChanged(): Promise<void> {
    // Concurrent connects share one reload, and none checks before the data it compares is in.
    while (this.reloading) await this.reloading
    let m: number
    try {
      m = (await stat(this.file)).mtimeMs
    } catch {
      return // no file yet: nothing provisioned
    }
    if (m === this.mtimeMs) return
    if (!this.reloading) this.reloading = this.load().catch(() => undefined).finally(() => (this.reloading = undefined))
    await this.reloading
  }

  private async save(): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true })
    const tmp = `${this.file}.${process.pid}.tmp`
    await writeFile(tmp, JSON.stringify(this.data, null, 2), { mode: 0o600 })
    await rename(tmp, this.file)
    this.mtimeMs = (await stat(this.file)).mtimeMs
  }
}
