import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CameraSource, classifyExit, type CameraSourceOptions } from './ffmpeg.source.ts'
import type { CameraStatus, Frame } from './types.ts'

// File sources through the real ffmpeg. The clip: the first 2 s of Debian's vtest.avi (20 frames at
// 10 fps, 768x576), re-encoded so its length is exact; at 5 fps that is 10 frames.
const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi'
const log = pino({ level: 'silent' })
let dir: string
let clip: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ffmpeg-source-'))
  clip = join(dir, 'clip.avi')
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', VTEST, '-frames:v', '20', '-c:v', 'mpeg4', '-q:v', '3', clip])
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Run {
  frames: Frame[]
  statuses: CameraStatus[]
  source: CameraSource
}

/** Run a source until it reports `until` (a final state), collecting what it emitted. */
function run(opts: Partial<CameraSourceOptions> & { url: string }, until: (s: CameraStatus) => boolean = (s) => s.state === 'offline' || s.state === 'error'): Promise<Run> {
  const source = new CameraSource({ id: 'cam1', fps: 5, width: 768, height: 576, log, ...opts })
  const frames: Frame[] = []
  const statuses: CameraStatus[] = []
  source.on('frame', (f) => frames.push(f))
  return new Promise((resolve) => {
    source.on('status', (s) => {
      statuses.push(s)
      if (until(s)) resolve({ frames, statuses, source })
    })
    source.start()
  })
}

const mean = (b: Buffer) => {
  let sum = 0
  for (let i = 0; i < b.length; i++) sum += b[i]!
  return sum / b.length
}

describe('CameraSource on files', () => {
  it('cuts a 2 s clip at 5 fps into exactly 10 full-size RGB frames, then ends', async () => {
    const { frames, statuses, source } = await run({ url: clip })
    expect(frames).toHaveLength(10)
    for (const [i, f] of frames.entries()) {
      expect(f).toMatchObject({ camera: 'cam1', seq: i, sourceMs: i * 200, width: 768, height: 576 })
      expect(f.data.length).toBe(768 * 576 * 3)
    }
    expect(frames[0]!.data.equals(frames[9]!.data)).toBe(false) // people walk: the picture changes
    expect(statuses.map((s) => s.state)).toEqual(['connecting', 'online', 'offline'])
    expect(statuses.at(-1)!.reason).toBe('end of stream')
    expect(source.stats()).toMatchObject({ framesIn: 10, reconnects: 0, decodeErrors: 0 })
    await source.stop() // already ended: no more events
    expect(statuses).toHaveLength(3)
  })

  it('scales to the requested size, the same picture smaller', async () => {
    const [big, small, tiny] = await Promise.all([run({ url: clip }), run({ url: clip, width: 320, height: 240 }), run({ url: clip, width: 16, height: 12 })])
    expect(small.frames).toHaveLength(10)
    expect(small.frames.every((f) => f.width === 320 && f.height === 240 && f.data.length === 320 * 240 * 3)).toBe(true)
    // Many tiny frames per pipe read: the cutter hands out views of one chunk and must keep them apart.
    expect(tiny.frames).toHaveLength(10)
    expect(tiny.frames.every((f) => f.data.length === 16 * 12 * 3)).toBe(true)
    for (let i = 0; i < 10; i++) {
      expect(Math.abs(mean(small.frames[i]!.data) - mean(big.frames[i]!.data))).toBeLessThan(2)
      expect(Math.abs(mean(tiny.frames[i]!.data) - mean(big.frames[i]!.data))).toBeLessThan(4)
    }
  })

  it('loops a file at its native pace until stopped; stop() leaves no ffmpeg behind', async () => {
    const statuses: CameraStatus[] = []
    const source = new CameraSource({ id: 'loop', url: clip, loop: true, realtime: true, fps: 10, width: 64, height: 48, log })
    source.on('status', (s) => statuses.push(s))
    // 25 frames of a 20-frame clip: it went round at least once.
    const seqs: number[] = []
    await new Promise<void>((resolve) => {
      source.on('frame', (f) => {
        seqs.push(f.seq)
        if (seqs.length === 25) resolve()
      })
      source.start()
    })
    const pid = source.pid!
    expect(pid).toBeGreaterThan(0)
    expect(alive(pid)).toBe(true)
    await source.stop()
    expect(alive(pid)).toBe(false)
    expect(source.pid).toBeUndefined()
    expect(seqs.slice(0, 25)).toEqual([...Array(25).keys()])
    expect(statuses.map((s) => s.state)).toEqual(['connecting', 'online', 'offline'])
    expect(statuses.at(-1)!.reason).toBe('stopped')
    const st = source.stats()
    expect(st.fps).toBeGreaterThan(5) // ~10 fps: -re kept it at the clip's rate
    expect(st.fps).toBeLessThan(20)
    const late = statuses.length
    await new Promise((r) => setTimeout(r, 300))
    expect(statuses).toHaveLength(late)
  })

  it('counts frames the consumer dropped', async () => {
    const { source } = await run({ url: clip, width: 32, height: 24 })
    source.countDropped(3)
    source.countDropped()
    expect(source.stats().dropped).toBe(4)
  })

  it('a file that is not video: error with a clear reason, no frames, no crash', async () => {
    const garbage = join(dir, 'garbage.avi')
    writeFileSync(garbage, Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 251)))
    const { frames, statuses } = await run({ url: garbage })
    expect(frames).toHaveLength(0)
    expect(statuses.at(-1)).toMatchObject({ state: 'error', code: 'STORE_EDGE_ERR_CAMERA_BAD_STREAM' })
    expect(statuses.at(-1)!.reason).toMatch(/Invalid data found/)
  })

  it('a missing file: error STORE_EDGE_ERR_CAMERA_STREAM_NOT_FOUND', async () => {
    const { statuses } = await run({ url: join(dir, 'nope.avi') })
    expect(statuses.at(-1)).toMatchObject({ state: 'error', code: 'STORE_EDGE_ERR_CAMERA_STREAM_NOT_FOUND' })
    expect(statuses.at(-1)!.reason).toMatch(/file not found.*No such file/)
  })

  it('a truncated file gives the frames it has, then end of stream', async () => {
    const cut = join(dir, 'cut.avi')
    const whole = readFileSync(clip)
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)))
    const { frames, statuses } = await run({ url: cut })
    expect(frames.length).toBeGreaterThan(0)
    expect(frames.length).toBeLessThan(10)
    expect(frames.every((f) => f.data.length === 768 * 576 * 3)).toBe(true)
    expect(statuses.at(-1)).toMatchObject({ state: 'offline', reason: 'end of stream' })
  })

  it('corrupt bytes inside the stream are counted as decode errors and the frames keep coming', async () => {
    const bad = join(dir, 'bad.avi')
    copyFileSync(clip, bad)
    const fd = openSync(bad, 'r+')
    // Overwrite some of the middle (past the headers and the first key frame) with noise.
    const size = readFileSync(clip).length
    writeSync(fd, Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 131 + 17) % 256)), 0, 20_000, Math.floor(size * 0.4))
    closeSync(fd)
    const { frames, statuses, source } = await run({ url: bad })
    expect(source.stats().decodeErrors).toBeGreaterThan(0)
    expect(frames.length).toBeGreaterThanOrEqual(5)
    expect(statuses.at(-1)).toMatchObject({ state: 'offline', reason: 'end of stream' })
  })

  it('a missing ffmpeg binary is a clear error status, for files and for live sources', async () => {
    const { statuses } = await run({ url: clip, ffmpegPath: join(dir, 'no-ffmpeg') })
    expect(statuses.at(-1)).toMatchObject({ state: 'error', code: 'STORE_EDGE_ERR_CAMERA_DECODER' })
    expect(statuses.at(-1)!.reason).toMatch(/ffmpeg not found/)

    // A live source keeps trying (slowly) so installing ffmpeg heals it; stop() ends that quietly.
    let errors = 0
    const live = await run({ url: 'rtsp://127.0.0.1:9/x', ffmpegPath: join(dir, 'no-ffmpeg'), backoff: { initialMs: 20, maxMs: 40 } }, (s) => s.state === 'error' && ++errors === 3)
    expect(live.statuses.filter((s) => s.state === 'error').every((s) => s.code === 'STORE_EDGE_ERR_CAMERA_DECODER')).toBe(true)
    await live.source.stop()
    expect(live.statuses.at(-1)).toMatchObject({ state: 'offline', reason: 'stopped' })
    const n = live.statuses.length
    await new Promise((r) => setTimeout(r, 200))
    expect(live.statuses).toHaveLength(n)
  })
})

describe('classifyExit', () => {
  // Lines as ffmpeg 5.1 writes them at -loglevel error.
  it.each([
    [['[tcp @ 0x55fde3304580] Connection to tcp://127.0.0.1:1?timeout=0 failed: Connection refused', 'rtsp://127.0.0.1:1/x: Connection refused'], 'STORE_EDGE_ERR_CAMERA_UNREACHABLE'],
    [['[rtsp @ 0x5576cf21c940] method DESCRIBE failed: 404 Not Found', 'rtsp://127.0.0.1:38731/nope: Server returned 404 Not Found'], 'STORE_EDGE_ERR_CAMERA_STREAM_NOT_FOUND'],
    [['[rtsp @ 0x5576cf21c940] method DESCRIBE failed: 401 Unauthorized', 'rtsp://cam/x: Server returned 401 Unauthorized (authorization failed)'], 'STORE_EDGE_ERR_CAMERA_AUTH'],
    [['garbage.avi: Invalid data found when processing input'], 'STORE_EDGE_ERR_CAMERA_BAD_STREAM'],
    [['something else entirely'], 'STORE_EDGE_ERR_CAMERA_STREAM'],
  ] as const)('%j → %s', (lines, code) => {
    const f = classifyExit(lines, 1, null, 'rtsp')
    expect(f.code).toBe(code)
    expect(f.reason).toContain(lines.at(-1)!)
  })

  it('a live stream that simply ends was closed by the camera', () => {
    expect(classifyExit([], 0, null, 'rtsp').reason).toMatch(/stream ended/)
  })
})

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
