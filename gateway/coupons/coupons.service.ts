import type { Campaign } from '../../edge/contracts/index.ts'
import { toMs, type Db } from '../db/db.ts'
import { maskCode, verifyCouponCode, type CouponPublicKey } from './codes.ts'
import type { CouponMetrics } from './coupon.metrics.ts'
import { outcomeOf, type CouponRow } from './ledger.ts'
import { publicKeys, type SigningKey } from './signing-key.ts'

export interface RedeemedCoupon {
  id: string
  campaignId: string
  memberRef: string
  title: string
  valueCents?: number
  percentOff?: number
  issuedAt: number
  expiresAt: number
  redeemedAt: number
}

export type RedeemResult =
  | { ok: true; coupon: RedeemedCoupon }
  | { ok: false; reason: 'invalid'; detail: string }
  | { ok: false; reason: 'expired'; expiresAt: number }
  | { ok: false; reason: 'redeemed'; redeemedAt: number; redeemedStore: string | null; redeemedBy: string | null }

export interface FunnelRow {
  campaignId: string
  name: string
  requested: number
  issued: number
  holdout: number
  rejected: Record<string, number>
  pushed: number
  dead: number
  redeemed: number
  budget: number | null
  budgetLeft: number | null
}

export interface ListedCoupon {
  key: string
  id: string
  storeId: string
  campaignId: string
  campaignVersion: number
  memberRef: string
  eventId: string
  eventType: string
  zone: string
  source: string
  status: string
  reason: string | null
  code: string | null
  expiresAt: number | null
  firedAt: number
  receivedAt: number
  pushStatus: string | null
  pushedAt: number | null
  redeemedAt: number | null
  redeemedStore: string | null
}

/** Redemption, the public keys, listing and the funnel: what the API and the tills need of the ledger. */
export class CouponService {
  private keys: Array<CouponPublicKey & { publicKeyPem: string }> = []

  constructor(
    private readonly db: Db,
    readonly signingKey: SigningKey,
    private readonly metrics?: CouponMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  /** Every registered public key (refreshed when a code names a key not seen yet). */
  async publicKeys(refresh = false): Promise<Array<CouponPublicKey & { publicKeyPem: string }>> {
    if (refresh || this.keys.length === 0) this.keys = await publicKeys(this.db)
    return this.keys
  }

  /**
   * Redeems once, even with two tills (or two replicas) at the same instant: the update is
   * conditional on `redeemed_at is null`, and PostgreSQL re-checks that condition on the row
   * after the concurrent update commits, so exactly one of them gets the row back.
   */
  async redeem(code: string, storeId: string, by: string): Promise<RedeemResult> {
    const now = this.now()
    let keys = await this.publicKeys()
    let v = verifyCouponCode(code, keys, now)
    if (!v.ok && v.reason === 'unknown-key') {
      keys = await this.publicKeys(true)
      v = verifyCouponCode(code, keys, now)
    }
    const result = await this.redeemVerified(v, storeId, by, now)
    this.metrics?.redemptions.inc({ result: result.ok ? 'ok' : result.reason })
    return result
  }

  private async redeemVerified(v: ReturnType<typeof verifyCouponCode>, storeId: string, by: string, now: number): Promise<RedeemResult> {
    if (!v.ok && v.reason !== 'expired') return { ok: false, reason: 'invalid', detail: v.reason }
    const id = v.claims.id
    const rows = await this.db.query<CouponRow & { body: Campaign }>(
      `update coupons c set redeemed_at = $2, redeemed_store = $3, redeemed_by = $4
         from campaign_versions v
        where c.id = $1 and c.status = 'issued' and c.redeemed_at is null and c.expires_at > $2
          and v.campaign_id = c.campaign_id and v.version = c.campaign_version
       returning c.*, v.body`,
      [id, new Date(now), storeId, by],
    )
    const r = rows[0]
    if (r) {
      const t = r.body.coupon
      return {
        ok: true,
        coupon: {
          id: r.id,
          campaignId: r.campaign_id,
          memberRef: r.member_ref,
          title: t.title,
          ...(t.valueCents !== undefined ? { valueCents: t.valueCents } : {}),
          ...(t.percentOff !== undefined ? { percentOff: t.percentOff } : {}),
          issuedAt: toMs(r.received_at)!,
          expiresAt: toMs(r.expires_at)!,
          redeemedAt: toMs(r.redeemed_at)!,
        },
      }
    }
    const [cur] = await this.db.query<CouponRow>('select * from coupons where id = $1', [id])
    if (!cur || cur.status !== 'issued') return { ok: false, reason: 'invalid', detail: 'no such issued coupon' }
    if (cur.redeemed_at) return { ok: false, reason: 'redeemed', redeemedAt: toMs(cur.redeemed_at)!, redeemedStore: cur.redeemed_store, redeemedBy: cur.redeemed_by }
    return { ok: false, reason: 'expired', expiresAt: toMs(cur.expires_at)! }
  }

  async list(f: { campaign?: string; store?: string; status?: string; stores?: string[]; limit: number }): Promise<ListedCoupon[]> {
    const rows = await this.db.query<CouponRow>(
      `select * from coupons
        where ($1::text is null or campaign_id = $1) and ($2::text is null or store_id = $2)
          and ($3::text is null or status = $3 or push_status = $3 or ($3 = 'redeemed' and redeemed_at is not null))
          and ($4::jsonb is null or $4::jsonb ? store_id)
        order by received_at desc limit $5`,
      [f.campaign ?? null, f.store ?? null, f.status ?? null, f.stores ? JSON.stringify(f.stores) : null, f.limit],
    )
    return rows.map((r) => {
      const { duplicate: _d, redeemedBy: _b, ...o } = outcomeOf(r, false)
      return { ...o, eventType: r.event_type, zone: r.zone, source: r.source, code: maskCode(r.code) }
    })
  }

  /**
   * Per campaign over requests decided in [from, to): requested → issued (and held out, and
   * rejected by reason) → pushed → redeemed, with the budget and what is left of it (all time).
   */
  async funnel(from: number, to: number, stores?: string[]): Promise<FunnelRow[]> {
    const scope = stores ? JSON.stringify(stores) : null
    const rows = await this.db.query<{ campaign_id: string; status: string; reason: string | null; n: number; pushed: number; dead: number; redeemed: number }>(
      `select campaign_id, status, reason, count(*)::int as n,
              count(*) filter (where push_status = 'pushed')::int as pushed,
              count(*) filter (where push_status = 'dead')::int as dead,
              count(*) filter (where redeemed_at is not null)::int as redeemed
         from coupons
        where received_at >= $1 and received_at < $2 and ($3::jsonb is null or $3::jsonb ? store_id)
        group by 1, 2, 3`,
      [new Date(from), new Date(to), scope],
    )
    const ids = [...new Set(rows.map((r) => r.campaign_id))]
    const meta = await this.db.query<{ id: string; name: string; budget: number | null; issued: number }>(
      `select c.id, c.name, (c.body->'caps'->>'budget')::int as budget,
              (select count(*)::int from coupons k where k.campaign_id = c.id and k.status = 'issued') as issued
         from campaigns c where c.id in (select jsonb_array_elements_text($1::jsonb))`,
      [JSON.stringify(ids)],
    )
    const byId = new Map(meta.map((m) => [m.id, m]))
    const out = new Map<string, FunnelRow>()
    for (const r of rows) {
      const m = byId.get(r.campaign_id)
      let f = out.get(r.campaign_id)
      if (!f) {
        const budget = m?.budget ?? null
        f = { campaignId: r.campaign_id, name: m?.name ?? r.campaign_id, requested: 0, issued: 0, holdout: 0, rejected: {}, pushed: 0, dead: 0, redeemed: 0, budget, budgetLeft: budget === null ? null : Math.max(0, budget - (m?.issued ?? 0)) }
        out.set(r.campaign_id, f)
      }
      f.requested += r.n
      if (r.status === 'issued') f.issued += r.n
      else if (r.status === 'holdout') f.holdout += r.n
      else f.rejected[r.reason ?? 'unknown'] = (f.rejected[r.reason ?? 'unknown'] ?? 0) + r.n
      f.pushed += r.pushed
      f.dead += r.dead
      f.redeemed += r.redeemed
    }
    return [...out.values()].sort((a, b) => a.campaignId.localeCompare(b.campaignId))
  }
}
