import { createConnection } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import mqttPacket from 'mqtt-packet'
import type { MqttClient } from 'mqtt'
import { EdgeApp } from '../edge/app.ts'
import { ErrorCodes, type DecodeResult } from '../edge/contracts/index.ts'
import { connect, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'

/**
 * Fuzzing the running edge over real connections: garbage and mutated MQTT on raw sockets at the
 * broker, and thousands of random and mutated payloads published by an authenticated device on
 * every sensor topic. The edge must not crash, must account for every message (sightings or a
 * rejection with a catalogue code and a reason), and must keep serving a well-behaved client.
 */
describe('fuzzing the edge over MQTT', () => {
  let edge: EdgeApp
  let cleanup: () => Promise<void>
  let port: number
  let dev: { username: string; password: string }
  const results: Array<{ topic: string; payload: Buffer; result: DecodeResult }> = []

  beforeAll(async () => {
    const t = await tempDir()
    cleanup = t.cleanup
    edge = await new EdgeApp({
      config: testConfig(t.dir, {
        zones: [{ id: 'z', name: 'Z' }],
        sensors: [{ id: 'scanner-1', zone: 'z' }],
        // mutated CONNECTs fail logins by the hundred: no login backoff here (tested in broker.test.ts)
        broker: { host: '127.0.0.1', port: 0, wsPort: -1, publishRatePerSec: 100_000, publishBurst: 100_000, authBanMs: 0 },
      }),
      logger: testLogger(),
      defaultMetrics: false,
    }).start()
    port = edge.broker.address.mqtt.port
    dev = await edge.credentials.provision('scanner-1', 'ble')
    const handle = edge.pipeline.handle.bind(edge.pipeline)
    edge.pipeline.handle = (topic, payload, at) => {
      const result = handle(topic, payload, at)
      results.push({ topic, payload, result })
      return result
    }
  })
  afterAll(async () => {
    await edge?.stop()
    await cleanup?.()
  })

  const healthy = async () => {
    const c = await connect(`mqtt://127.0.0.1:${port}`, { clientId: 'scanner-1', username: dev.username, password: dev.password })
    const before = results.length
    await c.publishAsync('sensors/scanner-1/ble', JSON.stringify({ v: 1, ts: Date.now(), sightings: [{ mac: '00:1a:7d:da:71:13', addrType: 'public', rssi: -60 }] }), { qos: 1 })
    await c.endAsync()
    expect(results.length).toBe(before + 1)
    expect(results.at(-1)!.result.sightings).toHaveLength(1)
  }

  it('survives garbage and mutated MQTT packets on raw sockets', async () => {
    const connectPkt = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'scanner-1', keepalive: 10, username: dev.username, password: Buffer.from(dev.password) })
    const publishPkt = mqttPacket.generate({ cmd: 'publish', topic: 'sensors/scanner-1/ble', payload: Buffer.from('{"v":1}'), qos: 1, messageId: 7, retain: false, dup: false })
    const mutated = (base: Buffer) =>
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }).map((muts) => {
        const b = Buffer.from(base)
        for (const [i, v] of muts) b[i % b.length] = v
        return b
      })
    const send = (bytes: Buffer) =>
      new Promise<void>((resolve) => {
        const s = createConnection(port, '127.0.0.1')
        s.on('error', () => resolve())
        s.on('close', () => resolve())
        s.on('connect', () => {
          s.write(bytes)
          setTimeout(() => s.destroy(), 5)
        })
        s.resume()
      })
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)),
          mutated(connectPkt),
          mutated(Buffer.concat([connectPkt, publishPkt])),
        ),
        async (bytes) => {
          await send(bytes)
        },
      ),
      { numRuns: 1500 },
    )
    await healthy()
  })

  it('accounts for thousands of random and mutated payloads on every sensor topic', async () => {
    const c: MqttClient = await connect(`mqtt://127.0.0.1:${port}`, { clientId: 'scanner-1', username: dev.username, password: dev.password })
    const now = Date.now()
    const validBle = { v: 1, ts: now, sightings: [{ mac: '00:1a:7d:da:71:13', addrType: 'public', rssi: -60, adv: '0201061aff4c000215e2c56db5dffb48d2b060d0f5a71096e000010002c5' }] }
    const validWifi = { v: 1, ts: now, probes: [{ mac: 'da:a1:19:00:00:01', rssi: -70, seq: 5 }] }
    const jsonValue = fc.jsonValue({ maxDepth: 3 })
    const mutateJson = (base: object) =>
      fc.tuple(fc.string({ maxLength: 40 }), jsonValue, fc.constantFrom('v', 'ts', 'sightings', 'probes', 'mac', 'rssi', 'adv', 'addrType')).map(([_, val, key]) => {
        const copy = structuredClone(base) as Record<string, unknown>
        const list = (copy.sightings ?? copy.probes) as Array<Record<string, unknown>>
        if (key in copy) copy[key] = val
        else list[0]![key] = val
        return JSON.stringify(copy)
      })
    const topicArb = fc.constantFrom('sensors/scanner-1/ble', 'sensors/scanner-1/wifi', 'sensors/scanner-1/status')
    const payloadArb = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
      jsonValue.map((j) => JSON.stringify(j)),
      mutateJson(validBle),
      mutateJson(validWifi),
      fc.string({ maxLength: 100 }),
    )
    const samples = fc.sample(fc.tuple(topicArb, payloadArb), { numRuns: 6000, seed: 20261123 })
    const before = results.length
    for (let i = 0; i < samples.length; i++) {
      const [topic, payload] = samples[i]!
      c.publish(topic, payload, { qos: i % 2 ? 1 : 0 })
      if (i % 200 === 0) await new Promise((r) => setImmediate(r))
    }
    await c.publishAsync('sensors/scanner-1/status', 'online', { qos: 1 })
    await waitFor(() => results.length >= before + samples.length + 1, 'every fuzzed message to be handled')
    await c.endAsync()
    const handled = results.slice(before)
    expect(handled).toHaveLength(samples.length + 1)
    let rejected = 0
    let accepted = 0
    for (const { topic, payload, result } of handled) {
      for (const r of result.rejects) {
        expect(Object.keys(ErrorCodes)).toContain(r.code)
        expect(r.reason.length).toBeGreaterThan(0)
      }
      const isStatus = topic.endsWith('/status')
      const text = payload.toString()
      const emptyBatch = /"(sightings|probes)":\[\]/.test(text) && result.rejects.length === 0
      if (isStatus) expect(['online', 'offline'].includes(text.trim()) || result.rejects.length > 0).toBe(true)
      else if (!emptyBatch) expect(result.sightings.length + result.rejects.length, text.slice(0, 200)).toBeGreaterThan(0)
      if (result.rejects.length) rejected++
      if (result.sightings.length) accepted++
      // no raw MAC in anything the decoders produced
      expect(JSON.stringify(result)).not.toMatch(/00:1a:7d:da:71:13|da:a1:19:00:00:01/i)
    }
    expect(rejected).toBeGreaterThan(1000)
    expect(accepted).toBeGreaterThan(100)
    await healthy()
  })
})
