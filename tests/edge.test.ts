import { readFileSync } from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import { EdgeApp } from '../edge/app.ts'
import type { EdgeConfig } from '../edge/core/config.ts'
import { connect, counterValue, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'

const zones = [
  { id: 'entrance', name: 'Entrance' },
  { id: 'cosmetics', name: 'Cosmetics' },
]
const sensors = [
  { id: 'scanner-1', zone: 'entrance' },
  { id: 'scanner-2', zone: 'cosmetics' },
]
const ibeacon = (minor: number) =>
  '0201061aff4c000215e2c56db5dffb48d2b060d0f5a71096e00001' + minor.toString(16).padStart(4, '0') + 'c5'

describe('edge node end to end over MQTT and HTTP', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let app: EdgeApp | undefined
  const clients: MqttClient[] = []

  beforeEach(async () => ({ dir, cleanup } = await tempDir()))
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end(true)
    await app?.stop()
    app = undefined
    await cleanup()
  })

  const start = async (cfg: EdgeConfig) => {
    app = await new EdgeApp({ config: cfg, logger: testLogger(), defaultMetrics: false }).start()
    return app
  }

  it('decodes a batch, keeps the good sightings beside a bad one, and serves presence, stats, health and metrics', async () => {
    const edge = await start(testConfig(dir, { zones, sensors }))
    const dev = await edge.credentials.provision('scanner-1', 'ble')
    const mqttUrl = `mqtt://127.0.0.1:${edge.broker.address.mqtt.port}`
    const c = await connect(mqttUrl, {
      clientId: 'scanner-1', username: dev.username, password: dev.password,
      will: { topic: 'sensors/scanner-1/status', payload: Buffer.from('offline'), qos: 1, retain: true },
    })
    clients.push(c)
    await c.publishAsync('sensors/scanner-1/status', 'online', { qos: 1, retain: true })
    const now = Date.now()
    const batch = {
      v: 1,
      ts: now,
      sightings: [
        { mac: 'c0:ff:ee:00:00:01', addrType: 'random', rssi: -60, adv: ibeacon(7) },
        { mac: 'not-a-mac', rssi: -60 },
        { mac: '00:1a:7d:da:71:13', addrType: 'public', rssi: -58 },
        { mac: 'd2:00:00:00:00:09', addrType: 'random', rssi: -70, adv: '02011a0aff4c0010050b1c6d2a1f' },
        { mac: '00:1a:7d:da:71:14', addrType: 'public', rssi: 999 },
      ],
    }
    await c.publishAsync('sensors/scanner-1/ble', JSON.stringify(batch), { qos: 1 })
    await c.publishAsync('sensors/scanner-1/ble', 'this is not json', { qos: 1 })

    const base = edge.api.url
    const presence = (await (await fetch(`${base}/v1/presence`)).json()) as { identities: Array<{ id: string; zone: string }>; occupancy: { occupancy: number } }
    const ids = presence.identities.map((i) => i.id).sort()
    // the beacon is listed by its beacon id; the public MAC by its hash; the random phone only counted
    expect(ids).toHaveLength(2)
    expect(ids.some((i) => i.startsWith('ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:7'))).toBe(true)
    expect(ids.some((i) => /^h:[0-9a-f]{20}$/.test(i))).toBe(true)
    expect(presence.occupancy.occupancy).toBe(3)
    expect(presence.identities.every((i) => i.zone === 'entrance')).toBe(true)
    expect(JSON.stringify(presence)).not.toMatch(/00:1a:7d|c0:ff:ee|d2:00/i)

    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(metrics).toMatch(/store_edge_ingest_rejected_total\{device="scanner-1",kind="ble",code="STORE_EDGE_ERR_BAD_MAC"\} 1/)
    expect(metrics).toMatch(/store_edge_ingest_rejected_total\{device="scanner-1",kind="ble",code="STORE_EDGE_ERR_BAD_RSSI"\} 1/)
    expect(metrics).toMatch(/store_edge_ingest_rejected_total\{device="scanner-1",kind="ble",code="STORE_EDGE_ERR_PAYLOAD_NOT_JSON"\} 1/)
    expect(metrics).toMatch(/store_edge_ingest_sightings_total\{source="ble"\} 3/)

    const stats = (await (await fetch(`${base}/v1/stats`)).json()) as { ingest: { rejected: Record<string, number> }; devices: { online: number } }
    expect(stats.ingest.rejected.STORE_EDGE_ERR_BAD_MAC).toBe(1)
    expect(stats.devices.online).toBe(1)

    const health = (await (await fetch(`${base}/health`)).json()) as { status: string; devices: Array<{ id: string; online: boolean }> }
    expect(health.status).toBe('ok')
    expect(health.devices.find((d) => d.id === 'scanner-1')?.online).toBe(true)

    // the last will marks the device offline when its connection drops
    c.stream.destroy()
    await waitFor(async () => {
      const h = (await (await fetch(`${base}/health`)).json()) as typeof health
      return h.devices.find((d) => d.id === 'scanner-1')?.online === false
    }, 'device offline after its last will')

    // bad HTTP input: a clear error with a catalogue code
    const bad = await fetch(`${base}/v1/presence?limit=abc`)
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('STORE_EDGE_ERR_VALIDATION')
    const nf = await fetch(`${base}/v1/presence?zone=nowhere`)
    expect(nf.status).toBe(404)
  })

  it('loses nothing when the edge restarts mid-stream with QoS 1 in flight', async () => {
    const first = await start(testConfig(dir, { zones, sensors }))
    const port = first.broker.address.mqtt.port
    const dev = await first.credentials.provision('scanner-1', 'ble')
    const seen = new Set<string>()
    const track = (edge: EdgeApp) => edge.bus.subscriber('test').onSightings((e) => e.sightings.forEach((s) => seen.add(s.id)))
    track(first)

    const c = await connect(`mqtt://127.0.0.1:${port}`, { clientId: 'scanner-1', username: dev.username, password: dev.password, clean: false, reconnectPeriod: 100 })
    clients.push(c)
    const total = 400
    const acks: Promise<unknown>[] = []
    let acked = 0
    let inFlightAtRestart = 0
    let seenBySecond = 0
    for (let i = 0; i < total; i++) {
      const mac = `00:1a:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`
      acks.push(c.publishAsync('sensors/scanner-1/ble', JSON.stringify({ v: 1, ts: Date.now(), sightings: [{ mac, addrType: 'public', rssi: -60 }] }), { qos: 1 }).then(() => acked++))
      if (i === 150) {
        // restart while messages are still in flight
        inFlightAtRestart = i + 1 - acked
        await first.stop()
        app = undefined
        const second = await start(testConfig(dir, { zones, sensors, broker: { host: '127.0.0.1', port, wsPort: -1 } }))
        track(second)
        second.bus.subscriber('test2').onSightings((e) => (seenBySecond += e.sightings.length))
      }
      if (i % 50 === 0) await new Promise((r) => setImmediate(r))
    }
    await Promise.all(acks)
    expect(inFlightAtRestart).toBeGreaterThan(0)
    expect(seenBySecond).toBeGreaterThan(0)
    expect(seen.size).toBe(total)
    expect(await counterValue(app!.metrics.registry, 'store_edge_ingest_messages_total')).toBeGreaterThan(0)
  })

  it('emits enter and then an explicit exit (not silence) on the uplink topic once a device is away', async () => {
    const edge = await start(testConfig(dir, { zones, sensors, presence: { staleMs: 1000, awayMs: 2500 } }))
    const url = `mqtt://127.0.0.1:${edge.broker.address.mqtt.port}`
    const dev = await edge.credentials.provision('scanner-1', 'ble')
    const svc = await edge.credentials.provision('uplink', 'service')
    const sub = await connect(url, { clientId: 'uplink', username: svc.username, password: svc.password })
    clients.push(sub)
    const events: Array<{ type: string; id: string; zone: string; dwellS?: number }> = []
    sub.on('message', (_t, p) => events.push(JSON.parse(p.toString())))
    await sub.subscribeAsync('stores/test-store/events/presence', { qos: 1 })
    const c = await connect(url, { clientId: 'scanner-1', username: dev.username, password: dev.password })
    clients.push(c)
    await c.publishAsync('sensors/scanner-1/ble', JSON.stringify({ v: 1, ts: Date.now(), sightings: [{ mac: '00:1a:7d:da:71:13', addrType: 'public', rssi: -60 }] }), { qos: 1 })
    await waitFor(() => events.some((e) => e.type === 'exit'), 'an exit event', 10_000)
    expect(events.map((e) => [e.type, e.zone])).toEqual([['enter', 'entrance'], ['stale', 'entrance'], ['exit', 'entrance']])
    expect(events[0]!.id).toMatch(/^h:[0-9a-f]{20}$/)
    expect(JSON.stringify(events)).not.toContain('00:1a:7d')
  })

  it('accepts OpenMQTTGateway and ESPresense native messages through the broker ACL', async () => {
    const edge = await start(testConfig(dir, {
      zones,
      sensors: [...sensors, { id: 'omg-1', zone: 'cosmetics', kind: 'omg' }, { id: 'esp-1', zone: 'entrance', kind: 'espresense' }],
    }))
    const url = `mqtt://127.0.0.1:${edge.broker.address.mqtt.port}`
    const omg = await edge.credentials.provision('omg-1', 'omg')
    const esp = await edge.credentials.provision('esp-1', 'espresense')
    const o = await connect(url, { clientId: 'omg-1', username: omg.username, password: omg.password, will: { topic: 'home/omg-1/LWT', payload: Buffer.from('offline'), qos: 1, retain: true } })
    const e = await connect(url, { clientId: 'esp-1', username: esp.username, password: esp.password })
    clients.push(o, e)
    await o.publishAsync('home/omg-1/LWT', 'online', { qos: 1, retain: true })
    await o.publishAsync('home/omg-1/BTtoMQTT/001A7DDA7115', JSON.stringify({ id: '00:1A:7D:DA:71:15', mac_type: 0, rssi: '-63', manufacturerdata: '4c0010050b1c6d2a1f' }), { qos: 1 })
    await e.publishAsync('espresense/devices/iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-1-9/esp-1', JSON.stringify({ id: 'iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-1-9', 'rssi@1m': -59, rssi: -61, distance: 1.2, mac: 'c0ffee000009' }), { qos: 1 })
    const presence = (await (await fetch(`${edge.api.url}/v1/presence`)).json()) as { identities: Array<{ id: string; zone: string }> }
    const byZone = Object.fromEntries(presence.identities.map((i) => [i.zone, i.id]))
    expect(byZone.cosmetics).toMatch(/^h:/)
    expect(byZone.entrance).toBe('ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:9')
    // The LWT status travels broker → ingest → bus → devices: wait for it rather than race it.
    const online = async () => ((await (await fetch(`${edge.api.url}/health`)).json()) as { devices: Array<{ id: string; online: boolean }> }).devices.find((d) => d.id === 'omg-1')?.online
    expect(await waitFor(online, 'omg-1 online')).toBe(true)
    // a native topic with another device's id is outside the ACL: the connection is closed
    const closed = new Promise<void>((r) => o.once('close', () => r()))
    o.publish('home/omg-2/BTtoMQTT/001A7DDA7115', '{}')
    await closed
  })

  it('takes Meraki Scanning API v3 posts over HTTP into presence, and refuses a wrong secret', async () => {
    const aps = [
      { id: 'ap-e0553d1a2b3c', zone: 'entrance', kind: 'meraki-ap' },
      { id: 'ap-e0553d1a2b4d', zone: 'cosmetics', kind: 'meraki-ap' },
      { id: 'ap-0c8ddb771002', zone: 'cosmetics', kind: 'meraki-ap' },
    ]
    const edge = await start(testConfig(dir, { zones, sensors: [...sensors, ...aps], webhooks: { meraki: { enabled: true, secret: 'meraki-fixture-secret', validator: 'v4l1d4t0r' } } }))
    const base = edge.api.url
    expect(await (await fetch(`${base}/v1/webhooks/meraki`)).text()).toBe('v4l1d4t0r')
    const shift = Date.now() - Date.parse('2024-05-14T09:31:50Z')
    const text = readFileSync(new URL('./fixtures/meraki-v3-wifi.json', import.meta.url), 'utf8')
    const body = JSON.parse(text, (_k, v) => (typeof v === 'string' && /^\d{4}-\d\d-\d\dT[\d:]+Z$/.test(v) ? new Date(Date.parse(v) + shift).toISOString() : v))
    const post = (b: unknown) => fetch(`${base}/v1/webhooks/meraki`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) })
    const bad = await post({ ...body, secret: 'nope' })
    expect(bad.status).toBe(403)
    const ok = await post(body)
    expect(ok.status).toBe(202)
    const accepted = ((await ok.json()) as { accepted: number }).accepted
    expect(accepted).toBeGreaterThan(0)
    const stats = (await (await fetch(`${base}/v1/stats`)).json()) as { ingest: { sightings: Record<string, number>; rejected: Record<string, number> }; tracked: number }
    expect(stats.ingest.sightings.wifi).toBe(accepted)
    expect(stats.ingest.rejected.STORE_EDGE_ERR_WEBHOOK_SECRET).toBe(1)
    expect(stats.tracked).toBeGreaterThan(0)
  })

  it('keeps running when one module fails to start (here the API: its port is taken), marking it down', async () => {
    const { createServer } = await import('node:net')
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()))
    const port = (blocker.address() as { port: number }).port
    try {
      const edge = await start(testConfig(dir, { zones, sensors, http: { host: '127.0.0.1', port } }))
      expect(edge.moduleStatus.get('api')).toBe('failed')
      expect(edge.moduleStatus.get('broker')).toBe('up')
      expect(edge.moduleStatus.get('presence')).toBe('up')
      expect(await counterValue(edge.metrics.registry, 'store_edge_module_up', { module: 'api' })).toBe(0)
      // the broker and the pipeline still work
      const dev = await edge.credentials.provision('scanner-1', 'ble')
      const c = await connect(`mqtt://127.0.0.1:${edge.broker.address.mqtt.port}`, { clientId: 'scanner-1', username: dev.username, password: dev.password })
      clients.push(c)
      await c.publishAsync('sensors/scanner-1/ble', JSON.stringify({ v: 1, ts: Date.now(), sightings: [{ mac: '00:1a:7d:da:71:13', addrType: 'public', rssi: -60 }] }), { qos: 1 })
      expect(edge.presence.engine.size).toBe(1)
    } finally {
      blocker.close()
    }
  })
})
