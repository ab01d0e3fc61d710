import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { Type, type Static, type TSchema, Kind } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { parse as parseYaml } from 'yaml'
import { StoreEdgeError } from '../../edge/contracts/index.ts'

/**
 * The gateway configuration: one schema gives the JSON Schema, the type, the defaults and the
 * environment overrides (STORE_EDGE_GW_ + the path in SCREAMING_SNAKE, e.g. tsdb.url →
 * STORE_EDGE_GW_TSDB_URL). The conventional DATABASE_URL and TSDB_URL work too.
 */
// Unknown keys are errors: a typo (tsdb.ulr) must not silently fall back to a default.
const obj = <T extends Record<string, TSchema>>(props: T) => Type.Object(props, { default: {}, additionalProperties: false })

export const GatewayConfigSchema = Type.Object({
  id: Type.String({ default: '', description: 'Replica id, unique per gateway process (default: the host name). Keys its persistent MQTT session.' }),
  dataDir: Type.String({ default: './var/gateway', description: 'Where the embedded database (PGlite) and the embedded broker keep their files.' }),
  log: obj({ level: Type.String({ default: 'info', description: 'pino log level.' }) }),
  http: obj({
    host: Type.String({ default: '127.0.0.1', description: 'Address the API and dashboard bind to.' }),
    port: Type.Integer({ default: 8090, minimum: 0, maximum: 65535, description: 'API and dashboard port (0 = any free port).' }),
    publicUrl: Type.String({ default: '', description: 'The URL users reach the dashboard at (for links in logs); default http://host:port.' }),
    trustProxy: Type.Boolean({ default: false, description: 'Take the client address from X-Forwarded-For (only behind a reverse proxy you run: it feeds login throttling and the audit log).' }),
  }),
  mqtt: obj({
    url: Type.String({ default: '', description: 'Central MQTT broker (mqtt://, mqtts://); empty runs an embedded broker (single replica, demo).' }),
    username: Type.String({ default: '', description: 'Credentials at the central broker.' }),
    password: Type.String({ default: '', description: 'Password at the central broker (use STORE_EDGE_GW_MQTT_PASSWORD).' }),
    clientId: Type.String({ default: '', description: 'Client id of the durable consumer (default store-edge-gw-{id}).' }),
    protocolVersion: Type.Union([Type.Literal(4), Type.Literal(5)], { default: 5, description: 'MQTT 5 for shared subscriptions and Receive Maximum; 4 (3.1.1) for brokers without.' }),
    shareGroup: Type.String({ default: 'store-edge-gw', description: 'Shared subscription group ($share/{group}/…) the replicas split the load in; empty: plain subscriptions (one replica only).' }),
    receiveMaximum: Type.Integer({ default: 4000, minimum: 1, maximum: 65535, description: 'QoS 1 messages the broker may have in flight to this replica (acknowledged only once written).' }),
    sessionExpirySec: Type.Integer({ default: 7 * 86400, minimum: 0, description: 'How long the broker keeps the durable session (and queues for it) while the replica is away.' }),
    caFile: Type.String({ default: '', description: 'PEM CA of the central broker (TLS).' }),
    certFile: Type.String({ default: '', description: 'Client certificate (PEM) for mutual TLS.' }),
    keyFile: Type.String({ default: '', description: 'Client key (PEM) for mutual TLS.' }),
    rejectUnauthorized: Type.Boolean({ default: true, description: 'Verify the broker certificate.' }),
  }),
  centralBroker: obj({
    host: Type.String({ default: '127.0.0.1', description: 'Embedded central broker address (used when mqtt.url is empty).' }),
    port: Type.Integer({ default: 1885, minimum: 0, maximum: 65535, description: 'Embedded central broker port (0 = any free port).' }),
  }),
  tsdb: obj({
    url: Type.String({ default: '', description: 'Influx line-protocol write endpoint base (VictoriaMetrics, InfluxDB 2/3); empty: live window only.' }),
    queryUrl: Type.String({ default: '', description: 'PromQL endpoint base for history (default: tsdb.url, right for VictoriaMetrics).' }),
    token: Type.String({ default: '', description: 'API token (InfluxDB).' }),
    org: Type.String({ default: 'store-edge', description: 'Organisation (InfluxDB 2).' }),
    bucket: Type.String({ default: 'store-edge', description: 'Bucket / database.' }),
    batchLines: Type.Integer({ default: 20_000, minimum: 1, description: 'Lines per write request at most.' }),
    flushMs: Type.Integer({ default: 250, minimum: 10, maximum: 1000, description: 'A partly filled batch is written after this long (≤ 1 s).' }),
    timeoutMs: Type.Integer({ default: 10_000, minimum: 100, description: 'Write request timeout.' }),
    gzip: Type.Boolean({ default: false, description: 'Compress write requests above 64 KiB (worth it over a WAN; costs gateway CPU on a LAN).' }),
  }),
  database: obj({
    url: Type.String({ default: '', description: 'PostgreSQL URL; empty: embedded PGlite in {dataDir}/db.' }),
    poolMax: Type.Integer({ default: 10, minimum: 1, description: 'Connections in the pool.' }),
  }),
  coupons: obj({
    signingKeyFile: Type.String({ default: '', description: 'PEM (PKCS#8) Ed25519 private key that signs coupon codes; empty: generated once into {dataDir}/coupon-signing-key.pem (mode 0600). Replicas may share one key or each have their own (public keys are registered in the database).' }),
    defaultProvider: Type.Union([Type.Literal('webhook'), Type.Literal('wechat')], { default: 'webhook', description: 'Push provider for members without a preference.' }),
    statsIntervalMs: Type.Integer({ default: 10_000, minimum: 1000, description: 'How often the per-minute coupon figures are recounted from the ledger and written to the TSDB.' }),
    push: obj({
      enabled: Type.Boolean({ default: true, description: 'Run the outbox worker on this replica (off: coupons are decided and queued, pushed by another replica or later).' }),
      concurrency: Type.Integer({ default: 64, minimum: 1, maximum: 10_000, description: 'Pushes in flight at most.' }),
      batch: Type.Integer({ default: 200, minimum: 1, maximum: 10_000, description: 'Outbox rows claimed per query.' }),
      pollMs: Type.Integer({ default: 500, minimum: 10, description: 'Outbox polling period when idle (a local decision wakes the worker at once).' }),
      leaseMs: Type.Integer({ default: 60_000, minimum: 1000, description: 'How long a claimed row is reserved for this replica; must exceed timeoutMs.' }),
      timeoutMs: Type.Integer({ default: 10_000, minimum: 100, description: 'Provider request timeout.' }),
      maxAttempts: Type.Integer({ default: 8, minimum: 1, maximum: 100, description: 'Attempts before a push goes to the dead letter.' }),
      backoffBaseMs: Type.Integer({ default: 1000, minimum: 1, description: 'Backoff after the first failure; doubles per attempt, full jitter.' }),
      backoffMaxMs: Type.Integer({ default: 300_000, minimum: 1, description: 'Backoff ceiling.' }),
    }),
    webhook: obj({
      url: Type.String({ default: '', description: 'HTTPS endpoint that receives coupons (POST JSON, HMAC-signed); empty: the webhook provider is off.' }),
      secret: Type.String({ default: '', description: 'HMAC-SHA256 secret of the webhook signature (use STORE_EDGE_GW_COUPONS_WEBHOOK_SECRET).' }),
    }),
    wechat: obj({
      baseUrl: Type.String({ default: 'https://api.weixin.qq.com', description: 'WeChat API base (or a proxy speaking the same API).' }),
      appId: Type.String({ default: '', description: 'Official Account appid; empty: the WeChat provider is off.' }),
      appSecret: Type.String({ default: '', description: 'Official Account secret (use STORE_EDGE_GW_COUPONS_WECHAT_APP_SECRET).' }),
    }),
  }),
  window: obj({
    hours: Type.Number({ default: 24, minimum: 1, maximum: 72, description: 'Minutes of history kept in memory per store for live views.' }),
    maxStores: Type.Integer({ default: 20_000, minimum: 1, description: 'Stores kept in the window at most.' }),
  }),
  auth: obj({
    sessionTtlHours: Type.Number({ default: 12, minimum: 0.01, description: 'Login session lifetime.' }),
    cookieSecure: Type.Boolean({ default: false, description: 'Mark the session cookie Secure (set behind HTTPS).' }),
    bootstrapAdminPassword: Type.String({ default: '', description: 'Password of the first admin, created when there are no users (empty: a random one is logged once).' }),
    loginMaxFailures: Type.Integer({ default: 5, minimum: 1, description: 'Failed logins of one username from one address within a minute before backing off.' }),
    loginBanMs: Type.Integer({ default: 30_000, minimum: 0, description: 'Back-off after too many failed logins.' }),
    demoUsers: Type.Boolean({ default: false, description: 'Create one demo user per role (the demo only; never in production).' }),
  }),
  cameras: obj({
    edges: Type.Record(
      Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }),
      Type.Object(
        {
          url: Type.String({ pattern: '^https?://[^\\s]+$', description: "Base URL of the store's edge HTTP API (http.host:http.port of the edge), e.g. http://10.1.2.3:8080." }),
          token: Type.String({ minLength: 1, description: "The edge's http.cameraToken (sent as x-camera-token)." }),
        },
        { additionalProperties: false },
      ),
      { default: {}, description: "Where the security view reaches each store's edge: { storeId: { url, token } }. A store not listed has no camera view (503)." },
    ),
    allowUnblurred: Type.Boolean({ default: true, description: 'Let roles with cameras:unblur see unblurred snapshots (each view audited; the edge must allow it too, http.cameraUnblurred). false: blurred for everyone.' }),
    timeoutMs: Type.Integer({ default: 5000, minimum: 100, description: "Timeout of a request to an edge's camera API (list, events, snapshot; WebSocket handshakes)." }),
  }),
}, { additionalProperties: false })
export type GatewayConfig = Static<typeof GatewayConfigSchema>

const ALIASES: Record<string, string> = { DATABASE_URL: 'STORE_EDGE_GW_DATABASE_URL', TSDB_URL: 'STORE_EDGE_GW_TSDB_URL', MQTT_URL: 'STORE_EDGE_GW_MQTT_URL' }

export function gatewayEnvOverrides(): Array<{ path: string[]; env: string; schema: TSchema }> {
  const out: Array<{ path: string[]; env: string; schema: TSchema }> = []
  const walk = (s: TSchema, path: string[]) => {
    if (s[Kind] === 'Object' && s.properties) {
      for (const [k, child] of Object.entries(s.properties as Record<string, TSchema>)) walk(child, [...path, k])
      return
    }
    out.push({ path, env: 'STORE_EDGE_GW_' + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_'), schema: s })
  }
  walk(GatewayConfigSchema, [])
  return out
}

function coerce(raw: string, schema: TSchema): unknown {
  const kind = schema[Kind]
  if (kind === 'Integer' || kind === 'Number') return raw.trim() === '' ? raw : Number(raw)
  if (kind === 'Union') return /^\d+$/.test(raw) ? Number(raw) : raw
  if (kind === 'Boolean') return raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw
  return raw
}

/** Validate and fill defaults; throws STORE_EDGE_ERR_CONFIG_INVALID listing every error with its path. */
export function resolveGatewayConfig(input: unknown, env: NodeJS.ProcessEnv = {}): GatewayConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new StoreEdgeError('STORE_EDGE_ERR_CONFIG_INVALID', 'the configuration must be an object')
  }
  const value = structuredClone(input) as Record<string, unknown>
  const vars = { ...env }
  for (const [alias, name] of Object.entries(ALIASES)) if (vars[alias] !== undefined && vars[name] === undefined) vars[name] = vars[alias]
  for (const { path, env: name, schema } of gatewayEnvOverrides()) {
    const raw = vars[name]
    if (raw === undefined) continue
    let node = value
    for (const key of path.slice(0, -1)) {
      if (typeof node[key] !== 'object' || node[key] === null) node[key] = {}
      node = node[key] as Record<string, unknown>
    }
    node[path[path.length - 1]!] = coerce(raw, schema)
  }
  const withDefaults = Value.Default(GatewayConfigSchema, value)
  const errors = [...Value.Errors(GatewayConfigSchema, withDefaults)]
  if (errors.length > 0) {
    const lines = errors.slice(0, 50).map((e) => `  ${e.path || '/'}: ${e.message}`)
    throw new StoreEdgeError('STORE_EDGE_ERR_CONFIG_INVALID', `\n${lines.join('\n')}`)
  }
  const cfg = withDefaults as GatewayConfig
  const problems: string[] = []
  if (cfg.mqtt.shareGroup && !/^[A-Za-z0-9_-]+$/.test(cfg.mqtt.shareGroup)) problems.push('  /mqtt/shareGroup: letters, digits, _ and - only')
  if (cfg.mqtt.shareGroup && cfg.mqtt.protocolVersion !== 5 && cfg.mqtt.url) problems.push('  /mqtt/shareGroup: shared subscriptions need protocolVersion 5 (or set shareGroup to "")')
  for (const [p, u] of [['/tsdb/url', cfg.tsdb.url], ['/tsdb/queryUrl', cfg.tsdb.queryUrl]] as const) {
    if (u && !/^https?:\/\/[^\s]+$/.test(u)) problems.push(`  ${p}: must be an http(s) URL`)
  }
  if (cfg.database.url && !/^postgres(ql)?:\/\//.test(cfg.database.url)) problems.push('  /database/url: must be a postgres:// URL')
  const cp = cfg.coupons
  if (cp.webhook.url && !/^https?:\/\/[^\s]+$/.test(cp.webhook.url)) problems.push('  /coupons/webhook/url: must be an http(s) URL')
  if (cp.webhook.url && !cp.webhook.secret) problems.push('  /coupons/webhook/secret: a webhook needs a secret to sign with')
  if (cp.wechat.appId && !cp.wechat.appSecret) problems.push('  /coupons/wechat/appSecret: required with appId')
  if (cp.push.leaseMs <= cp.push.timeoutMs) problems.push('  /coupons/push/leaseMs: must exceed /coupons/push/timeoutMs (a lease must outlive the push it covers)')
  // mqtt.js falls back to plain TCP for a scheme it does not know, so a typo would connect somewhere odd.
  if (cfg.mqtt.url && !/^(mqtts?|tcp|tls|ssl|wss?):\/\/[^\s/]+/.test(cfg.mqtt.url)) problems.push('  /mqtt/url: must be an mqtt://, mqtts://, ws:// or wss:// URL')
  if (problems.length) throw new StoreEdgeError('STORE_EDGE_ERR_CONFIG_INVALID', `\n${problems.join('\n')}`)
  cfg.id ||= hostname().toLowerCase().replace(/[^a-z0-9_-]/g, '-')
  return cfg
}

export function loadGatewayConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let input: unknown = {}
  if (file) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new StoreEdgeError('STORE_EDGE_ERR_CONFIG_INVALID', `cannot read ${file}: ${(err as Error).message}`)
    }
    try {
      input = parseYaml(text) ?? {}
    } catch (err) {
      throw new StoreEdgeError('STORE_EDGE_ERR_CONFIG_INVALID', `${file} is not valid YAML/JSON: ${(err as Error).message}`)
    }
  }
  return resolveGatewayConfig(input, env)
}
