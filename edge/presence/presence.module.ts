import { topics, type MinuteAggregate, type PresenceEvent, type Sighting } from '../contracts/index.ts'
import type { BusSubscriber, EventBus } from '../core/bus.ts'
import type { Clock } from '../core/clock.ts'
import type { EdgeConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { EdgeMetrics } from '../core/metrics.ts'
import type { EdgeModule, Publish } from '../core/module.ts'
import { MinuteAggregator } from '../aggregates/minute-aggregator.ts'
import { PresenceEngine, WifiVisitClassifier, type VisitEvent } from './index.ts'

/**
 * The adapter around the pure presence domain: sightings from the bus go through the visit
 * classifier, the presence engine and the minute aggregator; a 1 s tick drives stale/exit
 * transitions and closes aggregate intervals, which are published on stores/{storeId}/agg.
 */
export class PresenceModule implements EdgeModule {
  readonly name = 'presence'
  engine!: PresenceEngine
  /** Visitor vs passer-by, one classifier per source (their RSSI levels differ). */
  visits!: { ble: WifiVisitClassifier; wifi: WifiVisitClassifier }
  aggregator!: MinuteAggregator
  /** The most recent aggregates, newest last (for /v1/stats). */
  readonly recent: MinuteAggregate[] = []
  private sub?: BusSubscriber
  private timer?: NodeJS.Timeout
  private readonly visitEvents: VisitEvent[] = []
  private lastVisitScan = 0

  constructor(
    private readonly cfg: EdgeConfig,
    private readonly bus: EventBus,
    private readonly metrics: EdgeMetrics,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly publish: Publish,
  ) {}

  async start(): Promise<void> {
    const cfg = this.cfg
    this.engine = new PresenceEngine({ presence: cfg.presence, zones: cfg.zones, sensors: cfg.sensors })
    this.visits = {
      ble: new WifiVisitClassifier(cfg.ble, { sensors: cfg.sensors }),
      wifi: new WifiVisitClassifier(cfg.wifi, { sensors: cfg.sensors }),
    }
    this.aggregator = new MinuteAggregator(cfg.store.id, cfg.aggregates.intervalMs, cfg.zones)
    this.sub = this.bus.subscriber(this.name)
    this.sub.onSightings(({ sightings, receivedAt }) => {
      for (let i = 0; i < sightings.length; i++) this.ingest(sightings[i]!)
      this.metrics.ingestLatency.observe(Math.max(0, this.clock.now() - receivedAt) / 1000)
    })
    this.timer = setInterval(() => this.tick(this.clock.now()), 1000)
    this.timer.unref()
  }

  /**
   * Apply a new store layout (cfg.zones / cfg.sensors, already replaced by the caller) live. The
   * engine is rebuilt, so devices are placed afresh from their next sightings; visits (and so the
   * visitor counts) carry on.
   */
  reconfigure(): void {
    const cfg = this.cfg
    this.engine = new PresenceEngine({ presence: cfg.presence, zones: cfg.zones, sensors: cfg.sensors })
    this.visits.ble.setSensors(cfg.sensors)
    this.visits.wifi.setSensors(cfg.sensors)
    this.aggregator.setZones(cfg.zones)
    this.log.info({ zones: cfg.zones.length, sensors: cfg.sensors.length }, 'store layout applied')
  }

  /** One sighting through classifier → aggregator → engine; hot path. */
  ingest(s: Sighting): void {
    const ve = this.visitEvents
    const visits = this.visits[s.source]
    const cls = visits.observe(s, ve)
    if (visits.stitchedFrom !== undefined && this.engine.rename(visits.stitchedFrom, s.id)) {
      this.aggregator.renameStay(visits.stitchedFrom, s.id)
    }
    this.aggregator.observeSighting(s, cls)
    if (ve.length) this.drainVisits()
    // The visit classifier is the door: a device never heard strongly enough to start a visit is
    // outside (on the street, in the mall corridor) and is not placed in any zone.
    if (cls === 'passer-by') return
    const events = this.engine.ingest(s)
    if (events) for (const e of events) this.onPresence(e)
  }

  private drainVisits(): void {
    for (const v of this.visitEvents) this.aggregator.observeVisit(v)
    this.visitEvents.length = 0
  }

  private onPresence(e: PresenceEvent): void {
    this.aggregator.observePresence(e)
    this.metrics.presenceEvents.inc({ type: e.type })
    this.bus.emitPresence(e)
    // Random-address devices are counted in aggregate only: their events stay inside the process.
    if (!e.randomAddress) void this.publish(topics.storeEvents(this.cfg.store.id, 'presence'), e)
  }

  /** Time-driven work: stale/exit, visit ends, aggregate intervals. Public for tests with fake clocks. */
  tick(now: number): MinuteAggregate[] {
    try {
      for (const e of this.engine.tick(now)) this.onPresence(e)
      // Visits end after minutes of silence: a full scan every 10 s is precise enough and keeps the
      // 1 s tick short with 50,000 devices tracked.
      if (now - this.lastVisitScan >= 10_000) {
        this.lastVisitScan = now
        for (const v of this.visits.ble.tick(now)) this.aggregator.observeVisit(v)
        for (const v of this.visits.wifi.tick(now)) this.aggregator.observeVisit(v)
      }
      const snap = this.engine.snapshot(now)
      const out = this.aggregator.flush(now, snap)
      for (const agg of out) {
        this.recent.push(agg)
        if (this.recent.length > 180) this.recent.shift()
        this.metrics.aggregatesPublished.inc()
        this.bus.emitAggregate(agg)
        void this.publish(topics.storeAgg(this.cfg.store.id), agg)
      }
      this.metrics.presenceIdentities.set(this.engine.size)
      for (const z of snap.zones) this.metrics.presenceOccupancy.set({ zone: z.zone }, z.occupancy)
      return out
    } catch (err) {
      this.log.error({ err }, 'presence tick failed')
      return []
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.sub?.off()
  }
}
