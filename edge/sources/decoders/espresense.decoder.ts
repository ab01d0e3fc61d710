import type { BeaconInfo, DecodeContext, DecodeResult, DeviceClass, IdKind, Sighting, Telemetry } from '../../contracts/index.ts'
import { bleIdentity, hexToBytes, type BleBeacon } from './ble-adv.ts'
import { checkTs, normalizeMac, num, parseJsonObject, reject, rssiValid } from './common.ts'

/**
 * ESPresense native messages on `espresense/devices/{id}/{room}`; the room is the node (ctx.deviceId).
 * Shape, from ESPresense's BleFingerprint::fill(): `{ mac, id, name?, idType, "rssi@1m", rssi, raw,
 * channel?, distance, mean?, var?, int?, mV?, batt?, temp?, … }` (older firmware: `speed`,
 * `interval`, `disc`); numbers may come as strings. There is no timestamp: the event time is now.
 *
 * Identity design. ESPresense ids are of three kinds:
 * - beacon ids (`iBeacon:<uuid>-<major>-<minor>`, `altBeacon:…`, `eddy:<namespace>-<instance>`):
 *   mapped to our beacon ids (infrastructure, linkable by design);
 * - ids that are or embed the address (`<12 hex>`, `known:<mac>`, `tile:<mac>`, `sonos:<mac>`, …):
 *   raw MACs, never emitted;
 * - fingerprints (`apple:1005:9-26`, `md:…`, `sd:…`, `name:<kebab name>`, `msft:cdp:…`, `irk:…`,
 *   aliases): many are shared by thousands of devices (so useless as identities), `name:` and
 *   aliases can be personal, `irk:` is a long-lived key. None of them is emitted or hashed.
 * Every non-beacon sighting is therefore keyed by `ctx.hashMac(address)`, the address taken from the
 * `mac` field (or, for older firmware without it, from an id that embeds one); the fingerprint only
 * feeds the device class. The address type is not in the message: only idType 55 (public MAC) is
 * treated as public, everything else as random (counted, never linked). A message with neither a
 * beacon id nor an address is rejected (STORE_EDGE_ERR_BAD_MAC): there is nothing safe to key it by.
 */

/** ESPresense BleFingerprint.h: ID_TYPE_PUBLIC_MAC. */
const ID_TYPE_PUBLIC_MAC = 55

export function decodeEspresense(payload: Buffer | string, ctx: DecodeContext, beaconIdFromTopic: string): DecodeResult {
  const parsed = parseJsonObject(payload)
  if (!parsed.ok) return { sightings: [], rejects: [parsed.rejection] }
  const o = parsed.value
  const rawId = o.id === undefined ? beaconIdFromTopic : o.id
  if (typeof rawId !== 'string' || rawId.length === 0 || rawId.length > 200) {
    return { sightings: [], rejects: [reject('STORE_EDGE_ERR_SCHEMA', '/id: expected a non-empty string')] }
  }
  const rssi = num(o.rssi)
  if (!rssiValid(rssi)) return { sightings: [], rejects: [reject('STORE_EDGE_ERR_BAD_RSSI', '/rssi: must be a number in -127..20')] }
  const ts = checkTs(undefined, ctx.now, ctx)
  if (ts === undefined) return { sightings: [], rejects: [reject('STORE_EDGE_ERR_TIMESTAMP', 'now is not a valid time')] }

  const macField = o.mac === undefined ? undefined : normalizeMac(o.mac)
  if (o.mac !== undefined && macField === undefined) {
    return { sightings: [], rejects: [reject('STORE_EDGE_ERR_BAD_MAC', '/mac: not a 48-bit address')] }
  }
  const mac = macField ?? macInId(rawId)
  const beacon = beaconFromId(rawId)

  let id: string
  let idKind: IdKind
  let randomAddress: boolean
  let info: BeaconInfo | undefined
  // With a MAC, bleIdentity also re-keys a beacon id that embeds it; without one, the beacon kinds
  // ESPresense reports (iBeacon, AltBeacon, Eddystone-UID) need none.
  const ident = beacon ? bleIdentity(beacon, mac, true, ctx.hashMac) : undefined
  if (ident) {
    ;({ id, idKind, randomAddress } = ident)
    info = ident.beacon
  } else if (mac) {
    randomAddress = num(o.idType) !== ID_TYPE_PUBLIC_MAC
    id = ctx.hashMac(mac)
    idKind = randomAddress ? 'random' : 'mac'
  } else {
    return { sightings: [], rejects: [reject('STORE_EDGE_ERR_BAD_MAC', '/mac: missing, and /id is a fingerprint, not an address')] }
  }

  const s: Sighting = {
    source: 'ble',
    sensorId: ctx.deviceId,
    id,
    idKind,
    randomAddress,
    deviceClass: beacon ? 'beacon' : classOfFingerprint(rawId),
    rssi,
    ts,
  }
  const tx = num(o['rssi@1m'])
  if (tx !== undefined && tx >= -127 && tx <= 20) s.txPower = tx
  const d = num(o.distance)
  if (d !== undefined && d >= 0) s.distanceM = d
  if (info) s.beacon = info
  const telemetry = telemetryOf(o)
  if (telemetry) s.telemetry = telemetry
  return { sightings: [s], rejects: [] }
}

function isHex(s: string): boolean {
  if (s.length === 0) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) | 0x20
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false
  }
  return true
}

/** An address in an ESPresense id: `aabbccddeeff` or `<prefix>:aabbccddeeff` (known:, tile:, …). */
function macInId(id: string): string | undefined {
  const tail = id.length > 12 && id.charCodeAt(id.length - 13) === 0x3a ? id.slice(-12) : id
  return tail.length === 12 && isHex(tail) ? normalizeMac(tail) : undefined
}

/** `<uuid>-<major>-<minor>` with a dashed (36) or plain (32 hex) UUID. */
function splitUuidMajorMinor(rest: string): { hex: string; major: number; minor: number } | undefined {
  const b = rest.lastIndexOf('-')
  const a = b > 0 ? rest.lastIndexOf('-', b - 1) : -1
  if (a <= 0) return undefined
  const uuid = rest.slice(0, a)
  const major = decimalU16(rest.slice(a + 1, b))
  const minor = decimalU16(rest.slice(b + 1))
  if (major === undefined || minor === undefined) return undefined
  let hex: string
  if (uuid.length === 36) {
    if (uuid[8] !== '-' || uuid[13] !== '-' || uuid[18] !== '-' || uuid[23] !== '-') return undefined
    hex = uuid.slice(0, 8) + uuid.slice(9, 13) + uuid.slice(14, 18) + uuid.slice(19, 23) + uuid.slice(24)
  } else hex = uuid
  if (hex.length !== 32 || !isHex(hex)) return undefined
  return { hex: hex.toLowerCase(), major, minor }
}

function decimalU16(s: string): number | undefined {
  if (s.length === 0 || s.length > 5) return undefined
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 0x30
    if (c < 0 || c > 9) return undefined
    n = n * 10 + c
  }
  return n <= 0xffff ? n : undefined
}

const dashed = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`

/** ESPresense beacon ids → our beacon frames (measured power is carried by `rssi@1m` instead). */
function beaconFromId(id: string): BleBeacon | undefined {
  const colon = id.indexOf(':')
  if (colon < 0) return undefined
  const prefix = id.slice(0, colon).toLowerCase()
  const rest = id.slice(colon + 1)
  if (prefix === 'ibeacon') {
    const p = splitUuidMajorMinor(rest)
    return p && { kind: 'ibeacon', uuid: dashed(p.hex), major: p.major, minor: p.minor, measuredPower: 0 }
  }
  if (prefix === 'altbeacon') {
    const p = splitUuidMajorMinor(rest)
    return p && { kind: 'altbeacon', companyId: 0, id: p.hex, major: p.major, minor: p.minor, refRssi: 0, mfgReserved: 0 }
  }
  if (prefix === 'eddy') {
    // `eddy:<namespace>-<instance>`. Some firmware prints namespace byte 4 twice (22 hex digits).
    const dash = rest.indexOf('-')
    if (dash < 0) return undefined
    let ns = rest.slice(0, dash).toLowerCase()
    const inst = rest.slice(dash + 1).toLowerCase()
    if (ns.length === 22 && ns.slice(8, 10) === ns.slice(10, 12)) ns = ns.slice(0, 10) + ns.slice(12)
    if (ns.length !== 20 || inst.length !== 12 || typeof hexToBytes(ns + inst, 16) === 'string') return undefined
    return { kind: 'eddystone-uid', txPower0m: 0, namespace: ns, instance: inst }
  }
  return undefined
}

// Google/Android and Samsung signals, as ESPresense writes them into md:/sd:/ad: fingerprints.
const ANDROID_MD = ['md:00e0:', 'md:018e:', 'md:0075:']
const ANDROID_UUIDS = ['0xfe9f', '0xfef3', '0xfe2c', '0xfcf1']

/** Device class from an ESPresense fingerprint id (its value is never emitted). */
function classOfFingerprint(id: string): DeviceClass {
  const l = id.toLowerCase()
  if (l.startsWith('apple:') || l.startsWith('md:004c:')) return 'apple'
  if (l.startsWith('samsung:') || ANDROID_MD.some((p) => l.startsWith(p))) return 'android'
  if ((l.startsWith('sd:') || l.startsWith('ad:')) && ANDROID_UUIDS.some((u) => l.includes(u))) return 'android'
  return 'other'
}

function telemetryOf(o: Record<string, unknown>): Telemetry | undefined {
  const mv = num(o.mV)
  const temp = num(o.temp)
  if (mv === undefined && temp === undefined) return undefined
  const t: Telemetry = {}
  if (mv !== undefined && mv > 0 && mv < 100_000) t.batteryMv = mv
  if (temp !== undefined && temp > -100 && temp < 200) t.temperatureC = temp
  return t.batteryMv === undefined && t.temperatureC === undefined ? undefined : t
}
