import type { DeviceKind } from './credentials.ts'

/**
 * Broker policy as small pure functions (aedes hooks call them). A device publishes only under its
 * own `sensors/{id}/…` (plus the native topics of its firmware, which carry its id in the room /
 * gateway level) and subscribes only to its own config. Service accounts (the edge's own tools, the
 * uplink, dashboards) read `stores/…` and device status. Nothing may publish under `$`-topics.
 */
export interface Principal {
  deviceId: string
  kind: DeviceKind
}

const SENSOR_PUBLISH_KINDS = new Set(['ble', 'wifi', 'parking', 'status'])

/** Topics a retained publish is honoured on; elsewhere the retain flag is cleared (bounded retained store). */
export function mayRetain(p: Principal, topic: string): boolean {
  const l = topic.split('/')
  if (l.length === 3 && l[0] === 'sensors' && l[1] === p.deviceId && l[2] === 'status') return true
  if (p.kind === 'espresense' && l[0] === 'espresense' && l[1] === 'rooms' && l[2] === p.deviceId) return true
  if (p.kind === 'omg' && l.length === 3 && l[1] === p.deviceId && l[2] === 'LWT') return true
  if (p.kind === 'service' && l[0] === 'stores' && l[2] === 'config') return true
  return false
}

export function canPublish(p: Principal, topic: string): boolean {
  // MQTT-3.3.2-2: the topic name in a PUBLISH must not contain wildcards.
  if (topic.length === 0 || topic.includes('+') || topic.includes('#') || topic.startsWith('$')) return false
  const l = topic.split('/')
  if (l.length === 3 && l[0] === 'sensors' && l[1] === p.deviceId) {
    if (p.kind === 'service') return false
    return SENSOR_PUBLISH_KINDS.has(l[2]!)
  }
  if (p.kind === 'espresense' && l[0] === 'espresense') {
    // espresense/devices/{beaconId}/{room}; espresense/rooms/{room}/… (telemetry, status, settings echo)
    if (l.length === 4 && l[1] === 'devices' && l[3] === p.deviceId && l[2] !== '') return true
    if (l.length >= 3 && l[1] === 'rooms' && l[2] === p.deviceId) return true
    return false
  }
  if (p.kind === 'omg' && l.length >= 3 && l[1] === p.deviceId && l[0] !== '') {
    // {base}/{gateway}/BTtoMQTT/{mac}, {base}/{gateway}/LWT, {base}/{gateway}/SYStoMQTT
    if (l.length === 4 && l[2] === 'BTtoMQTT' && l[3] !== '') return true
    if (l.length === 3 && (l[2] === 'LWT' || l[2] === 'SYStoMQTT')) return true
    return false
  }
  if (p.kind === 'service' && l.length === 4 && l[0] === 'stores' && l[2] === 'config' && l[1] !== '') return true
  return false
}

export function canSubscribe(p: Principal, filter: string): boolean {
  if (filter.length === 0 || filter.startsWith('$')) return false
  const l = filter.split('/')
  // MQTT-4.7.1-2/3: '#' only last and alone in its level; '+' alone in its level.
  for (let i = 0; i < l.length; i++) {
    const lv = l[i]!
    if (lv.includes('#') && (lv !== '#' || i !== l.length - 1)) return false
    if (lv.includes('+') && lv !== '+') return false
  }
  if (p.kind === 'service') {
    if (l[0] === 'stores') return true
    if (l[0] === 'sensors' && l.length === 3 && l[2] === 'status') return true
    return false
  }
  // Devices: their own config, exactly (no wildcard can widen it).
  if (l.length === 3 && l[0] === 'sensors' && l[1] === p.deviceId && l[2] === 'config') return true
  if (p.kind === 'espresense' && l[0] === 'espresense') {
    // ESPresense listens on espresense/rooms/{room}/+/set and espresense/rooms/*/+/set ('*' is a literal room).
    if (l[1] === 'rooms' && (l[2] === p.deviceId || l[2] === '*')) return true
    if (l[1] === 'settings') return true
  }
  if (p.kind === 'omg' && l.length >= 3 && l[1] === p.deviceId && l[2] === 'commands') return true
  return false
}
