import type { BleBatch, GateBatch, GateEventItem, WifiBatch } from '../contracts/index.ts'
import { topics } from '../contracts/index.ts'
import { Rng, type BleAdvertiser, type GateEmission } from './model.ts'
import { distanceFromRssi, type BleHeard, type WifiHeard } from './radio.ts'
import { AD_FLAGS, AD_MANUFACTURER, AD_SERVICE_DATA16, AD_TX_POWER, AD_UUID16_COMPLETE, COMPANY_APPLE } from '../sources/decoders/ble-adv.ts'

/**
 * What the sensors publish, byte for byte: our scanner and sniffer batches (edge/contracts
 * payloads/sensors.ts) with real advertising data, and ESPresense's own device reports.
 */

// ───────────────────────────── advertising data ─────────────────────────────

const hex = (bytes: readonly number[]) => bytes.map((b) => (b & 0xff).toString(16).padStart(2, '0')).join('')

/** One AD structure: length (type + data), AD type, data. Core Spec Supplement Part A 1. */
const ad = (type: number, data: readonly number[]): number[] => [data.length + 1, type, ...data]

/** The advertisement vocabulary is the decoder's (one source of truth for what the sim writes and the edge reads). */
const GOOGLE_SERVICE_UUID = 0xfe9f

function uuidBytes(uuid: string): number[] {
  const h = uuid.replace(/-/g, '')
  if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new Error(`not a 128-bit UUID: ${uuid}`)
  return Array.from({ length: 16 }, (_, i) => parseInt(h.slice(i * 2, i * 2 + 2), 16))
}

/**
 * iBeacon advertisement (Apple Proximity Beacon Specification R1):
 * flags `02 01 06`, then `1A FF 4C 00 02 15` + proximity UUID (16) + major (BE) + minor (BE) +
 * measured power (int8, RSSI at 1 m).
 */
export function iBeaconAdv(uuid: string, major: number, minor: number, measuredPower: number): string {
  const data = [
    COMPANY_APPLE & 0xff, // company id, little-endian
    COMPANY_APPLE >> 8,
    0x02, // iBeacon type
    0x15, // remaining length: 21
    ...uuidBytes(uuid),
    (major >> 8) & 0xff,
    major & 0xff,
    (minor >> 8) & 0xff,
    minor & 0xff,
    measuredPower & 0xff, // two's complement
  ]
  return hex([...ad(AD_FLAGS, [0x06]), ...ad(AD_MANUFACTURER, data)])
}

/**
 * iPhone Apple Continuity "Nearby Info" (type 0x10, length 5): status/action nibbles, data flags and
 * a 3-byte authentication tag that changes with the private address.
 */
export function appleNearbyAdv(nonce: number): string {
  const r = new Rng(nonce)
  const statusAction = 0x10 | r.pick([0x01, 0x03, 0x07, 0x0b])
  const dataFlags = r.pick([0x18, 0x1c, 0x98])
  return hex([
    ...ad(AD_FLAGS, [0x1a]),
    ...ad(AD_TX_POWER, [0x0c]),
    ...ad(AD_MANUFACTURER, [COMPANY_APPLE & 0xff, COMPANY_APPLE >> 8, 0x10, 0x05, statusAction, dataFlags, r.byte(), r.byte(), r.byte()]),
  ])
}

/** Android phone (Google Play services): 0xFE9F in the service list and 20 bytes of rotating service data. */
export function androidFe9fAdv(nonce: number): string {
  const r = new Rng(nonce)
  const lo = GOOGLE_SERVICE_UUID & 0xff
  const hi = GOOGLE_SERVICE_UUID >> 8
  const data = [0x00, 0x00, ...Array.from({ length: 18 }, () => r.byte())]
  return hex([...ad(AD_FLAGS, [0x02]), ...ad(AD_UUID16_COMPLETE, [lo, hi]), ...ad(AD_SERVICE_DATA16, [lo, hi, ...data])])
}

/** The advertising data an advertiser sends right now. */
export function advFor(a: BleAdvertiser): string {
  switch (a.kind) {
    case 'ibeacon':
      return a.beacon ? iBeaconAdv(a.beacon.uuid, a.beacon.major, a.beacon.minor, a.beacon.measuredPower) : appleNearbyAdv(a.nonce)
    case 'apple-nearby':
      return appleNearbyAdv(a.nonce)
    case 'android-fe9f':
      return androidFe9fAdv(a.nonce)
  }
}

/** Split advertising data into AD structures; undefined when the lengths do not add up. */
export function parseAdStructures(advHex: string): Array<{ type: number; data: number[] }> | undefined {
  if (advHex.length % 2 || !/^[0-9a-fA-F]*$/.test(advHex)) return undefined
  const b = Array.from({ length: advHex.length / 2 }, (_, i) => parseInt(advHex.slice(i * 2, i * 2 + 2), 16))
  const out: Array<{ type: number; data: number[] }> = []
  let i = 0
  while (i < b.length) {
    const len = b[i]!
    if (len === 0) break // zero padding ends the data
    if (i + 1 + len > b.length) return undefined
    out.push({ type: b[i + 1]!, data: b.slice(i + 2, i + 1 + len) })
    i += 1 + len
  }
  return out
}

// ───────────────────────────── our batches ─────────────────────────────

/** A BLE scanner batch (`sensors/{id}/ble`): one sighting per device per batch. */
export function bleBatch(ts: number, heard: readonly BleHeard[]): BleBatch {
  return {
    v: 1,
    ts,
    sightings: heard.map((h) => ({ mac: h.advertiser.mac, addrType: h.advertiser.addrType, rssi: h.rssi, adv: advFor(h.advertiser) })),
  }
}

/** A Wi-Fi sniffer batch (`sensors/{id}/wifi`): every probe heard, with its own time. */
export function wifiBatch(ts: number, heard: readonly WifiHeard[]): WifiBatch {
  return {
    v: 1,
    ts,
    probes: heard.map((h) => ({ mac: h.probe.mac, rssi: h.rssi, ts: h.probe.ts, channel: h.probe.channel, seq: h.probe.seq })),
  }
}

/** A gate controller's batch (`sensors/{gateId}/parking`): the cars through its lanes since the last one. */
export function gateBatch(emissions: readonly GateEmission[]): GateBatch {
  return {
    v: 1,
    events: emissions.map(
      (e): GateEventItem => ({ id: e.eventId, type: e.type, plate: e.plateRead, gate: e.lane, ts: e.ts, confidence: e.confidence }),
    ),
  }
}

// ───────────────────────────── ESPresense ─────────────────────────────

/** ESPresense's id for an iBeacon: `iBeacon:<uuid>-<major>-<minor>` (BleFingerprint.cpp). */
export function espresenseBeaconId(uuid: string, major: number, minor: number): string {
  return `iBeacon:${uuid.toLowerCase()}-${major}-${minor}`
}

/** ESPresense ID_TYPE_IBEACON (BleFingerprint.h, v3.x). */
export const ESPRESENSE_ID_TYPE_IBEACON = 180

/** What an ESPresense node publishes on `espresense/devices/{id}/{room}` (v3.x `fill()`). */
export interface EspresenseReport {
  id: string
  idType: number
  'rssi@1m': number
  rssi: number
  /** Distance from the latest RSSI, m. */
  raw: number
  /** Filtered distance, m. */
  distance: number
  /** m/s. */
  speed: number
  /** The advertiser's address, 12 lowercase hex digits. */
  mac: string
  /** Mean ms between advertisements received. */
  interval: number
}

export const espresenseStatusTopic = (room: string) => `espresense/rooms/${room}/status`

interface Track {
  distance: number
  lastReportMs: number
  lastReportedDistance: number
  firstSeenMs: number
  seen: number
  lastSeenMs: number
}

/**
 * One ESPresense node: reports each iBeacon it hears at most every skipMs, sooner when it moved
 * more than skipDistance (ESPresense's `skip_ms` / `skip_distance`). Other devices are not
 * reported: ESPresense only publishes ids above ID_TYPE_RAND_MAC, and phones' rotating
 * fingerprints are of no use to us.
 */
export class EspresenseReporter {
  private readonly tracks = new Map<string, Track>()
  private readonly absorption: number
  private readonly skipMs: number
  private readonly skipDistance: number

  constructor(
    readonly room: string,
    opts: { absorption?: number; skipMs?: number; skipDistance?: number } = {},
  ) {
    this.absorption = opts.absorption ?? 3.5
    this.skipMs = opts.skipMs ?? 5000
    this.skipDistance = opts.skipDistance ?? 0.5
  }

  report(now: number, heard: readonly BleHeard[]): Array<{ topic: string; payload: EspresenseReport }> {
    const out: Array<{ topic: string; payload: EspresenseReport }> = []
    for (const h of heard) {
      const b = h.advertiser.beacon
      if (h.advertiser.kind !== 'ibeacon' || !b) continue
      const id = espresenseBeaconId(b.uuid, b.major, b.minor)
      const raw = distanceFromRssi(b.measuredPower, h.rssi, this.absorption)
      let t = this.tracks.get(id)
      if (!t) {
        t = { distance: raw, lastReportMs: -Infinity, lastReportedDistance: raw, firstSeenMs: now, seen: 0, lastSeenMs: now }
        this.tracks.set(id, t)
      }
      const prev = t.distance
      const dtS = Math.max(1, now - t.lastSeenMs) / 1000
      t.distance = t.distance + 0.4 * (raw - t.distance)
      t.seen += h.packets
      t.lastSeenMs = now
      const due = now - t.lastReportMs >= this.skipMs || Math.abs(t.distance - t.lastReportedDistance) >= this.skipDistance
      if (!due) continue
      t.lastReportMs = now
      t.lastReportedDistance = t.distance
      const round2 = (x: number) => Math.round(x * 100) / 100
      out.push({
        topic: topics.espresenseDevice(id, this.room),
        payload: {
          id,
          idType: ESPRESENSE_ID_TYPE_IBEACON,
          'rssi@1m': b.measuredPower,
          rssi: h.rssi,
          raw: round2(raw),
          distance: round2(t.distance),
          speed: round2((t.distance - prev) / dtS),
          mac: h.advertiser.mac.replace(/:/g, ''),
          interval: Math.round(Math.max(1000, now - t.firstSeenMs) / Math.max(1, t.seen)),
        },
      })
    }
    for (const [id, t] of this.tracks) if (now - t.lastSeenMs > 60_000) this.tracks.delete(id)
    return out
  }
}
