import { randomUUID } from 'node:crypto'
import { inHoldout, type Campaign, type CouponRequest, type GeofenceEvent } from '../../edge/contracts/index.ts'
import { toMs, type Db, type Queryable } from '../db/db.ts'
import { signCouponCode } from './codes.ts'
import type { SigningKey } from './signing-key.ts'

/**
 * The coupon ledger: every coupon request from every edge is decided here, once, in one
 * PostgreSQL transaction (the same code on PGlite):
 *
 *  1. the idempotency key is the primary key: a request seen before answers its first outcome,
 *     unchanged, whatever happened since (a redelivery, a replay, a second replica);
 *  2. advisory transaction locks, always in the same order (the campaign, when it has a budget,
 *     then the member), serialise replicas racing on one budget or one member, so the counts the
 *     caps are checked against are exact (read committed: each statement after the lock sees what
 *     the previous holder committed);
 *  3. the campaign version named by the request supplies the caps; lateness, the member having
 *     left, exclusion, cooldown, day / week / campaign caps and the budget are checked in that order;
 *  4. the outcome is stored whatever it is (rejections too, with their reason), and an issued
 *     coupon gets its signed code and an outbox row in the same transaction, so a push can never
 *     be lost between the commit and the push provider (the outbox worker delivers it).
 */

export type CouponStatus = 'issued' | 'holdout' | 'rejected'
export const REJECT_REASONS = [
  'unknown-campaign',
  'campaign-disabled',
  'wrong-store',
  'too-late',
  'member-left',
  'exclusive',
  'cooldown',
  'cap-day',
  'cap-week',
  'cap-campaign',
  'budget',
] as const
export type RejectReason = (typeof REJECT_REASONS)[number]
export type PushStatus = 'pending' | 'pushed' | 'dead'

export interface LedgerOutcome {
  key: string
  id: string
  storeId: string
  campaignId: string
  campaignVersion: number
  memberRef: string
  eventId: string
  status: CouponStatus
  reason: RejectReason | null
  code: string | null
  expiresAt: number | null
  firedAt: number
  receivedAt: number
  pushStatus: PushStatus | null
  pushedAt: number | null
  redeemedAt: number | null
  redeemedStore: string | null
  redeemedBy: string | null
  /** True when this call found the key already decided (nothing was written). */
  duplicate: boolean
}

export interface CouponRow {
  key: string
  id: string
  store_id: string
  campaign_id: string
  campaign_version: number
  member_ref: string
  exclusive_group: string | null
  event_id: string
  event_type: string
  zone: string
  source: string
  event_ts: Date
  fired_at: Date
  local_day: Date | string
  status: CouponStatus
  reason: string | null
  code: string | null
  expires_at: Date | null
  received_at: Date
  push_status: PushStatus | null
  pushed_at: Date | null
  redeemed_at: Date | null
  redeemed_store: string | null
  redeemed_by: string | null
}

export const outcomeOf = (r: CouponRow, duplicate: boolean): LedgerOutcome => ({
  key: r.key,
  id: r.id,
  storeId: r.store_id,
  campaignId: r.campaign_id,
  campaignVersion: r.campaign_version,
  memberRef: r.member_ref,
  eventId: r.event_id,
  status: r.status,
  reason: (r.reason as RejectReason | null) ?? null,
  code: r.code,
  expiresAt: toMs(r.expires_at),
  firedAt: toMs(r.fired_at)!,
  receivedAt: toMs(r.received_at)!,
  pushStatus: r.push_status,
  pushedAt: toMs(r.pushed_at),
  redeemedAt: toMs(r.redeemed_at),
  redeemedStore: r.redeemed_store,
  redeemedBy: r.redeemed_by,
  duplicate,
})

/** Advisory lock namespaces (the two-int form keeps them apart from the migration lock). */
const LOCK_CAMPAIGN = 0x5ec0
const LOCK_MEMBER = 0x5ec1
/** Exits closer together than this belong to one visit (moving between zones is not a new visit). */
export const VISIT_GAP_MS = 30 * 60_000
const DAY_MS = 86_400_000

export interface CouponLedgerOptions {
  db: Db
  key: SigningKey
  now?: () => number
  /** Where members without a push preference get their coupons. */
  defaultProvider?: string
  /** Called after each decision (duplicate says whether it was one): metrics, waking the outbox worker. */
  onOutcome?: (o: LedgerOutcome, ms: number) => void
}

interface CampaignVersionRow {
  body: Campaign
  archived: boolean
  current_enabled: boolean | null
}

export class CouponLedger {
  private readonly db: Db
  private readonly now: () => number
  private readonly defaultProvider: string

  constructor(private readonly opts: CouponLedgerOptions) {
    this.db = opts.db
    this.now = opts.now ?? Date.now
    this.defaultProvider = opts.defaultProvider ?? 'webhook'
  }

  /** Decides one coupon request (see the file comment). Safe to call again with the same request. */
  async requestCoupon(req: CouponRequest): Promise<LedgerOutcome> {
    const t0 = performance.now()
    // Fast path for redeliveries: no locks when the key is already decided.
    const seen = await this.db.query<CouponRow>('select * from coupons where key = $1', [req.key])
    const out = seen[0] ? outcomeOf(seen[0], true) : await this.db.tx((q) => this.decide(q, req))
    this.opts.onOutcome?.(out, performance.now() - t0)
    return out
  }

  private async decide(q: Queryable, req: CouponRequest): Promise<LedgerOutcome> {
    const received = this.now()
    const versions = await q.query<CampaignVersionRow>(
      `select v.body, c.archived, (c.body->>'enabled')::boolean as current_enabled
         from campaign_versions v join campaigns c on c.id = v.campaign_id
        where v.campaign_id = $1 and v.version = $2`,
      [req.campaignId, req.campaignVersion],
    )
    const cv = versions[0]
    const campaign = cv?.body
    if (campaign?.caps.budget) await q.query('select pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CAMPAIGN, req.campaignId])
    await q.query('select pg_advisory_xact_lock($1, hashtext($2))', [LOCK_MEMBER, req.memberRef])
    // Under the member lock a concurrent request with this key (same member) has committed or not started.
    const again = await q.query<CouponRow>('select * from coupons where key = $1', [req.key])
    if (again[0]) return outcomeOf(again[0], true)

    const group = campaign?.exclusiveGroup ?? null
    let reason: RejectReason | null = null
    if (!cv || !campaign) reason = 'unknown-campaign'
    else if (cv.archived || cv.current_enabled === false || !campaign.enabled) reason = 'campaign-disabled'
    else if (!campaign.stores.includes('*') && !campaign.stores.includes(req.storeId)) reason = 'wrong-store'
    else if (received - req.event.ts > campaign.lateAfterS * 1000) reason = 'too-late'
    else if (req.event.type !== 'exit' && (await this.memberLeft(q, req))) reason = 'member-left'
    else reason = await this.capsReason(q, req, campaign, group)

    const holdout = !reason && (req.holdout || inHoldout(campaign!.id, req.memberRef, campaign!.holdoutPct))
    const status: CouponStatus = reason ? 'rejected' : holdout ? 'holdout' : 'issued'
    const id = randomUUID()
    let code: string | null = null
    let expiresAt: number | null = null
    if (status === 'issued') {
      expiresAt = Math.ceil((received + campaign!.coupon.validHours * 3_600_000) / 1000) * 1000
      code = signCouponCode({ id, campaignId: req.campaignId, expiresAt }, this.opts.key.privateKey)
    }
    const rows = await q.query<CouponRow>(
      `insert into coupons (key, id, store_id, campaign_id, campaign_version, member_ref, exclusive_group, event_id, event_type, zone,
                            source, event_ts, fired_at, local_day, status, reason, code, expires_at, received_at, push_status)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::date, $15, $16, $17, $18, $19, $20)
       on conflict (key) do nothing returning *`,
      [
        req.key, id, req.storeId, req.campaignId, req.campaignVersion, req.memberRef, group, req.event.id, req.event.type, req.event.zone,
        req.event.source, new Date(req.event.ts), new Date(req.firedAt), req.localDay, status, reason, code,
        expiresAt === null ? null : new Date(expiresAt), new Date(received), status === 'issued' ? 'pending' : null,
      ],
    )
    if (!rows[0]) {
      // Only reachable if a writer bypassed the member lock; the first outcome still wins.
      const first = await q.query<CouponRow>('select * from coupons where key = $1', [req.key])
      return outcomeOf(first[0]!, true)
    }
    if (status === 'issued') {
      const m = await q.query<{ provider: string | null }>(`select push->>'provider' as provider from members where ref = $1`, [req.memberRef])
      await q.query('insert into coupon_outbox (coupon_key, provider, next_attempt_at) values ($1, $2, $3) on conflict do nothing', [req.key, m[0]?.provider || this.defaultProvider, new Date(received)])
    }
    return outcomeOf(rows[0], false)
  }

  /** An arrival (enter / dwell) coupon is moot once the member left that zone or drove out of the car park. */
  private async memberLeft(q: Queryable, req: CouponRequest): Promise<boolean> {
    const rows = await q.query(
      `select 1 from geofence_events
        where store_id = $1 and member_ref = $2 and type = 'exit' and ts > $3 and (zone = $4 or zone_kind = 'carpark')
        limit 1`,
      [req.storeId, req.memberRef, new Date(req.event.ts), req.event.zone],
    )
    return rows.length > 0
  }

  private async capsReason(q: Queryable, req: CouponRequest, c: Campaign, group: string | null): Promise<RejectReason | null> {
    const caps = c.caps
    const cooldownMs = (caps.cooldownS ?? 0) * 1000
    // Holdout rows count like issued ones: the member was "reached" for the experiment's sake.
    const [n] = await q.query<{ day: number; week: number; total: number; cooling: number; group_cooling: number; group_event: number }>(
      `select count(*) filter (where campaign_id = $2 and local_day = $3::date)::int as day,
              count(*) filter (where campaign_id = $2 and fired_at > $4 and fired_at <= $5)::int as week,
              count(*) filter (where campaign_id = $2)::int as total,
              count(*) filter (where campaign_id = $2 and fired_at > $6 and fired_at < $7)::int as cooling,
              count(*) filter (where $8::text is not null and exclusive_group = $8 and fired_at > $6 and fired_at < $7)::int as group_cooling,
              count(*) filter (where $8::text is not null and exclusive_group = $8 and event_id = $9)::int as group_event
         from coupons
        where member_ref = $1 and status in ('issued', 'holdout')`,
      [
        req.memberRef, req.campaignId, req.localDay, new Date(req.firedAt - 7 * DAY_MS), new Date(req.firedAt + 7 * DAY_MS),
        new Date(req.firedAt - cooldownMs), new Date(req.firedAt + cooldownMs), group, req.event.id,
      ],
    )
    if (group && n!.group_event > 0) return 'exclusive'
    if (cooldownMs > 0 && (n!.cooling > 0 || (group && n!.group_cooling > 0))) return 'cooldown'
    if (caps.perMemberPerDay && n!.day >= caps.perMemberPerDay) return 'cap-day'
    if (caps.perMemberPerWeek && n!.week >= caps.perMemberPerWeek) return 'cap-week'
    if (caps.perMemberPerCampaign && n!.total >= caps.perMemberPerCampaign) return 'cap-campaign'
    if (caps.budget && !(req.holdout || inHoldout(c.id, req.memberRef, c.holdoutPct))) {
      // A holdout costs nothing and is never refused for budget: the control group stays unbiased.
      const [b] = await q.query<{ n: number }>(`select count(*)::int as n from coupons where campaign_id = $1 and status = 'issued'`, [req.campaignId])
      if (b!.n >= caps.budget) return 'budget'
    }
    return null
  }

  /**
   * Stores a geofence event once (its id is deterministic, so a replay is a no-op) and, for a
   * member's exit from a store zone or the car park, updates their visit history at the store.
   * Returns false for a replay.
   */
  async recordGeofenceEvent(e: GeofenceEvent): Promise<boolean> {
    return this.db.tx(async (q) => {
      const ins = await q.query(
        `insert into geofence_events (id, store_id, type, zone, zone_kind, source, subject, member_ref, ts, entered_at, dwell_s, body)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) on conflict (id) do nothing returning id`,
        [e.id, e.storeId, e.type, e.zone, e.zoneKind, e.source, e.subject, e.memberRef ?? null, new Date(e.ts), new Date(e.enteredAt), e.dwellS ?? null, JSON.stringify(e)],
      )
      if (ins.length === 0) return false
      if (e.type === 'exit' && e.memberRef && e.zoneKind !== 'trade-area') {
        // A visit is a run of stays with gaps under VISIT_GAP_MS: a stay that began later than
        // that after the last recorded visit ended starts a new visit.
        await q.query(
          `insert into member_visits (member_ref, store_id, visits, last_visit_at)
           select $1, $2, 1, $3 where exists (select 1 from members where ref = $1) and exists (select 1 from stores where id = $2)
           on conflict (member_ref, store_id) do update set
             visits = member_visits.visits + case when member_visits.last_visit_at is null or $4 > member_visits.last_visit_at + $5 * interval '1 millisecond' then 1 else 0 end,
             last_visit_at = greatest(member_visits.last_visit_at, excluded.last_visit_at)`,
          [e.memberRef, e.storeId, new Date(e.ts), new Date(e.enteredAt), VISIT_GAP_MS],
        )
      }
      return true
    })
  }

  async get(key: string): Promise<LedgerOutcome | undefined> {
    const rows = await this.db.query<CouponRow>('select * from coupons where key = $1', [key])
    return rows[0] ? outcomeOf(rows[0], true) : undefined
  }
}
