import { TypeCompiler } from '@sinclair/typebox/compiler'
import { LocationReport, topics, type GeofenceEvent } from '../contracts/index.ts'
import type { BusSubscriber, EventBus } from '../core/bus.ts'
import type { Clock } from '../core/clock.ts'
import type { EdgeConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { EdgeMetrics } from '../core/metrics.ts'
import type { EdgeModule, Publish } from '../core/module.ts'
import { GeofenceEngine, type LocationResult, type VisitView } from './geofence.engine.ts'
import type { MemberIndex } from './member-index.ts'
import type { Campaign, Geofence } from '../contracts/index.ts'
import { dwellThresholdsOf } from '../triggers/trigger.engine.ts'

const checkReport = TypeCompiler.Compile(LocationReport)

/** Validate a location report from the wire; schema errors as `path: message` lines. */
export function parseLocationReport(value: unknown): { report: LocationReport } | { errors: string[] } {
  const errors = [...checkReport.Errors(value)].slice(0, 20).map((e) => `${e.path || '/'}: ${e.message}`)
  return errors.length ? { errors } : { report: value as LocationReport }
}

/** What the geofence and trigger modules read of the downlink (members, geofences, campaigns). */
export interface MarketingSource {
  readonly members: MemberIndex
  readonly triggers?: { geofences: Geofence[]; campaigns: Campaign[] }
  onMarketing(fn: (part: 'triggers' | 'members') => void): () => void
}

/**
 * The adapter around the pure geofence engine: presence, parking and location events from the
 * bus go in; geofence events come out on the bus and on `stores/{storeId}/events/geofence`. A 1 s
 * tick drives minimum dwell, dwell thresholds, held exits and stale stays.
 */
export class GeofenceModule implements EdgeModule {
  readonly name = 'geofence'
  engine!: GeofenceEngine
  /** The outcome of each location report handled (the HTTP route answers with it; the bus is synchronous). */
  readonly locationResults = new WeakMap<LocationReport, LocationResult>()
  private sub?: BusSubscriber
  private timer?: NodeJS.Timeout
  private unlisten?: () => void
  private lastFlaps = 0

  constructor(
    private readonly cfg: EdgeConfig,
    private readonly bus: EventBus,
    private readonly metrics: EdgeMetrics,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly publish: Publish,
    private readonly marketing: MarketingSource,
  ) {}

  async start(): Promise<void> {
    const g = this.cfg.geofence
    this.engine = new GeofenceEngine({
      storeId: this.cfg.store.id,
      minDwellS: { ...g.minDwellS },
      flapWindowS: g.flapWindowS,
      staleAfterS: { ...g.staleAfterS },
      visitGapS: g.visitGapS,
      faceStaleS: g.faceStaleS,
      maxAccuracyM: g.maxAccuracyM,
      maxSpeedMps: g.maxSpeedMps,
      speedResetAfter: g.speedResetAfter,
      maxFixAgeS: g.maxFixAgeS,
      maxFixFutureS: g.maxFixFutureS,
      includeNonMembers: g.includeNonMembers,
      maxSubjects: g.maxSubjects,
    })
    this.reconfigure()
    this.unlisten = this.marketing.onMarketing(() => this.reconfigure())
    this.sub = this.bus.subscriber(this.name)
    this.sub.onPresence((e) => this.out(this.engine.onPresence(e, this.clock.now())))
    this.sub.onParking((e) => this.out(this.engine.onParking(e, this.clock.now(), e.plateValid)))
    this.sub.onLocation((r) => this.location(r))
    this.sub.onMemberSeen((e) => this.out(this.engine.onFace(e, this.clock.now())))
    this.timer = setInterval(() => this.tick(this.clock.now()), 1000)
    this.timer.unref()
  }

  /** Members, geofences and dwell thresholds from the current downlink config. */
  reconfigure(): void {
    if (!this.engine) return
    this.engine.setMembers(this.marketing.members)
    this.engine.setGeofences(this.marketing.triggers?.geofences ?? [])
    this.engine.setDwellThresholds(dwellThresholdsOf(this.marketing.triggers?.campaigns ?? [], this.cfg.store.id))
  }

  /** A location report, from the bus or called directly; never throws. */
  location(r: LocationReport): LocationResult {
    const res = this.engine.onLocation(r, this.clock.now())
    this.locationResults.set(r, res)
    this.metrics.locationFixes.inc(res.accepted)
    for (const x of res.rejected) this.metrics.locationFixesRejected.inc({ reason: x.reason })
    if (res.rejected.length) this.log.debug({ member: r.memberRef, rejected: res.rejected }, 'location fixes rejected')
    this.out(res.events)
    return res
  }

  /**
   * A location report from the wire (central's `stores/{storeId}/locations` downlink): parsed,
   * validated and put on the bus. A bad one is logged and counted, never thrown.
   */
  acceptPayload(payload: Buffer): void {
    let value: unknown
    try {
      value = JSON.parse(payload.toString('utf8'))
    } catch {
      this.metrics.locationFixesRejected.inc({ reason: 'invalid' })
      this.log.warn('location report from central is not JSON')
      return
    }
    const r = parseLocationReport(value)
    if ('errors' in r) {
      this.metrics.locationFixesRejected.inc({ reason: 'invalid' })
      this.log.warn({ errors: r.errors }, 'location report from central does not match its schema')
      return
    }
    this.bus.emitLocation(r.report)
  }

  /** The visit an event belongs to (for the trigger engine's visitZones and history). */
  visitOf(subject: string, ts: number): VisitView | undefined {
    return this.engine?.visitOf(subject, ts)
  }

  /** Timers; public for tests with fake clocks. */
  tick(now: number): GeofenceEvent[] {
    try {
      const events = this.engine.tick(now)
      this.out(events)
      return events
    } catch (err) {
      this.log.error({ err }, 'geofence tick failed')
      return []
    }
  }

  private out(events: GeofenceEvent[]): void {
    const flaps = this.engine.stats.flapsSuppressed
    if (flaps > this.lastFlaps) this.metrics.geofenceFlapsSuppressed.inc(flaps - this.lastFlaps)
    this.lastFlaps = flaps
    if (events.length === 0) return
    const topic = topics.storeEvents(this.cfg.store.id, 'geofence')
    for (const e of events) {
      this.metrics.geofenceEvents.inc({ type: e.type, kind: e.zoneKind, source: e.source })
      // Published before the bus hands it to the triggers: the event reaches central ahead of its coupon requests.
      void this.publish(topic, e)
      this.bus.emitGeofence(e)
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.sub?.off()
    this.unlisten?.()
  }
}
