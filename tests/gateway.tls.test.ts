import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { topics } from '../edge/contracts/index.ts'
import { EdgeApp } from '../edge/app.ts'
import { GatewayApp } from '../gateway/app.ts'
import { tempDir, testConfig, testLogger, waitFor } from './helpers.ts'
import { PrivateMosquitto } from './support/servers.ts'
import { makeCertificates, passwordFile } from './support/tls.ts'
import { gatewayTestConfig, syntheticAggregate } from './support/gateway.ts'

/**
 * The uplink as a chain deploys it: TLS to the central Mosquitto, a password per edge and for the
 * gateways, and deploy/central/mosquitto.acl keeping each edge to its own store's topics.
 */
const ACL = fileURLToPath(new URL('../deploy/central/mosquitto.acl', import.meta.url))

describe('uplink and gateway over TLS with credentials and the central ACL', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let mosquitto: PrivateMosquitto
  let certs: { ca: string; cert: string; key: string }
  let gateway: GatewayApp
  const edges: EdgeApp[] = []

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('store-edge-tls-'))
    certs = await makeCertificates(dir)
    const pw = await passwordFile(`${dir}/passwords`, { 'tls-store': 'edge-secret-1', 'other-store': 'edge-secret-2', gateway: 'gw-secret' })
    mosquitto = await new PrivateMosquitto(`${dir}/mosquitto`).start({ tls: certs, passwordFile: pw, aclFile: ACL })
    gateway = await new GatewayApp({
      config: gatewayTestConfig(`${dir}/gw`, { id: 'tls', mqtt: { url: `mqtts://127.0.0.1:${mosquitto.port}`, username: 'gateway', password: 'gw-secret', caFile: certs.ca } }),
      logger: testLogger(),
      defaultMetrics: false,
    }).start()
    for (const [store, password] of [['tls-store', 'edge-secret-1'], ['other-store', 'edge-secret-2']] as const) {
      edges.push(
        await new EdgeApp({
          config: testConfig(`${dir}/${store}`, { store: { id: store, timezone: 'UTC' }, uplink: { url: `mqtts://127.0.0.1:${mosquitto.port}`, username: store, password, caFile: certs.ca } }),
          logger: testLogger(),
          defaultMetrics: false,
        }).start(),
      )
    }
  })

  afterAll(async () => {
    for (const e of edges) await e.stop()
    await gateway?.stop()
    await mosquitto?.stop()
    await cleanup()
  })

  it('carries an edge’s aggregates to the gateway over TLS with passwords', async () => {
    await waitFor(() => edges.every((e) => e.uplink!.connected) && gateway.uplink.connected, 'TLS connections up')
    const agg = syntheticAggregate('tls-store', Math.floor(Date.now() / 60_000) * 60_000, ['entrance'])
    await edges[0]!.publish(topics.storeAgg('tls-store'), agg)
    await waitFor(() => gateway.hub.window.get('tls-store')?.points.at(-1)?.ts === agg.minute, 'aggregate at the gateway')
  })

  it('keeps an edge to its own store: what it publishes for another store never arrives', async () => {
    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000
    const forged = syntheticAggregate('tls-store', minute, ['forged'])
    const own = syntheticAggregate('other-store', minute, ['own'])
    // An edge's uplink forwards only its own stores/{id}/…, so forge at the broker with its credentials.
    const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${mosquitto.port}`, { username: 'other-store', password: 'edge-secret-2', ca: readFileSync(certs.ca), clientId: 'forger', reconnectPeriod: 0, connectTimeout: 5000 })
    // Mosquitto 2.0 refuses the publish (over TLS it also drops the connection): either ends this wait.
    await Promise.race([new Promise<void>((r) => c.once('close', () => r())), new Promise((r) => c.publish(topics.storeAgg('tls-store'), JSON.stringify(forged), { qos: 1 }, r))])
    c.end(true)
    // Published after the refusal: once it has arrived, the forged one would have arrived before it.
    await edges[1]!.publish(topics.storeAgg('other-store'), own)
    await waitFor(() => gateway.hub.window.get('other-store')?.points.some((p) => p.ts === minute), 'the edge’s own aggregate')
    expect(gateway.hub.window.get('tls-store')?.points.some((p) => p.ts === minute)).toBe(false)
  })

  it('refuses a wrong password and a server it cannot verify', async () => {
    const url = `mqtts://127.0.0.1:${mosquitto.port}`
    await expect(mqtt.connectAsync(url, { username: 'tls-store', password: 'wrong', ca: [readFileSync(certs.ca)], reconnectPeriod: 0, connectTimeout: 5000 })).rejects.toThrow(/Not authorized|Bad username or password/i)
    await expect(mqtt.connectAsync(url, { username: 'tls-store', password: 'edge-secret-1', reconnectPeriod: 0, connectTimeout: 5000 })).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i)
  })
})
