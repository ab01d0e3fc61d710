import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { createConnection } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { AedesPublishPacket } from 'aedes'
import { BrokerModule } from '../edge/broker/broker.module.ts'
import { CredentialStore } from '../edge/broker/credentials.ts'
import { createMetrics } from '../edge/core/metrics.ts'
import { systemClock } from '../edge/core/clock.ts'
import type { EdgeConfig } from '../edge/core/config.ts'
import { connect, counterValue, sleep, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'

const run = promisify(execFile)

describe('embedded broker (aedes) against real MQTT clients', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let cfg: EdgeConfig
  let creds: CredentialStore
  let broker: BrokerModule
  let metrics: ReturnType<typeof createMetrics>
  let url: string

  const startBroker = async (overrides: Record<string, unknown> = {}) => {
    cfg = testConfig(dir, overrides)
    metrics = createMetrics({ defaultMetrics: false })
    broker = new BrokerModule(cfg, creds, testLogger(), metrics, systemClock)
    await broker.start()
    url = `mqtt://127.0.0.1:${broker.address.mqtt.port}`
  }

  beforeEach(async () => {
    ;({ dir, cleanup } = await tempDir())
    creds = await new CredentialStore(`${dir}/devices.json`).load()
  })
  afterEach(async () => {
    await broker?.stop()
    await cleanup()
  })

  it('authenticates each device with its own credentials and refuses the rest, counted', async () => {
    await startBroker()
    const dev = await creds.provision('scanner-1', 'ble')
    const ok = await connect(url, { clientId: 'scanner-1', username: dev.username, password: dev.password })
    expect(ok.connected).toBe(true)
    await ok.endAsync()

    await expect(connect(url, { clientId: 'scanner-1', username: 'scanner-1', password: 'wrong' })).rejects.toThrow(/Bad username or password|Not authorized/i)
    await expect(connect(url, { clientId: 'nobody', username: 'nobody', password: 'x' })).rejects.toThrow()
    // client id must be the device id: one device cannot take over another's session
    await expect(connect(url, { clientId: 'someone-else', username: dev.username, password: dev.password })).rejects.toThrow(/Identifier rejected/i)
    await expect(connect(url, { clientId: 'anon' })).rejects.toThrow()
    expect(await counterValue(metrics.registry, 'store_edge_broker_refused_total', { reason: 'auth_failed' })).toBeGreaterThanOrEqual(3)
    expect(await counterValue(metrics.registry, 'store_edge_broker_refused_total', { reason: 'client_id' })).toBe(1)
  })

  it('backs off a password guesser per device and address, without locking out other devices', async () => {
    await startBroker({ broker: { host: '127.0.0.1', port: 0, wsPort: -1, authMaxFailures: 3, authBanMs: 60_000 } })
    const dev = await creds.provision('scanner-1', 'ble')
    const other = await creds.provision('scanner-2', 'ble')
    for (let i = 0; i < 3; i++) {
      await expect(connect(url, { clientId: 'scanner-1', username: 'scanner-1', password: `guess-${i}` })).rejects.toThrow(/Bad username or password/)
    }
    // banned now: even the right password is refused, and no password check is made
    await expect(connect(url, { clientId: 'scanner-1', username: dev.username, password: dev.password })).rejects.toThrow(/Bad username or password/)
    expect(await counterValue(metrics.registry, 'store_edge_broker_refused_total', { reason: 'auth_backoff' })).toBe(1)
    expect(await counterValue(metrics.registry, 'store_edge_broker_refused_total', { reason: 'auth_failed' })).toBe(3)
    // another device from the same address is not affected
    const ok = await connect(url, { clientId: 'scanner-2', username: other.username, password: other.password })
    await ok.endAsync()
  })

  it('delivers a device publish inside its ACL and closes the connection for one outside it', async () => {
    await startBroker()
    const dev = await creds.provision('scanner-1', 'ble')
    const got: string[] = []
    const deliver = (p: AedesPublishPacket, cb: () => void) => {
      got.push(p.topic)
      cb()
    }
    await new Promise<void>((r) => broker.aedes.subscribe('sensors/#', deliver, () => r()))
    const c = await connect(url, { clientId: 'scanner-1', username: dev.username, password: dev.password })
    await c.publishAsync('sensors/scanner-1/ble', '{}', { qos: 1 })
    expect(got).toEqual(['sensors/scanner-1/ble'])

    const closed = new Promise<void>((r) => c.once('close', () => r()))
    c.publish('sensors/scanner-2/ble', '{}', { qos: 0 })
    await closed
    expect(got).toEqual(['sensors/scanner-1/ble'])
    expect(await counterValue(metrics.registry, 'store_edge_broker_refused_total', { reason: 'acl_publish' })).toBe(1)
    c.end(true)
  })

  it('grants a device its own config subscription only (SUBACK 0x80 otherwise)', async () => {
    await startBroker()
    const dev = await creds.provision('scanner-1', 'ble')
    const c = await connect(url, { clientId: 'scanner-1', username: dev.username, password: dev.password })
    const own = await c.subscribeAsync('sensors/scanner-1/config', { qos: 1 })
    expect(own[0]?.qos).toBe(1)
    for (const t of ['sensors/+/config', 'sensors/#', '#', 'stores/test-store/agg', '$SYS/#']) {
      // mqtt.js turns a 0x80 return code into an error carrying the SUBACK packet
      const err = (await c.subscribeAsync(t, { qos: 1 }).then(() => undefined, (e: unknown) => e)) as { packet?: { granted?: number[] } } | undefined
      expect(err?.packet?.granted, t).toEqual([128])
    }
    expect(await counterValue(metrics.registry, 'store_edge_broker_refused_total', { reason: 'acl_subscribe' })).toBe(5)
    await c.endAsync()
  })

  it('closes a connection whose packet exceeds the size limit before buffering it', async () => {
    await startBroker({ broker: { host: '127.0.0.1', port: 0, wsPort: -1, maxPacketBytes: 4096 } })
    const dev = await creds.provision('scanner-1', 'ble')
    const c = await connect(url, { clientId: 'scanner-1', username: dev.username, password: dev.password })
    const closed = new Promise<void>((r) => c.once('close', () => r()))
    c.publish('sensors/scanner-1/ble', Buffer.alloc(10_000, 0x41), { qos: 0 })
    await closed
    c.end(true)
    expect(await counterValue(metrics.registry, 'store_edge_broker_refused_total', { reason: 'packet_too_large' })).toBe(1)

    // A raw socket announcing a 200 MB packet is cut off at the fixed header.
    const sock = createConnection(broker.address.mqtt.port, '127.0.0.1')
    await new Promise((r) => sock.once('connect', r))
    sock.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]))
    await new Promise((r) => sock.once('close', r))
    expect(await counterValue(metrics.registry, 'store_edge_broker_refused_total', { reason: 'packet_too_large' })).toBe(2)
  })

  it('rate-limits a flooding device: drops beyond the bucket, disconnects a sustained flood', async () => {
    await startBroker({ broker: { host: '127.0.0.1', port: 0, wsPort: -1, publishRatePerSec: 10, publishBurst: 20, floodDisconnectAfter: 200 } })
    const dev = await creds.provision('scanner-1', 'ble')
    let delivered = 0
    await new Promise<void>((r) =>
      broker.aedes.subscribe('sensors/+/ble', (_p, cb) => {
        delivered++
        cb()
      }, () => r()),
    )
    const c = await connect(url, { clientId: 'scanner-1', username: dev.username, password: dev.password })
    const closed = new Promise<void>((r) => c.once('close', () => r()))
    for (let i = 0; i < 500; i++) c.publish('sensors/scanner-1/ble', `{"i":${i}}`, { qos: 0 })
    await closed
    c.end(true)
    expect(delivered).toBeGreaterThanOrEqual(20)
    expect(delivered).toBeLessThan(60)
    expect(await counterValue(metrics.registry, 'store_edge_broker_refused_total', { reason: 'rate_limited' })).toBeGreaterThanOrEqual(200)
  })

  it('publishes a device last will (retained offline) when it drops, seen by a service subscriber', async () => {
    await startBroker()
    const dev = await creds.provision('scanner-1', 'ble')
    const svc = await creds.provision('ops-tool', 'service')
    const c = await connect(url, {
      clientId: 'scanner-1', username: dev.username, password: dev.password,
      will: { topic: 'sensors/scanner-1/status', payload: Buffer.from('offline'), qos: 1, retain: true },
    })
    await c.publishAsync('sensors/scanner-1/status', 'online', { qos: 1, retain: true })
    c.stream.destroy() // an ungraceful drop, as a power cut would be
    await sleep(200)
    const s = await connect(url, { clientId: 'ops-tool', username: svc.username, password: svc.password })
    const msg = new Promise<{ topic: string; payload: string; retain: boolean }>((r) =>
      s.on('message', (topic, payload, packet) => r({ topic, payload: payload.toString(), retain: packet.retain })),
    )
    await s.subscribeAsync('sensors/+/status', { qos: 1 })
    expect(await msg).toEqual({ topic: 'sensors/scanner-1/status', payload: 'offline', retain: true })
    await s.endAsync()
  })

  it('works with clients we did not write: mosquitto_pub and mosquitto_sub', async () => {
    await startBroker()
    const dev = await creds.provision('sniffer-1', 'wifi')
    const svc = await creds.provision('ops-tool', 'service')
    const got: Buffer[] = []
    await new Promise<void>((r) => broker.aedes.subscribe('sensors/+/wifi', (p, cb) => { got.push(p.payload as Buffer); cb() }, () => r()))
    const port = String(broker.address.mqtt.port)
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-i', 'sniffer-1', '-u', dev.username, '-P', dev.password, '-q', '1', '-t', 'sensors/sniffer-1/wifi', '-m', '{"v":1}'])
    expect(got.map(String)).toEqual(['{"v":1}'])
    // wrong password: mosquitto_pub exits non-zero
    await expect(run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-i', 'sniffer-1', '-u', 'sniffer-1', '-P', 'nope', '-t', 'sensors/sniffer-1/wifi', '-m', 'x'])).rejects.toThrow()

    const sub = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-i', 'ops-tool', '-u', svc.username, '-P', svc.password, '-q', '1', '-t', 'stores/test-store/agg', '-C', '1', '-W', '10'])
    await waitFor(() => broker.aedes.connectedClients >= 1, 'mosquitto_sub to connect')
    await sleep(200)
    await new Promise<void>((r) => broker.aedes.publish({ cmd: 'publish', topic: 'stores/test-store/agg', payload: Buffer.from('{"v":1,"n":42}'), qos: 1, retain: false, dup: false }, () => r()))
    expect((await sub).stdout.trim()).toBe('{"v":1,"n":42}')
  })

  it('speaks MQTT over WebSocket with the same authentication', async () => {
    await startBroker()
    const dev = await creds.provision('scanner-1', 'ble')
    const got: string[] = []
    await new Promise<void>((r) => broker.aedes.subscribe('sensors/+/ble', (p, cb) => { got.push(p.topic); cb() }, () => r()))
    const c = await connect(`ws://127.0.0.1:${broker.address.ws!.port}`, { clientId: 'scanner-1', username: dev.username, password: dev.password })
    await c.publishAsync('sensors/scanner-1/ble', '{}', { qos: 1 })
    expect(got).toEqual(['sensors/scanner-1/ble'])
    await c.endAsync()
    await expect(connect(`ws://127.0.0.1:${broker.address.ws!.port}`, { clientId: 'scanner-1', username: 'scanner-1', password: 'bad' })).rejects.toThrow()
  })

  it('keeps QoS 1 sessions and their queued messages across a broker restart (durable persistence)', async () => {
    await startBroker()
    const svc = await creds.provision('uplink', 'service')
    const opts = { clientId: 'uplink', username: svc.username, password: svc.password, clean: false }
    const s1 = await connect(url, opts)
    await s1.subscribeAsync('stores/test-store/agg', { qos: 1 })
    await s1.endAsync()
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((r) => broker.aedes.publish({ cmd: 'publish', topic: 'stores/test-store/agg', payload: Buffer.from(`m${i}`), qos: 1, retain: false, dup: false }, () => r()))
    }
    await broker.stop()
    await startBroker() // same data dir, new process state
    const got: string[] = []
    const s2 = await connect(`mqtt://127.0.0.1:${broker.address.mqtt.port}`, opts)
    s2.on('message', (_t, p) => got.push(p.toString()))
    await waitFor(() => got.length >= 5, 'queued messages after restart')
    expect(got).toEqual(['m0', 'm1', 'm2', 'm3', 'm4'])
    await s2.endAsync()
  })
})
