import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { createInterface } from 'node:readline'
import type { Logger } from '../../core/logger.ts'
import type { CameraState, CameraStats, CameraStatus, Frame } from './types.ts'

/**
 * A camera as a stream of RGB24 frames: one ffmpeg child per camera decodes RTSP, HTTP MJPEG or a file,
 * thins it to the detect rate and scales it to the detect size (`-vf select=…,scale=…`) and writes raw
 * frames to its stdout,
 * which is cut into width × height × 3 byte frames here.
 *
 * Live sources (RTSP, HTTP) never give up: any exit, a stall (no frame for `stallTimeoutMs`) or a spawn
 * error reports `reconnecting` with a reason and an error code, then ffmpeg is started again after an
 * exponential backoff with jitter; the backoff starts over once a connection has delivered frames for
 * `backoff.resetAfterMs`. Files are finite: their end is `offline` / 'end of stream' (unless `loop`), and a
 * file ffmpeg cannot read is `error` with no retry (reading it again gives the same answer). A missing
 * ffmpeg binary is `error` for every kind; live sources still retry it slowly so installing ffmpeg heals.
 *
 * Stream time (`Frame.sourceMs`): within one connection frame k has `base + k × 1000 / fps` (a source
 * slower than `fps` is not padded with duplicates, so its sourceMs falls behind its real stream time). The first
 * connection has base 0; a reconnection's base is the previous frame's sourceMs plus the wall time that
 * passed between that frame and the reconnection's first frame (at least one frame interval), so
 * sourceMs keeps increasing and an outage shows up as a gap of about its length.
 */

/** The `code` of a failing status (edge/contracts/errors.ts). DECODER: ffmpeg missing or not startable; STREAM: ffmpeg exited otherwise. */
export type CameraErrorCode =
  | 'STORE_EDGE_ERR_CAMERA_DECODER'
  | 'STORE_EDGE_ERR_CAMERA_UNREACHABLE'
  | 'STORE_EDGE_ERR_CAMERA_STREAM_NOT_FOUND'
  | 'STORE_EDGE_ERR_CAMERA_AUTH'
  | 'STORE_EDGE_ERR_CAMERA_BAD_STREAM'
  | 'STORE_EDGE_ERR_CAMERA_STALLED'
  | 'STORE_EDGE_ERR_CAMERA_STREAM'

export interface CameraSourceOptions {
  id: string
  /** rtsp://…, http(s)://… (MJPEG), or a file path / file:// URL. */
  url: string
  fps: number
  width: number
  height: number
  rtspTransport?: 'tcp' | 'udp'
  /** Files: read at the native frame rate (ffmpeg -re) instead of as fast as ffmpeg decodes. */
  realtime?: boolean
  /** Files: start over at the end, forever (ffmpeg -stream_loop -1). */
  loop?: boolean
  ffmpegPath?: string
  backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number }
  stallTimeoutMs?: number
  /** SIGTERM → SIGKILL grace on stop and on stall kills. */
  killGraceMs?: number
  log: Logger
  now?: () => number
}

export type CameraSourceEvents = {
  frame: [Frame]
  status: [CameraStatus]
  /** Every stderr line ffmpeg writes (loglevel error), for whoever wants to log or show them. */
  'error-line': [string]
}

type Kind = 'rtsp' | 'http' | 'file'

export function sourceKind(url: string): Kind {
  if (/^rtsps?:\/\//i.test(url)) return 'rtsp'
  if (/^https?:\/\//i.test(url)) return 'http'
  return 'file'
}

/** Prefixes of ffmpeg log lines that come from protocols, demuxers and filters, not from a decoder. */
const NOT_DECODERS = new Set([
  'tcp', 'udp', 'tls', 'http', 'https', 'rtsp', 'rtp', 'rtcp', 'file', 'pipe', 'AVIOContext', 'mpjpeg', 'avi',
  'mov,mp4,m4a,3gp,3g2,mj2', 'matroska,webm', 'mpegts', 'flv', 'image2', 'image2pipe', 'rawvideo', 'sdp',
  'swscaler', 'graph', 'in', 'out', 'NULL', 'null', 'AVFormatContext',
])

export interface Failure {
  code: CameraErrorCode
  reason: string
}

/** The clearest reason in what ffmpeg said before it exited (its last lines, stderr at loglevel error). */
export function classifyExit(lines: readonly string[], exitCode: number | null, signal: string | null, kind: Kind): Failure {
  const text = lines.join('\n')
  const last = lines.filter((l) => !/^\s*Last message repeated/.test(l)).at(-1)?.trim()
  const said = last ? `: ${last}` : ''
  if (/\b401\b|\b403\b|Unauthorized|Forbidden/i.test(text)) return { code: 'STORE_EDGE_ERR_CAMERA_AUTH', reason: `camera refused the credentials${said}` }
  if (/\b404\b|Not Found|No such file or directory/i.test(text))
    return { code: 'STORE_EDGE_ERR_CAMERA_STREAM_NOT_FOUND', reason: kind === 'file' ? `file not found${said}` : `stream not found on the camera${said}` }
  if (/Connection refused|No route to host|Network is unreachable|Connection timed out|timed out|Failed to resolve|Name or service not known|Temporary failure in name resolution|Connection reset/i.test(text))
    return { code: 'STORE_EDGE_ERR_CAMERA_UNREACHABLE', reason: `camera unreachable${said}` }
  if (/Invalid data found|could not find codec|does not contain any stream|Output file #0 does not contain|moov atom not found|Invalid argument/i.test(text))
    return { code: 'STORE_EDGE_ERR_CAMERA_BAD_STREAM', reason: `not a readable video stream${said}` }
  const how = signal ? `killed by ${signal}` : `exited with code ${exitCode}`
  if (exitCode === 0 && !signal) return { code: 'STORE_EDGE_ERR_CAMERA_STREAM', reason: `stream ended (connection closed by the camera)${said}` }
  return { code: 'STORE_EDGE_ERR_CAMERA_STREAM', reason: `ffmpeg ${how}${said}` }
}

const FPS_WINDOW_MS = 5_000
/** Lines after which ffmpeg exits, or should. */
const FATAL = /does not contain any stream|Conversion failed!|Error opening (input|output)/

/**
 * Keep the first frame of every 1/fps slot of stream time. Unlike the fps filter, which holds each frame
 * until it has seen the next one (one source frame interval of extra latency, ~100 ms measured on a
 * 10 fps camera), this decides at once and never duplicates a frame. A timestamp jump backwards (a camera
 * that restarts its clock) opens a new slot instead of silencing the stream; no timestamps at all → every
 * frame. The 0.001 keeps t × fps that lands a hair under a whole number (0.7 × 10) in its own slot.
 */
function selectFilter(fps: number): string {
  const slot = (t: string) => `floor(${t}*${fps}+0.001)`
  return `select='if(isnan(t)+isnan(prev_selected_t),1,not(eq(${slot('t')},${slot('prev_selected_t')})))'`
}

export class CameraSource extends EventEmitter<CameraSourceEvents> {
  private readonly kind: Kind
  private readonly now: () => number
  private readonly log: Logger
  private readonly frameBytes: number
  private readonly intervalMs: number

  private running = false
  private paused = false
  private child?: ChildProcess
  private childClosed?: Promise<void>
  private retryTimer?: NodeJS.Timeout
  private stallTimer?: NodeJS.Timeout
  private attempt = 0
  private state: CameraState = 'offline'

  // Current connection.
  private partial?: Buffer
  private filled = 0
  private connStart = 0
  private connFrames = 0
  private connBaseMs = 0
  private lastDataTs = 0
  private stderrTail: string[] = []
  private stallFailure?: Failure

  // Totals.
  private seq = 0
  private framesIn = 0
  private lastFrameTs = 0
  private lastSourceMs = -1
  private reconnects = 0
  private dropped = 0
  private decodeErrors = 0
  private lastLineWasDecodeError = false
  private recentTs: number[] = []
  private startedAt = 0

  constructor(private readonly opts: CameraSourceOptions) {
    super()
    this.kind = sourceKind(opts.url)
    this.now = opts.now ?? Date.now
    this.log = opts.log
    this.frameBytes = opts.width * opts.height * 3
    this.intervalMs = 1000 / opts.fps
  }

  get id(): string {
    return this.opts.id
  }

  start(): void {
    if (this.running) return
    if (!(this.opts.fps > 0) || !(this.opts.width > 0) || !(this.opts.height > 0)) throw new Error(`camera '${this.opts.id}': fps, width and height must be > 0`)
    this.running = true
    this.startedAt = this.now()
    this.setStatus('connecting')
    this.spawnFfmpeg()
  }

  /** Stop ffmpeg (SIGTERM, SIGKILL after a grace) and every timer; resolves once the child has exited. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    clearTimeout(this.retryTimer)
    clearInterval(this.stallTimer)
    this.retryTimer = this.stallTimer = undefined
    const closed = this.childClosed
    if (this.child) this.terminate(this.child)
    await closed
    this.child = undefined
    this.setStatus('offline', 'stopped', undefined, true)
  }

  /**
   * Replays (a file read as fast as the consumer allows): stop reading ffmpeg's output until resume().
   * ffmpeg then blocks on the full pipe, so memory stays bounded; stall detection waits meanwhile.
   * A frame already in the chunk being read is still delivered.
   */
  pause(): void {
    if (this.paused) return
    this.paused = true
    this.child?.stdout?.pause()
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    this.lastDataTs = this.now()
    this.child?.stdout?.resume()
  }

  /** The consumer skipped `n` frames because it was still busy (counted in stats().dropped). */
  countDropped(n = 1): void {
    this.dropped += n
  }

  stats(): CameraStats {
    const now = this.now()
    this.trimWindow(now)
    const first = this.recentTs[0]
    const n = this.recentTs.length
    const fps = first !== undefined && n >= 2 && now > first ? ((n - 1) * 1000) / (now - first) : 0
    return {
      framesIn: this.framesIn,
      fps: Math.round(fps * 100) / 100,
      lastFrameTs: this.lastFrameTs,
      reconnects: this.reconnects,
      dropped: this.dropped,
      decodeErrors: this.decodeErrors,
      lagMs: this.running || this.lastFrameTs ? now - (this.lastFrameTs || this.startedAt) : 0,
    }
  }

  /** The running ffmpeg's pid (for CPU accounting and tests). */
  get pid(): number | undefined {
    return this.child?.pid
  }

  get status(): CameraState {
    return this.state
  }

  /** The ffmpeg command line (without the binary), for logs and tests. */
  ffmpegArgs(): string[] {
    const o = this.opts
    // ffmpeg's own socket timeout is only a backstop, twice the stall timeout: our stall check fires first
    // and gives the clearer reason.
    const timeoutUs = String((o.stallTimeoutMs ?? 10_000) * 2000)
    const input: string[] = []
    // Live: no input buffering, and no frame-rate estimation while probing (-fpsprobesize 0: the first frame
    // after ~1.3 s instead of ~3.2 s). The probe itself keeps its 5 s: it must outlast the camera's key
    // frame interval, or a stream joined just after a key frame has "unspecified size" and no video at all
    // (seen with a 0.5 s probe on a 0.5 s GOP, 1 connection in 60).
    const live = ['-fflags', 'nobuffer', '-flags', 'low_delay', '-fpsprobesize', '0']
    if (this.kind === 'rtsp') input.push('-rtsp_transport', o.rtspTransport ?? 'tcp', '-timeout', timeoutUs, ...live)
    // MJPEG parts carry no timestamps: stamp them with the arrival time, or the fps filter (which assumes
    // 25 fps without timestamps) would keep the wrong share of them.
    else if (this.kind === 'http') input.push('-timeout', timeoutUs, '-use_wallclock_as_timestamps', '1', ...live)
    else {
      if (o.realtime) input.push('-re')
      if (o.loop) input.push('-stream_loop', '-1')
    }
    const url = this.kind === 'file' ? o.url.replace(/^file:\/\//i, '') : o.url
    return [
      '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error',
      // One decoder thread: frame threading delays every frame by (threads - 1) frames (measured: p50 525 →
      // 424 ms, p99 723 → 439 ms over RTSP), and a detect-size stream decodes in ~2% of a core anyway.
      '-threads', '1',
      ...input, '-i', url,
      '-an', '-sn', '-dn',
      '-vf', `${selectFilter(o.fps)},scale=${o.width}:${o.height}`,
      // Frames go out as selected: no duplicates to fill a gap in a live stream.
      '-fps_mode', 'passthrough',
      '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1',
    ]
  }

  private spawnFfmpeg(): void {
    const bin = this.opts.ffmpegPath ?? 'ffmpeg'
    this.partial = undefined
    this.filled = 0
    this.connFrames = 0
    this.stderrTail = []
    this.stallFailure = undefined
    this.connStart = this.lastDataTs = this.now()
    let child: ChildProcess
    try {
      child = spawn(bin, this.ffmpegArgs(), { stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (err) {
      this.failed(this.spawnFailure(bin, err as NodeJS.ErrnoException))
      return
    }
    this.child = child
    let ended = false
    let spawnError: NodeJS.ErrnoException | undefined
    this.childClosed = new Promise<void>((resolve) => {
      child.once('close', (code, signal) => {
        resolve()
        if (ended) return
        ended = true
        this.onClose(child, code, signal, spawnError)
      })
    })
    child.once('error', (err: NodeJS.ErrnoException) => {
      // A spawn failure (no such binary): 'close' still follows, with pid undefined.
      spawnError = err
    })
    child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk))
    if (this.paused) child.stdout!.pause()
    createInterface({ input: child.stderr! }).on('line', (line) => this.onStderr(line))
    clearInterval(this.stallTimer)
    const stallMs = this.opts.stallTimeoutMs ?? 10_000
    this.stallTimer = setInterval(() => this.checkStall(child, stallMs), Math.min(1000, stallMs / 4))
  }

  private onData(chunk: Buffer): void {
    const size = this.frameBytes
    let off = 0
    while (off < chunk.length) {
      if (this.filled === 0 && chunk.length - off >= size) {
        // A whole frame inside this chunk: hand out a view, no copy.
        this.emitFrame(chunk.subarray(off, off + size))
        off += size
        continue
      }
      this.partial ??= Buffer.allocUnsafe(size)
      const n = chunk.copy(this.partial, this.filled, off, Math.min(chunk.length, off + size - this.filled))
      this.filled += n
      off += n
      if (this.filled === size) {
        const frame = this.partial
        this.partial = undefined
        this.filled = 0
        this.emitFrame(frame)
      }
    }
  }

  private emitFrame(data: Buffer): void {
    const ts = this.now()
    this.lastDataTs = ts
    if (this.connFrames === 0) {
      this.connBaseMs = this.lastSourceMs < 0 ? 0 : this.lastSourceMs + Math.max(this.intervalMs, ts - this.lastFrameTs)
      this.setStatus('online')
    } else if (this.attempt > 0 && ts - this.connStart >= (this.opts.backoff?.resetAfterMs ?? 10_000)) {
      this.attempt = 0 // frames have flowed long enough: the next failure starts the backoff over
    }
    const sourceMs = Math.round(this.connBaseMs + this.connFrames * this.intervalMs)
    this.connFrames++
    this.framesIn++
    this.lastFrameTs = ts
    this.lastSourceMs = sourceMs
    this.recentTs.push(ts)
    this.trimWindow(ts)
    const frame: Frame = { camera: this.opts.id, seq: this.seq++, ts, sourceMs, width: this.opts.width, height: this.opts.height, data }
    try {
      this.emit('frame', frame)
    } catch (err) {
      // A consumer's bug must not break the frame cutting of this stream.
      this.log.error({ err, camera: this.opts.id }, 'frame listener threw')
    }
  }

  private trimWindow(now: number): void {
    let i = 0
    while (i < this.recentTs.length && this.recentTs[i]! < now - FPS_WINDOW_MS) i++
    if (i) this.recentTs.splice(0, i)
  }

  private onStderr(line: string): void {
    if (!line.trim()) return
    this.emit('error-line', line)
    const repeated = /^\s*Last message repeated (\d+) times?/.exec(line)
    if (repeated) {
      if (this.lastLineWasDecodeError) this.decodeErrors += Number(repeated[1])
      return
    }
    const prefix = /^\[([^\]@]+?) @ 0x[0-9a-f]+\]/.exec(line)
    const from = prefix?.[1]!.trim()
    // Decoders log under their codec's name ([h264 @ 0x…]); ffmpeg ≥ 6 names its own stages with a '#' (in#0/rtsp).
    this.lastLineWasDecodeError = from !== undefined && !NOT_DECODERS.has(from) && !from.startsWith('Parsed_') && !from.includes('#')
    if (this.lastLineWasDecodeError) this.decodeErrors++
    else {
      this.stderrTail.push(line)
      if (this.stderrTail.length > 8) this.stderrTail.shift()
      // ffmpeg has given up but may still wait for the camera to answer its RTSP TEARDOWN: don't wait with it.
      if (FATAL.test(line) && this.child) this.terminateSoon(this.child)
    }
    this.log.debug({ camera: this.opts.id, line }, 'ffmpeg')
  }

  private checkStall(child: ChildProcess, stallMs: number): void {
    if (this.child !== child || this.stallFailure) return
    if (this.paused) {
      this.lastDataTs = this.now() // held back by our consumer, not stalled
      return
    }
    const quiet = this.now() - this.lastDataTs
    if (quiet < stallMs) return
    const said = this.stderrTail.at(-1)?.trim()
    this.stallFailure = {
      code: 'STORE_EDGE_ERR_CAMERA_STALLED',
      reason: (this.connFrames === 0 ? `no frame within ${Math.round(quiet)} ms of connecting` : `no frame for ${Math.round(quiet)} ms`) + (said ? `: ${said}` : ''),
    }
    this.terminate(child)
  }

  private terminateSoon(child: ChildProcess): void {
    const timer = setTimeout(() => this.terminate(child), 1000)
    child.once('exit', () => clearTimeout(timer))
  }

  private terminate(child: ChildProcess): void {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
    child.kill('SIGTERM')
    const kill = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }, this.opts.killGraceMs ?? 2_000)
    kill.unref()
    child.once('exit', () => clearTimeout(kill))
  }

  private onClose(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, spawnError?: NodeJS.ErrnoException): void {
    if (this.child === child) this.child = undefined
    clearInterval(this.stallTimer)
    this.stallTimer = undefined
    if (!this.running) return
    if (spawnError) return this.failed(this.spawnFailure(this.opts.ffmpegPath ?? 'ffmpeg', spawnError))
    if (this.stallFailure) return this.failed(this.stallFailure)
    if (this.kind === 'file' && code === 0 && !signal) {
      // A finite file that ended (a looped one only ends if ffmpeg gives up on it).
      if (this.filled > 0) this.log.warn({ camera: this.opts.id, bytes: this.filled }, 'ffmpeg ended inside a frame; partial frame discarded')
      this.running = false
      this.setStatus('offline', this.framesIn > 0 ? 'end of stream' : 'end of stream (no frames)', undefined, true)
      return
    }
    this.failed(classifyExit(this.stderrTail, code, signal, this.kind))
  }

  private spawnFailure(bin: string, err: NodeJS.ErrnoException): Failure {
    if (err.code === 'ENOENT') return { code: 'STORE_EDGE_ERR_CAMERA_DECODER', reason: `ffmpeg not found ('${bin}'): install ffmpeg or set ffmpegPath` }
    return { code: 'STORE_EDGE_ERR_CAMERA_DECODER', reason: `cannot start ffmpeg ('${bin}'): ${err.message}` }
  }

  /** This connection is over: a file stops here with `error`; a live source retries after a backoff. */
  private failed(f: Failure): void {
    if (!this.running) return
    const fatal = f.code === 'STORE_EDGE_ERR_CAMERA_DECODER'
    if (this.kind === 'file') {
      this.running = false
      clearInterval(this.stallTimer)
      this.setStatus('error', f.reason, f.code, true)
      return
    }
    this.setStatus(fatal ? 'error' : 'reconnecting', f.reason, f.code, true)
    const { initialMs = 500, maxMs = 30_000 } = this.opts.backoff ?? {}
    const full = Math.min(maxMs, initialMs * 2 ** this.attempt)
    const delay = full / 2 + Math.random() * (full / 2) // equal jitter: cameras that failed together do not retry together
    this.attempt = Math.min(this.attempt + 1, 30)
    this.log.warn({ camera: this.opts.id, code: f.code, reason: f.reason, retryInMs: Math.round(delay) }, 'camera connection failed; retrying')
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      if (!this.running) return
      this.reconnects++
      this.spawnFfmpeg()
    }, delay)
  }

  private setStatus(state: CameraState, reason?: string, code?: string, force = false): void {
    if (state === this.state && !force) return
    const changed = state !== this.state
    this.state = state
    const status: CameraStatus = { camera: this.opts.id, state, ts: this.now(), ...(reason !== undefined && { reason }), ...(code !== undefined && { code }) }
    if (changed && state === 'online') this.log.info({ camera: this.opts.id, reconnects: this.reconnects }, 'camera online')
    this.emit('status', status)
  }
}
