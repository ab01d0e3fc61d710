// #/marketing: every campaign with its status, trigger, caps and budget, and the coupon funnel
// (requested → issued → pushed → redeemed) per campaign, kept current by the live stream; beside
// it the live trigger feed.
import { api, ApiError } from '../api.js'
import { fmtAgo, fmtInt, h, setLive } from '../dom.js'
import { capsText, couponValue, EVENT_LABELS, loadStores, subnav } from './marketing-common.js'
import { mountFeed } from './marketing-feed.js'

/** @typedef {import('./marketing-common.js').Campaign} Campaign @typedef {import('./marketing-common.js').FunnelRow} FunnelRow */

const RANGES = [
  { value: '1d', label: 'Last 24 hours', ms: 86_400_000 },
  { value: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { value: '30d', label: 'Last 30 days', ms: 30 * 86_400_000 },
  { value: 'all', label: 'All time', ms: 0 },
]
/** Live events ask for a fresh funnel at most this often (the ledger is the source of truth). */
const FUNNEL_MIN_INTERVAL_MS = 1_500
const FUNNEL_REFRESH_MS = 60_000

/** @param {HTMLElement} root @param {import('../app.js').ViewContext} ctx */
export function mount(root, ctx) {
  const { signal } = ctx
  ctx.setTitle('Marketing')
  const canWrite = ctx.can('campaigns:write')
  const canCoupons = ctx.can('coupons:read')

  const rangeSelect = /** @type {HTMLSelectElement} */ (
    h('select', { id: 'funnel-range', class: 'input', testid: 'funnel-range' }, RANGES.map((r) => h('option', { value: r.value, text: r.label, selected: r.value === '7d' })))
  )
  const showArchived = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'show-archived', testid: 'campaigns-show-archived' }))
  const rows = h('tbody', { testid: 'campaigns-rows' })
  const empty = h('p', { class: 'empty', testid: 'campaigns-empty', hidden: true, text: canWrite ? 'No campaigns yet. Create the first one with “New campaign”.' : 'No campaigns yet.' })
  const funnelNote = h('span', { class: 'muted small', testid: 'funnel-as-of' })
  const feedHost = h('div')

  root.append(
    h('div', { class: 'page-head' }, h('h1', { text: 'Marketing' }), subnav('campaigns', canWrite)),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'camp-h', testid: 'campaigns' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', { id: 'camp-h', text: 'Campaigns' }),
        funnelNote,
        h('label', { class: 'check' }, showArchived, ' Show archived'),
        h('div', { class: 'range' }, h('label', { for: 'funnel-range', text: 'Funnel' }), rangeSelect),
      ),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'table table-dense', testid: 'campaigns-table' },
          h('caption', { class: 'sr-only', text: 'Campaigns, their rules, caps, budget and coupon funnel' }),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Campaign', 'Status', 'Trigger', 'Caps', 'Budget left', 'Funnel: issued → pushed → redeemed', 'Held out', 'Rejected'].map((t) => h('th', { scope: 'col', text: t })),
            ),
          ),
          rows,
        ),
      ),
      empty,
    ),
    feedHost,
  )

  /** @type {Campaign[]} */
  let campaigns = []
  /** @type {Map<string, FunnelRow>} */
  let funnel = new Map()
  /** @type {Map<string, string>} */
  const storeNames = new Map()
  /** @type {Map<string, string>} store id → IANA zone (feed times are the store's) */
  const storeZones = new Map()
  /** @type {Map<string, { el: HTMLElement, cells: Record<string, HTMLElement> }>} */
  const rowEls = new Map()

  const range = () => RANGES.find((r) => r.value === rangeSelect.value) ?? RANGES[1]

  const triggerText = (/** @type {Campaign} */ c) => {
    const what = EVENT_LABELS[c.event] ?? c.event
    const dwell = c.dwellS ? ` ≥ ${Math.round(c.dwellS / 60)} min` : ''
    const where = c.stores.includes('*') ? 'all stores' : c.stores.map((s) => storeNames.get(s) ?? s).join(', ')
    return `${what}${dwell}: ${c.zones.join(', ')} · ${where}`
  }

  const statusOf = (/** @type {Campaign} */ c) => (c.archived ? 'archived' : c.enabled ? 'enabled' : 'disabled')

  const paint = () => {
    const list = campaigns.filter((c) => showArchived.checked || !c.archived)
    // Campaigns the funnel knows but the list does not (archived and hidden) stay out of the table.
    rows.replaceChildren()
    rowEls.clear()
    for (const c of list) {
      const st = statusOf(c)
      const cells = {
        budget: h('td', { class: 'num', testid: `campaign-budget-${c.id}` }),
        issued: h('span', { class: 'funnel-n', testid: `funnel-issued-${c.id}` }),
        pushed: h('span', { class: 'funnel-n', testid: `funnel-pushed-${c.id}` }),
        redeemed: h('span', { class: 'funnel-n', testid: `funnel-redeemed-${c.id}` }),
        bar: h('span', { class: 'funnel-bar', 'aria-hidden': 'true' }),
        holdout: h('td', { class: 'num', testid: `funnel-holdout-${c.id}` }),
        rejected: h('td', { class: 'num', testid: `funnel-rejected-${c.id}` }),
      }
      const el = h(
        'tr',
        { testid: `campaign-row-${c.id}`, class: c.archived ? 'row-disabled' : null },
        h(
          'th',
          { scope: 'row' },
          h('a', { href: `#/marketing/campaigns/${encodeURIComponent(c.id)}`, testid: `campaign-link-${c.id}`, text: c.name }),
          h('div', { class: 'cell-sub', text: `${c.id} · v${c.version ?? '?'} · ${couponValue(c.coupon)} · updated ${fmtAgo(c.updatedAt)}` }),
        ),
        h('td', {}, h('span', { class: `pill pill-${st}`, testid: `campaign-status-${c.id}`, dataset: { status: st }, text: st[0].toUpperCase() + st.slice(1) })),
        h('td', { class: 'trigger', testid: `campaign-trigger-${c.id}`, text: triggerText(c) }),
        h('td', { class: 'small', testid: `campaign-caps-${c.id}`, text: capsText(c.caps) }),
        cells.budget,
        h('td', { class: 'funnel' }, h('span', { class: 'funnel-nums' }, cells.issued, ' → ', cells.pushed, ' → ', cells.redeemed), cells.bar),
        cells.holdout,
        cells.rejected,
      )
      rows.append(el)
      rowEls.set(c.id, { el, cells })
    }
    empty.hidden = list.length > 0
    paintFunnel()
  }

  const paintFunnel = () => {
    for (const [id, { cells }] of rowEls) {
      const c = campaigns.find((x) => x.id === id)
      const f = funnel.get(id)
      setLive(cells.issued, canCoupons ? fmtInt(f?.issued ?? 0) : '—')
      setLive(cells.pushed, canCoupons ? fmtInt(f?.pushed ?? 0) : '—')
      setLive(cells.redeemed, canCoupons ? fmtInt(f?.redeemed ?? 0) : '—')
      setLive(cells.holdout, canCoupons ? fmtInt(f?.holdout ?? 0) : '—')
      const rejected = Object.entries(f?.rejected ?? {})
      const nRejected = rejected.reduce((a, [, n]) => a + n, 0)
      setLive(cells.rejected, canCoupons ? fmtInt(nRejected) : '—')
      cells.rejected.title = rejected.map(([r, n]) => `${r}: ${n}`).join(', ') || 'none'
      cells.rejected.dataset.reasons = JSON.stringify(Object.fromEntries(rejected))
      const budget = f?.budget ?? c?.caps?.budget ?? null
      const left = f?.budgetLeft ?? (budget === null ? null : budget - (f?.issued ?? 0))
      setLive(cells.budget, budget === null ? 'No budget' : `${fmtInt(left)} of ${fmtInt(budget)}`)
      cells.budget.classList.toggle('budget-low', budget !== null && left !== null && left <= budget * 0.1)
      const issued = f?.issued ?? 0
      const pct = (/** @type {number} */ n) => (issued ? Math.round((n / issued) * 100) : 0)
      // Widths through the CSSOM, not a style attribute: the page keeps working under a strict CSP.
      const bar = (/** @type {string} */ cls, /** @type {number} */ w) => {
        const el = h('span', { class: `fb ${cls}` })
        el.style.width = `${w}%`
        return el
      }
      cells.bar.replaceChildren(bar('fb-issued', issued ? 100 : 0), bar('fb-pushed', pct(f?.pushed ?? 0)), bar('fb-redeemed', pct(f?.redeemed ?? 0)))
      cells.bar.parentElement?.setAttribute('title', issued ? `pushed ${pct(f?.pushed ?? 0)} %, redeemed ${pct(f?.redeemed ?? 0)} % of issued; requested ${f?.requested ?? 0}, push failed ${f?.dead ?? 0}` : 'nothing issued in this range')
    }
  }

  const loadCampaigns = async () => {
    try {
      const r = await api('/v1/campaigns', { signal })
      campaigns = /** @type {Campaign[]} */ (r.campaigns ?? []).sort((a, b) => Number(!!a.archived) - Number(!!b.archived) || a.name.localeCompare(b.name))
      paint()
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) ctx.forbidden(err.message)
      else ctx.fail(err)
    }
  }

  let funnelSeq = 0
  let lastFunnelAt = 0
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  let funnelTimer
  const loadFunnel = async () => {
    if (!canCoupons) return
    const seq = ++funnelSeq
    lastFunnelAt = Date.now()
    const r = range()
    const to = Date.now() + 60_000 // a request stamped by an edge clock slightly ahead still counts
    try {
      const ans = await api('/v1/coupons/funnel', { query: { from: r.ms ? Date.now() - r.ms : 0, to }, signal })
      if (seq !== funnelSeq) return
      funnel = new Map((ans.campaigns ?? []).map((/** @type {FunnelRow} */ f) => [f.campaignId, f]))
      funnelNote.textContent = `funnel as of ${new Date().toLocaleTimeString(undefined, { hour12: false })}`
      funnelNote.dataset.ts = String(Date.now())
      paintFunnel()
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 403)) ctx.fail(err)
    }
  }
  /** Coalesce a burst of live coupon events into one funnel request. */
  const funnelSoon = () => {
    if (funnelTimer) return
    const wait = Math.max(200, FUNNEL_MIN_INTERVAL_MS - (Date.now() - lastFunnelAt))
    funnelTimer = setTimeout(() => {
      funnelTimer = undefined
      void loadFunnel()
    }, wait)
  }

  rangeSelect.addEventListener('change', () => void loadFunnel())
  showArchived.addEventListener('change', paint)

  const feed = mountFeed(feedHost, ctx, {
    campaignName: (id) => campaigns.find((c) => c.id === id)?.name ?? id,
    storeName: (id) => storeNames.get(id) ?? id,
    storeZone: (id) => storeZones.get(id),
    onCoupon: funnelSoon,
  })

  void (async () => {
    try {
      for (const s of await loadStores(signal)) {
        storeNames.set(s.id, s.name)
        storeZones.set(s.id, s.timezone)
      }
    } catch (err) {
      ctx.fail(err)
    }
    ctx.live.setStores('*')
    await loadCampaigns()
    await Promise.all([loadFunnel(), feed.loadRecent()])
  })()
  const refresh = setInterval(() => void loadFunnel(), FUNNEL_REFRESH_MS)
  // A campaign created or archived in another tab shows up without a reload.
  const listRefresh = setInterval(() => void loadCampaigns(), 5 * FUNNEL_REFRESH_MS)

  return () => {
    clearInterval(refresh)
    clearInterval(listRefresh)
    clearTimeout(funnelTimer)
  }
}
