import { Type, type Static } from '@sinclair/typebox'

/** The store layout: zones and the sensors placed in them (edge config file and downlink alike). */
export const ZoneConfig = Type.Object({
  id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]*$', description: 'Zone id, used in topics, metrics and events.' }),
  name: Type.String({ description: 'Display name.' }),
  floor: Type.Integer({ default: 0, description: 'Floor number; zone switches across floors need a larger margin.' }),
})
export type ZoneConfig = Static<typeof ZoneConfig>

export const SensorConfig = Type.Object({
  id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'Device id of the sensor (its MQTT username and client id).' }),
  zone: Type.String({ description: 'Zone the sensor is placed in.' }),
  kind: Type.Union([Type.Literal('ble'), Type.Literal('wifi'), Type.Literal('espresense'), Type.Literal('omg'), Type.Literal('meraki-ap')], {
    default: 'ble',
    description: 'What the sensor is: our BLE scanner, Wi-Fi sniffer, an ESPresense node, an OpenMQTTGateway, or a Meraki access point.',
  }),
  rssiOffset: Type.Number({ default: 0, description: 'Receiver calibration added to every RSSI this sensor reports, dB.' }),
  absorption: Type.Number({ default: 3.5, minimum: 1, maximum: 6, description: 'Path-loss exponent around this sensor (2 free space, 3–4 indoors).' }),
})
export type SensorConfig = Static<typeof SensorConfig>
/**
 * Downlink `stores/{storeId}/config/zones` (retained): the store layout pushed from central. A
 * higher `version` replaces the layout live; an equal or lower one is ignored (retained replays).
 */
export const ZonesConfigPayload = Type.Object(
  {
    v: Type.Literal(1),
    version: Type.Integer({ minimum: 1, description: 'Monotonic layout version, set by central.' }),
    zones: Type.Array(ZoneConfig, { minItems: 1 }),
    sensors: Type.Array(SensorConfig),
  },
  { $id: 'ZonesConfigPayload' },
)
export type ZonesConfigPayload = Static<typeof ZonesConfigPayload>

/** Outcome of a downlink config, published on stores/{storeId}/events/config. */
export const ConfigAppliedEvent = Type.Object(
  {
    v: Type.Literal(1),
    part: Type.String(),
    version: Type.Union([Type.Integer(), Type.Null()]),
    ok: Type.Boolean(),
    errors: Type.Array(Type.String()),
    ts: Type.Integer({ minimum: 0 }),
  },
  { $id: 'ConfigAppliedEvent' },
)
export type ConfigAppliedEvent = Static<typeof ConfigAppliedEvent>

/** Cross-field rules of a layout, as `path: problem` lines (empty when valid). */
export function layoutProblems(zones: ReadonlyArray<{ id: string }>, sensors: ReadonlyArray<{ id: string; zone: string }>, base = ''): string[] {
  const problems: string[] = []
  const zoneIds = new Set<string>()
  zones.forEach((z, i) => {
    if (zoneIds.has(z.id)) problems.push(`${base}/zones/${i}/id: duplicate zone id "${z.id}"`)
    zoneIds.add(z.id)
  })
  const seen = new Set<string>()
  sensors.forEach((s, i) => {
    if (!zoneIds.has(s.zone)) problems.push(`${base}/sensors/${i}/zone: zone "${s.zone}" is not in /zones`)
    if (seen.has(s.id)) problems.push(`${base}/sensors/${i}/id: duplicate sensor id "${s.id}"`)
    seen.add(s.id)
  })
  return problems
}
