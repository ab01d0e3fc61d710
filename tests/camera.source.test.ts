import { createServer, type Server } from 'node:http'
import { execFileSync } from 'node:child_process'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CameraSource, type CameraSourceOptions } from '../edge/vision/camera/ffmpeg.source.ts'
import type { CameraStatus, Frame } from '../edge/vision/camera/types.ts'
import { startMjpegServer, type MjpegServer } from './support/mjpeg-server.ts'
import { startRtspServer, VTEST, type RtspServer } from './support/rtsp-server.ts'
import { freePort } from './support/servers.ts'

// Cameras over the network, with real parts: GStreamer's RTSP server streaming vtest.avi as H.264, an
// HTTP MJPEG server fed by ffmpeg, and the real ffmpeg decoding them. Timing is only ever waited for.

const log = pino({ level: 'silent' })
// About 1 fresh RTSP connection in 70 (seen in loops of fresh servers on a loaded box) ffmpeg gives up at
// PLAY with "Output file #0 does not contain any stream"; the source retries within ~2 s. Tests that are
// not about reconnecting allow that one retry instead of asserting an exact status history.
const W = 768
const H = 576
let rtsp: RtspServer
const sources: CameraSource[] = []

beforeAll(async () => {
  rtsp = await startRtspServer()
})
afterAll(async () => {
  await rtsp?.stop()
})
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()))
})

/** A started source that remembers everything it emitted, with waits on what comes next. */
function camera(opts: Partial<CameraSourceOptions> & { url: string }) {
  const source = new CameraSource({ id: 'cam', fps: 5, width: W, height: H, log, backoff: { initialMs: 200, maxMs: 1000 }, ...opts })
  const frames: Frame[] = []
  const statuses: CameraStatus[] = []
  source.on('frame', (f) => frames.push(f))
  source.on('status', (s) => statuses.push(s))
  const until = <T>(event: 'frame' | 'status', pred: (x: T) => boolean): Promise<T> =>
    new Promise((resolve) => {
      const on = (x: T) => {
        if (!pred(x)) return
        source.off(event, on as never)
        resolve(x)
      }
      source.on(event, on as never)
    })
  sources.push(source)
  source.start()
  return {
    source,
    frames,
    statuses,
    /** Resolves when `n` more frames have arrived. */
    frames_: (n: number) => {
      const target = frames.length + n
      return until<Frame>('frame', () => frames.length >= target)
    },
    status: (pred: (s: CameraStatus) => boolean) => until<CameraStatus>('status', pred),
  }
}

/** Share of bytes that differ by more than 24 between two frames: the picture moved. */
function changed(a: Buffer, b: Buffer): number {
  let n = 0
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > 24) n++
  return n / a.length
}

describe('camera source over RTSP (GStreamer RTSP server, vtest.avi as H.264)', () => {
  it('pulls 768x576 RGB frames at 5 fps whose pictures change', async () => {
    const cam = camera({ url: rtsp.url() })
    await cam.frames_(10)
    const [first, last] = [cam.frames[0]!, cam.frames[9]!]
    expect(cam.statuses[0]!.state).toBe('connecting')
    expect(cam.statuses.at(-1)!.state).toBe('online')
    expect(cam.source.stats().reconnects).toBeLessThanOrEqual(1)
    expect(cam.frames.every((f) => f.width === W && f.height === H && f.data.length === W * H * 3)).toBe(true)
    // Stream time: 200 ms a frame at 5 fps (a retry, if any, happens before the first frame).
    expect(cam.frames.slice(0, 10).map((f) => f.sourceMs)).toEqual([...Array(10).keys()].map((i) => i * 200))
    // Not a grey test card: real people walk in vtest, so a few percent of the picture moves in 2 s.
    expect(changed(first.data, last.data)).toBeGreaterThan(0.005)
    expect(mean(first.data)).toBeGreaterThan(40)
    const st = cam.source.stats()
    expect(st.fps).toBeGreaterThan(2)
    expect(st.fps).toBeLessThan(10)
    expect(st.decodeErrors).toBe(0)
  })

  it('delivers the pictures of the video, intact (no half-decoded frames)', async () => {
    // Every frame of vtest.avi decoded from the file is the reference; each frame over RTSP must be close
    // to one of them (mean absolute difference of 8x8 block means, 0..765 scale). H.264 at 1.5 Mbit/s
    // gives ~1; a picture with a smeared, concealed part gave ~27 (the server's sliced x264 did that once).
    const [w, h] = [192, 144]
    const reference: Float32Array[] = []
    await new Promise<void>((resolve) => {
      const file = new CameraSource({ id: 'ref', url: VTEST, fps: 10, width: w, height: h, log })
      file.on('frame', (f) => reference.push(blockMeans(f.data, w, h)))
      file.on('status', (s) => s.state === 'offline' && resolve())
      file.start()
    })
    expect(reference.length).toBeGreaterThan(790)
    const cam = camera({ url: rtsp.url(), width: w, height: h })
    await cam.frames_(20)
    const distances = cam.frames.slice(0, 20).map((f) => {
      const b = blockMeans(f.data, w, h)
      return Math.min(...reference.map((r) => b.reduce((sum, v, i) => sum + Math.abs(v - r[i]!), 0) / b.length))
    })
    expect(Math.max(...distances)).toBeLessThan(5)
  })

  it('reconnects after the RTSP server is killed with SIGKILL and resumes when it is back', async () => {
    const cam = camera({ url: rtsp.url(), stallTimeoutMs: 4000 })
    await cam.frames_(5)
    const before = cam.frames.length
    const reconnecting = cam.status((s) => s.state === 'reconnecting')
    await rtsp.kill('SIGKILL')
    const s = await reconnecting
    expect(s.reason).toBeTruthy()
    expect(s.code).toMatch(/^STORE_EDGE_ERR_CAMERA_/)
    // While it is down, the retries say why: nobody listens.
    const refused = await cam.status((x) => x.code === 'STORE_EDGE_ERR_CAMERA_UNREACHABLE')
    expect(refused.reason).toMatch(/Connection refused/)

    await rtsp.restart()
    await cam.status((x) => x.state === 'online')
    await cam.frames_(5)
    expect(cam.frames.length).toBeGreaterThanOrEqual(before + 5)
    expect(cam.source.stats().reconnects).toBeGreaterThanOrEqual(1)
    // seq and stream time keep going up across the outage.
    for (let i = 1; i < cam.frames.length; i++) {
      expect(cam.frames[i]!.seq).toBe(cam.frames[i - 1]!.seq + 1)
      expect(cam.frames[i]!.sourceMs).toBeGreaterThan(cam.frames[i - 1]!.sourceMs)
    }
    const resumed = cam.frames.at(-1)!
    expect(changed(resumed.data, cam.frames[0]!.data)).toBeGreaterThan(0)
  })

  it('a broken camera never holds up a good one', async () => {
    const deadPort = await freePort()
    const good = camera({ url: rtsp.url(), fps: 5 })
    const dead = camera({ url: `rtsp://127.0.0.1:${deadPort}/cam`, backoff: { initialMs: 100, maxMs: 400 } })
    const missing = camera({ url: rtsp.url('no-such-mount') })
    const notFound = await missing.status((s) => s.state === 'reconnecting')
    expect(notFound).toMatchObject({ code: 'STORE_EDGE_ERR_CAMERA_STREAM_NOT_FOUND' })
    expect(notFound.reason).toMatch(/404/)
    await good.frames_(15)
    expect(dead.frames).toHaveLength(0)
    expect(dead.source.stats().reconnects).toBeGreaterThanOrEqual(1)
    expect(dead.statuses.filter((s) => s.state === 'reconnecting').every((s) => s.code === 'STORE_EDGE_ERR_CAMERA_UNREACHABLE')).toBe(true)
    expect(good.statuses.at(-1)!.state).toBe('online')
    expect(good.source.stats().reconnects).toBeLessThanOrEqual(1)
  })
})

describe('camera source over HTTP MJPEG', () => {
  let mjpeg: MjpegServer
  beforeAll(async () => {
    mjpeg = await startMjpegServer({ file: VTEST, fps: 10 })
  })
  afterAll(async () => {
    await mjpeg?.stop()
  })

  it('decodes a multipart/x-mixed-replace stream at the detect rate', async () => {
    const cam = camera({ url: mjpeg.url, width: 384, height: 288 })
    await cam.frames_(10)
    expect(cam.frames.every((f) => f.data.length === 384 * 288 * 3)).toBe(true)
    expect(changed(cam.frames[0]!.data, cam.frames[9]!.data)).toBeGreaterThan(0.005)
    expect(mjpeg.framesSent).toBeGreaterThanOrEqual(10)
    // Wall-clock timestamps on the parts keep the rate right (10 fps in, 5 fps out).
    const st = cam.source.stats()
    expect(st.fps).toBeGreaterThan(3)
    expect(st.fps).toBeLessThan(8)
  })

  it('a wrong path is STORE_EDGE_ERR_CAMERA_STREAM_NOT_FOUND', async () => {
    const cam = camera({ url: mjpeg.url.replace('video.mjpg', 'nope.mjpg') })
    const s = await cam.status((x) => x.state === 'reconnecting')
    expect(s.code).toBe('STORE_EDGE_ERR_CAMERA_STREAM_NOT_FOUND')
    expect(s.reason).toMatch(/404/)
  })

  it('a camera that stops sending is a stall, then a reconnect', async () => {
    // Sends one JPEG and then nothing, holding the connection open.
    const jpeg = execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', VTEST, '-frames:v', '1', '-f', 'mjpeg', 'pipe:1'])
    let connections = 0
    const silent: Server = createServer((_req, res) => {
      connections++
      res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace; boundary=b' })
      res.write(`--b\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`)
      res.write(jpeg)
      res.write('\r\n')
    })
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()))
    try {
      const port = (silent.address() as { port: number }).port
      const cam = camera({ url: `http://127.0.0.1:${port}/`, stallTimeoutMs: 1500 })
      const s = await cam.status((x) => x.state === 'reconnecting')
      expect(s.code).toBe('STORE_EDGE_ERR_CAMERA_STALLED')
      await cam.status((x) => x.state === 'reconnecting' && cam.source.stats().reconnects >= 1)
      expect(connections).toBeGreaterThanOrEqual(2)
      expect(cam.source.stats().lagMs).toBeGreaterThanOrEqual(1000)
    } finally {
      silent.closeAllConnections()
      await new Promise<void>((r) => silent.close(() => r()))
    }
  })
})

/** Sum of R+G+B averaged over 8x8 blocks. */
function blockMeans(d: Buffer, w: number, h: number): Float32Array {
  const gw = w / 8
  const out = new Float32Array(gw * (h / 8))
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = (y * w + x) * 3
    out[(y >> 3) * gw + (x >> 3)]! += d[i]! + d[i + 1]! + d[i + 2]!
  }
  return out.map((v) => v / 64)
}

function mean(b: Buffer): number {
  let sum = 0
  for (let i = 0; i < b.length; i++) sum += b[i]!
  return sum / b.length
}
