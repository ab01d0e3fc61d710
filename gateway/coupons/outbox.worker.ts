import type { Campaign } from '../../edge/contracts/index.ts'
import type { Logger } from '../core/logger.ts'
import type { GatewayModule } from '../core/module.ts'
import { toMs, type Db } from '../db/db.ts'
import type { CouponMetrics } from './coupon.metrics.ts'
import { errorText, type PushMessage, type PushProvider, type PushResult } from './providers/provider.ts'

export interface OutboxWorkerOptions {
  db: Db
  providers: ReadonlyMap<string, PushProvider>
  log: Logger
  metrics?: CouponMetrics
  now?: () => number
  /** Rows claimed per query at most. */
  batch?: number
  /** Pushes in flight at most. */
  concurrency?: number
  /** How long a claim holds a row; a replica that dies mid-push frees it after this. Must exceed the provider timeout. */
  leaseMs?: number
  /** Polling period when idle (a local commit wakes the worker at once). */
  pollMs?: number
  /** Attempts before the dead letter. */
  maxAttempts?: number
  backoffBaseMs?: number
  backoffMaxMs?: number
  /** After each final outcome (pushed or dead): the live feed. */
  onResult?: (r: { key: string; storeId: string; campaignId: string; memberRef: string; pushStatus: 'pushed' | 'dead'; ts: number }) => void
}

interface Claimed {
  outbox_id: number
  provider: string
  attempts: number
  key: string
  coupon_id: string
  store_id: string
  campaign_id: string
  member_ref: string
  code: string | null
  expires_at: Date | null
  received_at: Date
  campaign: Campaign
  push: { provider?: string; openId?: string } | null
}

type Done =
  | { kind: 'sent'; row: Claimed; at: number }
  | { kind: 'retry'; row: Claimed; at: number; nextAt: number; error: string }
  | { kind: 'dead'; row: Claimed; at: number; error: string }

/** Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff and Jitter"). */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.floor(random() * ceiling)
}

/**
 * Drains the transactional outbox into the push providers. Each replica runs one worker; they
 * share the table safely: a claim is `for update skip locked` plus a lease (`locked_until`), so two
 * replicas never push one row at the same time, and a replica that dies mid-push leaves a row that
 * another picks up once the lease runs out. Results are written in batches.
 *
 * Delivery is at least once: a crash after the provider accepted a push and before `sent` was
 * written pushes it again after the lease. Every attempt carries the same idempotency key.
 */
export class OutboxWorker implements GatewayModule {
  readonly name = 'coupon-outbox'
  private running = false
  private loop?: Promise<void>
  private wake?: () => void
  private kicked = false
  private inflight = 0
  private results: Done[] = []
  private flushing?: Promise<void>
  private readonly now: () => number
  private readonly o: Required<Omit<OutboxWorkerOptions, 'metrics' | 'onResult' | 'now'>>

  constructor(private readonly opts: OutboxWorkerOptions) {
    this.now = opts.now ?? Date.now
    this.o = {
      db: opts.db,
      providers: opts.providers,
      log: opts.log,
      batch: opts.batch ?? 200,
      concurrency: opts.concurrency ?? 64,
      leaseMs: opts.leaseMs ?? 60_000,
      pollMs: opts.pollMs ?? 500,
      maxAttempts: opts.maxAttempts ?? 8,
      backoffBaseMs: opts.backoffBaseMs ?? 1000,
      backoffMaxMs: opts.backoffMaxMs ?? 300_000,
    }
  }

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    this.loop = this.run()
  }

  /** Something was committed: look now instead of at the next poll. */
  kick(): void {
    this.kicked = true
    this.wake?.()
  }

  private async run(): Promise<void> {
    while (this.running) {
      let claimed = 0
      const free = this.o.concurrency - this.inflight
      if (free > 0) {
        this.kicked = false
        try {
          const rows = await this.claim(Math.min(free, this.o.batch))
          claimed = rows.length
          for (const row of rows) this.push(row)
        } catch (err) {
          this.o.log.warn({ err }, 'outbox claim failed')
        }
      }
      if (!this.running) break
      // Full batch with slots left: claim again at once. Otherwise sleep until kicked, a slot frees, or the poll.
      if (claimed > 0 && claimed === Math.min(free, this.o.batch) && this.inflight < this.o.concurrency) continue
      if (this.kicked && this.inflight < this.o.concurrency) continue
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.o.pollMs)
        this.wake = () => {
          clearTimeout(t)
          resolve()
        }
      })
      this.wake = undefined
    }
  }

  /** Only rows for providers this replica has: another replica (or a later config) pushes the rest. */
  private async claim(n: number): Promise<Claimed[]> {
    const now = this.now()
    return this.o.db.query<Claimed>(
      `with due as (
         select id from coupon_outbox
          where status = 'pending' and next_attempt_at <= $1 and (locked_until is null or locked_until < $1)
            and provider in (select jsonb_array_elements_text($4::jsonb))
          order by next_attempt_at
          limit $2
          for update skip locked
       )
       update coupon_outbox o set locked_until = $3, attempts = o.attempts + 1
         from due, coupons c
         join campaign_versions v on v.campaign_id = c.campaign_id and v.version = c.campaign_version
         left join members m on m.ref = c.member_ref
        where o.id = due.id and c.key = o.coupon_key
       returning o.id as outbox_id, o.provider, o.attempts, c.key, c.id as coupon_id, c.store_id, c.campaign_id, c.member_ref,
                 c.code, c.expires_at, c.received_at, v.body as campaign, m.push`,
      [new Date(now), n, new Date(now + this.o.leaseMs), JSON.stringify([...this.o.providers.keys()])],
    )
  }

  private push(row: Claimed): void {
    this.inflight++
    this.opts.metrics?.pushInflight.set(this.inflight)
    void this.attempt(row)
      .then((d) => this.record(d))
      .finally(() => {
        this.inflight--
        this.opts.metrics?.pushInflight.set(this.inflight)
        // Only a worker that stopped claiming for want of a slot needs waking.
        if (this.inflight === this.o.concurrency - 1) this.wake?.()
      })
  }

  private async attempt(row: Claimed): Promise<Done> {
    const provider = this.o.providers.get(row.provider)
    let res: PushResult
    if (!provider) {
      res = { ok: false, permanent: false, error: `push provider ${row.provider} is not configured` } // not claimed; defensive
    } else {
      const c = row.campaign
      const msg: PushMessage = {
        key: row.key,
        couponId: row.coupon_id,
        campaignId: row.campaign_id,
        campaignName: c.name,
        storeId: row.store_id,
        memberRef: row.member_ref,
        openId: row.push?.openId,
        templateId: c.coupon.templateId,
        title: c.coupon.title,
        body: c.coupon.body ?? '',
        valueCents: c.coupon.valueCents,
        percentOff: c.coupon.percentOff,
        code: row.code ?? '',
        issuedAt: toMs(row.received_at)!,
        expiresAt: toMs(row.expires_at) ?? 0,
        attempt: row.attempts,
      }
      try {
        res = await provider.send(msg)
      } catch (err) {
        res = { ok: false, permanent: false, error: errorText(err) }
      }
    }
    const at = this.now()
    const m = this.opts.metrics
    if (res.ok) {
      m?.pushes.inc({ provider: row.provider, result: 'ok' })
      m?.pushSeconds.observe((at - toMs(row.received_at)!) / 1000)
      return { kind: 'sent', row, at }
    }
    if (res.permanent || row.attempts >= this.o.maxAttempts) {
      m?.pushes.inc({ provider: row.provider, result: 'dead' })
      this.o.log.warn({ key: row.key, provider: row.provider, attempts: row.attempts, error: res.error }, 'coupon push dead-lettered')
      return { kind: 'dead', row, at, error: res.error }
    }
    m?.pushes.inc({ provider: row.provider, result: 'retry' })
    const wait = Math.max(res.retryAfterMs ?? 0, backoffMs(row.attempts, this.o.backoffBaseMs, this.o.backoffMaxMs))
    this.o.log.debug({ key: row.key, attempts: row.attempts, error: res.error, waitMs: wait }, 'coupon push failed; will retry')
    return { kind: 'retry', row, at, nextAt: at + wait, error: res.error }
  }

  private record(d: Done): void {
    this.results.push(d)
    this.flushing ??= this.flush().finally(() => (this.flushing = undefined))
  }

  /** Writes every result gathered so far, in one transaction per round. */
  private async flush(): Promise<void> {
    await Promise.resolve()
    while (this.results.length) {
      const batch = this.results.splice(0, 500)
      try {
        await this.write(batch)
      } catch (err) {
        // The rows keep their lease; when it runs out they are pushed again (at least once).
        this.o.log.error({ err, n: batch.length }, 'could not record push results')
        continue
      }
      for (const d of batch) {
        if (d.kind === 'retry') continue
        this.opts.onResult?.({ key: d.row.key, storeId: d.row.store_id, campaignId: d.row.campaign_id, memberRef: d.row.member_ref, pushStatus: d.kind === 'sent' ? 'pushed' : 'dead', ts: d.at })
      }
    }
  }

  private async write(batch: Done[]): Promise<void> {
    const sent = batch.filter((d) => d.kind === 'sent')
    const retry = batch.filter((d): d is Extract<Done, { kind: 'retry' }> => d.kind === 'retry')
    const dead = batch.filter((d): d is Extract<Done, { kind: 'dead' }> => d.kind === 'dead')
    await this.o.db.tx(async (q) => {
      if (sent.length) {
        const rs = JSON.stringify(sent.map((d) => ({ id: d.row.outbox_id, key: d.row.key, at: d.at })))
        await q.query(
          `update coupon_outbox o set status = 'sent', sent_at = to_timestamp(r.at / 1000.0), locked_until = null, last_error = null
             from jsonb_to_recordset($1::jsonb) as r(id bigint, key text, at double precision) where o.id = r.id`,
          [rs],
        )
        await q.query(
          `update coupons c set push_status = 'pushed', pushed_at = to_timestamp(r.at / 1000.0)
             from jsonb_to_recordset($1::jsonb) as r(id bigint, key text, at double precision) where c.key = r.key and c.push_status is distinct from 'pushed'`,
          [rs],
        )
      }
      if (retry.length) {
        await q.query(
          `update coupon_outbox o set next_attempt_at = to_timestamp(r.next_at / 1000.0), locked_until = null, last_error = r.error
             from jsonb_to_recordset($1::jsonb) as r(id bigint, next_at double precision, error text) where o.id = r.id and o.status = 'pending'`,
          [JSON.stringify(retry.map((d) => ({ id: d.row.outbox_id, next_at: d.nextAt, error: d.error })))],
        )
      }
      if (dead.length) {
        const rs = JSON.stringify(dead.map((d) => ({ id: d.row.outbox_id, key: d.row.key, error: d.error, at: d.at })))
        await q.query(
          `update coupon_outbox o set status = 'dead', dead_at = to_timestamp(r.at / 1000.0), locked_until = null, last_error = r.error
             from jsonb_to_recordset($1::jsonb) as r(id bigint, key text, error text, at double precision) where o.id = r.id and o.status = 'pending'`,
          [rs],
        )
        await q.query(
          `update coupons c set push_status = 'dead' from jsonb_to_recordset($1::jsonb) as r(id bigint, key text, error text)
            where c.key = r.key and c.push_status = 'pending'`,
          [rs],
        )
      }
    })
  }

  /** Waits until nothing is in flight and every result is written (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inflight > 0 || this.results.length || this.flushing) {
      await (this.flushing ?? new Promise((r) => setTimeout(r, 5)))
    }
  }

  async stop(): Promise<void> {
    this.running = false
    this.wake?.()
    await this.loop
    // Pushes in flight finish (each is bounded by its provider's timeout) and are recorded.
    await this.idle()
  }
}
