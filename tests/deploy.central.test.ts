import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse as parseYaml, parseAllDocuments } from 'yaml'
import { connect, tempDir, waitFor } from './helpers.ts'
import { freePort, PrivateMosquitto } from './support/servers.ts'
import { makeCertificates, passwordFile } from './support/tls.ts'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DEPLOY = join(ROOT, 'deploy')
const CENTRAL = join(DEPLOY, 'central')
const CHART = join(DEPLOY, 'helm', 'store-edge')

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]))
}
const read = (f: string) => readFileSync(f, 'utf8')

/**
 * The store's own Mosquitto with deploy/bridge/mosquitto-bridge.conf rendered by
 * render-mosquitto-bridge.sh into a conf.d directory, the way a site installs it.
 */
async function startSiteBroker(dir: string, port: number): Promise<ChildProcess> {
  await mkdir(join(dir, 'data'), { recursive: true })
  const conf = join(dir, 'mosquitto.conf')
  await writeFile(
    conf,
    [
      'persistence true',
      `persistence_location ${join(dir, 'data')}/`,
      'autosave_interval 1',
      'max_queued_messages 0',
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      `log_dest file ${join(dir, 'mosquitto.log')}`,
      `include_dir ${join(dir, 'conf.d')}`,
      '',
    ].join('\n'),
  )
  const proc = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' })
  proc.once('error', () => undefined)
  return proc
}

async function stopProc(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return
  const done = new Promise((r) => p.once('exit', r))
  p.kill('SIGTERM')
  await done
}

function collect(c: MqttClient, into: { topic: string; payload: string; retain: boolean }[]): void {
  c.on('message', (topic, payload, packet) => into.push({ topic, payload: payload.toString(), retain: packet.retain }))
}

describe('deploy/bridge: a store’s Mosquitto bridged to central over TLS with a password', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>
  let central: PrivateMosquitto
  let site: ChildProcess | undefined
  let sitePort = 0
  const clients: MqttClient[] = []

  beforeAll(async () => {
    tmp = await tempDir('store-edge-bridge-')
    const certs = await makeCertificates(tmp.dir)
    // the store's password at central: made at install time, never in the repo
    const secret = `s1-${Math.random().toString(36).slice(2)}`
    await writeFile(join(tmp.dir, 'central-password'), `${secret}\n`, { mode: 0o600 })
    const pw = await passwordFile(join(tmp.dir, 'passwords'), { s1: secret, gateway: 'gw-test' })
    central = await new PrivateMosquitto(join(tmp.dir, 'central')).start({ tls: certs, passwordFile: pw, aclFile: join(CENTRAL, 'mosquitto.acl') })

    // a config published before the site comes up: the bridge must bring it down retained
    const gw = await connect(`mqtts://localhost:${central.port}`, { username: 'gateway', password: 'gw-test', ca: readFileSync(certs.ca), clientId: 'gw-test' })
    clients.push(gw)
    await gw.publishAsync('stores/s1/config/zones', JSON.stringify({ v: 1, zones: ['entrance'] }), { qos: 1, retain: true })

    sitePort = await freePort()
    await mkdir(join(tmp.dir, 'site', 'conf.d'), { recursive: true })
    await run('sh', [join(DEPLOY, 'bridge', 'render-mosquitto-bridge.sh'), 's1', `localhost:${central.port}`, certs.ca, join(tmp.dir, 'central-password'), join(tmp.dir, 'site', 'conf.d', 'store-edge-bridge.conf')])
    site = await startSiteBroker(join(tmp.dir, 'site'), sitePort)
  })

  afterAll(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => undefined)
    await stopProc(site)
    await central?.stop()
    await tmp?.cleanup()
  })

  it('renders a 0600 file with the password from the file and no placeholder left', () => {
    const f = join(tmp.dir, 'site', 'conf.d', 'store-edge-bridge.conf')
    expect(statSync(f).mode & 0o077).toBe(0)
    const text = read(f)
    expect(text).not.toMatch(/@[A-Z_]+@/)
    expect(text).toMatch(/^remote_password s1-[a-z0-9]+$/m)
    expect(text).toMatch(/^cleansession false$/m)
  })

  it('carries stores/s1/agg up (QoS 1) and the retained config down', async () => {
    const up: { topic: string; payload: string; retain: boolean }[] = []
    const down: { topic: string; payload: string; retain: boolean }[] = []
    const gw = clients[0]!
    collect(gw, up)
    await gw.subscribeAsync('stores/s1/#', { qos: 1 })

    const store = await waitFor(() => connect(`mqtt://127.0.0.1:${sitePort}`, { clientId: 'edge-s1' }).catch(() => undefined), 'site broker')
    clients.push(store)
    collect(store, down)
    await store.subscribeAsync('stores/s1/config/+', { qos: 1 })

    // the config published before the bridge came up arrives, and the site keeps it retained
    await waitFor(() => down.find((m) => m.topic === 'stores/s1/config/zones'), 'retained config on the site broker', 30_000)
    expect(JSON.parse(down.find((m) => m.topic === 'stores/s1/config/zones')!.payload)).toEqual({ v: 1, zones: ['entrance'] })

    // the bridge connects asynchronously: publish until central has seen an aggregate
    let n = 0
    await waitFor(async () => {
      await store.publishAsync('stores/s1/agg', JSON.stringify({ v: 1, n: n++ }), { qos: 1 })
      return up.find((m) => m.topic === 'stores/s1/agg')
    }, 'stores/s1/agg on central', 30_000)

    // a live config update reaches the site too
    await gw.publishAsync('stores/s1/config/zones', JSON.stringify({ v: 1, zones: ['entrance', 'beauty'] }), { qos: 1, retain: true })
    await waitFor(() => down.find((m) => m.payload.includes('beauty')), 'updated config on the site broker')

    // an edge that connects later still finds the config on its own broker (retained locally)
    const late = await connect(`mqtt://127.0.0.1:${sitePort}`, { clientId: 'late-edge' })
    clients.push(late)
    const seen: { topic: string; payload: string; retain: boolean }[] = []
    collect(late, seen)
    await late.subscribeAsync('stores/s1/config/zones', { qos: 1 })
    const got = await waitFor(() => seen.find((m) => m.topic === 'stores/s1/config/zones'), 'retained config for a later edge')
    expect(got.retain).toBe(true)

    // only the allowed topics leave the site: a topic outside the bridge never reaches central
    await store.publishAsync('stores/s2/agg', '{"v":1}', { qos: 1 })
    await store.publishAsync('stores/s1/agg', JSON.stringify({ v: 1, last: true }), { qos: 1 })
    await waitFor(() => up.find((m) => m.payload.includes('"last"')), 'the last aggregate')
    expect(up.filter((m) => m.topic === 'stores/s2/agg')).toEqual([])
  })
})

// ─── static checks: every file under deploy/ ────────────────────────────────────────────────────

const SECRET_KEY = /(password|passwd|secret|token|api[_-]?key|private[_-]?key|client[_-]?secret)/i
/** Values that are references, not secrets: placeholders, env/template substitutions, paths, names. */
function isReference(v: string): boolean {
  return (
    v === '' ||
    /^(CHANGE_ME|…|\.\.\.|true|false|\d+)$/.test(v) ||
    /^(\$[A-Za-z_{(]|@[A-Z_]+@|\{\{|\{|\[|file:\/\/|\/|\.\/|<)/.test(v) ||
    /^[a-z][a-z-]*$/.test(v) // a Kubernetes Secret's name (lowercase words, no digits)
  )
}

/** Everything in a text that looks like a committed secret, as "line: reason". */
function findSecrets(text: string): string[] {
  const found: string[] = []
  text.split('\n').forEach((line, i) => {
    const at = `line ${i + 1}`
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(line)) found.push(`${at}: a private key`)
    if (/\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bxox[abp]-[A-Za-z0-9-]{10,}/.test(line)) found.push(`${at}: an access token`)
    if (/\$2[aby]\$\d\d\$|\$7\$[A-Za-z0-9./$]{20,}|\$6\$[^\s$]+\$/.test(line)) found.push(`${at}: a password hash`)
    const url = /\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@'"]+:([^\s@'"]+)@/i.exec(line)
    if (url && !isReference(url[1]!)) found.push(`${at}: a password in a URL`)
    if (/^\s*(#|\/\/|<!--)/.test(line)) return
    // key: value / key = value / KEY=value / key value (Mosquitto)
    const kv = /^\s*-?\s*["']?([\w.-]+)["']?\s*(?:[:=]\s*|\s+)(.*)$/.exec(line)
    if (!kv || !SECRET_KEY.test(kv[1]!)) return
    const value = kv[2]!.trim().replace(/^["']/, '')
    const token = value.split(/[\s,"'}]/)[0] ?? ''
    if (token.length >= 6 && !isReference(token)) found.push(`${at}: ${kv[1]} has a literal value`)
  })
  return found
}

describe('deploy/: no committed secret', () => {
  it('the scanner finds the secrets it is meant to find', () => {
    expect(findSecrets('-----BEGIN PRIVATE KEY-----')).toHaveLength(1)
    expect(findSecrets('-----BEGIN EC PRIVATE KEY-----')).toHaveLength(1)
    expect(findSecrets('  password: hunter22')).toHaveLength(1)
    expect(findSecrets('remote_password s3cr3tpass')).toHaveLength(1)
    expect(findSecrets('POSTGRES_PASSWORD=Xk29sdlfj2')).toHaveLength(1)
    expect(findSecrets('DATABASE_URL: postgres://u:abc12345@db/x')).toHaveLength(1)
    expect(findSecrets('gateway:$7$101$abcdefghijklmnopqrstuvwxyz0123')).toHaveLength(1)
    expect(findSecrets('STORE_EDGE_GW_MQTT_PASSWORD: ${GATEWAY_MQTT_PASSWORD:?x}')).toEqual([])
    expect(findSecrets('DATABASE_URL: postgres://storeedge:${POSTGRES_PASSWORD}@postgres/db')).toEqual([])
    expect(findSecrets('password = "file:///etc/emqx/secrets/p"')).toEqual([])
    expect(findSecrets('existingSecret: store-edge-database')).toEqual([])
  })

  it('no file under deploy/ holds a password, key or token', () => {
    const files = walk(DEPLOY)
    expect(files.length).toBeGreaterThan(10)
    const hits = files.flatMap((f) => findSecrets(read(f)).map((h) => `${relative(ROOT, f)} ${h}`))
    expect(hits).toEqual([])
    // nothing that is a key or a password file by its name either
    expect(files.filter((f) => /\.(key|p12|pfx|jks)$|(^|\/)(passwords?|\.env)$|id_(rsa|ed25519)$/.test(f))).toEqual([])
  })

  it('every YAML file under deploy/ parses (Helm templates aside)', () => {
    const yamls = walk(DEPLOY).filter((f) => /\.ya?ml$/.test(f) && !f.includes('/templates/'))
    expect(yamls.length).toBeGreaterThanOrEqual(6)
    for (const f of yamls) {
      const docs = parseAllDocuments(read(f))
      for (const d of docs) expect(d.errors, relative(ROOT, f)).toEqual([])
    }
  })
})

// ─── the compose stack ──────────────────────────────────────────────────────────────────────────

interface ComposeService {
  image?: string
  build?: { context: string; dockerfile: string }
  command?: string[]
  restart?: string
  ports?: string[]
  volumes?: string[]
  secrets?: { source: string; target: string }[]
  environment?: Record<string, string>
  healthcheck?: { test: string[] }
  depends_on?: Record<string, { condition: string }>
}
interface Compose {
  services: Record<string, ComposeService>
  secrets: Record<string, { file: string }>
  volumes: Record<string, unknown>
}

describe('deploy/central: the compose stack', () => {
  const compose = parseYaml(read(join(CENTRAL, 'compose.yaml')), { merge: true }) as Compose
  const s = compose.services
  const envExample = read(join(CENTRAL, '.env.example'))

  it('has the broker, two gateway replicas, PostgreSQL, VictoriaMetrics and Grafana, each restarted and health-checked', () => {
    expect(Object.keys(s).sort()).toEqual(['gateway-1', 'gateway-2', 'grafana', 'mosquitto', 'postgres', 'victoriametrics'])
    for (const [name, svc] of Object.entries(s)) {
      expect(svc.restart, name).toBe('unless-stopped')
      expect(svc.healthcheck?.test.length, name).toBeGreaterThan(0)
    }
    for (const gw of ['gateway-1', 'gateway-2']) {
      expect(s[gw]!.command).toEqual(['gateway'])
      expect(s[gw]!.depends_on).toEqual({ mosquitto: { condition: 'service_healthy' }, postgres: { condition: 'service_healthy' }, victoriametrics: { condition: 'service_healthy' } })
      expect(s[gw]!.environment!.MQTT_URL).toBe('mqtts://mosquitto:8883')
      expect(s[gw]!.environment!.TSDB_URL).toBe('http://victoriametrics:8428')
      expect(s[gw]!.environment!.DATABASE_URL).toMatch(/^postgres:\/\/storeedge:\$\{POSTGRES_PASSWORD:\?[^}]*\}@postgres:5432\/storeedge$/)
    }
    expect(s['gateway-1']!.environment!.STORE_EDGE_GW_ID).toBe('gw-1')
    expect(s['gateway-2']!.environment!.STORE_EDGE_GW_ID).toBe('gw-2')
    expect(s.victoriametrics!.command).toContain('-dedup.minScrapeInterval=1ms')
    // only the broker's TLS port is public; the rest binds to loopback for a reverse proxy
    const published = Object.entries(s).flatMap(([n, svc]) => (svc.ports ?? []).map((p) => [n, p] as const))
    for (const [n, p] of published) if (n !== 'mosquitto') expect(p, n).toMatch(/^127\.0\.0\.1:/)
  })

  it('references files that exist: the Dockerfile, the mounted configs and dashboards', () => {
    for (const gw of ['gateway-1', 'gateway-2']) {
      const b = s[gw]!.build!
      const ctx = resolve(CENTRAL, b.context)
      expect(ctx).toBe(resolve(ROOT))
      const dockerfile = read(join(ctx, b.dockerfile))
      expect(dockerfile).toMatch(/RUN npm ci\b/)
      expect(dockerfile).toMatch(/npm run build/)
      expect(dockerfile).toMatch(/"node", "dist\/cli\.mjs"/)
    }
    // the build writes dist/cli.mjs from bin/cli.ts
    expect(JSON.parse(read(join(ROOT, 'package.json'))).scripts.build).toMatch(/bin\/cli\.ts.*--outdir=dist/)
    for (const [name, svc] of Object.entries(s)) {
      for (const v of svc.volumes ?? []) {
        const [src] = v.split(':')
        if (!src!.startsWith('.')) {
          expect(compose.volumes, `${name}: named volume ${src}`).toHaveProperty(src!)
          continue
        }
        expect(existsSync(resolve(CENTRAL, src!)), `${name}: ${src}`).toBe(true)
      }
    }
    // secrets come from outside the repository, each one used
    for (const [name, sec] of Object.entries(compose.secrets)) expect(sec.file, name).toMatch(/^\$\{STORE_EDGE_SECRETS_DIR:\?[^}]*\}\//)
    const used = new Set(Object.values(s).flatMap((svc) => (svc.secrets ?? []).map((x) => x.source)))
    expect([...used].sort()).toEqual(Object.keys(compose.secrets).sort())
  })

  it('every variable the stack requires is in .env.example, as a placeholder', () => {
    const text = read(join(CENTRAL, 'compose.yaml'))
    const required = [...new Set([...text.matchAll(/\$\{(\w+):\?/g)].map((m) => m[1]!))]
    expect(required.sort()).toEqual(['GATEWAY_ADMIN_PASSWORD', 'GATEWAY_MQTT_PASSWORD', 'GRAFANA_ADMIN_PASSWORD', 'POSTGRES_PASSWORD', 'STORE_EDGE_SECRETS_DIR'])
    for (const v of required) expect(envExample, v).toMatch(new RegExp(`^${v}=\\S+`, 'm'))
    for (const m of envExample.matchAll(/^(\w*PASSWORD)=(.*)$/gm)) expect(m[2], m[1]).toBe('CHANGE_ME')
  })

  it('provisions Grafana with VictoriaMetrics (Prometheus type) and our dashboards', () => {
    const g = s.grafana!
    const prov = g.volumes!.find((v) => v.endsWith(':/etc/grafana/provisioning:ro'))!.split(':')[0]!
    const ds = parseYaml(read(join(CENTRAL, prov, 'datasources', 'victoriametrics.yaml'))) as { datasources: { type: string; url: string }[] }
    expect(ds.datasources).toEqual([expect.objectContaining({ type: 'prometheus', url: 'http://victoriametrics:8428' })])
    const dash = parseYaml(read(join(CENTRAL, prov, 'dashboards', 'store-edge.yaml'))) as { providers: { type: string; options: { path: string } }[] }
    const path = dash.providers[0]!.options.path
    const mount = g.volumes!.find((v) => v.split(':')[1] === path)
    expect(mount, `a volume mounted at ${path}`).toBeDefined()
    const dir = resolve(CENTRAL, mount!.split(':')[0]!)
    expect(dir).toBe(join(ROOT, 'dashboards', 'grafana'))
    const jsons = readdirSync(dir).filter((f) => f.endsWith('.json'))
    expect(jsons.length).toBeGreaterThan(0)
    for (const f of jsons) expect(JSON.parse(read(join(dir, f))).panels.length).toBeGreaterThan(0)
  })

  it('its Mosquitto configuration runs: TLS only, passwords, the ACL (paths mapped to a temp dir)', async () => {
    const mosq = s.mosquitto!
    const tmp = await tempDir('store-edge-compose-mosq-')
    let proc: ChildProcess | undefined
    try {
      const certs = await makeCertificates(tmp.dir)
      const pw = await passwordFile(join(tmp.dir, 'passwords'), { gateway: 'gw-compose', 's-1': 'store-pw' })
      // container path -> file here, from the compose file's own mounts and secrets
      const map = new Map<string, string>()
      for (const v of mosq.volumes!) {
        const [src, target] = v.split(':')
        if (src!.startsWith('.')) map.set(target!, resolve(CENTRAL, src!))
      }
      const secretFiles: Record<string, string> = { mosquitto_passwords: pw, broker_ca: certs.ca, broker_cert: certs.cert, broker_key: certs.key }
      for (const x of mosq.secrets!) map.set(x.target, secretFiles[x.source]!)
      await mkdir(join(tmp.dir, 'data'))
      map.set('/mosquitto/data/', `${join(tmp.dir, 'data')}/`)
      const port = await freePort()
      const confText = read(map.get('/mosquitto/config/mosquitto.conf')!)
      const lines = confText.split('\n').map((l) => {
        for (const [target, file] of map) if (l.endsWith(` ${target}`)) return l.slice(0, -target.length) + file
        if (l.startsWith('listener 8883')) return `listener ${port} 127.0.0.1`
        if (l.startsWith('log_dest')) return `log_dest file ${join(tmp.dir, 'mosquitto.log')}`
        return l
      })
      // every absolute path left must be one of ours (a path the compose file does not mount would fail here)
      for (const l of lines) if (!l.startsWith('#') && / \/mosquitto\//.test(l)) throw new Error(`unmapped path in compose/mosquitto.conf: ${l}`)
      if (process.getuid?.() === 0) lines.push('user root')
      const conf = join(tmp.dir, 'mosquitto.conf')
      await writeFile(conf, lines.join('\n'))
      proc = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' })
      const ca = readFileSync(certs.ca)
      const gw = await waitFor(() => connect(`mqtts://127.0.0.1:${port}`, { username: 'gateway', password: 'gw-compose', ca, clientId: 'gw' }).catch(() => undefined), 'compose mosquitto')
      await expect(connect(`mqtts://127.0.0.1:${port}`, { ca, clientId: 'anon' })).rejects.toThrow(/Not authorized|Bad username/i)
      // plain MQTT on the TLS port never gets a CONNACK (mqtt.js reports a close, not always an error)
      const plain = await new Promise<string>((done) => {
        const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username: 'gateway', password: 'gw-compose', clientId: 'plain', reconnectPeriod: 0, connectTimeout: 5000 })
        c.on('error', () => undefined)
        c.once('connect', () => (c.end(true), done('connected')))
        c.once('close', () => (c.end(true), done('closed')))
      })
      expect(plain).toBe('closed')
      // the ACL is in force: a store may not write another store's topics, only its own
      const seen: string[] = []
      gw.on('message', (t) => seen.push(t))
      await gw.subscribeAsync('stores/#', { qos: 1 })
      const forger = await connect(`mqtts://127.0.0.1:${port}`, { username: 's-1', password: 'store-pw', ca, clientId: 'forger' })
      // Mosquitto 2.0 refuses the publish (over TLS it also drops the connection): either ends this wait
      await Promise.race([new Promise<void>((r) => forger.once('close', () => r())), new Promise((r) => forger.publish('stores/s-2/agg', '{}', { qos: 1 }, r))])
      forger.end(true)
      // published after the refusal: once it has arrived, the forged one would have arrived before it
      const store = await connect(`mqtts://127.0.0.1:${port}`, { username: 's-1', password: 'store-pw', ca, clientId: 'store' })
      await store.publishAsync('stores/s-1/agg', '{}', { qos: 1 })
      await waitFor(() => seen.includes('stores/s-1/agg'), 'own aggregate')
      expect(seen).toEqual(['stores/s-1/agg'])
      await store.endAsync(true)
      await gw.endAsync(true)
    } finally {
      await stopProc(proc)
      await tmp.cleanup()
    }
  })
})

// ─── the Helm chart (no helm binary here: structure and every .Values path a template uses) ─────

describe('deploy/helm/store-edge: the chart', () => {
  const chart = parseYaml(read(join(CHART, 'Chart.yaml'))) as { apiVersion: string; name: string; version: string; dependencies: { name: string; version: string; repository: string; condition: string; alias?: string }[] }
  const values = parseYaml(read(join(CHART, 'values.yaml'))) as Record<string, unknown>
  const templates = readdirSync(join(CHART, 'templates')).map((f) => ({ f, text: read(join(CHART, 'templates', f)) }))
  const has = (path: string[]) => path.reduce<unknown>((o, k) => (o && typeof o === 'object' && k in o ? (o as Record<string, unknown>)[k] : undefined), values) !== undefined

  it('declares the EMQX, VictoriaMetrics cluster and PostgreSQL dependencies, each switchable in values', () => {
    expect(chart.apiVersion).toBe('v2')
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+$/)
    expect(chart.dependencies.map((d) => d.name).sort()).toEqual(['emqx', 'postgresql', 'victoria-metrics-cluster'])
    for (const d of chart.dependencies) {
      expect(d.repository, d.name).toMatch(/^(https|oci):\/\//)
      expect(has(d.condition.split('.')), d.condition).toBe(true)
    }
    const emqx = (values.emqx as { emqxConfig: Record<string, string> }).emqxConfig
    expect(emqx.EMQX_CLUSTER__DISCOVERY_STRATEGY).toBe('k8s')
    expect(emqx.EMQX_LISTENERS__TCP__DEFAULT__ENABLE).toBe('false')
    expect(JSON.stringify(values.vm)).toContain('"dedup.minScrapeInterval":"1ms"')
  })

  it('every .Values path a template reads exists in values.yaml, and every include is defined', () => {
    const defined = new Set(templates.flatMap(({ text }) => [...text.matchAll(/define "([^"]+)"/g)].map((m) => m[1]!)))
    const missing: string[] = []
    for (const { f, text } of templates) {
      for (const m of text.matchAll(/\.Values((?:\.[A-Za-z_]\w*)+)/g)) if (!has(m[1]!.slice(1).split('.'))) missing.push(`${f}: .Values${m[1]}`)
      for (const m of text.matchAll(/include "([^"]+)"/g)) if (!defined.has(m[1]!)) missing.push(`${f}: include ${m[1]}`)
      // balanced actions: every {{ has its }}, every block its end
      expect((text.match(/\{\{/g) ?? []).length, f).toBe((text.match(/\}\}/g) ?? []).length)
      const opens = (text.match(/\{\{-?\s*(if|with|range|define)\b/g) ?? []).length
      expect((text.match(/\{\{-?\s*end\s*-?\}\}/g) ?? []).length, f).toBe(opens)
    }
    expect(missing).toEqual([])
  })

  it('has the gateway Deployment, HPA on CPU, Service, PDB, ConfigMap and a cert-manager Certificate', () => {
    const kinds = templates.flatMap(({ text }) => [...text.matchAll(/^kind: (\w+)$/gm)].map((m) => m[1]!))
    expect(kinds.sort()).toEqual(['Certificate', 'ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'PodDisruptionBudget', 'Service'])
    const hpa = templates.find((t) => t.f === 'hpa.yaml')!.text
    expect(hpa).toMatch(/name: cpu/)
    // secrets reach the pod only through secretKeyRef / secret volumes, never as literal env values
    const dep = templates.find((t) => t.f === 'deployment.yaml')!.text
    for (const name of ['DATABASE_URL', 'STORE_EDGE_GW_MQTT_PASSWORD', 'STORE_EDGE_GW_AUTH_BOOTSTRAP_ADMIN_PASSWORD']) {
      expect(dep, name).toMatch(new RegExp(`- name: ${name}\\n\\s+valueFrom:\\n\\s+secretKeyRef:`))
    }
    const cm = templates.find((t) => t.f === 'configmap.yaml')!.text
    expect(cm).not.toMatch(/PASSWORD|DATABASE_URL/)
    for (const [k] of Object.entries((values.gateway as { config: Record<string, string> }).config)) expect(k).not.toMatch(/PASSWORD|SECRET|TOKEN|DATABASE_URL/)
  })
})

// ─── the EMQX bridge says the same as the Mosquitto bridge that is run above ─────────────────────

describe('deploy/bridge/emqx-bridge.hocon', () => {
  const hocon = read(join(DEPLOY, 'bridge', 'emqx-bridge.hocon'))
  const mosq = read(join(DEPLOY, 'bridge', 'mosquitto-bridge.conf'))
  const topics = [...mosq.matchAll(/^topic (\S+) (in|out) (\d)$/gm)].map((m) => ({ topic: m[1]!.replace('@STORE_ID@', 'STORE_ID'), dir: m[2]!, qos: m[3]! }))

  it('bridges the same topics in the same directions, QoS 1, persistent session, verified TLS, password from a file', () => {
    expect(topics.length).toBe(6)
    expect(topics.every((t) => t.qos === '1')).toBe(true)
    const upSql = /rule_engine\.rules\.store_edge_up \{[^]*?sql = """([^]*?)"""/.exec(hocon)![1]!
    const upTopics = [...upSql.matchAll(/"([^"]+)"/g)].map((m) => m[1]!)
    expect(upTopics.sort()).toEqual(topics.filter((t) => t.dir === 'out').map((t) => t.topic).sort())
    const sources = [...hocon.matchAll(/sources\.mqtt\.\w+ \{[^]*?topic = "([^"]+)", qos = (\d)/g)]
    expect(sources.map((m) => m[1]!).sort()).toEqual(topics.filter((t) => t.dir === 'in').map((t) => t.topic).sort())
    expect(sources.every((m) => m[2] === '1')).toBe(true)
    expect([...hocon.matchAll(/qos = (\d)/g)].every((m) => m[1] === '1')).toBe(true)
    expect(hocon).toMatch(/^\s*clean_start = false$/m)
    expect(hocon).toMatch(/^\s*verify = verify_peer$/m)
    expect(hocon).toMatch(/^\s*password = "file:\/\/\//m)
    // every source is republished locally, and the uplink action is the one the rule calls
    for (const name of [...hocon.matchAll(/sources\.mqtt\.(\w+)/g)].map((m) => m[1]!)) expect(hocon).toContain(`"$bridges/mqtt:${name}"`)
    expect(hocon).toMatch(/actions = \["mqtt:store_edge_uplink"\]/)
    expect(hocon).toMatch(/actions\.mqtt\.store_edge_uplink \{/)
  })
})
