// Admin: users (create with role and store scope, change role, disable/enable, delete) and the
// audit log, newest first, paged with `before`. Destructive actions confirm inline, not with
// window.confirm, which blocks the page (and which automated browsers dismiss).
import { api, ApiError } from '../api.js'
import { fmtTime, h } from '../dom.js'

const ROLES = ['ops', 'marketing', 'security', 'admin']
const AUDIT_PAGE = 100

/**
 * @typedef {{ id: string, username: string, displayName: string, role: string, stores: string[], disabled?: boolean }} AdminUser
 * @typedef {{ id: string|number, ts: number|string, actor: string, actorKind: string, action: string, target: string|null,
 *   storeId: string|null, detail: unknown, ip: string|null }} AuditEntry
 */

/** @param {HTMLElement} root @param {import('../app.js').ViewContext} ctx */
export function mount(root, ctx) {
  ctx.setTitle('Admin')
  ctx.live.setStores([]) // nothing here is live
  const { signal } = ctx
  const canWrite = ctx.can('users:write')
  /** @type {{ id: string, name: string }[]} */
  let stores = []

  root.append(h('div', { class: 'page-head' }, h('h1', { text: 'Admin' })))

  // ---- users ----------------------------------------------------------------------------------
  const usersBody = h('tbody', { testid: 'users-rows' })
  const usersSection = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'users-h', testid: 'users' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'users-h', text: 'Users' })),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'table', testid: 'users-table' },
        h('caption', { class: 'sr-only', text: 'Users of the dashboard and API' }),
        h('thead', {}, h('tr', {}, ['Username', 'Name', 'Role', 'Stores', 'Status', canWrite ? 'Actions' : null].filter(Boolean).map((t) => h('th', { scope: 'col', text: t })))),
        usersBody,
      ),
    ),
  )

  const scopeText = (/** @type {string[]} */ ids) =>
    ids.includes('*') ? 'All stores' : ids.map((id) => stores.find((s) => s.id === id)?.name ?? id).join(', ') || 'None'

  const userRow = (/** @type {AdminUser} */ u) => {
    const self = u.id === ctx.session.user.id
    const cells = [
      h('th', { scope: 'row' }, u.username, self ? h('span', { class: 'muted small', text: ' (you)' }) : null),
      h('td', { text: u.displayName }),
    ]
    if (canWrite && !self) {
      const sel = /** @type {HTMLSelectElement} */ (
        h('select', { class: 'input input-sm', 'aria-label': `Role of ${u.username}`, testid: `user-set-role-${u.username}` }, ROLES.map((r) => h('option', { value: r, text: r, selected: r === u.role })))
      )
      sel.addEventListener('change', async () => {
        try {
          await api(`/v1/users/${encodeURIComponent(u.id)}`, { method: 'PATCH', body: { role: sel.value }, signal })
          ctx.banner(`${u.username} is now ${sel.value}.`, 'info')
          void loadUsers()
          void reloadAudit()
        } catch (err) {
          sel.value = u.role
          ctx.fail(err)
        }
      })
      cells.push(h('td', {}, sel))
    } else {
      cells.push(h('td', {}, h('span', { class: 'role-badge', dataset: { role: u.role }, text: u.role })))
    }
    cells.push(h('td', { class: 'scope', text: scopeText(u.stores ?? []) }))
    cells.push(h('td', {}, h('span', { class: `pill ${u.disabled ? 'pill-off' : 'pill-on'}`, testid: `user-status-${u.username}`, text: u.disabled ? 'Disabled' : 'Active' })))
    if (canWrite) {
      const actions = h('td', { class: 'actions' })
      if (self) actions.append(h('span', { class: 'muted small', text: '—' }))
      else {
        const toggle = h('button', {
          type: 'button', class: 'btn btn-sm', testid: `user-toggle-${u.username}`, text: u.disabled ? 'Enable' : 'Disable',
          onclick: () => void mutate(`/v1/users/${encodeURIComponent(u.id)}`, 'PATCH', { disabled: !u.disabled }, `${u.username} ${u.disabled ? 'enabled' : 'disabled'}.`),
        })
        const del = h('button', { type: 'button', class: 'btn btn-sm btn-danger-quiet', testid: `user-delete-${u.username}`, text: 'Delete' })
        del.addEventListener('click', () => {
          const confirm = h('button', {
            type: 'button', class: 'btn btn-sm btn-danger', testid: `user-delete-confirm-${u.username}`, text: `Delete ${u.username}`,
            onclick: () => void mutate(`/v1/users/${encodeURIComponent(u.id)}`, 'DELETE', undefined, `${u.username} deleted.`),
          })
          const cancel = h('button', { type: 'button', class: 'btn btn-sm btn-quiet', text: 'Cancel', onclick: () => actions.replaceChildren(toggle, del) })
          actions.replaceChildren(confirm, cancel)
          confirm.focus()
        })
        actions.append(toggle, del)
      }
      cells.push(actions)
    }
    return h('tr', { testid: `user-row-${u.username}`, class: u.disabled ? 'row-disabled' : '' }, cells)
  }

  const mutate = async (path, method, body, done) => {
    try {
      await api(path, { method, body, signal })
      ctx.banner(done, 'info')
    } catch (err) {
      ctx.fail(err)
    }
    void loadUsers()
    void reloadAudit()
  }

  const loadUsers = async () => {
    if (!ctx.can('users:read')) return
    try {
      const { users } = await api('/v1/users', { signal })
      usersBody.replaceChildren(...users.map(userRow))
      if (!users.length) usersBody.append(h('tr', {}, h('td', { colspan: 6, class: 'muted', text: 'No users.' })))
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) usersSection.replaceChildren(h('p', { class: 'muted', testid: 'forbidden', text: err.message }))
      else ctx.fail(err)
    }
  }

  // ---- create form
  const storeChecks = h('div', { class: 'checks', role: 'group', 'aria-label': 'Stores in scope' })
  const scopeAll = /** @type {HTMLInputElement} */ (h('input', { type: 'radio', name: 'scope', value: 'all', id: 'scope-all', testid: 'user-scope-all', checked: true }))
  const scopeSome = /** @type {HTMLInputElement} */ (h('input', { type: 'radio', name: 'scope', value: 'some', id: 'scope-some', testid: 'user-scope-selected' }))
  const syncScope = () => {
    storeChecks.hidden = scopeAll.checked
  }
  scopeAll.addEventListener('change', syncScope)
  scopeSome.addEventListener('change', syncScope)
  const field = (id, label, input, hint) =>
    h('div', { class: 'field' }, h('label', { for: id, text: label }), input, hint ? h('span', { class: 'muted small', id: `${id}-hint`, text: hint }) : null)
  const fUser = h('input', {
    id: 'nu-username', class: 'input', testid: 'user-username', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false',
    pattern: '[a-z0-9][a-z0-9._\\-]{1,63}', 'aria-describedby': 'nu-username-hint',
  })
  const fName = h('input', { id: 'nu-name', class: 'input', testid: 'user-displayname', required: true, autocomplete: 'off' })
  const fPass = h('input', { id: 'nu-pass', class: 'input', type: 'password', testid: 'user-password', required: true, minlength: 8, autocomplete: 'new-password', 'aria-describedby': 'nu-pass-hint' })
  const fRole = h('select', { id: 'nu-role', class: 'input', testid: 'user-new-role' }, ROLES.map((r) => h('option', { value: r, text: r })))
  const formError = h('p', { class: 'form-error', role: 'alert', testid: 'user-form-error', hidden: true })
  const form = /** @type {HTMLFormElement} */ (h(
    'form',
    { class: 'user-form', testid: 'user-form', 'aria-labelledby': 'nu-h', novalidate: true },
    h('h3', { id: 'nu-h', text: 'New user' }),
    h('div', { class: 'form-grid' }, field('nu-username', 'Username', fUser, 'lowercase letters, digits, . _ -'), field('nu-name', 'Display name', fName), field('nu-pass', 'Initial password', fPass, 'at least 8 characters'), field('nu-role', 'Role', fRole)),
    h(
      'fieldset',
      { class: 'scope-set' },
      h('legend', { text: 'Store scope' }),
      h('label', { class: 'inline' }, scopeAll, ' All stores'),
      h('label', { class: 'inline' }, scopeSome, ' Selected stores'),
      storeChecks,
    ),
    formError,
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary', testid: 'user-create-submit', text: 'Create user' })),
  ))
  storeChecks.hidden = true

  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    const body = {
      username: /** @type {HTMLInputElement} */ (fUser).value.trim(),
      displayName: /** @type {HTMLInputElement} */ (fName).value.trim(),
      password: /** @type {HTMLInputElement} */ (fPass).value,
      role: /** @type {HTMLSelectElement} */ (fRole).value,
      stores: scopeAll.checked ? ['*'] : [...storeChecks.querySelectorAll('input:checked')].map((i) => /** @type {HTMLInputElement} */ (i).value),
    }
    const missing = !body.username ? 'a username' : !body.displayName ? 'a display name' : !body.password ? 'an initial password' : !body.stores.length ? 'at least one store' : ''
    formError.hidden = !missing
    if (missing) {
      formError.textContent = `Enter ${missing}.`
      return
    }
    try {
      await api('/v1/users', { method: 'POST', body, signal })
      form.reset()
      syncScope()
      ctx.banner(`User ${body.username} created.`, 'info')
      void loadUsers()
      void reloadAudit()
    } catch (err) {
      if (err instanceof ApiError && err.status !== 401) {
        formError.textContent = err.message
        formError.hidden = false
      }
      ctx.fail(err)
    }
  })

  if (ctx.can('users:read')) {
    if (canWrite) usersSection.append(form)
    root.append(usersSection)
  }

  // ---- audit log --------------------------------------------------------------------------
  const auditBody = h('tbody', { testid: 'audit-rows' })
  const moreBtn = h('button', { type: 'button', class: 'btn', testid: 'audit-load-more', text: 'Load more' })
  const auditEnd = h('p', { class: 'muted small', testid: 'audit-end', hidden: true, text: 'Start of the audit log reached.' })
  /** @type {AuditEntry['id']|null} */
  let oldest = null

  const detailText = (/** @type {unknown} */ d) => {
    if (d === null || d === undefined || d === '') return ''
    return typeof d === 'string' ? d : JSON.stringify(d)
  }
  const auditRow = (/** @type {AuditEntry} */ a) => {
    const detail = detailText(a.detail)
    return h(
      'tr',
      { testid: `audit-row-${a.id}` },
      h('td', { class: 'nowrap' }, h('time', { datetime: new Date(a.ts).toISOString(), text: fmtTime(typeof a.ts === 'string' ? Date.parse(a.ts) : a.ts, { date: true }) })),
      h('td', {}, a.actor, h('span', { class: 'muted small', text: a.actorKind && a.actorKind !== 'user' ? ` (${a.actorKind})` : '' })),
      h('td', {}, h('code', { text: a.action })),
      h('td', { text: a.target ?? '' }),
      h('td', { text: a.storeId ?? '' }),
      h('td', { class: 'detail', title: detail, text: detail.length > 120 ? `${detail.slice(0, 117)}…` : detail }),
      h('td', { class: 'nowrap muted', text: a.ip ?? '' }),
    )
  }

  const loadAudit = async (/** @type {boolean} */ more) => {
    moreBtn.setAttribute('disabled', '')
    try {
      const { entries } = await api('/v1/audit', { query: { limit: AUDIT_PAGE, before: more && oldest !== null ? oldest : undefined }, signal })
      if (!more) auditBody.replaceChildren()
      auditBody.append(...entries.map(auditRow))
      if (entries.length) oldest = entries[entries.length - 1].id
      const done = entries.length < AUDIT_PAGE
      moreBtn.hidden = done
      auditEnd.hidden = !done
      if (!auditBody.children.length) auditBody.append(h('tr', {}, h('td', { colspan: 7, class: 'muted', text: 'No audit entries yet.' })))
    } catch (err) {
      ctx.fail(err)
    } finally {
      moreBtn.removeAttribute('disabled')
    }
  }
  const reloadAudit = () => (ctx.can('audit:read') ? loadAudit(false) : Promise.resolve())
  moreBtn.addEventListener('click', () => void loadAudit(true))

  if (ctx.can('audit:read')) {
    root.append(
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'audit-h', testid: 'audit' },
        h('div', { class: 'panel-head' }, h('h2', { id: 'audit-h', text: 'Audit log' }), h('span', { class: 'muted small', text: 'newest first' })),
        h(
          'div',
          { class: 'table-wrap scroll' },
          h(
            'table',
            { class: 'table table-dense', testid: 'audit-table' },
            h('caption', { class: 'sr-only', text: 'Audit log, newest first' }),
            h('thead', {}, h('tr', {}, ['Time', 'Actor', 'Action', 'Target', 'Store', 'Detail', 'IP'].map((t) => h('th', { scope: 'col', text: t })))),
            auditBody,
          ),
        ),
        h('div', { class: 'panel-foot' }, moreBtn, auditEnd),
      ),
    )
  }

  // ---- start
  void (async () => {
    if (ctx.can('stores:read')) {
      try {
        stores = (await api('/v1/stores', { signal })).stores
        storeChecks.replaceChildren(
          ...stores.map((s) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: s.id, testid: `user-store-${s.id}` }), ` ${s.name}`, h('span', { class: 'muted small', text: ` ${s.id}` }))),
        )
        if (!stores.length) storeChecks.append(h('p', { class: 'muted', text: 'No stores yet.' }))
      } catch (err) {
        ctx.fail(err)
      }
    }
    await Promise.all([loadUsers(), reloadAudit()])
  })()
}
