import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildBundle } from './support/bundle.ts'
import { NotifyListener } from './support/notify-listener.ts'

/**
 * The edge box deployment: the systemd units (hardening, restart policy, watchdog), install.sh
 * (dry run and a real run into a staging root, from a tree and from a tarball, twice), and the
 * bundle the unit starts, run as the unit runs it, under a real AF_UNIX notify socket.
 */

const REPO = resolve(import.meta.dirname, '..')
const EDGE = join(REPO, 'deploy/edge')
const INSTALL = join(EDGE, 'install.sh')
const has = (bin: string, arg = '--version') => spawnSync(bin, [arg]).status === 0

type Unit = Map<string, string[]>
/** systemd unit file → "Section.Key" → values (in order; an empty assignment is kept as ''). */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map()
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#') || line.startsWith(';')) continue
    const sec = /^\[(.+)\]$/.exec(line)
    if (sec) {
      section = sec[1]!
      continue
    }
    const eq = line.indexOf('=')
    expect(eq, `not key=value: ${line}`).toBeGreaterThan(0)
    const key = `${section}.${line.slice(0, eq).trim()}`
    unit.set(key, [...(unit.get(key) ?? []), line.slice(eq + 1).trim()])
  }
  return unit
}
const one = (u: Unit, key: string) => {
  const v = u.get(key)
  expect(v, `${key} missing`).toBeDefined()
  return v![v!.length - 1]!
}
/** Environment= lines → one object. */
const envOf = (u: Unit) => Object.fromEntries((u.get('Service.Environment') ?? []).flatMap((l) => l.split(/\s+/)).map((kv) => kv.split('=', 2) as [string, string]))

describe('store-edge.service', () => {
  const unit = parseUnit(readFileSync(join(EDGE, 'store-edge.service'), 'utf8'))

  it('runs the bundle as the dedicated user with the watchdog, notify and restart policy', () => {
    expect(one(unit, 'Service.ExecStart')).toBe('/usr/bin/node --max-semi-space-size=2 /opt/store-edge/dist/cli.mjs edge -c /etc/store-edge/store.yaml')
    expect(one(unit, 'Service.User')).toBe('store-edge')
    expect(one(unit, 'Service.Group')).toBe('store-edge')
    expect(one(unit, 'Service.DynamicUser')).toBe('no')
    expect(one(unit, 'Service.Type')).toBe('notify')
    expect(one(unit, 'Service.NotifyAccess')).toBe('all')
    expect(one(unit, 'Service.WatchdogSec')).toBe('30')
    expect(one(unit, 'Service.Restart')).toBe('on-failure')
    expect(Number.parseInt(one(unit, 'Service.RestartSec'))).toBeGreaterThan(0)
    expect(Number.parseInt(one(unit, 'Service.TimeoutStopSec'))).toBeGreaterThan(0)
    expect(Number(one(unit, 'Service.LimitNOFILE'))).toBeGreaterThanOrEqual(65536)
    expect(Number.parseInt(one(unit, 'Unit.StartLimitIntervalSec'))).toBeGreaterThan(0)
    expect(Number(one(unit, 'Unit.StartLimitBurst'))).toBeGreaterThan(0)
    expect(envOf(unit)).toMatchObject({
      MALLOC_ARENA_MAX: '2',
      NODE_ENV: 'production',
      ONNXRUNTIME_NODE_INSTALL: 'skip',
      STORE_EDGE_DATA_DIR: '/var/lib/store-edge',
      STORE_EDGE_MODELS_DIR: '/var/lib/store-edge/models',
    })
    expect(one(unit, 'Service.StateDirectory')).toBe('store-edge')
    expect(one(unit, 'Service.ConfigurationDirectory')).toBe('store-edge')
    // Only SIGTERM to node: an in-flight systemd-notify (STOPPING=1) must not be killed with it.
    expect(one(unit, 'Service.KillMode')).toBe('mixed')
  })

  it('is hardened', () => {
    const want: Record<string, string> = {
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      NoNewPrivileges: 'yes',
      CapabilityBoundingSet: '',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
      SystemCallFilter: '@system-service',
      LockPersonality: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      ProtectControlGroups: 'yes',
      RestrictNamespaces: 'yes',
      MemoryDenyWriteExecute: 'no',
    }
    for (const [k, v] of Object.entries(want)) expect(one(unit, `Service.${k}`), k).toBe(v)
    // No ReadWritePaths: the state directory is the only writable place.
    expect(unit.has('Service.ReadWritePaths')).toBe(false)
    expect(readFileSync(join(EDGE, 'store-edge.service'), 'utf8')).toMatch(/JIT[^\n]*W\+X/)
  })

  it('orders the models oneshot before the edge', () => {
    const models = parseUnit(readFileSync(join(EDGE, 'store-edge-models.service'), 'utf8'))
    expect(one(models, 'Service.Type')).toBe('oneshot')
    expect(one(models, 'Service.ExecStart')).toBe('/usr/bin/node /opt/store-edge/dist/cli.mjs models build')
    expect(one(models, 'Unit.Before')).toContain('store-edge.service')
    expect(envOf(models).STORE_EDGE_MODELS_DIR).toBe(envOf(unit).STORE_EDGE_MODELS_DIR)
    expect(one(unit, 'Unit.After')).toContain('store-edge-models.service')
    expect(unit.get('Unit.Wants')).toContain('store-edge-models.service')
  })

  it.skipIf(!has('systemd-analyze'))('passes systemd-analyze verify', () => {
    const r = spawnSync('systemd-analyze', ['verify', join(EDGE, 'store-edge.service'), join(EDGE, 'store-edge-models.service')], { encoding: 'utf8' })
    // Complaints about our own files only (verify also lints units it pulls in from the host).
    const ours = (r.stderr + r.stdout).split('\n').filter((l) => l.includes('store-edge'))
    expect(ours).toEqual([])
    expect(r.status).toBe(0)
  })
})

describe('install.sh', () => {
  let tmp: string
  let tree: string

  /** A small built tree: what install.sh needs from a release (package.json, dist/cli.mjs, the units). */
  function makeTree(dir: string, version: string): void {
    mkdirSync(join(dir, 'dist'), { recursive: true })
    mkdirSync(join(dir, 'node_modules/dep'), { recursive: true })
    mkdirSync(join(dir, 'deploy/edge'), { recursive: true })
    mkdirSync(join(dir, '.git'), { recursive: true })
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'store-edge', version }))
    writeFileSync(join(dir, 'dist/cli.mjs'), `console.log('store-edge ${version}')\n`)
    writeFileSync(join(dir, `dist/only-in-${version}.mjs`), '')
    writeFileSync(join(dir, 'node_modules/dep/index.js'), '')
    writeFileSync(join(dir, '.git/HEAD'), 'ref: x\n')
    for (const f of ['store-edge.service', 'store-edge-models.service', 'store.example.yaml', 'store-edge-bluetooth.conf']) cpSync(join(EDGE, f), join(dir, 'deploy/edge', f))
  }
  const install = (...args: string[]) => spawnSync('bash', [INSTALL, ...args], { encoding: 'utf8' })

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'deploy-edge-'))
    tree = join(tmp, 'tree')
    makeTree(tree, '1.0.0')
  })
  afterAll(() => rmSync(tmp, { recursive: true, force: true }))

  it('parses (bash -n) and sets strict mode', () => {
    expect(spawnSync('bash', ['-n', INSTALL]).status).toBe(0)
    expect(readFileSync(INSTALL, 'utf8')).toMatch(/^set -euo pipefail$/m)
    expect(statSync(INSTALL).mode & 0o111).not.toBe(0)
  })

  it('--dry-run prints the plan and changes nothing', () => {
    const root = join(tmp, 'dry')
    const r = install('--dry-run', '--root', root, tree)
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const out = r.stdout
    for (const want of [
      'would run: groupadd --system store-edge',
      'would run: useradd --system --gid store-edge --home-dir /var/lib/store-edge',
      `would run: mv ${root}/opt/store-edge.new ${root}/opt/store-edge`,
      `would run: chmod 0640 ${root}/etc/store-edge/store.yaml`,
      'would run: chown root:store-edge /etc/store-edge/store.yaml',
      'would run: chown store-edge:store-edge /var/lib/store-edge',
      `would run: install -m 0644 ${root}/opt/store-edge/deploy/edge/store-edge.service ${root}/etc/systemd/system/store-edge.service`,
      `would run: install -m 0644 ${root}/opt/store-edge/deploy/edge/store-edge-models.service ${root}/etc/systemd/system/store-edge-models.service`,
      'would run: systemctl daemon-reload',
      'would run: systemctl enable store-edge-models.service store-edge.service',
      'would run: systemctl restart store-edge-models.service',
      'uplink.caFile',
      'uplink.certFile, uplink.keyFile',
      'store.id',
    ])
      expect(out, want).toContain(want)
    expect(out).not.toContain('npm ci') // the tree has node_modules
    expect(existsSync(root)).toBe(false)
  })

  it('--dry-run of a tree without node_modules plans npm ci --omit=dev; --no-models/--no-enable drop those steps', () => {
    const bare = join(tmp, 'bare')
    makeTree(bare, '1.0.1')
    rmSync(join(bare, 'node_modules'), { recursive: true })
    const r = install('--dry-run', '--root', join(tmp, 'dry2'), '--no-models', '--no-enable', bare)
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev/)
    expect(r.stdout).not.toContain('systemctl enable')
    expect(r.stdout).not.toContain('systemctl restart store-edge-models')
    expect(install('--bogus').status).toBe(2)
    expect(install('--root', join(tmp, 'x'), join(tmp, 'missing')).status).toBe(1)
  })

  it('installs into a staging root, keeps the configuration on a second run, upgrades from a tarball', () => {
    const root = join(tmp, 'root')
    const first = install('--root', root, tree)
    expect(first.stderr).toBe('')
    expect(first.status).toBe(0)
    const app = join(root, 'opt/store-edge')
    expect(readFileSync(join(app, 'dist/cli.mjs'), 'utf8')).toContain('1.0.0')
    expect(existsSync(join(app, '.git'))).toBe(false)
    expect(existsSync(join(app, 'node_modules/dep/index.js'))).toBe(true)
    const conf = join(root, 'etc/store-edge/store.yaml')
    expect(statSync(conf).mode & 0o777).toBe(0o640)
    expect(statSync(join(root, 'etc/store-edge')).mode & 0o777).toBe(0o750)
    expect(statSync(join(root, 'var/lib/store-edge')).mode & 0o777).toBe(0o750)
    expect(readFileSync(conf, 'utf8')).toMatch(/^dataDir: \/var\/lib\/store-edge$/m)
    expect(readFileSync(join(root, 'etc/systemd/system/store-edge.service'), 'utf8')).toBe(readFileSync(join(EDGE, 'store-edge.service'), 'utf8'))
    // The radio's D-Bus policy: the service user may talk to BlueZ.
    expect(readFileSync(join(root, 'etc/dbus-1/system.d/store-edge-bluetooth.conf'), 'utf8')).toContain('<policy user="store-edge">')
    expect(statSync(join(root, 'etc/systemd/system/store-edge.service')).mode & 0o777).toBe(0o644)
    const wrapper = readFileSync(join(root, 'usr/local/bin/store-edge'), 'utf8')
    expect(wrapper).toContain('STORE_EDGE_CONFIG=/etc/store-edge/store.yaml')
    expect(wrapper).toContain('runuser -u store-edge -- /usr/bin/node /opt/store-edge/dist/cli.mjs')
    // The system itself is only described under --root.
    expect(first.stdout).toContain('would run: systemctl daemon-reload')

    // The operator fills in the configuration; a release tarball (one top-level directory) upgrades.
    writeFileSync(conf, 'store:\n  id: s-042\n')
    const rel = join(tmp, 'rel')
    makeTree(join(rel, 'store-edge-2.0.0'), '2.0.0')
    const tarball = join(tmp, 'store-edge-2.0.0.tar.gz')
    expect(spawnSync('tar', ['-C', rel, '-czf', tarball, 'store-edge-2.0.0']).status).toBe(0)
    const second = install('--root', root, tarball)
    expect(second.stderr).toBe('')
    expect(second.status).toBe(0)
    expect(second.stdout).toContain('/etc/store-edge/store.yaml exists: kept')
    expect(readFileSync(conf, 'utf8')).toBe('store:\n  id: s-042\n')
    expect(readFileSync(join(app, 'dist/cli.mjs'), 'utf8')).toContain('2.0.0')
    expect(existsSync(join(app, 'dist/only-in-1.0.0.mjs'))).toBe(false) // replaced, not merged
    expect(readdirSync(join(root, 'opt')).sort()).toEqual(['store-edge'])
  })

  it('writes no secret: the repository files carry placeholders only', () => {
    for (const f of ['install.sh', 'store-edge.service', 'store-edge-models.service', 'README.md']) {
      const text = readFileSync(join(EDGE, f), 'utf8')
      expect(text, f).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/)
      expect(text, f).not.toMatch(/(PASSWORD|TOKEN|SECRET)=[^.…\s<$]/)
    }
  })
})


/** deploy/edge/notify-listener.py (a real AF_UNIX datagram socket) as systemd's NOTIFY_SOCKET. */

describe.skipIf(!has('systemd-notify'))('the bundle the unit starts, under a notify socket', () => {
  let tmp: string
  let out: string
  let edge: ChildProcess | undefined
  let listener: NotifyListener | undefined
  let removeBundle = (): void => undefined

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'deploy-edge-run-'))
    ;({ out, remove: removeBundle } = buildBundle('deploy-edge-test'))
  })
  afterAll(() => {
    edge?.kill('SIGKILL')
    listener?.stop()
    removeBundle()
    rmSync(tmp, { recursive: true, force: true })
  })

  it('the build makes dist/cli.mjs, and the edge it runs sends READY=1, WATCHDOG=1 and STOPPING=1', async () => {
    expect(existsSync(join(out, 'cli.mjs'))).toBe(true)
    listener = new NotifyListener(join(tmp, 'notify.sock'))
    await listener.start()
    const data = join(tmp, 'data')
    mkdirSync(data)
    const cfg = join(tmp, 'store.yaml')
    writeFileSync(cfg, 'store:\n  id: s-test\nbroker:\n  port: 0\n  wsPort: -1\nhttp:\n  port: 0\n')
    const unit = parseUnit(readFileSync(join(EDGE, 'store-edge.service'), 'utf8'))
    // ExecStart with the bundle and the test's config; the unit's environment, data dir redirected.
    const argv = one(unit, 'Service.ExecStart').split(' ')
    const cli = argv.indexOf('/opt/store-edge/dist/cli.mjs')
    expect(argv[0]).toBe('/usr/bin/node')
    expect(cli).toBeGreaterThan(0)
    const args = [...argv.slice(1, cli), join(out, 'cli.mjs'), ...argv.slice(cli + 1).map((a) => (a === '/etc/store-edge/store.yaml' ? cfg : a))]
    const env = { ...process.env, ...envOf(unit), STORE_EDGE_DATA_DIR: data, STORE_EDGE_MODELS_DIR: join(data, 'models'), NOTIFY_SOCKET: listener.address, WATCHDOG_USEC: '400000' }
    edge = spawn(process.execPath, args, { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    edge.stdout!.on('data', (d) => (log += d))
    edge.stderr!.on('data', (d) => (log += d))
    const exited = new Promise<number | null>((r) => edge!.once('exit', (code) => r(code)))

    const [ready] = await listener.until('READY=1')
    expect(ready.lines).toContain(`MAINPID=${edge.pid}`)
    expect(ready.lines).toContain('STATUS=store s-test running')
    if (process.getuid?.() === 0) expect(ready.pid).toBe(edge.pid)
    expect(readdirSync(data)).toContain('broker') // the broker's sessions went to STORE_EDGE_DATA_DIR
    const pings = await listener.until('WATCHDOG=1', 2)
    for (const p of pings) expect(p.lines).toContain(`MAINPID=${edge.pid}`)

    edge.kill('SIGTERM')
    const [stop] = await listener.until('STOPPING=1')
    expect(stop.lines).toContain(`MAINPID=${edge.pid}`)
    expect(await exited, log).toBe(0)
    edge = undefined
    // READY before the pings, STOPPING last.
    const kinds = listener.got.map((d) => d.lines.find((l) => /^(READY|WATCHDOG|STOPPING)=/.test(l))).filter(Boolean)
    expect(kinds[0]).toBe('READY=1')
    expect(kinds[kinds.length - 1]).toBe('STOPPING=1')
  })
})
