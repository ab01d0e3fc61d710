import { existsSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CredentialStore } from '../broker/credentials.ts'
import { formatTable, provisionStore } from './provision-store.command.ts'

describe('provisionStore (in process)', () => {
  let dir: string
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'prov-unit-'))))
  afterEach(() => rm(dir, { recursive: true, force: true }))

  const yaml = (sensors: string) => {
    const f = join(dir, 'store.yaml')
    writeFileSync(f, `store: { id: unit }\ndataDir: ${JSON.stringify(join(dir, 'data'))}\nzones: [{ id: z, name: Z }]\nsensors:\n${sensors}`)
    return f
  }

  it('leaves a device alone whose password it cannot know (credentials without a file), renews on a kind change, lists orphans', async () => {
    const creds = await new CredentialStore(join(dir, 'data', 'devices.json')).load()
    const earlier = await creds.provision('ble-1', 'ble') // e.g. from `provision device`, printed once
    await creds.provision('gone-1', 'wifi')
    const out = join(dir, 'out')
    const r = await provisionStore(yaml('  - { id: ble-1, zone: z, kind: ble }\n  - { id: wifi-1, zone: z, kind: wifi }\n'), { out, host: 'h', env: {} })
    expect(r.rows.map((x) => [x.device, x.action])).toEqual([['ble-1', 'secret-unknown'], ['wifi-1', 'created']])
    expect(existsSync(join(out, 'ble-1.ble.json'))).toBe(false)
    expect(await new CredentialStore(join(dir, 'data', 'devices.json')).load().then((s) => s.verify('ble-1', earlier.password))).toBeTruthy()
    expect(r.orphans).toEqual(['gone-1'])
    expect(r.warnings.join('\n')).toMatch(/ble-1: .*--rotate/)

    // the same id now configured as another kind: new credentials of that kind
    const r2 = await provisionStore(yaml('  - { id: ble-1, zone: z, kind: wifi }\n'), { out, host: 'h', env: {} })
    expect(r2.rows[0]).toMatchObject({ device: 'ble-1', kind: 'wifi', action: 'renewed' })
    expect((await new CredentialStore(join(dir, 'data', 'devices.json')).load()).get('ble-1')?.kind).toBe('wifi')
  })

  it('formats the summary table with or without the password column', () => {
    const rows = [{ device: 'ble-1', kind: 'ble' as const, zone: 'z', action: 'created' as const, file: 'out/ble-1.ble.json', password: 'pw' }]
    expect(formatTable(rows, false)).toBe('DEVICE  KIND  ZONE  ACTION   FILE\nble-1   ble   z     created  out/ble-1.ble.json\n')
    expect(formatTable(rows, true).split('\n')[1]).toMatch(/out\/ble-1\.ble\.json\s+pw$/)
  })
})
