import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

/** A port that was free a moment ago (for servers that cannot listen on port 0 and report it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

async function waitUntil(fn: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await fn().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const tcpOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(true)) // in use: someone listens
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)))
  })

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()))
}

/** A server process a test can stop politely or kill the hard way (SIGKILL: no saving, no goodbyes). */
abstract class ServerProcess {
  protected proc?: ChildProcess
  abstract readonly name: string
  abstract readonly url: string
  abstract start(): Promise<this>

  pids(): number[] {
    return this.proc?.pid ? [this.proc.pid] : []
  }

  /** Stop politely (SIGTERM) and start again with the same port, data and options. */
  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  async kill9(): Promise<void> {
    await this.signal('SIGKILL')
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM')
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    if (!this.proc) return
    this.proc.kill(sig)
    await exited(this.proc)
    this.proc = undefined
  }
}

export interface MosquittoOptions {
  autosaveS?: number
  tls?: { ca: string; cert: string; key: string }
  passwordFile?: string
  aclFile?: string
}

/**
 * A private Mosquitto (the machine's binary) with the central configuration of deploy/central,
 * on its own port and persistence directory, so a test can kill -9 it and start it again without
 * touching the machine's shared broker.
 */
export class PrivateMosquitto extends ServerProcess {
  readonly name = 'mosquitto'
  port = 0
  private opts: MosquittoOptions = {}
  constructor(private readonly dir: string) {
    super()
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`
  }

  /**
   * autosaveS: how often Mosquitto saves its in-memory state (what a kill -9 loses is since the last save).
   * tls / passwordFile / aclFile: a TLS listener with authentication and an ACL instead of an open one.
   */
  async start(opts: MosquittoOptions = this.opts): Promise<this> {
    this.opts = opts
    if (!this.port) this.port = await freePort()
    await mkdir(join(this.dir, 'data'), { recursive: true })
    const conf = join(this.dir, 'mosquitto.conf')
    await writeFile(
      conf,
      [
        'persistence true',
        `persistence_location ${join(this.dir, 'data')}/`,
        `autosave_interval ${opts.autosaveS ?? 1}`,
        'max_queued_messages 0',
        'max_queued_bytes 0',
        'max_inflight_messages 0',
        'set_tcp_nodelay true',
        `listener ${this.port} 127.0.0.1`,
        ...(opts.tls ? [`cafile ${opts.tls.ca}`, `certfile ${opts.tls.cert}`, `keyfile ${opts.tls.key}`] : []),
        ...(opts.passwordFile ? [`password_file ${opts.passwordFile}`, 'allow_anonymous false'] : ['allow_anonymous true']),
        ...(opts.aclFile ? [`acl_file ${opts.aclFile}`] : []),
        // As root, Mosquitto drops to the mosquitto user, which cannot write our private temp dirs.
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        `log_dest file ${join(this.dir, 'mosquitto.log')}`,
        '',
      ].join('\n'),
    )
    this.proc = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' })
    this.proc.once('error', () => undefined)
    await waitUntil(() => tcpOpen(this.port), `mosquitto on ${this.port}`)
    return this
  }

}

export interface VmSeries {
  metric: Record<string, string>
  values: number[]
  timestamps: number[]
}

/**
 * VictoriaMetrics (Debian's victoria-metrics) on loopback, as deployed: Influx line protocol in,
 * PromQL out, -dedup.minScrapeInterval=1ms so a replayed point (same series, same timestamp)
 * overwrites instead of adding a sample.
 */
export class PrivateVictoria extends ServerProcess {
  readonly name = 'victoria-metrics'
  port = 0
  constructor(private readonly dir: string) {
    super()
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async start(): Promise<this> {
    if (!this.port) this.port = await freePort()
    this.proc = spawn(
      'victoria-metrics',
      [`-storageDataPath=${this.dir}`, `-httpListenAddr=127.0.0.1:${this.port}`, '-dedup.minScrapeInterval=1ms', '-search.latencyOffset=0s', '-retentionPeriod=100y', '-loggerLevel=ERROR'],
      { stdio: 'ignore' },
    )
    const failed = new Promise<never>((_, reject) => this.proc!.once('error', (err) => reject(new Error(`victoria-metrics: ${err.message} (install Debian's victoria-metrics; .ci/run does)`))))
    await Promise.race([waitUntil(async () => (await fetch(`${this.url}/health`)).ok, 'victoria-metrics'), failed])
    return this
  }

  /** Make everything written so far visible to queries. */
  async flush(): Promise<void> {
    await fetch(`${this.url}/internal/force_flush`)
  }

  /** Raw samples (after deduplication) of every series matching the selector. */
  async export(match: string): Promise<VmSeries[]> {
    await this.flush()
    const res = await fetch(`${this.url}/api/v1/export`, { method: 'POST', body: new URLSearchParams({ 'match[]': match, start: '0' }) })
    if (!res.ok) throw new Error(`export failed: HTTP ${res.status} ${await res.text()}`)
    const text = await res.text()
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as VmSeries)
  }

}

/** The sum of a Prometheus metric over all its label sets, read from `{url}/metrics`. */
export async function metricSum(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
  return text
    .split('\n')
    .filter((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'))
    .reduce((s, l) => s + Number(l.split(' ').at(-1)), 0)
}

/** CPU seconds (user + system) a process has used, from /proc (USER_HZ = 100). */
export function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return 0 // gone
  }
}

/** Resident memory of a process, MB (0 when it is gone). */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : 0
  } catch {
    return 0
  }
}

/** A process and its descendants (PostgreSQL's backends, for instance). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const ppid = Number(readFileSync(`/proc/${e}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)])
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = []
  const walk = (p: number) => {
    out.push(p)
    for (const c of children.get(p) ?? []) walk(c)
  }
  walk(pid)
  return out
}

/** A central part a chain run restarts: where it listens, which processes are it, how to restart it. */
export interface RestartablePart {
  readonly name: string
  readonly url: string
  /** The processes that are this part now (for CPU and memory). */
  pids(): number[]
  restart(): Promise<void>
}

/**
 * The machine's own Mosquitto (started at boot with its Debian configuration, 127.0.0.1:1883).
 * restart() stops it with SIGTERM, as `systemctl restart` would (Mosquitto saves its persistence on
 * a clean stop), and starts it again with the same command line. Only for benchmarks: tests share
 * this broker and must not restart it.
 */
export class MachineMosquitto implements RestartablePart {
  readonly name = 'mosquitto'
  readonly url = 'mqtt://127.0.0.1:1883'
  private argv: string[] = []

  private find(): number | undefined {
    for (const e of readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue
      try {
        const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').filter(Boolean)
        if (argv[0] && /(^|\/)mosquitto$/.test(argv[0]) && argv.includes('/etc/mosquitto/mosquitto.conf')) {
          this.argv = argv
          return Number(e)
        }
      } catch {
        // exited meanwhile
      }
    }
    return undefined
  }

  pids(): number[] {
    const p = this.find()
    return p ? [p] : []
  }

  /** Fails unless the machine's Mosquitto runs and listens on 1883. */
  async check(): Promise<this> {
    if (!this.find()) throw new Error("the machine's Mosquitto (mosquitto -c /etc/mosquitto/mosquitto.conf) is not running; start it with: mosquitto -d -c /etc/mosquitto/mosquitto.conf")
    if (!(await tcpOpen(1883))) throw new Error("the machine's Mosquitto does not listen on 1883")
    return this
  }

  async restart(): Promise<void> {
    const pid = this.find()
    const argv = this.argv.length ? this.argv : ['mosquitto', '-d', '-c', '/etc/mosquitto/mosquitto.conf']
    if (pid) {
      process.kill(pid, 'SIGTERM')
      await waitUntil(async () => !existsSync(`/proc/${pid}`), 'mosquitto to stop')
    }
    await waitUntil(async () => !(await tcpOpen(1883)), 'port 1883 to close')
    const p = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', detached: true })
    p.unref()
    await waitUntil(() => tcpOpen(1883), "the machine's Mosquitto on 1883")
  }
}

/**
 * A private PostgreSQL cluster (Debian's binaries: initdb, pg_ctl) in its own directory and port,
 * so a run can restart it without touching the machine's server. As root the cluster belongs to
 * the postgres user (PostgreSQL refuses to run as root).
 */
export class PrivatePostgres implements RestartablePart {
  readonly name = 'postgresql'
  port = 0
  private bin = ''
  constructor(private readonly dir: string) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`
  }

  private get data(): string {
    return join(this.dir, 'data')
  }

  private run(cmd: string, args: string[]): void {
    const asRoot = process.getuid?.() === 0
    const file = asRoot ? 'runuser' : join(this.bin, cmd)
    const argv = asRoot ? ['-u', 'postgres', '--', join(this.bin, cmd), ...args] : args
    const r = spawnSync(file, argv, { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.error?.message ?? ''}${r.stderr}${r.stdout}`.slice(0, 2000))
  }

  async start(): Promise<this> {
    if (!this.bin) {
      const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').filter((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`)) : []
      const v = versions.sort((a, b) => Number(b) - Number(a))[0]
      if (!v) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (Debian package postgresql)')
      this.bin = `/usr/lib/postgresql/${v}/bin`
      this.port = await freePort()
      mkdirSync(this.dir, { recursive: true })
      if (process.getuid?.() === 0) {
        // The postgres user must reach its directory through ours.
        for (let d = this.dir; d !== dirname(d) && d.startsWith(tmpdir()) && d !== tmpdir(); d = dirname(d)) chmodSync(d, 0o755)
        chownSync(this.dir, ...pgOwner())
      }
      this.run('initdb', ['-D', this.data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-instructions'])
    }
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c max_connections=200`
    this.run('pg_ctl', ['-D', this.data, '-l', join(this.dir, 'postgres.log'), '-o', opts, '-w', '-t', '60', 'start'])
    return this
  }

  async stop(): Promise<void> {
    if (existsSync(join(this.data, 'postmaster.pid'))) this.run('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', '-t', '60', 'stop'])
  }

  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  pids(): number[] {
    try {
      const pid = Number(readFileSync(join(this.data, 'postmaster.pid'), 'utf8').split('\n')[0])
      return processTree(pid)
    } catch {
      return []
    }
  }
}

function pgOwner(): [number, number] {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'))
  if (!line) throw new Error('no postgres user (Debian package postgresql)')
  const f = line.split(':')
  return [Number(f[2]), Number(f[3])]
}
