import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { packageRoot } from '../../models/paths.ts'

/**
 * A real AF_UNIX datagram listener standing in for systemd: deploy/edge/notify-listener.py (Debian's
 * python3) binds NOTIFY_SOCKET (a path or an abstract `@name`) with SO_PASSCRED and prints each
 * datagram as a JSON line with the SCM_CREDENTIALS pid and its receive time.
 */
export interface Datagram {
  pid: number | null
  t: number
  lines: string[]
}

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
const SCRIPT = join(packageRoot(), 'deploy', 'edge', 'notify-listener.py')

export class NotifyListener {
  readonly got: Datagram[] = []
  private proc!: ChildProcessWithoutNullStreams
  private waiters: Array<() => void> = []
  constructor(readonly address: string) {}

  async start(): Promise<void> {
    this.proc = spawn(PYTHON, [SCRIPT, this.address])
    this.proc.stderr.on('data', (d) => process.stderr.write(d))
    const rl = createInterface({ input: this.proc.stdout })
    await new Promise<void>((resolve, reject) => {
      this.proc.once('exit', (code) => reject(new Error(`listener exited ${code}`)))
      rl.on('line', (line) => {
        const msg = JSON.parse(line)
        if (msg.listening) return resolve()
        this.got.push(msg)
        for (const w of this.waiters.splice(0)) w()
      })
    })
  }

  /** Datagrams carrying `assignment`, waiting (event-driven) until at least `n` have arrived. */
  async until(assignment: string, n = 1): Promise<[Datagram, ...Datagram[]]> {
    for (;;) {
      const hits = this.got.filter((d) => d.lines.includes(assignment))
      if (hits.length >= n && hits.length > 0) return hits as [Datagram, ...Datagram[]]
      await new Promise<void>((r) => this.waiters.push(r))
    }
  }

  stop(): void {
    this.proc.removeAllListeners('exit')
    this.proc.kill()
  }
}
