import { EventEmitter } from 'node:events'
import type { Logger } from './logger.ts'
import type { CameraEvent, FootfallCrossing, CouponRequest, GeofenceEvent, LocationReport, MinuteAggregate, ParkingEvent, PresenceEvent, Rejection, Sighting } from '../contracts/index.ts'

/** Every event modules exchange, with its payload type. One emitX/onX pair per entry. */
export interface BusEvents {
  /** Sightings accepted from one inbound message (batched to keep the hot path cheap). */
  sightings: { sightings: Sighting[]; receivedAt: number; deviceId: string }
  /** A payload or an item of one was rejected. */
  rejected: { deviceId: string; kind: string; rejection: Rejection }
  presence: PresenceEvent
  deviceStatus: { deviceId: string; online: boolean; ts: number }
  aggregate: MinuteAggregate
  /** A car-park gate event, normalised (plate already resolved to a member or hashed). */
  parking: ParkingEvent & { plateValid: boolean }
  /** A member-app location report (from central or the edge's own API). */
  location: LocationReport
  geofence: GeofenceEvent
  couponRequest: CouponRequest
  /** A member recognised by face at a camera (opted-in gallery, votes taken). */
  memberSeen: { memberRef: string; zone: string; camera: string; ts: number; confidence: number }
  /** A person crossed a counting line. */
  crossing: FootfallCrossing
  /** A camera alert or recognition (loitering, overcrowding, member, plate). */
  cameraEvent: CameraEvent
}

export type BusEventName = keyof BusEvents
type Listener<K extends BusEventName> = (payload: BusEvents[K]) => void

/**
 * A typed, synchronous event bus. Each listener is wrapped so that a throw is logged as
 * `<module>/<event>` and never reaches the emitter; `subscriber(module)` returns a handle whose
 * `off()` removes every listener that module added, in one call.
 */
export class EventBus {
  private readonly ee = new EventEmitter()
  constructor(private readonly log: Logger) {
    this.ee.setMaxListeners(100)
  }

  emit<K extends BusEventName>(event: K, payload: BusEvents[K]): void {
    this.ee.emit(event, payload)
  }

  subscriber(module: string): BusSubscriber {
    return new BusSubscriber(this.ee, this.log, module)
  }

  emitSightings(p: BusEvents['sightings']) { this.emit('sightings', p) }
  emitRejected(p: BusEvents['rejected']) { this.emit('rejected', p) }
  emitPresence(p: BusEvents['presence']) { this.emit('presence', p) }
  emitDeviceStatus(p: BusEvents['deviceStatus']) { this.emit('deviceStatus', p) }
  emitAggregate(p: BusEvents['aggregate']) { this.emit('aggregate', p) }
  emitParking(p: BusEvents['parking']) { this.emit('parking', p) }
  emitLocation(p: BusEvents['location']) { this.emit('location', p) }
  emitGeofence(p: BusEvents['geofence']) { this.emit('geofence', p) }
  emitCouponRequest(p: BusEvents['couponRequest']) { this.emit('couponRequest', p) }
  emitMemberSeen(p: BusEvents['memberSeen']) { this.emit('memberSeen', p) }
  emitCrossing(p: BusEvents['crossing']) { this.emit('crossing', p) }
  emitCameraEvent(p: BusEvents['cameraEvent']) { this.emit('cameraEvent', p) }
}

export class BusSubscriber {
  private readonly added: Array<[string, (...args: unknown[]) => void]> = []
  constructor(
    private readonly ee: EventEmitter,
    private readonly log: Logger,
    private readonly module: string,
  ) {}

  on<K extends BusEventName>(event: K, fn: Listener<K>): this {
    const wrapped = (payload: unknown) => {
      try {
        fn(payload as BusEvents[K])
      } catch (err) {
        this.log.error({ err, listener: `${this.module}/${event}` }, 'bus listener threw')
      }
    }
    this.ee.on(event, wrapped)
    this.added.push([event, wrapped])
    return this
  }

  onSightings(fn: Listener<'sightings'>) { return this.on('sightings', fn) }
  onRejected(fn: Listener<'rejected'>) { return this.on('rejected', fn) }
  onPresence(fn: Listener<'presence'>) { return this.on('presence', fn) }
  onDeviceStatus(fn: Listener<'deviceStatus'>) { return this.on('deviceStatus', fn) }
  onAggregate(fn: Listener<'aggregate'>) { return this.on('aggregate', fn) }
  onParking(fn: Listener<'parking'>) { return this.on('parking', fn) }
  onLocation(fn: Listener<'location'>) { return this.on('location', fn) }
  onGeofence(fn: Listener<'geofence'>) { return this.on('geofence', fn) }
  onCouponRequest(fn: Listener<'couponRequest'>) { return this.on('couponRequest', fn) }
  onMemberSeen(fn: Listener<'memberSeen'>) { return this.on('memberSeen', fn) }
  onCrossing(fn: Listener<'crossing'>) { return this.on('crossing', fn) }
  onCameraEvent(fn: Listener<'cameraEvent'>) { return this.on('cameraEvent', fn) }

  off(): void {
    for (const [event, fn] of this.added.splice(0)) this.ee.off(event, fn)
  }
}

