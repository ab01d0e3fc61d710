import { createHmac, randomBytes } from 'node:crypto'
import { Counter, Gauge } from 'prom-client'
import { topics, type Member, type MembersConfigPayload, type ParkingEvent, type Rejection } from '../contracts/index.ts'
import type { MinuteAggregator } from '../aggregates/minute-aggregator.ts'
import type { EventBus } from '../core/bus.ts'
import type { Clock } from '../core/clock.ts'
import type { EdgeConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { EdgeMetrics } from '../core/metrics.ts'
import type { EdgeModule, Publish } from '../core/module.ts'
import { MemberIndex } from '../geofence/member-index.ts'
import type { GateDecodeResult, GateRead } from '../sources/decoders/gate.decoder.ts'
import { CarPark, resetPeriod, type BusParkingEvent } from './car-park.ts'

/**
 * The car park at the edge: decoded gate events (MQTT `sensors/{id}/parking` through the ingest
 * pipeline, and the parking webhook) → member lookup by registered plate → the pure CarPark
 * (de-duplication, entry/exit matching, occupancy) → parking events on the bus and on
 * `stores/{storeId}/events/parking`, and arrivals / departures / occupancy in the minute aggregate.
 *
 * Privacy: a plate is looked up and hashed here and goes no further. A member's plate becomes
 * `member:<ref>`; anyone else's becomes `h:` + HMAC(salt of the day, plate) (the MAC hasher's
 * salt, so plates rotate with MACs). Matching an exit to its entry uses a per-process key, so a
 * stay that spans the salt rotation still matches, and nothing derived from it leaves the process.
 */
export interface ParkingModuleDeps {
  cfg: EdgeConfig
  bus: EventBus
  metrics: EdgeMetrics
  clock: Clock
  log: Logger
  publish: Publish
  /** `h:` + HMAC with the current salt period (the ingest pipeline's hashMacNow). */
  hash(text: string): string
  /** The minute aggregator, once presence has started. */
  aggregator(): MinuteAggregator | undefined
  /** The store's one member index (the downlink's `config/members`), when another module keeps it. */
  members?(): MemberIndex | undefined
}

export class ParkingModule implements EdgeModule {
  readonly name = 'parking'
  carPark!: CarPark
  /** Used when no shared index is wired in (`deps.members`): set by setMembers. */
  private ownIndex = new MemberIndex()
  private stayKeySecret: Buffer = Buffer.alloc(0)
  private period: string | undefined
  private timer?: NodeJS.Timeout
  private gateEvents?: Counter<'result' | 'reason'>
  private occupancyGauge?: Gauge
  private started = false

  constructor(private readonly d: ParkingModuleDeps) {}

  async start(): Promise<void> {
    const { cfg, metrics } = this.d
    const p = cfg.parking
    this.carPark = new CarPark({ storeId: cfg.store.id, dedupeWindowMs: p.dedupeWindowMs, maxStayMs: p.maxStayHours * 3_600_000 })
    this.stayKeySecret = randomBytes(32)
    const r = [metrics.registry]
    this.gateEvents =
      (metrics.registry.getSingleMetric('store_edge_parking_gate_events_total') as Counter<'result' | 'reason'> | undefined) ??
      new Counter({
        name: 'store_edge_parking_gate_events_total',
        help: 'Gate events by result (accepted, duplicate, rejected) and, for rejections, the reason code.',
        labelNames: ['result', 'reason'] as const,
        registers: r,
      })
    this.occupancyGauge =
      (metrics.registry.getSingleMetric('store_edge_parking_occupancy') as Gauge | undefined) ??
      new Gauge({ name: 'store_edge_parking_occupancy', help: 'Cars in the car park (daily reset at parking.resetAt).', registers: r })
    this.period = resetPeriod(this.d.clock.now(), cfg.store.timezone, p.resetAt)
    this.started = true
    this.d.aggregator()?.enableParking(0)
    this.timer = setInterval(() => this.tick(this.d.clock.now()), 1000)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.started = false
  }

  get occupancy(): number {
    return this.carPark?.occupancy ?? 0
  }

  /**
   * Members this store may recognise, for an edge where no other module keeps the member index
   * (`deps.members`); a wired-in shared index takes precedence.
   */
  setMembers(payload: MembersConfigPayload | readonly Member[]): void {
    this.ownIndex = new MemberIndex(Array.isArray(payload) ? { v: 1, version: 1, members: [...(payload as readonly Member[])] } : (payload as MembersConfigPayload))
  }

  /** The member ref a (normalised) plate is registered to. */
  memberOfPlate(plate: string): string | undefined {
    return (this.d.members?.() ?? this.ownIndex).byPlate(plate)?.ref
  }

  /**
   * A decoded batch: counts its rejections, then turns each event into a parking event. Returns the
   * events accepted (duplicates left out). Never throws.
   */
  ingest(result: GateDecodeResult): BusParkingEvent[] {
    for (const r of result.rejects) this.countRejection(r)
    if (!this.started) {
      // Only between the broker's start and ours: a persistent session redelivering. Counted, not kept.
      if (result.events.length) this.d.log.warn({ events: result.events.length }, 'gate events before the car park started; dropped')
      return []
    }
    const out: BusParkingEvent[] = []
    for (const read of result.events) {
      if (!read.plateValid && !this.d.cfg.parking.countUnreadablePlates) continue
      const e = this.observe(read)
      if (e) out.push(e)
    }
    return out
  }

  /** The daily reset and housekeeping; public for tests with fake clocks. */
  tick(now: number): void {
    if (!this.started) return
    try {
      const agg = this.d.aggregator()
      if (agg && !agg.parkingEnabled) agg.enableParking(this.carPark.occupancy)
      const period = resetPeriod(now, this.d.cfg.store.timezone, this.d.cfg.parking.resetAt)
      if (period !== undefined && period !== this.period) {
        this.period = period
        this.carPark.reset()
        agg?.setParkingOccupancy(now, 0)
        this.d.log.info({ period }, 'car park occupancy reset')
      }
      this.carPark.prune(now)
      this.occupancyGauge?.set(this.carPark.occupancy)
    } catch (err) {
      this.d.log.error({ err }, 'parking tick failed')
    }
  }

  private observe(read: GateRead): BusParkingEvent | undefined {
    const memberRef = read.plateValid ? this.memberOfPlate(read.plate) : undefined
    const keyText = (read.plateValid ? 'plate:' : 'unreadable:') + read.plate
    const outcome = this.carPark.observe({
      deviceId: read.deviceId,
      ...(read.id !== undefined ? { sourceId: read.id } : {}),
      type: read.type,
      gate: read.gate,
      ts: read.ts,
      subject: memberRef !== undefined ? `member:${memberRef}` : this.d.hash(keyText),
      ...(memberRef !== undefined ? { memberRef } : {}),
      stayKey: createHmac('sha256', this.stayKeySecret).update(keyText).digest('base64url'),
      plateValid: read.plateValid,
    })
    if (outcome.kind === 'duplicate') {
      this.gateEvents?.inc({ result: 'duplicate', reason: outcome.by })
      return undefined
    }
    this.gateEvents?.inc({ result: 'accepted', reason: read.plateValid ? '' : 'unreadable-plate' })
    const e = outcome.event
    this.d.aggregator()?.observeParking(e.type, e.ts, outcome.occupancy)
    this.occupancyGauge?.set(outcome.occupancy)
    this.d.bus.emitParking(e)
    const { plateValid: _omit, ...uplink } = e
    void this.d.publish(topics.storeEvents(this.d.cfg.store.id, 'parking'), uplink satisfies ParkingEvent)
    return e
  }

  private countRejection(r: Rejection): void {
    this.gateEvents?.inc({ result: 'rejected', reason: r.code })
  }
}
