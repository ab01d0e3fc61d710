// #/marketing/geofences: a store's trade-area geofences on the map, drawing a new one (circle or
// polygon, 1–3 km around the store), saving it through the geofences API (the gateway pushes the
// store's triggers config on every change), editing and deleting existing ones.
import { api, ApiError } from '../api.js'
import { fmtInt, h } from '../dom.js'
import { loadStores, subnav, toLatLng, toLocal } from './marketing-common.js'
import { clampRadius, RADIUS_MAX_M, RADIUS_MIN_M, trafficMap } from './marketing-map.js'
import { slug } from './marketing-form.js'

/**
 * @typedef {{ lat: number, lng: number }} LatLng
 * @typedef {{ id: string, name: string, shape: { kind: 'circle', center: LatLng, radiusM: number } | { kind: 'polygon', points: LatLng[] }, bufferM?: number }} Geofence
 * @typedef {import('./marketing-map.js').Draft} Draft
 */

const km = (/** @type {number} */ m) => `${(m / 1000).toFixed(2)} km`
/** "320 m E, 150 m N" of the store. */
const offset = (/** @type {{ x: number, y: number }} */ p) => `${fmtInt(Math.abs(p.x))} m ${p.x < 0 ? 'W' : 'E'}, ${fmtInt(Math.abs(p.y))} m ${p.y < 0 ? 'S' : 'N'}`

/** @param {HTMLElement} root @param {import('../app.js').ViewContext} ctx */
export function mount(root, ctx) {
  const { signal } = ctx
  ctx.setTitle('Trade areas')
  ctx.live.setStores([])
  const canWrite = ctx.can('campaigns:write')

  const storeSelect = /** @type {HTMLSelectElement} */ (h('select', { class: 'input', id: 'geofence-store', testid: 'geofence-store' }))
  const body = h('div', { class: 'geo-layout' })
  root.append(
    h('div', { class: 'page-head' }, h('h1', { text: 'Trade areas' }), subnav('geofences', canWrite)),
    h('div', { class: 'panel geo-toolbar' }, h('div', { class: 'range' }, h('label', { for: 'geofence-store', text: 'Store' }), storeSelect), h('p', { class: 'muted small', text: 'Geofences 1–3 km around a store fire on member-app location reports. Campaigns name them as zones.' })),
    body,
  )

  /** @type {import('./marketing-common.js').MktStore[]} */
  let stores = []

  void (async () => {
    try {
      stores = await loadStores(signal)
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) return ctx.forbidden(err.message)
      return ctx.fail(err)
    }
    storeSelect.replaceChildren(...stores.map((st) => h('option', { value: st.id, text: `${st.name} (${st.id})` })))
    if (!stores.length) {
      body.replaceChildren(h('p', { class: 'empty', text: 'No stores in your scope.' }))
      return
    }
    void showStore(storeSelect.value)
  })()
  storeSelect.addEventListener('change', () => void showStore(storeSelect.value))

  /** @type {AbortController|null} */
  let storeAbort = null

  /** @param {string} storeId */
  async function showStore(storeId) {
    storeAbort?.abort()
    const ac = new AbortController()
    storeAbort = ac
    signal.addEventListener('abort', () => ac.abort(), { once: true })
    const sig = ac.signal
    const store = stores.find((st) => st.id === storeId)
    if (!store) return
    body.replaceChildren(h('p', { class: 'loading', text: 'Loading…' }))
    /** @type {Geofence[]} */
    let list
    try {
      list = (await api(`/v1/stores/${encodeURIComponent(storeId)}/geofences`, { signal: sig })).geofences ?? []
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) return ctx.forbidden(err.message)
      return ctx.fail(err)
    }
    const origin = store.location ?? null
    if (!origin) return noLocation(store, list)
    mapPage(store, origin, list, sig)
  }

  /** Without a store location the map has no centre: say so, and let someone allowed set it. */
  function noLocation(/** @type {import('./marketing-common.js').MktStore} */ store, /** @type {Geofence[]} */ list) {
    const lat = /** @type {HTMLInputElement} */ (h('input', { class: 'input', id: 'store-lat', testid: 'store-lat', type: 'number', step: 'any', min: -90, max: 90 }))
    const lng = /** @type {HTMLInputElement} */ (h('input', { class: 'input', id: 'store-lng', testid: 'store-lng', type: 'number', step: 'any', min: -180, max: 180 }))
    const err = h('p', { class: 'inline-error', role: 'alert', hidden: true })
    const set = async () => {
      try {
        await api(`/v1/stores/${encodeURIComponent(store.id)}`, { method: 'PATCH', body: { location: { lat: Number(lat.value), lng: Number(lng.value) } }, signal })
        store.location = { lat: Number(lat.value), lng: Number(lng.value) }
        void showStore(store.id)
      } catch (e) {
        err.textContent = e instanceof Error ? e.message : String(e)
        err.hidden = false
      }
    }
    body.replaceChildren(
      h(
        'section',
        { class: 'panel notice', testid: 'geofence-no-location' },
        h('h2', { text: `${store.name} has no location yet` }),
        h('p', { text: 'The map is drawn in metres around the store, so it needs the store’s latitude and longitude first.' }),
        ctx.can('stores:write')
          ? h('div', { class: 'form-grid' }, h('div', { class: 'field' }, h('label', { for: 'store-lat', text: 'Latitude' }), lat), h('div', { class: 'field' }, h('label', { for: 'store-lng', text: 'Longitude' }), lng), h('div', { class: 'field' }, h('span', { class: 'label', text: '\u00a0' }), h('button', { type: 'button', class: 'btn btn-primary', testid: 'store-location-save', text: 'Set location', onclick: () => void set() })))
          : h('p', { class: 'muted', text: 'Ask an administrator to set it (PATCH /v1/stores/:id with a location).' }),
        err,
        list.length ? h('p', { class: 'muted small', text: `${list.length} geofence(s) exist for this store.` }) : null,
      ),
    )
  }

  /**
   * @param {import('./marketing-common.js').MktStore} store
   * @param {LatLng} origin
   * @param {Geofence[]} list
   * @param {AbortSignal} sig
   */
  function mapPage(store, origin, list, sig) {
    /** @type {string|null} id of the geofence being edited (PUT), null for a new one */
    let editing = null
    const local = (/** @type {Geofence} */ g) => ({
      id: g.id,
      name: g.name,
      shape: g.shape.kind === 'circle' ? { kind: /** @type {const} */ ('circle'), center: toLocal(origin, g.shape.center), radiusM: g.shape.radiusM } : { kind: /** @type {const} */ ('polygon'), points: g.shape.points.map((p) => toLocal(origin, p)) },
    })

    const cursor = h('span', { class: 'muted small geo-cursor', testid: 'geofence-cursor', text: 'Point at the map' })
    const map = trafficMap({
      storeName: store.name,
      onDraft: (d) => {
        if (d?.kind === 'polygon' && d.closed) setTool(null)
        paintDraftForm(d)
      },
      onCursor: (p) => (cursor.textContent = p ? `${offset(p)} of the store · ${km(Math.hypot(p.x, p.y))} away` : 'Point at the map'),
    })
    const toolCircle = h('button', { type: 'button', class: 'btn btn-sm', testid: 'geofence-tool-circle', 'aria-pressed': 'false', text: 'Draw circle', onclick: () => setTool('circle') })
    const toolPolygon = h('button', { type: 'button', class: 'btn btn-sm', testid: 'geofence-tool-polygon', 'aria-pressed': 'false', text: 'Draw polygon', onclick: () => setTool('polygon') })
    const hint = h('p', { class: 'muted small', testid: 'geofence-hint', text: canWrite ? 'Pick a tool to draw.' : 'Read only: your role cannot change geofences.' })
    const setTool = (/** @type {'circle'|'polygon'|null} */ t) => {
      map.setTool(t)
      toolCircle.setAttribute('aria-pressed', String(t === 'circle'))
      toolPolygon.setAttribute('aria-pressed', String(t === 'polygon'))
      hint.textContent =
        t === 'circle'
          ? `Click the centre; drag out the radius (${RADIUS_MIN_M / 1000}–${RADIUS_MAX_M / 1000} km), or type it below.`
          : t === 'polygon'
            ? 'Click each vertex; double-click (or Close shape) to close it.'
            : 'Pick a tool to draw.'
    }

    // ---- the draft's form
    const name = /** @type {HTMLInputElement} */ (h('input', { class: 'input', id: 'geofence-name', testid: 'geofence-name', maxlength: 200, autocomplete: 'off' }))
    const id = /** @type {HTMLInputElement} */ (h('input', { class: 'input', id: 'geofence-id', testid: 'geofence-id', maxlength: 64, autocomplete: 'off', spellcheck: 'false' }))
    let idTouched = false
    name.addEventListener('input', () => {
      if (!idTouched && !editing) id.value = slug(name.value)
    })
    id.addEventListener('input', () => (idTouched = true))
    const radius = /** @type {HTMLInputElement} */ (h('input', { class: 'input', id: 'geofence-radius', testid: 'geofence-radius', type: 'number', min: RADIUS_MIN_M, max: RADIUS_MAX_M, step: 10 }))
    const cx = /** @type {HTMLInputElement} */ (h('input', { class: 'input', id: 'geofence-center-east', testid: 'geofence-center-east', type: 'number', step: 10 }))
    const cy = /** @type {HTMLInputElement} */ (h('input', { class: 'input', id: 'geofence-center-north', testid: 'geofence-center-north', type: 'number', step: 10 }))
    const buffer = /** @type {HTMLInputElement} */ (h('input', { class: 'input', id: 'geofence-buffer', testid: 'geofence-buffer', type: 'number', min: 0, max: 2000, step: 10, value: '50' }))
    const circleFields = h(
      'div',
      { class: 'form-grid', hidden: true },
      h('div', { class: 'field' }, h('label', { for: 'geofence-radius', text: 'Radius (m)' }), radius),
      h('div', { class: 'field' }, h('label', { for: 'geofence-center-east', text: 'Centre east of store (m)' }), cx),
      h('div', { class: 'field' }, h('label', { for: 'geofence-center-north', text: 'Centre north of store (m)' }), cy),
    )
    const polyFields = h(
      'div',
      { class: 'actions', hidden: true },
      h('button', { type: 'button', class: 'btn btn-sm', testid: 'geofence-undo', text: 'Undo last point', onclick: () => map.undoPoint() }),
      h('button', { type: 'button', class: 'btn btn-sm', testid: 'geofence-close', text: 'Close shape', onclick: () => map.closePolygon() }),
    )
    const summary = h('p', { class: 'small', testid: 'geofence-draft-summary', text: 'Nothing drawn yet.' })
    const error = h('div', { class: 'inline-error', testid: 'geofence-error', role: 'alert', hidden: true })
    const saveBtn = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'btn btn-primary', testid: 'geofence-save', text: 'Save geofence', disabled: true }))
    const clearBtn = h('button', { type: 'button', class: 'btn', testid: 'geofence-clear', text: 'Clear', onclick: () => reset() })
    const formTitle = h('h2', { text: 'New geofence' })

    const onCircleInput = () => {
      const d = map.draft
      const r = Number(radius.value)
      const center = { x: Number(cx.value) || 0, y: Number(cy.value) || 0 }
      map.setDraft({ kind: 'circle', center: d?.kind === 'circle' && cx.value === '' ? d.center : center, radiusM: Number.isFinite(r) && r > 0 ? r : RADIUS_MIN_M })
    }
    for (const el of [radius, cx, cy]) el.addEventListener('change', onCircleInput)

    /** @param {Draft|null} d */
    function paintDraftForm(d) {
      error.hidden = true
      circleFields.hidden = d?.kind !== 'circle'
      polyFields.hidden = d?.kind !== 'polygon'
      if (!d) {
        summary.textContent = 'Nothing drawn yet.'
        saveBtn.disabled = true
        return
      }
      if (d.kind === 'circle') {
        if (document.activeElement !== radius) radius.value = String(d.radiusM)
        if (document.activeElement !== cx) cx.value = String(d.center.x)
        if (document.activeElement !== cy) cy.value = String(d.center.y)
        const inRange = d.radiusM >= RADIUS_MIN_M && d.radiusM <= RADIUS_MAX_M
        summary.textContent = `Circle, radius ${km(d.radiusM)}, centre ${offset(d.center)} of the store.${inRange ? '' : ` A trade area is ${RADIUS_MIN_M / 1000}–${RADIUS_MAX_M / 1000} km: the radius will be saved as ${km(clampRadius(d.radiusM))}.`}`
        saveBtn.disabled = false
      } else {
        summary.textContent = d.closed ? `Polygon with ${d.points.length} vertices.` : `Polygon: ${d.points.length} ${d.points.length === 1 ? 'vertex' : 'vertices'} so far${d.points.length >= 3 ? '; double-click or Close shape to finish' : ''}.`
        saveBtn.disabled = !d.closed
      }
    }

    const reset = () => {
      editing = null
      formTitle.textContent = 'New geofence'
      id.readOnly = false
      idTouched = false
      name.value = ''
      id.value = ''
      buffer.value = '50'
      map.setDraft(null)
      setTool(null)
      map.setFences(list.map(local))
    }

    const save = async () => {
      const d = map.draft
      if (!d) return
      const shape =
        d.kind === 'circle'
          ? { kind: 'circle', center: toLatLng(origin, d.center.x, d.center.y), radiusM: clampRadius(d.radiusM) }
          : { kind: 'polygon', points: d.points.map((p) => toLatLng(origin, p.x, p.y)) }
      const body = { id: id.value.trim(), name: name.value.trim(), shape, bufferM: Number(buffer.value || 50) }
      saveBtn.disabled = true
      try {
        const base = `/v1/stores/${encodeURIComponent(store.id)}/geofences`
        if (editing) await api(`${base}/${encodeURIComponent(editing)}`, { method: 'PUT', body, signal: sig })
        else await api(base, { method: 'POST', body, signal: sig })
        ctx.banner(`Saved geofence ${body.name}.`, 'info')
        list = (await api(base, { signal: sig })).geofences ?? []
        paintList()
        reset()
      } catch (err) {
        if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 403) {
          error.textContent = err.message
          error.hidden = false
        } else ctx.fail(err)
      } finally {
        saveBtn.disabled = !map.draft
      }
    }
    saveBtn.addEventListener('click', () => void save())

    // ---- existing geofences
    const rows = h('tbody', { testid: 'geofence-rows' })
    const empty = h('p', { class: 'empty', testid: 'geofence-empty', text: 'No geofences for this store yet.' })
    const paintList = () => {
      map.setFences(list.map(local), editing)
      empty.hidden = list.length > 0
      rows.replaceChildren(
        ...list.map((g) => {
          const l = local(g)
          const what = l.shape.kind === 'circle' ? `circle, radius ${km(l.shape.radiusM)}, centre ${offset(l.shape.center)}` : `polygon, ${l.shape.points.length} vertices`
          const actions = h('td', { class: 'actions' })
          if (canWrite) {
            const confirm = h('button', { type: 'button', class: 'btn btn-sm btn-danger', testid: `geofence-delete-confirm-${g.id}`, text: 'Delete: campaigns naming it stop matching', hidden: true })
            const del = h('button', { type: 'button', class: 'btn btn-sm btn-danger-quiet', testid: `geofence-delete-${g.id}`, text: 'Delete…', onclick: () => ((confirm.hidden = false), (del.hidden = true)) })
            confirm.addEventListener('click', async () => {
              try {
                await api(`/v1/stores/${encodeURIComponent(store.id)}/geofences/${encodeURIComponent(g.id)}`, { method: 'DELETE', signal: sig })
                list = list.filter((x) => x.id !== g.id)
                if (editing === g.id) reset()
                paintList()
                ctx.banner(`Deleted geofence ${g.name}.`, 'info')
              } catch (err) {
                ctx.fail(err)
              }
            })
            const edit = h('button', {
              type: 'button',
              class: 'btn btn-sm',
              testid: `geofence-edit-${g.id}`,
              text: 'Edit',
              onclick: () => {
                editing = g.id
                formTitle.textContent = `Edit ${g.name}`
                name.value = g.name
                id.value = g.id
                id.readOnly = true
                buffer.value = String(g.bufferM ?? 50)
                setTool(l.shape.kind)
                map.setDraft(l.shape.kind === 'circle' ? { kind: 'circle', center: l.shape.center, radiusM: l.shape.radiusM } : { kind: 'polygon', points: l.shape.points, closed: true })
                paintList()
              },
            })
            actions.append(edit, del, confirm)
          }
          return h('tr', { testid: `geofence-row-${g.id}` }, h('th', { scope: 'row' }, g.name, h('div', { class: 'cell-sub', text: g.id })), h('td', { text: what }), h('td', { class: 'num', text: `${fmtInt(g.bufferM ?? 50)} m` }), actions)
        }),
      )
    }

    body.replaceChildren(
      h(
        'section',
        { class: 'panel geo-map-panel', 'aria-labelledby': 'map-h' },
        h('div', { class: 'panel-head' }, h('h2', { id: 'map-h', text: `Around ${store.name}` }), canWrite ? h('div', { class: 'actions' }, toolCircle, toolPolygon) : null),
        hint,
        map.el,
        // Below the map, on a line of its own: text changing above it would move the map under the pointer.
        cursor,
        h('p', { class: 'muted small', testid: 'geofence-origin', text: `Store at ${origin.lat.toFixed(5)}, ${origin.lng.toFixed(5)}. Grid every 500 m; rings at 1, 2 and 3 km.` }),
      ),
      h(
        'div',
        { class: 'geo-side' },
        canWrite
          ? h(
              'section',
              { class: 'panel', 'aria-labelledby': 'gf-form-h', testid: 'geofence-form' },
              formTitle,
              summary,
              circleFields,
              polyFields,
              h('div', { class: 'form-grid' }, h('div', { class: 'field' }, h('label', { for: 'geofence-name', text: 'Name' }), name), h('div', { class: 'field' }, h('label', { for: 'geofence-id', text: 'Id (zone name in rules)' }), id), h('div', { class: 'field' }, h('label', { for: 'geofence-buffer', text: 'Exit buffer (m)' }), buffer)),
              error,
              h('div', { class: 'actions' }, saveBtn, clearBtn),
            )
          : null,
        h(
          'section',
          { class: 'panel', 'aria-labelledby': 'gf-list-h', testid: 'geofence-list' },
          h('h2', { id: 'gf-list-h', text: 'Geofences of this store' }),
          h('div', { class: 'table-wrap' }, h('table', { class: 'table table-dense' }, h('thead', {}, h('tr', {}, ['Name', 'Shape', 'Buffer', ''].map((t) => h('th', { scope: 'col', text: t })))), rows)),
          empty,
        ),
      ),
    )
    formTitle.id = 'gf-form-h'
    paintList()
  }
}
