// #/marketing/campaigns/<id> (and …/new): the rule editor. Every change is checked by the
// gateway (POST /v1/campaigns/validate) and each problem is shown beside the field and in the
// list next to the form; saving creates (POST) or edits (PUT, with the version the editor loaded:
// a stale one is a conflict, offered for reload). Beside the rule: the 7-day preview, the version
// list and the audit trail.
import { api, ApiError, isAbort } from '../api.js'
import { fmtAgo, h } from '../dom.js'
import { loadStores, loadTargets, ruleErrorsOf, subnav } from './marketing-common.js'
import { campaignForm } from './marketing-form.js'
import { mountHistory } from './marketing-history.js'
import { mountPreview } from './marketing-preview.js'

/** @typedef {import('./marketing-common.js').Campaign} Campaign */

const VALIDATE_DEBOUNCE_MS = 300
/** Stores whose zones the picker asks for at most. */
const TARGET_STORES_MAX = 40

/** A new campaign starts as a sensible arrival coupon. @returns {Partial<Campaign>} */
const blank = () => ({
  enabled: true,
  stores: [],
  event: 'enter',
  zones: [],
  audience: { membersOnly: true },
  schedule: {},
  caps: { perMemberPerDay: 1 },
  holdoutPct: 0,
  priority: 100,
  lateAfterS: 900,
  coupon: { templateId: 'coupon', title: '', body: '', validHours: 24 },
})

/** @param {HTMLElement} root @param {import('../app.js').ViewContext} ctx @param {string[]} params */
export function mount(root, ctx, [rawId]) {
  const { signal } = ctx
  const id = decodeURIComponent(rawId ?? 'new')
  const isNew = id === 'new'
  const canWrite = ctx.can('campaigns:write')
  if (isNew && !canWrite) {
    ctx.forbidden('Creating campaigns needs campaigns:write.')
    return
  }
  ctx.setTitle(isNew ? 'New campaign' : id)
  ctx.live.setStores([]) // nothing on this page is live

  const title = h('h1', { testid: 'campaign-title', text: isNew ? 'New campaign' : id })
  const meta = h('span', { class: 'muted', testid: 'campaign-meta' })
  const statusPill = h('span', { class: 'pill', testid: 'campaign-status', hidden: true })
  const head = h('div', { class: 'page-head' }, title, statusPill, meta, subnav('campaign', canWrite))
  const body = h('div', { class: 'loading', text: 'Loading…' })
  root.append(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/marketing', text: 'Marketing' }), h('span', { 'aria-hidden': 'true', text: ' / ' }), h('span', { 'aria-current': 'page', text: isNew ? 'New campaign' : id })), head, body)

  void (async () => {
    let stores
    /** @type {Campaign|null} */
    let loaded = null
    /** @type {any[]} */
    let versions = []
    try {
      ;[stores, { loaded, versions }] = await Promise.all([loadStores(signal), isNew ? { loaded: null, versions: [] } : fetchCampaign(id, signal)])
    } catch (err) {
      if (isAbort(err)) return
      if (err instanceof ApiError && err.status === 403) return ctx.forbidden(err.message)
      if (err instanceof ApiError && err.status === 404) {
        body.replaceWith(h('section', { class: 'panel', testid: 'not-found', role: 'alert' }, h('h2', { text: 'Campaign not found' }), h('p', { text: err.message }), h('p', {}, h('a', { href: '#/marketing', text: 'Back to the campaigns' }))))
        return
      }
      ctx.fail(err)
      return
    }
    build(stores, loaded, versions)
  })()

  /**
   * @param {import('./marketing-common.js').MktStore[]} stores
   * @param {Campaign|null} loaded
   * @param {any[]} versions
   */
  function build(stores, loaded, versions) {
    /** The version the editor's content is based on (PUT sends it; a newer one on the server is a conflict). */
    let baseVersion = loaded?.version
    const form = campaignForm({ isNew, stores, allStores: ctx.session.user.stores.includes('*'), onChange: () => scheduleValidate(), onStoresChange: () => void refreshTargets() })

    // ---- side column: validity, every problem, save
    const validity = h('p', { class: 'validity', testid: 'campaign-validity', dataset: { state: 'idle' }, role: 'status', text: 'Not checked yet' })
    const errorList = h('ul', { class: 'rule-errors', testid: 'campaign-errors', 'aria-label': 'Problems with this rule' })
    const saveBtn = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'btn btn-primary btn-block', testid: 'campaign-save', text: isNew ? 'Create campaign' : 'Save changes' }))
    const saveNote = h('p', { class: 'muted small', testid: 'campaign-save-note' })
    const conflict = h(
      'div',
      { class: 'conflict', testid: 'campaign-conflict', role: 'alert', hidden: true },
      h('strong', { text: 'Someone else changed this campaign.' }),
      h('p', { class: 'small', testid: 'campaign-conflict-text' }),
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-sm btn-primary', testid: 'campaign-conflict-reload', text: 'Reload their version (discards my edits)', onclick: () => void reloadLatest() }), h('button', { type: 'button', class: 'btn btn-sm', testid: 'campaign-conflict-dismiss', text: 'Keep editing', onclick: () => (conflict.hidden = true) })),
    )
    const archiveBox = h('div', { class: 'archive' })
    const side = h(
      'aside',
      { class: 'editor-side', 'aria-label': 'Rule check and save' },
      h('h2', { text: 'Rule check' }),
      validity,
      errorList,
      conflict,
      canWrite ? saveBtn : h('p', { class: 'muted small', text: 'Read only: your role cannot change campaigns.' }),
      saveNote,
      archiveBox,
    )
    const previewHost = h('div')
    const historyHost = h('div')
    body.replaceWith(h('div', { class: 'editor-layout' }, h('section', { class: 'panel editor-main', 'aria-label': 'Rule' }, form.form), side), previewHost, historyHost)

    form.fill(loaded ?? blank())
    form.setReadOnly(!canWrite || !!loaded?.archived)
    const history = isNew ? null : mountHistory(historyHost, ctx, { campaignId: id, versions, onRestore: (c) => (form.fill({ ...c, id }), void refreshTargets(), scheduleValidate(), ctx.banner(`Loaded version ${c.version} into the editor; save to make it current.`, 'info')) })
    mountPreview(previewHost, ctx, { draft: () => withVersion(form.read()), stores })

    const paintHead = (/** @type {Campaign|null} */ c) => {
      if (!c) return
      title.textContent = c.name
      ctx.setTitle(c.name)
      const st = c.archived ? 'archived' : c.enabled ? 'enabled' : 'disabled'
      statusPill.hidden = false
      statusPill.className = `pill pill-${st}`
      statusPill.dataset.status = st
      statusPill.textContent = st[0].toUpperCase() + st.slice(1)
      meta.textContent = `${c.id} · version ${c.version}${c.updatedAt ? ` · updated ${fmtAgo(c.updatedAt)}` : ''}`
      meta.dataset.version = String(c.version)
    }
    paintHead(loaded)

    // ---- archive (DELETE keeps it for the ledger, stops pushing it)
    if (canWrite && loaded && !loaded.archived) {
      const confirmBtn = h('button', { type: 'button', class: 'btn btn-sm btn-danger', testid: 'campaign-archive-confirm', text: 'Archive: stop it on every edge', hidden: true })
      const archiveBtn = h('button', { type: 'button', class: 'btn btn-sm btn-danger-quiet', testid: 'campaign-archive', text: 'Archive campaign…', onclick: () => ((confirmBtn.hidden = false), (archiveBtn.hidden = true)) })
      confirmBtn.addEventListener('click', async () => {
        try {
          await api(`/v1/campaigns/${encodeURIComponent(id)}`, { method: 'DELETE', signal })
          ctx.banner(`${loaded.name} is archived.`, 'info')
          ctx.navigate('#/marketing')
        } catch (err) {
          ctx.fail(err)
        }
      })
      archiveBox.append(archiveBtn, confirmBtn)
    }

    const withVersion = (/** @type {Campaign} */ c) => ({ ...c, version: baseVersion ?? 1 })

    // ---- zones for the chosen stores
    let targetsSeq = 0
    const refreshTargets = async () => {
      const seq = ++targetsSeq
      const ids = form.stores()
      const storeIds = ids.includes('*') ? stores.map((s) => s.id) : ids
      form.paintLocalTime()
      // A chain-wide rule would ask every store; the first ones show what is typical, and the
      // gateway's check still knows every store's zones.
      const asked = storeIds.slice(0, TARGET_STORES_MAX)
      try {
        const t = await loadTargets(asked, signal)
        if (seq === targetsSeq) form.setTargets(t, asked.length < storeIds.length ? `Zones of the first ${asked.length} of ${storeIds.length} stores.` : undefined)
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 403)) ctx.fail(err)
      }
    }

    // ---- validation as the user edits
    let validateSeq = 0
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    let validateTimer
    signal.addEventListener('abort', () => clearTimeout(validateTimer), { once: true })
    const scheduleValidate = () => {
      if (signal.aborted) return
      clearTimeout(validateTimer)
      validity.dataset.state = 'pending'
      validateTimer = setTimeout(() => void validate(), VALIDATE_DEBOUNCE_MS)
    }
    /** @param {string[]} errors */
    const showErrors = (errors) => {
      form.showErrors(errors)
      errorList.replaceChildren(...errors.map((e) => h('li', { class: 'rule-error', testid: 'campaign-error', text: e })))
      validity.dataset.state = errors.length ? 'invalid' : 'valid'
      validity.textContent = errors.length ? `${errors.length} ${errors.length === 1 ? 'problem' : 'problems'} to fix` : 'The rule is valid'
    }
    const validate = async () => {
      if (!canWrite) return
      const seq = ++validateSeq
      validity.dataset.state = 'checking'
      try {
        const r = await api('/v1/campaigns/validate', { method: 'POST', body: withVersion(form.read()), signal })
        if (seq === validateSeq) showErrors((r.errors ?? []).map(String))
        return !!r.ok
      } catch (err) {
        if (seq !== validateSeq) return false
        // A schema error of the draft itself comes back as a 400 whose message lists the problems.
        if (err instanceof ApiError && err.status === 400) {
          showErrors(ruleErrorsOf(err.body).length ? ruleErrorsOf(err.body) : err.message.split(/, (?=body|\/)/))
          return false
        }
        validity.dataset.state = 'idle'
        validity.textContent = 'Could not check the rule'
        ctx.fail(err)
        return false
      }
    }

    // ---- save
    const save = async () => {
      clearTimeout(validateTimer)
      saveBtn.disabled = true
      conflict.hidden = true
      saveNote.textContent = 'Saving…'
      const draft = form.read()
      try {
        const r = isNew
          ? await api('/v1/campaigns', { method: 'POST', body: draft, signal })
          : await api(`/v1/campaigns/${encodeURIComponent(id)}`, { method: 'PUT', body: withVersion(draft), signal })
        const c = /** @type {Campaign} */ (r.campaign)
        ctx.banner(`Saved ${c.name} (version ${c.version}).`, 'info')
        saveNote.textContent = `Saved version ${c.version}.`
        if (isNew) {
          ctx.navigate(`#/marketing/campaigns/${encodeURIComponent(c.id)}`)
          return
        }
        baseVersion = c.version
        loaded = c
        paintHead({ ...c, updatedAt: Date.now() })
        showErrors([])
        await history?.reload()
      } catch (err) {
        saveNote.textContent = ''
        if (isAbort(err)) return
        if (err instanceof ApiError && err.code === 'STORE_EDGE_ERR_VERSION_CONFLICT') {
          conflict.hidden = false
          conflict.querySelector('[data-testid="campaign-conflict-text"]')?.replaceChildren(`You edited version ${baseVersion}; the server has a newer one. ${err.message}`)
          return
        }
        if (err instanceof ApiError && err.status === 409) {
          showErrors([`/id: ${err.message || 'a campaign with this id already exists'}`])
          return
        }
        if (err instanceof ApiError && err.status === 400) {
          const list = ruleErrorsOf(err.body)
          if (list.length) showErrors(list)
          else if (!(await validate())) {
            /* the check lists the problems */
          } else showErrors(err.message.split(/, (?=body|\/)/))
          return
        }
        ctx.fail(err)
      } finally {
        saveBtn.disabled = false
      }
    }
    saveBtn.addEventListener('click', () => void save())

    const reloadLatest = async () => {
      try {
        const r = await fetchCampaign(id, signal)
        loaded = r.loaded
        baseVersion = r.loaded.version
        form.fill(r.loaded)
        paintHead(r.loaded)
        conflict.hidden = true
        await history?.reload()
        void refreshTargets()
        scheduleValidate()
      } catch (err) {
        ctx.fail(err)
      }
    }

    void refreshTargets()
    if (canWrite && !isNew) scheduleValidate()
  }
}

/** @param {string} id @param {AbortSignal} signal */
async function fetchCampaign(id, signal) {
  const r = await api(`/v1/campaigns/${encodeURIComponent(id)}`, { signal })
  return { loaded: /** @type {Campaign} */ (r.campaign), versions: r.versions ?? [] }
}
