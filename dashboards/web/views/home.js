// The store list of roles without footfall access (marketing lands on its campaigns, security on its
// cameras, and both come here through "Stores"; a role with no view of its own gets a note saying so).
import { api, ApiError } from '../api.js'
import { fmtAgo, h, setStatus, statusBadge } from '../dom.js'

/** @type {Record<string, { what: string, detail: string }>} */
const COMING = {}

/** @param {HTMLElement} root @param {import('../app.js').ViewContext} ctx */
export function mount(root, ctx) {
  ctx.setTitle('Stores')
  const role = ctx.session.user.role
  const coming = COMING[/** @type {keyof typeof COMING} */ (role)]
  const released = ctx.can('campaigns:read') || ctx.can('cameras:view')
  const list = h('ul', { class: 'store-cards', testid: 'home-stores' })
  const count = h('span', { class: 'muted' })

  root.append(
    h('div', { class: 'page-head' }, h('h1', { text: `Welcome, ${ctx.session.user.displayName || ctx.session.user.username}` })),
    released ? '' : h(
      'section',
      { class: 'panel notice', testid: 'placeholder', 'aria-labelledby': 'ph-h' },
      h('h2', { id: 'ph-h', text: coming ? `${coming.what} arrive in a later release` : 'Your views arrive in a later release' }),
      h(
        'p',
        {},
        coming
          ? `The ${coming.what.toLowerCase()} views for the ${role} role (${coming.detail}) are not part of this release yet. Until then, here are the stores in your scope and whether their edge nodes are online.`
          : 'No dashboard view is released for your role yet. Here are the stores in your scope.',
      ),
    ),
    h('section', { class: 'panel', 'aria-labelledby': 'hs-h' }, h('div', { class: 'panel-head' }, h('h2', { id: 'hs-h', text: 'Your stores' }), count), list),
  )

  /** @type {Map<string, HTMLElement>} */
  const badges = new Map()

  const load = async () => {
    if (!ctx.can('stores:read')) return
    try {
      const { stores } = await api('/v1/stores', { signal: ctx.signal })
      list.replaceChildren()
      badges.clear()
      for (const s of stores) {
        const badge = statusBadge(s.status, `store-status-${s.id}`)
        badges.set(s.id, badge)
        list.append(
          h(
            'li',
            { class: 'store-card', testid: `home-store-${s.id}` },
            h('div', { class: 'store-card-name', text: s.name }),
            h('div', { class: 'muted small', text: `${s.id} · ${s.timezone}` }),
            h('div', { class: 'store-card-foot' }, badge, h('span', { class: 'muted small', text: `seen ${fmtAgo(s.lastSeenAt)}` })),
          ),
        )
      }
      if (!stores.length) list.append(h('li', { class: 'muted', text: 'No stores in your scope.' }))
      count.textContent = `${stores.length} ${stores.length === 1 ? 'store' : 'stores'}`
      ctx.live.setStores('*')
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) ctx.forbidden(err.message)
      else ctx.fail(err)
    }
  }

  ctx.live.on('health', (/** @type {import('../api.js').HealthEvent} */ e) => setStatus(badges.get(e.storeId), e.status), ctx.signal)
  void load()
}
