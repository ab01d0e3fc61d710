// One store: live tiles, occupancy per zone and visits by source over a chosen range, a feed of
// zone enters/exits. Times are shown in the store's own time zone (head office spans several).
import { api, ApiError } from '../api.js'
import { PALETTE, SOURCE_COLORS, timeChart } from '../charts.js'
import { fmtAgo, fmtDuration, fmtInt, fmtTime, h, setLive, setStatus, statusBadge, tile } from '../dom.js'

/** @typedef {import('../api.js').StorePoint} StorePoint */
/**
 * One chart bucket: a minute, or stepS seconds for the longer ranges. Like the gateway's buckets:
 * occupancy is the mean over the bucket's minutes (`n` of them so far), visits the sum.
 * @typedef {{ ts: number, occupancy: number|null, occupancyByZone: Record<string, number>, ble: number|null, wifi: number|null, lastMinute: number, n: number }} Bucket
 */

const RANGES = [
  { value: '1h', label: 'Last hour', ms: 3_600_000, stepS: 60 },
  { value: '6h', label: 'Last 6 hours', ms: 6 * 3_600_000, stepS: 60 },
  { value: '24h', label: 'Last 24 hours', ms: 24 * 3_600_000, stepS: 300 },
  { value: '7d', label: 'Last 7 days', ms: 7 * 24 * 3_600_000, stepS: 3600 },
]
const FEED_MAX = 30
const MAX_BARS = 120
const SUMMARY_REFRESH_MS = 60_000

const stepLabel = (/** @type {number} */ s) => (s === 60 ? 'minute' : s === 3600 ? 'hour' : s % 60 === 0 ? `${s / 60} min` : `${s} s`)

/** @param {HTMLElement} root @param {import('../app.js').ViewContext} ctx @param {string[]} params */
export function mount(root, ctx, [storeId]) {
  const { signal } = ctx
  ctx.setTitle(storeId)

  // ---- skeleton
  const title = h('h1', { testid: 'store-title', text: storeId })
  const statusEl = statusBadge('unknown', 'store-page-status')
  const meta = h('span', { class: 'muted', testid: 'store-meta' })
  const tOcc = tile('Occupancy now', 'store-live-occupancy', 'people in the store')
  const tToday = tile('Visits today', 'store-visits-today', 'since local midnight')
  const bleEl = h('span', { testid: 'store-visitors-ble', text: '—' })
  const wifiEl = h('span', { testid: 'store-visitors-wifi', text: '—' })
  const tVisitors = {
    el: h(
      'section',
      { class: 'tile', 'aria-label': 'Visitors last minute by source' },
      h('h3', { class: 'tile-label', text: 'Visitors last minute' }),
      h(
        'div',
        { class: 'tile-value tile-split', testid: 'store-visitors-last-minute' },
        h('span', { class: 'src' }, h('span', { class: 'src-key src-ble', text: 'BLE' }), bleEl),
        h('span', { class: 'src' }, h('span', { class: 'src-key src-wifi', text: 'Wi-Fi' }), wifiEl),
      ),
      h('div', { class: 'tile-hint', text: 'distinct devices classed as visitors' }),
    ),
  }
  const tDwell = tile('Dwell p50', 'store-dwell-p50', 'median stay, latest minute with exits')

  const rangeSelect = /** @type {HTMLSelectElement} */ (
    h('select', { id: 'range-select', class: 'input', testid: 'range-select' }, RANGES.map((r) => h('option', { value: r.value, text: r.label })))
  )
  const seriesError = h('p', { class: 'inline-error', testid: 'series-error', role: 'alert', hidden: true })
  const occBox = h('div', { class: 'chart', testid: 'chart-occupancy' })
  const visBox = h('div', { class: 'chart', testid: 'chart-visits' })
  const visTitle = h('h3', { id: 'vis-h', text: 'Visits per minute by source' })
  const tzNote = h('span', { class: 'muted small', testid: 'store-tz' })
  const zonesList = h('ul', { class: 'zone-list', testid: 'zone-occupancy' })
  const chartsEl = h(
    'div',
    { class: 'charts' },
    h('figure', { class: 'chart-fig', 'aria-labelledby': 'occ-h' }, h('h3', { id: 'occ-h', text: 'Occupancy per zone' }), occBox),
    h('figure', { class: 'chart-fig', 'aria-labelledby': 'vis-h' }, visTitle, visBox),
  )
  const feed = h('ol', { class: 'feed', testid: 'presence-feed', 'aria-label': 'Latest presence events' })
  const feedEmpty = h('li', { class: 'feed-empty muted', text: 'Waiting for zone enters and exits…' })
  feed.append(feedEmpty)

  root.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/overview', text: 'Overview' }), h('span', { 'aria-hidden': 'true', text: ' / ' }), h('span', { 'aria-current': 'page', text: storeId, class: 'crumb-current' })),
    h('div', { class: 'page-head' }, title, statusEl, meta),
    h('div', { class: 'tiles' }, tOcc.el, tToday.el, tVisitors.el, tDwell.el),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'hist-h' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', { id: 'hist-h', text: 'History' }),
        tzNote,
        h('div', { class: 'range' }, h('label', { for: 'range-select', text: 'Range' }), rangeSelect),
      ),
      seriesError,
      chartsEl,
    ),
    h(
      'div',
      { class: 'two-col' },
      h('section', { class: 'panel', 'aria-labelledby': 'zones-h' }, h('h2', { id: 'zones-h', text: 'Zones now' }), zonesList),
      h('section', { class: 'panel', 'aria-labelledby': 'feed-h' }, h('h2', { id: 'feed-h', text: 'Live presence' }), h('p', { class: 'muted small', text: 'Zone enters, moves and exits as they happen. No device identifiers are shown.' }), feed),
    ),
  )

  // ---- state
  /** @type {string|undefined} */
  let timeZone
  /** @type {string[]} */
  let zones = []
  let range = RANGES[0]
  let stepS = range.stepS
  /** @type {Map<number, Bucket>} bucket start (ms) → bucket */
  const buckets = new Map()
  /** Minutes already counted into a bucket (the last fetch's edge, then live ones): no double counting. */
  let countedUpTo = 0
  /** @type {{ occupancy: number|null, visitsToday: number|null, ble: number|null, wifi: number|null, dwell: number|null, lastTs: number }} */
  const now = { occupancy: null, visitsToday: null, ble: null, wifi: null, dwell: null, lastTs: 0 }
  /** @type {Record<string, number>} */
  let zoneNow = {}

  /** @type {ReturnType<typeof timeChart>|null} */
  let occChart = null
  /** @type {ReturnType<typeof timeChart>|null} */
  let visChart = null
  let occChartZones = ''

  const buildOccChart = () => {
    const key = zones.join('\u0000')
    if (occChart && key === occChartZones) return
    occChart?.destroy()
    occBox.replaceChildren()
    occChartZones = key
    /** @type {import('../charts.js').SeriesSpec[]} */
    const series = zones.map((z, i) => ({ label: z, color: PALETTE[i % PALETTE.length] }))
    if (zones.length > 1) {
      const text = getComputedStyle(document.documentElement).getPropertyValue('--text').trim() || '#1c2430'
      series.push({ label: 'All zones', color: text, dash: [6, 4], width: 1.5 })
    }
    occChart = timeChart(occBox, { series, yLabel: 'people', timeZone, syncKey: `store-${storeId}`, ariaLabel: `Occupancy per zone, ${range.label.toLowerCase()}` })
  }

  /** Bars while each one stays readable; past that many buckets, lines. */
  const buildVisChart = (/** @type {boolean} */ bars) => {
    if (visChart && visChart.bars === bars) return
    visChart?.destroy()
    visBox.replaceChildren()
    visChart = timeChart(visBox, {
      series: [
        { label: 'BLE', color: SOURCE_COLORS.ble },
        { label: 'Wi-Fi', color: SOURCE_COLORS.wifi },
      ],
      bars,
      yLabel: 'visits',
      timeZone,
      syncKey: `store-${storeId}`,
      ariaLabel: 'Visits by source',
    })
  }

  const paintCharts = () => {
    const list = [...buckets.values()].sort((a, b) => a.ts - b.ts)
    // A regular grid, so a minute without an aggregate (edge offline) shows as a gap, not a slope.
    const xs = []
    if (list.length) {
      const stepMs = stepS * 1000
      const first = /** @type {Bucket} */ (list[0]).ts
      const last = /** @type {Bucket} */ (list[list.length - 1]).ts
      for (let t = first; t <= last && xs.length < 20_000; t += stepMs) xs.push(t)
    }
    buildOccChart()
    buildVisChart(xs.length <= MAX_BARS)
    const at = (t) => buckets.get(t)
    const occ = zones.map((z) => xs.map((t) => at(t)?.occupancyByZone[z] ?? (at(t) ? 0 : null)))
    if (zones.length > 1) occ.push(xs.map((t) => at(t)?.occupancy ?? null))
    // The axis always spans the selected range (ending now, or at the newest minute if the edge's
    // clock runs ahead), so a young store's first minutes do not stretch across the whole chart.
    const end = Math.max(Date.now(), (xs[xs.length - 1] ?? 0) + stepS * 1000)
    /** @type {[number, number]} */
    const windowMs = [end - range.ms, end]
    occChart?.setData(xs, occ, windowMs)
    visChart?.setData(xs, [xs.map((t) => at(t)?.ble ?? null), xs.map((t) => at(t)?.wifi ?? null)], windowMs)
    visTitle.textContent = `Visits per ${stepLabel(stepS)} by source`
  }

  const paintTiles = () => {
    setLive(tOcc.value, fmtInt(now.occupancy))
    setLive(tToday.value, fmtInt(now.visitsToday))
    setLive(bleEl, fmtInt(now.ble))
    setLive(wifiEl, fmtInt(now.wifi))
    setLive(tDwell.value, fmtDuration(now.dwell))
    const names = Object.keys(zoneNow).length ? [...new Set([...zones, ...Object.keys(zoneNow)])] : zones
    zonesList.replaceChildren(
      ...names.map((z) =>
        h('li', {}, h('span', { class: 'zone-name', text: z }), h('span', { class: 'zone-val', testid: `zone-occupancy-${z}`, text: fmtInt(zoneNow[z] ?? (Object.keys(zoneNow).length ? 0 : null)) })),
      ),
    )
    if (!names.length) zonesList.append(h('li', { class: 'muted', text: 'No zones configured.' }))
  }

  /** Fold a minute point into its bucket. `replace` for minutes the server already counted. */
  const foldPoint = (/** @type {StorePoint} */ p, replace) => {
    const stepMs = stepS * 1000
    const t = Math.floor(p.ts / stepMs) * stepMs
    const b = buckets.get(t)
    const ble = p.visitsBySource?.ble ?? 0
    const wifi = p.visitsBySource?.wifi ?? 0
    if (!b || replace || stepS === 60) {
      buckets.set(t, { ts: t, occupancy: p.occupancy ?? null, occupancyByZone: { ...(p.occupancyByZone ?? {}) }, ble, wifi, lastMinute: p.ts, n: 1 })
    } else {
      b.ble = (b.ble ?? 0) + ble
      b.wifi = (b.wifi ?? 0) + wifi
      const mean = (/** @type {number|null|undefined} */ old, /** @type {number} */ v) => Math.round((((old ?? 0) * b.n + v) / (b.n + 1)) * 10) / 10
      b.occupancy = mean(b.occupancy, p.occupancy ?? 0)
      const zs = new Set([...Object.keys(b.occupancyByZone), ...Object.keys(p.occupancyByZone ?? {})])
      b.occupancyByZone = Object.fromEntries([...zs].map((z) => [z, mean(b.occupancyByZone[z], p.occupancyByZone?.[z] ?? 0)]))
      b.n += 1
      b.lastMinute = Math.max(b.lastMinute, p.ts)
    }
    for (const z of Object.keys(p.occupancyByZone ?? {})) if (!zones.includes(z)) zones = [...zones, z]
  }

  const trimWindow = () => {
    const cutoff = Date.now() - range.ms
    for (const t of buckets.keys()) if (t + stepS * 1000 <= cutoff) buckets.delete(t)
  }

  // ---- loading
  let seriesSeq = 0
  const loadSeries = async () => {
    const seq = ++seriesSeq
    const to = Date.now()
    // The gateway buckets from `from`; starting on a whole step keeps its buckets and the ones live
    // minutes fold into (epoch-aligned) the same. Rounded up, so 24 h stays inside its live window.
    const stepMs = range.stepS * 1000
    const from = Math.ceil((to - range.ms) / stepMs) * stepMs
    seriesError.hidden = true
    chartsEl.hidden = false
    occBox.setAttribute('aria-busy', 'true')
    try {
      const path = `/v1/stores/${encodeURIComponent(storeId)}/series`
      const s = await api(path, { query: { from, to, stepS: range.stepS }, signal }).catch((err) => {
        // Up to 24 h is the gateway's live window; if our clock is behind the gateway's, `from` can
        // fall just outside it and the gateway asks for a TSDB. Ask the window for what it has.
        if (err instanceof ApiError && err.code === 'STORE_EDGE_ERR_TSDB_UNAVAILABLE' && range.ms <= 24 * 3_600_000) {
          return api(path, { query: { from, to, stepS: range.stepS, source: 'window' }, signal })
        }
        throw err
      })
      if (seq !== seriesSeq) return
      stepS = s.stepS || range.stepS
      buckets.clear()
      if (Array.isArray(s.zones)) zones = [...new Set([...zones, ...s.zones])]
      for (const p of /** @type {StorePoint[]} */ (s.points ?? [])) {
        const end = Math.min(p.ts + stepS * 1000, to)
        buckets.set(p.ts, {
          ts: p.ts,
          occupancy: p.occupancy ?? null,
          occupancyByZone: { ...(p.occupancyByZone ?? {}) },
          ble: p.visitsBySource?.ble ?? null,
          wifi: p.visitsBySource?.wifi ?? null,
          lastMinute: end - 60_000,
          n: Math.max(1, Math.floor((end - p.ts) / 60_000)),
        })
        for (const z of Object.keys(p.occupancyByZone ?? {})) if (!zones.includes(z)) zones = [...zones, z]
      }
      // Which minutes the answer already holds: those published before `to`. The minute that ended
      // just before `to` is counted only if `to` is a few seconds past it (the edge publishes on the minute).
      const minuteNow = Math.floor(to / 60_000) * 60_000
      const published = to - minuteNow > 5_000 ? minuteNow - 60_000 : minuteNow - 120_000
      countedUpTo = Math.min(published, Math.max(0, ...[...buckets.values()].map((b) => b.lastMinute)))
      const last = /** @type {StorePoint|undefined} */ (s.points?.[s.points.length - 1])
      if (last && stepS === 60 && now.lastTs < last.ts) {
        // No live event yet: the newest minute of the history is the best "now" we have.
        now.occupancy ??= last.occupancy
        now.ble ??= last.visitorsBySource?.ble ?? null
        now.wifi ??= last.visitorsBySource?.wifi ?? null
        now.dwell ??= last.dwellP50S
        if (!Object.keys(zoneNow).length) zoneNow = { ...last.occupancyByZone }
        paintTiles()
      }
      paintCharts()
    } catch (err) {
      if (seq !== seriesSeq || signal.aborted) return
      if (err instanceof ApiError && err.status === 403) return ctx.forbidden(err.message)
      if (err instanceof ApiError && err.status !== 401) {
        buckets.clear()
        stepS = range.stepS
        paintCharts()
        seriesError.textContent = `${range.label}: ${err.message}`
        seriesError.hidden = false
        chartsEl.hidden = true
      }
      ctx.fail(err)
    } finally {
      if (seq === seriesSeq) occBox.removeAttribute('aria-busy')
    }
  }

  /** The chain overview row of this store gives "visits today" (and the tiles' starting values). */
  const loadSummary = async () => {
    try {
      const o = await api('/v1/overview', { signal })
      const row = o.stores?.find((/** @type {{ id: string }} */ s) => s.id === storeId)
      if (!row) return
      now.visitsToday = row.visitsToday
      if (!now.lastTs || (row.lastMinute && row.lastMinute >= now.lastTs)) {
        now.occupancy = row.occupancy
        now.ble = row.visitorsBySource?.ble ?? now.ble
        now.wifi = row.visitorsBySource?.wifi ?? now.wifi
        now.dwell = row.dwellP50S ?? now.dwell
        if (row.lastMinute) now.lastTs = Math.max(now.lastTs, row.lastMinute)
      }
      setStatus(statusEl, row.status)
      paintTiles()
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 403)) ctx.fail(err)
    }
  }

  const loadStore = async () => {
    try {
      const r = await api(`/v1/stores/${encodeURIComponent(storeId)}`, { signal })
      const st = r.store
      timeZone = st.timezone
      zones = Array.isArray(r.zones) ? [...r.zones] : []
      title.textContent = st.name
      ctx.setTitle(st.name)
      root.querySelector('.crumb-current')?.replaceChildren(st.name)
      setStatus(statusEl, st.status)
      meta.textContent = `${st.id} · ${st.timezone} · last seen ${fmtAgo(st.lastSeenAt)}`
      tzNote.textContent = `Times in ${st.timezone}`
      paintTiles()
      return true
    } catch (err) {
      if (signal.aborted) return false
      if (err instanceof ApiError && err.status === 403) ctx.forbidden(err.message)
      else if (err instanceof ApiError && err.status === 404) {
        root.replaceChildren(h('section', { class: 'panel', testid: 'not-found', role: 'alert' }, h('h1', { text: 'Store not found' }), h('p', { text: err.message }), h('p', {}, h('a', { href: '#/overview', text: 'Back to the overview' }))))
        ctx.setTitle('Store not found')
      } else ctx.fail(err)
      return false
    }
  }

  // Chart colours (axes, grid, the "All zones" line) are read from the CSS palette when a chart is
  // built; a wall display that follows the OS into dark mode at dusk must rebuild them.
  matchMedia('(prefers-color-scheme: dark)').addEventListener(
    'change',
    () => {
      occChart?.destroy()
      visChart?.destroy()
      occChart = visChart = null
      paintCharts()
    },
    { signal },
  )

  rangeSelect.addEventListener('change', () => {
    range = RANGES.find((r) => r.value === rangeSelect.value) ?? RANGES[0]
    // The zone chart's accessible name names the range; rebuild it.
    occChartZones = ''
    void loadSeries()
  })

  // ---- live
  ctx.live.on(
    'agg',
    (/** @type {import('../api.js').AggEvent} */ { storeId: id, point }) => {
      if (id !== storeId || !point) return
      const isNew = point.ts > countedUpTo
      if (isNew || stepS === 60) {
        foldPoint(point, false)
        if (isNew) countedUpTo = point.ts
        trimWindow()
        paintCharts()
      }
      if (point.ts > now.lastTs) {
        if (now.visitsToday !== null && Date.now() - point.ts < 3 * 60_000) now.visitsToday += point.visits ?? 0
        now.lastTs = point.ts
        now.occupancy = point.occupancy
        now.ble = point.visitorsBySource?.ble ?? null
        now.wifi = point.visitorsBySource?.wifi ?? null
        if (point.dwellP50S !== null && point.dwellP50S !== undefined) now.dwell = point.dwellP50S
        zoneNow = { ...point.occupancyByZone }
        paintTiles()
      }
    },
    signal,
  )
  ctx.live.on(
    'health',
    (/** @type {import('../api.js').HealthEvent} */ e) => {
      if (e.storeId === storeId) setStatus(statusEl, e.status)
    },
    signal,
  )
  ctx.live.on(
    'presence',
    (/** @type {import('../api.js').PresenceEventData} */ e) => {
      if (e.storeId !== storeId) return
      feedEmpty.remove()
      feed.prepend(presenceItem(e, timeZone))
      while (feed.children.length > FEED_MAX) feed.lastElementChild?.remove()
    },
    signal,
  )

  /** The feed starts with what the gateway remembers, so it is not empty until the next event. */
  const loadEvents = async () => {
    try {
      const { events } = await api(`/v1/stores/${encodeURIComponent(storeId)}/events`, { signal })
      const shown = new Set([...feed.querySelectorAll('time')].map((t) => t.getAttribute('datetime')))
      const older = /** @type {Omit<import('../api.js').PresenceEventData, 'storeId'>[]} */ (events ?? [])
        .slice(0, FEED_MAX)
        .filter((e) => !shown.has(new Date(e.ts).toISOString()))
      if (older.length) feedEmpty.remove()
      for (const e of older) if (feed.children.length < FEED_MAX) feed.append(presenceItem({ ...e, storeId }, timeZone))
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) ctx.fail(err)
    }
  }

  void (async () => {
    if (!(await loadStore())) return
    // Only now: a store outside the scope would make the gateway refuse the whole stream.
    ctx.live.setStores([storeId])
    await Promise.all([loadSeries(), loadSummary(), loadEvents()])
  })()
  const summaryTimer = setInterval(() => void loadSummary(), SUMMARY_REFRESH_MS)
  // Slide the window even when no aggregate arrives (an edge offline shows as a growing gap).
  const slideTimer = setInterval(() => {
    if (!occChart) return
    trimWindow()
    paintCharts()
  }, 60_000)

  return () => {
    clearInterval(summaryTimer)
    clearInterval(slideTimer)
    occChart?.destroy()
    visChart?.destroy()
  }
}

const VERBS = { enter: 'entered', move: 'moved to', stale: 'lost in', exit: 'left' }

/** @param {import('../api.js').PresenceEventData} e @param {string|undefined} timeZone */
function presenceItem(e, timeZone) {
  const what =
    e.type === 'move' && e.fromZone
      ? [h('strong', { text: e.fromZone }), ' → ', h('strong', { text: e.zone })]
      : [`${VERBS[e.type] ?? e.type} `, h('strong', { text: e.zone })]
  return h(
    'li',
    { class: `feed-item feed-${e.type}`, testid: 'presence-item', dataset: { type: e.type } },
    h('time', { class: 'feed-time', datetime: new Date(e.ts).toISOString(), text: fmtTime(e.ts, { timeZone }) }),
    h('span', { class: `feed-type type-${e.type}`, text: e.type }),
    h('span', { class: 'feed-what' }, what, e.type === 'exit' && e.dwellS !== undefined ? h('span', { class: 'muted', text: ` after ${fmtDuration(e.dwellS)}` }) : null),
    h('span', { class: `src-key src-${e.source}`, text: e.source === 'wifi' ? 'Wi-Fi' : 'BLE' }),
  )
}
