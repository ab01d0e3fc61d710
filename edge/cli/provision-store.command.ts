import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { INGEST_SUBSCRIPTIONS, topics, type SensorConfig } from '../contracts/index.ts'
import { loadConfig, type EdgeConfig } from '../core/config.ts'
import { CredentialStore, type DeviceKind } from '../broker/credentials.ts'

/**
 * `store-edge provision store store.yaml`: a whole store from its edge config file. Every MQTT
 * sensor of `sensors` gets credentials in the edge's credential store (`{dataDir}/devices.json`, the
 * one `provision device` and the broker use) and a per-device file under --out with what to flash
 * or type into it. Meraki APs get the webhook settings; cameras need nothing.
 *
 * Idempotent: the store keeps only scrypt hashes, so the clear password of a device lives only in
 * its file under --out. A re-run reads that file back, checks the password against the store and
 * keeps it when it still verifies; --rotate issues new passwords (the old ones stop working at once).
 * A device that has credentials but no readable file is left alone (its live password is unknown
 * here) and reported: rotate it deliberately with --rotate.
 */

export type ProvisionAction = 'created' | 'kept' | 'rotated' | 'renewed' | 'unchanged' | 'secret-unknown'

export interface ProvisionRow {
  device: string
  kind: SensorConfig['kind'] | 'camera'
  zone: string
  action: ProvisionAction | 'webhook' | 'none'
  /** Path of the per-device file, relative to the current directory; '' when none was written. */
  file: string
  /** Why the action was taken (renewed: the reason), or a warning. */
  note?: string
  /** Only filled with showSecrets. */
  password?: string
}

export interface ProvisionResult {
  storeId: string
  outDir: string
  dataDir: string
  rows: ProvisionRow[]
  warnings: string[]
  /** Credentials in the store for devices that are not in the file (still valid; revoke them if the device is gone). */
  orphans: string[]
}

export interface ProvisionOptions {
  out?: string
  rotate?: boolean
  showSecrets?: boolean
  /** Host name or address the sensors reach the edge at (default: this machine's host name). */
  host?: string
  /** Overrides dataDir of the file, like `provision device --data-dir`. */
  dataDir?: string
  batchIntervalMs?: number
  env?: NodeJS.ProcessEnv
}

/** Sensor kinds that authenticate on the edge broker, and their credential kind. */
const MQTT_KIND: Partial<Record<SensorConfig['kind'], DeviceKind>> = { ble: 'ble', wifi: 'wifi', espresense: 'espresense', omg: 'omg' }

/** OpenMQTTGateway base topic: one level (OMG writes it with its trailing slash). */
export const OMG_BASE_TOPIC = 'home'

const SCHEMA_FILES = { ble: 'firmware-config/schemas/ble-batch.schema.json', wifi: 'firmware-config/schemas/wifi-batch.schema.json' } as const
const SCHEMA_IDS = { ble: 'https://store-edge.local/schemas/BleBatch.schema.json', wifi: 'https://store-edge.local/schemas/WifiBatch.schema.json' } as const

export function deviceFileName(id: string, kind: SensorConfig['kind']): string {
  return `${id}.${kind}.json`
}

interface Ctx {
  cfg: EdgeConfig
  host: string
  batchIntervalMs: number
}

function mqttSection(ctx: Ctx, id: string, username: string, password: string) {
  const { port, wsPort } = ctx.cfg.broker
  return {
    url: `mqtt://${ctx.host}:${port}`,
    wsUrl: wsPort >= 0 ? `ws://${ctx.host}:${wsPort}` : null,
    host: ctx.host,
    port,
    tls: false,
    clientId: id,
    username,
    password,
    keepaliveS: 30,
    qos: 1,
  }
}

/** Our BLE scanner / Wi-Fi sniffer: one JSON config (shape of firmware-config/wifi-sniffer.example.json). */
export function scannerConfig(ctx: Ctx, s: SensorConfig, kind: 'ble' | 'wifi', password: string) {
  const data = topics.sensor(s.id, kind)
  const status = topics.sensorStatus(s.id)
  const maxItems = Math.min(200, ctx.cfg.ingest.maxBatch)
  return {
    $comment: `store-edge ${kind === 'ble' ? 'BLE scanner' : 'Wi-Fi probe sniffer'} configuration for store ${ctx.cfg.store.id}, written by \`store-edge provision store\`. Contains the device password: keep it 0600, never commit it. See firmware-config/${kind === 'ble' ? 'README.md' : 'wifi-sniffer.md'}.`,
    deviceId: s.id,
    kind,
    store: ctx.cfg.store.id,
    zone: s.zone,
    mqtt: {
      ...mqttSection(ctx, s.id, s.id, password),
      dataTopic: data,
      statusTopic: status,
      configTopic: topics.sensorConfig(s.id),
      lastWill: { topic: status, payload: 'offline', qos: 1, retain: true },
      onConnect: { topic: status, payload: 'online', qos: 1, retain: true },
    },
    publishes: [{ topic: data, schema: SCHEMA_FILES[kind], $id: SCHEMA_IDS[kind], v: 1 }],
    time: { ntpServers: [ctx.host, 'pool.ntp.org'], resyncIntervalS: 3600, maxSkewMs: ctx.cfg.ingest.maxSkewMs },
    ...(kind === 'wifi'
      ? { sniffer: { frames: ['probe-request'], channels: [1, 6, 11], hopIntervalMs: 250, rssiFloorDbm: -90, sendSsid: false, sendSeq: true } }
      : { scanner: { activeScan: true, sendAdv: true, sendAddrType: true, rssiFloorDbm: -100 } }),
    batch: { intervalMs: ctx.batchIntervalMs, maxItems, maxBytes: Math.min(65536, ctx.cfg.broker.maxPacketBytes) },
  }
}

/** ESPresense: the settings to type into the node's web UI (or its captive portal). */
export function espresenseConfig(ctx: Ctx, s: SensorConfig, password: string) {
  return {
    $comment: `ESPresense node settings for store ${ctx.cfg.store.id}, written by \`store-edge provision store\`. Contains the MQTT password: keep it 0600. See firmware-config/espresense.md.`,
    deviceId: s.id,
    kind: 'espresense',
    store: ctx.cfg.store.id,
    zone: s.zone,
    settings: {
      room: s.id,
      mqttHost: ctx.host,
      mqttPort: ctx.cfg.broker.port,
      mqttUser: s.id,
      mqttPass: password,
      topicPrefix: 'espresense',
      homeAssistantDiscovery: false,
      publishTele: true,
      publishRooms: true,
      publishDevices: true,
    },
    calibration: {
      // ESPresense computes the distance the edge uses from these: keep them equal to the edge's model.
      refRssi: ctx.cfg.presence.rssiAt1m,
      absorption: s.absorption,
      rxAdjRssi: 0,
    },
    mqtt: mqttSection(ctx, s.id, s.id, password),
    topics: {
      publish: [topics.espresenseDevice('{beaconId}', s.id), `espresense/rooms/${s.id}/status`, `espresense/rooms/${s.id}/…`],
      subscribe: [`espresense/rooms/${s.id}/+/set`, 'espresense/rooms/*/+/set', 'espresense/settings/#'],
      edgeSubscribes: INGEST_SUBSCRIPTIONS.filter((t) => t.startsWith('espresense/')),
    },
  }
}

/** OpenMQTTGateway (BT gateway): build flags and the JSON its portal / serial config takes. */
export function omgConfig(ctx: Ctx, s: SensorConfig, password: string) {
  const base = OMG_BASE_TOPIC
  const port = String(ctx.cfg.broker.port)
  const q = (v: string) => `'-D${v}'`
  return {
    $comment: `OpenMQTTGateway settings for store ${ctx.cfg.store.id}, written by \`store-edge provision store\`. Contains the MQTT password: keep it 0600. See firmware-config/openmqttgateway.md.`,
    deviceId: s.id,
    kind: 'omg',
    store: ctx.cfg.store.id,
    zone: s.zone,
    buildFlags: [
      q(`ZgatewayBT="BT"`),
      q(`Gateway_Name="${s.id}"`),
      q(`Base_Topic="${base}/"`),
      q(`MQTT_SERVER="${ctx.host}"`),
      q(`MQTT_PORT="${port}"`),
      q(`MQTT_USER="${s.id}"`),
      q(`MQTT_PASS="${password}"`),
    ],
    settings: {
      mqtt_server: ctx.host,
      mqtt_port: port,
      mqtt_user: s.id,
      mqtt_pass: password,
      mqtt_topic: `${base}/`,
      gateway_name: s.id,
    },
    bt: { pubadvdata: true, onlysensors: false, hasspresence: false },
    mqtt: mqttSection(ctx, s.id, s.id, password),
    topics: {
      publish: [topics.omgBt(base, s.id, '{MAC}'), `${base}/${s.id}/LWT`, `${base}/${s.id}/SYStoMQTT`],
      subscribe: [`${base}/${s.id}/commands/#`],
      edgeSubscribes: INGEST_SUBSCRIPTIONS.filter((t) => t.startsWith('+/+/')),
    },
  }
}

/** Meraki AP: the Scanning API v3 webhook (one per network; every AP of the network shares it). */
export function merakiConfig(ctx: Ctx, s: SensorConfig, showSecretInFile: boolean) {
  const w = ctx.cfg.webhooks.meraki
  const mac = /^ap-[0-9a-f]{12}$/.test(s.id) ? s.id.slice(3).match(/../g)!.join(':') : null
  const url = `http://${ctx.host}:${ctx.cfg.http.port}/v1/webhooks/meraki`
  return {
    $comment: `Meraki Scanning API v3 settings for access point ${s.id} of store ${ctx.cfg.store.id}, written by \`store-edge provision store\`. See firmware-config/meraki.md.`,
    deviceId: s.id,
    kind: 'meraki-ap',
    store: ctx.cfg.store.id,
    zone: s.zone,
    apMac: mac,
    dashboard: {
      where: 'Network-wide › General › Location and scanning',
      scanningApi: 'enabled',
      postUrl: url,
      postUrlNote: 'https through the reverse proxy that terminates TLS in front of the edge when it faces the internet',
      apiVersion: 'V3',
      radioTypes: ['WiFi', 'Bluetooth'],
      sharedSecret: showSecretInFile ? w.secret : '<the value of webhooks.meraki.secret (STORE_EDGE_WEBHOOKS_MERAKI_SECRET)>',
      validator: w.validator || '<the validator string the dashboard shows: put it in webhooks.meraki.validator (STORE_EDGE_WEBHOOKS_MERAKI_VALIDATOR)>',
    },
    edge: {
      'webhooks.meraki.enabled': w.enabled,
      'webhooks.meraki.secret': w.secret ? 'set' : 'missing',
      'webhooks.meraki.validator': w.validator ? 'set' : 'missing',
      'http.host': ctx.cfg.http.host,
      'http.port': ctx.cfg.http.port,
    },
  }
}

async function readPassword(file: string, kind: SensorConfig['kind']): Promise<string | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return undefined
  }
  try {
    const o = JSON.parse(text) as { mqtt?: { password?: unknown }; settings?: { mqttPass?: unknown } }
    const pw = kind === 'espresense' ? o.settings?.mqttPass : o.mqtt?.password
    return typeof pw === 'string' && pw.length > 0 ? pw : undefined
  } catch {
    return undefined
  }
}

/** Atomic write with the final mode from the start (the secret is never world-readable on disk). */
async function writeSecretFile(file: string, body: unknown, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, JSON.stringify(body, null, 2) + '\n', { mode })
  await chmod(tmp, mode)
  await rename(tmp, file)
}

/** Validate the config, provision every sensor and write the per-device files. Throws on a bad config. */
export async function provisionStore(configFile: string, opts: ProvisionOptions = {}): Promise<ProvisionResult> {
  const env = { ...(opts.env ?? process.env) }
  if (opts.dataDir) env.STORE_EDGE_DATA_DIR = opts.dataDir
  const cfg = loadConfig(configFile, env)
  const outDir = resolve(opts.out ?? join('provision', cfg.store.id))
  const ctx: Ctx = { cfg, host: opts.host ?? hostname(), batchIntervalMs: opts.batchIntervalMs ?? 5000 }
  await mkdir(outDir, { recursive: true, mode: 0o700 })
  await chmod(outDir, 0o700)
  // The out dir holds passwords: keep it out of any repository it lands in.
  await writeFile(join(outDir, '.gitignore'), '# written by store-edge provision store: device secrets, never commit\n*\n', { mode: 0o600 })

  const store = await new CredentialStore(join(cfg.dataDir, 'devices.json')).load()
  const rows: ProvisionRow[] = []
  const warnings: string[] = []
  const rel = (p: string) => relative(process.cwd(), p) || '.'

  for (const s of cfg.sensors) {
    const file = join(outDir, deviceFileName(s.id, s.kind))
    if (s.kind === 'meraki-ap') {
      const secret = cfg.webhooks.meraki.secret
      // The shared secret goes into the file (0600) only on request; the dashboard needs it typed in.
      await writeSecretFile(file, merakiConfig(ctx, s, Boolean(opts.showSecrets && secret)), 0o600)
      let note: string | undefined
      if (!cfg.webhooks.meraki.enabled) note = 'webhooks.meraki.enabled is false: enable it (with a secret) before adding the post URL'
      else if (!cfg.webhooks.meraki.validator) note = 'webhooks.meraki.validator is empty: Meraki cannot validate the URL'
      if (!/^ap-[0-9a-f]{12}$/.test(s.id)) note = `id should be ap-<12 hex digits of the AP MAC> (the decoder names APs so)${note ? `; ${note}` : ''}`
      if (note) warnings.push(`${s.id}: ${note}`)
      rows.push({ device: s.id, kind: s.kind, zone: s.zone, action: 'webhook', file: rel(file), note })
      continue
    }
    const kind = MQTT_KIND[s.kind]!
    const existing = store.get(s.id)
    let password: string | undefined
    let action: ProvisionAction
    let note: string | undefined
    if (opts.rotate) {
      action = existing ? 'rotated' : 'created'
    } else if (!existing) {
      action = 'created'
    } else if (existing.revoked) {
      action = 'renewed'
      note = 'was revoked'
    } else if (existing.kind !== kind) {
      action = 'renewed'
      note = `kind changed ${existing.kind} → ${kind}`
    } else {
      const old = await readPassword(file, s.kind)
      if (old !== undefined && (await store.verify(s.id, old))) {
        action = 'kept'
        password = old
      } else if (old !== undefined) {
        action = 'renewed'
        note = 'the password in its file no longer verifies'
      } else {
        action = 'secret-unknown'
        note = `has credentials but no readable ${rel(file)}: its password is not recoverable; left as is (run with --rotate to issue a new one)`
      }
    }
    if (action === 'secret-unknown') {
      warnings.push(`${s.id}: ${note}`)
      rows.push({ device: s.id, kind: s.kind, zone: s.zone, action, file: '', note })
      continue
    }
    if (password === undefined) password = (await store.provision(s.id, kind)).password
    const body =
      s.kind === 'espresense' ? espresenseConfig(ctx, s, password) : s.kind === 'omg' ? omgConfig(ctx, s, password) : scannerConfig(ctx, s, s.kind as 'ble' | 'wifi', password)
    await writeSecretFile(file, body, 0o600)
    rows.push({ device: s.id, kind: s.kind, zone: s.zone, action, file: rel(file), note, ...(opts.showSecrets ? { password } : {}) })
  }
  for (const c of cfg.cameras) rows.push({ device: c.id, kind: 'camera', zone: c.memberZone, action: 'none', file: '', note: 'cameras need no credentials' })

  const inFile = new Set(cfg.sensors.map((s) => s.id))
  const orphans = store
    .list()
    .filter((d) => d.kind !== 'service' && !d.revoked && !inFile.has(d.deviceId))
    .map((d) => d.deviceId)
  if (orphans.length) warnings.push(`credentials of devices not in ${configFile} are still valid: ${orphans.join(', ')}`)

  // An index without secrets, for scripts and the installer's checklist.
  await writeFile(
    join(outDir, 'index.json'),
    JSON.stringify(
      { store: cfg.store.id, dataDir: cfg.dataDir, broker: `mqtt://${ctx.host}:${cfg.broker.port}`, devices: rows.map(({ password: _p, ...r }) => ({ ...r, file: r.file ? relative(outDir, resolve(r.file)) : '' })), orphans },
      null,
      2,
    ) + '\n',
    { mode: 0o600 },
  )
  return { storeId: cfg.store.id, outDir, dataDir: cfg.dataDir, rows, warnings, orphans }
}

export function formatTable(rows: ProvisionRow[], showSecrets: boolean): string {
  const head = ['DEVICE', 'KIND', 'ZONE', 'ACTION', 'FILE', ...(showSecrets ? ['PASSWORD'] : [])]
  const body = rows.map((r) => [r.device, r.kind, r.zone, r.action, r.file || '-', ...(showSecrets ? [r.password ?? '-'] : [])])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  return [head, ...body].map((cols) => cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n'
}

export interface ProvisionIo {
  stdout: (t: string) => void
  stderr: (t: string) => void
  setExitCode: (c: number) => void
}

const defaultIo: ProvisionIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  setExitCode: (c) => {
    process.exitCode = c
  },
}

function positiveInt(raw: string): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 100) throw new InvalidArgumentError('must be an integer ≥ 100 (milliseconds).')
  return n
}

export function provisionStoreCommand(ioOverrides: Partial<ProvisionIo> = {}): Command {
  const io: ProvisionIo = { ...defaultIo, ...ioOverrides }
  return new Command('store')
    .description('provision a whole store from its edge config: credentials for every sensor and a configuration file per device')
    .argument('<store.yaml>', 'the edge configuration file of the store (zones, sensors, cameras)')
    .option('-o, --out <dir>', 'where the per-device files go (default ./provision/<storeId>/)')
    .option('--rotate', 'issue new passwords for every device (the old ones are refused at once)')
    .option('--show-secrets', 'print passwords in the summary (and put the Meraki shared secret into the AP files)')
    .option('--host <host>', 'host name or address the sensors reach the edge at (default: this machine’s host name)')
    .addOption(new Option('-d, --data-dir <dir>', 'data directory (overrides dataDir of the file)'))
    .addOption(new Option('--batch-interval-ms <ms>', 'batch interval of our scanners and sniffers').default(5000).argParser(positiveInt))
    .option('--json', 'print the result as JSON instead of a table')
    .action(async (file: string, opts: { out?: string; rotate?: boolean; showSecrets?: boolean; host?: string; dataDir?: string; batchIntervalMs: number; json?: boolean }) => {
      let result: ProvisionResult
      try {
        result = await provisionStore(file, opts)
      } catch (err) {
        const e = err as Error & { code?: string }
        io.stderr(`store-edge provision store: ${file}: ${e.code?.startsWith('STORE_EDGE_ERR') ? `${e.code}: ` : ''}${e.message}\n`)
        io.setExitCode(1)
        return
      }
      if (opts.json) {
        io.stdout(JSON.stringify(result, null, 2) + '\n')
      } else {
        const n = result.rows.filter((r) => r.file).length
        io.stdout(`store ${result.storeId}: ${n} device file(s) in ${relative(process.cwd(), result.outDir) || '.'} (mode 0600), credentials in ${join(result.dataDir, 'devices.json')}\n\n`)
        io.stdout(formatTable(result.rows, Boolean(opts.showSecrets)))
        if (!opts.showSecrets) io.stdout('\npasswords are in the files only (--show-secrets prints them)\n')
      }
      for (const w of result.warnings) io.stderr(`warning: ${w}\n`)
    })
}
