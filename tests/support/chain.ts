import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, openSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import pg from 'pg'
import { pino } from 'pino'
import { topics, type MinuteAggregate } from '../../edge/contracts/index.ts'
import { CredentialStore } from '../../edge/broker/credentials.ts'
import { systemClock } from '../../edge/core/clock.ts'
import { provisionLayout } from '../../edge/cli/simulate.command.ts'
import { demoStore } from '../../edge/sim/demo-store.ts'
import { Simulator } from '../../edge/sim/simulator.ts'
import { openGatewayData } from '../../gateway/db/index.ts'
import { Marketing } from '../../gateway/marketing/index.ts'
import { seedDemoMarketing } from '../../bin/demo.marketing.ts'
import { GatewayProcess } from './gateway-process.ts'
import { freePort, metricSum, PrivatePostgres, PrivateVictoria, processTree, type RestartablePart } from './servers.ts'
import { WebhookSink } from './webhook-sink.ts'

/**
 * A chain on one machine: N store edges, each its own `store-edge edge` process (its own aedes
 * broker, presence, geofences, triggers, aggregates, uplink spool) with the demo store's simulated
 * sensors publishing into it over MQTT; the central broker; two gateway processes on one MQTT 5
 * shared subscription; a private PostgreSQL (the coupon ledger) and VictoriaMetrics; a signed
 * webhook receiver standing in for the member app.
 *
 * An audit client on every edge broker records what the edge published for central (the truth);
 * `verify()` compares it with what central stored: every minute aggregate in VictoriaMetrics with
 * its values, every geofence event and coupon request in the ledger, every issued coupon pushed.
 * Used by `npm run bench -- chain` (50 stores, ten minutes, the machine's Mosquitto) and by
 * tests/chain.test.ts (a few stores, a private Mosquitto).
 */

export type PartName = 'mosquitto' | 'gateway-1' | 'gateway-2' | 'victoria-metrics' | 'postgresql'

export interface ChainOptions {
  dir: string
  stores: number
  /** Store ids are `{prefix}-000`…; unique per run, since a shared broker keeps retained topics. */
  prefix: string
  /** The central broker (the machine's Mosquitto or a private one). */
  broker: RestartablePart
  /** The CLI entry the edge and gateway processes run (bin/store-edge.js, or dist/cli.mjs when built). */
  cli: string
  /** Shopper arrivals over a typical store (the demo's --rate). */
  rate?: number
  seed?: number
  /** Node flags of every edge process (default: those of deploy/edge/store-edge.service). */
  edgeNodeArgs?: string[]
  /** Log level of the edge processes (their logs go to edges/{id}/edge.log); default warn. */
  edgeLogLevel?: string
  log?: (msg: string) => void
}

interface Edge {
  id: string
  dir: string
  mqttPort: number
  httpPort: number
  proc?: ChildProcess
  audit?: MqttClient
  sim?: Simulator
  /** Provisioned once before the edge starts (provisioning again would rotate the passwords under it). */
  sensorCredentials?: Record<string, { username: string; password: string }>
  auditCredentials?: { username: string; password: string }
}

/** What one store's edge published for central, as its audit client saw it on the edge broker. */
export interface StoreTruth {
  aggs: Map<number, MinuteAggregate>
  geofence: Set<string>
  coupons: Set<string>
  /** Raw payloads of geofence events and coupon requests, by id / key (to show what was lost). */
  raw: Map<string, string>
  messages: number
  byKind: Record<string, number>
}

export interface ChainVerdict {
  aggregates: number
  geofenceEvents: number
  couponRequests: number
  issued: number
  /** Truth items central does not have (or has with other values), by kind. */
  lost: { aggregates: number; geofence: number; coupons: number; pushes: number }
  /** Things central holds more than once: samples per series and minute, coupons per firing, member notifications per coupon. */
  duplicates: { samples: number; coupons: number; pushes: number }
  /** Deliveries absorbed by idempotency: MQTT redeliveries at the gateways, edge replays, push retries with the same key. */
  absorbed: { gatewayRedeliveries: number; edgeReplayed: number; pushRetries: number }
  /** Uplink messages the gateways refused (schema), by reason: a refusal of what an edge sent is a bug. */
  rejected: number
  /** Up to five lost items: what the edge published. */
  lostExamples: string[]
}

export interface RestartRecord {
  part: PartName
  how: string
  atS: number
  downS: number
}

const quiet = pino({ level: 'silent' })
/** The Node flags deploy/edge/store-edge.service runs the edge with (tests/deploy.edge.test.ts checks the unit). */
export const EDGE_NODE_ARGS = ['--max-semi-space-size=2']
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class Chain {
  readonly pg: PrivatePostgres
  readonly vm: PrivateVictoria
  readonly sink = new WebhookSink(randomBytes(24).toString('hex'))
  readonly gateways: GatewayProcess[] = []
  readonly edges: Edge[] = []
  readonly truth = new Map<string, StoreTruth>()
  readonly restarts: RestartRecord[] = []
  private readonly log: (msg: string) => void
  private t0 = 0

  constructor(readonly opts: ChainOptions) {
    this.pg = new PrivatePostgres(join(opts.dir, 'pg'))
    this.vm = new PrivateVictoria(join(opts.dir, 'vm'))
    this.log = opts.log ?? (() => undefined)
    for (let i = 0; i < opts.stores; i++) {
      const id = `${opts.prefix}-${String(i).padStart(3, '0')}`
      this.edges.push({ id, dir: join(opts.dir, 'edges', id), mqttPort: 0, httpPort: 0 })
      this.truth.set(id, { aggs: new Map(), geofence: new Set(), coupons: new Set(), raw: new Map(), messages: 0, byKind: {} })
    }
  }

  get storeIds(): string[] {
    return this.edges.map((e) => e.id)
  }

  /** Central first (PostgreSQL seeded with the demo's members and campaigns), then the edges, then the sensors. */
  async start(): Promise<this> {
    const { dir, prefix } = this.opts
    await Promise.all([this.pg.start(), this.vm.start(), this.sink.start()])
    this.log(`postgresql ${this.pg.url}, victoria-metrics ${this.vm.url}, broker ${this.opts.broker.url}`)
    await this.seed()
    for (const n of [1, 2]) {
      const gw = new GatewayProcess(
        {
          STORE_EDGE_GW_ID: `${prefix}-gw-${n}`,
          STORE_EDGE_GW_DATA_DIR: join(dir, `gw-${n}`),
          STORE_EDGE_GW_MQTT_SHARE_GROUP: `${prefix}-gw`,
          MQTT_URL: this.opts.broker.url,
          TSDB_URL: this.vm.url,
          DATABASE_URL: this.pg.url,
          STORE_EDGE_GW_AUTH_DEMO_USERS: 'true',
          STORE_EDGE_GW_COUPONS_WEBHOOK_URL: this.sink.url,
          STORE_EDGE_GW_COUPONS_WEBHOOK_SECRET: this.sink.secret,
          MALLOC_ARENA_MAX: '2',
        },
        this.opts.cli,
      )
      this.gateways.push(await gw.start(60_000))
    }
    this.log(`gateways ${this.gateways.map((g) => g.url).join(', ')}`)
    // Edges, a few at a time (each start parses the bundle and opens its spool).
    for (let i = 0; i < this.edges.length; i += 5) await Promise.all(this.edges.slice(i, i + 5).map((e) => this.startEdge(e)))
    this.log(`${this.edges.length} edges up, uplinks connected`)
    for (const [i, e] of this.edges.entries()) await this.startSensors(e, i)
    this.log(`sensors publishing into every edge`)
    this.t0 = Date.now()
    return this
  }

  /** The demo's loyalty programme (500 members) and campaigns, written straight into the ledger database. */
  private async seed(): Promise<void> {
    const { db, data } = await openGatewayData({ url: this.pg.url, log: quiet })
    const client = await mqtt.connectAsync(this.opts.broker.url, { clientId: `${this.opts.prefix}-seed`, clean: true, reconnectPeriod: 0 })
    try {
      const marketing = new Marketing(db, async (storeId, part, payload) => void (await client.publishAsync(topics.storeConfig(storeId, part), JSON.stringify(payload), { qos: 1, retain: true })), quiet)
      for (const id of this.storeIds) await data.stores.create({ id, name: `Chain store ${id}`, timezone: 'Asia/Shanghai' })
      await seedDemoMarketing({ data, marketing }, this.storeIds, this.opts.seed ?? 1, quiet)
      await marketing.stop()
    } finally {
      await client.endAsync()
      await db.close()
    }
  }

  private async startEdge(e: Edge): Promise<void> {
    await mkdir(e.dir, { recursive: true })
    e.mqttPort = await freePort()
    e.httpPort = await freePort()
    const config = {
      store: { id: e.id, name: `Chain store ${e.id}`, timezone: 'Asia/Shanghai' },
      dataDir: e.dir,
      log: { level: this.opts.edgeLogLevel ?? 'warn' },
      broker: { port: e.mqttPort, wsPort: -1 },
      http: { port: e.httpPort },
      uplink: { url: this.opts.broker.url },
      zones: demoStore.zones,
      sensors: demoStore.sensors,
      parking: { enabled: true },
    }
    await writeFile(join(e.dir, 'store.json'), JSON.stringify(config, null, 2))
    e.sensorCredentials = await provisionLayout(e.dir, demoStore)
    e.auditCredentials = await new CredentialStore(join(e.dir, 'devices.json')).load().then((s) => s.provision('chain-audit', 'service'))
    const env: NodeJS.ProcessEnv = { MALLOC_ARENA_MAX: '2' }
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('STORE_EDGE_') && !k.startsWith('VITEST') && k !== 'NODE_OPTIONS') env[k] = v
    const out = openSync(join(e.dir, 'edge.log'), 'a')
    e.proc = spawn(process.execPath, [...(this.opts.edgeNodeArgs ?? EDGE_NODE_ARGS), this.opts.cli, 'edge', '-c', join(e.dir, 'store.json')], { env, stdio: ['ignore', out, out] })
    closeSync(out)
    const deadline = Date.now() + 60_000
    for (;;) {
      if (e.proc.exitCode !== null) throw new Error(`edge ${e.id} exited with ${e.proc.exitCode}; see ${join(e.dir, 'edge.log')}`)
      const up = await metricSum(`http://127.0.0.1:${e.httpPort}`, 'store_edge_uplink_connected').catch(() => 0)
      if (up === 1) break
      if (Date.now() > deadline) throw new Error(`edge ${e.id} did not connect its uplink; see ${join(e.dir, 'edge.log')}`)
      await sleep(200)
    }
    await this.startAudit(e)
  }

  /** The audit client: everything the edge publishes under stores/{id}/ for central. */
  private async startAudit(e: Edge): Promise<void> {
    const creds = e.auditCredentials!
    const t = this.truth.get(e.id)!
    const prefix = `stores/${e.id}/`
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${e.mqttPort}`, { clientId: 'chain-audit', username: creds.username, password: creds.password, clean: true, reconnectPeriod: 1000 })
    c.on('message', (topic, payload) => {
      const kind = topic.slice(prefix.length)
      if (kind.startsWith('config/') || kind === 'locations' || kind === 'health') return
      t.messages++
      t.byKind[kind] = (t.byKind[kind] ?? 0) + 1
      try {
        const body = JSON.parse(payload.toString('utf8')) as { minute?: number; id?: string; key?: string }
        if (kind === 'agg') t.aggs.set(body.minute!, body as MinuteAggregate)
        else if (kind === 'events/geofence') t.geofence.add(body.id!) && t.raw.set(body.id!, payload.toString('utf8'))
        else if (kind === 'coupons/requests') t.coupons.add(body.key!) && t.raw.set(body.key!, payload.toString('utf8'))
      } catch {
        // the edge publishes JSON only; a bad one would show up as lost
      }
    })
    await c.subscribeAsync(`${prefix}#`, { qos: 1 })
    e.audit = c
  }

  private async startSensors(e: Edge, i: number): Promise<void> {
    const credentials = e.sensorCredentials!
    const seed = this.opts.seed ?? 1
    e.sim = new Simulator({
      brokerUrl: `mqtt://127.0.0.1:${e.mqttPort}`,
      credentials,
      clock: systemClock,
      seed: seed + i,
      memberSeed: seed,
      rateMultiplier: this.opts.rate ?? 1,
      startHour: 12,
      warmupMs: 20 * 60_000,
      mqtt: { reconnectPeriod: 1000 },
    })
    await e.sim.start()
  }

  /** Restart one central part; returns how long it was away. */
  async restart(part: PartName): Promise<RestartRecord> {
    const at = Date.now()
    let how: string
    if (part === 'gateway-1') {
      how = 'kill -9, start'
      await this.gateways[0]!.kill9()
      await this.gateways[0]!.start(60_000)
    } else if (part === 'gateway-2') {
      how = 'SIGTERM, start'
      await this.gateways[1]!.stop()
      await this.gateways[1]!.start(60_000)
    } else if (part === 'mosquitto') {
      how = 'SIGTERM, start'
      await this.opts.broker.restart()
    } else if (part === 'victoria-metrics') {
      how = 'SIGTERM, start'
      await this.vm.restart()
    } else {
      how = 'pg_ctl stop -m fast, start'
      await this.pg.restart()
    }
    const r = { part, how, atS: Math.round((at - this.t0) / 1000), downS: Math.round((Date.now() - at) / 100) / 10 }
    this.restarts.push(r)
    this.log(`restarted ${part} (${how}) at ${r.atS} s, away ${r.downS} s`)
    return r
  }

  /** Processes of each part, for resource accounting. */
  pids(): { edges: number[]; gateways: number[]; broker: number[]; vm: number[]; pg: number[] } {
    return {
      edges: this.edges.map((e) => e.proc?.pid ?? 0),
      gateways: this.gateways.map((g) => g.pid ?? 0),
      broker: this.opts.broker.pids(),
      vm: this.vm.pids().flatMap((p) => processTree(p)),
      pg: this.pg.pids(),
    }
  }

  /** Sensor messages the simulators published (acknowledged by the edge brokers). */
  sensorMessages(): number {
    return this.edges.reduce((n, e) => {
      const p = e.sim?.published
      return n + (p ? p.ble + p.wifi + p.espresense + p.parking : 0)
    }, 0)
  }

  uplinkMessages(): number {
    return [...this.truth.values()].reduce((n, t) => n + t.messages, 0)
  }

  async stopSensors(): Promise<void> {
    await Promise.all(this.edges.map((e) => e.sim?.stop()))
  }

  /**
   * Waits until what the edges published has left them (every spool empty), the gateways hold
   * nothing unacknowledged, and central has every truth item (or timeoutMs passes), then compares.
   */
  async drainAndVerify(timeoutMs = 180_000): Promise<ChainVerdict & { drainS: number }> {
    const start = Date.now()
    const snapshot = new Map([...this.truth].map(([id, t]) => [id, { aggs: new Map(t.aggs), geofence: new Set(t.geofence), coupons: new Set(t.coupons) }]))
    const deadline = start + timeoutMs
    const edgeBacklog = async () => (await Promise.all(this.edges.map((e) => metricSum(`http://127.0.0.1:${e.httpPort}`, 'store_edge_uplink_backlog').catch(() => 1)))).reduce((a, b) => a + b, 0)
    for (let b = await edgeBacklog(); b > 0 && Date.now() < deadline; b = await edgeBacklog()) {
      this.log(`draining: ${b} messages in the edges' spools`)
      await sleep(2000)
    }
    let verdict = await this.verify(snapshot)
    while (Date.now() < deadline) {
      const lost = verdict.lost
      const pendingPushes = await this.query<{ n: string }>(`select count(*) as n from coupons where store_id like $1 and status = 'issued' and push_status = 'pending'`, [`${this.opts.prefix}-%`])
      if (lost.aggregates + lost.geofence + lost.coupons + lost.pushes === 0 && Number(pendingPushes[0]!.n) === 0) break
      this.log(`waiting for central: lost so far ${JSON.stringify(lost)}, pushes pending ${pendingPushes[0]!.n}`)
      await sleep(3000)
      verdict = await this.verify(snapshot)
    }
    return { ...verdict, drainS: Math.round((Date.now() - start) / 1000) }
  }

  private async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const c = new pg.Client({ connectionString: this.pg.url })
    await c.connect()
    try {
      return (await c.query(sql, params)).rows as T[]
    } finally {
      await c.end()
    }
  }

  private async verify(snapshot: Map<string, { aggs: Map<number, MinuteAggregate>; geofence: Set<string>; coupons: Set<string> }>): Promise<ChainVerdict> {
    const prefix = this.opts.prefix
    // Minute aggregates → VictoriaMetrics: occupancy, enters and exits per zone, visitors per source.
    const series = await this.vm.export(`{__name__=~"occupancy_value|occupancy_enters|occupancy_exits|visitors_visitors",store=~"${prefix}-.*",camera=""}`)
    const byKey = new Map<string, Map<number, number[]>>()
    let dupSamples = 0
    for (const s of series) {
      const key = `${s.metric.__name__}|${s.metric.store}|${s.metric.zone ?? ''}|${s.metric.source ?? ''}`
      const m = new Map<number, number[]>()
      s.timestamps.forEach((ts, i) => m.set(ts, [...(m.get(ts) ?? []), s.values[i]!]))
      byKey.set(key, m)
    }
    let aggregates = 0
    let lostAggs = 0
    const lostExamples: string[] = []
    const check = (name: string, store: string, zone: string, source: string, ts: number, want: number): boolean => {
      const got = byKey.get(`${name}|${store}|${zone}|${source}`)?.get(ts)
      if (got && got.length > 1) dupSamples += got.length - 1
      const ok = got !== undefined && got[0] === want
      if (!ok && lostExamples.length < 5) lostExamples.push(`agg ${store} ${new Date(ts).toISOString()} ${name}{zone=${zone},source=${source}}: published ${want}, central ${got ? got.join('/') : 'nothing'}`)
      return ok
    }
    for (const [store, t] of snapshot) {
      for (const [minute, agg] of t.aggs) {
        aggregates++
        let ok = true
        for (const z of agg.zones) {
          ok &&= check('occupancy_value', store, z.zone, 'all', minute, z.occupancy)
          ok &&= check('occupancy_enters', store, z.zone, 'all', minute, z.enters)
          ok &&= check('occupancy_exits', store, z.zone, 'all', minute, z.exits)
        }
        for (const s of agg.sources) ok &&= check('visitors_visitors', store, '', s.source, minute, s.visitors)
        if (!ok) lostAggs++
      }
    }
    // Geofence events and coupon requests → the ledger.
    const like = `${prefix}-%`
    const events = new Set((await this.query<{ id: string }>('select id from geofence_events where store_id like $1', [like])).map((r) => r.id))
    const coupons = await this.query<{ key: string; id: string; status: string; campaign_id: string; member_ref: string; event_id: string }>(
      'select key, id, status, campaign_id, member_ref, event_id from coupons where store_id like $1',
      [like],
    )
    const keys = new Set(coupons.map((c) => c.key))
    let geofenceEvents = 0
    let couponRequests = 0
    let lostGeofence = 0
    let lostCoupons = 0
    for (const [store, t] of snapshot) {
      geofenceEvents += t.geofence.size
      couponRequests += t.coupons.size
      const raw = this.truth.get(store)!.raw
      for (const id of t.geofence) if (!events.has(id) && ++lostGeofence && lostExamples.length < 5) lostExamples.push(`events/geofence ${raw.get(id)}`)
      for (const k of t.coupons) if (!keys.has(k) && ++lostCoupons && lostExamples.length < 5) lostExamples.push(`coupons/requests ${raw.get(k)}`)
    }
    const firings = new Map<string, number>()
    for (const c of coupons) firings.set(`${c.campaign_id}|${c.member_ref}|${c.event_id}`, (firings.get(`${c.campaign_id}|${c.member_ref}|${c.event_id}`) ?? 0) + 1)
    const dupCoupons = [...firings.values()].reduce((n, k) => n + k - 1, 0)
    // Issued coupons → the member app: each exactly once (a retry carries the same Idempotency-Key).
    const issued = coupons.filter((c) => c.status === 'issued')
    const keysByCoupon = new Map<string, Set<string>>()
    for (const d of this.sink.deliveries) keysByCoupon.set(d.body.coupon.id, (keysByCoupon.get(d.body.coupon.id) ?? new Set()).add(d.key))
    const lostPushes = issued.filter((c) => !keysByCoupon.has(c.id)).length
    const dupPushes = [...keysByCoupon.values()].reduce((n, s) => n + s.size - 1, 0)
    const pushRetries = this.sink.deliveries.length - keysByCoupon.size - dupPushes
    const gatewayRedeliveries = (await Promise.all(this.gateways.map((g) => metricSum(g.url, 'store_edge_gw_uplink_redeliveries_total').catch(() => 0)))).reduce((a, b) => a + b, 0)
    const rejected = (await Promise.all(this.gateways.map((g) => metricSum(g.url, 'store_edge_gw_uplink_rejected_total').catch(() => 0)))).reduce((a, b) => a + b, 0)
    const edgeReplayed = (await Promise.all(this.edges.map((e) => metricSum(`http://127.0.0.1:${e.httpPort}`, 'store_edge_uplink_replayed_total').catch(() => 0)))).reduce((a, b) => a + b, 0)
    return {
      aggregates,
      geofenceEvents,
      couponRequests,
      issued: issued.length,
      lost: { aggregates: lostAggs, geofence: lostGeofence, coupons: lostCoupons, pushes: lostPushes },
      duplicates: { samples: dupSamples, coupons: dupCoupons, pushes: dupPushes },
      absorbed: { gatewayRedeliveries, edgeReplayed, pushRetries },
      rejected,
      lostExamples,
    }
  }

  /**
   * Everything stops; with `cleanBroker` (a shared broker) the run's retained topics and
   * persistent sessions are removed from it, so the machine's Mosquitto is left as it was found.
   */
  /** What the chain's stores have in VictoriaMetrics: series (active, all of them) and samples, for sizing. */
  async tsdbFootprint(): Promise<{ series: number; samples: number }> {
    const all = await this.vm.export(`{store=~"${this.opts.prefix}-.*"}`)
    return { series: all.length, samples: all.reduce((n, s) => n + s.values.length, 0) }
  }

  /** The gateways' recent log lines, into the run directory (kept when a run fails). */
  async dumpLogs(): Promise<void> {
    for (const [i, g] of this.gateways.entries()) await writeFile(join(this.opts.dir, `gw-${i + 1}.log`), g.logs.join('\n'))
  }

  async stop(opts: { cleanBroker?: boolean } = {}): Promise<void> {
    await Promise.all(this.edges.map((e) => e.sim?.stop().catch(() => undefined)))
    await Promise.all(this.edges.map((e) => e.audit?.endAsync().catch(() => undefined)))
    await Promise.all(
      this.edges.map(async (e) => {
        const p = e.proc
        if (!p || p.exitCode !== null || p.signalCode !== null) return
        const gone = new Promise((r) => p.once('exit', r))
        p.kill('SIGTERM')
        await Promise.race([gone, sleep(15_000).then(() => p.kill('SIGKILL'))])
      }),
    )
    for (const g of this.gateways) await g.stop().catch(() => undefined)
    if (opts.cleanBroker) await this.cleanBroker().catch((err: Error) => this.log(`could not clean the broker: ${err.message}`))
    await this.vm.stop().catch(() => undefined)
    await this.pg.stop().catch(() => undefined)
    await this.sink.stop?.()
  }

  private async cleanBroker(): Promise<void> {
    const url = this.opts.broker.url
    const c = await mqtt.connectAsync(url, { clientId: `${this.opts.prefix}-clean`, clean: true, reconnectPeriod: 0 })
    for (const id of this.storeIds) {
      for (const part of ['health', 'config/triggers', 'config/members', 'config/zones', 'config/cameras']) await c.publishAsync(`stores/${id}/${part}`, '', { qos: 1, retain: true })
    }
    await c.endAsync()
    // Persistent sessions: a clean connect under the same client id ends each.
    const ids = [...this.storeIds.map((id) => `edge-${id}`)]
    for (const id of ids) await mqtt.connectAsync(url, { clientId: id, clean: true, reconnectPeriod: 0 }).then((x) => x.endAsync())
    for (const n of [1, 2]) {
      await mqtt
        .connectAsync(url, { clientId: `store-edge-gw-${this.opts.prefix}-gw-${n}`, protocolVersion: 5, clean: true, properties: { sessionExpiryInterval: 0 }, reconnectPeriod: 0 })
        .then((x) => x.endAsync())
    }
  }
}
