import { createServer, type Server } from 'node:net'
import { randomBytes } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Aedes } from 'aedes'
import mqtt from 'mqtt'
import { EdgeApp } from '../edge/app.ts'
import { counterValue, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'

/** A central broker we can take down and bring back on the same port, recording what arrives. */
async function centralBroker(port = 0): Promise<{ port: number; received: string[]; stop: () => Promise<void> }> {
  const aedes = await Aedes.createBroker()
  const received: string[] = []
  // a server-side subscription: sees every message from the first one, whoever else reconnects when
  await new Promise<void>((r) => aedes.subscribe('stores/#', (p, cb) => { received.push(`${p.topic} ${p.payload.toString()}`); cb() }, () => r()))
  const server: Server = createServer(aedes.handle)
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()))
  const sockets = new Set<import('node:net').Socket>()
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  return {
    port: (server.address() as { port: number }).port,
    received,
    stop: async () => {
      for (const s of sockets) s.destroy() // an outage, not a goodbye
      await new Promise<void>((r) => server.close(() => r()))
      await new Promise<void>((r) => aedes.close(() => r()))
    },
  }
}

describe('uplink: edge → central broker through the on-disk spool', () => {
  let dir: string
  let cleanup: () => Promise<void>
  const apps: EdgeApp[] = []
  const stops: Array<() => Promise<void>> = []

  beforeEach(async () => ({ dir, cleanup } = await tempDir()))
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.stop()
    for (const s of stops.splice(0)) await s().catch(() => undefined)
    await cleanup()
  })

  const startEdge = async (storeId: string, url: string) => {
    const app = await new EdgeApp({ config: testConfig(dir, { store: { id: storeId, timezone: 'UTC' }, uplink: { url, replayDelayMs: 500 } }), logger: testLogger(), defaultMetrics: false }).start()
    apps.push(app)
    return app
  }
  const publishAt = (app: EdgeApp, topic: string, seq: number) =>
    new Promise<void>((r) => app.broker.aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(JSON.stringify({ seq })), qos: 1, retain: false, dup: false }, () => r()))
  const seqs = (received: string[], topic: string) => received.filter((l) => l.startsWith(topic + ' ')).map((l) => JSON.parse(l.slice(topic.length + 1)).seq as number)

  it('delivers the store topics to the machine’s Mosquitto, in order, with the retained health', async () => {
    const storeId = `up-${process.pid}-${randomBytes(3).toString('hex')}`
    const sub = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${storeId}-sub`, clean: true, reconnectPeriod: 0 })
    const got: string[] = []
    sub.on('message', (t, p) => got.push(`${t} ${p.toString()}`))
    await sub.subscribeAsync(`stores/${storeId}/#`, { qos: 1 })
    const edge = await startEdge(storeId, 'mqtt://127.0.0.1:1883')
    for (let i = 0; i < 200; i++) await publishAt(edge, `stores/${storeId}/agg`, i)
    await publishAt(edge, `stores/${storeId}/config/zones`, -1) // downlink: never sent back up
    await waitFor(() => seqs(got, `stores/${storeId}/agg`).length >= 200, 'aggregates at Mosquitto')
    expect(seqs(got, `stores/${storeId}/agg`)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    expect(got.some((l) => l.startsWith(`stores/${storeId}/health `) && l.includes('"online"'))).toBe(true)
    expect(got.some((l) => l.includes('/config/'))).toBe(false)
    await waitFor(() => edge.uplink!.spool.size === 0, 'spool drained')
    await edge.stop()
    apps.splice(0)
    // clean up the shared broker: retained health and the edge's persistent session
    await sub.publishAsync(`stores/${storeId}/health`, '', { qos: 1, retain: true })
    await sub.endAsync()
    const gone = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `edge-${storeId}`, clean: true, reconnectPeriod: 0 })
    await gone.endAsync()
  })

  it('loses nothing through a central outage: the backlog waits on disk and drains oldest first', async () => {
    let central = await centralBroker()
    const port = central.port
    stops.push(() => central.stop())
    const edge = await startEdge('store-a', `mqtt://127.0.0.1:${port}`)
    await waitFor(() => edge.uplink!.connected, 'uplink connected')
    for (let i = 0; i < 50; i++) await publishAt(edge, 'stores/store-a/agg', i)
    await waitFor(() => seqs(central.received, 'stores/store-a/agg').length === 50, 'first 50')
    const before = central.received
    await central.stop()
    stops.splice(0)
    for (let i = 50; i < 1050; i++) await publishAt(edge, 'stores/store-a/agg', i)
    await waitFor(() => edge.uplink!.spool.size >= 1000, 'backlog on disk')
    central = await centralBroker(port)
    stops.push(() => central.stop())
    const replayed = () => counterValue(edge.metrics.registry, 'store_edge_uplink_replayed_total')
    await waitFor(async () => (await replayed()) > 0 && edge.uplink!.spool.size === 0, 'backlog and replay delivered', 30_000)
    const n = await replayed()
    await waitFor(() => seqs(central.received, 'stores/store-a/agg').length >= 1000 + n, 'replay delivered')
    const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i)
    const after = seqs(central.received, 'stores/store-a/agg')
    expect(seqs(before, 'stores/store-a/agg')).toEqual(range(0, 50))
    // Nothing lost: the backlog drains first, oldest first, once.
    expect(after.slice(0, 1000)).toEqual(range(50, 1050))
    // Then, after replayDelayMs, the replay window: what the vanished broker had acknowledged (all
    // of 0..49) and what was acknowledged since the reconnect, in case the broker dropped it
    // before the consumers came back; each once.
    const replay = after.slice(1000)
    expect(replay).toHaveLength(n)
    expect(new Set(replay).size).toBe(n)
    expect(replay.filter((x) => x < 50).sort((a, b) => a - b)).toEqual(range(0, 50))
    expect(replay.every((x) => x >= 0 && x < 1050)).toBe(true)
  })

  it('with the replay window off, a reconnect sends nothing twice', async () => {
    let central = await centralBroker()
    const port = central.port
    stops.push(() => central.stop())
    const app = await new EdgeApp({
      config: testConfig(dir, { store: { id: 'store-c', timezone: 'UTC' }, uplink: { url: `mqtt://127.0.0.1:${port}`, replayWindowMs: 0 } }),
      logger: testLogger(),
      defaultMetrics: false,
    }).start()
    apps.push(app)
    await waitFor(() => app.uplink!.connected, 'uplink connected')
    for (let i = 0; i < 20; i++) await publishAt(app, 'stores/store-c/agg', i)
    await waitFor(() => seqs(central.received, 'stores/store-c/agg').length === 20, 'first 20')
    await central.stop()
    stops.splice(0)
    for (let i = 20; i < 40; i++) await publishAt(app, 'stores/store-c/agg', i)
    central = await centralBroker(port)
    stops.push(() => central.stop())
    await waitFor(() => seqs(central.received, 'stores/store-c/agg').length >= 20 && app.uplink!.spool.size === 0, 'backlog delivered', 30_000)
    expect(seqs(central.received, 'stores/store-c/agg')).toEqual(Array.from({ length: 20 }, (_, i) => 20 + i))
  })

  it('keeps the backlog across an edge restart while the central broker is down', async () => {
    const probe = await centralBroker()
    const port = probe.port
    await probe.stop() // a port nobody listens on: central is down from the start
    const first = await startEdge('store-b', `mqtt://127.0.0.1:${port}`)
    for (let i = 0; i < 100; i++) await publishAt(first, 'stores/store-b/agg', i)
    await waitFor(() => first.uplink!.spool.size >= 100, 'backlog on disk')
    await first.stop()
    apps.splice(0)
    const second = await startEdge('store-b', `mqtt://127.0.0.1:${port}`)
    expect(second.uplink!.spool.size).toBeGreaterThanOrEqual(100)
    const central = await centralBroker(port)
    stops.push(() => central.stop())
    await waitFor(() => seqs(central.received, 'stores/store-b/agg').length >= 100, 'backlog after restart', 30_000)
    expect(seqs(central.received, 'stores/store-b/agg')).toEqual(Array.from({ length: 100 }, (_, i) => i))
    // health: offline (old edge stopping) then online (new edge), so the retained one ends online
    const health = central.received.filter((l) => l.startsWith('stores/store-b/health ')).map((l) => JSON.parse(l.split(' ')[1]!).status)
    expect(health.at(-1)).toBe('online')
  })
})

