import type { Logger } from '../core/logger.ts'
import type { GatewayModule } from '../core/module.ts'
import { toMs, type Queryable } from '../db/db.ts'
import type { CouponLiveData, LiveHub } from './live.hub.ts'

/** How far back each poll looks again: a transaction may commit a little after its timestamps. */
const OVERLAP_MS = 10_000
const SEEN_MAX = 50_000

/**
 * The live trigger feed: every replica polls the ledger for decisions and push outcomes and
 * broadcasts them to its own SSE clients. A request is decided on one replica (the shared
 * subscription picks it) and pushed on any, so the ledger is the one place that sees all of it.
 */
export class CouponFeed implements GatewayModule {
  readonly name = 'coupon-feed'
  private timer?: NodeJS.Timeout
  private since: number
  private seen = new Set<string>()
  private polling = false

  constructor(
    private readonly db: Queryable,
    private readonly hub: LiveHub,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = 1000,
  ) {
    this.since = now()
  }

  async start(): Promise<void> {
    this.since = this.now() - OVERLAP_MS
    this.timer = setInterval(() => void this.poll(), this.intervalMs)
    this.timer.unref()
  }

  async poll(): Promise<void> {
    if (this.polling) return
    this.polling = true
    const startedAt = this.now()
    try {
      const rows = await this.db.query<{ key: string; store_id: string; campaign_id: string; member_ref: string; status: CouponLiveData['status']; reason: string | null; push_status: CouponLiveData['pushStatus'] | null; received_at: Date; pushed_at: Date | null; dead_at: Date | null }>(
        `select c.key, c.store_id, c.campaign_id, c.member_ref, c.status, c.reason, c.push_status, c.received_at, c.pushed_at, o.dead_at
           from coupons c left join coupon_outbox o on o.coupon_key = c.key
          where c.received_at >= $1 or c.pushed_at >= $1 or o.dead_at >= $1
          order by greatest(c.received_at, c.pushed_at, o.dead_at) desc
          limit 2000`,
        [new Date(this.since - OVERLAP_MS)],
      )
      // Newest first from the database (past 2000 changes a second a live view shows the latest),
      // oldest first to the browser.
      for (const r of rows.reverse()) {
        const state = `${r.key}|${r.push_status ?? r.status}`
        if (this.seen.has(state)) continue
        this.seen.add(state)
        const ts = toMs(r.push_status === 'pushed' ? r.pushed_at : r.push_status === 'dead' ? r.dead_at : r.received_at) ?? toMs(r.received_at)!
        this.hub.publish({
          type: 'coupon',
          storeId: r.store_id,
          data: { key: r.key, campaignId: r.campaign_id, memberRef: r.member_ref, status: r.status, ...(r.reason ? { reason: r.reason } : {}), ...(r.push_status ? { pushStatus: r.push_status } : {}), ts },
        })
      }
      if (this.seen.size > SEEN_MAX) this.seen = new Set([...this.seen].slice(-SEEN_MAX / 2))
      this.since = startedAt
    } catch (err) {
      this.log.warn({ err }, 'coupon feed poll failed')
    } finally {
      this.polling = false
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
  }
}
