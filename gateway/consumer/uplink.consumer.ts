import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt'
import { UPLINK_SUBSCRIPTIONS, type CouponRequest, type GeofenceEvent } from '../../edge/contracts/index.ts'
import type { GatewayConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { GatewayMetrics } from '../core/metrics.ts'
import type { GatewayModule } from '../core/module.ts'
import { aggregateLines, cameraLines, healthLines, parkingLines } from '../tsdb/lines.ts'
import type { TsdbWriter } from '../tsdb/tsdb.writer.ts'
import { decodeUplink, isRejection, type Uplink } from './decode.ts'
import { baseMqttOptions } from './mqtt-options.ts'
import { pgErrorCode } from '../db/db.ts'
import { START_WAIT_MS, waitReady } from './live.consumer.ts'

interface PendingAck {
  done: boolean
  /** Sends the PUBACK mqtt.js prepared; set when mqtt.js asks to send it. */
  send?: () => void
  gen: number
}

type SendPacket = (packet: { cmd: string }, cb?: (err?: Error) => void, ...rest: unknown[]) => void

/** Where coupon requests and geofence events go (the coupon ledger); each resolves once committed. */
export interface LedgerPort {
  requestCoupon(req: CouponRequest): Promise<unknown>
  recordGeofenceEvent(e: GeofenceEvent): Promise<unknown>
}

/**
 * Errors a retry cannot fix: PostgreSQL data exceptions (SQLSTATE class 22: a bad date, a number
 * out of range) and integrity violations (23), and values JavaScript cannot even send (an
 * impossible timestamp). Anything else (connection lost, serialisation, shutdown) is retried.
 */
export function isPermanent(err: unknown): boolean {
  const code = pgErrorCode(err)
  if (code) return code.startsWith('22') || code.startsWith('23')
  return err instanceof RangeError
}

const RETRY_MIN_MS = 100
const RETRY_MAX_MS = 5000

/**
 * The durable uplink consumer: one MQTT 5 persistent session per replica, subscribed with
 * `$share/{group}/stores/+/…` so the broker hands each message to exactly one replica.
 *
 * A message is acknowledged (PUBACK) only after what it carries is stored in the TSDB. Until then
 * the broker keeps it in this replica's session: a crash or kill -9 means redelivery, never loss,
 * and redelivered points overwrite themselves (event-time timestamps). Receive Maximum bounds the
 * messages in flight, so a slow TSDB slows the broker down instead of filling our memory.
 * PUBACKs are sent in the order the PUBLISHes arrived (MQTT-4.6.0-2).
 *
 * Coupon requests and geofence events go to the ledger the same way: PUBACK only after its
 * transaction committed, so a kill -9 between receipt and commit means redelivery, and the
 * idempotency key makes the redelivery answer the first outcome. One member's messages are
 * applied in arrival order (a chain per member); a failing database is retried with backoff while
 * the message stays unacknowledged.
 */
export class UplinkConsumer implements GatewayModule {
  readonly name = 'uplink-consumer'
  client?: MqttClient
  private acks: PendingAck[] = []
  private head = 0
  private gen = 0
  private current?: PendingAck
  private stopping = false
  /** The tail of each member's chain of ledger work (arrival order per member). */
  private chains = new Map<string, Promise<void>>()

  /** Called for every accepted message (store registry, stats). */
  onUplink?: (u: Uplink) => void

  constructor(
    private readonly cfg: GatewayConfig,
    private readonly url: string,
    private readonly writer: TsdbWriter | undefined,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
    private readonly ledger?: LedgerPort,
  ) {}

  get connected(): boolean {
    return this.client?.connected ?? false
  }

  get unacked(): number {
    return this.acks.length - this.head
  }

  get subscriptions(): string[] {
    const g = this.cfg.mqtt.shareGroup
    return UPLINK_SUBSCRIPTIONS.map((t) => (g ? `$share/${g}/${t}` : t))
  }

  async start(): Promise<void> {
    const m = this.cfg.mqtt
    const opts: IClientOptions = {
      ...baseMqttOptions(m),
      clientId: m.clientId || `store-edge-gw-${this.cfg.id}`,
      clean: false,
      ...(m.protocolVersion === 5 ? { properties: { sessionExpiryInterval: m.sessionExpirySec, receiveMaximum: m.receiveMaximum } } : {}),
    }
    let subscribed!: () => void
    const ready = new Promise<void>((r) => (subscribed = r))
    const client = mqtt.connect(this.url, { ...opts, manualConnect: true })
    this.client = client
    this.deferAcks(client)
    client.on('connect', (connack) => {
      this.metrics.mqttConnected.set({ client: 'durable' }, 1)
      this.log.info({ url: this.url, sessionPresent: connack.sessionPresent }, 'uplink consumer connected')
      // Subscribe on every connect, session present or not: Mosquitto 2.0 keeps a persistent
      // session over a restart but not its shared subscriptions. An identical subscription
      // replaces the old one (MQTT-3.8.4-3), so this never duplicates deliveries.
      // mqtt.js remembers what it subscribed to and silently skips a SUBSCRIBE for the same
      // filters (it calls back with nothing granted), which left a replica deaf after a broker
      // restart: forget them first so the SUBSCRIBE really goes out.
      const remembered = (client as unknown as { _resubscribeTopics?: Record<string, unknown> })._resubscribeTopics
      if (remembered) for (const t of this.subscriptions) delete remembered[t]
      client.subscribe(this.subscriptions, { qos: 1 }, (err, granted) => {
        if (err) return this.log.error({ err: err.message }, 'uplink subscribe failed')
        const refused = granted?.filter((g) => g.qos > 2)
        if (refused?.length) this.log.error({ refused: refused.map((g) => g.topic) }, 'broker refused uplink subscriptions')
        else if ((granted?.length ?? 0) < this.subscriptions.length) this.log.error({ granted: granted?.length ?? 0, wanted: this.subscriptions.length }, 'uplink subscriptions not all granted')
        else subscribed()
      })
    })
    client.on('close', () => {
      // PUBACKs prepared on the old connection must not go out on the next one.
      this.gen++
      this.metrics.mqttConnected.set({ client: 'durable' }, 0)
    })
    client.on('error', (err) => this.log.warn({ err: err.message }, 'uplink consumer connection error'))
    client.connect()
    await waitReady(ready, START_WAIT_MS, () => this.log.warn({ url: this.url }, 'central broker not reachable yet; the consumer keeps trying'))
  }

  /**
   * mqtt.js sends a QoS 1 PUBACK as soon as handleMessage calls back, and does not read the next
   * packet until then, so holding the callback would serialise everything. Instead handleMessage
   * calls back at once and the PUBACK it triggers is captured here and sent when the write is done.
   */
  private deferAcks(client: MqttClient): void {
    const c = client as unknown as { _sendPacket: SendPacket }
    const send = c._sendPacket.bind(client)
    c._sendPacket = (packet, cb, ...rest) => {
      const pending = this.current
      if (packet.cmd === 'puback' && pending) {
        this.current = undefined
        pending.send = () => send(packet, undefined, ...rest)
        cb?.()
        this.release()
        return
      }
      send(packet, cb, ...rest)
    }
    client.handleMessage = (packet: IPublishPacket, cb) => {
      if (packet.qos !== 1) return cb()
      const entry: PendingAck = { done: false, gen: this.gen }
      this.acks.push(entry)
      this.metrics.unacked.set(this.unacked)
      this.current = entry
      try {
        this.process(packet, () => {
          entry.done = true
          this.release()
        })
      } catch (err) {
        this.log.error({ err, topic: packet.topic }, 'uplink message handling failed')
        entry.done = true
      }
      cb()
    }
  }

  private release(): void {
    while (this.head < this.acks.length) {
      const e = this.acks[this.head]!
      if (!e.done || (!e.send && e.gen === this.gen)) break
      if (e.gen === this.gen) e.send!()
      this.head++
    }
    if (this.head > 1024 && this.head * 2 > this.acks.length) {
      this.acks = this.acks.slice(this.head)
      this.head = 0
    }
    this.metrics.unacked.set(this.unacked)
  }

  private process(packet: IPublishPacket, done: () => void): void {
    if (packet.dup) this.metrics.redeliveries.inc()
    const u = decodeUplink(packet.topic, packet.payload as Buffer)
    if (isRejection(u)) {
      // Redelivery cannot fix a bad message: acknowledge it, count it, log it.
      this.metrics.uplinkRejected.inc({ reason: u.reason })
      this.log.warn({ topic: packet.topic.slice(0, 200), reason: u.reason, detail: u.detail }, 'uplink message rejected')
      return done()
    }
    this.metrics.uplinkMessages.inc({ kind: u.kind })
    this.onUplink?.(u)
    const ledger = this.ledger
    if (ledger && u.kind === 'coupon-request') {
      const r = u.request
      return this.inOrder(r.memberRef, `coupon request ${r.key}`, () => ledger.requestCoupon(r), done)
    }
    if (ledger && u.kind === 'geofence') {
      const e = u.event
      return this.inOrder(e.memberRef ?? e.subject, `geofence event ${e.id}`, () => ledger.recordGeofenceEvent(e), done)
    }
    const lines = u.kind === 'agg' ? [...aggregateLines(u.agg, u.storeId), ...parkingLines(u.agg, u.storeId), ...cameraLines(u.agg, u.storeId)] : u.kind === 'health' ? healthLines(u.health, u.storeId) : []
    if (lines.length && this.writer) this.writer.enqueue(lines, done)
    else done()
  }

  /**
   * Runs fn after the member's earlier work, retrying with backoff until it commits; done() then
   * releases the PUBACK. Stopping abandons the retries: the message stays unacknowledged.
   */
  private inOrder(member: string, what: string, fn: () => Promise<unknown>, done: () => void): void {
    const run = async () => {
      for (let wait = RETRY_MIN_MS; ; wait = Math.min(RETRY_MAX_MS, wait * 2)) {
        if (this.stopping) return
        try {
          await fn()
          return done()
        } catch (err) {
          if (isPermanent(err)) {
            // Valid by schema but not storable (a date like 2024-13-45): redelivery cannot fix it,
            // and retrying would hold this member's later messages back for ever.
            this.metrics.uplinkRejected.inc({ reason: 'STORE_EDGE_ERR_SCHEMA' })
            this.log.error({ err, what }, 'ledger refused the message; acknowledged and dropped')
            return done()
          }
          this.log.warn({ err, what, retryInMs: wait }, 'ledger write failed; retrying (the message stays unacknowledged)')
          await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random() / 2)).unref())
        }
      }
    }
    const tail = (this.chains.get(member) ?? Promise.resolve()).then(run)
    this.chains.set(member, tail)
    void tail.finally(() => {
      if (this.chains.get(member) === tail) this.chains.delete(member)
    })
  }

  async stop(): Promise<void> {
    // Ledger work under way commits and is acknowledged on the still-open connection (bounded wait).
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.allSettled([...this.chains.values()]), new Promise((r) => (timer = setTimeout(r, 5000)))])
    clearTimeout(timer)
    this.stopping = true
    // A clean DISCONNECT keeps the session (and its unacknowledged messages) at the broker.
    await this.client?.endAsync().catch(() => undefined)
  }
}
