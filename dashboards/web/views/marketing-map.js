// The trade-area map: an SVG in local metres around the store (east right, north up), with no
// tiles (edges and head office may have no internet): a grid, 1/2/3 km rings, a scale bar, the
// store, the store's geofences and the one being drawn. Drawing: a circle is a click on its
// centre and a drag (or the radius field) for its size; a polygon is clicks on its vertices and a
// double-click (or "Close shape") to close it.

const SVG = 'http://www.w3.org/2000/svg'
export const EXTENT_M = 5000
export const RADIUS_MIN_M = 1000
export const RADIUS_MAX_M = 3000
/** Two clicks closer than this are one vertex (a double-click's own clicks). */
const SAME_POINT_M = 40

/** @typedef {{ x: number, y: number }} Pt local metres: x east, y north */
/** @typedef {{ kind: 'circle', center: Pt, radiusM: number } | { kind: 'polygon', points: Pt[], closed: boolean }} Draft */
/** @typedef {{ id: string, name: string, shape: { kind: 'circle', center: Pt, radiusM: number } | { kind: 'polygon', points: Pt[] } }} LocalFence */

/**
 * @param {Record<string, any>} attrs
 * @param {string} tag
 */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'testid') el.setAttribute('data-testid', v)
    else if (k === 'text') el.textContent = String(v)
    else el.setAttribute(k, String(v))
  }
  for (const c of children) if (c) el.append(c)
  return el
}

export const clampRadius = (/** @type {number} */ r) => Math.min(RADIUS_MAX_M, Math.max(RADIUS_MIN_M, Math.round(r / 10) * 10))

/**
 * @param {{ storeName: string, onDraft: (d: Draft|null) => void, onCursor?: (p: Pt|null) => void }} opts
 */
export function trafficMap(opts) {
  const E = EXTENT_M
  const svg = /** @type {SVGSVGElement} */ (
    s('svg', { class: 'geo-map', viewBox: `${-E} ${-E} ${2 * E} ${2 * E}`, role: 'img', 'aria-label': `Map of the trade area around ${opts.storeName}, ${E / 1000} km each way; grid every 500 m`, testid: 'geofence-map', 'data-tool': '' })
  )
  const grid = s('g', { class: 'geo-grid' })
  for (let v = -E; v <= E; v += 500) {
    const major = v % 1000 === 0
    grid.append(s('line', { x1: v, y1: -E, x2: v, y2: E, class: major ? 'grid-major' : 'grid-minor', 'vector-effect': 'non-scaling-stroke' }))
    grid.append(s('line', { x1: -E, y1: v, x2: E, y2: v, class: major ? 'grid-major' : 'grid-minor', 'vector-effect': 'non-scaling-stroke' }))
  }
  const rings = s('g', { class: 'geo-rings' })
  for (const km of [1, 2, 3]) {
    rings.append(s('circle', { cx: 0, cy: 0, r: km * 1000, class: 'ring', 'vector-effect': 'non-scaling-stroke' }))
    rings.append(s('text', { x: km * 1000 * Math.SQRT1_2 + 40, y: -km * 1000 * Math.SQRT1_2 - 40, class: 'ring-label', text: `${km} km` }))
  }
  const north = s('g', { class: 'geo-north', transform: `translate(${E - 350} ${-E + 420})` }, s('path', { d: 'M0 -250 L90 60 L0 10 L-90 60 Z' }), s('text', { x: 0, y: 230, 'text-anchor': 'middle', text: 'N' }))
  const scale = s(
    'g',
    { class: 'geo-scale', transform: `translate(${-E + 300} ${E - 300})`, testid: 'geofence-scale' },
    s('rect', { x: 0, y: -60, width: 1000, height: 60, class: 'scale-a' }),
    s('rect', { x: 1000, y: -60, width: 1000, height: 60, class: 'scale-b' }),
    s('text', { x: 0, y: -110, text: '0' }),
    s('text', { x: 1000, y: -110, 'text-anchor': 'middle', text: '1 km' }),
    s('text', { x: 2000, y: -110, 'text-anchor': 'middle', text: '2 km' }),
  )
  const fences = s('g', { class: 'geo-fences' })
  const draftG = s('g', { class: 'geo-draft', testid: 'geofence-draft' })
  const store = s('g', { class: 'geo-store', testid: 'geofence-store-marker' }, s('circle', { cx: 0, cy: 0, r: 90 }), s('text', { x: 0, y: 260, 'text-anchor': 'middle', text: opts.storeName }))
  svg.append(s('rect', { x: -E, y: -E, width: 2 * E, height: 2 * E, class: 'geo-bg' }), grid, rings, fences, store, draftG, scale, north)

  /** @type {'circle'|'polygon'|null} */
  let tool = null
  /** @type {Draft|null} */
  let draft = null
  let dragging = false

  const toMap = (/** @type {MouseEvent} */ e) => {
    const pt = svg.createSVGPoint()
    pt.x = e.clientX
    pt.y = e.clientY
    const m = svg.getScreenCTM()
    const p = m ? pt.matrixTransform(m.inverse()) : pt
    return { x: Math.round(p.x), y: Math.round(-p.y) }
  }
  const changed = () => {
    paintDraft()
    opts.onDraft(draft)
  }

  function paintDraft() {
    draftG.replaceChildren()
    if (!draft) return
    if (draft.kind === 'circle') {
      const { center: c, radiusM } = draft
      draftG.append(
        s('circle', { cx: c.x, cy: -c.y, r: radiusM, class: 'draft-shape', 'vector-effect': 'non-scaling-stroke', testid: 'geofence-draft-circle', 'data-radius': radiusM }),
        s('line', { x1: c.x, y1: -c.y, x2: c.x + radiusM, y2: -c.y, class: 'draft-radius', 'vector-effect': 'non-scaling-stroke' }),
        s('circle', { cx: c.x, cy: -c.y, r: 50, class: 'draft-handle' }),
        s('text', { x: c.x + radiusM / 2, y: -c.y - 60, 'text-anchor': 'middle', class: 'draft-label', text: `${(radiusM / 1000).toFixed(2)} km` }),
      )
    } else {
      const pts = draft.points.map((p) => `${p.x},${-p.y}`).join(' ')
      draftG.append(s(draft.closed ? 'polygon' : 'polyline', { points: pts, class: draft.closed ? 'draft-shape' : 'draft-line', 'vector-effect': 'non-scaling-stroke', testid: draft.closed ? 'geofence-draft-polygon' : 'geofence-draft-polyline', 'data-points': draft.points.length }))
      for (const p of draft.points) draftG.append(s('circle', { cx: p.x, cy: -p.y, r: 45, class: 'draft-handle' }))
    }
  }

  svg.addEventListener('pointerdown', (e) => {
    if (tool !== 'circle' || e.button !== 0) return
    const p = toMap(e)
    draft = { kind: 'circle', center: p, radiusM: draft?.kind === 'circle' ? draft.radiusM : RADIUS_MIN_M }
    dragging = true
    svg.setPointerCapture(e.pointerId)
    changed()
  })
  svg.addEventListener('pointermove', (e) => {
    const p = toMap(e)
    opts.onCursor?.(p)
    if (!dragging || draft?.kind !== 'circle') return
    const d = Math.hypot(p.x - draft.center.x, p.y - draft.center.y)
    if (d < SAME_POINT_M) return // a click, not a drag: keep the radius
    draft = { ...draft, radiusM: clampRadius(d) }
    changed()
  })
  const endDrag = () => (dragging = false)
  svg.addEventListener('pointerup', endDrag)
  svg.addEventListener('pointercancel', endDrag)
  svg.addEventListener('pointerleave', () => opts.onCursor?.(null))
  svg.addEventListener('click', (e) => {
    if (tool !== 'polygon') return
    const p = toMap(e)
    if (!draft || draft.kind !== 'polygon' || draft.closed) draft = { kind: 'polygon', points: [], closed: false }
    const last = draft.points[draft.points.length - 1]
    if (last && Math.hypot(last.x - p.x, last.y - p.y) < SAME_POINT_M) return
    draft = { ...draft, points: [...draft.points, p] }
    changed()
  })
  svg.addEventListener('dblclick', (e) => {
    if (tool !== 'polygon') return
    e.preventDefault()
    api.closePolygon()
  })

  const api = {
    el: svg,
    /** @param {'circle'|'polygon'|null} t */
    setTool(t) {
      tool = t
      svg.dataset.tool = t ?? ''
      if (draft && t && draft.kind !== t) {
        draft = null
        changed()
      }
    },
    get draft() {
      return draft
    },
    /** @param {Draft|null} d */
    setDraft(d) {
      draft = d
      changed()
    },
    /** Close the polygon being drawn; false when it has fewer than 3 vertices. */
    closePolygon() {
      if (draft?.kind !== 'polygon' || draft.points.length < 3) return false
      draft = { ...draft, closed: true }
      changed()
      return true
    },
    undoPoint() {
      if (draft?.kind !== 'polygon' || !draft.points.length) return
      draft = { ...draft, points: draft.points.slice(0, -1), closed: false }
      changed()
    },
    /** @param {LocalFence[]} list @param {string|null} [highlight] */
    setFences(list, highlight = null) {
      fences.replaceChildren()
      for (const f of list) {
        const cls = `fence${f.id === highlight ? ' fence-on' : ''}`
        let shape
        let label
        if (f.shape.kind === 'circle') {
          const c = f.shape.center
          shape = s('circle', { cx: c.x, cy: -c.y, r: f.shape.radiusM, class: cls, 'vector-effect': 'non-scaling-stroke', testid: `geofence-shape-${f.id}` })
          label = { x: c.x, y: c.y }
        } else {
          const pts = f.shape.points
          shape = s('polygon', { points: pts.map((p) => `${p.x},${-p.y}`).join(' '), class: cls, 'vector-effect': 'non-scaling-stroke', testid: `geofence-shape-${f.id}` })
          label = { x: pts.reduce((a, p) => a + p.x, 0) / pts.length, y: pts.reduce((a, p) => a + p.y, 0) / pts.length }
        }
        shape.append(s('title', { text: f.name }))
        fences.append(shape, s('text', { x: label.x, y: -label.y + 60, 'text-anchor': 'middle', class: 'fence-label', text: f.name }))
      }
    },
  }
  return api
}
