import { randomBytes } from 'node:crypto'
import { createConnection } from 'node:net'
import { Value } from '@sinclair/typebox/value'
import { connectAsync, type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BleBatch, BleSightingItem, DeviceStatus, parseSensorTopic, WifiBatch, WifiProbeItem } from '../contracts/index.ts'
import { demoStore, withSensorSuffix } from './demo-store.ts'
import { espresenseStatusTopic } from './payloads.ts'
import { Simulator } from './simulator.ts'

/**
 * Integration: the simulator against the machine's Mosquitto (127.0.0.1:1883, anonymous allowed).
 * Other runs share that broker and our topics are fixed, so this run's sensors carry a random
 * suffix and only their messages are looked at. Retained statuses and persistent sessions are
 * cleaned up afterwards.
 */

const BROKER = 'mqtt://127.0.0.1:1883'
const T0 = Date.UTC(2025, 4, 10, 4, 0, 0)

const reachable = await new Promise<boolean>((resolve) => {
  const s = createConnection({ host: '127.0.0.1', port: 1883 })
  s.once('connect', () => {
    s.destroy()
    resolve(true)
  })
  s.once('error', () => resolve(false))
  s.setTimeout(1000, () => {
    s.destroy()
    resolve(false)
  })
})

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The retained message on each topic, read by a fresh subscriber. */
async function retained(topicList: string[], timeoutMs = 3000): Promise<Map<string, string>> {
  const c = await connectAsync(BROKER, { clientId: `sim-test-ret-${randomBytes(4).toString('hex')}`, clean: true })
  const got = new Map<string, string>()
  c.on('message', (topic, payload, packet) => {
    if (packet.retain) got.set(topic, payload.toString())
  })
  await c.subscribeAsync(topicList, { qos: 1 })
  await until(() => got.size >= topicList.length, timeoutMs).catch(() => undefined)
  await c.endAsync()
  return got
}

describe.skipIf(!reachable)('Simulator against Mosquitto', () => {
  const suffix = randomBytes(3).toString('hex')
  const layout = withSensorSuffix(demoStore, suffix)
  const ids = layout.sensors.map((s) => s.id)
  const statusTopicOf = (id: string) => (id.startsWith('esp-') ? espresenseStatusTopic(id) : `sensors/${id}/status`)
  const credentials = Object.fromEntries(ids.map((id) => [id, { username: id, password: `pw-${id}` }]))
  const messages: Array<{ topic: string; payload: string }> = []
  let sub: MqttClient

  beforeAll(async () => {
    sub = await connectAsync(BROKER, { clientId: `sim-test-sub-${suffix}`, clean: true })
    sub.on('message', (topic, payload) => {
      if (topic.includes(suffix)) messages.push({ topic, payload: payload.toString() })
    })
    await sub.subscribeAsync(['sensors/+/ble', 'sensors/+/wifi', 'espresense/devices/+/+'], { qos: 1 })
  })

  afterAll(async () => {
    await sub?.endAsync()
    // Leave the shared broker as we found it: no retained statuses, no persistent sessions.
    const c = await connectAsync(BROKER, { clientId: `sim-test-clean-${suffix}`, clean: true })
    for (const id of ids) await c.publishAsync(statusTopicOf(id), '', { qos: 1, retain: true })
    await c.endAsync()
    for (const id of ids) {
      const s = await connectAsync(BROKER, { clientId: id, clean: true, reconnectPeriod: 0 })
      await s.endAsync()
    }
  })

  it('publishes every sensor’s batches, valid per the contracts, with a retained online status', async () => {
    const sim = new Simulator({
      brokerUrl: BROKER,
      credentials,
      store: layout,
      seed: 3,
      clock: { now: () => T0 },
      startHour: 12,
      rateMultiplier: 3,
      warmupMs: 20 * 60_000,
      manual: true,
    })
    const steps: number[] = []
    sim.onStep((info) => steps.push(info.now))
    await sim.start()
    try {
      const status = await retained(ids.map(statusTopicOf))
      for (const id of ids) expect(status.get(statusTopicOf(id)), id).toBe('online')

      await sim.runFor(30_000)
      expect(steps).toHaveLength(30)
      expect(sim.now).toBe(T0 + 30_000)
      const p = sim.published
      expect(p.ble).toBe(5 * 30)
      expect(p.wifi).toBe(2 * 6)
      expect(p.espresense).toBeGreaterThan(0)
      expect(p.errors).toBe(0)
      expect(p.dropped).toBe(0)
      await until(() => messages.length >= p.ble + p.wifi + p.espresense)

      let sightings = 0
      let probes = 0
      for (const m of messages) {
        const parsed = parseSensorTopic(m.topic)
        expect(parsed, m.topic).toBeDefined()
        expect(ids).toContain(parsed!.deviceId)
        const body = JSON.parse(m.payload)
        if (parsed!.kind === 'ble') {
          expect(Value.Check(BleBatch, body)).toBe(true)
          expect(body.ts).toBeGreaterThan(T0)
          for (const s of body.sightings) expect(Value.Check(BleSightingItem, s)).toBe(true)
          sightings += body.sightings.length
        } else if (parsed!.kind === 'wifi') {
          expect(Value.Check(WifiBatch, body)).toBe(true)
          for (const pr of body.probes) expect(Value.Check(WifiProbeItem, pr)).toBe(true)
          probes += body.probes.length
        } else if (parsed!.kind === 'espresense') {
          expect(parsed!.deviceId).toBe(`esp-cafe-${suffix}`)
          expect(body.id).toBe(parsed!.beaconId)
          expect(body.id).toMatch(/^iBeacon:[0-9a-f-]{36}-\d+-\d+$/)
          expect(typeof body.rssi).toBe('number')
          expect(typeof body.distance).toBe('number')
        }
      }
      expect(sightings).toBe(p.bleSightings)
      expect(probes).toBe(p.wifiProbes)
      expect(sightings).toBeGreaterThan(100)
      expect(probes).toBeGreaterThan(5)

      // Ground truth is there to compare with.
      const truth = sim.truth()
      expect(truth.inStore).toBeGreaterThan(10)
      expect(truth.ts).toBe(T0 + 30_000)
      expect(sim.summary().from).toBe(T0)
    } finally {
      await sim.stop()
    }
    const after = await retained(ids.map(statusTopicOf))
    for (const id of ids) expect(after.get(statusTopicOf(id)), id).toBe('offline')
  })

  it('a sensor that drops off without DISCONNECT reads offline through its last will, then online again', async () => {
    const sim = new Simulator({ brokerUrl: BROKER, credentials, store: layout, seed: 4, clock: { now: () => T0 }, startHour: 12, manual: true })
    await sim.start()
    try {
      const victim = `ble-kids-${suffix}`
      const topic = `sensors/${victim}/status`
      expect((await retained([topic])).get(topic)).toBe('online')
      sim.failSensor(victim)
      let status: string | undefined
      for (let i = 0; i < 20 && status !== 'offline'; i++) status = (await retained([topic], 500)).get(topic)
      expect(status).toBe('offline')
      expect(Value.Check(DeviceStatus, status)).toBe(true)

      const dropped = sim.published.dropped
      await sim.runFor(3000)
      expect(sim.published.dropped).toBe(dropped + 3) // its three batches; the others went out
      expect(sim.published.errors).toBe(0)

      await sim.restoreSensor(victim)
      expect((await retained([topic])).get(topic)).toBe('online')
    } finally {
      await sim.stop()
    }
  })

  it('ticks on its own, speed times faster than the clock', async () => {
    const sim = new Simulator({
      brokerUrl: BROKER,
      credentials,
      store: layout,
      seed: 5,
      clock: { now: () => Date.now() },
      speed: 20,
      startHour: 15,
    })
    const start = Date.now()
    await sim.start()
    const simStart = sim.now
    await new Promise((r) => setTimeout(r, 1000))
    await sim.stop()
    const simulated = sim.now - simStart
    expect(simulated).toBeGreaterThanOrEqual(10_000)
    expect(simulated).toBeLessThanOrEqual((Date.now() - start) * 20 + 1000)
    expect(sim.published.ble).toBeGreaterThanOrEqual(5 * 10)
    // Simulated time is what the edge under test must use.
    expect(sim.clock.now()).toBe(sim.now)
  })
})

describe('Simulator without a broker', () => {
  it('keeps simulating when the broker is unreachable, dropping what it cannot send', async () => {
    const sim = new Simulator({
      brokerUrl: 'mqtt://127.0.0.1:9', // discard port: nothing listens
      credentials: {},
      seed: 1,
      clock: { now: () => T0 },
      startHour: 12,
      rateMultiplier: 3,
      manual: true,
      connectTimeoutMs: 300,
      mqtt: { reconnectPeriod: 200, connectTimeout: 500 },
    })
    await sim.start()
    await sim.runFor(10_000)
    expect(sim.now).toBe(T0 + 10_000)
    expect(sim.published.ble).toBe(0)
    expect(sim.published.dropped).toBeGreaterThanOrEqual(5 * 10 + 2 * 2)
    expect(sim.truth().ts).toBe(T0 + 10_000)
    await sim.stop()
  })
})
