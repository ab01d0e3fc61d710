import { writeFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { envOverrides, loadConfig, resolveConfig } from './config.ts'
import { tempDir } from '../../tests/helpers.ts'

describe('edge configuration', () => {
  it('fills every default from the schema', () => {
    const c = resolveConfig({}, {})
    expect(c.broker.port).toBe(1884)
    expect(c.presence.staleMs).toBe(30_000)
    expect(c.presence.awayMs).toBe(120_000)
    expect(c.privacy.saltRotationHours).toBe(24)
  })

  it('derives env overrides from the schema paths, with types', () => {
    const names = envOverrides().map((e) => e.env)
    expect(names).toContain('STORE_EDGE_BROKER_WS_PORT')
    expect(names).toContain('STORE_EDGE_PRESENCE_AWAY_MS')
    const c = resolveConfig({}, { STORE_EDGE_BROKER_WS_PORT: '-1', STORE_EDGE_WEBHOOKS_MERAKI_ENABLED: 'true', STORE_EDGE_WEBHOOKS_MERAKI_SECRET: 's' })
    expect(c.broker.wsPort).toBe(-1)
    expect(c.webhooks.meraki.enabled).toBe(true)
  })

  it('reports every error with its path, not just the first', () => {
    let message = ''
    try {
      resolveConfig({ broker: { port: 'x', maxPacketBytes: 5 }, sensors: [{ id: 'Bad Id', zone: 'z' }] }, {})
    } catch (e) {
      message = (e as Error).message
    }
    expect(message).toContain('/broker/port')
    expect(message).toContain('/broker/maxPacketBytes')
    expect(message).toContain('/sensors/0/id')
  })

  it('checks cross-field rules: sensor zones exist, away after stale, stay below enter, webhook secret', () => {
    expect(() => resolveConfig({ zones: [{ id: 'a', name: 'A' }], sensors: [{ id: 's1', zone: 'b' }] }, {})).toThrow(/\/sensors\/0\/zone/)
    expect(() => resolveConfig({ presence: { staleMs: 60_000, awayMs: 30_000 } }, {})).toThrow(/awayMs/)
    expect(() => resolveConfig({ wifi: { enterRssi: -80, stayRssi: -70 } }, {})).toThrow(/stayRssi/)
    expect(() => resolveConfig({ webhooks: { meraki: { enabled: true } } }, {})).toThrow(/secret/)
  })

  it('loads YAML files and explains unreadable or malformed ones', async () => {
    const { dir, cleanup } = await tempDir()
    await writeFile(`${dir}/ok.yaml`, 'store:\n  id: shop-7\nzones:\n  - { id: entrance, name: Entrance }\n')
    await writeFile(`${dir}/bad.yaml`, 'store: [unclosed\n')
    expect(loadConfig(`${dir}/ok.yaml`, {}).store.id).toBe('shop-7')
    expect(() => loadConfig(`${dir}/bad.yaml`, {})).toThrow(/not valid YAML/)
    expect(() => loadConfig(`${dir}/missing.yaml`, {})).toThrow(/cannot read/)
    await cleanup()
  })
})

describe('shipped example configuration', () => {
  it('deploy/edge/store.example.yaml is valid and matches the demo store layout', async () => {
    const { demoStore } = await import('../sim/demo-store.ts')
    const cfg = loadConfig(new URL('../../deploy/edge/store.example.yaml', import.meta.url).pathname, {})
    expect(cfg.zones.map((z) => z.id)).toEqual(demoStore.zones.map((z) => z.id))
    expect(cfg.sensors.map((s) => [s.id, s.zone, s.kind])).toEqual(demoStore.sensors.map((s) => [s.id, s.zone, s.kind]))
  })
})
