import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveGatewayConfig } from '../gateway/core/config.ts'
import { createGatewayMetrics } from '../gateway/core/metrics.ts'
import { migrate, openDb, type Db } from '../gateway/db/index.ts'
import { CouponLedger } from '../gateway/coupons/ledger.ts'
import { CouponService } from '../gateway/coupons/coupons.service.ts'
import { loadSigningKey, registerPublicKey } from '../gateway/coupons/signing-key.ts'
import { CouponStats, countCouponMinutes } from '../gateway/tsdb/coupon-stats.ts'
import { TsdbWriter } from '../gateway/tsdb/tsdb.writer.ts'
import { tempDir, testLogger } from './helpers.ts'
import { PrivateVictoria } from './support/servers.ts'
import { campaign, request, seedCampaign, seedStore } from './support/coupon-fixtures.ts'

/**
 * The `coupons` measurement: per-minute figures counted from the ledger (PGlite) and written to a
 * real VictoriaMetrics; a recount writes the same points again, which overwrite (no double counting).
 */
const log = testLogger()
const M0 = Date.UTC(2025, 2, 1, 12, 0, 0) // in the past: VictoriaMetrics refuses samples from the future

describe('coupon figures per campaign, store and minute', () => {
  let db: Db
  let vm: PrivateVictoria
  let dir: string
  let cleanup: () => Promise<void>
  let clock = M0
  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('se-coupon-stats-'))
    db = await openDb({ log })
    await migrate(db, log)
    await seedStore(db, 'store-1')
    vm = await new PrivateVictoria(`${dir}/vm`).start()
  }, 60_000)
  afterAll(async () => {
    await db?.close()
    await vm?.stop()
    await cleanup()
  })

  it('counts decisions, pushes, dead letters and redemptions in the minute they happened, and writes them', { timeout: 60_000 }, async () => {
    const key = loadSigningKey({ dataDir: dir, log })
    await registerPublicKey(db, key)
    const ledger = new CouponLedger({ db, key, now: () => clock })
    await seedCampaign(db, campaign({ id: 'c-stats', caps: { budget: 3 } }))
    // Minute 0: 4 requests → 3 issued, 1 over budget. Minute 1: one pushed, one dead. Minute 2: one redeemed.
    const out = []
    clock = M0 + 5000
    for (let i = 0; i < 4; i++) out.push(await ledger.requestCoupon(request({ campaignId: 'c-stats', memberRef: `m-s${i}` }, clock)))
    await db.query(`update coupons set push_status = 'pushed', pushed_at = $2 where key = $1`, [out[0]!.key, new Date(M0 + 65_000)])
    await db.query(`update coupon_outbox set status = 'dead', dead_at = $2 where coupon_key = $1`, [out[1]!.key, new Date(M0 + 70_000)])
    clock = M0 + 130_000
    expect((await new CouponService(db, key, undefined, () => clock).redeem(out[2]!.code!, 'store-1', 'till')).ok).toBe(true)

    const minutes = await countCouponMinutes(db, M0)
    const z = { requested: 0, issued: 0, holdout: 0, rejected: 0, pushed: 0, dead: 0, redeemed: 0, campaignId: 'c-stats', storeId: 'store-1' }
    expect(minutes).toEqual([
      { ...z, minute: M0, requested: 4, issued: 3, rejected: 1 },
      { ...z, minute: M0 + 60_000, pushed: 1, dead: 1 },
      { ...z, minute: M0 + 120_000, redeemed: 1 },
    ])

    const cfg = { ...resolveGatewayConfig({ tsdb: { url: vm.url } }, {}).tsdb, flushMs: 20 }
    const writer = new TsdbWriter(cfg, createGatewayMetrics({ defaultMetrics: false }), log)
    const stats = new CouponStats({ db, write: (lines, done) => writer.enqueue(lines, done), log, now: () => clock, initialLookbackMs: 10 * 60_000 })
    await stats.flush()
    await stats.flush() // a recount (another replica, the next tick): same points
    await writer.stop()
    const series = await vm.export('{__name__=~"coupons_.*",campaign="c-stats"}')
    const by = Object.fromEntries(series.map((s) => [s.metric.__name__, s.timestamps.map((t, i) => [t - M0, s.values[i]])]))
    expect(by.coupons_issued).toEqual([[0, 3], [60_000, 0], [120_000, 0]])
    expect(by.coupons_rejected).toEqual([[0, 1], [60_000, 0], [120_000, 0]])
    expect(by.coupons_pushed).toEqual([[0, 0], [60_000, 1], [120_000, 0]])
    expect(by.coupons_dead).toEqual([[0, 0], [60_000, 1], [120_000, 0]])
    expect(by.coupons_redeemed).toEqual([[0, 0], [60_000, 0], [120_000, 1]])
    expect(series[0]!.metric).toMatchObject({ campaign: 'c-stats', store: 'store-1' })
  })
})
