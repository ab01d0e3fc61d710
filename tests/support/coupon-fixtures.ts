import { couponKey, type Campaign, type CouponRequest } from '../../edge/contracts/index.ts'
import type { Queryable } from '../../gateway/db/db.ts'

/** A valid campaign with no caps; override what a test needs. */
export function campaign(over: Partial<Campaign> = {}): Campaign {
  return {
    id: 'c-welcome',
    name: 'Welcome',
    version: 1,
    enabled: true,
    stores: ['*'],
    event: 'enter',
    zones: ['carpark'],
    audience: { membersOnly: true },
    schedule: {},
    caps: {},
    holdoutPct: 0,
    priority: 100,
    lateAfterS: 900,
    coupon: { templateId: 'tpl-welcome', title: '10 off today', body: 'Welcome back', valueCents: 1000, validHours: 24 },
    ...over,
  }
}

/** Inserts a campaign (as its current version and in the immutable versions). */
export async function seedCampaign(db: Queryable, c: Campaign, opts: { archived?: boolean } = {}): Promise<void> {
  await db.query(
    `insert into campaigns (id, name, current_version, body, archived) values ($1, $2, $3, $4, $5)
     on conflict (id) do update set name = excluded.name, current_version = excluded.current_version, body = excluded.body, archived = excluded.archived`,
    [c.id, c.name, c.version, JSON.stringify(c), opts.archived ?? false],
  )
  await db.query(`insert into campaign_versions (campaign_id, version, body, created_by) values ($1, $2, $3, 'test') on conflict do nothing`, [c.id, c.version, JSON.stringify(c)])
}

export async function seedMember(db: Queryable, ref: string, push: { provider?: string; openId?: string } = {}): Promise<void> {
  await db.query(`insert into members (ref, push) values ($1, $2) on conflict (ref) do update set push = excluded.push`, [ref, JSON.stringify(push)])
}

export async function seedStore(db: Queryable, id: string): Promise<void> {
  await db.query(`insert into stores (id, name) values ($1, $1) on conflict do nothing`, [id])
}

let seq = 0
/** A coupon request fired now for an event at `ts`; the key follows the contract (store, campaign, member, event). */
export function request(over: Partial<Omit<CouponRequest, 'event'>> & { event?: Partial<CouponRequest['event']> } = {}, now = Date.now()): CouponRequest {
  const storeId = over.storeId ?? 'store-1'
  const campaignId = over.campaignId ?? 'c-welcome'
  const memberRef = over.memberRef ?? 'm-1'
  const event = { id: `ev-${++seq}-${now}`, type: 'enter' as const, zone: 'carpark', source: 'plate' as const, ts: now, ...over.event }
  const firedAt = over.firedAt ?? event.ts
  return {
    v: 1,
    key: over.key ?? couponKey(storeId, campaignId, memberRef, event.id),
    storeId,
    campaignId,
    campaignVersion: over.campaignVersion ?? 1,
    memberRef,
    event,
    firedAt,
    localDay: over.localDay ?? new Date(firedAt).toISOString().slice(0, 10),
    holdout: over.holdout ?? false,
    priority: over.priority ?? 100,
    ...(over.exclusiveGroup ? { exclusiveGroup: over.exclusiveGroup } : {}),
  }
}
