// Chain overview: KPI tiles and a sortable table of stores. Numbers move the moment an `agg` or
// `health` event arrives; `/v1/overview` is re-fetched (at most every 10 s) to stay exact, since a
// live event can only add to "visits today", never age a minute out of "last hour".
import { api } from '../api.js'
import { compare, fmtDuration, fmtInt, fmtTime, h, setLive, setStatus, statusBadge, tile } from '../dom.js'

const REFETCH_MIN_MS = 10_000
const REFRESH_MS = 60_000
/** An aggregate older than this is backlog (edge store-and-forward): leave it to the re-fetch. */
const LIVE_MAX_AGE_MS = 3 * 60_000

/**
 * @typedef {{ id: string, name: string, status: string, occupancy: number, visitsToday: number, visitsLastHour: number,
 *   visitorsBySource: { ble: number, wifi: number }, dwellP50S: number|null, lastMinute: number|null }} StoreRow
 * @typedef {{ stores: number, storesOnline: number, occupancy: number, visitsToday: number, visitsLastHour: number }} Totals
 */

/** @type {{ key: string, label: string, num?: boolean, get: (r: StoreRow) => any }[]} */
const COLUMNS = [
  { key: 'name', label: 'Store', get: (r) => r.name },
  { key: 'status', label: 'Status', get: (r) => ({ online: 0, unknown: 1, offline: 2 })[r.status] ?? 1 },
  { key: 'occupancy', label: 'Occupancy', num: true, get: (r) => r.occupancy },
  { key: 'visitsToday', label: 'Visits today', num: true, get: (r) => r.visitsToday },
  { key: 'visitsLastHour', label: 'Last hour', num: true, get: (r) => r.visitsLastHour },
  { key: 'ble', label: 'BLE visitors', num: true, get: (r) => r.visitorsBySource?.ble ?? null },
  { key: 'wifi', label: 'Wi-Fi visitors', num: true, get: (r) => r.visitorsBySource?.wifi ?? null },
  { key: 'dwell', label: 'Dwell p50', num: true, get: (r) => r.dwellP50S },
]

/** @param {HTMLElement} root @param {import('../app.js').ViewContext} ctx */
export function mount(root, ctx) {
  ctx.setTitle('Chain overview')
  const { signal } = ctx

  const tOcc = tile('Occupancy now', 'overview-total-occupancy', 'people in all stores')
  const tToday = tile('Visits today', 'overview-total-visits-today', 'since local midnight')
  const tHour = tile('Visits last hour', 'overview-visits-last-hour', 'rolling 60 minutes')
  const tOnline = tile('Stores online', 'overview-stores-online', 'edge nodes reporting')
  const asOf = h('span', { class: 'muted', testid: 'overview-as-of' })

  /** @type {{ key: string, dir: 1|-1 }} */
  const sort = { key: 'occupancy', dir: -1 }
  const filter = /** @type {HTMLInputElement} */ (
    h('input', { type: 'search', class: 'input filter', placeholder: 'Filter stores', 'aria-label': 'Filter stores by name or id', testid: 'overview-filter' })
  )
  const headRow = h('tr')
  const tbody = h('tbody', { testid: 'overview-rows' })
  const empty = h('p', { class: 'empty', hidden: true, testid: 'overview-empty', text: 'No stores in your scope yet.' })
  const table = h('table', { class: 'table', testid: 'overview-table' }, h('caption', { class: 'sr-only', text: 'Stores, live footfall' }), h('thead', {}, headRow), tbody)

  root.append(
    h('div', { class: 'page-head' }, h('h1', { text: 'Chain overview' }), asOf),
    h('div', { class: 'tiles' }, tOcc.el, tToday.el, tHour.el, tOnline.el),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'stores-h' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'stores-h', text: 'Stores' }), filter),
      h('div', { class: 'table-wrap' }, table),
      empty,
    ),
  )

  /** @type {Map<string, { data: StoreRow, tr: HTMLElement, cells: Record<string, HTMLElement>, lastTs: number }>} */
  const rows = new Map()
  /** @type {Totals|null} */
  let totals = null

  // ---- header with sort buttons
  for (const col of COLUMNS) {
    const btn = h('button', { type: 'button', class: 'sort', testid: `sort-${col.key}`, text: col.label, onclick: () => setSort(col.key) })
    headRow.append(h('th', { scope: 'col', class: col.num ? 'num' : '', dataset: { key: col.key } }, btn))
  }
  const paintSortHeaders = () => {
    for (const th of headRow.children) {
      const el = /** @type {HTMLElement} */ (th)
      if (el.dataset.key === sort.key) el.setAttribute('aria-sort', sort.dir === 1 ? 'ascending' : 'descending')
      else el.removeAttribute('aria-sort')
    }
  }
  const setSort = (/** @type {string} */ key) => {
    if (sort.key === key) sort.dir = /** @type {1|-1} */ (-sort.dir)
    else {
      sort.key = key
      sort.dir = COLUMNS.find((c) => c.key === key)?.num ? -1 : 1
    }
    paintSortHeaders()
    reorder()
  }

  const reorder = () => {
    const col = COLUMNS.find((c) => c.key === sort.key) ?? COLUMNS[0]
    const q = filter.value.trim().toLowerCase()
    const list = [...rows.values()].sort((a, b) => compare(col.get(a.data), col.get(b.data), sort.dir) || compare(a.data.name, b.data.name))
    for (const r of list) {
      r.tr.hidden = !!q && !r.data.name.toLowerCase().includes(q) && !r.data.id.toLowerCase().includes(q)
      tbody.append(r.tr) // moves the existing node; no re-render, focus and hover survive
    }
    empty.hidden = rows.size > 0
    table.hidden = rows.size === 0
  }
  filter.addEventListener('input', reorder)

  // Live numbers change the order; re-sort shortly after, but never under the user's pointer or
  // keyboard focus (a row must not jump away as it is clicked).
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  let reorderTimer
  const scheduleReorder = () => {
    clearTimeout(reorderTimer)
    reorderTimer = setTimeout(() => {
      if (table.matches(':hover') || table.contains(document.activeElement)) scheduleReorder()
      else reorder()
    }, 1500)
  }

  // ---- rows
  const makeRow = (/** @type {StoreRow} */ s) => {
    const id = s.id
    const href = `#/stores/${encodeURIComponent(id)}`
    const cells = {
      name: h('a', { href, testid: `store-link-${id}`, text: s.name }),
      status: statusBadge(s.status, `store-status-${id}`),
      occupancy: h('span', { testid: `store-occupancy-${id}` }),
      visitsToday: h('span', { testid: `store-visits-today-${id}` }),
      visitsLastHour: h('span', { testid: `store-visits-last-hour-${id}` }),
      ble: h('span', { testid: `store-ble-${id}` }),
      wifi: h('span', { testid: `store-wifi-${id}` }),
      dwell: h('span', { testid: `store-dwell-${id}` }),
    }
    const tr = h(
      'tr',
      { testid: `store-row-${id}`, class: 'row-link', dataset: { storeId: id } },
      h('th', { scope: 'row' }, cells.name, h('div', { class: 'cell-sub', text: id })),
      h('td', {}, cells.status),
      ...['occupancy', 'visitsToday', 'visitsLastHour', 'ble', 'wifi', 'dwell'].map((k) => h('td', { class: 'num' }, cells[k])),
    )
    // The whole row is a target for the mouse; the link stays the keyboard and screen-reader path.
    tr.addEventListener('click', (e) => {
      if (e.target instanceof Element && e.target.closest('a')) return
      ctx.navigate(href)
    })
    return { data: s, tr, cells, lastTs: 0 }
  }

  const paintRow = (/** @type {NonNullable<ReturnType<typeof rows.get>>} */ r) => {
    const d = r.data
    r.cells.name.textContent = d.name
    setStatus(r.cells.status, d.status)
    setLive(r.cells.occupancy, fmtInt(d.occupancy))
    setLive(r.cells.visitsToday, fmtInt(d.visitsToday))
    setLive(r.cells.visitsLastHour, fmtInt(d.visitsLastHour))
    setLive(r.cells.ble, fmtInt(d.visitorsBySource?.ble))
    setLive(r.cells.wifi, fmtInt(d.visitorsBySource?.wifi))
    setLive(r.cells.dwell, fmtDuration(d.dwellP50S))
  }

  const paintTotals = () => {
    if (!totals) return
    setLive(tOcc.value, fmtInt(totals.occupancy))
    setLive(tToday.value, fmtInt(totals.visitsToday))
    setLive(tHour.value, fmtInt(totals.visitsLastHour))
    setLive(tOnline.value, `${fmtInt(totals.storesOnline)} / ${fmtInt(totals.stores)}`)
    tOnline.el.classList.toggle('tile-warn', totals.storesOnline < totals.stores)
  }

  // ---- data
  let lastFetch = 0
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  let refetchTimer
  let inFlight = false

  const load = async () => {
    if (inFlight) return
    inFlight = true
    lastFetch = Date.now()
    try {
      const o = await api('/v1/overview', { signal })
      totals = { ...o.totals }
      const seen = new Set()
      for (const s of /** @type {StoreRow[]} */ (o.stores)) {
        seen.add(s.id)
        let r = rows.get(s.id)
        if (!r) {
          r = makeRow(s)
          rows.set(s.id, r)
        } else {
          r.data = s
        }
        if (s.lastMinute) r.lastTs = Math.max(r.lastTs, s.lastMinute)
        paintRow(r)
      }
      for (const [id, r] of rows) {
        if (!seen.has(id)) {
          r.tr.remove()
          rows.delete(id)
        }
      }
      paintTotals()
      reorder()
      asOf.textContent = `${rows.size} ${rows.size === 1 ? 'store' : 'stores'} · as of ${fmtTime(o.ts ?? Date.now())}`
      ctx.live.setStores('*')
    } catch (err) {
      if (err && /** @type {any} */ (err).status === 403) ctx.forbidden(/** @type {Error} */ (err).message)
      else ctx.fail(err)
    } finally {
      inFlight = false
    }
  }

  const scheduleRefetch = () => {
    if (refetchTimer || signal.aborted) return
    const wait = Math.max(0, lastFetch + REFETCH_MIN_MS - Date.now())
    refetchTimer = setTimeout(() => {
      refetchTimer = undefined
      void load()
    }, wait)
  }

  // ---- live
  ctx.live.on(
    'agg',
    (/** @type {import('../api.js').AggEvent} */ { storeId, point }) => {
      const r = rows.get(storeId)
      if (!r || !point) return scheduleRefetch()
      const fresh = point.ts > r.lastTs && Date.now() - point.ts < LIVE_MAX_AGE_MS
      if (fresh) {
        const d = r.data
        const dOcc = (point.occupancy ?? d.occupancy) - d.occupancy
        const visits = point.visits ?? 0
        d.occupancy += dOcc
        d.visitsToday += visits
        d.visitsLastHour += visits
        if (point.visitorsBySource) d.visitorsBySource = point.visitorsBySource
        if (point.dwellP50S !== null && point.dwellP50S !== undefined) d.dwellP50S = point.dwellP50S
        r.lastTs = point.ts
        if (totals) {
          totals.occupancy += dOcc
          totals.visitsToday += visits
          totals.visitsLastHour += visits
        }
        paintRow(r)
        paintTotals()
        if (sort.key !== 'name') scheduleReorder()
      }
      scheduleRefetch()
    },
    signal,
  )
  ctx.live.on(
    'health',
    (/** @type {import('../api.js').HealthEvent} */ { storeId, status }) => {
      const r = rows.get(storeId)
      if (!r) return
      if (totals && r.data.status !== status) {
        if (status === 'online') totals.storesOnline += 1
        else if (r.data.status === 'online') totals.storesOnline -= 1
      }
      r.data.status = status
      paintRow(r)
      paintTotals()
      if (sort.key === 'status') scheduleReorder()
    },
    signal,
  )

  paintSortHeaders()
  void load()
  const interval = setInterval(scheduleRefetch, REFRESH_MS)
  return () => {
    clearInterval(interval)
    clearTimeout(refetchTimer)
    clearTimeout(reorderTimer)
  }
}
