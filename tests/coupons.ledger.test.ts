import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { couponKey, type GeofenceEvent } from '../edge/contracts/index.ts'
import { migrate, openDb, type Db } from '../gateway/db/index.ts'
import { CouponLedger, type LedgerOutcome } from '../gateway/coupons/ledger.ts'
import { verifyCouponCode, publicKeyFrom } from '../gateway/coupons/codes.ts'
import { loadSigningKey, type SigningKey } from '../gateway/coupons/signing-key.ts'
import { tempDir, testLogger } from './helpers.ts'
import { PG_ADMIN_URL, freshDatabase } from './support/gateway.ts'
import { campaign, request, seedCampaign, seedMember, seedStore } from './support/coupon-fixtures.ts'

/**
 * The coupon ledger on both engines (PGlite in memory, the machine's PostgreSQL in a fresh
 * database): every decision the ledger makes, and on PostgreSQL two pools ("replicas") racing.
 */
const log = testLogger()
const pgReachable = await (async () => {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 })
  try {
    await c.connect()
    return true
  } catch {
    return false
  } finally {
    await c.end().catch(() => undefined)
  }
})()

const drops: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const d of drops) await d()
})

const engines = [
  { name: 'PGlite', enabled: true, open: async () => ({ db: await openDb({ log }), url: '' }) },
  {
    name: 'PostgreSQL',
    enabled: pgReachable,
    open: async () => {
      const fresh = await freshDatabase('se_coupons')
      drops.push(fresh.drop)
      return { db: await openDb({ url: fresh.url, log }), url: fresh.url }
    },
  },
]

const T0 = Date.UTC(2030, 5, 3, 10, 0, 0)
const HOUR = 3_600_000
const DAY = 24 * HOUR

describe.each(engines)('coupon ledger on $name', (engine) => {
  if (!engine.enabled) {
    it.skip('database not reachable', () => undefined)
    return
  }
  let db: Db
  let url: string
  let key: SigningKey
  let ledger: CouponLedger
  let clock = T0
  let cleanup: () => Promise<void>
  const outcomes: LedgerOutcome[] = []

  beforeAll(async () => {
    ;({ db, url } = await engine.open())
    await migrate(db, log)
    const t = await tempDir('se-coupon-key-')
    cleanup = t.cleanup
    key = loadSigningKey({ dataDir: t.dir, log })
    ledger = new CouponLedger({ db, key, now: () => clock, onOutcome: (o) => outcomes.push(o) })
    await seedStore(db, 'store-1')
  })
  afterAll(async () => {
    await db?.close()
    await cleanup?.()
  })

  const count = async (sql: string, params: unknown[] = []) => Number((await db.query<{ n: number }>(sql, params))[0]!.n)

  it('issues a coupon with a signed code, an expiry and an outbox row for the member’s provider', async () => {
    clock = T0
    await seedCampaign(db, campaign({ id: 'c-issue' }))
    await seedMember(db, 'm-wx', { provider: 'wechat', openId: 'o-123' })
    const r = request({ campaignId: 'c-issue', memberRef: 'm-wx' }, T0 - 5000)
    const o = await ledger.requestCoupon(r)
    expect(o).toMatchObject({ key: r.key, status: 'issued', reason: null, pushStatus: 'pending', duplicate: false, expiresAt: T0 + 24 * HOUR })
    const v = verifyCouponCode(o.code!, publicKeyFrom(key.publicKeyPem), T0)
    expect(v).toEqual({ ok: true, claims: { id: o.id, campaignId: 'c-issue', expiresAt: T0 + 24 * HOUR, kid: key.kid } })
    expect(await db.query('select provider, status, attempts from coupon_outbox where coupon_key = $1', [r.key])).toEqual([{ provider: 'wechat', status: 'pending', attempts: 0 }])
    // A member without a push preference gets the default provider.
    const r2 = request({ campaignId: 'c-issue', memberRef: 'm-nopref' }, T0 - 5000)
    await ledger.requestCoupon(r2)
    expect(await db.query('select provider from coupon_outbox where coupon_key = $1', [r2.key])).toEqual([{ provider: 'webhook' }])
  })

  it('answers a duplicate key with the first outcome, unchanged, and writes nothing', async () => {
    clock = T0
    await seedCampaign(db, campaign({ id: 'c-dup', caps: { perMemberPerDay: 1 } }))
    const r = request({ campaignId: 'c-dup', memberRef: 'm-dup' }, T0)
    const first = await ledger.requestCoupon(r)
    clock = T0 + 3 * HOUR // later, even too late: still the first outcome
    const again = await ledger.requestCoupon(r)
    expect(again).toEqual({ ...first, duplicate: true })
    const rejected = await ledger.requestCoupon(request({ campaignId: 'c-dup', memberRef: 'm-dup', event: { ts: T0 + 3 * HOUR - 1000 } }))
    expect(rejected).toMatchObject({ status: 'rejected', reason: 'cap-day' })
    expect(await ledger.requestCoupon({ ...request({ campaignId: 'c-dup', memberRef: 'm-dup' }), key: rejected.key })).toEqual({ ...rejected, duplicate: true })
    expect(await count(`select count(*)::int as n from coupons where campaign_id = 'c-dup'`)).toBe(2)
    expect(await count(`select count(*)::int as n from coupon_outbox where coupon_key = $1`, [r.key])).toBe(1)
  })

  it('rejects unknown campaigns and versions, disabled and archived campaigns, other stores', async () => {
    clock = T0
    const unknown = await ledger.requestCoupon(request({ campaignId: 'c-nope', memberRef: 'm-u' }, T0))
    expect(unknown).toMatchObject({ status: 'rejected', reason: 'unknown-campaign', code: null, pushStatus: null })
    await seedCampaign(db, campaign({ id: 'c-v' }))
    expect(await ledger.requestCoupon(request({ campaignId: 'c-v', campaignVersion: 9, memberRef: 'm-u' }, T0))).toMatchObject({ reason: 'unknown-campaign' })
    await seedCampaign(db, campaign({ id: 'c-off', enabled: false }))
    expect(await ledger.requestCoupon(request({ campaignId: 'c-off', memberRef: 'm-u' }, T0))).toMatchObject({ reason: 'campaign-disabled' })
    await seedCampaign(db, campaign({ id: 'c-arch' }), { archived: true })
    expect(await ledger.requestCoupon(request({ campaignId: 'c-arch', memberRef: 'm-u' }, T0))).toMatchObject({ reason: 'campaign-disabled' })
    // Version 1 enabled, but marketing disabled the campaign since (version 2): nothing more goes out.
    await seedCampaign(db, campaign({ id: 'c-later' }))
    await seedCampaign(db, campaign({ id: 'c-later', version: 2, enabled: false }))
    expect(await ledger.requestCoupon(request({ campaignId: 'c-later', memberRef: 'm-u' }, T0))).toMatchObject({ reason: 'campaign-disabled' })
    await seedCampaign(db, campaign({ id: 'c-store', stores: ['store-9'] }))
    expect(await ledger.requestCoupon(request({ campaignId: 'c-store', memberRef: 'm-u' }, T0))).toMatchObject({ reason: 'wrong-store' })
    expect(await count(`select count(*)::int as n from coupons where member_ref = 'm-u' and status = 'rejected'`)).toBe(6)
    expect(await count(`select count(*)::int as n from coupon_outbox o join coupons c on c.key = o.coupon_key where c.member_ref = 'm-u'`)).toBe(0)
  })

  it('drops a request that arrives after lateAfterS', async () => {
    await seedCampaign(db, campaign({ id: 'c-late', lateAfterS: 60 }))
    clock = T0
    expect(await ledger.requestCoupon(request({ campaignId: 'c-late', memberRef: 'm-l' }, T0 - 60_000))).toMatchObject({ status: 'issued' })
    expect(await ledger.requestCoupon(request({ campaignId: 'c-late', memberRef: 'm-l2' }, T0 - 60_001))).toMatchObject({ status: 'rejected', reason: 'too-late' })
  })

  it('drops an arrival coupon once the member has left (a later exit of the zone or of the car park)', async () => {
    await seedCampaign(db, campaign({ id: 'c-left', zones: ['beauty', 'carpark'] }))
    clock = T0
    const exit = (zone: string, zoneKind: GeofenceEvent['zoneKind'], ts: number, member = 'm-left'): GeofenceEvent => ({
      v: 1, id: `gf-${zone}-${member}-${ts}`, type: 'exit', storeId: 'store-1', zone, zoneKind, source: zoneKind === 'carpark' ? 'plate' : 'ble',
      subject: `member:${member}`, memberRef: member, confidence: 1, enteredAt: ts - 600_000, ts, dwellS: 600, explicit: true,
    })
    expect(await ledger.recordGeofenceEvent(exit('beauty', 'indoor', T0 - 10_000))).toBe(true)
    expect(await ledger.recordGeofenceEvent(exit('beauty', 'indoor', T0 - 10_000))).toBe(false) // a replay
    // The enter happened before that exit: moot.
    expect(await ledger.requestCoupon(request({ campaignId: 'c-left', memberRef: 'm-left', event: { zone: 'beauty', ts: T0 - 20_000 } }))).toMatchObject({ reason: 'member-left' })
    // An enter after it is a new stay: issued.
    expect(await ledger.requestCoupon(request({ campaignId: 'c-left', memberRef: 'm-left', event: { zone: 'beauty', ts: T0 - 5000 } }))).toMatchObject({ status: 'issued' })
    // Driving out of the car park ends every arrival at the store, whatever the zone.
    await ledger.recordGeofenceEvent(exit('carpark', 'carpark', T0 - 1000, 'm-left2'))
    expect(await ledger.requestCoupon(request({ campaignId: 'c-left', memberRef: 'm-left2', event: { zone: 'beauty', ts: T0 - 2000 } }))).toMatchObject({ reason: 'member-left' })
    // Another zone's exit is just moving around: not left.
    await ledger.recordGeofenceEvent(exit('shoes', 'indoor', T0 - 1000, 'm-left3'))
    expect(await ledger.requestCoupon(request({ campaignId: 'c-left', memberRef: 'm-left3', event: { zone: 'beauty', ts: T0 - 2000 } }))).toMatchObject({ status: 'issued' })
  })

  it('caps per member per local day', async () => {
    await seedCampaign(db, campaign({ id: 'c-day', caps: { perMemberPerDay: 2 } }))
    clock = T0
    const day = (ts: number, localDay: string) => ledger.requestCoupon(request({ campaignId: 'c-day', memberRef: 'm-day', localDay, event: { ts } }))
    expect((await day(T0 - 3000, '2030-06-03')).status).toBe('issued')
    expect((await day(T0 - 2000, '2030-06-03')).status).toBe('issued')
    expect(await day(T0 - 1000, '2030-06-03')).toMatchObject({ reason: 'cap-day' })
    // Another member is not affected; the next local day starts again.
    expect((await ledger.requestCoupon(request({ campaignId: 'c-day', memberRef: 'm-day-2' }, T0))).status).toBe('issued')
    clock = T0 + DAY
    expect((await day(T0 + DAY - 1000, '2030-06-04')).status).toBe('issued')
  })

  it('caps per member over a rolling week and over the campaign', async () => {
    await seedCampaign(db, campaign({ id: 'c-week', caps: { perMemberPerWeek: 2, perMemberPerCampaign: 3 } }))
    const at = async (ts: number) => {
      clock = ts + 1000
      return ledger.requestCoupon(request({ campaignId: 'c-week', memberRef: 'm-week', event: { ts } }))
    }
    expect((await at(T0)).status).toBe('issued')
    expect((await at(T0 + 2 * DAY)).status).toBe('issued')
    expect(await at(T0 + 6 * DAY)).toMatchObject({ reason: 'cap-week' }) // two in the last 7 days
    expect((await at(T0 + 7 * DAY + 1000)).status).toBe('issued') // the first fell out of the window
    expect(await at(T0 + 30 * DAY)).toMatchObject({ reason: 'cap-campaign' }) // three over the campaign's life
  })

  it('enforces the cooldown between two coupons of a campaign to one member', async () => {
    await seedCampaign(db, campaign({ id: 'c-cool', caps: { cooldownS: 3600 } }))
    const at = async (ts: number) => {
      clock = ts + 1000
      return ledger.requestCoupon(request({ campaignId: 'c-cool', memberRef: 'm-cool', event: { ts } }))
    }
    expect((await at(T0)).status).toBe('issued')
    expect(await at(T0 + 3_599_000)).toMatchObject({ reason: 'cooldown' })
    expect((await at(T0 + 3_600_000)).status).toBe('issued')
  })

  it('exclusive groups: one coupon per member per event across the group, and a shared cooldown', async () => {
    await seedCampaign(db, campaign({ id: 'c-ex-a', exclusiveGroup: 'arrival', priority: 200, caps: { cooldownS: 600 } }))
    await seedCampaign(db, campaign({ id: 'c-ex-b', exclusiveGroup: 'arrival', priority: 100, caps: { cooldownS: 600 } }))
    await seedCampaign(db, campaign({ id: 'c-ex-free' }))
    clock = T0
    const event = { id: 'ev-arrival-1', ts: T0 - 1000 }
    expect((await ledger.requestCoupon(request({ campaignId: 'c-ex-a', memberRef: 'm-ex', event, exclusiveGroup: 'arrival' }))).status).toBe('issued')
    expect(await ledger.requestCoupon(request({ campaignId: 'c-ex-b', memberRef: 'm-ex', event, exclusiveGroup: 'arrival' }))).toMatchObject({ reason: 'exclusive' })
    // A campaign outside the group is not excluded.
    expect((await ledger.requestCoupon(request({ campaignId: 'c-ex-free', memberRef: 'm-ex', event }))).status).toBe('issued')
    // Another event five minutes later: the group's cooldown (B's own 600 s) still runs from A's coupon.
    clock = T0 + 300_000
    expect(await ledger.requestCoupon(request({ campaignId: 'c-ex-b', memberRef: 'm-ex', event: { id: 'ev-arrival-2', ts: T0 + 299_000 } }))).toMatchObject({ reason: 'cooldown' })
    clock = T0 + 700_000
    expect((await ledger.requestCoupon(request({ campaignId: 'c-ex-b', memberRef: 'm-ex', event: { id: 'ev-arrival-3', ts: T0 + 699_000 } }))).status).toBe('issued')
  })

  it('stops at the budget; holdouts are recorded, never pushed, and cost no budget', async () => {
    await seedCampaign(db, campaign({ id: 'c-budget', caps: { budget: 3 } }))
    clock = T0
    const results: LedgerOutcome[] = []
    for (let i = 0; i < 5; i++) results.push(await ledger.requestCoupon(request({ campaignId: 'c-budget', memberRef: `m-b${i}` }, T0)))
    expect(results.map((r) => r.reason ?? r.status)).toEqual(['issued', 'issued', 'issued', 'budget', 'budget'])
    const held = await ledger.requestCoupon(request({ campaignId: 'c-budget', memberRef: 'm-b-held', holdout: true }, T0))
    expect(held).toMatchObject({ status: 'holdout', code: null, pushStatus: null, reason: null })
    expect(await count(`select count(*)::int as n from coupon_outbox where coupon_key = $1`, [held.key])).toBe(0)
  })

  it('puts the campaign’s deterministic holdout share in holdout, and holdouts count toward caps', async () => {
    await seedCampaign(db, campaign({ id: 'c-hold', holdoutPct: 50, caps: { perMemberPerDay: 1 } }))
    clock = T0
    const out: LedgerOutcome[] = []
    for (let i = 0; i < 40; i++) out.push(await ledger.requestCoupon(request({ campaignId: 'c-hold', memberRef: `m-h${i}` }, T0)))
    const held = out.filter((o) => o.status === 'holdout')
    expect(held.length).toBeGreaterThan(5)
    expect(held.length).toBeLessThan(35)
    // The same member again the same day: capped, holdout or not.
    const again = await ledger.requestCoupon(request({ campaignId: 'c-hold', memberRef: held[0]!.memberRef }, T0))
    expect(again).toMatchObject({ reason: 'cap-day' })
  })

  it('records visits from members’ exits: a new visit after a 30-minute gap, not per zone', async () => {
    await seedMember(db, 'm-visit')
    const exit = (zone: string, enteredAt: number, ts: number): GeofenceEvent => ({
      v: 1, id: `gv-${zone}-${ts}`, type: 'exit', storeId: 'store-1', zone, zoneKind: 'indoor', source: 'ble', subject: 'member:m-visit', memberRef: 'm-visit',
      confidence: 0.9, enteredAt, ts, dwellS: (ts - enteredAt) / 1000,
    })
    await ledger.recordGeofenceEvent(exit('entrance', T0, T0 + 60_000))
    await ledger.recordGeofenceEvent(exit('beauty', T0 + 60_000, T0 + 1_200_000)) // same visit
    await ledger.recordGeofenceEvent(exit('entrance', T0 + 5 * HOUR, T0 + 5 * HOUR + 60_000)) // a new one
    expect(await db.query(`select visits, last_visit_at from member_visits where member_ref = 'm-visit'`)).toEqual([{ visits: 2, last_visit_at: new Date(T0 + 5 * HOUR + 60_000) }])
  })

  it('notifies each decision once; duplicates are flagged', async () => {
    await seedCampaign(db, campaign({ id: 'c-notify' }))
    clock = T0
    outcomes.length = 0
    const r = request({ campaignId: 'c-notify', memberRef: 'm-n' }, T0)
    await ledger.requestCoupon(r)
    await ledger.requestCoupon(r)
    expect(outcomes.map((o) => o.duplicate)).toEqual([false, true])
  })

  it.runIf(engine.name === 'PostgreSQL')('two replicas racing: caps, budget and keys hold under 50 concurrent requests', { timeout: 60_000 }, async () => {
    const other = await openDb({ url, log, poolMax: 10 })
    const ledger2 = new CouponLedger({ db: other, key, now: () => clock })
    try {
      clock = T0
      // One member, 50 different events at once, half on each replica: the day cap is 3.
      await seedCampaign(db, campaign({ id: 'c-race-member', caps: { perMemberPerDay: 3 } }))
      const member = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 ? ledger : ledger2).requestCoupon(request({ campaignId: 'c-race-member', memberRef: 'm-race', event: { id: `race-${i}`, ts: T0 - 1000 } }))),
      )
      expect(member.filter((o) => o.status === 'issued')).toHaveLength(3)
      expect(member.filter((o) => o.reason === 'cap-day')).toHaveLength(47)

      // 50 members at once against a budget of 10.
      await seedCampaign(db, campaign({ id: 'c-race-budget', caps: { budget: 10 } }))
      const budget = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? ledger : ledger2).requestCoupon(request({ campaignId: 'c-race-budget', memberRef: `m-rb${i}` }, T0))))
      expect(budget.filter((o) => o.status === 'issued')).toHaveLength(10)
      expect(await count(`select count(*)::int as n from coupons where campaign_id = 'c-race-budget' and status = 'issued'`)).toBe(10)
      // Requests that passed the read but lost the counter are plain budget rejections: no code, no outbox row.
      expect(budget.filter((o) => o.reason === 'budget').every((o) => o.code === null && o.pushStatus === null && o.expiresAt === null)).toBe(true)
      expect(await count(`select count(*)::int as n from coupon_outbox o join coupons c on c.key = o.coupon_key where c.campaign_id = 'c-race-budget'`)).toBe(10)
      expect(await count(`select issued as n from coupon_budgets where campaign_id = 'c-race-budget'`)).toBe(10)

      // The same key 50 times at once (redeliveries to both replicas): one row, one outcome, one outbox row.
      await seedCampaign(db, campaign({ id: 'c-race-key' }))
      const r = request({ campaignId: 'c-race-key', memberRef: 'm-rk' }, T0)
      const same = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? ledger : ledger2).requestCoupon(r)))
      expect(new Set(same.map((o) => o.id)).size).toBe(1)
      expect(new Set(same.map((o) => o.code)).size).toBe(1)
      expect(same.filter((o) => !o.duplicate)).toHaveLength(1)
      expect(await count(`select count(*)::int as n from coupons where key = $1`, [r.key])).toBe(1)
      expect(await count(`select count(*)::int as n from coupon_outbox where coupon_key = $1`, [r.key])).toBe(1)
      expect(r.key).toBe(couponKey('store-1', 'c-race-key', 'm-rk', r.event.id))
    } finally {
      await other.close()
    }
  })
})
