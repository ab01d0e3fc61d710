import { fileURLToPath } from 'node:url'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { topics, type LocationReport, type TriggersConfigPayload } from '../edge/contracts/index.ts'
import { GatewayApp } from '../gateway/app.ts'
import { connect, tempDir, testLogger, waitFor } from './helpers.ts'
import { PrivateMosquitto } from './support/servers.ts'
import { passwordFile } from './support/tls.ts'
import { gatewayTestConfig } from './support/gateway.ts'

/**
 * The marketing downlink under the central broker's real policy (deploy/central/mosquitto.acl,
 * passwords): the gateway may write a store's triggers config and forward locations to it; the
 * store's edge reads both; another store's edge reads neither.
 */
const ACL = fileURLToPath(new URL('../deploy/central/mosquitto.acl', import.meta.url))

describe('marketing downlink through the central ACL', () => {
  let mosquitto: PrivateMosquitto
  let gateway: GatewayApp
  let cleanup: () => Promise<void>
  let edge: MqttClient
  let other: MqttClient
  let cookie = ''
  const got: Array<{ topic: string; payload: unknown; retain: boolean }> = []
  const otherGot: string[] = []

  beforeAll(async () => {
    const t = await tempDir('se-mkt-acl-')
    cleanup = t.cleanup
    const pw = await passwordFile(`${t.dir}/passwords`, { 'acl-store': 'edge-1', 'acl-other': 'edge-2', gateway: 'gw-secret' })
    mosquitto = await new PrivateMosquitto(`${t.dir}/mosquitto`).start({ passwordFile: pw, aclFile: ACL })
    gateway = await new GatewayApp({
      config: gatewayTestConfig(`${t.dir}/gw`, { id: 'acl', auth: { demoUsers: true }, mqtt: { url: mosquitto.url, username: 'gateway', password: 'gw-secret' } }),
      logger: testLogger(),
      defaultMetrics: false,
    }).start()
    await waitFor(() => gateway.live.client?.connected, 'gateway connected with its password')
    const login = await gateway.http.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'admin', password: 'demo-admin' } })
    cookie = `se_session=${login.cookies.find((c) => c.name === 'se_session')!.value}`
    edge = await connect(mosquitto.url, { username: 'acl-store', password: 'edge-1', protocolVersion: 5, clientId: 'acl-store-edge' })
    other = await connect(mosquitto.url, { username: 'acl-other', password: 'edge-2', protocolVersion: 5, clientId: 'acl-other-edge' })
    edge.on('message', (topic, payload, packet) => got.push({ topic, payload: JSON.parse(payload.toString()), retain: packet.retain }))
    other.on('message', (topic) => otherGot.push(topic))
  })
  afterAll(async () => {
    await edge?.endAsync()
    await other?.endAsync()
    await gateway?.stop()
    await mosquitto?.stop()
    await cleanup?.()
  })

  const api = (method: 'POST' | 'PUT', url: string, payload: unknown) => gateway.http.inject({ method, url, headers: { cookie }, payload: payload as object })

  it('the store’s edge gets its triggers config and the locations forwarded to it; another store’s edge may read neither', async () => {
    await edge.subscribeAsync([topics.storeConfig('acl-store', 'triggers'), topics.storeLocations('acl-store')], { qos: 1 })
    // Mosquitto grants the subscription and filters what it delivers by the ACL.
    await other.subscribeAsync([topics.storeConfig('acl-store', 'triggers'), topics.storeLocations('acl-store'), topics.storeLocations('acl-other')], { qos: 1 })

    expect((await api('POST', '/v1/stores', { id: 'acl-store', name: 'ACL', timezone: 'UTC' })).statusCode).toBe(201)
    const fence = await api('POST', '/v1/stores/acl-store/geofences', { id: 'acl-trade', name: 'Trade area', shape: { kind: 'circle', center: { lat: 31.23, lng: 121.47 }, radiusM: 2000 } })
    expect(fence.statusCode, fence.body).toBe(201)
    await waitFor(() => got.some((g) => g.topic.endsWith('/config/triggers') && (g.payload as TriggersConfigPayload).geofences.some((x) => x.id === 'acl-trade')), 'triggers config at the edge')

    expect((await api('POST', '/v1/members', { ref: 'acl-m', tier: 1 })).statusCode).toBe(201)
    const fix = { lat: 31.24, lng: 121.48, accuracyM: 10, ts: Date.now() }
    const r = await api('POST', '/v1/locations', { v: 1, memberRef: 'acl-m', fixes: [fix] })
    expect(r.json()).toEqual({ forwardedTo: ['acl-store'], rejected: [] })
    const loc = await waitFor(() => got.find((g) => g.topic === topics.storeLocations('acl-store')), 'location at the edge')
    expect(loc.retain).toBe(false)
    expect(loc.payload as LocationReport).toEqual({ v: 1, memberRef: 'acl-m', fixes: [fix] })

    // Then a location for the other store (its own, far away): once that has arrived there, what
    // the gateway sent to acl-store before it would have arrived too, had the ACL let it through.
    expect((await api('POST', '/v1/stores', { id: 'acl-other', name: 'Other', timezone: 'UTC' })).statusCode).toBe(201)
    expect((await api('POST', '/v1/stores/acl-other/geofences', { id: 'other-trade', name: 'Far', shape: { kind: 'circle', center: { lat: 39.9, lng: 116.4 }, radiusM: 2000 } })).statusCode).toBe(201)
    expect((await api('POST', '/v1/locations', { v: 1, memberRef: 'acl-m', fixes: [{ lat: 39.91, lng: 116.41, accuracyM: 10, ts: Date.now() }] })).json().forwardedTo).toEqual(['acl-other'])
    await waitFor(() => otherGot.includes(topics.storeLocations('acl-other')), 'the other store’s own location')
    expect(otherGot).toEqual([topics.storeLocations('acl-other')])
  })
})
