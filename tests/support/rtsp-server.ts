import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { packageRoot } from '../../models/paths.ts'

/**
 * A real RTSP camera for tests and benches: tests/support/rtsp-server.py (GStreamer's RTSP server) run
 * with Debian's own python3, streaming files as H.264 and looping them forever. One shared media per
 * mount, so any number of clients can pull the same mount.
 */

export const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi'
/** Debian's interpreter: the GStreamer bindings (python3-gi) are installed for it, not for pyenv's python3. */
const PYTHON = '/usr/bin/python3'
// From the package root: the benchmark runs this bundled in dist/.
const SCRIPT = join(packageRoot(), 'tests', 'support', 'rtsp-server.py')
const PACKAGES = 'python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav'

export interface RtspServerOptions {
  /** The file served at mount 'vtest' when `mounts` is absent (default vtest.avi). */
  file?: string
  /** mount name → file. */
  mounts?: Record<string, string>
  /** 0 (default): a free port, kept across restart(). */
  port?: number
  host?: string
  /** Frames between H.264 key frames (default 5: a reconnecting client gets a picture within 0.5 s). */
  keyInt?: number
  /** Called for every frame the server hands to its encoder: wall time (ms) and the frame's index in its file. For latency measurements. */
  onPush?: (mount: string, wallMs: number, frameIndex: number) => void
}

export interface RtspServer {
  port: number
  /** The server process (for CPU accounting); undefined while it is down. */
  readonly pid: number | undefined
  url(mount?: string): string
  /** Kill the server (default SIGKILL: no RTSP teardown, clients see the connection die). */
  kill(signal?: NodeJS.Signals): Promise<void>
  stop(): Promise<void>
  /** Start it again on the same port, after kill() or stop(). */
  restart(): Promise<void>
  readonly running: boolean
}

export async function startRtspServer(opts: RtspServerOptions = {}): Promise<RtspServer> {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} not found: the RTSP test server needs Debian's python3 with ${PACKAGES}`)
  const mounts = opts.mounts ?? { vtest: opts.file ?? VTEST }
  for (const file of Object.values(mounts)) if (!existsSync(file)) throw new Error(`RTSP test server: no such file ${file} (vtest.avi comes with Debian's opencv-doc)`)
  const host = opts.host ?? '127.0.0.1'
  let port = opts.port ?? 0
  let proc: ChildProcess | undefined

  const launch = async (): Promise<void> => {
    const args = [SCRIPT, '--host', host, '--port', String(port), '--key-int', String(opts.keyInt ?? 5)]
    for (const [name, file] of Object.entries(mounts)) args.push('--mount', `${name}=${file}`)
    if (opts.onPush) args.push('--trace')
    const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    proc = child
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000)
    })
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        child.kill('SIGKILL')
        if (/Namespace GstRtspServer not available|No module named 'gi'|Namespace Gst\w* not available/.test(stderr))
          reject(new Error(`RTSP test server: GStreamer's Python bindings are missing; apt-get install -y ${PACKAGES}\n${stderr}`))
        else if (/no element "x264enc"|x264enc/.test(stderr)) reject(new Error(`RTSP test server: x264enc missing (gstreamer1.0-plugins-ugly)\n${stderr}`))
        else reject(new Error(`RTSP test server ${why}\n${stderr}`))
      }
      child.once('error', (err) => fail(`could not start: ${err.message}`))
      child.once('exit', (code, signal) => fail(`exited before it was ready (code ${code}, signal ${signal})`))
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const push = /^PUSH (\S+) ([\d.]+) (-?\d+)$/.exec(line)
        if (push) return opts.onPush?.(push[1]!, Number(push[2]), Number(push[3]))
        const m = /^READY rtsp:\/\/[^:]+:(\d+)\//.exec(line)
        if (m) port = Number(m[1])
        if (line === 'READY-ALL') {
          child.removeAllListeners('exit')
          resolve()
        }
      })
    })
  }

  const signalAndWait = async (signal: NodeJS.Signals): Promise<void> => {
    const child = proc
    proc = undefined
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((r) => child.once('exit', () => r()))
    child.kill(signal)
    await exited
  }

  // A port freed by a killed server is normally free again at once (GStreamer binds with SO_REUSEADDR);
  // retry briefly in case the old process is still letting go of it.
  const relaunch = async (): Promise<void> => {
    for (let i = 0; ; i++) {
      try {
        return await launch()
      } catch (err) {
        if (i >= 20 || !/cannot listen/.test(String(err))) throw err
        await new Promise((r) => setTimeout(r, 250))
      }
    }
  }

  await launch()
  return {
    get port() {
      return port
    },
    get pid() {
      return proc?.pid
    },
    get running() {
      return proc !== undefined
    },
    url: (mount = Object.keys(mounts)[0]!) => `rtsp://${host}:${port}/${mount}`,
    kill: (signal = 'SIGKILL') => signalAndWait(signal),
    stop: () => signalAndWait('SIGTERM'),
    restart: async () => {
      await signalAndWait('SIGKILL')
      await relaunch()
    },
  }
}
