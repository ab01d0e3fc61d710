// Small DOM and formatting helpers shared by the views. Text goes in through textContent only:
// store names, user names and audit details are data, never markup.

/**
 * Create an element. Attributes: `class`, `text`, `testid` (→ data-testid), `on<event>` handlers,
 * `dataset` object, booleans (true → present, false/null/undefined → absent), anything else as an attribute.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node|string|number|null|undefined|false|(Node|string)[])} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'class') el.className = v
    else if (k === 'text') el.textContent = String(v)
    else if (k === 'testid') el.dataset.testid = v
    else if (k === 'dataset') Object.assign(el.dataset, v)
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v)
    else if (v === true) el.setAttribute(k, '')
    else el.setAttribute(k, String(v))
  }
  append(el, children)
  return el
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue
    if (Array.isArray(c)) append(el, c)
    else el.append(c instanceof Node ? c : String(c))
  }
}

/** Set text and flash the element when the value changed (a cue for a live number). */
export function setLive(el, text) {
  if (!el || el.textContent === text) return
  el.textContent = text
  el.classList.remove('flash')
  void el.offsetWidth // restart the animation
  el.classList.add('flash')
}

const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 })

/** @param {number|null|undefined} n */
export const fmtInt = (n) => (n === null || n === undefined || Number.isNaN(n) ? '—' : intFmt.format(n))

/** Seconds as "45 s", "4 min 12 s", "1 h 05 min". */
export function fmtDuration(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '—'
  s = Math.round(s)
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`
}

/**
 * @param {number|null|undefined} ms
 * @param {{ timeZone?: string, seconds?: boolean, date?: boolean }} [opts]
 */
export function fmtTime(ms, opts = {}) {
  if (!ms) return '—'
  const o = { hour: '2-digit', minute: '2-digit', hour12: false }
  if (opts.seconds !== false) o.second = '2-digit'
  if (opts.date) Object.assign(o, { year: 'numeric', month: 'short', day: '2-digit' })
  if (opts.timeZone) o.timeZone = opts.timeZone
  try {
    return new Intl.DateTimeFormat(undefined, /** @type {Intl.DateTimeFormatOptions} */ (o)).format(ms)
  } catch {
    delete o.timeZone // unknown IANA zone from a misconfigured store: fall back to local time
    return new Intl.DateTimeFormat(undefined, /** @type {Intl.DateTimeFormatOptions} */ (o)).format(ms)
  }
}

/** "3 min ago" style, for last-seen columns. */
export function fmtAgo(ms, now = Date.now()) {
  if (!ms) return 'never'
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86400)} d ago`
}

/** @param {'online'|'offline'|'unknown'|string} status */
export function statusBadge(status, testid) {
  const s = ['online', 'offline'].includes(status) ? status : 'unknown'
  return h(
    'span',
    { class: `status status-${s}`, testid, dataset: { status: s } },
    h('span', { class: 'status-dot', 'aria-hidden': 'true' }),
    h('span', { class: 'status-text', text: s[0].toUpperCase() + s.slice(1) }),
  )
}

/** Flip a badge made by statusBadge in place. */
export function setStatus(badge, status) {
  if (!badge) return
  const s = ['online', 'offline'].includes(status) ? status : 'unknown'
  badge.className = `status status-${s}`
  badge.dataset.status = s
  const t = badge.querySelector('.status-text')
  if (t) t.textContent = s[0].toUpperCase() + s.slice(1)
}

/** A KPI tile: label, big value (testid on the value), optional hint line. */
export function tile(label, testid, hint) {
  const value = h('div', { class: 'tile-value', testid, text: '—' })
  const el = h('section', { class: 'tile', 'aria-label': label }, h('h3', { class: 'tile-label', text: label }), value, hint ? h('div', { class: 'tile-hint', text: hint }) : null)
  return { el, value, hint: el.querySelector('.tile-hint') }
}

/** The page shown when the role or the store scope does not allow a view. */
export function forbidden(message) {
  return h(
    'section',
    { class: 'panel forbidden', testid: 'forbidden', role: 'alert' },
    h('h1', { text: 'Not allowed' }),
    h('p', { text: 'Your role or store scope does not include this view.' }),
    message ? h('p', { class: 'muted', text: message }) : null,
    h('p', {}, h('a', { href: '#/', text: 'Go to your start page' })),
  )
}

/** Sort helper: numbers numerically, strings by locale; missing values last in either direction. */
export function compare(a, b, dir = 1) {
  if (a === b) return 0
  if (a === null || a === undefined) return 1
  if (b === null || b === undefined) return -1
  if (typeof a === 'number' && typeof b === 'number') return (a - b) * dir
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: 'base' }) * dir
}
