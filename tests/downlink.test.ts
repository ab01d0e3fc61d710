import { createServer, type Server, type Socket } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Aedes } from 'aedes'
import { EdgeApp } from '../edge/app.ts'
import type { ConfigAppliedEvent } from '../edge/contracts/index.ts'
import { tempDir, testConfig, testLogger, waitFor } from './helpers.ts'

/** A central broker (bare aedes) that records the edge's config events and can hold retained config. */
async function central() {
  const aedes = await Aedes.createBroker()
  const events: ConfigAppliedEvent[] = []
  await new Promise<void>((r) => aedes.subscribe('stores/+/events/config', (p, cb) => { events.push(JSON.parse(p.payload.toString())); cb() }, () => r()))
  const server: Server = createServer(aedes.handle)
  const sockets = new Set<Socket>()
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    port: (server.address() as { port: number }).port,
    events,
    retain: (topic: string, payload: unknown) =>
      new Promise<void>((r) => aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)), qos: 1, retain: true, dup: false }, () => r())),
    stop: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
      await new Promise<void>((r) => aedes.close(() => r()))
    },
  }
}

const layout = (version: number, zones: string[], sensors: Array<[string, string]>) => ({
  v: 1,
  version,
  zones: zones.map((id) => ({ id, name: id.toUpperCase() })),
  sensors: sensors.map(([id, zone]) => ({ id, zone })),
})

describe('downlink: store layout pushed from central, applied live', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let c: Awaited<ReturnType<typeof central>>
  const apps: EdgeApp[] = []

  beforeEach(async () => {
    ;({ dir, cleanup } = await tempDir())
    c = await central()
  })
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.stop()
    await c.stop().catch(() => undefined)
    await cleanup()
  })

  const start = async (uplink = true) => {
    const app = await new EdgeApp({
      config: testConfig(dir, {
        store: { id: 'store-c', timezone: 'UTC' },
        zones: [{ id: 'entrance', name: 'Entrance' }],
        sensors: [{ id: 'scanner-1', zone: 'entrance' }],
        uplink: { url: uplink ? `mqtt://127.0.0.1:${c.port}` : '' },
      }),
      logger: testLogger(),
      defaultMetrics: false,
    }).start()
    apps.push(app)
    return app
  }
  const zoneStatus = async (app: EdgeApp, zone: string) => (await fetch(`${app.api.url}/v1/presence?zone=${zone}`)).status

  it('applies a valid layout live, reports it, ignores replays, and rejects a bad one with every error', async () => {
    const edge = await start()
    expect(await zoneStatus(edge, 'beauty')).toBe(404)
    await c.retain('stores/store-c/config/zones', layout(2, ['entrance', 'beauty'], [['scanner-1', 'entrance'], ['scanner-2', 'beauty']]))
    await waitFor(() => c.events.some((e) => e.version === 2), 'config event v2')
    expect(c.events.at(-1)).toMatchObject({ part: 'zones', version: 2, ok: true, errors: [] })
    expect(await zoneStatus(edge, 'beauty')).toBe(200)
    expect(edge.presence.engine.snapshot(Date.now()).zones.map((z) => z.zone)).toEqual(['entrance', 'beauty'])
    // the same version again (a retained replay after a reconnect) is acknowledged, not re-applied
    const engine = edge.presence.engine
    await c.retain('stores/store-c/config/zones', layout(2, ['entrance', 'beauty'], [['scanner-1', 'entrance'], ['scanner-2', 'beauty']]))
    await waitFor(() => c.events.filter((e) => e.version === 2).length === 2, 'replay answered')
    expect(edge.presence.engine).toBe(engine)

    // a sensor placed in a zone that does not exist, and a zone without a name: both reported, nothing applied
    const bad = layout(3, ['entrance'], [['scanner-1', 'nowhere']]) as { zones: Array<Record<string, unknown>> }
    await c.retain('stores/store-c/config/zones', { ...bad, zones: [...bad.zones, { id: 'x' }] })
    await waitFor(() => c.events.some((e) => e.version === 3), 'config event v3')
    const rejected = c.events.find((e) => e.version === 3)!
    expect(rejected.ok).toBe(false)
    expect(rejected.errors.join('\n')).toMatch(/\/zones\/1\/name/)
    expect(await zoneStatus(edge, 'beauty')).toBe(200)

    await c.retain('stores/store-c/config/zones', 'not json')
    await waitFor(() => c.events.some((e) => e.errors.some((x) => x.startsWith('STORE_EDGE_ERR_PAYLOAD_NOT_JSON'))), 'non-JSON rejected')
    await c.retain('stores/store-c/config/triggers', { v: 1 })
    await waitFor(() => c.events.some((e) => e.part === 'triggers' && !e.ok), 'unsupported part answered')
  })

  it('keeps the applied layout across a restart without the central broker', async () => {
    const first = await start()
    await c.retain('stores/store-c/config/zones', layout(5, ['entrance', 'cafe'], [['scanner-1', 'cafe']]))
    await waitFor(() => c.events.some((e) => e.version === 5 && e.ok), 'applied')
    await first.stop()
    apps.splice(0)
    await c.stop()
    const second = await start(false)
    expect(second.config.zones.map((z) => z.id)).toEqual(['entrance', 'cafe'])
    expect(second.config.sensors).toMatchObject([{ id: 'scanner-1', zone: 'cafe', kind: 'ble', absorption: 3.5 }])
    expect(await zoneStatus(second, 'cafe')).toBe(200)
  })
})
