import type { Logger } from '../core/logger.ts'
import type { GatewayMetrics } from '../core/metrics.ts'
import type { Uplink } from '../consumer/decode.ts'
import { LiveWindow } from './live-window.ts'
import { pointFromAggregate, type StorePoint } from './store-point.ts'

/** What the live stream carries (no device identities: the browser needs none). */
export type LiveEvent =
  | { type: 'agg'; storeId: string; point: StorePoint }
  | { type: 'presence'; storeId: string; data: { type: string; zone: string; fromZone?: string; source: string; ts: number; dwellS?: number } }
  | { type: 'health'; storeId: string; data: { status: 'online' | 'offline'; ts: number } }
  /** A ledger decision or push outcome (coupons:read). */
  | { type: 'coupon'; storeId: string; data: CouponLiveData }
  /** A geofence event; `member` says whether a member was recognised, never who (footfall:read or campaigns:read). */
  | { type: 'geofence'; storeId: string; data: { type: string; zone: string; zoneKind: string; source: string; member: boolean; ts: number; dwellS?: number } }

export interface CouponLiveData {
  key: string
  campaignId: string
  memberRef: string
  status: 'issued' | 'holdout' | 'rejected'
  reason?: string
  pushStatus?: 'pending' | 'pushed' | 'dead'
  ts: number
}

export interface LiveSubscriber {
  /** Whether this subscriber may see the event (permission and store scope). */
  accepts(e: LiveEvent): boolean
  send(e: LiveEvent): void
}

/**
 * Every replica sees every uplink message through its own non-shared subscription and keeps the
 * window and the live streams from it, so a browser on any replica sees every store.
 */
export class LiveHub {
  readonly window: LiveWindow
  private readonly subs = new Set<LiveSubscriber>()
  /** Stores seen for the first time (the app registers them). */
  onStoreSeen?: (storeId: string) => void

  constructor(
    opts: { hours: number; maxStores: number },
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.window = new LiveWindow(opts)
  }

  subscribe(s: LiveSubscriber): () => void {
    this.subs.add(s)
    this.metrics.liveClients.set(this.subs.size)
    return () => {
      this.subs.delete(s)
      this.metrics.liveClients.set(this.subs.size)
    }
  }

  ingest(u: Uplink): void {
    const known = this.window.get(u.storeId) !== undefined
    let e: LiveEvent | undefined
    if (u.kind === 'agg') {
      const point = pointFromAggregate(u.agg)
      this.window.addPoint(u.storeId, point, this.now())
      e = { type: 'agg', storeId: u.storeId, point }
    } else if (u.kind === 'presence') {
      this.window.addEvent(u.storeId, u.event)
      const { type, zone, fromZone, source, ts, dwellS } = u.event
      e = { type: 'presence', storeId: u.storeId, data: { type, zone, fromZone, source, ts, dwellS } }
    } else if (u.kind === 'health') {
      this.window.setHealth(u.storeId, u.health)
      e = { type: 'health', storeId: u.storeId, data: { status: u.health.status, ts: u.health.ts } }
    } else if (u.kind === 'geofence') {
      const g = u.event
      e = { type: 'geofence', storeId: u.storeId, data: { type: g.type, zone: g.zone, zoneKind: g.zoneKind, source: g.source, member: !!g.memberRef, ts: g.ts, dwellS: g.dwellS } }
    }
    if (!known && this.window.get(u.storeId)) this.onStoreSeen?.(u.storeId)
    this.metrics.windowStores.set(this.window.size)
    if (e) this.broadcast(e)
  }

  /** Events that do not come from the uplink (the coupon feed). */
  publish(e: LiveEvent): void {
    this.broadcast(e)
  }

  private broadcast(e: LiveEvent): void {
    for (const s of this.subs) {
      try {
        if (!s.accepts(e)) continue
        s.send(e)
        this.metrics.liveEvents.inc({ type: e.type })
      } catch (err) {
        this.log.warn({ err }, 'live subscriber failed')
      }
    }
  }
}
