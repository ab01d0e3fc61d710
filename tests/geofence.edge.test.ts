import { createServer, type Server, type Socket } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Aedes } from 'aedes'
import type { MqttClient } from 'mqtt'
import { EdgeApp } from '../edge/app.ts'
import { Value } from '@sinclair/typebox/value'
import { couponKey, CouponRequest as CouponRequestSchema, GeofenceEvent as GeofenceEventSchema, type ConfigAppliedEvent, type CouponRequest, type GeofenceEvent, type LatLng } from '../edge/contracts/index.ts'
import { ibeaconId, MEMBER_BEACON_UUID } from '../edge/sim/model.ts'
import { iBeaconAdv } from '../edge/sim/payloads.ts'
import { connect, counterValue, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'

const STORE = 'store-g'

/** A central broker (bare aedes) recording everything under stores/#, able to hold retained config. */
async function central() {
  const aedes = await Aedes.createBroker()
  const got: Array<{ topic: string; payload: Buffer }> = []
  await new Promise<void>((r) => aedes.subscribe('stores/#', (p, cb) => { got.push({ topic: p.topic, payload: p.payload as Buffer }); cb() }, () => r()))
  const server: Server = createServer(aedes.handle)
  const sockets = new Set<Socket>()
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const publish = (topic: string, payload: unknown, retain: boolean) =>
    new Promise<void>((r) => aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(payload)), qos: 1, retain, dup: false }, () => r()))
  const on = <T>(topic: string) => got.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload.toString()) as T)
  return {
    port: (server.address() as { port: number }).port,
    got,
    on,
    publish,
    stop: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
      await new Promise<void>((r) => aedes.close(() => r()))
    },
  }
}

const CENTER: LatLng = { lat: 31.2304, lng: 121.4737 }
const M_PER_DEG = (6_371_008.8 * Math.PI) / 180
const north = (m: number): LatLng => ({ lat: CENTER.lat + m / M_PER_DEG, lng: CENTER.lng })

const beacon = ibeaconId(MEMBER_BEACON_UUID, 1, 7)
const members = { v: 1, version: 5, members: [{ ref: 'm-7', tier: 1, tags: ['beauty'], beaconIds: [beacon], plates: ['沪A12345'], visits: 2 }] }
const coupon = { templateId: 'tpl-1', title: '10% off', percentOff: 10 }
const triggers = {
  v: 1,
  version: 9,
  geofences: [{ id: 'ta-home', name: 'Trade area', shape: { kind: 'circle', center: CENTER, radiusM: 1500 } }],
  campaigns: [
    { id: 'beauty-arrival', name: 'Beauty arrival', version: 4, stores: [STORE], event: 'enter', zones: ['cosmetics'], audience: { tagsAny: ['beauty'] }, schedule: {}, caps: { perMemberPerDay: 1 }, coupon },
    { id: 'nearby', name: 'Nearby welcome', version: 1, stores: ['*'], event: 'enter', zones: ['ta-home'], sources: ['gps'], audience: {}, schedule: {}, caps: {}, coupon },
    { id: 'shoes', name: 'Shoes', version: 1, stores: ['*'], event: 'enter', zones: ['shoes'], audience: {}, schedule: {}, caps: {}, coupon },
  ],
}

describe('edge geofences and triggers: config from central, a member phone sighted, a coupon request up', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let c: Awaited<ReturnType<typeof central>>
  const apps: EdgeApp[] = []
  const clients: MqttClient[] = []

  beforeEach(async () => {
    ;({ dir, cleanup } = await tempDir())
    c = await central()
  })
  afterEach(async () => {
    for (const cl of clients.splice(0)) cl.end(true)
    for (const a of apps.splice(0)) await a.stop()
    await c.stop().catch(() => undefined)
    await cleanup()
  })

  const start = async (uplink = true, extra: Record<string, unknown> = {}) => {
    const app = await new EdgeApp({
      config: testConfig(dir, {
        store: { id: STORE, timezone: 'Asia/Shanghai' },
        zones: [{ id: 'entrance', name: 'Entrance' }, { id: 'cosmetics', name: 'Cosmetics' }],
        sensors: [{ id: 'scanner-1', zone: 'entrance' }, { id: 'scanner-2', zone: 'cosmetics' }],
        uplink: { url: uplink ? `mqtt://127.0.0.1:${c.port}` : '' },
        geofence: { minDwellS: { indoor: 1 } },
        ...extra,
      }),
      logger: testLogger(),
      defaultMetrics: false,
    }).start()
    apps.push(app)
    return app
  }

  it('retained members + triggers are applied; an iBeacon member phone in cosmetics yields a coupon request at central; a forwarded location yields another', async () => {
    await c.publish(`stores/${STORE}/config/members`, members, true)
    await c.publish(`stores/${STORE}/config/triggers`, triggers, true)
    const edge = await start()
    await waitFor(() => edge.downlink.versions.get('triggers') === 9 && edge.downlink.versions.get('members') === 5, 'config applied at the edge')
    await waitFor(() => c.on<ConfigAppliedEvent>(`stores/${STORE}/events/config`).length === 2, 'config outcomes at central')
    expect(c.on<ConfigAppliedEvent>(`stores/${STORE}/events/config`).map((e) => [e.part, e.version, e.ok]).sort()).toEqual([['members', 5, true], ['triggers', 9, true]])

    // the member's phone, heard strongly by the cosmetics scanner
    const dev = await edge.credentials.provision('scanner-2', 'ble')
    const scanner = await connect(`mqtt://127.0.0.1:${edge.broker.address.mqtt.port}`, { clientId: 'scanner-2', username: dev.username, password: dev.password })
    clients.push(scanner)
    const batch = () => ({ v: 1, ts: Date.now(), sightings: [{ mac: 'd4:00:00:00:00:07', addrType: 'random', rssi: -52, adv: iBeaconAdv(MEMBER_BEACON_UUID, 1, 7, -59) }] })
    await scanner.publishAsync('sensors/scanner-2/ble', JSON.stringify(batch()), { qos: 1 })
    // minimum dwell (1 s here): the phone stays, the engine's tick confirms the enter
    const requests = await waitFor(() => {
      const r = c.on<CouponRequest>(`stores/${STORE}/coupons/requests`)
      return r.length ? r : undefined
    }, 'coupon request at central')
    const enter = await waitFor(() => c.on<GeofenceEvent>(`stores/${STORE}/events/geofence`).find((e) => e.type === 'enter' && e.zone === 'cosmetics'), 'geofence event at central')
    expect(enter).toMatchObject({ subject: 'member:m-7', memberRef: 'm-7', zoneKind: 'indoor', source: 'ble', storeId: STORE })
    expect(requests).toHaveLength(1)
    // the event reaches central ahead of the request it caused
    const at = (topic: string) => c.got.findIndex((m) => m.topic === topic)
    expect(at(`stores/${STORE}/events/geofence`)).toBeLessThan(at(`stores/${STORE}/coupons/requests`))
    expect(requests[0]).toMatchObject({
      key: couponKey(STORE, 'beauty-arrival', 'm-7', enter!.id),
      storeId: STORE,
      campaignId: 'beauty-arrival',
      campaignVersion: 4,
      memberRef: 'm-7',
      event: { id: enter!.id, type: 'enter', zone: 'cosmetics', source: 'ble' },
      holdout: false,
    })
    expect(await counterValue(edge.metrics.registry, 'store_edge_coupon_requests_total', { campaign: 'beauty-arrival' })).toBe(1)

    // central forwards a member-app location inside the trade area
    const now = Date.now()
    await c.publish(`stores/${STORE}/locations`, { v: 1, memberRef: 'm-7', fixes: [{ ...north(400), accuracyM: 15, ts: now }] }, false)
    await waitFor(() => c.on<CouponRequest>(`stores/${STORE}/coupons/requests`).some((r) => r.campaignId === 'nearby'), 'trade-area coupon request')
    const ta = c.on<GeofenceEvent>(`stores/${STORE}/events/geofence`).find((e) => e.zone === 'ta-home')
    expect(ta).toMatchObject({ type: 'enter', zoneKind: 'trade-area', source: 'gps', memberRef: 'm-7' })
    // what goes up is what the contract says
    for (const e of c.on<unknown>(`stores/${STORE}/events/geofence`)) expect([...Value.Errors(GeofenceEventSchema, e)]).toEqual([])
    for (const r of c.on<unknown>(`stores/${STORE}/coupons/requests`)) expect([...Value.Errors(CouponRequestSchema, r)]).toEqual([])

    // the uplink never sends downlink topics back up, even when something publishes them on the edge broker
    const localPublish = (topic: string) =>
      new Promise<void>((r) => edge.broker.aedes.publish({ cmd: 'publish', topic, payload: Buffer.from('{"echo":true}'), qos: 1, retain: false, dup: false }, () => r()))
    await localPublish(`stores/${STORE}/locations`)
    await localPublish(`stores/${STORE}/config/triggers`)
    await localPublish(`stores/${STORE}/events/marker`)
    await waitFor(() => c.got.some((m) => m.topic === `stores/${STORE}/events/marker`), 'marker through the uplink')
    expect(c.got.filter((m) => m.payload.toString().includes('"echo"')).map((m) => m.topic)).toEqual([`stores/${STORE}/events/marker`])
    expect(c.got.filter((m) => m.topic === `stores/${STORE}/locations`)).toHaveLength(1) // central's own
  })

  it('rejects a bad triggers config with every error and keeps the one it runs; restores applied config after a restart without central', async () => {
    const edge = await start()
    await edge.downlink.apply('triggers', Buffer.from(JSON.stringify(triggers)))
    await edge.downlink.apply('members', Buffer.from(JSON.stringify(members)))
    const bad = structuredClone(triggers) as unknown as { version: number; campaigns: Array<Record<string, unknown>> }
    bad.version = 10
    bad.campaigns[0]!.event = 'dwell' // without dwellS
    bad.campaigns[1]!.id = 'beauty-arrival'
    const r = await edge.downlink.apply('triggers', Buffer.from(JSON.stringify(bad)))
    expect(r.ok).toBe(false)
    expect(r.errors).toEqual([
      'STORE_EDGE_ERR_BAD_RULE: /campaigns/1/id: duplicate id "beauty-arrival"',
      'STORE_EDGE_ERR_BAD_RULE: /campaigns/0/dwellS: a dwell trigger needs dwellS > 0',
    ])
    expect(edge.downlink.versions.get('triggers')).toBe(9)
    const schema = await edge.downlink.apply('members', Buffer.from(JSON.stringify({ v: 1, version: 6, members: [{ ref: '' }] })))
    expect(schema.ok).toBe(false)
    expect(schema.errors.some((e) => e.startsWith('STORE_EDGE_ERR_SCHEMA: /members/0/ref'))).toBe(true)
    await edge.stop()
    apps.splice(0)

    // restart with no uplink: the last applied config is restored from disk and used
    const again = await start(false)
    expect(again.downlink.versions.get('triggers')).toBe(9)
    expect(again.downlink.members.byBeacon(beacon)?.ref).toBe('m-7')
    expect(again.triggers!.engine.campaignCount).toBe(3)

    // edge POST /v1/locations: per-fix rejections, 400 when nothing is usable, a coupon request on the bus
    const fired: CouponRequest[] = []
    again.bus.subscriber('test').onCouponRequest((r) => fired.push(r))
    const post = (body: unknown) => fetch(`${again.api.url}/v1/locations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const now = Date.now()
    const ok = await post({ v: 1, memberRef: 'm-7', fixes: [{ ...north(300), accuracyM: 900, ts: now - 2000 }, { ...north(300), accuracyM: 10, ts: now - 1000 }, { ...north(30_000), accuracyM: 10, ts: now }] })
    expect(ok.status).toBe(202)
    expect(await ok.json()).toEqual({
      accepted: 1,
      rejected: [
        { index: 0, code: 'STORE_EDGE_ERR_BAD_LOCATION', reason: 'accuracy', message: 'accuracy is worse than the configured maximum' },
        { index: 2, code: 'STORE_EDGE_ERR_BAD_LOCATION', reason: 'speed', message: 'fix implies an impossible speed from the last accepted fix' },
      ],
    })
    expect(fired.map((r) => [r.campaignId, r.memberRef])).toEqual([['nearby', 'm-7']])
    const none = await post({ v: 1, memberRef: 'm-7', fixes: [{ ...north(300), accuracyM: 10, ts: now + 3_600_000 }] })
    expect(none.status).toBe(400)
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('STORE_EDGE_ERR_BAD_LOCATION')
    const schemaBad = await post({ v: 1, memberRef: 'm-7', fixes: [{ lat: 95, lng: 0, accuracyM: 10, ts: now }] })
    expect(schemaBad.status).toBe(400)
    expect(((await schemaBad.json()) as { error: { code: string } }).error.code).toBe('STORE_EDGE_ERR_VALIDATION')
    expect(await counterValue(again.metrics.registry, 'store_edge_location_fixes_rejected_total', { reason: 'accuracy' })).toBe(1)
  })

  it('a member’s car: an arrival coupon at the entry gate, a departure coupon at the exit only after their phone reached cosmetics', async () => {
    const edge = await start(false, { parking: { enabled: true, resetAt: '' } })
    const twoMembers = { v: 1, version: 1, members: [...members.members, { ref: 'm-8', tier: 1, tags: [], beaconIds: [], plates: ['沪B54321'], visits: 0 }] }
    const carpark = {
      v: 1,
      version: 1,
      geofences: [],
      campaigns: [
        { id: 'park-arrival', name: 'Arrival', version: 1, stores: ['*'], event: 'enter', zones: ['carpark'], sources: ['plate'], audience: {}, schedule: {}, caps: {}, coupon },
        { id: 'park-departure', name: 'Departure', version: 2, stores: ['*'], event: 'exit', zones: ['carpark'], visitZones: ['cosmetics'], audience: {}, schedule: {}, caps: {}, coupon },
      ],
    }
    expect((await edge.downlink.apply('members', Buffer.from(JSON.stringify(twoMembers)))).ok).toBe(true)
    expect((await edge.downlink.apply('triggers', Buffer.from(JSON.stringify(carpark)))).ok).toBe(true)
    const fired: CouponRequest[] = []
    edge.bus.subscriber('test').onCouponRequest((r) => fired.push(r))
    const events: GeofenceEvent[] = []
    edge.bus.subscriber('test').onGeofence((e) => events.push(e))

    const port = edge.broker.address.mqtt.port
    const g = await edge.credentials.provision('gate-north', 'parking')
    const gate = await connect(`mqtt://127.0.0.1:${port}`, { clientId: 'gate-north', username: g.username, password: g.password })
    const s = await edge.credentials.provision('scanner-2', 'ble')
    const scanner = await connect(`mqtt://127.0.0.1:${port}`, { clientId: 'scanner-2', username: s.username, password: s.password })
    clients.push(gate, scanner)
    const gateEvent = (id: string, type: 'entry' | 'exit', plate: string) =>
      gate.publishAsync('sensors/gate-north/parking', JSON.stringify({ v: 1, events: [{ id, type, plate, gate: `north-${type}`, ts: Date.now() }] }), { qos: 1 })

    await gateEvent('e-1', 'entry', '沪A12345') // m-7
    await gateEvent('e-2', 'entry', '沪B54321') // m-8, who will not go to cosmetics
    await waitFor(() => fired.filter((r) => r.campaignId === 'park-arrival').length === 2, 'two arrival coupons')
    expect(fired.map((r) => [r.campaignId, r.memberRef, r.event.source]).sort()).toEqual([['park-arrival', 'm-7', 'plate'], ['park-arrival', 'm-8', 'plate']])

    await scanner.publishAsync('sensors/scanner-2/ble', JSON.stringify({ v: 1, ts: Date.now(), sightings: [{ mac: 'd4:00:00:00:00:07', addrType: 'random', rssi: -52, adv: iBeaconAdv(MEMBER_BEACON_UUID, 1, 7, -59) }] }), { qos: 1 })
    await waitFor(() => events.some((e) => e.type === 'enter' && e.zone === 'cosmetics' && e.memberRef === 'm-7'), 'm-7 reached cosmetics')

    await gateEvent('x-1', 'exit', '沪A12345')
    await gateEvent('x-2', 'exit', '沪B54321')
    await waitFor(() => events.filter((e) => e.type === 'exit' && e.zone === 'carpark').length === 2, 'both cars left')
    const departures = fired.filter((r) => r.campaignId === 'park-departure')
    expect(departures.map((r) => r.memberRef)).toEqual(['m-7'])
    const exit = events.find((e) => e.type === 'exit' && e.memberRef === 'm-7' && e.zone === 'carpark')!
    expect(exit).toMatchObject({ explicit: true, source: 'plate', zoneKind: 'carpark' })
    expect(departures[0]!.key).toBe(couponKey(STORE, 'park-departure', 'm-7', exit.id))
    expect(await counterValue(edge.metrics.registry, 'store_edge_triggers_suppressed_total', { reason: 'visit-zones' })).toBe(1)
  })
})
