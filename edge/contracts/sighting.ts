import type { ErrorCode } from './errors.ts'

/**
 * What every decoder produces: one radio sighting of one device by one sensor, already
 * privacy-safe. A raw MAC never appears here: MAC-derived ids are `HMAC(salt of the day, mac)`.
 */
export type SightingSource = 'ble' | 'wifi'

export type IdKind =
  | 'mac' // hashed MAC of a public (globally administered) address
  | 'random' // hashed MAC of a random / locally administered address: counted, never linked
  | 'ibeacon'
  | 'altbeacon'
  | 'eddystone-uid'
  | 'eddystone-eid'
  | 'eddystone-url'

export type DeviceClass = 'apple' | 'android' | 'beacon' | 'other'

export interface BeaconInfo {
  /** iBeacon / AltBeacon proximity UUID, or Eddystone namespace (hex). */
  uuid?: string
  major?: number
  minor?: number
  /** Eddystone-UID instance (hex) or EID ephemeral id (hex). */
  instance?: string
  url?: string
}

export interface Telemetry {
  batteryMv?: number
  temperatureC?: number
  advCount?: number
  uptimeS?: number
}

export interface Sighting {
  source: SightingSource
  /** The sensor (scanner, sniffer, access point) that heard it: a provisioned device id. */
  sensorId: string
  /** Privacy-safe identity: `h:<hex>` for MAC-derived ids, `ibeacon:<uuid>:<major>:<minor>` etc. for beacons. */
  id: string
  idKind: IdKind
  /** True for random / locally administered addresses: counted in aggregate only. */
  randomAddress: boolean
  deviceClass: DeviceClass
  /** Received signal strength, dBm. */
  rssi: number
  /** Advertised calibrated RSSI at 1 m (iBeacon measured power, Eddystone tx power at 0 m − 41). */
  txPower?: number
  /** Distance estimated by the sensor itself (ESPresense), metres. */
  distanceM?: number
  /** Event time, ms since epoch. */
  ts: number
  beacon?: BeaconInfo
  telemetry?: Telemetry
}

export interface Rejection {
  code: ErrorCode
  /** Human-readable reason, with the JSON path or field where it applies. */
  reason: string
  /** Index of the rejected item inside a batch, when only that item was rejected. */
  index?: number
}

export interface DecodeResult {
  sightings: Sighting[]
  rejects: Rejection[]
}

/** What decoders are given: they stay pure, the adapters supply hashing and time. */
export interface DecodeContext {
  /** The provisioned device the payload came from (from the topic, checked by the ACL). */
  deviceId: string
  /** HMAC(salt of the day, normalised mac) as `h:<hex>`; the only way a MAC may leave a decoder. */
  hashMac(mac: string): string
  /** Current time, ms since epoch (for defaults and clock-skew checks). */
  now: number
  /** Largest accepted clock skew between sensor and edge, ms. */
  maxSkewMs: number
  /** Largest accepted batch length. */
  maxBatch: number
}
