import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { CameraConfig } from '../../contracts/index.ts'
import type { EdgeConfig } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import type { InferenceService } from '../inference/inference.service.ts'
import type { RawImage } from '../inference/types.ts'
import { CameraAnalytics, type FrameResult } from './camera-analytics.ts'
import { CameraSource } from './ffmpeg.source.ts'
import type { Frame, TrackBox } from './types.ts'

/**
 * A recorded video through exactly the live camera's analysis (the ffmpeg source, the person model in
 * the worker pool, CameraAnalytics: ByteTrack, lines, zones), as fast as the box allows: frames are
 * decoded ahead while the previous one is detected, with the decoder paused when a few are waiting.
 * Frame time is stream time (not wall time), so the tracker sees the video's own timing at any speed.
 * Used by the counting audit, the vision benchmark and the counting tests.
 */
export interface ReplayOptions {
  file: string
  camera: Pick<CameraConfig, 'id' | 'lines' | 'zones'> & { detect: CameraConfig['detect'] }
  vision: InferenceService
  settings: EdgeConfig['camera']
  log: Logger
  ffmpegPath?: string
  /** Frames decoded ahead of detection (default 4). */
  readAhead?: number
  onProgress?: (framesDone: number, framesTotal: number) => void
  /** The frame's pixels go to the inference worker (transferred, not copied); with keepImage, onFrame gets a copy made before. */
  onFrame?: (r: FrameResult, frame: Frame, sourceFrame: number) => void
  keepImage?: boolean
}

export interface ReplayCrossing {
  /** Frame number in the source video (at its own rate), where the crossing was seen. */
  frame: number
  ms: number
  line: string
  entrance: string
  dir: 'in' | 'out'
  track: number
}

export interface ReplayResult {
  video: { width: number; height: number; fps: number; frames: number; durationS: number }
  framesAnalysed: number
  crossings: ReplayCrossing[]
  in: number
  out: number
  tracks: number
  /**
   * New tracks that took over from one that vanished just before, in the same place: a person whose
   * identity changed (a fragmentation proxy for ID switches, as there is no identity ground truth).
   */
  idSwitches: number
  wallMs: number
  fps: number
}

export interface VideoInfo {
  width: number
  height: number
  fps: number
  frames: number
  durationS: number
}

/** Size, rate and length of a video (ffprobe, which ships with ffmpeg). */
export async function probeVideo(file: string, ffprobe = 'ffprobe'): Promise<VideoInfo> {
  const { stdout } = await promisify(execFile)(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=width,height,r_frame_rate,nb_read_packets:format=duration', '-of', 'json', file])
  const j = JSON.parse(stdout) as { streams?: Array<{ width: number; height: number; r_frame_rate: string; nb_read_packets?: string }>; format?: { duration?: string } }
  const s = j.streams?.[0]
  if (!s) throw new Error(`${file}: no video stream`)
  const [n, d] = s.r_frame_rate.split('/').map(Number)
  const fps = n && d ? n / d : 0
  const durationS = Number(j.format?.duration ?? 0)
  const frames = Number(s.nb_read_packets ?? 0) || Math.round(durationS * fps)
  return { width: s.width, height: s.height, fps, frames, durationS }
}

/** A track unseen for at most this long, whose last box is within one box height of a new track's first box, hands over to it. */
const SWITCH_WINDOW_MS = 2000
interface LastSeen {
  x: number
  y: number
  w: number
  h: number
  ts: number
  consumed: boolean
}

function takesOver(t: TrackBox, lastSeen: Map<number, LastSeen>): boolean {
  const cx = t.x + t.w / 2
  const cy = t.y + t.h / 2
  for (const [id, l] of lastSeen) {
    if (id === t.id || l.consumed || l.ts >= t.lastTs) continue // still visible this frame
    const d = Math.hypot(l.x + l.w / 2 - cx, l.y + l.h / 2 - cy)
    if (d <= Math.max(l.h, t.h)) {
      l.consumed = true
      return true
    }
  }
  return false
}

export async function replayVideo(o: ReplayOptions): Promise<ReplayResult> {
  const info = await probeVideo(o.file, (o.ffmpegPath ?? 'ffmpeg').replace(/ffmpeg$/, 'ffprobe'))
  const { width, height, fps } = o.camera.detect
  const t = o.settings.tracker
  const analytics = new CameraAnalytics({
    camera: o.camera,
    width,
    height,
    tracker: { highThresh: t.highThresh, lowThresh: t.lowThresh, newTrackThresh: t.newTrackThresh, maxLostMs: t.maxLostS * 1000, minHits: t.minHits },
  })
  const expected = Math.max(1, Math.floor(info.durationS * Math.min(fps, info.fps)))
  const source = new CameraSource({ id: o.camera.id, url: o.file, fps, width, height, realtime: false, loop: false, ffmpegPath: o.ffmpegPath, log: o.log, stallTimeoutMs: 60_000 })
  const queue: Frame[] = []
  const readAhead = o.readAhead ?? 4
  const crossings: ReplayCrossing[] = []
  const seen = new Set<number>()
  let idSwitches = 0
  const lastSeen = new Map<number, LastSeen>()
  let done = 0
  let ended = false
  let failure: Error | undefined
  let wake: (() => void) | undefined
  const nudge = () => {
    wake?.()
    wake = undefined
  }
  source.on('frame', (f) => {
    queue.push(f)
    if (queue.length >= readAhead) source.pause()
    nudge()
  })
  source.on('status', (s) => {
    if (s.state === 'offline' || s.state === 'error' || s.state === 'reconnecting') {
      if (s.state !== 'offline' || (s.reason && s.reason !== 'end of stream')) failure ??= new Error(`${o.file}: ${s.reason ?? s.state}`)
      ended = true
      nudge()
    }
  })
  const started = performance.now()
  source.start()
  const frameOf = (ms: number) => Math.round((ms * info.fps) / 1000)
  try {
    for (;;) {
      const f = queue.shift()
      if (!f) {
        if (ended) break
        await new Promise<void>((r) => (wake = r))
        continue
      }
      if (queue.length < readAhead) source.resume()
      const kept = o.keepImage ? Buffer.from(f.data) : undefined
      const image: RawImage = { width: f.width, height: f.height, channels: 3, data: f.data }
      const persons = await o.vision.detectPersons(o.camera.id, image, { scoreThreshold: o.camera.detect.minScore })
      const ms = f.sourceMs
      const r = analytics.update(persons, ms)
      for (const tr of r.tracks) {
        if (!seen.has(tr.id)) {
          seen.add(tr.id)
          if (takesOver(tr, lastSeen)) idSwitches++
        }
        lastSeen.set(tr.id, { x: tr.x, y: tr.y, w: tr.w, h: tr.h, ts: ms, consumed: false })
      }
      for (const [id, l] of lastSeen) if (ms - l.ts > SWITCH_WINDOW_MS) lastSeen.delete(id)
      for (const c of r.crossings) crossings.push({ frame: frameOf(c.ts), ms: c.ts, line: c.line, entrance: c.entrance, dir: c.dir, track: c.trackId })
      o.onFrame?.(r, kept ? { ...f, data: kept } : f, frameOf(ms))
      done++
      o.onProgress?.(done, Math.max(expected, done))
    }
    for (const c of analytics.finish()) crossings.push({ frame: frameOf(c.ts), ms: c.ts, line: c.line, entrance: c.entrance, dir: c.dir, track: c.trackId })
  } finally {
    await source.stop()
  }
  if (failure && done === 0) throw failure
  const wallMs = performance.now() - started
  return {
    video: info,
    framesAnalysed: done,
    crossings,
    in: crossings.filter((c) => c.dir === 'in').length,
    out: crossings.filter((c) => c.dir === 'out').length,
    tracks: seen.size,
    idSwitches,
    wallMs,
    fps: done / (wallMs / 1000),
  }
}
