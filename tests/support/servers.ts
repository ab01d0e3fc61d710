import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'

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

/**
 * A private Mosquitto (the machine's binary) with the central configuration of deploy/central,
 * on its own port and persistence directory, so a test can kill -9 it and start it again without
 * touching the machine's shared broker.
 */
export class PrivateMosquitto extends ServerProcess {
  port = 0
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
  async start(opts: { autosaveS?: number; tls?: { ca: string; cert: string; key: string }; passwordFile?: string; aclFile?: string } = {}): Promise<this> {
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
