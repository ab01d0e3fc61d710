// The security view (role security, and admin): every camera of a store live (JSMpeg decoding the
// edge's MPEG-1 restream, proxied by the gateway), the analytics overlay drawn on top (tracked people,
// counting lines, zones), people per zone, loitering and overcrowding alerts, and the event list with
// snapshots. Snapshots are blurred; a role allowed to (cameras:unblur) may open one unblurred, and the
// gateway writes that view to the audit log before it sends the picture.
import JSMpeg from '../vendor/jsmpeg/jsmpeg-player.esm.js'
import { api, ApiError } from '../api.js'
import { fmtTime, h } from '../dom.js'

/**
 * @typedef {{ x: number, y: number }} Point
 * @typedef {{ id: string, name: string, state: string, reason?: string, fps: number, width: number, height: number,
 *   lines: Array<{ id: string, entrance: string, a: Point, b: Point }>, zones: Array<{ id: string, polygon: Point[], maxPeople: number }> }} CameraInfo
 * @typedef {{ camera: string, seq: number, ts: number, tracks: Array<{ id: number, box: [number, number, number, number], zones: string[], loitering: boolean }>,
 *   zones: Array<{ id: string, count: number, overcrowded: boolean }>, counts: Array<{ line: string, entrance: string, in: number, out: number }> }} OverlayFrame
 * @typedef {{ id: string, camera: string, type: string, ts: number, zone?: string, line?: string, entrance?: string, dir?: string,
 *   trackId?: number, count?: number, text?: string, snapshot?: string }} CameraEvent
 */

const MAX_EVENTS = 100
/** An overlay older than this is cleared: boxes from a frozen analysis would lie about the picture. */
const OVERLAY_STALE_MS = 3000
const EVENT_TEXT = {
  crossing: (e) => `${e.dir === 'in' ? 'Entered' : 'Left'} at ${e.entrance ?? e.line ?? 'a line'}`,
  loitering: (e) => `Loitering in ${e.zone}${e.trackId !== undefined ? ` (person ${e.trackId})` : ''}`,
  overcrowded: (e) => `Overcrowded: ${e.zone} (${e.count ?? '?'} people)`,
  'overcrowding-cleared': (e) => `Back to normal: ${e.zone} (${e.count ?? '?'} people)`,
  member: (e) => e.text ?? 'Member recognised',
  plate: (e) => e.text ?? 'Vehicle',
  status: (e) => `Camera ${e.text ?? 'status changed'}`,
}
const ALERT_TYPES = new Set(['loitering', 'overcrowded'])

const wsUrl = (path) => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`
const enc = encodeURIComponent

/** @param {HTMLElement} root @param {import('../app.js').ViewContext} ctx @param {string[]} params */
export function mount(root, ctx, params) {
  ctx.setTitle('Security')
  const storeSelect = /** @type {HTMLSelectElement} */ (h('select', { testid: 'security-store', 'aria-label': 'Store' }))
  const grid = h('div', { class: 'camera-grid', testid: 'camera-grid' })
  const alertList = h('ul', { class: 'feed alert-list', testid: 'security-alerts' })
  const eventList = h('ul', { class: 'feed event-list', testid: 'security-events' })
  const viewer = h('section', { class: 'panel unblurred', testid: 'unblurred-view', hidden: true, 'aria-live': 'polite' })
  const note = h('p', { class: 'muted', testid: 'security-note' })

  root.append(
    h('div', { class: 'page-head' }, h('h1', { text: 'Security' }), storeSelect),
    note,
    grid,
    h(
      'div',
      { class: 'security-side' },
      h('section', { class: 'panel', 'aria-labelledby': 'sa-h' }, h('div', { class: 'panel-head' }, h('h2', { id: 'sa-h', text: 'Alerts' })), alertList),
      h('section', { class: 'panel', 'aria-labelledby': 'se-h' }, h('div', { class: 'panel-head' }, h('h2', { id: 'se-h', text: 'Events' }), h('span', { class: 'muted small', text: 'Faces are blurred' })), eventList),
    ),
    viewer,
  )

  /** Cleanups of the current store's players and sockets. */
  /** @type {Array<() => void>} */
  let stops = []
  const stopAll = () => {
    for (const s of stops.splice(0)) {
      try {
        s()
      } catch (err) {
        console.error('security/cleanup', err)
      }
    }
  }
  ctx.signal.addEventListener('abort', stopAll, { once: true })

  let storeId = ''
  let canUnblur = false
  /** @type {Map<string, CameraInfo>} */
  const cameras = new Map()
  /** Latest overlay per camera, for the alerts. @type {Map<string, OverlayFrame>} */
  const latest = new Map()
  /** @type {CameraEvent[]} */
  let events = []

  // ---- events and snapshots -----------------------------------------------------------------

  const snapshotUrl = (id, blur) => `/v1/stores/${enc(storeId)}/cameras/snapshots/${enc(id)}.jpg${blur ? '' : '?blur=0'}`

  /** @param {CameraEvent} e */
  const showUnblurred = async (e) => {
    viewer.hidden = false
    viewer.replaceChildren(h('p', { class: 'muted', text: 'Loading…' }))
    try {
      // Fetched (not an <img src>) so a refusal shows its reason instead of a broken image.
      const res = await fetch(snapshotUrl(e.snapshot, false), { credentials: 'same-origin', signal: ctx.signal })
      if (!res.ok) {
        const body = await res.json().catch(() => null)
        throw new ApiError(res.status, body?.error?.code ?? `HTTP_${res.status}`, body?.error?.message ?? `HTTP ${res.status}`)
      }
      const url = URL.createObjectURL(await res.blob())
      const close = () => {
        URL.revokeObjectURL(url)
        viewer.hidden = true
        viewer.replaceChildren()
      }
      viewer.replaceChildren(
        h('div', { class: 'panel-head' }, h('h2', { text: `Unblurred snapshot · ${cameras.get(e.camera)?.name ?? e.camera} · ${fmtTime(e.ts)}` }), h('button', { type: 'button', class: 'btn btn-sm', testid: 'unblurred-close', text: 'Close', onclick: close })),
        h('p', { class: 'muted small', text: 'This view has been recorded in the audit log with your name.' }),
        h('img', { src: url, alt: 'Unblurred event snapshot', testid: 'unblurred-image', class: 'snapshot-full' }),
      )
    } catch (err) {
      viewer.hidden = true
      ctx.fail(err)
    }
  }

  /** @param {CameraEvent} e */
  const eventItem = (e) => {
    const describe = EVENT_TEXT[/** @type {keyof typeof EVENT_TEXT} */ (e.type)]
    const thumb = e.snapshot
      ? h('img', { class: 'snapshot-thumb', testid: 'event-thumb', src: snapshotUrl(e.snapshot, true), alt: 'Event snapshot, faces blurred', loading: 'lazy', width: 96, height: 72 })
      : null
    // A live event can arrive a moment before the edge has finished encoding its snapshot: one retry.
    let tries = 0
    thumb?.addEventListener('error', () => {
      if (++tries === 1) setTimeout(() => thumb.setAttribute('src', `${snapshotUrl(e.snapshot, true)}?try=2`), 1000)
      else thumb.replaceWith(h('span', { class: 'snapshot-gone muted small', text: 'snapshot no longer kept' }))
    })
    return h(
      'li',
      { class: `event ${ALERT_TYPES.has(e.type) ? 'event-alert' : ''}`, testid: 'event-item', dataset: { type: e.type, camera: e.camera, id: e.id } },
      thumb,
      h(
        'div',
        { class: 'event-body' },
        h('div', { text: describe ? describe(e) : e.type }),
        h('div', { class: 'muted small', text: `${cameras.get(e.camera)?.name ?? e.camera} · ${fmtTime(e.ts)}` }),
        e.snapshot && canUnblur ? h('button', { type: 'button', class: 'btn btn-sm btn-quiet', testid: 'event-unblur', text: 'Show unblurred', onclick: () => void showUnblurred(e) }) : null,
      ),
    )
  }

  const renderEvents = () => {
    eventList.replaceChildren(...events.map(eventItem))
    if (!events.length) eventList.append(h('li', { class: 'muted', text: 'No events yet.' }))
  }

  /** @param {CameraEvent} e */
  const addEvent = (e) => {
    if (events.some((x) => x.id === e.id)) return
    events = [e, ...events].sort((a, b) => b.ts - a.ts).slice(0, MAX_EVENTS)
    const item = eventItem(e)
    eventList.querySelector('li.muted')?.remove()
    const at = events.indexOf(e)
    if (at < 0) return
    eventList.insertBefore(item, eventList.children[at] ?? null)
    while (eventList.children.length > MAX_EVENTS) eventList.lastElementChild?.remove()
  }

  // ---- alerts -------------------------------------------------------------------------------

  let alertsKey = ''
  const renderAlerts = () => {
    /** @type {Array<{ key: string, text: string, kind: string }>} */
    const items = []
    for (const [cam, f] of latest) {
      if (Date.now() - f.receivedAt > OVERLAY_STALE_MS) continue
      const name = cameras.get(cam)?.name ?? cam
      for (const z of f.zones) if (z.overcrowded) items.push({ key: `overcrowded-${cam}-${z.id}`, kind: 'overcrowded', text: `${name}: ${z.id} is overcrowded (${z.count} people)` })
      for (const t of f.tracks) if (t.loitering) items.push({ key: `loitering-${cam}-${t.id}`, kind: 'loitering', text: `${name}: person ${t.id} loitering in ${t.zones.join(', ') || 'a zone'}` })
    }
    const key = items.map((i) => i.text).join('|')
    if (key === alertsKey) return
    alertsKey = key
    alertList.replaceChildren(...items.map((i) => h('li', { class: `alert alert-${i.kind}`, testid: `alert-${i.key}`, dataset: { kind: i.kind }, text: i.text })))
    if (!items.length) alertList.append(h('li', { class: 'muted', testid: 'alerts-none', text: 'No active alerts.' }))
  }

  // ---- one camera ---------------------------------------------------------------------------

  /** @param {CameraInfo} cam */
  const cameraTile = (cam) => {
    const video = /** @type {HTMLCanvasElement} */ (h('canvas', { class: 'camera-video', testid: `camera-video-${cam.id}`, width: cam.width || 640, height: cam.height || 480 }))
    const overlay = /** @type {HTMLCanvasElement} */ (h('canvas', { class: 'camera-overlay', testid: `camera-overlay-${cam.id}`, 'aria-hidden': 'true' }))
    const state = h('span', { class: `camera-state camera-state-${cam.state}`, testid: `camera-state-${cam.id}`, dataset: { state: cam.state }, text: cam.reason ? `${cam.state}: ${cam.reason}` : cam.state })
    const zones = h('ul', { class: 'zone-counts', testid: `zone-counts-${cam.id}` })
    const lines = h('ul', { class: 'line-counts', testid: `line-counts-${cam.id}` })
    const stage = h('div', { class: 'camera-stage', style: `aspect-ratio: ${cam.width || 4} / ${cam.height || 3}` }, video, overlay)
    const tile = h(
      'section',
      { class: 'panel camera-tile', testid: `camera-${cam.id}`, 'aria-label': `Camera ${cam.name}`, dataset: { frames: '0' } },
      h('div', { class: 'panel-head' }, h('h2', { text: cam.name }), state),
      stage,
      h('div', { class: 'camera-counts' }, zones, lines),
    )
    for (const z of cam.zones) {
      zones.append(h('li', {}, h('span', { class: 'zone-name', text: z.id }), h('span', { class: 'zone-count', testid: `zone-count-${cam.id}-${z.id}`, text: '—' }), z.maxPeople ? h('span', { class: 'muted small', text: ` / ${z.maxPeople}` }) : null))
    }

    let decoded = 0
    const player = new JSMpeg.Player(wsUrl(`/v1/stores/${enc(storeId)}/cameras/${enc(cam.id)}/live`), {
      canvas: video,
      audio: false,
      autoplay: true,
      // The overlay is drawn on its own canvas; keeping the video's buffer lets it be read back (tests, screenshots).
      preserveDrawingBuffer: true,
      reconnectInterval: 3,
      onVideoDecode: () => {
        tile.dataset.frames = String(++decoded)
      },
    })
    stops.push(() => player.destroy())

    /** @type {(OverlayFrame & { receivedAt: number }) | null} */
    let frame = null
    const draw = () => drawOverlay(overlay, cam, frame && Date.now() - frame.receivedAt < OVERLAY_STALE_MS ? frame : null)
    const stale = setInterval(() => {
      if (frame && Date.now() - frame.receivedAt >= OVERLAY_STALE_MS) {
        frame = null
        draw()
        renderAlerts()
      }
    }, 1000)
    stops.push(() => clearInterval(stale))
    const resize = new ResizeObserver(draw)
    resize.observe(stage)
    stops.push(() => resize.disconnect())

    openSocket(wsUrl(`/v1/stores/${enc(storeId)}/cameras/${enc(cam.id)}/overlay`), (msg) => {
      if (msg.type === 'event') return addEvent(msg.event)
      frame = { ...msg, receivedAt: Date.now() }
      latest.set(cam.id, frame)
      draw()
      for (const z of msg.zones) {
        const el = tile.querySelector(`[data-testid="zone-count-${CSS.escape(cam.id)}-${CSS.escape(z.id)}"]`)
        if (el) {
          el.textContent = String(z.count)
          el.classList.toggle('zone-over', z.overcrowded)
        }
      }
      lines.replaceChildren(...msg.counts.map((c) => h('li', { testid: `line-count-${cam.id}-${c.line}`, text: `${c.entrance}: ${c.in} in · ${c.out} out` })))
      renderAlerts()
    }, (open) => (tile.dataset.overlay = open ? 'open' : 'closed'))
    return tile
  }

  /** A JSON WebSocket that reconnects with backoff until the store or the view changes. */
  const openSocket = (url, onMessage, onState) => {
    let ws = /** @type {WebSocket|null} */ (null)
    let retryMs = 1000
    let timer
    let stopped = false
    const open = () => {
      if (stopped) return
      ws = new WebSocket(url)
      ws.onopen = () => {
        retryMs = 1000
        onState(true)
      }
      ws.onmessage = (m) => {
        let msg
        try {
          msg = JSON.parse(m.data)
        } catch {
          return
        }
        try {
          onMessage(msg)
        } catch (err) {
          console.error('security/overlay', err)
        }
      }
      ws.onclose = () => {
        onState(false)
        if (stopped) return
        timer = setTimeout(open, retryMs)
        retryMs = Math.min(retryMs * 2, 30_000)
      }
    }
    open()
    stops.push(() => {
      stopped = true
      clearTimeout(timer)
      ws?.close()
    })
  }

  // ---- store --------------------------------------------------------------------------------

  const showStore = async (id) => {
    stopAll()
    storeId = id
    cameras.clear()
    latest.clear()
    events = []
    grid.replaceChildren()
    viewer.hidden = true
    renderAlerts()
    note.textContent = ''
    try {
      const list = await api(`/v1/stores/${enc(id)}/cameras`, { signal: ctx.signal })
      canUnblur = !!list.canUnblur
      for (const c of list.cameras) cameras.set(c.id, c)
      grid.append(...list.cameras.map(cameraTile))
      if (!list.cameras.length) note.textContent = 'This store has no cameras configured.'
      const { events: recent } = await api(`/v1/stores/${enc(id)}/cameras/events`, { query: { limit: 50 }, signal: ctx.signal })
      for (const e of recent) if (!events.some((x) => x.id === e.id)) events.push(e)
      events.sort((a, b) => b.ts - a.ts)
      renderEvents()
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) return ctx.forbidden(err.message)
      if (err instanceof ApiError && (err.status === 503 || err.status === 502)) {
        note.textContent = err.message
        return
      }
      ctx.fail(err)
    }
  }

  const load = async () => {
    try {
      const { stores } = await api('/v1/stores', { signal: ctx.signal })
      storeSelect.replaceChildren(...stores.map((s) => h('option', { value: s.id, text: s.name })))
      if (!stores.length) {
        note.textContent = 'No stores in your scope.'
        return
      }
      const want = params[0] && stores.some((s) => s.id === params[0]) ? params[0] : stores[0].id
      storeSelect.value = want
      await showStore(want)
    } catch (err) {
      ctx.fail(err)
    }
  }
  storeSelect.addEventListener('change', () => ctx.navigate(`#/security/${enc(storeSelect.value)}`))
  void load()
}

/**
 * Zones (filled, red when overcrowded), counting lines with their counts, and people's boxes (orange
 * when loitering), scaled from the normalised coordinates to the canvas' displayed size.
 * @param {HTMLCanvasElement} canvas @param {CameraInfo} cam @param {OverlayFrame|null} frame
 */
function drawOverlay(canvas, cam, frame) {
  const dpr = window.devicePixelRatio || 1
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr))
  const hgt = Math.max(1, Math.round(canvas.clientHeight * dpr))
  if (canvas.width !== w || canvas.height !== hgt) {
    canvas.width = w
    canvas.height = hgt
  }
  const g = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'))
  g.clearRect(0, 0, w, hgt)
  canvas.dataset.tracks = String(frame?.tracks.length ?? 0)
  g.lineWidth = 2 * dpr
  g.font = `${12 * dpr}px system-ui, sans-serif`
  const over = new Set(frame?.zones.filter((z) => z.overcrowded).map((z) => z.id))
  const counts = new Map(frame?.zones.map((z) => [z.id, z.count]))
  for (const z of cam.zones) {
    if (z.polygon.length < 3) continue
    g.beginPath()
    z.polygon.forEach((p, i) => (i ? g.lineTo(p.x * w, p.y * hgt) : g.moveTo(p.x * w, p.y * hgt)))
    g.closePath()
    g.fillStyle = over.has(z.id) ? 'rgba(220, 38, 38, 0.25)' : 'rgba(59, 130, 246, 0.15)'
    g.strokeStyle = over.has(z.id) ? 'rgb(220, 38, 38)' : 'rgb(59, 130, 246)'
    g.fill()
    g.stroke()
    label(g, `${z.id}: ${counts.get(z.id) ?? '—'}`, z.polygon[0].x * w + 4 * dpr, z.polygon[0].y * hgt + 14 * dpr, g.strokeStyle)
  }
  const lineCounts = new Map(frame?.counts.map((c) => [c.line, c]))
  for (const l of cam.lines) {
    g.strokeStyle = 'rgb(250, 204, 21)'
    g.beginPath()
    g.moveTo(l.a.x * w, l.a.y * hgt)
    g.lineTo(l.b.x * w, l.b.y * hgt)
    g.stroke()
    const c = lineCounts.get(l.id)
    label(g, `${l.entrance}${c ? ` ↑${c.in} ↓${c.out}` : ''}`, ((l.a.x + l.b.x) / 2) * w, ((l.a.y + l.b.y) / 2) * hgt - 6 * dpr, 'rgb(250, 204, 21)')
  }
  for (const t of frame?.tracks ?? []) {
    const [x, y, bw, bh] = t.box
    g.strokeStyle = t.loitering ? 'rgb(249, 115, 22)' : 'rgb(34, 197, 94)'
    g.strokeRect(x * w, y * hgt, bw * w, bh * hgt)
    label(g, `#${t.id}${t.loitering ? ' loitering' : ''}`, x * w + 2 * dpr, y * hgt - 4 * dpr, g.strokeStyle)
  }
}

function label(g, text, x, y, color) {
  const m = g.measureText(text)
  const pad = 2
  g.fillStyle = 'rgba(0, 0, 0, 0.6)'
  g.fillRect(x - pad, y - parseInt(g.font, 10), m.width + pad * 2, parseInt(g.font, 10) + pad * 2)
  g.fillStyle = color
  g.fillText(text, x, y)
}
