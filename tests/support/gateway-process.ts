import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../../bin/store-edge.js', import.meta.url))

/** `store-edge gateway` as its own process, so a test can kill -9 it. */
export class GatewayProcess {
  private proc?: ChildProcess
  url = ''
  readonly logs: string[] = []

  constructor(
    private readonly env: Record<string, string>,
    private readonly cli = CLI,
  ) {}

  /** The process id (for CPU accounting), while running. */
  get pid(): number | undefined {
    return this.proc?.pid
  }

  async start(timeoutMs = 30_000): Promise<this> {
    // STORE_EDGE_GW_NODE_ARGS: extra node flags for the gateway (e.g. --cpu-prof when profiling a bench).
    const nodeArgs = (process.env.STORE_EDGE_GW_NODE_ARGS ?? '').split(' ').filter(Boolean)
    const proc = spawn(process.execPath, [...nodeArgs, this.cli, 'gateway'], {
      env: { ...process.env, STORE_EDGE_GW_LOG_LEVEL: 'info', STORE_EDGE_GW_HTTP_PORT: '0', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.proc = proc
    const lines = createInterface({ input: proc.stdout! })
    proc.stderr!.on('data', (d: Buffer) => this.logs.push(d.toString()))
    this.url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL') // never leave a half-started gateway running
        reject(new Error(`gateway did not start:\n${this.logs.slice(-20).join('\n')}`))
      }, timeoutMs)
      lines.on('line', (line) => {
        this.logs.push(line)
        if (this.logs.length > 2000) this.logs.splice(0, 1000)
        try {
          const l = JSON.parse(line) as { msg?: string; url?: string }
          if (l.msg === 'gateway started' && l.url) {
            clearTimeout(timer)
            resolve(l.url)
          }
        } catch {
          // not JSON
        }
      })
      proc.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`gateway exited with ${code}:\n${this.logs.slice(-20).join('\n')}`))
      })
    })
    return this
  }

  async kill9(): Promise<void> {
    await this.signal('SIGKILL')
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM')
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const p = this.proc
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const gone = new Promise<void>((r) => p.once('exit', () => r()))
    p.kill(sig)
    await gone
    this.proc = undefined
  }
}
