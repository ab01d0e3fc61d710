// "Who would have matched": the gateway replays the last days' geofence events through the
// draft rule (schedule in each store's zone, audience, caps simulated) and answers matches,
// distinct members and why the rest were suppressed. Nothing is sent to anyone.
import { api, ApiError } from '../api.js'
import { fmtInt, fmtTime, h } from '../dom.js'
import { ruleErrorsOf } from './marketing-common.js'

const SHOW_ROWS = 200
const SUPPRESSED_LABELS = {
  date: 'outside the campaign dates',
  weekday: 'not on a scheduled day',
  hours: 'outside the hours',
  'quiet-hours': 'in quiet hours',
  'not-member': 'not a member',
  tier: 'tier not targeted',
  tags: 'tags not matching',
  'not-first-visit': 'not a first visit',
  'not-lapsed': 'not lapsed',
  anonymous: 'not recognised',
  'cap-day': 'daily cap reached',
  'cap-week': 'weekly cap reached',
  'cap-campaign': 'campaign cap per member reached',
  budget: 'budget spent',
  cooldown: 'in cooldown',
  exclusive: 'lost to a higher-priority campaign',
}

/**
 * @param {HTMLElement} host
 * @param {import('../app.js').ViewContext} ctx
 * @param {{ draft: () => any, stores: import('./marketing-common.js').MktStore[] }} opts
 */
export function mountPreview(host, ctx, opts) {
  const { signal } = ctx
  const days = /** @type {HTMLSelectElement} */ (
    h('select', { class: 'input', id: 'preview-days', testid: 'preview-days' }, [1, 7, 14, 30].map((d) => h('option', { value: d, text: d === 1 ? 'Last day' : `Last ${d} days`, selected: d === 7 })))
  )
  const run = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'btn btn-primary', testid: 'preview-run', text: 'Preview who would have matched' }))
  const error = h('div', { class: 'inline-error', testid: 'preview-error', role: 'alert', hidden: true })
  const result = h('div', { class: 'preview-result', testid: 'preview-result', hidden: true })
  host.append(
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'preview-h', testid: 'preview' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'preview-h', text: 'Preview' }), h('div', { class: 'range' }, h('label', { for: 'preview-days', text: 'Replay' }), days), run),
      h('p', { class: 'muted small', text: 'Replays recorded geofence events through the rule as it is in the editor (saved or not). No coupon is issued.' }),
      error,
      result,
    ),
  )

  const tz = (/** @type {string} */ storeId) => opts.stores.find((s) => s.id === storeId)?.timezone
  const storeName = (/** @type {string} */ storeId) => opts.stores.find((s) => s.id === storeId)?.name ?? storeId

  run.addEventListener('click', async () => {
    run.disabled = true
    error.hidden = true
    result.setAttribute('aria-busy', 'true')
    try {
      const r = await api('/v1/campaigns/preview', { method: 'POST', body: { campaign: opts.draft(), days: Number(days.value) }, signal })
      paint(r)
    } catch (err) {
      if (err instanceof ApiError && err.status !== 401 && err.status !== 0) {
        const list = ruleErrorsOf(err.body)
        error.replaceChildren(h('strong', { text: 'The preview needs a valid rule: ' }), list.length ? h('ul', {}, list.map((e) => h('li', { text: e }))) : err.message)
        error.hidden = false
        result.hidden = true
      } else ctx.fail(err)
    } finally {
      run.disabled = false
      result.removeAttribute('aria-busy')
    }
  })

  /** @param {{ from: number, to: number, events: number, matches: any[], matched?: number, truncated?: boolean, members: number, suppressed: Record<string, number> }} r */
  function paint(r) {
    const matches = r.matches ?? []
    const held = matches.filter((m) => m.holdout).length
    const suppressed = Object.entries(r.suppressed ?? {}).sort((a, b) => b[1] - a[1])
    const tile = (/** @type {string} */ label, /** @type {string} */ testid, /** @type {string} */ value) =>
      h('div', { class: 'mini-tile' }, h('div', { class: 'mini-label', text: label }), h('div', { class: 'mini-value', testid, text: value }))
    const rows = matches
      .slice()
      .sort((a, b) => b.ts - a.ts)
      .slice(0, SHOW_ROWS)
      .map((m) =>
        h(
          'tr',
          { testid: 'preview-row', dataset: { member: m.memberRef, store: m.storeId } },
          h('td', { class: 'nowrap', text: fmtTime(m.ts, { timeZone: tz(m.storeId), date: true }) }),
          h('td', { text: storeName(m.storeId) }),
          h('td', { text: m.memberRef }),
          h('td', { text: m.type }),
          h('td', { text: m.zone }),
          h('td', { text: m.source }),
          h('td', { text: m.holdout ? 'held out' : 'would get it' }),
        ),
      )
    result.replaceChildren(
      h(
        'div',
        { class: 'mini-tiles' },
        tile('Events replayed', 'preview-events', fmtInt(r.events)),
        tile('Matches', 'preview-matches', fmtInt(r.matched ?? matches.length)),
        tile('Distinct members', 'preview-members', fmtInt(r.members)),
        tile('Held out', 'preview-holdout', fmtInt(held)),
      ),
      h('p', { class: 'muted small', testid: 'preview-window', text: `From ${fmtTime(r.from, { date: true })} to ${fmtTime(r.to, { date: true })} (your time).${r.truncated ? ' The replay stopped at its limit: the figures are a lower bound.' : ''}` }),
      h(
        'div',
        { class: 'two-col preview-cols' },
        h(
          'div',
          {},
          h('h3', { text: 'Suppressed' }),
          suppressed.length
            ? h(
                'table',
                { class: 'table table-dense', testid: 'preview-suppressed' },
                h('tbody', {}, suppressed.map(([reason, n]) => h('tr', {}, h('th', { scope: 'row', text: SUPPRESSED_LABELS[/** @type {keyof typeof SUPPRESSED_LABELS} */ (reason)] ? `${SUPPRESSED_LABELS[/** @type {keyof typeof SUPPRESSED_LABELS} */ (reason)]} (${reason})` : reason }), h('td', { class: 'num', testid: `preview-suppressed-${reason}`, text: fmtInt(n) })))),
              )
            : h('p', { class: 'empty', testid: 'preview-suppressed', text: 'Nothing suppressed.' }),
        ),
        h(
          'div',
          {},
          h('h3', { text: matches.length > SHOW_ROWS ? `Matches (latest ${SHOW_ROWS} of ${matches.length})` : 'Matches' }),
          matches.length
            ? h(
                'div',
                { class: 'table-wrap scroll' },
                h('table', { class: 'table table-dense', testid: 'preview-table' }, h('thead', {}, h('tr', {}, ['When (store time)', 'Store', 'Member', 'Event', 'Zone', 'Source', 'Outcome'].map((t) => h('th', { scope: 'col', text: t })))), h('tbody', { testid: 'preview-rows' }, rows)),
              )
            : h('p', { class: 'empty', testid: 'preview-no-matches', text: 'No one would have matched.' }),
        ),
      ),
    )
    result.hidden = false
  }
}
