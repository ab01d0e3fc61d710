import { spawn, type ChildProcess } from 'node:child_process'
import type { WebSocket } from 'ws'

/**
 * Live video for the browser, the node-rtsp-stream way: one ffmpeg per camera re-encodes the source
 * to MPEG-1 in MPEG-TS, and every chunk is sent to the camera's WebSocket viewers as a binary message
 * that JSMpeg decodes in the page. Unlike node-rtsp-stream (its own WS port, ffmpeg started at
 * construction and never stopped, an 8-byte "jsmp" header that only JSMpeg 0.x understood), ffmpeg
 * runs only while someone watches: it starts with the first viewer and stops a grace period after the
 * last one left, so a page reload does not restart it. It is restarted with backoff if it dies while
 * viewers remain. Nothing is analysed here; this is the camera module's detect stream's sibling.
 */
/** The two levels this file logs at (a pino or fastify logger). */
export interface LiveLog {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/**
 * The frames a camera analyses, for cameras whose source cannot be opened a second time in step
 * (a file plays from its start for each reader): the live view then shows exactly the frames the
 * overlay describes, at the detect rate.
 */
export interface FrameFeed {
  width: number
  height: number
  fps: number
  subscribe(fn: (rgb: Buffer) => void): () => void
}

export interface LiveStreamOptions {
  /** The camera's source URL (rtsp://, http(s)://, or a file path in tests); undefined: unknown camera. */
  source(camera: string): string | undefined
  /** The camera's analysed frames, where the live view should show those instead of reopening the source. */
  frames?(camera: string): FrameFeed | undefined
  log: LiveLog
  ffmpegPath?: string
  /** Keep ffmpeg running this long after the last viewer left (ms). */
  graceMs?: number
  /** Output width at most (px; height follows the aspect ratio, even). */
  maxWidth?: number
  fps?: number
  bitrate?: string
  /** A viewer this far behind (bytes queued in its socket) is disconnected; JSMpeg reconnects by itself. */
  maxBufferedBytes?: number
}

export interface LiveStreamStats {
  camera: string
  viewers: number
  running: boolean
  pid: number | null
  bytesOut: number
  starts: number
}

/** MPEG-TS packets are 188 bytes; chunks are cut on packet boundaries so each message stands alone. */
const TS_PACKET = 188
const RESTART_MIN_MS = 500
const RESTART_MAX_MS = 30_000

/** ffmpeg's arguments for one camera; exported for the tests and the docs. */
export function restreamArgs(source: string | FrameFeed, o: { maxWidth: number; fps: number; bitrate: string }): string[] {
  const input = typeof source !== 'string'
    ? ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${source.width}x${source.height}`, '-framerate', String(source.fps), '-i', 'pipe:0']
    : /^rtsps?:\/\//i.test(source)
    ? ['-rtsp_transport', 'tcp', '-i', source]
    : /^https?:\/\//i.test(source)
      ? ['-i', source]
      : // A file (tests, demos): played at its own pace, looped for ever.
        ['-re', '-stream_loop', '-1', '-i', source]
  // Analysed frames keep their own (detect) rate; a source is resampled to the view's rate.
  const fps = typeof source === 'string' ? o.fps : Math.max(1, Math.round(source.fps))
  return [
    '-hide_banner', ...(typeof source === 'string' ? ['-nostdin'] : []), '-loglevel', 'error',
    ...input,
    '-an',
    // Never upscale; mpeg1video needs even dimensions.
    '-vf', `scale='min(${o.maxWidth},iw)':-2`,
    '-f', 'mpegts', '-codec:v', 'mpeg1video', '-b:v', o.bitrate, '-r', String(fps), '-bf', '0',
    // MPEG-1's frame rates are 23.976–60; 5, 10, 12 and 15 exist as the "unofficial" codes ffmpeg writes
    // only when allowed. JSMpeg does not pace a live stream by the header's rate: it shows frames as they come.
    '-strict', 'unofficial',
    // One GOP a second: a viewer who joins mid-stream sees a picture within a second.
    '-g', String(fps),
    // Write each packet at once instead of filling ffmpeg's 32 KiB I/O buffer (a third of a second).
    '-flush_packets', '1',
    'pipe:1',
  ]
}

class Restream {
  readonly viewers = new Set<WebSocket>()
  proc: ChildProcess | null = null
  bytesOut = 0
  starts = 0
  private rest: Buffer = Buffer.alloc(0)
  private idleTimer: NodeJS.Timeout | undefined
  private restartTimer: NodeJS.Timeout | undefined
  private backoffMs = RESTART_MIN_MS
  private closed = false

  constructor(
    readonly camera: string,
    /** Read at every (re)start, so a camera whose URL changed live is restarted on its new source. */
    private readonly source: () => string | undefined,
    private readonly o: Required<Omit<LiveStreamOptions, 'source' | 'log' | 'frames'>>,
    private readonly log: LiveLog,
    private readonly onIdle: (r: Restream) => void,
    private readonly frames?: () => FrameFeed | undefined,
  ) {}
  private unsubscribe?: () => void

  add(ws: WebSocket): void {
    clearTimeout(this.idleTimer)
    this.idleTimer = undefined
    this.viewers.add(ws)
    const drop = () => this.remove(ws)
    ws.once('close', drop)
    ws.once('error', drop)
    if (!this.proc && !this.restartTimer) this.spawn()
  }

  private remove(ws: WebSocket): void {
    if (!this.viewers.delete(ws) || this.viewers.size > 0 || this.closed) return
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined
      if (this.viewers.size === 0) this.onIdle(this)
    }, this.o.graceMs)
    this.idleTimer.unref()
  }

  private spawn(): void {
    const source = this.source()
    if (!source) {
      // The camera was removed from the configuration while watched.
      for (const ws of this.viewers) ws.close(1011, 'camera removed')
      return
    }
    this.starts++
    this.rest = Buffer.alloc(0)
    const feed = this.frames?.()
    const proc = spawn(this.o.ffmpegPath, restreamArgs(feed ?? source, this.o), { stdio: [feed ? 'pipe' : 'ignore', 'pipe', 'pipe'] })
    this.proc = proc
    if (feed) {
      const frameBytes = feed.width * feed.height * 3
      proc.stdin!.on('error', () => undefined) // ffmpeg gone: 'close' below restarts it
      this.unsubscribe?.()
      this.unsubscribe = feed.subscribe((rgb) => {
        // An encoder that falls behind skips frames rather than queueing them.
        if (rgb.length !== frameBytes || proc.stdin!.writableLength > 2 * frameBytes) return
        proc.stdin!.write(rgb)
      })
    }
    let stderr = ''
    proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-2000)))
    proc.stdout!.on('data', (chunk: Buffer) => this.broadcast(chunk))
    proc.on('error', (err) => this.log.error({ err, camera: this.camera }, 'live restream: cannot run ffmpeg'))
    proc.on('close', (code, signal) => {
      if (this.proc !== proc) return
      this.proc = null
      this.unsubscribe?.()
      this.unsubscribe = undefined
      if (this.closed || this.viewers.size === 0) return
      // The source went away (camera reboot, network): viewers stay connected, ffmpeg comes back.
      this.log.warn({ camera: this.camera, code, signal, stderr: stderr.trim().split('\n').slice(-3).join(' | ') }, 'live restream: ffmpeg exited; restarting')
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined
        if (!this.closed && this.viewers.size > 0) this.spawn()
      }, this.backoffMs)
      this.restartTimer.unref()
      this.backoffMs = Math.min(this.backoffMs * 2, RESTART_MAX_MS)
    })
  }

  private broadcast(chunk: Buffer): void {
    this.backoffMs = RESTART_MIN_MS
    const data = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk
    const whole = data.length - (data.length % TS_PACKET)
    this.rest = data.subarray(whole)
    if (whole === 0) return
    const msg = data.subarray(0, whole)
    for (const ws of this.viewers) {
      if (ws.readyState !== ws.OPEN) continue
      if (ws.bufferedAmount > this.o.maxBufferedBytes) {
        // Dropping TS chunks would corrupt the picture until the next GOP; a clean reconnect is better.
        ws.close(1013, 'too slow')
        continue
      }
      ws.send(msg, { binary: true })
      this.bytesOut += msg.length
    }
  }

  /** Stop ffmpeg (SIGTERM, SIGKILL if it lingers) and resolve once it is gone. */
  stopProcess(): Promise<void> {
    this.unsubscribe?.()
    this.unsubscribe = undefined
    clearTimeout(this.restartTimer)
    this.restartTimer = undefined
    const proc = this.proc
    this.proc = null
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve()
    return new Promise((resolve) => {
      const kill = setTimeout(() => proc.kill('SIGKILL'), 2000)
      proc.once('close', () => {
        clearTimeout(kill)
        resolve()
      })
      proc.kill('SIGTERM')
    })
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.idleTimer)
    for (const ws of this.viewers) ws.close(1001, 'going away')
    this.viewers.clear()
    await this.stopProcess()
  }
}

/** All cameras' restreams of one edge. `stop()` ends every ffmpeg and viewer. */
export class LiveStreams {
  private readonly streams = new Map<string, Restream>()
  private readonly o: Required<Omit<LiveStreamOptions, 'source' | 'log' | 'frames'>>
  private stopped = false

  constructor(private readonly opts: LiveStreamOptions) {
    this.o = {
      ffmpegPath: opts.ffmpegPath ?? 'ffmpeg',
      graceMs: opts.graceMs ?? 5000,
      maxWidth: opts.maxWidth ?? 640,
      fps: opts.fps ?? 10,
      bitrate: opts.bitrate ?? '800k',
      maxBufferedBytes: opts.maxBufferedBytes ?? 4 * 1024 * 1024,
    }
  }

  /** Adds a viewer to a camera's stream (starting ffmpeg if it is the first); false: unknown camera. */
  attach(camera: string, ws: WebSocket): boolean {
    if (this.stopped) return false
    let r = this.streams.get(camera)
    if (!r) {
      if (!this.opts.source(camera)) return false
      r = new Restream(
        camera,
        () => this.opts.source(camera),
        this.o,
        this.opts.log,
        (idle) => {
          if (this.streams.get(camera) === idle) this.streams.delete(camera)
          void idle.stopProcess()
        },
        this.opts.frames ? () => this.opts.frames!(camera) : undefined,
      )
      this.streams.set(camera, r)
    }
    r.add(ws)
    return true
  }

  stats(): LiveStreamStats[] {
    return [...this.streams.values()].map((r) => ({ camera: r.camera, viewers: r.viewers.size, running: !!r.proc, pid: r.proc?.pid ?? null, bytesOut: r.bytesOut, starts: r.starts }))
  }

  async stop(): Promise<void> {
    this.stopped = true
    const all = [...this.streams.values()]
    this.streams.clear()
    await Promise.all(all.map((r) => r.close()))
  }
}
