// The live trigger feed: every coupon the ledger decided (issued, held out, rejected with its
// reason) and what the push did, newest first, from the shared live stream. One line per
// idempotency key: a later event for the same key (the push went out, or failed) updates it in place.
import { api, ApiError } from '../api.js'
import { fmtTime, h } from '../dom.js'
import { PUSH_LABELS, STATUS_LABELS } from './marketing-common.js'

/** @typedef {import('./marketing-common.js').CouponEventData} CouponEventData */

export const FEED_MAX = 50

/**
 * @param {HTMLElement} host
 * @param {import('../app.js').ViewContext} ctx
 * @param {{ campaignName: (id: string) => string, storeName: (id: string) => string, storeZone?: (id: string) => string|undefined, onCoupon?: () => void }} opts
 */
export function mountFeed(host, ctx, opts) {
  const { signal } = ctx
  const list = h('ol', { class: 'feed coupon-feed', testid: 'coupon-feed', 'aria-label': 'Latest coupon triggers', 'aria-live': 'polite' })
  const emptyEl = h('li', { class: 'feed-empty muted', testid: 'coupon-feed-empty', text: 'Waiting for triggers…' })
  const count = h('span', { class: 'muted small', testid: 'coupon-feed-count', text: '0 shown' })
  list.append(emptyEl)
  // What the triggers see: zone arrivals, dwells and departures (anonymous: only whether a member
  // was recognised), so a campaign that does not fire can be told from a zone nobody reached.
  const zoneList = h('ol', { class: 'feed geofence-feed', testid: 'geofence-feed', 'aria-label': 'Latest geofence events' })
  const zoneEmpty = h('li', { class: 'feed-empty muted', text: 'Waiting for zone events…' })
  zoneList.append(zoneEmpty)
  host.append(
    h(
      'div',
      { class: 'two-col feeds' },
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'feed-h', testid: 'coupon-feed-panel' },
        h('div', { class: 'panel-head' }, h('h2', { id: 'feed-h', text: 'Live triggers' }), count),
        h('p', { class: 'muted small', text: `Coupons as the ledger decides them and as the push goes out, newest first (the latest ${FEED_MAX}).` }),
        ctx.can('coupons:read') ? list : h('p', { class: 'muted', text: 'Your role cannot see coupons.' }),
      ),
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'zfeed-h', testid: 'geofence-feed-panel' },
        h('div', { class: 'panel-head' }, h('h2', { id: 'zfeed-h', text: 'Zone events' })),
        h('p', { class: 'muted small', text: 'Arrivals, dwells and departures the triggers evaluate. No identities are shown.' }),
        zoneList,
      ),
    ),
  )

  ctx.live.on(
    'geofence',
    (/** @type {{ storeId: string, type: string, zone: string, zoneKind: string, source: string, member: boolean, ts: number, dwellS?: number }} */ e) => {
      zoneEmpty.remove()
      const zone = opts.storeZone?.(e.storeId)
      zoneList.prepend(
        h(
          'li',
          { class: `feed-item zone-item feed-${e.type}`, testid: 'geofence-item', dataset: { type: e.type, zone: e.zone, store: e.storeId, member: String(!!e.member) } },
          h('time', { class: 'feed-time', datetime: new Date(e.ts).toISOString(), text: fmtTime(e.ts, { timeZone: zone }) }),
          h('span', { class: `feed-type type-${e.type === 'dwell' ? 'stale' : e.type}`, text: e.type }),
          h(
            'span',
            { class: 'feed-what' },
            h('strong', { text: e.zone }),
            ' · ',
            h('span', { class: 'muted', text: opts.storeName(e.storeId) }),
            e.dwellS !== undefined && e.dwellS !== null ? h('span', { class: 'muted', text: ` · ${Math.round(e.dwellS / 60)} min` }) : null,
          ),
          h('span', { class: 'small', text: `${e.member ? 'member' : 'visitor'} · ${e.source}` }),
        ),
      )
      while (zoneList.children.length > FEED_MAX) zoneList.lastElementChild?.remove()
    },
    signal,
  )

  /** @type {Map<string, HTMLElement>} */
  const byKey = new Map()

  const render = (/** @type {CouponEventData & { storeId: string }} */ e) => {
    const status = e.status ?? 'requested'
    const push = e.pushStatus
    const zone = opts.storeZone?.(e.storeId)
    return h(
      'li',
      { class: `feed-item coupon-item coupon-${status}`, testid: 'coupon-item', dataset: { key: e.key, status, push: push ?? '', campaign: e.campaignId, store: e.storeId, member: e.memberRef } },
      h('time', { class: 'feed-time', datetime: new Date(e.ts).toISOString(), title: zone ? `store time (${zone})` : undefined, text: fmtTime(e.ts, { timeZone: zone }) }),
      h('span', { class: `coupon-status status-word-${status}`, testid: 'coupon-item-status', text: STATUS_LABELS[/** @type {keyof typeof STATUS_LABELS} */ (status)] ?? status }),
      h(
        'span',
        { class: 'feed-what' },
        h('strong', { testid: 'coupon-item-campaign', text: opts.campaignName(e.campaignId) }),
        ' · ',
        h('span', { testid: 'coupon-item-member', text: e.memberRef }),
        ' · ',
        h('span', { class: 'muted', testid: 'coupon-item-store', text: opts.storeName(e.storeId) }),
        e.reason ? h('span', { class: 'coupon-reason', testid: 'coupon-item-reason', text: ` (${e.reason})` }) : null,
      ),
      h('span', { class: `push-word push-${push ?? 'none'}`, testid: 'coupon-item-push', text: push ? (PUSH_LABELS[/** @type {keyof typeof PUSH_LABELS} */ (push)] ?? push) : status === 'issued' ? 'Push pending' : '—' }),
    )
  }

  /** @param {CouponEventData & { storeId: string }} e @param {'live'|'history'} how */
  const add = (e, how) => {
    if (!e?.key) return
    emptyEl.remove()
    const old = byKey.get(e.key)
    if (old) {
      // A newer state of the same coupon (push result); history never overwrites what arrived live.
      if (how === 'history') return
      const prev = old.dataset
      const merged = { ...e, status: e.status ?? prev.status, pushStatus: e.pushStatus ?? (prev.push || undefined), ts: Number(new Date(old.querySelector('time')?.getAttribute('datetime') ?? e.ts)) }
      const el = render(merged)
      el.classList.add('flash')
      old.replaceWith(el)
      byKey.set(e.key, el)
      return
    }
    const el = render(e)
    byKey.set(e.key, el)
    if (how === 'live') list.prepend(el)
    else list.append(el)
    while (list.children.length > FEED_MAX) {
      const last = /** @type {HTMLElement} */ (list.lastElementChild)
      byKey.delete(last.dataset.key ?? '')
      last.remove()
    }
    count.textContent = `${list.children.length} shown`
  }

  ctx.live.on(
    'coupon',
    (/** @type {CouponEventData & { storeId: string }} */ e) => {
      add(e, 'live')
      opts.onCoupon?.()
    },
    signal,
  )

  return {
    /** What the ledger already holds, so the feed is not empty until the next trigger. */
    async loadRecent() {
      if (!ctx.can('coupons:read')) return
      try {
        const { coupons } = await api('/v1/coupons', { query: { limit: FEED_MAX }, signal })
        for (const c of coupons ?? []) {
          add(
            {
              key: c.key ?? c.idempotencyKey ?? c.id,
              campaignId: c.campaignId,
              memberRef: c.memberRef,
              storeId: c.storeId,
              status: c.status,
              reason: c.reason ?? undefined,
              pushStatus: c.pushStatus ?? undefined,
              ts: Number(c.receivedAt ?? c.firedAt ?? Date.now()),
            },
            'history',
          )
        }
      } catch (err) {
        if (!(err instanceof ApiError && (err.status === 403 || err.status === 404))) ctx.fail(err)
      }
    },
  }
}
