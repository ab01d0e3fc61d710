import { Type, type Static } from '@sinclair/typebox'

/**
 * Geofences, marketing triggers (campaigns), members and coupon requests: the contract between the
 * marketing view, the gateway's ledger and the edge's trigger engine. Cross-field rules that a
 * schema cannot say live in rules.ts (`campaignProblems`, `geofenceProblems`).
 */

const Id = (description: string) => Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description })
const Ms = (description: string) => Type.Integer({ minimum: 0, description })
const HhMm = (description: string) => Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description })

export const GeofenceSource = Type.Union(
  [Type.Literal('ble'), Type.Literal('wifi'), Type.Literal('face'), Type.Literal('plate'), Type.Literal('gps')],
  { description: 'What placed the subject: a BLE or Wi-Fi sensor, a face or a plate camera / gate, or a phone’s GPS fix.' },
)
export type GeofenceSource = Static<typeof GeofenceSource>

export const LatLng = Type.Object({
  lat: Type.Number({ minimum: -90, maximum: 90 }),
  lng: Type.Number({ minimum: -180, maximum: 180 }),
})
export type LatLng = Static<typeof LatLng>

/** The car park is one fixed zone id, fed by gate events (entry / exit). */
export const CARPARK_ZONE = 'carpark'

/**
 * A trade-area geofence (1–3 km around a store, evaluated on member-app location reports). Indoor
 * zones come from the store layout and the car park is `carpark`; neither needs a definition here.
 */
export const Geofence = Type.Object(
  {
    id: Id('Geofence id, used as the zone of its events (must not clash with a layout zone id).'),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    shape: Type.Union([
      Type.Object({ kind: Type.Literal('circle'), center: LatLng, radiusM: Type.Number({ minimum: 50, maximum: 10_000, description: 'Radius, metres.' }) }),
      Type.Object({ kind: Type.Literal('polygon'), points: Type.Array(LatLng, { minItems: 3, maxItems: 200, description: 'Vertices in order; the ring closes itself.' }) }),
    ]),
    bufferM: Type.Number({ default: 50, minimum: 0, maximum: 2000, description: 'Hysteresis: an exit needs distance − accuracy > radius + buffer (outside the edge by buffer).' }),
  },
  { $id: 'Geofence' },
)
export type Geofence = Static<typeof Geofence>

export const Audience = Type.Object(
  {
    membersOnly: Type.Boolean({ default: true, description: 'Fire only for known members (a coupon needs someone to push to).' }),
    tiers: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 99 }), { description: 'Member tiers that match (any).' })),
    tagsAny: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { description: 'Member tags, at least one must be present.' })),
    tagsAll: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { description: 'Member tags, all must be present.' })),
    firstVisit: Type.Optional(Type.Boolean({ description: 'Only members on their first recorded visit to this store.' })),
    lapsedDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650, description: 'Only members whose previous visit was at least this many days ago.' })),
  },
  { additionalProperties: false },
)
export type Audience = Static<typeof Audience>

export const Schedule = Type.Object(
  {
    days: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 6 }), { minItems: 1, description: 'Local weekdays, 0 = Sunday. Absent: every day.' })),
    start: Type.Optional(HhMm('Local start time of day (inclusive). Absent: 00:00.')),
    end: Type.Optional(HhMm('Local end time of day (exclusive); may be earlier than start to span midnight. Absent: 24:00.')),
    quietHours: Type.Optional(
      Type.Array(Type.Object({ start: HhMm('Quiet from (inclusive).'), end: HhMm('Quiet until (exclusive); may wrap midnight.') }), {
        description: 'Local times when nothing is pushed, whatever the window says.',
      }),
    ),
    from: Type.Optional(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'First local date the campaign runs (inclusive).' })),
    until: Type.Optional(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'Last local date the campaign runs (inclusive).' })),
  },
  { additionalProperties: false, description: 'Evaluated in the store’s time zone.' },
)
export type Schedule = Static<typeof Schedule>

export const Caps = Type.Object(
  {
    perMemberPerDay: Type.Optional(Type.Integer({ minimum: 1, description: 'Coupons per member per local day (store time zone).' })),
    perMemberPerWeek: Type.Optional(Type.Integer({ minimum: 1, description: 'Coupons per member in any rolling 7 days.' })),
    perMemberPerCampaign: Type.Optional(Type.Integer({ minimum: 1, description: 'Coupons per member over the campaign’s life.' })),
    cooldownS: Type.Optional(Type.Integer({ minimum: 0, description: 'Least time between two coupons of this campaign to one member.' })),
    budget: Type.Optional(Type.Integer({ minimum: 1, description: 'Total coupons the campaign may issue.' })),
  },
  { additionalProperties: false, description: 'Enforced in the ledger’s transaction; the edge applies them too, to avoid useless requests.' },
)
export type Caps = Static<typeof Caps>

export const CouponTemplate = Type.Object(
  {
    templateId: Id('Push template id (the provider’s message template).'),
    title: Type.String({ minLength: 1, maxLength: 100 }),
    body: Type.String({ maxLength: 500, default: '' }),
    valueCents: Type.Optional(Type.Integer({ minimum: 0, description: 'Fixed discount, cents.' })),
    percentOff: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    validHours: Type.Number({ minimum: 0.25, maximum: 24 * 90, default: 24, description: 'How long the coupon can be redeemed after issue.' }),
  },
  { additionalProperties: false },
)
export type CouponTemplate = Static<typeof CouponTemplate>

export const TriggerEvent = Type.Union([Type.Literal('enter'), Type.Literal('dwell'), Type.Literal('exit')])
export type TriggerEvent = Static<typeof TriggerEvent>

/**
 * A campaign is one trigger rule plus its coupon. `version` is set by central on every change; the
 * edge evaluates the version it was sent, and each coupon request names it.
 */
export const Campaign = Type.Object(
  {
    id: Id('Campaign id (tag `campaign` in the time series).'),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    version: Type.Integer({ minimum: 1 }),
    enabled: Type.Boolean({ default: true }),
    stores: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, description: 'Store ids, or ["*"] for every store.' }),
    event: TriggerEvent,
    zones: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, description: 'Layout zone ids, `carpark`, or trade-area geofence ids.' }),
    dwellS: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400, description: 'dwell: fire once the stay reaches this; exit: the stay must have lasted at least this.' })),
    sources: Type.Optional(Type.Array(GeofenceSource, { minItems: 1, description: 'Only events from these sources. Absent: any.' })),
    visitZones: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, description: 'exit only: the visit must have reached one of these zones (e.g. a car-park departure after the cosmetics floor).' })),
    audience: Audience,
    schedule: Schedule,
    caps: Caps,
    holdoutPct: Type.Number({ minimum: 0, maximum: 50, default: 0, description: 'Share of matching members deterministically held out (recorded, not pushed) to measure uplift.' }),
    priority: Type.Integer({ minimum: 0, maximum: 1000, default: 100, description: 'Higher wins when campaigns of one exclusion group match the same event.' }),
    exclusiveGroup: Type.Optional(Id('Campaigns sharing a group are mutually exclusive: one coupon per member per event, and the group shares the cooldown.')),
    lateAfterS: Type.Integer({ minimum: 10, maximum: 86_400, default: 900, description: 'A request older than this when it reaches the ledger is dropped as too late; an arrival coupon is also dropped once the member has left.' }),
    coupon: CouponTemplate,
  },
  { additionalProperties: false, $id: 'Campaign' },
)
export type Campaign = Static<typeof Campaign>

/** Downlink `stores/{storeId}/config/triggers` (retained): everything the edge evaluates. */
export const TriggersConfigPayload = Type.Object(
  {
    v: Type.Literal(1),
    version: Type.Integer({ minimum: 1, description: 'Monotonic, set by central; equal or lower versions are ignored.' }),
    geofences: Type.Array(Geofence),
    campaigns: Type.Array(Campaign),
  },
  { $id: 'TriggersConfigPayload' },
)
export type TriggersConfigPayload = Static<typeof TriggersConfigPayload>

export const Member = Type.Object(
  {
    ref: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$', description: 'The chain’s member reference (opaque; never a phone number).' }),
    tier: Type.Integer({ minimum: 0, maximum: 99, default: 1 }),
    tags: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { default: [] }),
    beaconIds: Type.Array(Type.String({ maxLength: 120 }), { default: [], description: 'Identities the member app advertises, as the edge writes them (`ibeacon:<uuid>:<major>:<minor>`).' }),
    plates: Type.Array(Type.String({ maxLength: 16 }), { default: [], description: 'Registered plates, normalised. Only members’ plates are ever stored.' }),
    visits: Type.Integer({ minimum: 0, default: 0, description: 'Recorded visits to this store before this sync.' }),
    lastVisitAt: Type.Optional(Ms('End of the last recorded visit to this store.')),
    face: Type.Optional(
      Type.Object(
        {
          model: Type.String({ minLength: 1, maxLength: 64, description: 'Embedding model (a registry name, e.g. faceres-int8): the edge uses only embeddings of the model it runs.' }),
          embeddings: Type.Array(Type.String({ minLength: 8, maxLength: 8192, description: 'L2-normalised float32 little-endian vector, base64.' }), { minItems: 1, maxItems: 10 }),
        },
        { additionalProperties: false, description: 'Face gallery entry of a member who opted in to face recognition (absent: not recognised by face). Removing it revokes at once.' },
      ),
    ),
  },
  { additionalProperties: false, $id: 'Member' },
)
export type Member = Static<typeof Member>

/** Downlink `stores/{storeId}/config/members` (retained): opted-in members this store may recognise. */
export const MembersConfigPayload = Type.Object(
  { v: Type.Literal(1), version: Type.Integer({ minimum: 1 }), members: Type.Array(Member) },
  { $id: 'MembersConfigPayload' },
)
export type MembersConfigPayload = Static<typeof MembersConfigPayload>

/**
 * Uplink `stores/{storeId}/events/geofence`: one subject entering, dwelling in or leaving one zone.
 * `id` is deterministic (store, subject, zone, type, enteredAt), so a replay is recognised.
 */
export const GeofenceEvent = Type.Object(
  {
    v: Type.Literal(1),
    id: Type.String({ minLength: 8, maxLength: 64 }),
    type: TriggerEvent,
    storeId: Type.String(),
    zone: Type.String({ minLength: 1, maxLength: 64 }),
    zoneKind: Type.Union([Type.Literal('indoor'), Type.Literal('carpark'), Type.Literal('trade-area')]),
    source: GeofenceSource,
    subject: Type.String({ minLength: 1, maxLength: 120, description: 'Privacy-safe subject: `member:<ref>` for members, else a hashed id. Never a raw MAC or plate.' }),
    memberRef: Type.Optional(Type.String()),
    confidence: Type.Number({ minimum: 0, maximum: 1 }),
    enteredAt: Ms('When the stay began.'),
    ts: Ms('When this event happened.'),
    dwellS: Type.Optional(Type.Number({ minimum: 0, description: 'dwell and exit: seconds in the zone so far / in all.' })),
    explicit: Type.Optional(Type.Boolean({ description: 'exit: an explicit signal (gate exit, GPS fix outside) rather than a timeout.' })),
  },
  { $id: 'GeofenceEvent' },
)
export type GeofenceEvent = Static<typeof GeofenceEvent>

/**
 * Uplink `stores/{storeId}/coupons/requests`: a fired trigger. `key` is the idempotency key,
 * deterministic in (store, campaign, member, event id): a redelivered or replayed request is the
 * same request. The ledger decides (caps, budget, lateness) in one transaction.
 */
export const CouponRequest = Type.Object(
  {
    v: Type.Literal(1),
    key: Type.String({ pattern: '^[0-9a-f]{32,64}$' }),
    storeId: Type.String(),
    campaignId: Type.String(),
    campaignVersion: Type.Integer({ minimum: 1 }),
    memberRef: Type.String(),
    event: Type.Object({ id: Type.String(), type: TriggerEvent, zone: Type.String(), source: GeofenceSource, ts: Ms('Event time.') }),
    firedAt: Ms('When the edge fired the trigger.'),
    localDay: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'The store’s local date at firedAt (per-day caps).' }),
    holdout: Type.Boolean({ description: 'In the campaign’s holdout group: recorded, never pushed.' }),
    priority: Type.Integer(),
    exclusiveGroup: Type.Optional(Type.String()),
  },
  { $id: 'CouponRequest' },
)
export type CouponRequest = Static<typeof CouponRequest>

/** A member-app location report (`POST /v1/locations`, central and edge). */
export const LocationFix = Type.Object(
  {
    lat: Type.Number({ minimum: -90, maximum: 90 }),
    lng: Type.Number({ minimum: -180, maximum: 180 }),
    accuracyM: Type.Number({ exclusiveMinimum: 0, description: 'Horizontal accuracy (68 %), metres.' }),
    ts: Ms('Fix time.'),
  },
  { additionalProperties: false },
)
export type LocationFix = Static<typeof LocationFix>

export const LocationReport = Type.Object(
  {
    v: Type.Literal(1),
    memberRef: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$' }),
    fixes: Type.Array(LocationFix, { minItems: 1, maxItems: 100, description: 'Oldest first.' }),
  },
  { additionalProperties: false, $id: 'LocationReport' },
)
export type LocationReport = Static<typeof LocationReport>

/** Parking-system gate events: `sensors/{deviceId}/parking` (MQTT) and `POST /v1/parking/events` (edge webhook). */
export const GateEventItem = Type.Object(
  {
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'The parking system’s own event id (de-duplication).' })),
    type: Type.Union([Type.Literal('entry'), Type.Literal('exit')]),
    plate: Type.String({ minLength: 1, maxLength: 32, description: 'Plate as read; normalised and validated at the edge.' }),
    gate: Type.String({ minLength: 1, maxLength: 64 }),
    ts: Ms('Event time.'),
    confidence: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Plate read confidence from an LPR camera.' })),
  },
  { additionalProperties: true, $id: 'GateEventItem' },
)
export type GateEventItem = Static<typeof GateEventItem>

export const GateBatch = Type.Object(
  { v: Type.Literal(1), events: Type.Array(Type.Unknown(), { description: 'Gate events, each a GateEventItem.' }) },
  { additionalProperties: true, $id: 'GateBatch' },
)
export type GateBatch = Static<typeof GateBatch>

/**
 * Uplink `stores/{storeId}/events/parking`: a gate event after normalisation. A plate appears only
 * for a registered member (as `memberRef`); everyone else is a daily-salted hash.
 */
export const ParkingEvent = Type.Object(
  {
    v: Type.Literal(1),
    id: Type.String(),
    type: Type.Union([Type.Literal('entry'), Type.Literal('exit')]),
    storeId: Type.String(),
    gate: Type.String(),
    ts: Ms('Event time.'),
    subject: Type.String({ description: '`member:<ref>` or `h:<hash of plate>`.' }),
    memberRef: Type.Optional(Type.String()),
    stayS: Type.Optional(Type.Number({ minimum: 0, description: 'exit: seconds since the matching entry, when there was one.' })),
  },
  { $id: 'ParkingEvent' },
)
export type ParkingEvent = Static<typeof ParkingEvent>

/** Car-park figures in the minute aggregate (written as the `parking` measurement). */
export const ParkingAggregate = Type.Object({
  arrivals: Type.Integer({ minimum: 0 }),
  departures: Type.Integer({ minimum: 0 }),
  occupancy: Type.Integer({ minimum: 0, description: 'Cars inside at the end of the minute.' }),
})
export type ParkingAggregate = Static<typeof ParkingAggregate>
