import { access, readFile } from 'node:fs/promises'
import { constants } from 'node:fs'
import { StoreEdgeError } from '../../contracts/errors.ts'
import { resolveConfig } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import { createMetrics } from '../../core/metrics.ts'
import { InferenceService } from '../inference/inference.service.ts'
import { probeVideo, replayVideo, type ReplayResult, type VideoInfo } from '../camera/video-replay.ts'
import type { TrackBox } from '../camera/types.ts'
import { matchCrossings, parseCrossingTruth, type CrossingMatch, type TruthCrossing } from './match-crossings.ts'

/**
 * The counting audit installers run before a store goes live and every quarter: a recorded clip
 * through exactly the live camera's path (ffmpeg source → person model in the worker pool →
 * ByteTrack → the counting line; `replayVideo`), compared with a hand count when one is given.
 * Line and points are in the video's pixels; without an in-point, `in` is the left-hand side of
 * a→b as drawn on screen (for a vertical line drawn top to bottom: moving toward larger x).
 */

export interface Point {
  x: number
  y: number
}

export interface AuditOptions {
  video: string
  line: { a: Point; b: Point }
  /** A point on the `in` side (video pixels). */
  inPoint?: Point
  /** Analysis rate, frames per second (default 5, a live camera's detect rate). */
  fps?: number
  /** Count across the whole line through a and b, not only the segment. */
  extended?: boolean
  anchor?: 'feet' | 'center'
  truthFile?: string
  toleranceFrames?: number
  threads?: number
  modelsDir?: string
  ffmpegPath?: string
  log: Logger
  onProgress?: (done: number, total: number) => void
  /** Every crossing with the frame it was seen in (for the report's thumbnails). */
  onCrossing?: (c: CrossingShot) => void
  /** The first analysed frame (for the report). */
  onFirstFrame?: (frame: RgbFrame) => void
}

export interface RgbFrame {
  width: number
  height: number
  data: Buffer
}

export interface CrossingShot {
  frame: number
  dir: 'in' | 'out'
  track: number
  image: RgbFrame
  /** The person's box in the image, when the tracker still had it. */
  box?: { x: number; y: number; w: number; h: number }
  /** Every person box of the frame (the thumbnail hides all their heads, not only the crosser's). */
  people: Array<{ x: number; y: number; w: number; h: number }>
}

export interface AuditResult {
  video: string
  frames: number
  framesAnalysed: number
  in: number
  out: number
  crossings: Array<{ frame: number; dir: 'in' | 'out'; track: number }>
  fps: number
  analysisFps: number
  wallS: number
  videoInfo: VideoInfo
  truth?: AuditScore
}

export interface AuditScore {
  file: string
  toleranceFrames: number
  precision: number
  recall: number
  countErrorPct: { in: number | null; out: number | null; total: number | null }
  counts: { in: { truth: number; counted: number }; out: { truth: number; counted: number } }
  matched: Array<{ truthFrame: number; frame: number; dir: 'in' | 'out'; offset: number; track?: number; optional: boolean }>
  missed: Array<{ frame: number; dir: 'in' | 'out'; note?: string }>
  extra: Array<{ frame: number; dir: 'in' | 'out'; track?: number }>
}

const bad = (msg: string) => new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', msg)

/** `x1,y1,x2,y2` → a line; `x,y` → a point. */
export function parseNumbers(text: string, n: number, what: string): number[] {
  const parts = text.split(',').map((s) => s.trim())
  const nums = parts.map(Number)
  if (parts.length !== n || parts.some((p) => p === '') || nums.some((v) => !Number.isFinite(v))) {
    throw bad(`${what}: expected ${n} comma-separated numbers in video pixels${n === 4 ? ' (x1,y1,x2,y2)' : ' (x,y)'}, got "${text}"`)
  }
  return nums
}

/** Problems with the line and in-point against the video's frame: each a sentence an installer can act on. */
export function geometryProblems(line: { a: Point; b: Point }, inPoint: Point | undefined, video: { width: number; height: number }): string[] {
  const out: string[] = []
  const inside = (p: Point) => p.x >= 0 && p.y >= 0 && p.x <= video.width && p.y <= video.height
  for (const [name, p] of [['line start', line.a], ['line end', line.b], ...(inPoint ? [['in-point', inPoint] as const] : [])] as const) {
    if (!inside(p)) out.push(`${name} (${p.x},${p.y}) is outside the ${video.width}×${video.height} frame`)
  }
  if (Math.hypot(line.b.x - line.a.x, line.b.y - line.a.y) < 2) out.push('the line is shorter than 2 pixels')
  if (inPoint) {
    const cross = (line.b.x - line.a.x) * (inPoint.y - line.a.y) - (line.b.y - line.a.y) * (inPoint.x - line.a.x)
    if (Math.abs(cross) < 1e-9) out.push('the in-point lies on the line: it must be on the side people walk into')
  }
  return out
}

async function readTruth(file: string, frames: number): Promise<TruthCrossing[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw bad(`truth ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw bad(`truth ${file}: not JSON (${(err as Error).message})`)
  }
  const truth = parseCrossingTruth(value, `truth ${file}`)
  const beyond = truth.findIndex((t) => t.frame >= frames)
  if (beyond >= 0) throw bad(`truth ${file}[${beyond}]: frame ${truth[beyond]!.frame} is beyond the video's last frame (${frames - 1})`)
  return truth
}

function score(file: string, m: CrossingMatch): AuditScore {
  return {
    file,
    toleranceFrames: m.toleranceFrames,
    precision: m.precision,
    recall: m.recall,
    countErrorPct: { in: m.in.countErrorPct, out: m.out.countErrorPct, total: m.total.countErrorPct },
    counts: { in: { truth: m.in.truth, counted: m.in.predicted }, out: { truth: m.out.truth, counted: m.out.predicted } },
    matched: m.matched.map((x) => ({ truthFrame: x.truthFrame, frame: x.predictedFrame, dir: x.dir, offset: x.offset, ...(x.track !== undefined ? { track: x.track } : {}), optional: x.optional })),
    missed: m.missed.map((x) => ({ frame: x.frame, dir: x.dir, ...(x.note ? { note: x.note } : {}) })),
    extra: m.extra.map((x) => ({ frame: x.frame, dir: x.dir, ...(x.track !== undefined ? { track: x.track } : {}) })),
  }
}

/** Checks every argument first (so a mistake costs no model loading), then replays and scores. */
export async function runCountAudit(o: AuditOptions): Promise<AuditResult> {
  try {
    await access(o.video, constants.R_OK)
  } catch (err) {
    throw bad(`video ${o.video}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  let info: VideoInfo
  try {
    info = await probeVideo(o.video, (o.ffmpegPath ?? 'ffmpeg').replace(/ffmpeg$/, 'ffprobe'))
  } catch (err) {
    const msg = ((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n').at(-1)
    throw bad(`video ${o.video}: not a readable video (${msg})`)
  }
  if (!(info.width > 0 && info.height > 0 && info.fps > 0)) throw bad(`video ${o.video}: no usable video stream (${info.width}×${info.height} at ${info.fps} fps)`)
  const problems = geometryProblems(o.line, o.inPoint, info)
  if (problems.length) throw bad(`line: ${problems.join('; ')}`)
  const fps = o.fps ?? 5
  if (!(fps > 0 && fps <= 60)) throw bad(`--fps must be between 0 and 60, got ${fps}`)
  if (o.toleranceFrames !== undefined && !(Number.isInteger(o.toleranceFrames) && o.toleranceFrames >= 0)) throw bad(`--tolerance must be a whole number of frames ≥ 0, got ${o.toleranceFrames}`)
  const truth = o.truthFile ? await readTruth(o.truthFile, info.frames) : undefined

  const { width: w, height: h } = info
  const norm = (p: Point) => ({ x: p.x / w, y: p.y / h })
  const cfg = resolveConfig({
    vision: { enabled: true, workers: 1, threads: o.threads ?? 1, ...(o.modelsDir ? { modelsDir: o.modelsDir } : {}), models: { faceDetect: '', faceEmbed: '', plateDet: '', plateRec: '' } },
    cameras: [
      {
        id: 'audit',
        url: o.video,
        detect: { fps: Math.min(fps, info.fps), width: w, height: h },
        lines: [{ id: 'audit', entrance: 'audit', a: norm(o.line.a), b: norm(o.line.b), extended: o.extended ?? false, anchor: o.anchor ?? 'feet', ...(o.inPoint ? { inPoint: norm(o.inPoint) } : {}) }],
      },
    ],
  })
  const vision = new InferenceService({ config: cfg.vision, metrics: createMetrics({ defaultMetrics: false }), log: o.log })
  await vision.start()
  let replay: ReplayResult
  try {
    let first = true
    replay = await replayVideo({
      file: o.video,
      camera: cfg.cameras[0]!,
      vision,
      settings: cfg.camera,
      log: o.log,
      ffmpegPath: o.ffmpegPath,
      onProgress: o.onProgress,
      keepImage: Boolean(o.onCrossing || o.onFirstFrame),
      onFrame: (r, frame, sourceFrame) => {
        const image = () => ({ width: frame.width, height: frame.height, data: frame.data })
        if (first) {
          first = false
          o.onFirstFrame?.(image())
        }
        for (const c of r.crossings) {
          const t: TrackBox | undefined = r.tracks.find((x) => x.id === c.trackId)
          const people = r.tracks.map((x) => ({ x: x.x, y: x.y, w: x.w, h: x.h }))
          o.onCrossing?.({ frame: sourceFrame, dir: c.dir, track: c.trackId, image: image(), people, ...(t ? { box: { x: t.x, y: t.y, w: t.w, h: t.h } } : {}) })
        }
      },
    })
  } finally {
    await vision.stop()
  }
  const crossings = replay.crossings.map((c) => ({ frame: c.frame, dir: c.dir, track: c.track }))
  const result: AuditResult = {
    video: o.video,
    frames: info.frames,
    framesAnalysed: replay.framesAnalysed,
    in: replay.in,
    out: replay.out,
    crossings,
    fps: Math.round(replay.fps * 10) / 10,
    analysisFps: Math.min(fps, info.fps),
    wallS: Math.round(replay.wallMs / 100) / 10,
    videoInfo: info,
  }
  if (truth && o.truthFile) result.truth = score(o.truthFile, matchCrossings(crossings, truth, { toleranceFrames: o.toleranceFrames ?? 10 }))
  return result
}
