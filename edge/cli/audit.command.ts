import { writeFile } from 'node:fs/promises'
import { Command, Option } from 'commander'
import { createLogger } from '../core/logger.ts'
import { parseNumbers, runCountAudit, type CrossingShot, type Point, type RgbFrame } from '../vision/audit/count-audit.ts'
import { renderAuditReport } from '../vision/audit/count-report.ts'

interface CountOpts {
  video: string
  line: string
  inPoint?: string
  truth?: string
  fps: string
  tolerance: string
  report?: string
  blur: boolean
  extended?: boolean
  anchor: 'feet' | 'center'
  threads: string
  modelsDir?: string
}

const number = (v: string, what: string) => {
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n)) throw new Error(`${what} must be a number, got "${v}"`)
  return n
}

/**
 * `store-edge audit count`: a recorded clip through the live camera's counting path, with a
 * progress bar on stderr, one JSON line on stdout, and optionally a comparison with a hand count
 * and an HTML report (src: edge/vision/audit/).
 */
export function auditCommand(): Command {
  const audit = new Command('audit').description('installer audits: prove a camera’s accuracy before a store goes live')
  audit
    .command('count')
    .description(
      'replay a recorded clip through detection → tracking → the counting line (the live camera’s path) and count; with --truth, compare with a hand count. ' +
        'Coordinates are video pixels. Direction: "in" is the left-hand side of the line as drawn from (x1,y1) to (x2,y2) on screen, so for a vertical line drawn top to bottom "in" is moving toward larger x; --in-point names the in side instead.',
    )
    .requiredOption('--video <file>', 'the recorded clip (any format ffmpeg reads)')
    .requiredOption('--line <x1,y1,x2,y2>', 'the counting line, in video pixels')
    .option('--in-point <x,y>', 'a point on the "in" side, in video pixels')
    .option('--truth <file>', 'hand count: a JSON list of {frame, dir: "in"|"out", optional?, note?}; frames are 0-based at the video’s own rate')
    .addOption(new Option('--fps <n>', 'analysis rate, frames per second (a live camera’s default detect rate is 5)').default('5'))
    .addOption(new Option('--tolerance <frames>', 'a counted crossing matches a hand-counted one this many frames apart at most').default('10'))
    .option('--report <file.html>', 'write an HTML report: first frame with the line, a thumbnail of every crossing, the mistakes')
    .option('--no-blur', 'do not blur heads in the report’s thumbnails')
    .option('--extended', 'count across the whole line through the two points, not only the segment')
    .addOption(new Option('--anchor <point>', 'the point of a person that must cross').choices(['feet', 'center']).default('feet'))
    .addOption(new Option('--threads <n>', 'inference threads').default('1'))
    .option('--models-dir <dir>', 'directory of the built models (default: models/build, built when missing)')
    .action(async (o: CountOpts) => {
      const log = createLogger({ level: process.env.LOG_LEVEL ?? 'warn' })
      const [x1, y1, x2, y2] = parseNumbers(o.line, 4, '--line')
      const line = { a: { x: x1!, y: y1! }, b: { x: x2!, y: y2! } }
      const inPoint: Point | undefined = o.inPoint ? (([x, y]) => ({ x: x!, y: y! }))(parseNumbers(o.inPoint, 2, '--in-point')) : undefined
      const shots: CrossingShot[] = []
      let firstFrame: RgbFrame | undefined
      const progress = await progressBar()
      try {
        const result = await runCountAudit({
          video: o.video,
          line,
          inPoint,
          fps: number(o.fps, '--fps'),
          toleranceFrames: number(o.tolerance, '--tolerance'),
          truthFile: o.truth,
          extended: o.extended,
          anchor: o.anchor,
          threads: number(o.threads, '--threads'),
          modelsDir: o.modelsDir,
          log,
          onProgress: progress.update,
          onFirstFrame: o.report ? (f) => (firstFrame = f) : undefined,
          onCrossing: o.report ? (s) => shots.push(s) : undefined,
        })
        progress.stop()
        if (o.report) {
          await writeFile(o.report, await renderAuditReport({ result, line, inPoint, firstFrame, shots, blur: o.blur }))
          process.stderr.write(`audit: report written to ${o.report}\n`)
        }
        const { videoInfo: _info, ...out } = result
        process.stdout.write(JSON.stringify(out) + '\n')
      } finally {
        progress.stop()
      }
    })
  return audit
}

/** A bar on a terminal; a line every 10 % otherwise (CI logs, pipes). */
async function progressBar(): Promise<{ update: (done: number, total: number) => void; stop: () => void }> {
  if (process.stderr.isTTY) {
    const { default: cliProgress } = await import('cli-progress')
    const bar = new cliProgress.SingleBar({ format: 'audit [{bar}] {value}/{total} frames', hideCursor: true, clearOnComplete: false, stream: process.stderr }, cliProgress.Presets.shades_classic)
    let started = false
    let stopped = false
    return {
      update: (done, total) => {
        if (!started) bar.start(total, 0)
        started = true
        bar.update(done)
      },
      stop: () => {
        if (started && !stopped) bar.stop()
        stopped = true
      },
    }
  }
  let next = 0
  return {
    update: (done, total) => {
      const p = Math.floor((done / total) * 10)
      if (p >= next) {
        process.stderr.write(`audit: ${done}/${total} frames\n`)
        next = p + 1
      }
    },
    stop: () => undefined,
  }
}
