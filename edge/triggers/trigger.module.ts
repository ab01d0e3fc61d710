import { topics, type GeofenceEvent } from '../contracts/index.ts'
import type { BusSubscriber, EventBus } from '../core/bus.ts'
import type { Clock } from '../core/clock.ts'
import type { EdgeConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { EdgeMetrics } from '../core/metrics.ts'
import type { EdgeModule, Publish } from '../core/module.ts'
import type { VisitView } from '../geofence/geofence.engine.ts'
import type { MarketingSource } from '../geofence/geofence.module.ts'
import { TriggerEngine, type TriggerResult } from './trigger.engine.ts'

/**
 * The adapter around the pure trigger engine: geofence events from the bus are evaluated against
 * the campaigns of the retained `config/triggers`; each fired trigger goes on the bus and on
 * `stores/{storeId}/coupons/requests` (QoS 1, through the uplink's spool to central's ledger).
 */
export class TriggerModule implements EdgeModule {
  readonly name = 'triggers'
  engine!: TriggerEngine
  /** Coupon requests fired since start (the demo's summary shows it). */
  fired = 0
  private sub?: BusSubscriber
  private unlisten?: () => void

  constructor(
    private readonly cfg: EdgeConfig,
    private readonly bus: EventBus,
    private readonly metrics: EdgeMetrics,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly publish: Publish,
    private readonly marketing: MarketingSource,
    private readonly visitOf: (subject: string, ts: number) => VisitView | undefined,
  ) {}

  async start(): Promise<void> {
    this.engine = new TriggerEngine({ storeId: this.cfg.store.id, timeZone: this.cfg.store.timezone })
    this.reconfigure()
    this.unlisten = this.marketing.onMarketing(() => this.reconfigure())
    this.sub = this.bus.subscriber(this.name)
    this.sub.onGeofence((e) => this.evaluate(e))
  }

  reconfigure(): void {
    this.engine.setMembers(this.marketing.members)
    this.engine.setTriggers({ campaigns: this.marketing.triggers?.campaigns ?? [] })
    this.log.debug({ campaigns: this.engine.campaignCount, members: this.marketing.members.size }, 'trigger config')
  }

  evaluate(e: GeofenceEvent): TriggerResult {
    const res = this.engine.evaluate(e, this.visitOf(e.subject, e.ts), this.clock.now())
    for (const s of res.suppressed) this.metrics.triggersSuppressed.inc({ reason: s.reason })
    const topic = topics.storeCouponRequests(this.cfg.store.id)
    for (const r of res.requests) {
      this.metrics.couponRequests.inc({ campaign: r.campaignId, holdout: String(r.holdout) })
      this.fired++
      this.bus.emitCouponRequest(r)
      void this.publish(topic, r)
    }
    if (res.requests.length) this.log.debug({ event: e.id, requests: res.requests.map((r) => r.campaignId) }, 'triggers fired')
    return res
  }

  async stop(): Promise<void> {
    this.sub?.off()
    this.unlisten?.()
  }
}
