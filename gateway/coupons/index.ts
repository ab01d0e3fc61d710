import type { Registry } from 'prom-client'
import type { GatewayConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { GatewayModule } from '../core/module.ts'
import type { Db } from '../db/db.ts'
import type { LiveHub } from '../live/live.hub.ts'
import { CouponFeed } from '../live/coupon-feed.ts'
import { CouponStats } from '../tsdb/coupon-stats.ts'
import type { TsdbWriter } from '../tsdb/tsdb.writer.ts'
import { createCouponMetrics, type CouponMetrics } from './coupon.metrics.ts'
import { CouponService } from './coupons.service.ts'
import { CouponLedger } from './ledger.ts'
import { OutboxWorker } from './outbox.worker.ts'
import type { PushProvider } from './providers/provider.ts'
import { WebhookProvider } from './providers/webhook.provider.ts'
import { WechatProvider } from './providers/wechat.provider.ts'
import { loadSigningKey, registerPublicKey } from './signing-key.ts'

export { CouponLedger } from './ledger.ts'
export { OutboxWorker } from './outbox.worker.ts'
export { CouponService } from './coupons.service.ts'
export * from './codes.ts'

export interface CouponModules {
  ledger: CouponLedger
  service: CouponService
  metrics: CouponMetrics
  /** Absent when coupons.push.enabled is false on this replica. */
  outbox?: OutboxWorker
  /** Absent without a TSDB. */
  stats?: CouponStats
  feed: CouponFeed
  /** In start order. */
  modules: GatewayModule[]
}

export function pushProviders(cfg: GatewayConfig['coupons']): Map<string, PushProvider> {
  const providers = new Map<string, PushProvider>()
  const timeoutMs = cfg.push.timeoutMs
  if (cfg.webhook.url) providers.set('webhook', new WebhookProvider({ url: cfg.webhook.url, secret: cfg.webhook.secret, timeoutMs }))
  if (cfg.wechat.appId) providers.set('wechat', new WechatProvider({ baseUrl: cfg.wechat.baseUrl.replace(/\/+$/, ''), appId: cfg.wechat.appId, appSecret: cfg.wechat.appSecret, timeoutMs }))
  return providers
}

/** The ledger, its push worker, the per-minute figures and the live feed, wired from the config. */
export async function createCouponModules(o: { cfg: GatewayConfig; db: Db; registry: Registry; hub: LiveHub; writer?: TsdbWriter; log: Logger; now: () => number }): Promise<CouponModules> {
  const c = o.cfg.coupons
  const child = (module: string) => o.log.child({ module })
  const key = loadSigningKey({ keyFile: c.signingKeyFile || undefined, dataDir: o.cfg.dataDir, log: child('coupons') })
  await registerPublicKey(o.db, key)
  const metrics = createCouponMetrics(o.registry)
  let outbox: OutboxWorker | undefined
  const ledger = new CouponLedger({
    db: o.db,
    key,
    now: o.now,
    defaultProvider: c.defaultProvider,
    onOutcome: (out, ms) => {
      if (out.duplicate) return metrics.duplicates.inc()
      metrics.ledgerSeconds.observe(ms / 1000)
      metrics.decisions.inc({ status: out.status, reason: out.reason ?? '' })
      if (out.status === 'issued') outbox?.kick()
    },
  })
  const providers = pushProviders(c)
  if (c.push.enabled) {
    if (providers.size === 0) child('coupons').warn('no push provider configured (coupons.webhook.url, coupons.wechat.appId): issued coupons wait in the outbox')
    outbox = new OutboxWorker({
      db: o.db,
      providers,
      log: child('coupon-outbox'),
      metrics,
      now: o.now,
      batch: c.push.batch,
      concurrency: c.push.concurrency,
      leaseMs: c.push.leaseMs,
      pollMs: c.push.pollMs,
      maxAttempts: c.push.maxAttempts,
      backoffBaseMs: c.push.backoffBaseMs,
      backoffMaxMs: c.push.backoffMaxMs,
    })
  }
  const writer = o.writer
  const stats = writer ? new CouponStats({ db: o.db, write: (lines, done) => writer.enqueue(lines, done), log: child('coupon-stats'), now: o.now, intervalMs: c.statsIntervalMs }) : undefined
  const feed = new CouponFeed(o.db, o.hub, child('coupon-feed'), o.now)
  const service = new CouponService(o.db, key, metrics, o.now)
  const modules: GatewayModule[] = [...(outbox ? [outbox] : []), ...(stats ? [stats] : []), feed]
  return { ledger, service, metrics, outbox, stats, feed, modules }
}
