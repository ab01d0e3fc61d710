import type { MqttClient } from 'mqtt'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { EdgeApp } from '../edge/app.ts'
import type { MembersConfigPayload, MinuteAggregate, ParkingEvent } from '../edge/contracts/index.ts'
import type { BusParkingEvent } from '../edge/parking/car-park.ts'
import { demoStore } from '../edge/sim/demo-store.ts'
import { Simulator } from '../edge/sim/simulator.ts'
import { connect, counterValue, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'

/**
 * The car park at a real edge: a provisioned gate controller publishing GateBatches over MQTT to
 * the edge's broker, a parking system posting to the webhook, and a service client watching what
 * the edge publishes (`stores/{id}/events/parking`, `stores/{id}/agg`), as the uplink would.
 */
const STORE = 'park-store'
const SECRET = 'parking-webhook-secret'
const members: MembersConfigPayload = {
  v: 1,
  version: 4,
  members: [
    { ref: 'm-7', tier: 2, tags: ['beauty'], beaconIds: [], plates: ['沪A12345'], visits: 1 },
    { ref: 'm-9', tier: 1, tags: [], beaconIds: [], plates: ['沪AD10001'], visits: 0 },
  ],
}

describe('car park at the edge', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let edge: EdgeApp | undefined
  let sim: Simulator | undefined
  const clients: MqttClient[] = []

  beforeEach(async () => ({ dir, cleanup } = await tempDir()))
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end(true)
    await sim?.stop()
    sim = undefined
    await edge?.stop()
    edge = undefined
    await cleanup()
  })

  /** A service client (what the uplink is) collecting everything the edge publishes under stores/{id}/. */
  async function watch(app: EdgeApp) {
    const svc = await app.credentials.provision('watcher', 'service')
    const c = await connect(`mqtt://127.0.0.1:${app.broker.address.mqtt.port}`, { clientId: 'watcher', username: svc.username, password: svc.password })
    clients.push(c)
    const parking: ParkingEvent[] = []
    const aggs: MinuteAggregate[] = []
    const raw: string[] = []
    c.on('message', (topic, payload) => {
      raw.push(payload.toString())
      if (topic === `stores/${STORE}/events/parking`) parking.push(JSON.parse(payload.toString()))
      if (topic === `stores/${STORE}/agg`) aggs.push(JSON.parse(payload.toString()))
    })
    await c.subscribeAsync([`stores/${STORE}/events/parking`, `stores/${STORE}/agg`], { qos: 1 })
    return { parking, aggs, raw }
  }

  it('gate events over MQTT and the webhook: members by registered plate, everyone else hashed, figures in the minute aggregate', async () => {
    edge = await new EdgeApp({
      config: testConfig(dir, {
        store: { id: STORE, timezone: 'Asia/Shanghai' },
        aggregates: { intervalMs: 1000 },
        // no daily reset: the test must not depend on when it runs (the reset has its own unit test)
        parking: { enabled: true, resetAt: '', webhook: { enabled: true, secret: SECRET } },
      }),
      logger: testLogger(),
      defaultMetrics: false,
    }).start()
    const app = edge
    expect((await app.downlink.apply('members', Buffer.from(JSON.stringify(members)))).ok).toBe(true)
    const seen = await watch(app)
    const onBus: BusParkingEvent[] = []
    app.bus.subscriber('test').onParking((e) => onBus.push(e))

    const dev = await app.credentials.provision('gate-north', 'parking')
    const gate = await connect(`mqtt://127.0.0.1:${app.broker.address.mqtt.port}`, { clientId: 'gate-north', username: dev.username, password: dev.password })
    clients.push(gate)
    const t = Date.now() - 5000
    const batch = JSON.stringify({
      v: 1,
      events: [
        { id: 'n-1', type: 'entry', plate: '沪A·I2345', gate: 'north-in', ts: t, confidence: 0.97 }, // member m-7, I read for 1
        { id: 'n-2', type: 'entry', plate: '苏E88888', gate: 'north-in', ts: t + 10 },
        { id: 'n-3', type: 'entry', plate: '沪A1234', gate: 'north-in', ts: t + 20 }, // 6 characters: unreadable
        { id: 'n-4', type: 'entry', plate: '苏E77777', gate: 'north-in', ts: 1 }, // far in the past
      ],
    })
    await gate.publishAsync('sensors/gate-north/parking', batch, { qos: 1 })
    await gate.publishAsync('sensors/gate-north/parking', batch, { qos: 1 }) // a repeated delivery
    await gate.publishAsync('sensors/gate-north/parking', JSON.stringify({ v: 1, events: [{ id: 'n-5', type: 'exit', plate: '苏E88888', gate: 'north-out', ts: t + 1500 }] }), { qos: 1 })

    // the parking system's webhook: the member leaves; one item is malformed
    const post = (body: unknown, secret = SECRET) =>
      fetch(`${app.api.url}/v1/parking/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-parking-secret': secret }, body: JSON.stringify(body) })
    expect((await post({ v: 1, events: [] }, 'wrong')).status).toBe(403)
    const res = await post({ v: 1, events: [{ id: 'w-1', type: 'exit', plate: '沪A12345', gate: 'south-out', ts: t + 3000 }, { type: 'exit', gate: 'south-out', ts: t }] })
    expect(res.status).toBe(207)
    expect(await res.json()).toEqual({ accepted: 1, rejected: [{ index: 1, code: 'STORE_EDGE_ERR_ITEM_SCHEMA', reason: '/events/1/plate: expected a string, got nothing' }] })
    // the same webhook post again (a retry): nothing new
    await post({ v: 1, events: [{ id: 'w-1', type: 'exit', plate: '沪A12345', gate: 'south-out', ts: t + 3000 }] })

    await waitFor(() => seen.parking.length >= 5, 'five parking events published')
    const byTs = [...seen.parking].sort((a, b) => a.ts - b.ts)
    expect(byTs.map((e) => [e.type, e.gate, e.memberRef ?? null, e.stayS ?? null])).toEqual([
      ['entry', 'north-in', 'm-7', null],
      ['entry', 'north-in', null, null],
      ['entry', 'north-in', null, null],
      ['exit', 'north-out', null, 1.49],
      ['exit', 'south-out', 'm-7', 3],
    ])
    expect(byTs[0]!.subject).toBe('member:m-7')
    expect(byTs[4]!.subject).toBe('member:m-7')
    expect(byTs[1]!.subject).toMatch(/^h:[0-9a-f]{20}$/)
    expect(byTs[3]!.subject).toBe(byTs[1]!.subject) // the same car, matched
    for (const e of seen.parking) expect(e.storeId).toBe(STORE)
    // nothing of a non-member's plate leaves the edge
    const published = seen.raw.join('\n')
    for (const leak of ['88888', '苏E', '1234"', '77777']) expect(published).not.toContain(leak)
    expect(onBus.map((e) => e.plateValid).sort()).toEqual([false, true, true, true, true])

    // figures in the minute (here: second) aggregates
    const total = () => {
      const withParking = seen.aggs.filter((a) => a.parking)
      return {
        arrivals: withParking.reduce((s, a) => s + a.parking!.arrivals, 0),
        departures: withParking.reduce((s, a) => s + a.parking!.departures, 0),
        last: withParking.at(-1)?.parking?.occupancy,
      }
    }
    await waitFor(() => total().arrivals === 3 && total().departures === 2 && seen.aggs.at(-1)?.parking?.occupancy === 1 && total(), 'parking figures in the aggregates')
    expect(app.parking!.occupancy).toBe(1)

    // counted: accepted, duplicates, and rejections by reason
    const m = app.metrics.registry
    expect(await counterValue(m, 'store_edge_parking_gate_events_total', { result: 'accepted' })).toBe(5)
    expect(await counterValue(m, 'store_edge_parking_gate_events_total', { result: 'duplicate' })).toBe(4)
    expect(await counterValue(m, 'store_edge_ingest_rejected_total', { device: 'gate-north', kind: 'parking', code: 'STORE_EDGE_ERR_BAD_PLATE' })).toBe(2)
    expect(await counterValue(m, 'store_edge_ingest_rejected_total', { device: 'gate-north', kind: 'parking', code: 'STORE_EDGE_ERR_TIMESTAMP' })).toBe(2)
    expect(await counterValue(m, 'store_edge_ingest_rejected_total', { device: 'parking-system', kind: 'parking', code: 'STORE_EDGE_ERR_WEBHOOK_SECRET' })).toBe(1)
  })

  it('without a car park, gate events are refused as an unknown sensor and aggregates carry no parking', async () => {
    edge = await new EdgeApp({ config: testConfig(dir, { store: { id: STORE }, aggregates: { intervalMs: 1000 } }), logger: testLogger(), defaultMetrics: false }).start()
    const app = edge
    const seen = await watch(app)
    const dev = await app.credentials.provision('gate-north', 'parking')
    const gate = await connect(`mqtt://127.0.0.1:${app.broker.address.mqtt.port}`, { clientId: 'gate-north', username: dev.username, password: dev.password })
    clients.push(gate)
    await gate.publishAsync('sensors/gate-north/parking', JSON.stringify({ v: 1, events: [{ type: 'entry', plate: '沪A12345', gate: 'g', ts: Date.now() }] }), { qos: 1 })
    expect(await counterValue(app.metrics.registry, 'store_edge_ingest_rejected_total', { kind: 'parking', code: 'STORE_EDGE_ERR_UNKNOWN_SENSOR' })).toBe(1)
    expect((await fetch(`${app.api.url}/v1/parking/events`, { method: 'POST', body: '{}' })).status).toBe(404)
    await waitFor(() => seen.aggs.length >= 2, 'two aggregates')
    expect(seen.aggs.every((a) => a.parking === undefined)).toBe(true)
    expect(seen.parking).toEqual([])
  })

  it('the simulator’s gate controller: what the edge counts equals the simulated car park', async () => {
    let simRef: Simulator | undefined
    const clock = { now: () => simRef?.now ?? Date.now() }
    edge = await new EdgeApp({
      // the simulated day runs at 11:00 whatever the real time: no daily reset in between
      config: testConfig(dir, { store: { id: STORE, timezone: 'Asia/Shanghai' }, parking: { enabled: true, resetAt: '' } }),
      logger: testLogger(),
      clock,
      defaultMetrics: false,
    }).start()
    const app = edge
    const gateId = demoStore.parking!.gates[0]!.id
    const dev = await app.credentials.provision(gateId, 'parking')
    // Only the car park: the store's radio sensors are not needed here, the shoppers still walk.
    sim = new Simulator({
      brokerUrl: `mqtt://127.0.0.1:${app.broker.address.mqtt.port}`,
      credentials: { [gateId]: { username: dev.username, password: dev.password } },
      store: { ...demoStore, sensors: [] },
      clock: { now: () => Date.now() },
      seed: 7,
      manual: true,
      startHour: 11,
      rateMultiplier: 3,
    })
    simRef = sim
    await sim.start()
    app.downlink.apply('members', Buffer.from(JSON.stringify({ v: 1, version: 1, members: sim.members() })))
    const events: BusParkingEvent[] = []
    app.bus.subscriber('test').onParking((e) => events.push(e))

    await sim.runFor(100 * 60_000)
    const s = sim.summary()
    expect(sim.published.errors).toBe(0)
    expect(s.carArrivals).toBeGreaterThan(30)
    expect(s.carDepartures).toBeGreaterThan(10)
    // every gate event arrived and was counted exactly
    expect(events.filter((e) => e.type === 'entry')).toHaveLength(s.carArrivals)
    expect(events.filter((e) => e.type === 'exit')).toHaveLength(s.carDepartures)
    expect(sim.published.gateEvents).toBe(s.carArrivals + s.carDepartures)
    expect(app.parking!.occupancy).toBe(sim.truth().carsInside)
    // the car park opened empty: every exit matches its entry, even when the reader misread an O or I
    expect(events.every((e) => e.plateValid)).toBe(true)
    expect(events.filter((e) => e.type === 'exit' && e.stayS !== undefined)).toHaveLength(s.carDepartures)
    // members' cars are recognised by their registered plates
    expect(events.filter((e) => e.type === 'entry' && e.memberRef)).toHaveLength(s.memberCarArrivals)
    expect(s.memberCarArrivals).toBeGreaterThan(0)
    const stays = events.filter((e) => e.stayS !== undefined).map((e) => e.stayS!)
    expect(Math.abs(stays.reduce((a, b) => a + b, 0) / stays.length - s.meanCarStayMs / 1000)).toBeLessThan(1)
  })
})
