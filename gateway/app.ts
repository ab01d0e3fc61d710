import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { StoreEdgeError, topics, type LocationReport } from '../edge/contracts/index.ts'
import { LoginThrottle } from './auth/login-throttle.ts'
import type { Role } from './auth/roles.ts'
import { CentralBroker } from './broker/central-broker.ts'
import type { GatewayConfig } from './core/config.ts'
import { createLogger, type Logger } from './core/logger.ts'
import { createGatewayMetrics, type GatewayMetrics } from './core/metrics.ts'
import type { GatewayModule } from './core/module.ts'
import { openGatewayData, type Db, type GatewayData } from './db/index.ts'
import { LiveConsumer } from './consumer/live.consumer.ts'
import { UplinkConsumer } from './consumer/uplink.consumer.ts'
import { LiveHub } from './live/live.hub.ts'
import { TsdbWriter } from './tsdb/tsdb.writer.ts'
import { TsdbQuery } from './tsdb/tsdb.query.ts'
import { buildGatewayHttp } from './api/http.ts'
import type { ApiContext } from './api/context.ts'
import { Marketing } from './marketing/index.ts'
import { createCouponModules, type CouponModules } from './coupons/index.ts'

export interface GatewayAppOptions {
  config: GatewayConfig
  logger?: Logger
  now?: () => number
  defaultMetrics?: boolean
}

/** Demo users, one per role (only with auth.demoUsers). */
export const DEMO_USERS: ReadonlyArray<{ username: string; password: string; role: Role }> = [
  { username: 'ops', password: 'demo-ops', role: 'ops' },
  { username: 'marketing', password: 'demo-marketing', role: 'marketing' },
  { username: 'security', password: 'demo-security', role: 'security' },
  { username: 'admin', password: 'demo-admin', role: 'admin' },
]

/**
 * The gateway's composition root: data (PostgreSQL or PGlite, migrated on start), the embedded
 * broker when no central broker is configured, the TSDB writer, the durable and live uplink
 * consumers and the HTTP API with the dashboard. Stateless apart from the database: run as many
 * replicas as the load needs, each with its own `id`.
 */
export class GatewayApp {
  readonly config: GatewayConfig
  readonly log: Logger
  readonly metrics: GatewayMetrics
  readonly now: () => number
  db!: Db
  data!: GatewayData
  broker?: CentralBroker
  writer?: TsdbWriter
  hub!: LiveHub
  uplink!: UplinkConsumer
  live!: LiveConsumer
  http!: FastifyInstance
  marketing!: Marketing
  coupons!: CouponModules
  /** The central broker the edges should connect to. */
  brokerUrl = ''
  url = ''
  private modules: GatewayModule[] = []
  private seen = new Set<string>()
  private touchTimer?: NodeJS.Timeout

  constructor(opts: GatewayAppOptions) {
    this.config = opts.config
    this.log = opts.logger ?? createLogger({ level: opts.config.log.level })
    this.metrics = createGatewayMetrics({ defaultMetrics: opts.defaultMetrics })
    this.now = opts.now ?? Date.now
  }

  async start(): Promise<this> {
    const cfg = this.config
    const child = (module: string) => this.log.child({ module })
    const { db, data } = await openGatewayData({ url: cfg.database.url || undefined, dataDir: cfg.database.url ? undefined : join(cfg.dataDir, 'db'), poolMax: cfg.database.poolMax, log: child('db'), now: this.now })
    this.db = db
    this.data = data
    try {
      await this.bootstrapUsers()
      if (!cfg.mqtt.url) {
        this.broker = new CentralBroker({ host: cfg.centralBroker.host, port: cfg.centralBroker.port, dataDir: cfg.dataDir }, child('central-broker'))
        await this.broker.start()
        this.modules.push(this.broker)
      }
      this.brokerUrl = cfg.mqtt.url || this.broker!.url
      // aedes speaks MQTT 3.1.1 and has no shared subscriptions: one replica, plain subscriptions.
      const effective: GatewayConfig = cfg.mqtt.url ? cfg : { ...cfg, mqtt: { ...cfg.mqtt, protocolVersion: 4, shareGroup: '' } }
      if (cfg.tsdb.url) this.writer = new TsdbWriter(cfg.tsdb, this.metrics, child('tsdb'))
      this.hub = new LiveHub(cfg.window, this.metrics, child('live'), this.now)
      this.hub.onStoreSeen = (id) => this.storeSeen(id)
      this.coupons = await createCouponModules({ cfg, db, registry: this.metrics.registry, hub: this.hub, writer: this.writer, log: this.log, now: this.now })
      // Before the consumers start: the first uplink message of a store publishes its config through it.
      this.marketing = new Marketing(db, (storeId, part, payload) => this.publishConfig(storeId, part, payload), child('marketing'), this.now)
      this.live = new LiveConsumer(effective, this.brokerUrl, this.hub, this.metrics, child('live-consumer'))
      this.uplink = new UplinkConsumer(effective, this.brokerUrl, this.writer, this.metrics, child('uplink-consumer'), this.coupons.ledger)
      this.uplink.onUplink = (u) => this.seen.add(u.storeId)
      for (const m of [...(this.writer ? [this.writer] : []), this.live, this.uplink, ...this.coupons.modules]) {
        await m.start()
        this.modules.push(m)
      }
      this.marketing.start()
      const tsdbQueryUrl = cfg.tsdb.queryUrl || cfg.tsdb.url
      const ctx: ApiContext = {
        cfg,
        data,
        hub: this.hub,
        metrics: this.metrics,
        log: child('api'),
        logins: new LoginThrottle({ maxFailures: cfg.auth.loginMaxFailures, banMs: cfg.auth.loginBanMs }),
        tsdb: tsdbQueryUrl ? new TsdbQuery(tsdbQueryUrl, cfg.tsdb.timeoutMs) : undefined,
        publishConfig: (storeId, part, payload) => this.publishConfig(storeId, part, payload),
        publishLocations: (storeId, report) => this.publishLocations(storeId, report),
        marketing: this.marketing,
        coupons: this.coupons.service,
        status: () => this.status(),
        now: this.now,
      }
      this.http = await buildGatewayHttp(ctx, this.log)
      await this.http.listen({ host: cfg.http.host, port: cfg.http.port })
      const addr = this.http.server.address() as { port: number }
      this.url = cfg.http.publicUrl || `http://${cfg.http.host === '0.0.0.0' ? '127.0.0.1' : cfg.http.host}:${addr.port}`
      this.touchTimer = setInterval(() => void this.touchSeen(), 15_000)
      this.touchTimer.unref()
      this.log.info({ id: cfg.id, url: this.url, broker: this.brokerUrl, tsdb: cfg.tsdb.url || null, database: db.kind }, 'gateway started')
    } catch (err) {
      await this.stop()
      throw err
    }
    return this
  }

  /** First start: an admin (password from config, or random and logged once); demo users on request. */
  private async bootstrapUsers(): Promise<void> {
    const cfg = this.config.auth
    const create = async (username: string, password: string, role: Role) => {
      if (await this.data.users.getByUsername(username)) return false
      try {
        await this.data.users.create({ username, displayName: username[0]!.toUpperCase() + username.slice(1), password, role, stores: ['*'] })
        await this.data.audit.record({ actor: 'gateway', actorKind: 'system', action: 'user.create', target: username, detail: { role, bootstrap: true } })
        return true
      } catch (err) {
        // Another replica created it first.
        if (!/already exists|duplicate/i.test((err as Error).message)) throw err
        return false
      }
    }
    if (cfg.demoUsers) {
      for (const u of DEMO_USERS) await create(u.username, u.password, u.role)
      return
    }
    if ((await this.data.users.count()) > 0) return
    const password = cfg.bootstrapAdminPassword || randomBytes(12).toString('base64url')
    if ((await create('admin', password, 'admin')) && !cfg.bootstrapAdminPassword) {
      this.log.warn({ username: 'admin', password }, 'created the first admin user with this one-time password: log in and change it')
    }
  }

  private storeSeen(id: string): void {
    this.seen.add(id)
    this.data.stores
      .ensure(id)
      .then(async (created) => {
        if (created) this.log.info({ store: id }, 'new store registered from its uplink')
        await this.data.stores.touchSeen([id], this.now())
        // Its triggers and members config, retained: a new edge gets them, a known one the latest.
        await this.marketing.publisher.storeSeen(id)
      })
      .catch((err) => this.log.warn({ err, store: id }, 'could not register store'))
  }

  private async touchSeen(): Promise<void> {
    if (!this.seen.size) return
    const ids = [...this.seen]
    this.seen.clear()
    await this.data.stores.touchSeen(ids, this.now()).catch((err) => this.log.warn({ err }, 'could not update last seen'))
  }

  private async publishConfig(storeId: string, part: 'zones' | 'triggers' | 'members' | 'cameras', payload: unknown): Promise<void> {
    const client = this.live.client
    if (!client?.connected) throw new StoreEdgeError('STORE_EDGE_ERR_BROKER_UNAVAILABLE')
    await client.publishAsync(topics.storeConfig(storeId, part), JSON.stringify(payload), { qos: 1, retain: true })
  }

  /** Member-app fixes for one store: QoS 1, not retained (a fix is news, not state). */
  private async publishLocations(storeId: string, report: LocationReport): Promise<void> {
    const client = this.live.client
    if (!client?.connected) throw new StoreEdgeError('STORE_EDGE_ERR_BROKER_UNAVAILABLE')
    await client.publishAsync(topics.storeLocations(storeId), JSON.stringify(report), { qos: 1, retain: false })
  }

  status(): Record<string, unknown> {
    const brokerOk = this.uplink?.connected ?? false
    return {
      ok: brokerOk,
      id: this.config.id,
      database: this.db?.kind,
      broker: { url: this.brokerUrl, connected: brokerOk, live: this.live?.client?.connected ?? false },
      uplink: { unacked: this.uplink?.unacked ?? 0, subscriptions: this.uplink?.subscriptions ?? [] },
      tsdb: this.writer ? { url: this.config.tsdb.url, pendingLines: this.writer.pendingLines } : null,
      stores: this.hub?.window.size ?? 0,
    }
  }

  async stop(): Promise<void> {
    if (this.touchTimer) clearInterval(this.touchTimer)
    await this.http?.close().catch((err) => this.log.warn({ err }, 'http close failed'))
    await this.marketing?.stop()
    await this.touchSeen()
    // The writer first: what it flushes is acknowledged on the still-open connection; anything it
    // cannot write stays unacknowledged at the broker. Then the consumers, then the embedded broker.
    // The coupon modules before the writer (their last figures go out with it) and the database.
    const order = ([...(this.coupons?.modules ?? []), this.writer, this.uplink, this.live, this.broker] as Array<GatewayModule | undefined>).filter((m): m is GatewayModule => !!m && this.modules.includes(m))
    for (const m of order) {
      try {
        await m.stop()
      } catch (err) {
        this.log.error({ err, module: m.name }, 'module failed to stop')
      }
    }
    this.modules = []
    await this.db?.close().catch(() => undefined)
  }
}
