import { Type, type Static } from '@sinclair/typebox'

/**
 * Cameras: their configuration (edge config and the retained downlink `stores/{id}/config/cameras`),
 * the events they raise (`stores/{id}/events/footfall`, `stores/{id}/events/camera`), their health
 * (`stores/{id}/cameras/{camera}/status`, retained) and their part of the minute aggregate.
 * Coordinates are normalised to the frame (0..1, x right, y down), so they survive a change of
 * detect resolution. No image, face embedding or non-member plate appears in any of these.
 */

const Id = (description: string) => Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description })
const Ms = (description: string) => Type.Integer({ minimum: 0, description })
const Norm = Type.Number({ minimum: 0, maximum: 1 })
export const NormPoint = Type.Object({ x: Norm, y: Norm }, { additionalProperties: false })
export type NormPoint = Static<typeof NormPoint>
const Polygon = (description: string) => Type.Array(NormPoint, { minItems: 3, maxItems: 64, description })

export const CountingLineConfig = Type.Object(
  {
    id: Id('Line id (events, metrics).'),
    entrance: Id('Entrance this line counts (footfall is reported per entrance; several lines may share one).'),
    a: NormPoint,
    b: NormPoint,
    extended: Type.Boolean({ default: false, description: 'Count across the whole line through a and b, not only the segment between them.' }),
    inPoint: Type.Optional(Type.Composite([NormPoint], { description: 'A point on the "in" side (into the store). Absent: the left-hand side of a→b as drawn on screen (for a line drawn top to bottom, moving toward larger x is in).' })),
    lateCount: Type.Boolean({ default: false, description: 'Count a track once, when it ends, by its net crossing: walking in and back out cancels out.' }),
    activation: Type.Optional(Polygon('Count only crossings whose anchor is inside this polygon (e.g. the doorway, excluding a pavement beyond).')),
    anchor: Type.Union([Type.Literal('feet'), Type.Literal('center')], { default: 'feet', description: 'Point of the person box that must cross: the feet (bottom centre) or the box centre.' }),
  },
  { additionalProperties: false },
)
export type CountingLineConfig = Static<typeof CountingLineConfig>

export const CameraZoneConfig = Type.Object(
  {
    id: Id('Zone id; it may equal a store layout zone to sit beside the radio occupancy of that zone.'),
    polygon: Polygon('Zone outline on the image.'),
    loiterS: Type.Number({ default: 120, minimum: 1, description: 'A person staying longer than this raises one loitering event.' }),
    maxPeople: Type.Integer({ default: 0, minimum: 0, description: 'Overcrowding alert above this many people (0: off).' }),
    overcrowdHoldS: Type.Number({ default: 10, minimum: 0, description: 'The count must stay above maxPeople this long before the alert.' }),
    clearHoldS: Type.Number({ default: 30, minimum: 0, description: 'The count must stay at or below maxPeople this long before the alert clears.' }),
  },
  { additionalProperties: false },
)
export type CameraZoneConfig = Static<typeof CameraZoneConfig>

export const CameraConfig = Type.Object(
  {
    id: Id('Camera id (topics, metrics, events).'),
    name: Type.String({ default: '', maxLength: 120, description: 'Display name.' }),
    url: Type.String({ minLength: 1, maxLength: 2000, description: 'rtsp://… (the detect substream), http(s)://… MJPEG, or a video file path (tests, replays).' }),
    enabled: Type.Boolean({ default: true }),
    roles: Type.Array(Type.Union([Type.Literal('footfall'), Type.Literal('faces'), Type.Literal('plates')]), {
      default: ['footfall'],
      description: 'What the camera does: footfall (people, tracks, lines, zones), faces (members, unique visitors), plates (a car-park gate).',
    }),
    detect: Type.Object(
      {
        fps: Type.Number({ default: 5, minimum: 0.2, maximum: 30, description: 'Frames analysed per second.' }),
        width: Type.Integer({ default: 768, minimum: 64, maximum: 3840, description: 'Detect frame width (the decoder scales to it).' }),
        height: Type.Integer({ default: 576, minimum: 64, maximum: 2160, description: 'Detect frame height.' }),
        minScore: Type.Number({ default: 0.1, minimum: 0.01, maximum: 1, description: 'Lowest person score handed to the tracker (its second association stage uses the low ones).' }),
      },
      { default: {} },
    ),
    rtspTransport: Type.Union([Type.Literal('tcp'), Type.Literal('udp')], { default: 'tcp' }),
    realtime: Type.Boolean({ default: true, description: 'Files only: read at the video’s own rate (like a live camera); false: as fast as analysis allows.' }),
    loop: Type.Boolean({ default: false, description: 'Files only: start again at the end.' }),
    liveUrl: Type.String({ default: '', maxLength: 2000, description: 'Stream for the security live view (often the main stream); empty: the detect url.' }),
    lines: Type.Array(CountingLineConfig, { default: [], maxItems: 32 }),
    zones: Type.Array(CameraZoneConfig, { default: [], maxItems: 32 }),
    memberZone: Type.String({ default: 'entrance', maxLength: 64, description: 'Faces: the zone a recognised member arrives in (the geofence event’s zone).' }),
    gate: Type.Object(
      {
        id: Type.String({ default: 'gate', maxLength: 64, description: 'Plates: gate id of the events.' }),
        type: Type.Union([Type.Literal('entry'), Type.Literal('exit')], { default: 'entry', description: 'Plates: the direction of this gate lane.' }),
        repeatS: Type.Number({ default: 60, minimum: 1, description: 'Plates: the same plate again within this long is the same passage.' }),
        minConfidence: Type.Number({ default: 0.8, minimum: 0, maximum: 1 }),
      },
      { default: {} },
    ),
  },
  { additionalProperties: false },
)
export type CameraConfig = Static<typeof CameraConfig>

/** Downlink `stores/{storeId}/config/cameras` (retained): the whole camera list, applied live. */
export const CamerasConfigPayload = Type.Object(
  { v: Type.Literal(1), version: Type.Integer({ minimum: 1 }), cameras: Type.Array(CameraConfig, { maxItems: 64 }) },
  { $id: 'CamerasConfigPayload' },
)
export type CamerasConfigPayload = Static<typeof CamerasConfigPayload>

/**
 * Uplink `stores/{storeId}/events/footfall`: one person crossing one counting line. `id` is
 * deterministic (store, camera, line, track epoch, track, direction), so a replay is recognised.
 */
export const FootfallCrossing = Type.Object(
  {
    v: Type.Literal(1),
    id: Type.String({ minLength: 8, maxLength: 64 }),
    storeId: Type.String(),
    camera: Type.String(),
    line: Type.String(),
    entrance: Type.String(),
    dir: Type.Union([Type.Literal('in'), Type.Literal('out')]),
    ts: Ms('When the anchor crossed (frame wall time).'),
    track: Type.String({ description: 'Anonymous track id, unique per camera run; never linked to a person.' }),
  },
  { $id: 'FootfallCrossing' },
)
export type FootfallCrossing = Static<typeof FootfallCrossing>

export const CameraEventType = Type.Union([
  Type.Literal('loitering'),
  Type.Literal('overcrowded'),
  Type.Literal('overcrowding-cleared'),
  Type.Literal('member'),
  Type.Literal('plate'),
])

/** Uplink `stores/{storeId}/events/camera`: alerts and recognitions. */
export const CameraEvent = Type.Object(
  {
    v: Type.Literal(1),
    id: Type.String({ minLength: 8, maxLength: 64 }),
    storeId: Type.String(),
    camera: Type.String(),
    type: CameraEventType,
    ts: Ms('Event time.'),
    zone: Type.Optional(Type.String()),
    count: Type.Optional(Type.Integer({ minimum: 0 })),
    max: Type.Optional(Type.Integer({ minimum: 0 })),
    dwellS: Type.Optional(Type.Number({ minimum: 0 })),
    memberRef: Type.Optional(Type.String({ description: 'member: the recognised member (opted in).' })),
    confidence: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { $id: 'CameraEvent' },
)
export type CameraEvent = Static<typeof CameraEvent>

/** Retained `stores/{storeId}/cameras/{camera}/status`; the edge's broker publishes `offline` as its will. */
export const CameraHealth = Type.Object(
  {
    v: Type.Literal(1),
    storeId: Type.String(),
    camera: Type.String(),
    status: Type.Union([Type.Literal('connecting'), Type.Literal('online'), Type.Literal('reconnecting'), Type.Literal('offline'), Type.Literal('error')]),
    ts: Ms('When the status was taken.'),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
    fps: Type.Optional(Type.Number({ minimum: 0 })),
    lagMs: Type.Optional(Type.Number({ minimum: 0, description: 'Wall time since the last frame was analysed.' })),
    dropped: Type.Optional(Type.Integer({ minimum: 0, description: 'Frames skipped since start because analysis was busy.' })),
    reconnects: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { $id: 'CameraHealth' },
)
export type CameraHealth = Static<typeof CameraHealth>

/** A camera's part of the minute aggregate: what the time series and reconciliation need. */
export const CameraAggregate = Type.Object({
  footfall: Type.Array(
    Type.Object({ entrance: Type.String({ minLength: 1 }), camera: Type.String({ minLength: 1 }), in: Type.Integer({ minimum: 0 }), out: Type.Integer({ minimum: 0 }) }),
    { description: 'Crossings in the minute per entrance and camera: the totals to reconcile crossing events against.' },
  ),
  zones: Type.Array(
    Type.Object({
      zone: Type.String({ minLength: 1 }),
      camera: Type.String({ minLength: 1 }),
      people: Type.Integer({ minimum: 0, description: 'People in the zone at the end of the minute.' }),
      peak: Type.Integer({ minimum: 0, description: 'Most people at once in the minute.' }),
      dwellCount: Type.Integer({ minimum: 0 }),
      dwellP50S: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
      dwellP90S: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
      loitering: Type.Integer({ minimum: 0 }),
    }),
  ),
  /** People inside the store by the entrance lines (in − out, drift corrected, reset daily). */
  occupancy: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Visitors by face today: unique people and repeats in the minute (anonymous, in memory at the edge). */
  visitors: Type.Optional(Type.Object({ unique: Type.Integer({ minimum: 0 }), repeat: Type.Integer({ minimum: 0 }) })),
  health: Type.Array(
    Type.Object({
      camera: Type.String({ minLength: 1 }),
      up: Type.Integer({ minimum: 0, maximum: 1 }),
      fps: Type.Number({ minimum: 0 }),
      lagMs: Type.Number({ minimum: 0 }),
      dropped: Type.Integer({ minimum: 0, description: 'Frames dropped in the minute.' }),
    }),
  ),
})
export type CameraAggregate = Static<typeof CameraAggregate>

/** Cross-field problems of a camera list that a schema cannot say, as `path: problem` lines. */
export function cameraProblems(cameras: readonly CameraConfig[], base = '/cameras'): string[] {
  const out: string[] = []
  const dup = (ids: string[], at: string, what: string) => {
    const seen = new Set<string>()
    ids.forEach((id, i) => {
      if (seen.has(id)) out.push(`${at}/${i}/id: duplicate ${what} "${id}"`)
      seen.add(id)
    })
  }
  dup(cameras.map((c) => c.id), base, 'camera')
  cameras.forEach((c, i) => {
    dup(c.lines.map((l) => l.id), `${base}/${i}/lines`, 'line')
    dup(c.zones.map((z) => z.id), `${base}/${i}/zones`, 'zone')
    c.lines.forEach((l, j) => {
      if (l.a.x === l.b.x && l.a.y === l.b.y) out.push(`${base}/${i}/lines/${j}: a and b are the same point`)
    })
    if (c.detect.width % 2 || c.detect.height % 2) out.push(`${base}/${i}/detect: width and height must be even (the decoder scales to them)`)
  })
  return out
}
