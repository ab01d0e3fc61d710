// The rule form: one input for every Campaign field, grouped the way a marketer thinks of a
// campaign (where and when it fires, who gets it, how often, what they get). `read()` turns the
// inputs into a Campaign draft, `fill()` does the reverse, `showErrors()` puts each rule problem
// (`/path: problem`, as the gateway words them) next to the field it is about.
import { h } from '../dom.js'
import { EVENT_LABELS, KIND_LABELS, localNow, SOURCE_LABELS, SOURCES, WEEKDAYS } from './marketing-common.js'

/** @typedef {import('./marketing-common.js').Campaign} Campaign @typedef {import('./marketing-common.js').MktStore} MktStore */
/** @typedef {Map<string, import('./marketing-common.js').Target & { stores: string[] }>} Targets */

const num = (/** @type {HTMLInputElement} */ el) => (el.value.trim() === '' ? undefined : Number(el.value))
const list = (/** @type {HTMLInputElement} */ el) =>
  el.value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
const minutesToS = (/** @type {number|undefined} */ m) => (m === undefined ? undefined : Number.isFinite(m) ? Math.round(m * 60) : m)
const sToMinutes = (/** @type {number|undefined} */ s) => (s === undefined || s === null ? '' : String(Math.round((s / 60) * 100) / 100))

/** Kebab-case id from a name, as the contract's id pattern wants (`^[a-z0-9][a-z0-9_-]{0,63}$`). */
export const slug = (/** @type {string} */ s) =>
  s
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)

/**
 * @param {{ isNew: boolean, stores: MktStore[], allStores: boolean, onChange: () => void, onStoresChange: () => void }} opts
 *   allStores: the user's scope is every store (only then may a rule say "*")
 */
export function campaignForm(opts) {
  /** @type {Map<string, HTMLElement>} error slot per dotted path */
  const slots = new Map()
  const input = (/** @type {string} */ testid, /** @type {Record<string, any>} */ attrs = {}) =>
    /** @type {HTMLInputElement} */ (h('input', { class: 'input', id: testid, testid, ...attrs }))
  const slot = (/** @type {string} */ path) => {
    const el = h('p', { class: 'field-error', testid: `field-error-${path}`, role: 'alert', hidden: true })
    slots.set(path, el)
    return el
  }
  const field = (/** @type {string} */ label, /** @type {HTMLElement} */ el, /** @type {string} */ path, /** @type {string} */ hint = '') =>
    h('div', { class: 'field', dataset: { path } }, h('label', { for: el.id, text: label }), el, hint ? h('span', { class: 'hint', text: hint }) : null, slot(path))
  const check = (/** @type {string} */ testid, /** @type {string} */ label, /** @type {Record<string, any>} */ attrs = {}) => {
    const el = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: testid, testid, ...attrs }))
    return { el, wrap: h('label', { class: 'check', for: testid }, el, ` ${label}`) }
  }
  const group = (/** @type {string} */ title, /** @type {string} */ path, ...children) =>
    h('fieldset', { class: 'rule-group', dataset: { path } }, h('legend', { text: title }), ...children, slot(path))

  // ---- what and where
  const name = input('cf-name', { maxlength: 200, required: true, autocomplete: 'off' })
  const id = input('cf-id', { maxlength: 64, pattern: '[a-z0-9][a-z0-9_-]{0,63}', autocomplete: 'off', spellcheck: 'false' })
  let idTouched = !opts.isNew
  if (!opts.isNew) id.readOnly = true
  name.addEventListener('input', () => {
    if (!idTouched) id.value = slug(name.value)
  })
  id.addEventListener('input', () => (idTouched = true))
  const enabled = check('cf-enabled', 'Enabled (pushed to the edges and evaluated live)', { checked: true })

  const allStores = check('cf-store-all', 'All stores (also stores added later)')
  // A rule for every store needs every store in scope (the gateway refuses it otherwise).
  if (!opts.allStores) allStores.wrap.hidden = true
  const storeChecks = opts.stores.map((s) => ({ id: s.id, ...check(`cf-store-${s.id}`, `${s.name} (${s.timezone})`) }))
  const storesBox = h('div', { class: 'checks' }, allStores.wrap, storeChecks.map((s) => s.wrap))
  const syncAll = () => storeChecks.forEach((s) => (s.el.disabled = allStores.el.checked))
  allStores.el.addEventListener('change', () => {
    syncAll()
    opts.onStoresChange()
  })
  for (const s of storeChecks) s.el.addEventListener('change', opts.onStoresChange)

  const event = /** @type {HTMLSelectElement} */ (
    h('select', { class: 'input', id: 'cf-event', testid: 'cf-event' }, Object.entries(EVENT_LABELS).map(([v, l]) => h('option', { value: v, text: l })))
  )
  const zonesBox = h('div', { class: 'checks zone-checks', testid: 'cf-zones' })
  const visitBox = h('div', { class: 'checks zone-checks', testid: 'cf-visit-zones' })
  const dwellMin = input('cf-dwell-min', { type: 'number', min: 0, step: 'any', inputmode: 'decimal' })
  const sourceChecks = SOURCES.map((s) => ({ id: s, ...check(`cf-source-${s}`, SOURCE_LABELS[s]) }))
  const visitGroup = group('Visit must have reached (exit only)', 'visitZones', h('p', { class: 'hint', text: 'A departure coupon only for visits that reached one of these zones. None: any visit.' }), visitBox)

  // ---- audience
  const membersOnly = check('cf-members-only', 'Members only (a coupon needs someone to push to)', { checked: true })
  const tiers = input('cf-tiers', { placeholder: 'e.g. 2, 3', autocomplete: 'off' })
  const tagsAny = input('cf-tags-any', { placeholder: 'e.g. beauty, vip', autocomplete: 'off' })
  const tagsAll = input('cf-tags-all', { autocomplete: 'off' })
  const firstVisit = check('cf-first-visit', 'First recorded visit to the store only')
  const lapsedDays = input('cf-lapsed-days', { type: 'number', min: 1, max: 3650, step: 1 })

  // ---- schedule
  const dayChecks = WEEKDAYS.map((d, i) => ({ day: i, ...check(`cf-day-${i}`, d) }))
  const start = input('cf-start', { type: 'time' })
  const end = input('cf-end', { type: 'time' })
  const from = input('cf-from', { type: 'date' })
  const until = input('cf-until', { type: 'date' })
  const quietRows = h('div', { class: 'quiet-rows', testid: 'cf-quiet' })
  /** @type {{ start: HTMLInputElement, end: HTMLInputElement, row: HTMLElement }[]} */
  let quiet = []
  const addQuiet = (/** @type {{ start: string, end: string }} */ q = { start: '22:00', end: '08:00' }) => {
    const i = quiet.length
    const qs = input(`cf-quiet-start-${i}`, { type: 'time', value: q.start, 'aria-label': `Quiet hours ${i + 1} from` })
    const qe = input(`cf-quiet-end-${i}`, { type: 'time', value: q.end, 'aria-label': `Quiet hours ${i + 1} until` })
    const entry = { start: qs, end: qe, row: h('div') }
    const remove = h('button', {
      type: 'button',
      class: 'btn btn-sm btn-quiet',
      testid: `cf-quiet-remove-${i}`,
      text: 'Remove',
      onclick: () => {
        quiet = quiet.filter((x) => x !== entry)
        entry.row.remove()
        opts.onChange()
      },
    })
    entry.row = h('div', { class: 'quiet-row' }, qs, h('span', { text: '–' }), qe, remove, slot(`schedule.quietHours.${i}`))
    quiet.push(entry)
    quietRows.append(entry.row)
  }
  const tzNote = h('p', { class: 'hint', testid: 'schedule-local-note' })

  // ---- caps and arbitration
  const capDay = input('cf-cap-day', { type: 'number', min: 1, step: 1 })
  const capWeek = input('cf-cap-week', { type: 'number', min: 1, step: 1 })
  const capCampaign = input('cf-cap-campaign', { type: 'number', min: 1, step: 1 })
  const cooldownMin = input('cf-cooldown-min', { type: 'number', min: 0, step: 'any' })
  const budget = input('cf-budget', { type: 'number', min: 1, step: 1 })
  const holdout = input('cf-holdout', { type: 'number', min: 0, max: 50, step: 'any', value: '0' })
  const priority = input('cf-priority', { type: 'number', min: 0, max: 1000, step: 1, value: '100' })
  const exclusiveGroup = input('cf-group', { autocomplete: 'off', placeholder: 'e.g. arrival' })
  const lateAfterS = input('cf-late-s', { type: 'number', min: 10, max: 86400, step: 1, value: '900' })

  // ---- coupon
  const templateId = input('cf-template', { autocomplete: 'off', value: 'coupon' })
  const title = input('cf-title', { maxlength: 100, autocomplete: 'off' })
  const body = /** @type {HTMLTextAreaElement} */ (h('textarea', { class: 'input', id: 'cf-body', testid: 'cf-body', maxlength: 500, rows: 2 }))
  const valueKind = /** @type {HTMLSelectElement} */ (
    h('select', { class: 'input', id: 'cf-value-kind', testid: 'cf-value-kind' }, h('option', { value: 'amount', text: 'Amount off' }), h('option', { value: 'percent', text: 'Percent off' }), h('option', { value: 'none', text: 'No value' }))
  )
  const value = input('cf-value', { type: 'number', min: 0, step: 'any' })
  const validHours = input('cf-valid-hours', { type: 'number', min: 0.25, max: 2160, step: 'any', value: '24' })

  const form = /** @type {HTMLFormElement} */ (
    h(
      'form',
      { class: 'rule-form', testid: 'campaign-form', novalidate: true },
      group(
        'Campaign',
        'campaign',
        h('div', { class: 'form-grid' }, field('Name', name, 'name'), field('Id', id, 'id', opts.isNew ? 'Lower case, digits, - and _; cannot change later.' : 'Fixed once created.')),
        enabled.wrap,
        slot('enabled'),
      ),
      group('Stores', 'stores', storesBox),
      group(
        'Trigger',
        'trigger',
        h('div', { class: 'form-grid' }, field('Event', event, 'event'), field('Dwell (minutes)', dwellMin, 'dwellS', 'Dwell: fire once the stay reaches this. Exit: the stay must have lasted this long.')),
        h('div', { class: 'field', dataset: { path: 'zones' } }, h('span', { class: 'label', id: 'zones-label', text: 'Zones' }), zonesBox, slot('zones')),
        h('div', { class: 'field', dataset: { path: 'sources' } }, h('span', { class: 'label', text: 'Sources (none ticked: any)' }), h('div', { class: 'checks' }, sourceChecks.map((s) => s.wrap)), slot('sources')),
      ),
      visitGroup,
      group(
        'Audience',
        'audience',
        membersOnly.wrap,
        h('div', { class: 'form-grid' }, field('Tiers (any of)', tiers, 'audience.tiers', 'Comma separated, e.g. 2, 3'), field('Tags: any of', tagsAny, 'audience.tagsAny'), field('Tags: all of', tagsAll, 'audience.tagsAll'), field('Lapsed (days since last visit)', lapsedDays, 'audience.lapsedDays')),
        firstVisit.wrap,
      ),
      group(
        'Schedule (store local time)',
        'schedule',
        tzNote,
        h('div', { class: 'field', dataset: { path: 'schedule.days' } }, h('span', { class: 'label', text: 'Days (none ticked: every day)' }), h('div', { class: 'days' }, dayChecks.map((d) => d.wrap)), slot('schedule.days')),
        h('div', { class: 'form-grid' }, field('From time', start, 'schedule.start', 'Inclusive; empty: 00:00'), field('Until time', end, 'schedule.end', 'Exclusive; earlier than start spans midnight'), field('First day', from, 'schedule.from'), field('Last day', until, 'schedule.until')),
        h(
          'div',
          { class: 'field', dataset: { path: 'schedule.quietHours' } },
          h('span', { class: 'label', text: 'Quiet hours (nothing is pushed)' }),
          quietRows,
          h('button', { type: 'button', class: 'btn btn-sm', testid: 'cf-quiet-add', text: 'Add quiet hours', onclick: () => (addQuiet(), opts.onChange()) }),
          slot('schedule.quietHours'),
        ),
      ),
      group(
        'Caps and budget',
        'caps',
        h(
          'div',
          { class: 'form-grid' },
          field('Per member per day', capDay, 'caps.perMemberPerDay', 'Local day of the store'),
          field('Per member per week', capWeek, 'caps.perMemberPerWeek', 'Rolling 7 days'),
          field('Per member, whole campaign', capCampaign, 'caps.perMemberPerCampaign'),
          field('Cooldown (minutes)', cooldownMin, 'caps.cooldownS', 'Least time between two coupons to one member'),
          field('Total budget (coupons)', budget, 'caps.budget'),
        ),
      ),
      group(
        'Arbitration and measurement',
        'arbitration',
        h(
          'div',
          { class: 'form-grid' },
          field('Holdout %', holdout, 'holdoutPct', '0–50: members held out to measure uplift'),
          field('Priority', priority, 'priority', 'Higher wins within an exclusive group'),
          field('Exclusive group', exclusiveGroup, 'exclusiveGroup', 'One coupon per member per event within the group'),
          field('Drop when late by (s)', lateAfterS, 'lateAfterS', 'Requests older than this reach no one'),
        ),
      ),
      group(
        'Coupon',
        'coupon',
        h(
          'div',
          { class: 'form-grid' },
          field('Title', title, 'coupon.title'),
          field('Push template id', templateId, 'coupon.templateId'),
          field('Value', valueKind, 'coupon.valueKind'),
          field('Amount / percent', value, 'coupon.value', 'Amount in currency units, or 1–100 %'),
          field('Valid for (hours)', validHours, 'coupon.validHours'),
        ),
        field('Message', /** @type {HTMLElement} */ (body), 'coupon.body'),
      ),
    )
  )
  form.addEventListener('submit', (e) => e.preventDefault())
  form.addEventListener('input', () => opts.onChange())
  form.addEventListener('change', () => opts.onChange())

  // ---- zones offered for the chosen stores
  /** @type {Targets} */
  let targets = new Map()
  /** Zone ids ticked, kept across re-renders of the lists (targets reload when stores change). */
  let zonesPicked = new Set()
  let visitPicked = new Set()

  const zoneList = (/** @type {HTMLElement} */ box, /** @type {Set<string>} */ picked, /** @type {string} */ prefix, /** @type {(k: string) => boolean} */ kindOk) => {
    box.replaceChildren()
    const byKind = new Map()
    for (const t of targets.values()) if (kindOk(t.kind)) byKind.set(t.kind, [...(byKind.get(t.kind) ?? []), t])
    const unknown = [...picked].filter((z) => !targets.has(z))
    for (const [kind, ts] of byKind) {
      box.append(h('div', { class: 'zone-kind', text: KIND_LABELS[/** @type {keyof typeof KIND_LABELS} */ (kind)] ?? kind }))
      for (const t of ts) {
        const c = check(`${prefix}-${t.id}`, t.name && t.name !== t.id ? `${t.name} (${t.id})` : t.id, { checked: picked.has(t.id), value: t.id })
        c.el.addEventListener('change', () => (c.el.checked ? picked.add(t.id) : picked.delete(t.id)))
        box.append(c.wrap)
      }
    }
    if (unknown.length) {
      box.append(h('div', { class: 'zone-kind zone-unknown', text: 'Not found in the chosen stores' }))
      for (const z of unknown) {
        const c = check(`${prefix}-${z}`, z, { checked: true, value: z })
        c.el.addEventListener('change', () => (c.el.checked ? picked.add(z) : picked.delete(z)))
        box.append(c.wrap)
      }
    }
    if (!box.children.length) box.append(h('p', { class: 'muted small', text: 'Pick a store to see its zones, car park and trade areas.' }))
  }
  const paintZones = () => {
    zoneList(zonesBox, zonesPicked, 'cf-zone', () => true)
    zoneList(visitBox, visitPicked, 'cf-visit', (k) => k !== 'trade-area')
  }
  const syncEvent = () => {
    visitGroup.hidden = event.value !== 'exit'
  }
  event.addEventListener('change', syncEvent)
  const syncValue = () => {
    value.disabled = valueKind.value === 'none'
    value.max = valueKind.value === 'percent' ? '100' : ''
  }
  valueKind.addEventListener('change', syncValue)

  return {
    form,
    /** Stores ticked: ['*'] for all. */
    stores() {
      if (allStores.el.checked) return ['*']
      return storeChecks.filter((s) => s.el.checked).map((s) => s.id)
    },
    /** @param {Targets} t @param {string} [note] said above the zones (e.g. when only some stores were asked) */
    setTargets(t, note) {
      targets = t
      paintZones()
      if (note) zonesBox.prepend(h('p', { class: 'hint', testid: 'cf-zones-note', text: note }))
    },
    /** "Times are local: Alpha (Asia/Shanghai) now Wed 23:05 …" for the chosen stores. */
    paintLocalTime() {
      const ids = this.stores()
      const chosen = ids.includes('*') ? opts.stores : opts.stores.filter((s) => ids.includes(s.id))
      const now = Date.now()
      const zones = new Map()
      for (const s of chosen) zones.set(s.timezone, [...(zones.get(s.timezone) ?? []), s.name])
      tzNote.textContent = chosen.length
        ? `Days and times are each store’s local time. Now: ${[...zones].map(([tz, names]) => `${localNow(now, tz)} in ${tz} (${names.slice(0, 3).join(', ')}${names.length > 3 ? ` +${names.length - 3}` : ''})`).join('; ')}.`
        : 'Days and times are each store’s local time.'
    },
    /** The draft as the API takes it (no version: the editor adds the one it loaded). @returns {Campaign} */
    read() {
      const kind = valueKind.value
      const v = num(value)
      /** @type {any} */
      const c = {
        id: id.value.trim(),
        name: name.value.trim(),
        enabled: enabled.el.checked,
        stores: this.stores(),
        event: /** @type {Campaign['event']} */ (event.value),
        zones: [...zonesPicked],
        audience: { membersOnly: membersOnly.el.checked },
        schedule: {},
        caps: {},
        holdoutPct: num(holdout) ?? 0,
        priority: num(priority) ?? 100,
        lateAfterS: num(lateAfterS) ?? 900,
        coupon: { templateId: templateId.value.trim(), title: title.value.trim(), body: body.value, validHours: num(validHours) ?? 24 },
      }
      const dwell = minutesToS(num(dwellMin))
      if (dwell !== undefined) c.dwellS = dwell
      const srcs = sourceChecks.filter((s) => s.el.checked).map((s) => s.id)
      if (srcs.length) c.sources = srcs
      if (event.value === 'exit' && visitPicked.size) c.visitZones = [...visitPicked]
      const a = c.audience
      const t = list(tiers).map(Number)
      if (t.length) a.tiers = t
      if (list(tagsAny).length) a.tagsAny = list(tagsAny)
      if (list(tagsAll).length) a.tagsAll = list(tagsAll)
      if (firstVisit.el.checked) a.firstVisit = true
      if (num(lapsedDays) !== undefined) a.lapsedDays = num(lapsedDays)
      const s = c.schedule
      const days = dayChecks.filter((d) => d.el.checked).map((d) => d.day)
      if (days.length) s.days = days
      if (start.value) s.start = start.value
      if (end.value) s.end = end.value
      if (quiet.length) s.quietHours = quiet.map((q) => ({ start: q.start.value, end: q.end.value }))
      if (from.value) s.from = from.value
      if (until.value) s.until = until.value
      const caps = c.caps
      for (const [k, el] of /** @type {const} */ ([['perMemberPerDay', capDay], ['perMemberPerWeek', capWeek], ['perMemberPerCampaign', capCampaign], ['budget', budget]])) {
        if (num(el) !== undefined) caps[k] = num(el)
      }
      const cd = minutesToS(num(cooldownMin))
      if (cd !== undefined) caps.cooldownS = cd
      if (exclusiveGroup.value.trim()) c.exclusiveGroup = exclusiveGroup.value.trim()
      if (kind === 'amount' && v !== undefined) c.coupon.valueCents = Number.isFinite(v) ? Math.round(v * 100) : v
      if (kind === 'percent' && v !== undefined) c.coupon.percentOff = v
      return c
    },
    /** @param {Partial<Campaign>} c */
    fill(c) {
      name.value = c.name ?? ''
      id.value = c.id ?? ''
      enabled.el.checked = c.enabled ?? true
      const st = c.stores ?? []
      allStores.el.checked = st.includes('*')
      for (const s of storeChecks) s.el.checked = st.includes(s.id)
      syncAll()
      event.value = c.event ?? 'enter'
      zonesPicked = new Set(c.zones ?? [])
      visitPicked = new Set(c.visitZones ?? [])
      dwellMin.value = sToMinutes(c.dwellS)
      for (const s of sourceChecks) s.el.checked = !!c.sources?.includes(s.id)
      const a = c.audience ?? {}
      membersOnly.el.checked = a.membersOnly ?? true
      tiers.value = (a.tiers ?? []).join(', ')
      tagsAny.value = (a.tagsAny ?? []).join(', ')
      tagsAll.value = (a.tagsAll ?? []).join(', ')
      firstVisit.el.checked = !!a.firstVisit
      lapsedDays.value = a.lapsedDays === undefined ? '' : String(a.lapsedDays)
      const s = c.schedule ?? {}
      for (const d of dayChecks) d.el.checked = !!s.days?.includes(d.day)
      start.value = s.start ?? ''
      end.value = s.end ?? ''
      from.value = s.from ?? ''
      until.value = s.until ?? ''
      quiet = []
      quietRows.replaceChildren()
      for (const q of s.quietHours ?? []) addQuiet(q)
      const caps = c.caps ?? {}
      capDay.value = caps.perMemberPerDay === undefined ? '' : String(caps.perMemberPerDay)
      capWeek.value = caps.perMemberPerWeek === undefined ? '' : String(caps.perMemberPerWeek)
      capCampaign.value = caps.perMemberPerCampaign === undefined ? '' : String(caps.perMemberPerCampaign)
      cooldownMin.value = sToMinutes(caps.cooldownS)
      budget.value = caps.budget === undefined ? '' : String(caps.budget)
      holdout.value = String(c.holdoutPct ?? 0)
      priority.value = String(c.priority ?? 100)
      exclusiveGroup.value = c.exclusiveGroup ?? ''
      lateAfterS.value = String(c.lateAfterS ?? 900)
      const cp = c.coupon ?? { templateId: 'coupon', title: '' }
      templateId.value = cp.templateId ?? ''
      title.value = cp.title ?? ''
      body.value = cp.body ?? ''
      validHours.value = String(cp.validHours ?? 24)
      if (cp.percentOff !== undefined && cp.percentOff !== null) {
        valueKind.value = 'percent'
        value.value = String(cp.percentOff)
      } else if (cp.valueCents !== undefined && cp.valueCents !== null) {
        valueKind.value = 'amount'
        value.value = String(cp.valueCents / 100)
      } else {
        valueKind.value = c.id ? 'none' : 'amount'
        value.value = ''
      }
      syncEvent()
      syncValue()
      paintZones()
    },
    /** @param {boolean} readOnly */
    setReadOnly(readOnly) {
      for (const fs of form.querySelectorAll('fieldset')) /** @type {HTMLFieldSetElement} */ (fs).disabled = readOnly
    },
    /**
     * Put each problem under its field; return those no field claims.
     * @param {string[]} errors
     * @returns {string[]}
     */
    showErrors(errors) {
      for (const el of slots.values()) {
        el.hidden = true
        el.textContent = ''
      }
      for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid')
      /** @type {string[]} */
      const unclaimed = []
      for (const e of errors) {
        const target = slotFor(e)
        if (!target) {
          unclaimed.push(e)
          continue
        }
        const el = /** @type {HTMLElement} */ (slots.get(target))
        el.hidden = false
        el.append(h('span', { class: 'field-error-line', text: e.replace(/^[^:]*?\/[\w/.-]*:?\s*/, '') || e }))
        el.closest('.field, fieldset')?.querySelector('input, select, textarea')?.setAttribute('aria-invalid', 'true')
      }
      return unclaimed
    },
  }

  /** The deepest slot a problem's JSON path names: `/caps/perMemberPerDay` → caps.perMemberPerDay, `/zones/0` → zones. */
  function slotFor(/** @type {string} */ e) {
    const m = /(?:^|\s|body|campaign)(\/[A-Za-z0-9_/]*)/.exec(e)
    if (!m) return /valueCents|percentOff/.test(e) ? 'coupon.valueKind' : null
    const parts = m[1].split('/').filter(Boolean)
    if (parts[0] === 'campaign') parts.shift()
    // A value problem is about the one "value" input, whichever key it went to.
    if (parts[0] === 'coupon' && (parts[1] === 'valueCents' || parts[1] === 'percentOff')) return 'coupon.value'
    if (parts[0] === 'coupon' && parts.length === 1) return 'coupon.valueKind'
    for (let n = parts.length; n > 0; n--) {
      const key = parts.slice(0, n).join('.')
      if (slots.has(key)) return key
    }
    if (['schedule', 'audience', 'caps'].includes(parts[0] ?? '')) return parts[0] === 'caps' ? 'caps' : parts[0] === 'schedule' ? 'schedule' : 'audience'
    return null
  }
}
