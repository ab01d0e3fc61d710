import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/**
 * Test doubles for BlueZ: a private `dbus-daemon` (PrivateDbus) and a BlueZ-like service on it
 * (FakeBluez, running tests/support/fake-bluez-service.mjs) that replays recorded advertisements
 * through org.bluez.Adapter1 / Device1, so node-ble and dbus-next clients run unchanged.
 */

const DBUS_DAEMON = '/usr/bin/dbus-daemon'
const SERVICE = join(dirname(fileURLToPath(import.meta.url)), 'fake-bluez-service.mjs')

function busConfig(socket: string, denyBluez: boolean): string {
  // Policy order matters: later rules win. The deny only blocks messages *to* org.bluez's owner,
  // so the service can still own the name and broadcast signals.
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow receive_sender="*"/>
${denyBluez ? '    <deny send_destination="org.bluez"/>\n' : ''}  </policy>
</busconfig>
`
}

/** Resolves with the first stdout line of `proc`; rejects if it exits or `ms` pass first. */
function firstLine(proc: ChildProcess, what: string, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! })
    const timer = setTimeout(() => fail(new Error(`${what}: no output within ${ms} ms`)), ms)
    const onExit = (code: number | null) => fail(new Error(`${what} exited (${code}) before printing`))
    function fail(err: Error): void {
      clearTimeout(timer)
      rl.close()
      proc.off('exit', onExit)
      reject(err)
    }
    proc.once('exit', onExit)
    rl.once('line', (line) => {
      clearTimeout(timer)
      proc.off('exit', onExit)
      rl.close()
      resolve(line.trim())
    })
  })
}

/** Sends `signal` and waits for the exit; escalates to SIGKILL after `graceMs`. */
async function terminate(proc: ChildProcess | undefined, signal: NodeJS.Signals, graceMs = 3000): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  proc.kill(signal)
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

export class PrivateDbus {
  address = ''
  private dir = ''
  private proc?: ChildProcess
  private stderr = ''

  async start(opts: { denyBluez?: boolean } = {}): Promise<this> {
    this.dir = await mkdtemp(join(tmpdir(), 'fake-dbus-'))
    const config = join(this.dir, 'bus.conf')
    await writeFile(config, busConfig(join(this.dir, 'bus'), opts.denyBluez === true))
    this.proc = spawn(DBUS_DAEMON, [`--config-file=${config}`, '--nofork', '--print-address=1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()))
    try {
      this.address = await firstLine(this.proc, 'dbus-daemon')
    } catch (err) {
      await this.stop()
      throw new Error(`${(err as Error).message}\n${this.stderr}`)
    }
    if (!this.address.startsWith('unix:')) throw new Error(`dbus-daemon printed ${this.address}`)
    return this
  }

  async stop(): Promise<void> {
    await terminate(this.proc, 'SIGTERM')
    this.proc = undefined
    if (this.dir) await rm(this.dir, { recursive: true, force: true })
    this.dir = ''
  }
}

export type FakeBluezEvent = Record<string, unknown>

export class FakeBluez {
  /** Every JSON line the service printed, across restarts, in order. */
  readonly events: FakeBluezEvent[] = []
  private proc?: ChildProcessWithoutNullStreams
  private waiters = new Set<() => void>()
  private stderr = ''

  constructor(
    private readonly bus: PrivateDbus,
    private readonly opts: { advertsFile: string; loopMs?: number },
  ) {}

  /** Spawns the service; resolves once it owns org.bluez with its objects exported. */
  async start(): Promise<this> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) throw new Error('FakeBluez already running')
    const from = this.events.length
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DBUS_SYSTEM_BUS_ADDRESS: this.bus.address,
      FAKE_BLUEZ_ADVERTS: this.opts.advertsFile,
    }
    if (this.opts.loopMs !== undefined) env.FAKE_BLUEZ_LOOP_MS = String(this.opts.loopMs)
    else delete env.FAKE_BLUEZ_LOOP_MS
    const proc = spawn(process.execPath, [SERVICE], { env, stdio: 'pipe' })
    this.proc = proc
    proc.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()))
    createInterface({ input: proc.stdout }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as FakeBluezEvent)
      } catch {
        this.events.push({ event: 'stdout', line })
      }
      this.wake()
    })
    proc.on('exit', () => this.wake())
    try {
      await this.waitFor((e) => e.event === 'ready', 10_000, from, proc)
    } catch (err) {
      await terminate(proc, 'SIGKILL')
      throw err
    }
    return this
  }

  /** SIGKILL, as when bluetoothd crashes: no cleanup, the bus drops its name. */
  async kill9(): Promise<void> {
    await terminate(this.proc, 'SIGKILL')
  }

  async stop(): Promise<void> {
    this.proc?.stdin.end()
    await terminate(this.proc, 'SIGTERM')
  }

  /** `power on|off` on stdin (like `bluetoothctl power`); resolves on the service's powered event. */
  async power(on: boolean): Promise<void> {
    await this.command(`power ${on ? 'on' : 'off'}`, (e) => e.event === 'powered' && e.on === on)
  }

  /** Removes every device (InterfacesRemoved on `/`). */
  async removeAll(): Promise<void> {
    await this.command('remove-all', (e) => e.event === 'removed')
  }

  /** Advert events seen, across restarts. */
  advertsSent(): number {
    return this.events.filter((e) => e.event === 'advert').length
  }

  /** Resolves with the first event matching `pred` at index ≥ `from` (default: any so far). */
  async waitFor(pred: (e: FakeBluezEvent) => boolean, timeoutMs = 10_000, from = 0, proc = this.proc): Promise<FakeBluezEvent> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const hit = this.events.slice(from).find(pred)
      if (hit) return hit
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`fake-bluez exited (${proc?.exitCode ?? proc?.signalCode}) while waiting\n${this.stderr}`)
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`fake-bluez: timed out after ${timeoutMs} ms\n${this.stderr}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left)
        function done(): void {
          clearTimeout(timer)
          resolve()
        }
        this.waiters.add(done)
      })
    }
  }

  private async command(line: string, until: (e: FakeBluezEvent) => boolean): Promise<void> {
    const proc = this.proc
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) throw new Error('FakeBluez is not running')
    const from = this.events.length
    proc.stdin.write(`${line}\n`)
    await this.waitFor(until, 5000, from, proc)
  }

  private wake(): void {
    const ws = [...this.waiters]
    this.waiters.clear()
    for (const w of ws) w()
  }
}
