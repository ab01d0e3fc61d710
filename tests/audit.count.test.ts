import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir } from './helpers.ts'
import { buildBundle } from './support/bundle.ts'
import { VTEST } from './support/rtsp-server.ts'
import { vtestLine } from './support/vtest-line.ts'

/**
 * `store-edge audit count` as an installer runs it: the CLI over a clip cut from vtest.avi (its first
 * 360 frames, 36 s) with the hand count of that clip (tests/fixtures/vtest/clip-360.truth.json: the
 * entries of the full hand count before frame 360, see the README there), through the live camera's
 * path; and the mistakes an installer makes get clear errors.
 */
const CLI = fileURLToPath(new URL('../bin/store-edge.js', import.meta.url))
const CLIP_TRUTH = fileURLToPath(new URL('./fixtures/vtest/clip-360.truth.json', import.meta.url))
const { a, b } = vtestLine.line
const LINE = `${a.x},${a.y},${b.x},${b.y}`

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function cli(args: string[], entry = CLI): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [entry, 'audit', 'count', ...args], { env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.stderr.on('data', (d) => (stderr += d))
    p.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('store-edge audit count', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let clip: string
  let counted: { in: number; out: number; crossings: unknown[] } | undefined

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('store-edge-audit-'))
    clip = join(dir, 'clip.avi')
    const r = spawnSync('ffmpeg', ['-v', 'error', '-i', VTEST, '-frames:v', '360', '-c', 'copy', clip])
    expect(r.status, String(r.stderr)).toBe(0)
  })

  afterAll(async () => cleanup())

  it('counts the clip through the live path and compares it with the hand count, crossing by crossing', { timeout: 300_000 }, async () => {
    const report = join(dir, 'report.html')
    const r = await cli(['--video', clip, '--line', LINE, '--truth', CLIP_TRUTH, '--report', report])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/audit: 360\/360 frames|audit: \d+\/\d+ frames/)
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      video: string
      frames: number
      in: number
      out: number
      fps: number
      crossings: Array<{ frame: number; dir: string; track: number }>
      truth: { precision: number; recall: number; countErrorPct: { in: number | null; out: number | null }; matched: Array<{ truthFrame: number; frame: number }>; missed: unknown[]; extra: unknown[] }
    }
    console.log(JSON.stringify({ test: 'audit-count-clip', in: out.in, out: out.out, fps: out.fps, precision: out.truth.precision, recall: out.truth.recall, countErrorPct: out.truth.countErrorPct, missed: out.truth.missed, extra: out.truth.extra }))
    counted = { in: out.in, out: out.out, crossings: out.crossings }
    expect(out.video).toBe(clip)
    expect(out.frames).toBe(360)
    expect(out.in + out.out).toBe(out.crossings.length)
    for (const c of out.crossings) {
      expect(c.frame).toBeGreaterThanOrEqual(0)
      expect(c.frame).toBeLessThan(360)
      expect(['in', 'out']).toContain(c.dir)
    }
    // The hand count has 7 required crossings in the clip (3 in, 4 out); the live path finds them.
    const truth = JSON.parse(readFileSync(CLIP_TRUTH, 'utf8')) as Array<{ frame: number; optional?: boolean }>
    expect(truth.filter((t) => !t.optional)).toHaveLength(7)
    expect(out.truth.recall).toBeGreaterThanOrEqual(0.85)
    expect(out.truth.precision).toBeGreaterThanOrEqual(0.85)
    for (const m of out.truth.matched) expect(Math.abs(m.frame - m.truthFrame)).toBeLessThanOrEqual(10)

    // The report: the first frame with the line drawn, one thumbnail per crossing, marked against the hand count.
    const html = readFileSync(report, 'utf8')
    expect(html).toContain(`x1="${a.x}" y1="${a.y}" x2="${b.x}" y2="${b.y}"`)
    expect(html.match(/<div class="card /g) ?? []).toHaveLength(out.crossings.length)
    expect(html.match(/src="data:image\/jpeg;base64,/g) ?? []).toHaveLength(out.crossings.length + 1)
    expect(html).toContain(`Missed (${out.truth.missed.length})`)
  })

  it('counts the same from the built bundle, whose chunks must find the inference worker', { timeout: 300_000 }, async () => {
    const bundle = buildBundle('audit-count-test')
    try {
      const r = await cli(['--video', clip, '--line', LINE], join(bundle.out, 'cli.mjs'))
      expect(r.code, r.stderr).toBe(0)
      const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { in: number; out: number; crossings: unknown[] }
      expect(counted).toBeDefined()
      expect({ in: out.in, out: out.out, crossings: out.crossings }).toEqual(counted)
    } finally {
      bundle.remove()
    }
  })

  it('refuses a line outside the frame, with the frame size in the message', async () => {
    const r = await cli(['--video', clip, '--line', '300,190,900,560'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('line end (900,560) is outside the 768×576 frame')
  })

  it('refuses a line that is not four numbers, and an in-point on the line', async () => {
    const r1 = await cli(['--video', clip, '--line', '300,190,300'])
    expect(r1.code).not.toBe(0)
    expect(r1.stderr).toContain('--line: expected 4 comma-separated numbers')
    const r2 = await cli(['--video', clip, '--line', LINE, '--in-point', '300,400'])
    expect(r2.code).not.toBe(0)
    expect(r2.stderr).toContain('the in-point lies on the line')
  })

  it('refuses a missing or unreadable video', async () => {
    const r1 = await cli(['--video', join(dir, 'nope.avi'), '--line', LINE])
    expect(r1.code).not.toBe(0)
    expect(r1.stderr).toMatch(/video .*nope\.avi: cannot read it \(ENOENT\)/)
    const junk = join(dir, 'junk.avi')
    writeFileSync(junk, 'this is not a video')
    const r2 = await cli(['--video', junk, '--line', LINE])
    expect(r2.code).not.toBe(0)
    expect(r2.stderr).toMatch(/video .*junk\.avi: not a readable video/)
  })

  it('refuses a malformed hand count, naming the entry', async () => {
    const bad = join(dir, 'bad-truth.json')
    writeFileSync(bad, JSON.stringify([{ frame: 5, dir: 'in' }, { frame: 7, dir: 'sideways' }]))
    const r1 = await cli(['--video', clip, '--line', LINE, '--truth', bad])
    expect(r1.code).not.toBe(0)
    expect(r1.stderr).toContain('[1]')
    writeFileSync(bad, '{not json')
    const r2 = await cli(['--video', clip, '--line', LINE, '--truth', bad])
    expect(r2.code).not.toBe(0)
    expect(r2.stderr).toContain('not JSON')
    writeFileSync(bad, JSON.stringify([{ frame: 5000, dir: 'in' }]))
    const r3 = await cli(['--video', clip, '--line', LINE, '--truth', bad])
    expect(r3.code).not.toBe(0)
    expect(r3.stderr).toContain("frame 5000 is beyond the video's last frame (359)")
  })
})
