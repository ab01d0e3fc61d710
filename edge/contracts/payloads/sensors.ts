import { Type, type Static } from '@sinclair/typebox'

/**
 * Our own sensor batch schemas (ESP32 scanners and Wi-Fi sniffers flashed with our settings, see
 * firmware-config/). The envelope is validated first; each item is validated on its own so one bad
 * item never poisons the good ones beside it.
 */
const Ts = Type.Integer({ minimum: 0, description: 'Event time, milliseconds since the Unix epoch (UTC).' })
const Mac = Type.String({
  minLength: 12,
  maxLength: 17,
  description: 'Device MAC address, `aa:bb:cc:dd:ee:ff`, `aa-bb-…` or 12 hex digits. Hashed at the edge, never stored.',
})
const Rssi = Type.Number({ minimum: -127, maximum: 20, description: 'Received signal strength, dBm.' })

export const BleSightingItem = Type.Object(
  {
    mac: Mac,
    addrType: Type.Optional(
      Type.Union([Type.Literal('public'), Type.Literal('random')], {
        description: 'BLE address type from the advertising PDU (TxAdd bit). Assumed random when absent.',
      }),
    ),
    rssi: Rssi,
    adv: Type.Optional(
      Type.String({ maxLength: 124, pattern: '^[0-9a-fA-F]*$', description: 'Raw advertising data (AD structures), hex, up to 62 bytes (advertisement + scan response).' }),
    ),
    ts: Type.Optional(Ts),
  },
  { additionalProperties: true, $id: 'BleSightingItem' },
)
export type BleSightingItem = Static<typeof BleSightingItem>

export const BleBatch = Type.Object(
  {
    v: Type.Literal(1, { description: 'Schema version.' }),
    ts: Ts,
    sightings: Type.Array(Type.Unknown(), { description: 'Sightings, each a BleSightingItem.' }),
  },
  { additionalProperties: true, $id: 'BleBatch', description: 'Published by a BLE scanner on sensors/{deviceId}/ble.' },
)
export type BleBatch = Static<typeof BleBatch>

export const WifiProbeItem = Type.Object(
  {
    mac: Mac,
    rssi: Rssi,
    ts: Type.Optional(Ts),
    channel: Type.Optional(Type.Integer({ minimum: 1, maximum: 196, description: 'Channel the probe was heard on.' })),
    seq: Type.Optional(Type.Integer({ minimum: 0, maximum: 4095, description: '802.11 sequence number (helps de-duplicate).' })),
  },
  { additionalProperties: true, $id: 'WifiProbeItem' },
)
export type WifiProbeItem = Static<typeof WifiProbeItem>

export const WifiBatch = Type.Object(
  {
    v: Type.Literal(1, { description: 'Schema version.' }),
    ts: Ts,
    probes: Type.Array(Type.Unknown(), { description: 'Probe requests heard, each a WifiProbeItem. SSIDs must not be sent.' }),
  },
  { additionalProperties: true, $id: 'WifiBatch', description: 'Published by a Wi-Fi probe sniffer on sensors/{deviceId}/wifi.' },
)
export type WifiBatch = Static<typeof WifiBatch>

export const DeviceStatus = Type.Union([Type.Literal('online'), Type.Literal('offline')], {
  $id: 'DeviceStatus',
  description: 'Retained on sensors/{deviceId}/status; also the device’s MQTT last will ("offline").',
})
