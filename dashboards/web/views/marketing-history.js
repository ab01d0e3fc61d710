// A campaign's versions (each save is one; any can be looked at and loaded back into the
// editor) and its audit trail: who changed the rule, when, and what.
import { api, ApiError } from '../api.js'
import { fmtTime, h } from '../dom.js'

/** @typedef {{ version: number, createdBy: string, createdAt: number|string }} VersionRow */

/**
 * @param {HTMLElement} host
 * @param {import('../app.js').ViewContext} ctx
 * @param {{ campaignId: string, versions: VersionRow[], onRestore: (c: import('./marketing-common.js').Campaign) => void }} opts
 */
export function mountHistory(host, ctx, opts) {
  const { signal } = ctx
  const id = encodeURIComponent(opts.campaignId)
  const canWrite = ctx.can('campaigns:write')
  const versionRows = h('tbody', { testid: 'campaign-versions-rows' })
  const versionView = h('div', { class: 'version-view', testid: 'campaign-version-view', hidden: true })
  const auditRows = h('tbody', { testid: 'campaign-audit-rows' })
  const auditEmpty = h('p', { class: 'empty', testid: 'campaign-audit-empty', hidden: true, text: 'No changes recorded yet.' })

  host.append(
    h(
      'div',
      { class: 'two-col history' },
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'versions-h', testid: 'campaign-versions' },
        h('h2', { id: 'versions-h', text: 'Versions' }),
        h('div', { class: 'table-wrap' }, h('table', { class: 'table table-dense' }, h('thead', {}, h('tr', {}, ['Version', 'By', 'When', ''].map((t) => h('th', { scope: 'col', text: t })))), versionRows)),
        versionView,
      ),
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'audit-h', testid: 'campaign-audit' },
        h('h2', { id: 'audit-h', text: 'Audit trail' }),
        h('div', { class: 'table-wrap scroll' }, h('table', { class: 'table table-dense' }, h('thead', {}, h('tr', {}, ['When', 'Who', 'Action', 'Details'].map((t) => h('th', { scope: 'col', text: t })))), auditRows)),
        auditEmpty,
      ),
    ),
  )

  const paintVersions = (/** @type {VersionRow[]} */ versions) => {
    versionRows.replaceChildren(
      ...[...versions]
        .sort((a, b) => b.version - a.version)
        .map((v) =>
          h(
            'tr',
            { testid: `campaign-version-${v.version}` },
            h('th', { scope: 'row', text: `v${v.version}` }),
            h('td', { text: v.createdBy ?? '—' }),
            h('td', { class: 'nowrap', text: fmtTime(Number(new Date(v.createdAt)), { date: true }) }),
            h('td', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-sm', testid: `campaign-version-show-${v.version}`, text: 'Show', onclick: () => void show(v.version) })),
          ),
        ),
    )
  }

  const show = async (/** @type {number} */ version) => {
    try {
      const { campaign } = await api(`/v1/campaigns/${id}/versions/${version}`, { signal })
      versionView.replaceChildren(
        h('div', { class: 'panel-head' }, h('h3', { text: `Version ${version}` }), canWrite ? h('button', { type: 'button', class: 'btn btn-sm', testid: 'campaign-version-restore', text: 'Load into the editor', onclick: () => opts.onRestore(campaign) }) : null, h('button', { type: 'button', class: 'btn btn-sm btn-quiet', text: 'Close', onclick: () => (versionView.hidden = true) })),
        h('pre', { class: 'json', testid: 'campaign-version-json', text: JSON.stringify(campaign, null, 2) }),
      )
      versionView.hidden = false
    } catch (err) {
      ctx.fail(err)
    }
  }

  const loadAudit = async () => {
    try {
      const { entries } = await api(`/v1/campaigns/${id}/audit`, { signal })
      const list = /** @type {any[]} */ (entries ?? []).sort((a, b) => Number(new Date(b.ts)) - Number(new Date(a.ts)))
      auditRows.replaceChildren(
        ...list.map((e) => {
          const d = e.detail
          const raw = d === null || d === undefined ? '' : typeof d === 'string' ? d : JSON.stringify(d)
          // An edit records what changed (`path: before → after`); show those lines, not the JSON.
          const changes = Array.isArray(d?.changes) ? d.changes.map(String) : null
          const version = typeof d?.version === 'number' ? `v${d.from ? `${d.from} → ` : ''}${d.version}` : ''
          return h(
            'tr',
            { testid: 'campaign-audit-row', dataset: { action: e.action } },
            h('td', { class: 'nowrap', text: fmtTime(Number(new Date(e.ts)), { date: true }) }),
            h('td', { text: e.actor }),
            h('td', {}, e.action, version ? h('div', { class: 'cell-sub', text: version }) : null),
            changes
              ? h('td', { class: 'changes' }, h('ul', { class: 'change-list' }, changes.map((/** @type {string} */ c) => h('li', { text: c }))))
              : h('td', { class: 'detail', title: raw, text: raw }),
          )
        }),
      )
      auditEmpty.hidden = list.length > 0
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) {
        auditRows.replaceChildren()
        auditEmpty.textContent = 'Your role cannot read the audit trail.'
        auditEmpty.hidden = false
      } else ctx.fail(err)
    }
  }

  paintVersions(opts.versions)
  void loadAudit()

  return {
    async reload() {
      try {
        const r = await api(`/v1/campaigns/${id}`, { signal })
        paintVersions(r.versions ?? [])
      } catch (err) {
        ctx.fail(err)
      }
      await loadAudit()
    },
  }
}
