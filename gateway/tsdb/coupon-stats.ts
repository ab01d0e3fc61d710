import type { Logger } from '../core/logger.ts'
import type { GatewayModule } from '../core/module.ts'
import { toMs, type Queryable } from '../db/db.ts'
import { couponLines, type CouponMinute } from './lines.ts'

export interface CouponStatsOptions {
  db: Queryable
  /** Enqueues lines; done() once written (the TsdbWriter). */
  write: (lines: string[], done: () => void) => void
  log: Logger
  now?: () => number
  intervalMs?: number
  /** How far back the first count reaches (after a restart). */
  initialLookbackMs?: number
}

/**
 * The `coupons` measurement: per campaign, store and minute, how many requests the ledger decided
 * (requested, issued, holdout, rejected, by decision time), pushed (by push time), dead (by the
 * time the push was given up) and redeemed (by redemption time). Counted from the ledger, not from
 * events on their way: each run recounts every minute since shortly before the previous run and
 * writes whole points at the minute's timestamp, so replicas doing the same write the same points
 * (VictoriaMetrics' dedup and InfluxDB overwrite), and a crash loses nothing.
 */
export class CouponStats implements GatewayModule {
  readonly name = 'coupon-stats'
  private timer?: NodeJS.Timeout
  private since = 0
  private running?: Promise<void>
  private readonly now: () => number

  constructor(private readonly opts: CouponStatsOptions) {
    this.now = opts.now ?? Date.now
  }

  async start(): Promise<void> {
    this.since = this.now() - (this.opts.initialLookbackMs ?? 3_600_000)
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs ?? 10_000)
    this.timer.unref()
    void this.tick()
  }

  private tick(): Promise<void> {
    const run = (this.running ??= this.flush()
      .then(() => undefined, (err: unknown) => this.opts.log.warn({ err }, 'coupon stats failed'))
      .finally(() => (this.running = undefined)))
    return run
  }

  /** Counts and writes every minute from `since` (minute-aligned) on. Returns what it wrote. */
  async flush(): Promise<CouponMinute[]> {
    const startedAt = this.now()
    const from = Math.floor(this.since / 60_000) * 60_000
    const minutes = await countCouponMinutes(this.opts.db, from)
    if (minutes.length) await new Promise<void>((resolve) => this.opts.write(minutes.map(couponLines), resolve))
    // Overlap by two minutes: a transaction that began before startedAt may commit after it.
    this.since = startedAt - 120_000
    return minutes
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.running
  }
}

/** Per (minute, campaign, store) counts of everything that happened at or after `from` (minute-aligned). */
export async function countCouponMinutes(db: Queryable, from: number): Promise<CouponMinute[]> {
  const rows = await db.query<{ minute: Date; campaign_id: string; store_id: string; requested: number; issued: number; holdout: number; rejected: number; pushed: number; dead: number; redeemed: number }>(
    `select minute, campaign_id, store_id, sum(requested)::int as requested, sum(issued)::int as issued, sum(holdout)::int as holdout,
            sum(rejected)::int as rejected, sum(pushed)::int as pushed, sum(dead)::int as dead, sum(redeemed)::int as redeemed
       from (
         select date_trunc('minute', received_at) as minute, campaign_id, store_id, count(*) as requested,
                count(*) filter (where status = 'issued') as issued, count(*) filter (where status = 'holdout') as holdout,
                count(*) filter (where status = 'rejected') as rejected, 0 as pushed, 0 as dead, 0 as redeemed
           from coupons where received_at >= $1 group by 1, 2, 3
         union all
         select date_trunc('minute', pushed_at), campaign_id, store_id, 0, 0, 0, 0, count(*), 0, 0
           from coupons where pushed_at >= $1 group by 1, 2, 3
         union all
         select date_trunc('minute', o.dead_at), c.campaign_id, c.store_id, 0, 0, 0, 0, 0, count(*), 0
           from coupon_outbox o join coupons c on c.key = o.coupon_key where o.dead_at >= $1 group by 1, 2, 3
         union all
         select date_trunc('minute', redeemed_at), campaign_id, store_id, 0, 0, 0, 0, 0, 0, count(*)
           from coupons where redeemed_at >= $1 group by 1, 2, 3
       ) x
      group by 1, 2, 3
      order by 1, 2, 3`,
    [new Date(from)],
  )
  return rows.map((r) => ({
    minute: toMs(r.minute)!,
    campaignId: r.campaign_id,
    storeId: r.store_id,
    requested: r.requested,
    issued: r.issued,
    holdout: r.holdout,
    rejected: r.rejected,
    pushed: r.pushed,
    dead: r.dead,
    redeemed: r.redeemed,
  }))
}
