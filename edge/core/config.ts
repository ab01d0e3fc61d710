import { readFileSync } from 'node:fs'
import { Type, type Static, type TSchema, Kind } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { parse as parseYaml } from 'yaml'
import { StoreEdgeError, ZoneConfig, SensorConfig, CameraConfig, layoutProblems, cameraProblems } from '../contracts/index.ts'

/**
 * The edge configuration: one schema gives the JSON Schema, the TypeScript type, the defaults and
 * the environment overrides (STORE_EDGE_ + the path in SCREAMING_SNAKE, e.g. broker.wsPort →
 * STORE_EDGE_BROKER_WS_PORT). Every field has a description and a default.
 */

// The store layout (zones, sensors) is part of the contracts: the downlink carries it too.
export { ZoneConfig, SensorConfig } from '../contracts/index.ts'


/**
 * Visitor vs passer-by per source: the levels differ (a phone's Wi-Fi probes and its BLE
 * advertisements arrive at different powers and rates), the rules are the same.
 */
function visitSection(what: string, d: { enterRssi: number; stayRssi: number; gapToleranceMs: number }) {
  return Type.Object(
    {
      enterRssi: Type.Number({ default: d.enterRssi, description: `${what}: a sighting at or above this RSSI starts a visit (in the store).` }),
      stayRssi: Type.Number({ default: d.stayRssi, description: `${what}: once visiting, sightings at or above this keep the visit alive.` }),
      gapToleranceMs: Type.Integer({ default: d.gapToleranceMs, minimum: 0, description: `${what}: silence tolerated inside one visit.` }),
      minVisitMs: Type.Integer({ default: 3 * 60_000, minimum: 0, description: `${what}: shorter visits count as passers-by.` }),
      repeatWindowDays: Type.Integer({ default: 30, minimum: 1, description: `${what}: a visitor seen again within this many days is a repeat visitor.` }),
    },
    { default: {} },
  )
}

export const EdgeConfigSchema = Type.Object({
  store: Type.Object(
    {
      id: Type.String({ default: 'demo-store', pattern: '^[a-z0-9][a-z0-9_-]*$', description: 'Store id, the {storeId} of uplink topics.' }),
      name: Type.String({ default: 'Demo Store', description: 'Display name.' }),
      timezone: Type.String({ default: 'Asia/Shanghai', description: 'IANA time zone of the store.' }),
    },
    { default: {} },
  ),
  healthIntervalMs: Type.Integer({ default: 60_000, minimum: 1000, description: 'How often the edge publishes its retained health (sensors online, uptime) on stores/{storeId}/health.' }),
  dataDir: Type.String({ default: './var/edge', description: 'Where the edge keeps device credentials, broker sessions and the privacy salt.' }),
  log: Type.Object({ level: Type.String({ default: 'info', description: 'pino log level.' }) }, { default: {} }),
  broker: Type.Object(
    {
      host: Type.String({ default: '0.0.0.0', description: 'Address the MQTT listeners bind to.' }),
      port: Type.Integer({ default: 1884, minimum: 0, maximum: 65535, description: 'MQTT over TCP (0 = any free port). 1883 belongs to the machine’s Mosquitto.' }),
      wsPort: Type.Integer({ default: 8884, minimum: -1, maximum: 65535, description: 'MQTT over WebSocket (0 = any free port, -1 = off).' }),
      maxPacketBytes: Type.Integer({ default: 256 * 1024, minimum: 1024, description: 'Largest MQTT packet accepted; larger ones close the connection.' }),
      maxConnections: Type.Integer({ default: 5000, minimum: 1, description: 'Connections accepted at once.' }),
      publishRatePerSec: Type.Number({ default: 500, minimum: 1, description: 'Sustained publishes per second allowed per device (token bucket).' }),
      publishBurst: Type.Number({ default: 2000, minimum: 1, description: 'Burst size of the per-device token bucket.' }),
      floodDisconnectAfter: Type.Integer({ default: 1000, minimum: 1, description: 'Rate-limited publishes after which the device is disconnected.' }),
      authMaxFailures: Type.Integer({ default: 5, minimum: 1, description: 'Failed logins of one username from one address within a minute before that pair is refused for a while.' }),
      authBanMs: Type.Integer({ default: 30_000, minimum: 0, description: 'First refusal period after too many failed logins (doubles on repeat, up to 32×; 0 = no backoff).' }),
      persistence: Type.Union([Type.Literal('level'), Type.Literal('memory')], {
        default: 'level',
        description: 'Broker session store: level (durable on disk, survives restarts) or memory (tests of throughput only).',
      }),
    },
    { default: {} },
  ),
  http: Type.Object(
    {
      host: Type.String({ default: '127.0.0.1', description: 'Address of the local HTTP API.' }),
      port: Type.Integer({ default: 8080, minimum: 0, maximum: 65535, description: 'Port of the local HTTP API (0 = any free port).' }),
      cameraToken: Type.String({
        default: '',
        description: 'Shared secret the gateway sends (x-camera-token) to reach the camera routes (live view, overlay, events, snapshots); empty: those routes answer 503.',
      }),
      cameraUnblurred: Type.Boolean({ default: false, description: 'Serve unblurred snapshots when the gateway asks (it checks the viewer’s role and audits each view); false: always blurred.' }),
    },
    { default: {} },
  ),
  privacy: Type.Object(
    {
      saltRotationHours: Type.Number({ default: 24, minimum: 1, description: 'How often the MAC hashing salt rotates (24 = daily, at local midnight).' }),
    },
    { default: {} },
  ),
  ingest: Type.Object(
    {
      maxBatch: Type.Integer({ default: 500, minimum: 1, description: 'Most items accepted in one batch message.' }),
      maxSkewMs: Type.Integer({ default: 10 * 60_000, minimum: 1000, description: 'Largest accepted distance between a sensor timestamp and the edge clock.' }),
    },
    { default: {} },
  ),
  presence: Type.Object(
    {
      staleMs: Type.Integer({ default: 30_000, minimum: 1000, description: 'No sighting for this long: the device is stale (kept in its zone).' }),
      awayMs: Type.Integer({ default: 120_000, minimum: 1000, description: 'No sighting for this long: the device has left; an exit event is emitted.' }),
      switchMarginM: Type.Number({ default: 1.0, minimum: 0, description: 'A new zone must be this much closer (metres) before a device moves to it.' }),
      switchHoldMs: Type.Integer({ default: 4000, minimum: 0, description: 'A new zone must stay the best for this long before a move.' }),
      floorPenaltyM: Type.Number({ default: 3, minimum: 0, description: 'Extra margin to move to a zone on another floor.' }),
      maxSpeedMps: Type.Number({ default: 4, minimum: 0.1, description: 'Distance changes faster than this are treated as outliers.' }),
      medianWindow: Type.Integer({ default: 3, minimum: 1, maximum: 9, description: 'Median pre-filter window (samples) before smoothing.' }),
      minCutoff: Type.Number({ default: 0.05, minimum: 0, description: '1-Euro filter minimum cut-off frequency, Hz.' }),
      beta: Type.Number({ default: 0.5, minimum: 0, description: '1-Euro filter speed coefficient.' }),
      rssiAt1m: Type.Number({ default: -65, description: 'RSSI at 1 m for devices that do not advertise it (phones).' }),
      maxIdentities: Type.Integer({ default: 200_000, minimum: 100, description: 'Tracked identities at most; the least recently seen are evicted first.' }),
    },
    { default: {} },
  ),
  wifi: visitSection('Wi-Fi probes', { enterRssi: -70, stayRssi: -80, gapToleranceMs: 5 * 60_000 }),
  ble: visitSection('BLE advertisements', { enterRssi: -80, stayRssi: -90, gapToleranceMs: 2 * 60_000 }),
  aggregates: Type.Object(
    { intervalMs: Type.Integer({ default: 60_000, minimum: 1000, description: 'Aggregate interval (a minute in production).' }) },
    { default: {} },
  ),
  uplink: Type.Object(
    {
      url: Type.String({ default: '', description: 'Central MQTT broker (mqtt://, mqtts://, ws://, wss://); empty turns the uplink off.' }),
      username: Type.String({ default: '', description: 'Credentials at the central broker (set the password through STORE_EDGE_UPLINK_PASSWORD).' }),
      password: Type.String({ default: '', description: 'Password at the central broker.' }),
      clientId: Type.String({ default: '', description: 'MQTT client id at the central broker (default edge-{storeId}); the persistent session is keyed by it.' }),
      caFile: Type.String({ default: '', description: 'PEM file of the CA that signed the central broker (TLS).' }),
      certFile: Type.String({ default: '', description: 'Client certificate (PEM) for mutual TLS.' }),
      keyFile: Type.String({ default: '', description: 'Client key (PEM) for mutual TLS.' }),
      rejectUnauthorized: Type.Boolean({ default: true, description: 'Verify the central broker certificate.' }),
      inflight: Type.Integer({ default: 500, minimum: 1, maximum: 65_000, description: 'QoS 1 messages in flight to the central broker at once (drain speed).' }),
      replayWindowMs: Type.Integer({
        default: 5 * 60_000,
        minimum: 0,
        description: 'Messages acknowledged by the central broker within this window are sent again after a reconnect (a broker that crashed may have lost them; the TSDB overwrites). 0 = off.',
      }),
      replayDelayMs: Type.Integer({
        default: 10_000,
        minimum: 0,
        description: 'How long after a reconnect the replay window is sent again (the gateways must have subscribed again by then).',
      }),
      replayMaxBytes: Type.Integer({ default: 64 * 1024 * 1024, minimum: 0, description: 'Memory the replay window may hold at most.' }),
      spoolMaxEntries: Type.Integer({ default: 5_000_000, minimum: 1000, description: 'Messages the on-disk spool keeps at most during an outage; beyond it the oldest are dropped and counted.' }),
    },
    { default: {} },
  ),
  webhooks: Type.Object(
    {
      meraki: Type.Object(
        {
          enabled: Type.Boolean({ default: false, description: 'Accept Meraki Scanning API v3 posts on POST /v1/webhooks/meraki.' }),
          secret: Type.String({ default: '', description: 'Shared secret configured in the Meraki dashboard.' }),
          validator: Type.String({ default: '', description: 'Validator string Meraki expects from GET /v1/webhooks/meraki.' }),
        },
        { default: {} },
      ),
    },
    { default: {} },
  ),
  radio: Type.Object(
    {
      enabled: Type.Boolean({ default: false, description: 'Scan with the edge box’s own Bluetooth adapter (BlueZ over D-Bus, through node-ble). Its sightings go through the same decoders, privacy hashing and presence as an MQTT scanner’s.' }),
      sensor: Type.String({
        default: 'edge-radio',
        pattern: '^[a-z0-9][a-z0-9_-]{0,62}$',
        description: 'The sensor (in `sensors`, kind ble) the radio is: its id and the zone it is placed in. Its batches appear on sensors/{sensor}/ble and its status on sensors/{sensor}/status.',
      }),
      adapter: Type.String({ default: '', pattern: '^(hci[0-9]+)?$', description: 'BlueZ adapter (hci0, hci1…); empty: the first one.' }),
      powerOn: Type.Boolean({ default: true, description: 'Power the adapter on when it is off (BlueZ may refuse, e.g. rfkill): otherwise wait until someone does.' }),
      batchMs: Type.Integer({ default: 1000, minimum: 100, maximum: 60_000, description: 'Sightings are batched and published this often (like a scanner’s batch).' }),
      retryMinMs: Type.Integer({ default: 1000, minimum: 100, description: 'First retry after a failure (no adapter, BlueZ gone, powered off…); doubles up to retryMaxMs, with jitter.' }),
      retryMaxMs: Type.Integer({ default: 60_000, minimum: 1000, description: 'Longest wait between retries.' }),
      busAddress: Type.String({ default: '', description: 'D-Bus address of the system bus; empty: DBUS_SYSTEM_BUS_ADDRESS or the standard system bus socket.' }),
    },
    { default: {} },
  ),
  parking: Type.Object(
    {
      enabled: Type.Boolean({
        default: false,
        description: 'The store has a car park: gate events are accepted (sensors/{id}/parking, POST /v1/parking/events) and minute aggregates carry arrivals, departures and occupancy.',
      }),
      resetAt: Type.String({
        default: '00:00',
        pattern: '^(([01][0-9]|2[0-3]):[0-5][0-9])?$',
        description: 'Local time (store time zone) the car-park occupancy resets to 0 every day; empty: never.',
      }),
      dedupeWindowMs: Type.Integer({ default: 24 * 3_600_000, minimum: 0, description: 'How long a gate event (its id, or plate + type + gate + time) is remembered to drop repeated deliveries.' }),
      maxStayHours: Type.Number({ default: 48, minimum: 1, description: 'An entry without an exit for this long is forgotten (the car left unseen).' }),
      countUnreadablePlates: Type.Boolean({
        default: true,
        description: 'Count gate events whose plate does not validate (rejected as STORE_EDGE_ERR_BAD_PLATE) in arrivals, departures and occupancy: the car did pass.',
      }),
      webhook: Type.Object(
        {
          enabled: Type.Boolean({ default: false, description: 'Accept gate events from a parking system on POST /v1/parking/events (GateBatch body).' }),
          secret: Type.String({ default: '', description: 'Shared secret the parking system sends in the X-Parking-Secret header.' }),
          deviceId: Type.String({ default: 'parking-system', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'Device id the webhook’s events are attributed to (metrics, de-duplication of event ids).' }),
        },
        { default: {} },
      ),
    },
    { default: {} },
  ),
  geofence: Type.Object(
    {
      minDwellS: Type.Object(
        {
          indoor: Type.Number({ default: 10, minimum: 0, description: 'Indoor zones: a stay shorter than this (seconds) never enters (walking past a counter is not a visit to it).' }),
          carpark: Type.Number({ default: 0, minimum: 0, description: 'Car park: seconds after the gate entry before the stay enters (0: at the gate).' }),
          tradeArea: Type.Number({ default: 0, minimum: 0, description: 'Trade-area geofences: seconds inside before the stay enters (0: the first fix clearly inside).' }),
        },
        { default: {} },
      ),
      flapWindowS: Type.Number({
        default: 60,
        minimum: 0,
        description: 'A non-explicit exit (presence lost the phone, it moved zone) is held this long; a return within it cancels the exit instead of emitting exit + enter. Explicit exits (gate, GPS clearly outside) are not held.',
      }),
      staleAfterS: Type.Object(
        {
          indoor: Type.Number({ default: 12 * 3600, minimum: 60, description: 'An indoor stay with no presence news for this long ends (a safety net: presence reports exits itself).' }),
          carpark: Type.Number({ default: 24 * 3600, minimum: 60, description: 'A car-park stay without a gate exit for this long ends (the exit read was missed).' }),
          tradeArea: Type.Number({ default: 2 * 3600, minimum: 60, description: 'A trade-area stay with no fix inside for this long ends.' }),
        },
        { default: {} },
      ),
      faceStaleS: Type.Number({ default: 15 * 60, minimum: 1, description: 'A stay opened by face recognition ends this long after the member was last recognised (a camera sees arrivals, not departures).' }),
      visitGapS: Type.Number({ default: 30 * 60, minimum: 0, description: 'A store visit (the zones reached, for rules like “left the car park after the cosmetics floor”) ends after this long in no indoor zone and not in the car park.' }),
      maxAccuracyM: Type.Number({ default: 500, exclusiveMinimum: 0, description: 'Location fixes less accurate than this (metres) are rejected.' }),
      maxSpeedMps: Type.Number({ default: 70, exclusiveMinimum: 0, description: 'Location fixes implying a faster move from the last accepted fix (beyond both accuracy circles) are rejected, m/s (70 ≈ 250 km/h).' }),
      speedResetAfter: Type.Integer({ default: 3, minimum: 1, description: 'This many speed rejections in a row accept the latest fix as the new anchor (the old anchor was the outlier).' }),
      maxFixAgeS: Type.Integer({ default: 3600, minimum: 1, description: 'Location fixes older than this (seconds) are rejected.' }),
      maxFixFutureS: Type.Integer({ default: 60, minimum: 0, description: 'Location fixes further than this in the future (seconds) are rejected.' }),
      includeNonMembers: Type.Boolean({ default: false, description: 'Also emit geofence events for subjects that are not members (hashed phones, unregistered cars). Off by default: they cannot receive coupons, central stores every geofence event, and their movements are already in presence events and the aggregates. Random-address phones are never followed.' }),
      maxSubjects: Type.Integer({ default: 200_000, minimum: 100, description: 'Subjects tracked at most; the least recently heard of are forgotten first.' }),
    },
    { default: {} },
  ),
  triggers: Type.Object(
    {
      enabled: Type.Boolean({ default: true, description: 'Evaluate campaigns (config/triggers) on geofence events and publish coupon requests on stores/{storeId}/coupons/requests.' }),
    },
    { default: {} },
  ),
  vision: Type.Object(
    {
      enabled: Type.Boolean({ default: false, description: 'Run the on-device inference service (person, face, embedding and plate models on onnxruntime, in worker threads).' }),
      modelsDir: Type.String({ default: '', description: 'Directory of the built .onnx files; empty: models/build in the package (or STORE_EDGE_MODELS_DIR).' }),
      manifestDirs: Type.Array(Type.String(), { default: [], description: 'Extra directories of model manifests (a user’s own exported ONNX models); names must not clash with ours.' }),
      workers: Type.Integer({ default: 1, minimum: 1, maximum: 64, description: 'Inference worker threads; each holds its own sessions of every enabled model.' }),
      threads: Type.Integer({ default: 1, minimum: 1, maximum: 64, description: 'onnxruntime intra-op threads per session (cores one inference may use).' }),
      providers: Type.Array(Type.Union([Type.Literal('cpu'), Type.Literal('cuda')]), {
        default: ['cpu'],
        minItems: 1,
        description: 'Execution providers in order of preference; cuda falls back to cpu (logged) where the CUDA provider is not installed.',
      }),
      queueDepth: Type.Integer({ default: 2, minimum: 1, maximum: 64, description: 'Frames a source (camera) may have waiting; a newer frame drops the oldest (counted in store_edge_inference_dropped_total).' }),
      inFlightPerSource: Type.Integer({
        default: 1,
        minimum: 1,
        maximum: 64,
        description: 'Frames of one source processed at once. 1 keeps each camera’s results in frame order and spreads workers across cameras (give a single camera more vision.threads instead); more lets one camera use several workers, results may then finish out of order.',
      }),
      maxSources: Type.Integer({ default: 64, minimum: 1, maximum: 4096, description: 'Sources with frames waiting at once; a frame from one more source is refused. With queueDepth this bounds the memory of waiting frames.' }),
      maxFrameBytes: Type.Integer({
        default: 32 * 1024 * 1024,
        minimum: 1024,
        description: 'Largest frame accepted (encoded bytes, raw RGB bytes, or the feeds of a raw job); larger ones are refused as STORE_EDGE_ERR_BAD_FRAME. With maxSources × queueDepth it bounds the memory of waiting frames.',
      }),
      jobTimeoutMs: Type.Integer({
        default: 30_000,
        minimum: 100,
        description: 'A job still running after this long fails (STORE_EDGE_ERR_INFERENCE) and its worker is replaced: a stuck worker never holds a camera’s queue for good.',
      }),
      warmup: Type.Boolean({ default: true, description: 'Run each enabled model once on start, so the first frame does not pay for kernel set-up.' }),
      models: Type.Object(
        {
          person: Type.String({
            default: 'nanodet-int8',
            description: 'Person (COCO object) detection model; empty: off. nanodet-int8 (about 2× faster than the float nanodet on one core, same counts on the quality images); nanodet is the float original.',
          }),
          faceDetect: Type.String({ default: 'blazeface', description: 'Face detection model; empty: off.' }),
          faceEmbed: Type.String({
            default: 'faceres-int8',
            description: 'Face embedding model; empty: off. faceres-int8 (int8 FaceRes: separates people like the float faceres, about 2.5× faster); mobilefacenet does not separate different people on the quality images.',
          }),
          plateDet: Type.String({ default: 'ppocr-det', description: 'Plate text detection model; empty: plates off.' }),
          plateRec: Type.String({ default: 'ppocr-rec', description: 'Plate text recognition model; empty: plates off.' }),
          plateCls: Type.String({ default: '', description: 'Optional text direction classifier for plates (ppocr-cls: reads upside-down plates, one more run per plate); empty: off.' }),
        },
        { default: {}, description: 'Which registry model serves each task (a manifest name).' },
      ),
    },
    { default: {} },
  ),
  cameras: Type.Array(CameraConfig, { default: [], description: 'Cameras of the store (the retained downlink stores/{id}/config/cameras replaces this list live).' }),
  camera: Type.Object(
    {
      tracker: Type.Object(
        {
          highThresh: Type.Number({ default: 0.5, minimum: 0, maximum: 1, description: 'Detections at or above this score are matched first (ByteTrack stage one).' }),
          lowThresh: Type.Number({ default: 0.1, minimum: 0, maximum: 1, description: 'Detections between this and highThresh only keep existing tracks alive (stage two, through occlusion).' }),
          newTrackThresh: Type.Number({ default: 0.6, minimum: 0, maximum: 1, description: 'An unmatched detection at or above this score starts a track.' }),
          maxLostS: Type.Number({ default: 1.5, minimum: 0.1, description: 'A track unseen this long ends.' }),
          minHits: Type.Integer({ default: 2, minimum: 1, description: 'Matched frames before a track counts.' }),
        },
        { default: {} },
      ),
      faces: Type.Object(
        {
          minPersonPx: Type.Integer({ default: 120, minimum: 16, description: 'Person boxes shorter than this (detect pixels) are not searched for faces.' }),
          minFacePx: Type.Integer({ default: 40, minimum: 8, description: 'Faces narrower than this are not embedded.' }),
          everyNthFrame: Type.Integer({ default: 1, minimum: 1, description: 'Look for faces on every n-th analysed frame.' }),
          matchThreshold: Type.Number({ default: 0.75, minimum: 0, maximum: 1, description: 'Cosine similarity at or above which a face matches a member of the gallery.' }),
          margin: Type.Number({ default: 0.05, minimum: 0, maximum: 1, description: 'The best member must beat the second best by this much.' }),
          minVotes: Type.Integer({ default: 3, minimum: 1, description: 'Matching frames of one track needed to recognise a member.' }),
          window: Type.Integer({ default: 5, minimum: 1, description: 'Face observations of a track the votes are taken over.' }),
          cooldownS: Type.Number({ default: 600, minimum: 0, description: 'A member recognised again within this long is not a new arrival.' }),
          uniqueThreshold: Type.Number({ default: 0.7, minimum: 0, maximum: 1, description: 'Anonymous visitors: a new track this similar to one seen today is a repeat.' }),
        },
        { default: {} },
      ),
      countOnly: Type.Boolean({ default: false, description: 'Count only: no snapshots, no embeddings of anyone (members are not recognised); tracks and counts only.' }),
      snapshots: Type.Integer({ default: 200, minimum: 0, maximum: 10_000, description: 'Event snapshots kept in memory (JPEG, never on disk, never sent up); 0: none.' }),
      occupancyResetAt: Type.String({ default: '04:00', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'Local time the entrance occupancy resets to zero each day.' }),
      ffmpegPath: Type.String({ default: 'ffmpeg', description: 'The ffmpeg binary that decodes camera streams.' }),
    },
    { default: {} },
  ),
  zones: Type.Array(ZoneConfig, { default: [], description: 'Zones of the store.' }),
  sensors: Type.Array(SensorConfig, { default: [], description: 'Sensors and the zone each is placed in.' }),
})
export type EdgeConfig = Static<typeof EdgeConfigSchema>

/** Every leaf path of the schema with its env name, so overrides follow the schema. */
export function envOverrides(schema: TSchema = EdgeConfigSchema): Array<{ path: string[]; env: string; schema: TSchema }> {
  const out: Array<{ path: string[]; env: string; schema: TSchema }> = []
  const walk = (s: TSchema, path: string[]) => {
    if (s[Kind] === 'Object' && s.properties) {
      for (const [k, child] of Object.entries(s.properties as Record<string, TSchema>)) walk(child, [...path, k])
      return
    }
    const env = 'STORE_EDGE_' + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')
    out.push({ path, env, schema: s })
  }
  walk(schema, [])
  return out
}

function coerce(raw: string, schema: TSchema): unknown {
  const kind = schema[Kind]
  if (kind === 'Integer' || kind === 'Number') return raw.trim() === '' ? raw : Number(raw)
  if (kind === 'Boolean') return raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw
  if (kind === 'Array' || kind === 'Object') {
    try {
      return JSON.parse(raw)
    } catch {
      return raw
    }
  }
  return raw
}

/** Validate and fill defaults; throws STORE_EDGE_ERR_CONFIG_INVALID listing every error with its path. */
export function resolveConfig(input: unknown, env: NodeJS.ProcessEnv = {}): EdgeConfig {
  const value = structuredClone(input ?? {}) as Record<string, unknown>
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StoreEdgeError('STORE_EDGE_ERR_CONFIG_INVALID', 'the configuration must be an object')
  }
  for (const { path, env: name, schema } of envOverrides()) {
    const raw = env[name]
    if (raw === undefined) continue
    let node = value
    for (const key of path.slice(0, -1)) {
      if (typeof node[key] !== 'object' || node[key] === null) node[key] = {}
      node = node[key] as Record<string, unknown>
    }
    node[path[path.length - 1]!] = coerce(raw, schema)
  }
  const withDefaults = Value.Default(EdgeConfigSchema, value)
  const errors = [...Value.Errors(EdgeConfigSchema, withDefaults)]
  if (errors.length > 0) {
    const lines = errors.slice(0, 50).map((e) => `  ${e.path || '/'}: ${e.message}`)
    throw new StoreEdgeError('STORE_EDGE_ERR_CONFIG_INVALID', `\n${lines.join('\n')}`)
  }
  const cfg = withDefaults as EdgeConfig
  const problems: string[] = [...layoutProblems(cfg.zones, cfg.sensors), ...cameraProblems(cfg.cameras)].map((p) => `  ${p}`)
  if (cfg.presence.awayMs <= cfg.presence.staleMs) problems.push('  /presence/awayMs: must be greater than staleMs')
  for (const src of ['wifi', 'ble'] as const) {
    if (cfg[src].stayRssi > cfg[src].enterRssi) problems.push(`  /${src}/stayRssi: must be at or below enterRssi (hysteresis)`)
  }
  if (cfg.webhooks.meraki.enabled && !cfg.webhooks.meraki.secret) problems.push('  /webhooks/meraki/secret: required when the Meraki webhook is enabled')
  if (cfg.parking.webhook.enabled && !cfg.parking.webhook.secret) problems.push('  /parking/webhook/secret: required when the parking webhook is enabled')
  if (cfg.parking.webhook.enabled && !cfg.parking.enabled) problems.push('  /parking/webhook/enabled: needs parking.enabled')
  if (cfg.radio.enabled) {
    const s = cfg.sensors.find((x) => x.id === cfg.radio.sensor)
    if (!s) problems.push(`  /radio/sensor: "${cfg.radio.sensor}" is not in sensors: add {id: ${cfg.radio.sensor}, zone: <where the box is>, kind: ble}`)
    else if (s.kind !== 'ble') problems.push(`  /radio/sensor: "${s.id}" must be a sensor of kind ble, not ${s.kind}`)
  }
  if (cfg.radio.retryMaxMs < cfg.radio.retryMinMs) problems.push('  /radio/retryMaxMs: must be at least retryMinMs')
  if (problems.length) throw new StoreEdgeError('STORE_EDGE_ERR_CONFIG_INVALID', `\n${problems.join('\n')}`)
  return cfg
}

/** Load a YAML or JSON file (or nothing) and resolve it against the schema and the environment. */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): EdgeConfig {
  let input: unknown = {}
  if (file) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new StoreEdgeError('STORE_EDGE_ERR_CONFIG_INVALID', `cannot read ${file}: ${(err as Error).message}`)
    }
    try {
      input = parseYaml(text)
    } catch (err) {
      throw new StoreEdgeError('STORE_EDGE_ERR_CONFIG_INVALID', `${file} is not valid YAML/JSON: ${(err as Error).message}`)
    }
  }
  return resolveConfig(input, env)
}

