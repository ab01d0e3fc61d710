import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep, tempDir } from './helpers.ts'
import { Chain, type PartName } from './support/chain.ts'
import { PrivateMosquitto } from './support/servers.ts'

/**
 * The chain benchmark's run, small: three store edges (each its own process, broker and simulated
 * sensors) → a private Mosquitto → two gateway processes on a shared subscription → PostgreSQL and
 * VictoriaMetrics, with every central part restarted once while the stores keep publishing.
 * Afterwards central must hold exactly what the edges published: every minute aggregate with its
 * values, every geofence event and coupon request, every issued coupon pushed once.
 * (`npm run bench -- chain` runs the same with 50 stores for ten minutes on the machine's Mosquitto.)
 */
const TRAFFIC_S = Number(process.env.STORE_EDGE_TEST_CHAIN_S ?? 130)
const CLI = fileURLToPath(new URL('../bin/store-edge.js', import.meta.url))

describe('chain: three stores, every central part restarted once', () => {
  let cleanup: () => Promise<void>
  let broker: PrivateMosquitto
  let chain: Chain
  const log: string[] = []

  beforeAll(async () => {
    const t = await tempDir('store-edge-chain-')
    cleanup = t.cleanup
    broker = await new PrivateMosquitto(`${t.dir}/mosquitto`).start({ autosaveS: 60 })
    chain = await new Chain({ dir: t.dir, stores: 3, prefix: `chaintest${Date.now().toString(36)}`, broker, cli: CLI, rate: 3, log: (m) => log.push(m) }).start()
  }, 240_000)

  afterAll(async () => {
    await chain?.stop()
    await broker?.stop()
    await cleanup?.()
  }, 120_000)

  it('loses nothing and duplicates nothing', { timeout: TRAFFIC_S * 1000 + 300_000 }, async () => {
    const parts: PartName[] = ['mosquitto', 'gateway-1', 'victoria-metrics', 'postgresql', 'gateway-2']
    const step = (TRAFFIC_S * 1000) / (parts.length + 1)
    for (const part of parts) {
      await sleep(step)
      await chain.restart(part)
    }
    await sleep(step)
    await chain.stopSensors()
    const v = await chain.drainAndVerify(180_000)
    console.log(JSON.stringify({ test: 'chain', stores: 3, trafficS: TRAFFIC_S, uplinkMessages: chain.uplinkMessages(), ...v, restarts: chain.restarts }))

    // Real traffic went through: aggregates of every store, geofence events.
    expect(v.aggregates, log.join('\n')).toBeGreaterThanOrEqual(3)
    expect(v.geofenceEvents).toBeGreaterThan(0)
    expect(chain.restarts.map((r) => r.part)).toEqual(parts)
    expect({ lost: v.lost, duplicates: v.duplicates, rejected: v.rejected, lostExamples: v.lostExamples }).toEqual({
      lost: { aggregates: 0, geofence: 0, coupons: 0, pushes: 0 },
      duplicates: { samples: 0, coupons: 0, pushes: 0 },
      rejected: 0,
      lostExamples: [],
    })
  })
})
