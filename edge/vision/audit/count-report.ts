import { renderSnapshot } from '../camera/snapshot.ts'
import type { AuditResult, CrossingShot, Point, RgbFrame } from './count-audit.ts'

/**
 * The counting audit's HTML report, for the installer's go-live record: one self-contained file
 * (images inline) with the clip's first frame and the line drawn on it (the arrow points to `in`),
 * the figures, and a thumbnail of every crossing, each marked matched or extra against the hand
 * count, plus the hand-counted crossings the counter missed. Heads are blurred in the thumbnails
 * unless the caller says otherwise (the report leaves the box as a file).
 */

export interface ReportInput {
  result: AuditResult
  line: { a: Point; b: Point }
  inPoint?: Point
  firstFrame?: RgbFrame
  shots: CrossingShot[]
  blur: boolean
  createdAt?: Date
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${Math.round(x * 10) / 10} %`)
const ratio = (x: number) => `${Math.round(x * 1000) / 10} %`

async function jpeg(f: RgbFrame, crop?: { left: number; top: number; width: number; height: number }, maxWidth = 768): Promise<Buffer> {
  const { default: sharp } = await import('sharp')
  let img = sharp(f.data, { raw: { width: f.width, height: f.height, channels: 3 } })
  if (crop) img = img.extract(crop)
  const w = crop?.width ?? f.width
  if (w > maxWidth) img = img.resize({ width: maxWidth })
  return img.jpeg({ quality: 82 }).toBuffer()
}

/** Unit vector pointing to the `in` side: the in-point's side, or the left-hand side of a→b as drawn (larger x for a line drawn top to bottom). */
export function inNormal(line: { a: Point; b: Point }, inPoint?: Point): Point {
  const dx = line.b.x - line.a.x
  const dy = line.b.y - line.a.y
  const len = Math.hypot(dx, dy) || 1
  let n = { x: dy / len, y: -dx / len }
  if (inPoint && (inPoint.x - line.a.x) * n.x + (inPoint.y - line.a.y) * n.y < 0) n = { x: -n.x, y: -n.y }
  return n
}

/** The crossing person cropped out (the whole frame when the tracker no longer had the box), every head in it hidden unless `blur` is off. */
async function thumbnail(s: CrossingShot, blur: boolean): Promise<Buffer> {
  const f = s.image
  const b = s.box
  const pad = b ? Math.max(b.w, b.h) * 0.35 : 0
  const left = b ? Math.max(0, Math.floor(b.x - pad)) : 0
  const top = b ? Math.max(0, Math.floor(b.y - pad)) : 0
  const right = b ? Math.min(f.width, Math.ceil(b.x + b.w + pad)) : f.width
  const bottom = b ? Math.min(f.height, Math.ceil(b.y + b.h + pad)) : f.height
  const crop = { left, top, width: Math.max(1, right - left), height: Math.max(1, bottom - top) }
  const people = s.people.map((p) => ({ x: p.x - left, y: p.y - top, w: p.w, h: p.h }))
  return renderSnapshot({ id: '', camera: '', ts: 0, width: crop.width, height: crop.height, jpeg: await jpeg(f, crop, 4096), people, faces: [] }, { blur })
}

export async function renderAuditReport(r: ReportInput): Promise<string> {
  const res = r.result
  const t = res.truth
  const status = new Map<string, string>()
  for (const m of t?.matched ?? []) status.set(`${m.frame}|${m.dir}|${m.track ?? ''}`, m.optional ? `matched an optional hand count at frame ${m.truthFrame}` : `matched the hand count at frame ${m.truthFrame} (${m.offset >= 0 ? '+' : ''}${m.offset})`)
  for (const e of t?.extra ?? []) status.set(`${e.frame}|${e.dir}|${e.track ?? ''}`, 'extra: not in the hand count')

  let first = ''
  if (r.firstFrame) {
    const f = r.firstFrame
    const img = (await jpeg(f)).toString('base64')
    const n = inNormal(r.line, r.inPoint)
    const mid = { x: (r.line.a.x + r.line.b.x) / 2, y: (r.line.a.y + r.line.b.y) / 2 }
    const arrow = Math.max(30, Math.min(f.width, f.height) * 0.08)
    const tip = { x: mid.x + n.x * arrow, y: mid.y + n.y * arrow }
    first = `<figure><div class="frame"><img src="data:image/jpeg;base64,${img}" alt="first frame" width="${f.width}" height="${f.height}">
<svg viewBox="0 0 ${f.width} ${f.height}" preserveAspectRatio="none"><defs><marker id="head" markerWidth="8" markerHeight="8" refX="4" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#ffd400"/></marker></defs>
<line x1="${r.line.a.x}" y1="${r.line.a.y}" x2="${r.line.b.x}" y2="${r.line.b.y}" stroke="#ff2d55" stroke-width="4"/>
<line x1="${mid.x}" y1="${mid.y}" x2="${tip.x}" y2="${tip.y}" stroke="#ffd400" stroke-width="4" marker-end="url(#head)"/>
<text x="${tip.x + n.x * 14}" y="${tip.y + n.y * 14}" fill="#ffd400" font-size="${Math.round(arrow * 0.6)}" font-family="sans-serif" text-anchor="middle" dominant-baseline="middle">in</text></svg></div>
<figcaption>First frame with the counting line (${r.line.a.x},${r.line.a.y}) → (${r.line.b.x},${r.line.b.y}); the arrow points to <b>in</b>.</figcaption></figure>`
  }

  const cards: string[] = []
  for (const s of r.shots) {
    const img = (await thumbnail(s, r.blur)).toString('base64')
    const st = status.get(`${s.frame}|${s.dir}|${s.track}`) ?? (t ? 'extra: not in the hand count' : '')
    const cls = st.startsWith('matched') ? 'ok' : st ? 'bad' : ''
    cards.push(`<div class="card ${cls}"><img src="data:image/jpeg;base64,${img}" alt="crossing at frame ${s.frame}"><div><b>${s.dir}</b> · frame ${s.frame} · track ${s.track}</div>${st ? `<div>${esc(st)}</div>` : ''}</div>`)
  }
  const missed = (t?.missed ?? []).map((m) => `<li>frame ${m.frame}, <b>${m.dir}</b>${m.note ? `: ${esc(m.note)}` : ''}</li>`).join('')

  const rows: Array<[string, string]> = [
    ['video', `${esc(res.video)} (${res.videoInfo.width}×${res.videoInfo.height}, ${Math.round(res.videoInfo.fps * 100) / 100} fps, ${res.frames} frames)`],
    ['analysed', `${res.framesAnalysed} frames at ${res.analysisFps} fps, ${res.wallS} s (${res.fps} frames/s)`],
    ['counted', `in ${res.in}, out ${res.out}`],
  ]
  if (t) {
    rows.push(
      ['hand count', `${esc(t.file)}: in ${t.counts.in.truth}, out ${t.counts.out.truth} (required crossings)`],
      ['precision / recall', `${ratio(t.precision)} / ${ratio(t.recall)} (±${t.toleranceFrames} frames)`],
      ['count error', `in ${pct(t.countErrorPct.in)}, out ${pct(t.countErrorPct.out)}, total ${pct(t.countErrorPct.total)}`],
      ['mistakes', `${t.missed.length} missed, ${t.extra.length} extra`],
    )
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Counting audit: ${esc(res.video)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}td{padding:3px 12px 3px 0;vertical-align:top}td:first-child{color:#666}
.frame{position:relative;display:inline-block;max-width:100%}.frame img{display:block;max-width:100%;height:auto}.frame svg{position:absolute;inset:0;width:100%;height:100%}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:2px solid #ccc;border-radius:6px;padding:6px;width:180px;font-size:12px}
.card img{width:100%;height:auto;display:block;margin-bottom:4px}.card.ok{border-color:#2a9d4b}.card.bad{border-color:#d9363e}
</style></head><body>
<h1>Counting audit</h1>
<p>Created ${esc((r.createdAt ?? new Date()).toISOString())} by <code>store-edge audit count</code>: the live camera's detection, tracking and line counting over a recorded clip.${r.blur ? ' Heads are blurred.' : ''}</p>
<table>${rows.map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join('')}</table>
${first}
<h2>Crossings (${r.shots.length})</h2>
<div class="cards">${cards.join('\n')}</div>
${t ? `<h2>Missed (${t.missed.length})</h2>${missed ? `<ul>${missed}</ul>` : '<p>None.</p>'}` : ''}
</body></html>
`
}
