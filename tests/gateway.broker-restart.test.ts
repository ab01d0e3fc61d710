import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { topics } from '../edge/contracts/index.ts'
import { sleep, tempDir, waitFor } from './helpers.ts'
import { GatewayProcess } from './support/gateway-process.ts'
import { syntheticAggregate } from './support/gateway.ts'
import { PrivateMosquitto, PrivateVictoria } from './support/servers.ts'

/**
 * The central broker restarted cleanly (an upgrade, `systemctl restart mosquitto`) while the
 * gateway stays up: Mosquitto 2.0 restores the gateway's persistent session but not its shared
 * subscriptions, and mqtt.js used to skip the gateway's SUBSCRIBE for filters it remembered, so
 * the replica reconnected deaf and everything published afterwards was acknowledged and dropped.
 * Found by the chain benchmark (`npm run bench -- chain`).
 */
describe('gateway across a clean restart of the central broker', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let mosquitto: PrivateMosquitto
  let vm: PrivateVictoria
  let gateway: GatewayProcess

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('store-edge-gw-broker-restart-'))
    mosquitto = await new PrivateMosquitto(`${dir}/mosquitto`).start()
    vm = await new PrivateVictoria(`${dir}/vm`).start()
    gateway = await new GatewayProcess({ STORE_EDGE_GW_ID: 'restart', STORE_EDGE_GW_DATA_DIR: `${dir}/gw`, MQTT_URL: mosquitto.url, TSDB_URL: vm.url }).start()
  }, 60_000)

  afterAll(async () => {
    await gateway?.stop()
    await mosquitto?.stop()
    await vm?.stop()
    await cleanup()
  })

  it('keeps receiving what the edges publish after the broker comes back', { timeout: 90_000 }, async () => {
    const store = 'restart-1'
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 86_400_000
    const points = async () => (await vm.export(`{__name__="occupancy_value",source="all",zone="entrance",store="${store}"}`))[0]?.timestamps ?? []
    const publishUntilStored = async (minute: number) => {
      const edge = await mqtt.connectAsync(mosquitto.url, { clientId: `edge-${store}`, clean: false, reconnectPeriod: 0 })
      try {
        // Again every second until it is stored (a publish in the moment before the gateway has
        // subscribed again is dropped by the broker: the edges' replay window covers that).
        return await waitFor(
          async () => {
            await edge.publishAsync(topics.storeAgg(store), JSON.stringify(syntheticAggregate(store, minute, ['entrance'])), { qos: 1 })
            await sleep(1000)
            return (await points()).includes(minute)
          },
          `minute ${new Date(minute).toISOString()} in the TSDB`,
          30_000,
        )
      } finally {
        await edge.endAsync()
      }
    }

    expect(await publishUntilStored(base)).toBe(true)
    await mosquitto.restart() // SIGTERM (Mosquitto saves the sessions), then the same config again
    const connected = async () => (await (await fetch(`${gateway.url}/metrics`)).text()).includes('store_edge_gw_mqtt_connected{client="durable"} 1')
    await waitFor(connected, 'the gateway reconnected', 20_000)
    expect(await publishUntilStored(base + 60_000)).toBe(true)
    expect(await points()).toEqual([base, base + 60_000])
  })
})
