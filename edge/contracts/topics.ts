/**
 * The MQTT topic contract of the edge broker and of the uplink. One source of truth: the broker
 * ACL, the decoders, the simulator, the gateway and the tests build and parse topics here.
 */
export const SENSOR_KINDS = ['ble', 'wifi', 'parking', 'status'] as const
export type SensorTopicKind = (typeof SENSOR_KINDS)[number]

/** Device ids are also MQTT client ids and topic levels: keep them boring. */
export const DEVICE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/

export const topics = {
  sensor: (deviceId: string, kind: SensorTopicKind) => `sensors/${deviceId}/${kind}`,
  sensorStatus: (deviceId: string) => `sensors/${deviceId}/status`,
  /** Config a device may read: its own, retained. */
  sensorConfig: (deviceId: string) => `sensors/${deviceId}/config`,
  storeAgg: (storeId: string) => `stores/${storeId}/agg`,
  storeEvents: (storeId: string, type: string) => `stores/${storeId}/events/${type}`,
  storeCouponRequests: (storeId: string) => `stores/${storeId}/coupons/requests`,
  storeHealth: (storeId: string) => `stores/${storeId}/health`,
  /** Retained camera health (CameraHealth). */
  storeCameraStatus: (storeId: string, camera: string) => `stores/${storeId}/cameras/${camera}/status`,
  storeConfig: (storeId: string, part: 'zones' | 'triggers' | 'members' | 'cameras') =>
    `stores/${storeId}/config/${part}`,
  /** Downlink, not retained: member-app location reports central forwards to the stores they may concern. */
  storeLocations: (storeId: string) => `stores/${storeId}/locations`,
  /** ESPresense native: espresense/devices/{beaconId}/{room}; the room is the node's device id. */
  espresenseDevice: (beaconId: string, room: string) => `espresense/devices/${beaconId}/${room}`,
  /** OpenMQTTGateway native: {base}/{gateway}/BTtoMQTT/{mac}; the gateway name is the device id. */
  omgBt: (base: string, gateway: string, mac: string) => `${base}/${gateway}/BTtoMQTT/${mac}`,
} as const

/** Subscriptions the edge's ingest pipeline takes on its own broker. */
export const INGEST_SUBSCRIPTIONS = [
  'sensors/+/ble',
  'sensors/+/wifi',
  'sensors/+/parking',
  'sensors/+/status',
  'espresense/devices/+/+',
  'espresense/rooms/+/status',
  '+/+/BTtoMQTT/+',
  '+/+/LWT',
] as const

export type ParsedTopic =
  | { kind: 'ble' | 'wifi' | 'parking' | 'status'; deviceId: string }
  | { kind: 'espresense'; deviceId: string; beaconId: string }
  | { kind: 'omg'; deviceId: string; mac: string }

/** Parse an inbound sensor topic; undefined when it is not part of the contract. */
export function parseSensorTopic(topic: string): ParsedTopic | undefined {
  const p = topic.split('/')
  if (p.length === 3 && p[0] === 'sensors' && DEVICE_ID_PATTERN.test(p[1]!)) {
    const kind = p[2] as SensorTopicKind
    if ((SENSOR_KINDS as readonly string[]).includes(kind)) return { kind, deviceId: p[1]! }
    return undefined
  }
  if (p.length === 4 && p[0] === 'espresense' && p[1] === 'devices' && p[2] && DEVICE_ID_PATTERN.test(p[3]!)) {
    return { kind: 'espresense', deviceId: p[3]!, beaconId: p[2] }
  }
  if (p.length === 4 && p[2] === 'BTtoMQTT' && p[0] && DEVICE_ID_PATTERN.test(p[1]!) && p[3]) {
    return { kind: 'omg', deviceId: p[1]!, mac: p[3] }
  }
  // Native online/offline of ESPresense (espresense/rooms/{room}/status) and OpenMQTTGateway ({base}/{gw}/LWT).
  if (p.length === 4 && p[0] === 'espresense' && p[1] === 'rooms' && p[3] === 'status' && DEVICE_ID_PATTERN.test(p[2]!)) {
    return { kind: 'status', deviceId: p[2]! }
  }
  if (p.length === 3 && p[2] === 'LWT' && p[0] && DEVICE_ID_PATTERN.test(p[1]!)) return { kind: 'status', deviceId: p[1]! }
  return undefined
}

/** Store ids arrive as a topic level at central: printable text, no MQTT wildcards or separators. */
export const STORE_ID_MAX = 128
// eslint-disable-next-line no-control-regex
const BAD_STORE_ID = /[\u0000-\u001f\u007f/+#]/

export type StoreTopic =
  | { kind: 'agg'; storeId: string }
  | { kind: 'event'; storeId: string; type: string }
  | { kind: 'health'; storeId: string }
  | { kind: 'coupon-request'; storeId: string }
  | { kind: 'config'; storeId: string; part: string }
  | { kind: 'locations'; storeId: string }

/** Parse an uplink or downlink topic `stores/{storeId}/…`; undefined when it is not part of the contract. */
export function parseStoreTopic(topic: string): StoreTopic | undefined {
  const p = topic.split('/')
  if (p[0] !== 'stores' || p.length < 3) return undefined
  const storeId = p[1]!
  if (!storeId || storeId.length > STORE_ID_MAX || BAD_STORE_ID.test(storeId)) return undefined
  if (p.length === 3 && p[2] === 'agg') return { kind: 'agg', storeId }
  if (p.length === 3 && p[2] === 'health') return { kind: 'health', storeId }
  if (p.length === 4 && p[2] === 'events' && /^[a-z][a-z0-9_-]{0,31}$/.test(p[3]!)) return { kind: 'event', storeId, type: p[3]! }
  if (p.length === 4 && p[2] === 'coupons' && p[3] === 'requests') return { kind: 'coupon-request', storeId }
  if (p.length === 4 && p[2] === 'config' && /^[a-z]+$/.test(p[3]!)) return { kind: 'config', storeId, part: p[3]! }
  if (p.length === 3 && p[2] === 'locations') return { kind: 'locations', storeId }
  return undefined
}

/** The gateway's uplink subscriptions (under $share/{group}/ when replicas split the load). */
export const UPLINK_SUBSCRIPTIONS = ['stores/+/agg', 'stores/+/events/+', 'stores/+/health', 'stores/+/coupons/requests'] as const
