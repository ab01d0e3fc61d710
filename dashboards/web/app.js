// Composition root of the dashboard: session, hash router, navigation that follows the role's
// permissions, the live-stream indicator and the error banner. Views live in views/*.js and export
// `mount(root, ctx, params)`, returning an optional cleanup; leaving a view aborts `ctx.signal`,
// which cancels its requests, timers and live listeners.
import { api, ApiError, isAbort, LiveStream, setUnauthorizedHandler } from './api.js'
import { forbidden, fmtTime, h } from './dom.js'

/**
 * @typedef {{ id: string, username: string, displayName: string, role: string, stores: string[] }} User
 * @typedef {{ user: User, permissions: string[] }} Session
 * @typedef {{
 *   session: Session,
 *   live: LiveStream,
 *   signal: AbortSignal,
 *   can: (perm: string) => boolean,
 *   fail: (err: unknown) => void,
 *   banner: (message: string, kind?: 'error'|'info') => void,
 *   navigate: (hash: string) => void,
 *   setTitle: (title: string) => void,
 *   forbidden: (message?: string) => void,
 *   loggedIn: (s: Session) => void,
 * }} ViewContext
 * @typedef {{ name: string, pattern: RegExp, load: () => Promise<{ mount: Function }>, allow?: (can: (p: string) => boolean) => boolean, public?: boolean }} Route
 */

/** @type {Route[]} */
const ROUTES = [
  { name: 'login', pattern: /^\/login$/, public: true, load: () => import('./views/login.js') },
  { name: 'overview', pattern: /^\/overview$/, allow: (can) => can('footfall:read'), load: () => import('./views/overview.js') },
  { name: 'store', pattern: /^\/stores\/([^/]+)$/, allow: (can) => can('footfall:read'), load: () => import('./views/store.js') },
  { name: 'home', pattern: /^\/home$/, allow: (can) => can('stores:read'), load: () => import('./views/home.js') },
  { name: 'marketing', pattern: /^\/marketing$/, allow: (can) => can('campaigns:read'), load: () => import('./views/marketing.js') },
  { name: 'campaign', pattern: /^\/marketing\/campaigns\/([^/]+)$/, allow: (can) => can('campaigns:read'), load: () => import('./views/marketing-editor.js') },
  { name: 'geofences', pattern: /^\/marketing\/geofences$/, allow: (can) => can('campaigns:read'), load: () => import('./views/marketing-geofences.js') },
  { name: 'admin', pattern: /^\/admin$/, allow: (can) => can('users:read') || can('audit:read'), load: () => import('./views/admin.js') },
  { name: 'security', pattern: /^\/security(?:\/([^/]+))?$/, allow: (can) => can('cameras:view'), load: () => import('./views/security.js') },
]

/** Navigation entries; `active` lists the routes that light each one up. */
const NAV = [
  { testid: 'nav-overview', label: 'Overview', href: '#/overview', active: ['overview', 'store'], show: (can) => can('footfall:read') },
  // Roles without footfall (marketing, security) get their store list here, beside their own views.
  { testid: 'nav-home', label: 'Stores', href: '#/home', active: ['home'], show: (can) => !can('footfall:read') && can('stores:read') },
  { testid: 'nav-marketing', label: 'Marketing', href: '#/marketing', active: ['marketing', 'campaign', 'geofences'], show: (can) => can('campaigns:read') },
  { testid: 'nav-security', label: 'Security', href: '#/security', active: ['security'], show: (can) => can('cameras:view') },
  { testid: 'nav-admin', label: 'Admin', href: '#/admin', active: ['admin'], show: (can) => can('users:read') || can('audit:read') },
]

const $ = (/** @type {string} */ sel) => /** @type {HTMLElement} */ (document.querySelector(sel))
const main = $('main')
const navEl = $('[data-testid="nav"]')
const sessionEl = $('.session')
const bannersEl = $('[data-testid="banners"]')
const liveEl = $('[data-testid="live-indicator"]')
const lastUpdateEl = $('[data-testid="last-update"]')

/** @type {Session|null} */
let session = null
/** Where a logged-out user was heading, to go back there after login when the role allows it. */
let pendingPath = ''
/** @type {AbortController|null} */
let viewAbort = null
let renderSeq = 0

const can = (/** @type {string} */ perm) => !!session?.permissions.includes(perm)

const live = new LiveStream({
  // The server refused the stream: find out whether the session is still there before retrying.
  onRefused: async () => {
    try {
      await api('/v1/auth/me')
      return true
    } catch (err) {
      return !(err instanceof ApiError && err.status === 401)
    }
  },
})

// ---- banner -------------------------------------------------------------------------------

/**
 * A visible, non-blocking message. The same message again bumps a counter instead of stacking.
 * @param {string} message
 * @param {'error'|'info'} [kind]
 */
function banner(message, kind = 'error') {
  for (const b of /** @type {NodeListOf<HTMLElement>} */ (bannersEl.querySelectorAll('.banner'))) {
    if (b.dataset.message === message) {
      const n = Number(b.dataset.count) + 1
      b.dataset.count = String(n)
      const c = b.querySelector('.banner-count')
      if (c) c.textContent = `×${n}`
      return
    }
  }
  const el = h(
    'div',
    { class: `banner banner-${kind}`, testid: kind === 'error' ? 'error-banner' : 'info-banner', dataset: { message, count: '1' } },
    h('span', { class: 'banner-text', text: message }),
    h('span', { class: 'banner-count' }),
    h('button', { type: 'button', class: 'banner-close', 'aria-label': 'Dismiss message', text: '×', onclick: () => el.remove() }),
  )
  bannersEl.append(el)
  while (bannersEl.children.length > 4) bannersEl.firstElementChild?.remove()
  setTimeout(() => el.remove(), kind === 'error' ? 30_000 : 6_000)
}

/** What views call with any caught error: 401 is handled globally, aborts are silent. */
function fail(err) {
  if (isAbort(err)) return
  if (err instanceof ApiError) {
    if (err.status === 401) return
    banner(err.message)
    return
  }
  console.error(err)
  banner(err instanceof Error ? `Unexpected error: ${err.message}` : 'Unexpected error')
}

// ---- session ------------------------------------------------------------------------------

setUnauthorizedHandler(() => {
  if (!session) return
  session = null
  live.close()
  pendingPath = currentPath()
  banner('Your session has ended. Please log in again.', 'info')
  go('#/login')
})

/** @param {Session} s */
function startSession(s) {
  session = s
  renderChrome()
}

function endSession() {
  session = null
  live.close()
  renderChrome()
}

async function logout() {
  try {
    await api('/v1/auth/logout', { method: 'POST', auth: false })
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) fail(err)
  }
  endSession()
  pendingPath = ''
  bannersEl.replaceChildren()
  go('#/login')
}

/** First view the role may see. */
function landing() {
  if (can('footfall:read')) return '#/overview'
  if (can('campaigns:read')) return '#/marketing'
  if (can('cameras:view')) return '#/security'
  if (can('stores:read')) return '#/home'
  if (can('users:read') || can('audit:read')) return '#/admin'
  return '#/home'
}

// ---- chrome: nav, user, live indicator ------------------------------------------------------

function renderChrome() {
  const loggedIn = !!session
  navEl.hidden = !loggedIn
  sessionEl.hidden = !loggedIn
  navEl.replaceChildren()
  if (!session) return
  const ul = h('ul', { class: 'nav-list' })
  for (const item of NAV) {
    if (!item.show(can)) continue
    ul.append(h('li', {}, h('a', { href: item.href, testid: item.testid, class: 'nav-link', dataset: { routes: item.active.join(' ') }, text: item.label })))
  }
  navEl.append(ul)
  $('[data-testid="user-name"]').textContent = session.user.displayName || session.user.username
  const roleEl = $('[data-testid="user-role"]')
  roleEl.textContent = session.user.role
  roleEl.dataset.role = session.user.role
  roleEl.title = `Role: ${session.user.role}; stores: ${session.user.stores.includes('*') ? 'all' : session.user.stores.join(', ')}`
}

function markNav(routeName) {
  for (const a of navEl.querySelectorAll('a')) {
    const on = (a.dataset.routes ?? '').split(' ').includes(routeName)
    if (on) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
}

const LIVE_TEXT = { off: 'Live: off', connecting: 'Live: connecting…', connected: 'Live: connected', reconnecting: 'Live: reconnecting…' }

live.on('state', (/** @type {keyof typeof LIVE_TEXT} */ state) => {
  liveEl.dataset.state = state
  const text = liveEl.querySelector('.live-text')
  if (text) text.textContent = LIVE_TEXT[state]
})
live.on('event', () => {
  const now = Date.now()
  lastUpdateEl.dataset.ts = String(now)
  lastUpdateEl.textContent = `Updated ${fmtTime(now)}`
})

$('[data-testid="logout"]').addEventListener('click', () => void logout())

// ---- router -------------------------------------------------------------------------------

function currentPath() {
  const p = decodeURIComponent(location.hash.replace(/^#/, ''))
  return p.startsWith('/') ? p : `/${p}`
}

/** @param {string} hash */
function go(hash) {
  if (location.hash === hash) void render()
  else location.hash = hash
}

/** @param {string} title */
function setTitle(title) {
  document.title = title ? `${title} · store-edge` : 'store-edge'
}

async function render(focus = false) {
  const seq = ++renderSeq
  const path = currentPath()
  const route = ROUTES.find((r) => r.pattern.test(path))

  if (!session && !route?.public) {
    if (path !== '/' && path !== '/login') pendingPath = path
    location.replace('#/login')
    return
  }
  if (session && (!route || route.name === 'login')) {
    location.replace(landing())
    return
  }
  if (!route) return

  viewAbort?.abort()
  viewAbort = new AbortController()
  const signal = viewAbort.signal
  document.body.dataset.route = route.name
  markNav(route.name)

  /** @type {ViewContext} */
  const ctx = {
    session: /** @type {Session} */ (session),
    live,
    signal,
    can,
    fail,
    banner,
    navigate: go,
    setTitle,
    forbidden: (message) => {
      if (!signal.aborted) main.replaceChildren(forbidden(message))
      setTitle('Not allowed')
    },
    loggedIn,
  }

  if (route.allow && !route.allow(can)) {
    live.setStores([])
    ctx.forbidden()
    return
  }

  let mod
  try {
    mod = await route.load()
  } catch (err) {
    fail(new Error(`could not load the ${route.name} view (${err instanceof Error ? err.message : err})`))
    return
  }
  if (seq !== renderSeq) return
  main.replaceChildren()
  main.setAttribute('aria-busy', 'false')
  const params = route.pattern.exec(path)?.slice(1) ?? []
  try {
    const cleanup = mod.mount(main, ctx, params)
    if (typeof cleanup === 'function') signal.addEventListener('abort', cleanup, { once: true })
  } catch (err) {
    fail(err)
  }
  if (focus) main.focus({ preventScroll: true })
}

/** Called by the login view. */
function loggedIn(/** @type {Session} */ s) {
  startSession(s)
  const want = pendingPath
  pendingPath = ''
  const route = ROUTES.find((r) => r.pattern.test(want))
  go(route && !route.public && (!route.allow || route.allow(can)) ? `#${want}` : landing())
}

window.addEventListener('hashchange', () => void render(true))

async function boot() {
  try {
    const me = await api('/v1/auth/me', { auth: false })
    startSession(me)
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) fail(err)
    endSession()
  }
  void render()
}

void boot()
