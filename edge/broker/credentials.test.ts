import { readFile, stat } from 'node:fs/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CredentialStore } from './credentials.ts'
import { tempDir } from '../../tests/helpers.ts'

describe('CredentialStore', () => {
  let dir: string
  let cleanup: () => Promise<void>
  beforeEach(async () => ({ dir, cleanup } = await tempDir()))
  afterEach(() => cleanup())

  it('stores only an scrypt hash, verifies the right password and nothing else', async () => {
    const store = await new CredentialStore(`${dir}/devices.json`).load()
    const c = await store.provision('scanner-1', 'ble')
    const text = await readFile(`${dir}/devices.json`, 'utf8')
    expect(text).not.toContain(c.password)
    expect((await stat(`${dir}/devices.json`)).mode & 0o777).toBe(0o600)
    expect((await store.verify('scanner-1', Buffer.from(c.password)))?.kind).toBe('ble')
    expect(await store.verify('scanner-1', 'wrong')).toBeUndefined()
    expect(await store.verify('scanner-1', '')).toBeUndefined()
    expect(await store.verify('unknown', c.password)).toBeUndefined()
    expect(await store.verify('__proto__', c.password)).toBeUndefined()
  })

  it('rotates on re-provision, revokes, and rejects bad ids and kinds', async () => {
    const store = await new CredentialStore(`${dir}/devices.json`).load()
    const a = await store.provision('scanner-1', 'ble')
    const b = await store.provision('scanner-1', 'ble')
    expect(await store.verify('scanner-1', a.password)).toBeUndefined()
    expect(await store.verify('scanner-1', b.password)).toBeDefined()
    await store.revoke('scanner-1')
    expect(await store.verify('scanner-1', b.password)).toBeUndefined()
    await expect(store.provision('Bad Id', 'ble')).rejects.toThrow(/must match/)
    await expect(store.provision('x', 'toaster' as never)).rejects.toThrow(/kind/)
  })

  it('picks up devices provisioned by another process (the CLI) without a restart', async () => {
    const running = await new CredentialStore(`${dir}/devices.json`).load()
    await new Promise((r) => setTimeout(r, 20))
    const cli = await new CredentialStore(`${dir}/devices.json`).load()
    const c = await cli.provision('late-1', 'wifi')
    expect((await running.verify('late-1', c.password))?.kind).toBe('wifi')
  })
})

describe('CredentialStore under concurrent connects', () => {
  it('authenticates every device of a batch provisioned by another process, all connecting at once', async () => {
    const { dir, cleanup } = await tempDir()
    const running = await new CredentialStore(`${dir}/devices.json`).load()
    const cli = await new CredentialStore(`${dir}/devices.json`).load()
    const creds = []
    for (let i = 0; i < 8; i++) creds.push(await cli.provision(`dev-${i}`, 'ble'))
    // Connects arrive a little apart, as over a network: each lands at another point of the reload.
    const pending = []
    for (const c of creds) {
      pending.push(running.verify(c.username, c.password))
      await new Promise((r) => setImmediate(r))
    }
    const results = await Promise.all(pending)
    expect(results.map((r) => r?.deviceId)).toEqual(creds.map((c) => c.deviceId))
    await cleanup()
  })
})
