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
 *  2. an advisory transaction lock on the member serialises replicas racing on one member, so the
 *     counts the caps are checked against are exact (read committed: each statement after the lock
 *     sees what the previous holder committed); a campaign's budget is a counter row incremented
 *     conditionally as the last statement before the commit, so racing replicas serialise on it
 *     only for the end of their transactions (the order is always member lock, then budget row:
 *     no deadlock), and a request that loses the last coupon to another replica is rejected;
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

/** Advisory lock namespace of members (the two-int form keeps it apart from the migration lock). */
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

/** Everything one decision reads, in one statement (after the member lock). */
interface DecisionFacts {
  existing: boolean
  cv: { body: Campaign; archived: boolean; current_enabled: boolean | null } | null
  provider: string | null
  member_left: boolean
  /** Coupons issued so far against the campaign's budget (committed), null before the first. */
  budget_used: number | null
  day: number
  week: number
  total: number
  cooling: number
  group_cooling: number
  group_event: number
}

/**
 * $1 key, $2 campaign, $3 version, $4 member, $5 store, $6 event ts, $7 zone, $8 local day,
 * $9 / $10 the week window around firedAt, $11 firedAt, $12 event id. Cooldown and group come from
 * the campaign version. "Left": a later exit of the event's zone, or of the car park (the member
 * drove away). Holdout rows count toward caps: the member was "reached" for the experiment's sake.
 */
const FACTS_SQL = `
  with cv as (
    select v.body, c.archived, (c.body->>'enabled')::boolean as current_enabled
      from campaign_versions v join campaigns c on c.id = v.campaign_id
     where v.campaign_id = $2 and v.version = $3
  ), p as (
    select coalesce((select (body->'caps'->>'cooldownS')::int from cv), 0) * interval '1 second' as cool,
           (select body->>'exclusiveGroup' from cv) as grp
  )
  select exists (select 1 from coupons where key = $1) as existing,
         (select row_to_json(cv) from cv) as cv,
         (select push->>'provider' from members where ref = $4) as provider,
         (select issued from coupon_budgets where campaign_id = $2) as budget_used,
         exists (select 1 from geofence_events g
                  where g.store_id = $5 and g.member_ref = $4 and g.type = 'exit' and g.ts > $6 and (g.zone = $7 or g.zone_kind = 'carpark')) as member_left,
         n.*
    from p, lateral (
      select count(*) filter (where campaign_id = $2 and local_day = $8::date)::int as day,
             count(*) filter (where campaign_id = $2 and fired_at > $9 and fired_at <= $10)::int as week,
             count(*) filter (where campaign_id = $2)::int as total,
             count(*) filter (where campaign_id = $2 and fired_at > $11::timestamptz - p.cool and fired_at < $11::timestamptz + p.cool)::int as cooling,
             count(*) filter (where p.grp is not null and exclusive_group = p.grp and fired_at > $11::timestamptz - p.cool and fired_at < $11::timestamptz + p.cool)::int as group_cooling,
             count(*) filter (where p.grp is not null and exclusive_group = p.grp and event_id = $12)::int as group_event
        from coupons where member_ref = $4 and status in ('issued', 'holdout')
    ) n`

function capsReason(n: DecisionFacts, c: Campaign, group: string | null): RejectReason | null {
  const caps = c.caps
  if (group && n.group_event > 0) return 'exclusive'
  if ((caps.cooldownS ?? 0) > 0 && (n.cooling > 0 || (group && n.group_cooling > 0))) return 'cooldown'
  if (caps.perMemberPerDay && n.day >= caps.perMemberPerDay) return 'cap-day'
  if (caps.perMemberPerWeek && n.week >= caps.perMemberPerWeek) return 'cap-week'
  if (caps.perMemberPerCampaign && n.total >= caps.perMemberPerCampaign) return 'cap-campaign'
  return null
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
    const out = await this.db.tx((q) => this.decide(q, req))
    this.opts.onOutcome?.(out, performance.now() - t0)
    return out
  }

  /**
   * Round trips: the member lock; one read of everything the decision needs (the key, the campaign
   * version, the member's counts, whether they left, their push provider, the budget used); one
   * insert of the coupon and its outbox row; for a campaign with a budget, the conditional
   * increment of its counter, last (and, when another replica took the last coupon in between,
   * turning the row into a budget rejection).
   */
  private async decide(q: Queryable, req: CouponRequest): Promise<LedgerOutcome> {
    const received = this.now()
    await q.query('select pg_advisory_xact_lock($1, hashtext($2))', [LOCK_MEMBER, req.memberRef])
    // After the lock: a concurrent request with this key (same member) has committed or not begun.
    const [s] = await q.query<DecisionFacts>(FACTS_SQL, [
      req.key, req.campaignId, req.campaignVersion, req.memberRef, req.storeId, new Date(req.event.ts), req.event.zone, req.localDay,
      new Date(req.firedAt - 7 * DAY_MS), new Date(req.firedAt + 7 * DAY_MS), new Date(req.firedAt), req.event.id,
    ])
    const f = s!
    if (f.existing) {
      const first = await q.query<CouponRow>('select * from coupons where key = $1', [req.key])
      return outcomeOf(first[0]!, true)
    }
    const campaign = f.cv?.body
    const group = campaign?.exclusiveGroup ?? null
    const holdout = !!campaign && (req.holdout || inHoldout(campaign.id, req.memberRef, campaign.holdoutPct))
    let reason: RejectReason | null = null
    if (!f.cv || !campaign) reason = 'unknown-campaign'
    else if (f.cv.archived || f.cv.current_enabled === false || !campaign.enabled) reason = 'campaign-disabled'
    else if (!campaign.stores.includes('*') && !campaign.stores.includes(req.storeId)) reason = 'wrong-store'
    else if (received - req.event.ts > campaign.lateAfterS * 1000) reason = 'too-late'
    else if (req.event.type !== 'exit' && f.member_left) reason = 'member-left'
    else reason = capsReason(f, campaign, group)
    // A holdout costs nothing and is never refused for budget: the control group stays unbiased.
    // The counter only grows, so a committed count at the budget already means no.
    const budget = !holdout ? campaign?.caps.budget : undefined
    if (!reason && budget && f.budget_used !== null && f.budget_used >= budget) reason = 'budget'

    const status: CouponStatus = reason ? 'rejected' : holdout ? 'holdout' : 'issued'
    const id = randomUUID()
    let code: string | null = null
    let expiresAt: number | null = null
    if (status === 'issued') {
      expiresAt = Math.ceil((received + campaign!.coupon.validHours * 3_600_000) / 1000) * 1000
      code = signCouponCode({ id, campaignId: req.campaignId, expiresAt }, this.opts.key.privateKey)
    }
    const rows = await q.query<CouponRow>(
      `with ins as (
         insert into coupons (key, id, store_id, campaign_id, campaign_version, member_ref, exclusive_group, event_id, event_type, zone,
                              source, event_ts, fired_at, local_day, status, reason, code, expires_at, received_at, push_status)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::date, $15, $16, $17, $18, $19, $20)
         on conflict (key) do nothing returning *
       ), outbox as (
         insert into coupon_outbox (coupon_key, provider, next_attempt_at) select key, $21, received_at from ins where status = 'issued'
       )
       select * from ins`,
      [
        req.key, id, req.storeId, req.campaignId, req.campaignVersion, req.memberRef, group, req.event.id, req.event.type, req.event.zone,
        req.event.source, new Date(req.event.ts), new Date(req.firedAt), req.localDay, status, reason, code,
        expiresAt === null ? null : new Date(expiresAt), new Date(received), status === 'issued' ? 'pending' : null, f.provider || this.defaultProvider,
      ],
    )
    if (!rows[0]) throw new Error(`coupon ${req.key} was written by a writer that bypassed the member lock`)
    if (status === 'issued' && budget) {
      // The budget last, so the counter row's lock is held only until the commit that follows.
      const b = await q.query(
        `insert into coupon_budgets (campaign_id, issued) values ($1, 1)
         on conflict (campaign_id) do update set issued = coupon_budgets.issued + 1 where coupon_budgets.issued < $2
         returning issued`,
        [req.campaignId, budget],
      )
      if (b.length === 0) {
        // Another replica took the last one since our read: this request is over budget after all.
        const over = await q.query<CouponRow>(
          `with d as (delete from coupon_outbox where coupon_key = $1)
           update coupons set status = 'rejected', reason = 'budget', code = null, expires_at = null, push_status = null where key = $1 returning *`,
          [req.key],
        )
        return outcomeOf(over[0]!, false)
      }
    }
    return outcomeOf(rows[0], false)
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
