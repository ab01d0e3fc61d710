// Shared by the marketing views: sub-navigation, the stores in scope, what a rule may name per
// store, local time in a store's zone, money and coupon wording, and the flat-earth projection
// of the geofence map.
import { api } from '../api.js'
import { h } from '../dom.js'

/**
 * @typedef {{ id: string, name: string, timezone: string, status?: string, location?: { lat: number, lng: number } | null }} MktStore
 * @typedef {{ id: string, name: string, kind: 'indoor'|'carpark'|'trade-area' }} Target
 * @typedef {{ membersOnly?: boolean, tiers?: number[], tagsAny?: string[], tagsAll?: string[], firstVisit?: boolean, lapsedDays?: number }} Audience
 * @typedef {{ days?: number[], start?: string, end?: string, quietHours?: { start: string, end: string }[], from?: string, until?: string }} Schedule
 * @typedef {{ perMemberPerDay?: number, perMemberPerWeek?: number, perMemberPerCampaign?: number, cooldownS?: number, budget?: number }} Caps
 * @typedef {{ templateId: string, title: string, body?: string, valueCents?: number, percentOff?: number, validHours?: number }} CouponTemplate
 * @typedef {{ id: string, name: string, version?: number, enabled: boolean, stores: string[], event: 'enter'|'dwell'|'exit', zones: string[],
 *   dwellS?: number, sources?: string[], visitZones?: string[], audience: Audience, schedule: Schedule, caps: Caps, holdoutPct: number,
 *   priority: number, exclusiveGroup?: string, lateAfterS: number, coupon: CouponTemplate, archived?: boolean, updatedAt?: number }} Campaign
 * @typedef {{ campaignId: string, name?: string, requested: number, issued: number, holdout: number, rejected: Record<string, number>,
 *   pushed: number, dead: number, redeemed: number, budget: number|null, budgetLeft: number|null }} FunnelRow
 * @typedef {{ key: string, campaignId: string, memberRef: string, status: string, reason?: string, pushStatus?: string, ts: number }} CouponEventData
 */

export const EVENT_LABELS = { enter: 'Arrival (enter)', dwell: 'Dwell', exit: 'Departure (exit)' }
export const SOURCES = /** @type {const} */ (['ble', 'wifi', 'face', 'plate', 'gps'])
export const SOURCE_LABELS = { ble: 'BLE (member app)', wifi: 'Wi-Fi', face: 'Face', plate: 'Plate (car park)', gps: 'GPS (trade area)' }
export const KIND_LABELS = { indoor: 'Indoor zones', carpark: 'Car park', 'trade-area': 'Trade-area geofences' }
export const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']

/** The tabs at the top of every marketing page. @param {'campaigns'|'campaign'|'geofences'} current */
export function subnav(current, canWrite) {
  const link = (/** @type {string} */ href, /** @type {string} */ testid, /** @type {string} */ label, /** @type {boolean} */ on) =>
    h('a', { href, testid, class: 'subnav-link', 'aria-current': on ? 'page' : null, text: label })
  return h(
    'nav',
    { class: 'subnav', 'aria-label': 'Marketing' },
    link('#/marketing', 'mkt-tab-campaigns', 'Campaigns', current === 'campaigns'),
    link('#/marketing/geofences', 'mkt-tab-geofences', 'Trade areas', current === 'geofences'),
    canWrite ? link('#/marketing/campaigns/new', 'campaign-new', 'New campaign', current === 'campaign') : null,
  )
}

/** The stores in the user's scope (with time zone and, once set, location). @param {AbortSignal} signal @returns {Promise<MktStore[]>} */
export async function loadStores(signal) {
  const { stores } = await api('/v1/stores', { signal })
  return stores
}

/**
 * Zones, the car park and geofences a rule can name, for each store: zone id → the target and
 * the stores that have it.
 * @param {string[]} storeIds
 * @param {AbortSignal} signal
 * @returns {Promise<Map<string, Target & { stores: string[] }>>}
 */
export async function loadTargets(storeIds, signal) {
  /** @type {Map<string, Target & { stores: string[] }>} */
  const out = new Map()
  const answers = await Promise.all(
    storeIds.map((id) => api(`/v1/stores/${encodeURIComponent(id)}/targets`, { signal }).then((r) => /** @type {[string, Target[]]} */ ([id, r.zones ?? []]))),
  )
  for (const [storeId, zones] of answers) {
    for (const z of zones) {
      const seen = out.get(z.id)
      if (seen) seen.stores.push(storeId)
      else out.set(z.id, { ...z, stores: [storeId] })
    }
  }
  return out
}

/** "Wed 14:05" in the store's zone. @param {number} ts @param {string} timeZone */
export function localNow(ts, timeZone) {
  try {
    return new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ts)
  } catch {
    return new Intl.DateTimeFormat('en-GB', { weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ts)
  }
}

/** The coupon's value in words. @param {CouponTemplate|undefined} c */
export function couponValue(c) {
  if (!c) return '—'
  if (c.percentOff !== undefined && c.percentOff !== null) return `${c.percentOff} % off`
  if (c.valueCents !== undefined && c.valueCents !== null) return `${(c.valueCents / 100).toFixed(2)} off`
  return '—'
}

/** Caps in one short line. @param {Caps} caps */
export function capsText(caps = {}) {
  const parts = []
  if (caps.perMemberPerDay) parts.push(`${caps.perMemberPerDay}/day`)
  if (caps.perMemberPerWeek) parts.push(`${caps.perMemberPerWeek}/week`)
  if (caps.perMemberPerCampaign) parts.push(`${caps.perMemberPerCampaign}/member`)
  if (caps.cooldownS) parts.push(`cooldown ${Math.round(caps.cooldownS / 60)} min`)
  return parts.join(' · ') || 'no member caps'
}

/** Status words for the ledger's decisions and the push. */
export const STATUS_LABELS = { issued: 'Issued', holdout: 'Holdout', rejected: 'Rejected', requested: 'Requested', redeemed: 'Redeemed', late: 'Too late', duplicate: 'Duplicate' }
export const PUSH_LABELS = { pending: 'Push pending', pushed: 'Pushed', sent: 'Pushed', retrying: 'Retrying', dead: 'Push failed', skipped: 'Not pushed' }

// ---- projection of the geofence map ---------------------------------------------------------

const R = 6_371_008.8
const rad = (/** @type {number} */ d) => (d * Math.PI) / 180
const deg = (/** @type {number} */ r) => (r * 180) / Math.PI

/** Local east/north metres around an origin (equirectangular, as the contracts' geo.ts). */
export function toLocal(/** @type {{lat:number,lng:number}} */ origin, /** @type {{lat:number,lng:number}} */ p) {
  return { x: rad(p.lng - origin.lng) * R * Math.cos(rad(origin.lat)), y: rad(p.lat - origin.lat) * R }
}

/** The inverse of toLocal, rounded to ~1 cm (7 decimals). */
export function toLatLng(/** @type {{lat:number,lng:number}} */ origin, /** @type {number} */ x, /** @type {number} */ y) {
  const round = (/** @type {number} */ v) => Math.round(v * 1e7) / 1e7
  return { lat: round(origin.lat + deg(y / R)), lng: round(origin.lng + deg(x / (R * Math.cos(rad(origin.lat))))) }
}

/** Turn an API error's rule problems (`/path: problem`) into the list the editor shows. @param {any} body */
export function ruleErrorsOf(body) {
  const list = body?.errors ?? body?.error?.errors
  return Array.isArray(list) ? list.map(String) : []
}
