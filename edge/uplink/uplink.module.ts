import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { AedesPublishPacket } from 'aedes'
import { topics, type EdgeHealth } from '../contracts/index.ts'
import type { Clock } from '../core/clock.ts'
import type { EdgeConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { EdgeMetrics } from '../core/metrics.ts'
import type { EdgeModule } from '../core/module.ts'
import type { BrokerModule } from '../broker/broker.module.ts'
import { Spool, type SpoolEntry } from './spool.ts'

/** Each edge reconnects its uplink at its own period in [MIN, MIN + JITTER). */
const RECONNECT_MIN_MS = 1000
const RECONNECT_JITTER_MS = 2000

/**
 * Edge → central uplink. Everything the edge publishes under `stores/{storeId}/…` (aggregates,
 * events, health; not the downlink `config/…` and `locations`) is written to the on-disk spool first, then sent to
 * the central broker with QoS 1 on a persistent session and deleted from the spool only on PUBACK.
 * A central outage therefore only grows the spool; after reconnect it drains oldest first with up
 * to `inflight` messages in flight. The central broker holds the edge's retained health, with a
 * last will that marks the store offline.
 *
 * A PUBACK means the broker has the message, not that it will reach a consumer: Mosquitto
 * acknowledges before it persists (it saves on an interval), so a broker killed hard loses what it
 * had queued since; and Mosquitto 2.0 does not restore shared subscriptions after any restart, so
 * until the gateways subscribe again it drops what arrives. So what was sent in the last
 * `replayWindowMs` is kept in memory and, `replayDelayMs` after a reconnect (time for the gateways
 * to come back too), sent again together with what was sent since. Uplink points carry event-time
 * timestamps and the TSDB overwrites, so a replay never duplicates a value. Retained topics
 * (health) are not replayed: an old one must not win.
 */
export class UplinkModule implements EdgeModule {
  readonly name = 'uplink'
  spool!: Spool
  client?: MqttClient
  private readonly inflight = new Set<string>()
  private cursor: string | undefined
  private pumping = false
  /** The running pump, awaited on stop so the spool is never closed under a read. */
  private pumpDone: Promise<void> = Promise.resolve()
  /** Set by whatever makes new work (a message, an ack) so a running pump looks again: no lost wakeups. */
  private pumpRequested = false
  private stopped = false
  private acked: string[] = []
  /** Sent and acknowledged within the replay window, oldest first (memory only). */
  private recent: Array<{ at: number; topic: string; payload: Buffer }> = []
  private recentHead = 0
  private recentBytes = 0
  private hadConnection = false
  private replayTimer?: NodeJS.Timeout
  private ackTimer?: NodeJS.Timeout
  private readonly filter: string

  private readonly deliver = (packet: AedesPublishPacket, cb: () => void) => {
    // Downlink (config, locations) arrives from central and must not go back up.
    if (!packet.topic.startsWith(this.configPrefix) && packet.topic !== this.locationsTopic) {
      this.spool.append(packet.topic, packet.payload as Buffer)
      this.metrics.uplinkBacklog.set(this.spool.size)
      this.requestPump()
    }
    cb()
  }
  private readonly configPrefix: string
  private readonly locationsTopic: string
  /** Downlink `stores/{storeId}/config/{part}` messages from central go here (wired by the app). */
  onDownlink?: (part: string, payload: Buffer) => Promise<unknown>
  /** Downlink `stores/{storeId}/locations` (member-app location reports central forwards) go here. */
  onLocations?: (payload: Buffer) => void

  constructor(
    private readonly cfg: EdgeConfig,
    private readonly broker: BrokerModule,
    private readonly metrics: EdgeMetrics,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.filter = `stores/${cfg.store.id}/#`
    this.configPrefix = `stores/${cfg.store.id}/config/`
    this.locationsTopic = topics.storeLocations(cfg.store.id)
  }

  get connected(): boolean {
    return this.client?.connected ?? false
  }

  async start(): Promise<void> {
    const u = this.cfg.uplink
    this.spool = await new Spool({ dir: join(this.cfg.dataDir, 'uplink-spool'), maxEntries: u.spoolMaxEntries }).open()
    this.metrics.uplinkBacklog.set(this.spool.size)
    await new Promise<void>((resolve) => this.broker.aedes.subscribe(this.filter, this.deliver, () => resolve()))

    const offline: EdgeHealth = { v: 1, storeId: this.cfg.store.id, status: 'offline', ts: this.clock.now() }
    const opts: IClientOptions = {
      clientId: u.clientId || `edge-${this.cfg.store.id}`,
      username: u.username || undefined,
      password: u.password || undefined,
      clean: false, // the central broker keeps our session (and queued downlink) while we are away
      // A random period per edge (1–3 s): after a central broker restart, thousands of edges do not
      // all knock again in the same second.
      reconnectPeriod: RECONNECT_MIN_MS + Math.floor(Math.random() * RECONNECT_JITTER_MS),
      connectTimeout: 10_000,
      keepalive: 30,
      will: { topic: topics.storeHealth(this.cfg.store.id), payload: Buffer.from(JSON.stringify(offline)), qos: 1, retain: true },
      rejectUnauthorized: u.rejectUnauthorized,
      ...(u.caFile ? { ca: readFileSync(u.caFile) } : {}),
      ...(u.certFile ? { cert: readFileSync(u.certFile) } : {}),
      ...(u.keyFile ? { key: readFileSync(u.keyFile) } : {}),
    }
    this.client = mqtt.connect(u.url, opts)
    this.client.on('connect', (connack) => {
      if (this.hadConnection && this.cfg.uplink.replayWindowMs > 0) {
        clearTimeout(this.replayTimer)
        this.replayTimer = setTimeout(() => this.replayRecent(), this.cfg.uplink.replayDelayMs)
        this.replayTimer.unref()
      }
      this.hadConnection = true
      // The session keeps the subscription; subscribe anyway when the broker did not keep it.
      if (!connack.sessionPresent) {
        this.client!.subscribe(`${this.configPrefix}+`, { qos: 1 }, (err) => err && this.log.warn({ err: err.message }, 'downlink subscribe failed'))
      }
      // Always: a session from an edge version without it lacks this subscription, and it is not
      // retained, so subscribing again replays nothing.
      this.client!.subscribe(this.locationsTopic, { qos: 1 }, (err) => err && this.log.warn({ err: err.message }, 'locations subscribe failed'))
      this.metrics.uplinkConnected.set(1)
      this.log.info({ url: u.url, backlog: this.spool.size }, 'uplink connected')
      this.requestPump()
    })
    this.client.on('close', () => {
      // A replay waits for a connection that lasts; the next connect schedules it again.
      clearTimeout(this.replayTimer)
      this.metrics.uplinkConnected.set(0)
    })
    this.client.on('message', (topic, payload) => {
      if (topic === this.locationsTopic) return this.onLocations?.(payload)
      if (!topic.startsWith(this.configPrefix)) return
      const part = topic.slice(this.configPrefix.length)
      void this.onDownlink?.(part, payload)
    })
    this.client.on('error', (err) => this.log.warn({ err: err.message }, 'uplink connection error'))
    this.ackTimer = setInterval(() => {
      void this.flushAcks()
      if (this.spool.size > this.inflight.size + this.acked.length) this.requestPump() // a safety net; wakeups are exact
    }, 200)
    this.ackTimer.unref()
  }

  private requestPump(): void {
    this.pumpRequested = true
    if (!this.pumping) this.pumpDone = this.pump()
  }

  /** Send spooled messages, oldest first, keeping up to `inflight` unacknowledged. */
  private async pump(): Promise<void> {
    if (this.pumping || this.stopped) return
    this.pumping = true
    try {
      do {
        this.pumpRequested = false
        while (!this.stopped && this.client?.connected) {
          const room = this.cfg.uplink.inflight - this.inflight.size
          if (room <= 0) break // an ack will request the next round
          const batch = await this.spool.peek(Math.min(room, 1000), this.cursor)
          if (batch.length === 0) break
          for (const e of batch) this.send(e)
          this.cursor = batch.at(-1)!.key
        }
        // Work that arrived while we were awaiting the spool is picked up here, not stranded.
      } while (this.pumpRequested && !this.stopped && this.client?.connected && this.inflight.size < this.cfg.uplink.inflight)
    } catch (err) {
      this.log.error({ err }, 'uplink pump failed')
    } finally {
      this.pumping = false
    }
  }

  private send(e: SpoolEntry): void {
    this.inflight.add(e.key)
    // mqtt.js keeps QoS 1 messages of a persistent session across reconnects and calls back on PUBACK.
    const retain = e.topic.endsWith('/health')
    this.client!.publish(e.topic, e.payload, { qos: 1, retain }, (err) => {
      if (err) return // stays in the spool: sent again after the next restart
      this.inflight.delete(e.key)
      if (!retain) this.remember(e.topic, e.payload)
      this.acked.push(e.key)
      if (this.acked.length >= 500) void this.flushAcks()
      if (this.inflight.size < this.cfg.uplink.inflight / 2) this.requestPump()
    })
  }

  private remember(topic: string, payload: Buffer): void {
    const u = this.cfg.uplink
    if (u.replayWindowMs <= 0) return
    const now = this.clock.now()
    this.recent.push({ at: now, topic, payload })
    this.recentBytes += payload.length
    while (this.recentHead < this.recent.length && (this.recent[this.recentHead]!.at < now - u.replayWindowMs || this.recentBytes > u.replayMaxBytes)) {
      this.recentBytes -= this.recent[this.recentHead]!.payload.length
      this.recentHead++
    }
    if (this.recentHead > 4096 && this.recentHead * 2 > this.recent.length) {
      this.recent = this.recent.slice(this.recentHead)
      this.recentHead = 0
    }
  }

  /** After a reconnect: put what the broker acknowledged recently back into the spool, to be sent again. */
  private replayRecent(): void {
    if (this.stopped) return
    const cutoff = this.clock.now() - this.cfg.uplink.replayWindowMs - this.cfg.uplink.replayDelayMs
    const again = this.recent.slice(this.recentHead).filter((r) => r.at >= cutoff)
    this.recent = []
    this.recentHead = 0
    this.recentBytes = 0
    if (!again.length) return
    for (const r of again) this.spool.append(r.topic, r.payload)
    this.metrics.uplinkReplayed.inc(again.length)
    this.metrics.uplinkBacklog.set(this.spool.size)
    this.log.info({ messages: again.length }, 'uplink reconnected: sending the replay window again (the broker may have lost it)')
  }

  private async flushAcks(): Promise<void> {
    if (this.acked.length === 0) return
    const keys = this.acked
    this.acked = []
    try {
      await this.spool.ack(keys)
      this.metrics.uplinkSent.inc(keys.length)
      this.metrics.uplinkBacklog.set(this.spool.size)
      if (this.spool.dropped) {
        this.metrics.uplinkDropped.inc(this.spool.dropped)
        this.log.error({ dropped: this.spool.dropped }, 'uplink spool full: oldest messages dropped')
        this.spool.dropped = 0
      }
    } catch (err) {
      this.log.error({ err }, 'uplink spool ack failed')
      this.acked.push(...keys)
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.replayTimer)
    if (this.ackTimer) clearInterval(this.ackTimer)
    if (this.broker.aedes && !this.broker.aedes.closed) {
      await new Promise<void>((resolve) => this.broker.aedes.unsubscribe(this.filter, this.deliver, () => resolve()))
    }
    await this.flushAcks()
    // A clean DISCONNECT: the central broker keeps the session; the retained health was set by the edge.
    await this.client?.endAsync().catch(() => undefined)
    await this.pumpDone
    await this.spool?.close()
  }
}
