import { Type, type Static } from '@sinclair/typebox'
import { ParkingAggregate } from './marketing.ts'
import { CameraAggregate } from './vision.ts'

/** Uplink payloads, published under stores/{storeId}/… (see topics.ts). */
export const SourceAggregate = Type.Object({
  source: Type.Union([Type.Literal('ble'), Type.Literal('wifi')]),
  visitors: Type.Integer({ minimum: 0, description: 'Distinct devices classified as visitors seen in the minute.' }),
  passersBy: Type.Integer({ minimum: 0, description: 'Distinct devices classified as passers-by seen in the minute.' }),
  unique: Type.Integer({ minimum: 0, description: 'Visits started in the minute by devices not seen within the repeat window.' }),
  repeat: Type.Integer({ minimum: 0, description: 'Visits started in the minute by devices seen before within the repeat window.' }),
  randomized: Type.Integer({ minimum: 0, description: 'Distinct random-address devices seen in the minute (counted only).' }),
  sightings: Type.Integer({ minimum: 0, description: 'Sightings accepted in the minute.' }),
})
export type SourceAggregate = Static<typeof SourceAggregate>

export const ZoneAggregate = Type.Object({
  zone: Type.String({ minLength: 1, maxLength: 200, description: 'Zone id (a time-series tag: an empty one is not representable).' }),
  occupancy: Type.Integer({ minimum: 0, description: 'Devices present in the zone at the end of the minute (all sources).' }),
  occupancyBySource: Type.Object(
    { ble: Type.Integer({ minimum: 0 }), wifi: Type.Integer({ minimum: 0 }) },
    { description: 'Of occupancy, devices placed by BLE and by Wi-Fi: one phone can be one of each, so compare within a source.' },
  ),
  enters: Type.Integer({ minimum: 0 }),
  exits: Type.Integer({ minimum: 0 }),
  dwellCount: Type.Integer({ minimum: 0, description: 'Zone stays that ended in the minute.' }),
  dwellP50S: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], { description: 'Median dwell of stays that ended in the minute, seconds.' }),
  dwellP90S: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
})
export type ZoneAggregate = Static<typeof ZoneAggregate>

export const MinuteAggregate = Type.Object(
  {
    v: Type.Literal(1),
    storeId: Type.String(),
    /** Start of the minute, ms since epoch (UTC); the event-time key of the aggregate. */
    minute: Type.Integer({ minimum: 0 }),
    sources: Type.Array(SourceAggregate),
    zones: Type.Array(ZoneAggregate),
    parking: Type.Optional(ParkingAggregate),
    cameras: Type.Optional(CameraAggregate),
  },
  { $id: 'MinuteAggregate', description: 'Published every minute on stores/{storeId}/agg.' },
)
export type MinuteAggregate = Static<typeof MinuteAggregate>

export const PresenceEventType = Type.Union([
  Type.Literal('enter'),
  Type.Literal('move'),
  Type.Literal('stale'),
  Type.Literal('exit'),
])

export const PresenceEvent = Type.Object(
  {
    v: Type.Literal(1),
    type: PresenceEventType,
    /** Privacy-safe identity (hashed MAC or beacon id). Never a raw MAC. */
    id: Type.String(),
    source: Type.Union([Type.Literal('ble'), Type.Literal('wifi')]),
    zone: Type.String({ description: 'Zone entered, stayed in or left.' }),
    fromZone: Type.Optional(Type.String({ description: 'For move: the zone left.' })),
    ts: Type.Integer({ minimum: 0 }),
    /** For exit: how long the device stayed in the store (visit) or zone, seconds. */
    dwellS: Type.Optional(Type.Number({ minimum: 0 })),
    confidence: Type.Number({ minimum: 0, maximum: 1 }),
    randomAddress: Type.Boolean(),
  },
  { $id: 'PresenceEvent' },
)
export type PresenceEvent = Static<typeof PresenceEvent>

export const EdgeHealth = Type.Object(
  {
    v: Type.Literal(1),
    storeId: Type.String(),
    status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    ts: Type.Integer({ minimum: 0 }),
    version: Type.Optional(Type.String()),
    devicesOnline: Type.Optional(Type.Integer({ minimum: 0 })),
    uptimeS: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { $id: 'EdgeHealth', description: 'Retained on stores/{storeId}/health, also the edge’s last will.' },
)
export type EdgeHealth = Static<typeof EdgeHealth>
