import mqtt, { type MqttClient } from 'mqtt'
import type { GatewayConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { GatewayMetrics } from '../core/metrics.ts'
import type { GatewayModule } from '../core/module.ts'
import type { LiveHub } from '../live/live.hub.ts'
import { decodeUplink, isRejection } from './decode.ts'
import { baseMqttOptions } from './mqtt-options.ts'

const LIVE_SUBSCRIPTIONS = ['stores/+/agg', 'stores/+/events/+', 'stores/+/health']
export const START_WAIT_MS = 10_000

/** Wait for `ready`, at most `ms`; on time-out call `late` and go on. */
export async function waitReady(ready: Promise<void>, ms: number, late: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)))
  if ((await Promise.race([ready, timeout])) === 'late') late()
  clearTimeout(timer)
}

/**
 * The live feed: a clean, non-shared subscription per replica, so each replica's window and live
 * streams see every store (the durable consumer only sees its share). Retained health arrives on
 * subscribe and seeds each store's status. Rejections are counted by the durable consumer, not here.
 */
export class LiveConsumer implements GatewayModule {
  readonly name = 'live-consumer'
  client?: MqttClient

  constructor(
    private readonly cfg: GatewayConfig,
    private readonly url: string,
    private readonly hub: LiveHub,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const m = this.cfg.mqtt
    const client = mqtt.connect(this.url, { ...baseMqttOptions(m), clientId: `${m.clientId || `store-edge-gw-${this.cfg.id}`}-live`, clean: true })
    this.client = client
    let subscribed!: () => void
    const ready = new Promise<void>((r) => (subscribed = r))
    client.on('connect', () => {
      this.metrics.mqttConnected.set({ client: 'live' }, 1)
      client.subscribe(LIVE_SUBSCRIPTIONS, { qos: 1 }, (err) => {
        if (err) return this.log.error({ err: err.message }, 'live subscribe failed')
        subscribed()
      })
    })
    client.on('close', () => this.metrics.mqttConnected.set({ client: 'live' }, 0))
    client.on('error', (err) => this.log.warn({ err: err.message }, 'live consumer connection error'))
    client.on('message', (topic, payload) => {
      const u = decodeUplink(topic, payload)
      if (isRejection(u)) return this.log.debug({ topic: topic.slice(0, 200), reason: u.reason }, 'live: message rejected')
      this.hub.ingest(u)
    })
    // A clean session hears nothing before its subscription: start() returns once it stands (or,
    // with the broker unreachable, after a while; the client keeps trying and /health says so).
    await waitReady(ready, START_WAIT_MS, () => this.log.warn({ url: this.url }, 'central broker not reachable yet; live views start empty'))
  }

  async stop(): Promise<void> {
    await this.client?.endAsync().catch(() => undefined)
  }
}
