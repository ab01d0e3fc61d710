import type { BeaconInfo, DeviceClass, IdKind, Sighting, Telemetry } from '../../contracts/index.ts'

/**
 * BLE advertising data (AD structures) → structure, beacon frames and a device-class fingerprint.
 * Pure and never throwing: malformed input gives `{ ok: false, error }`. Local names are only
 * noted as present (`hasLocalName`): they can be personal ("John's iPhone") and never leave here.
 */

/** Legacy advertisement (31 bytes) + scan response (31 bytes). Core Spec Vol 6 Part B §2.3.1.1 */
export const MAX_ADV_BYTES = 62

// Assigned numbers: Bluetooth SIG company identifiers and 16-bit UUIDs.
export const COMPANY_APPLE = 0x004c
export const COMPANY_GOOGLE = 0x00e0
export const COMPANY_GOOGLE_2 = 0x018e
export const COMPANY_SAMSUNG = 0x0075
export const UUID_EDDYSTONE = 0xfeaa
/** Google service UUIDs seen on Android phones: 0xFE9F, 0xFEF3, Fast Pair 0xFE2C, 0xFCF1. */
const ANDROID_UUIDS = new Set([0xfe9f, 0xfef3, 0xfe2c, 0xfcf1])
const ANDROID_COMPANIES = new Set([COMPANY_GOOGLE, COMPANY_GOOGLE_2, COMPANY_SAMSUNG])

// Core Spec Supplement Part A §1: AD types we read (exported for the simulator, which writes them).
export const AD_FLAGS = 0x01
export const AD_UUID16_INCOMPLETE = 0x02
export const AD_UUID16_COMPLETE = 0x03
export const AD_NAME_SHORT = 0x08
export const AD_NAME_COMPLETE = 0x09
export const AD_TX_POWER = 0x0a
export const AD_SERVICE_DATA16 = 0x16
export const AD_MANUFACTURER = 0xff

export interface ManufacturerData {
  /** Company identifier (little-endian on the air). */
  companyId: number
  /** The bytes after the company identifier. */
  data: Uint8Array
}

export interface ServiceData16 {
  uuid: number
  /** The bytes after the 16-bit UUID. */
  data: Uint8Array
}

export type BleBeacon =
  | { kind: 'ibeacon'; uuid: string; major: number; minor: number; measuredPower: number }
  | { kind: 'altbeacon'; companyId: number; id: string; major: number; minor: number; refRssi: number; mfgReserved: number }
  | { kind: 'eddystone-uid'; txPower0m: number; namespace: string; instance: string }
  | { kind: 'eddystone-url'; txPower0m: number; url: string }
  | { kind: 'eddystone-eid'; txPower0m: number; eid: string }

export interface EddystoneTlm {
  version: number
  /** Unencrypted (version 0) fields; absent when the beacon reports "not supported". */
  batteryMv?: number
  temperatureC?: number
  advCount?: number
  /** Time since power-on, in 0.1 s units. */
  secCount?: number
}

export interface AdvParts {
  readonly manufacturerData: readonly ManufacturerData[]
  readonly serviceData16: readonly ServiceData16[]
  readonly serviceUuids16: readonly number[]
}

/** Shared empty list: most advertisements lack one kind of AD or another (saves allocations). */
const NONE: readonly never[] = Object.freeze([])

export interface AdvAnalysis {
  beacon?: BleBeacon
  tlm?: EddystoneTlm
  /** First TLV type of Apple manufacturer data (Continuity: 0x10 Nearby Info, 0x12 Find My, …). */
  appleType?: number
  deviceClass: DeviceClass
}

export interface BleAdv extends AdvParts, AdvAnalysis {
  flags?: number
  /** A complete or shortened local name was present (its value is deliberately not kept). */
  hasLocalName: boolean
  /** AD 0x0A: the transmitted power level, dBm (not RSSI at 1 m). */
  txPowerLevel?: number
}

export type AdvParseResult = { ok: true; adv: BleAdv } | { ok: false; error: string }

// ---------------------------------------------------------------- hex helpers (no regex, tables)

const HEX_VALUE = new Int8Array(256).fill(-1)
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i
for (let i = 0; i < 6; i++) {
  HEX_VALUE[0x41 + i] = 10 + i
  HEX_VALUE[0x61 + i] = 10 + i
}
const BYTE_HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** Hex string → bytes, or an error string (positions only, never the content). */
export function hexToBytes(hex: string, maxBytes: number, what = 'hex'): Uint8Array | string {
  const n = hex.length
  if (n % 2 !== 0) return `${what} has an odd number of hex digits (${n})`
  if (n / 2 > maxBytes) return `${what} is ${n / 2} bytes, more than ${maxBytes}`
  const out = new Uint8Array(n / 2)
  for (let i = 0, j = 0; i < n; i += 2, j++) {
    const c1 = hex.charCodeAt(i)
    const c2 = hex.charCodeAt(i + 1)
    const hi = c1 < 256 ? HEX_VALUE[c1]! : -1
    const lo = c2 < 256 ? HEX_VALUE[c2]! : -1
    if (hi < 0 || lo < 0) return `${what} has a non-hex character at position ${hi < 0 ? i : i + 1}`
    out[j] = (hi << 4) | lo
  }
  return out
}

export function bytesToHex(b: Uint8Array, start = 0, end = b.length): string {
  let s = ''
  for (let i = start; i < end; i++) s += BYTE_HEX[b[i]!]!
  return s
}

const int8 = (x: number): number => (x > 127 ? x - 256 : x)
const u16be = (b: Uint8Array, i: number): number => (b[i]! << 8) | b[i + 1]!
const u16le = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8)
const u32be = (b: Uint8Array, i: number): number => ((b[i]! << 24) >>> 0) + ((b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!)

/** 16 bytes → `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (RFC 4122 text form, lowercase). */
function uuidString(b: Uint8Array, i: number): string {
  return `${bytesToHex(b, i, i + 4)}-${bytesToHex(b, i + 4, i + 6)}-${bytesToHex(b, i + 6, i + 8)}-${bytesToHex(b, i + 8, i + 10)}-${bytesToHex(b, i + 10, i + 16)}`
}

// ---------------------------------------------------------------- AD structures

/** Parse AD structures from hex (advertisement + scan response concatenated). */
export function parseBleAdv(hex: string): AdvParseResult {
  const bytes = hexToBytes(hex, MAX_ADV_BYTES, 'adv')
  if (typeof bytes === 'string') return { ok: false, error: bytes }
  return parseBleAdvBytes(bytes)
}

export function parseBleAdvBytes(b: Uint8Array): AdvParseResult {
  if (b.length > MAX_ADV_BYTES) return { ok: false, error: `adv is ${b.length} bytes, more than ${MAX_ADV_BYTES}` }
  let manufacturerData: ManufacturerData[] | undefined
  let serviceData16: ServiceData16[] | undefined
  let serviceUuids16: number[] | undefined
  let flags: number | undefined
  let txPowerLevel: number | undefined
  let hasLocalName = false
  let i = 0
  while (i < b.length) {
    // Core Spec Vol 3 Part C §11: each AD structure is Length (1 octet) then Length octets of
    // AD type + data. A zero Length only occurs to terminate the data early: the rest is padding.
    const len = b[i]!
    if (len === 0) break
    if (i + 1 + len > b.length) {
      return { ok: false, error: `AD structure at byte ${i} declares ${len} bytes but only ${b.length - i - 1} remain` }
    }
    const type = b[i + 1]!
    const start = i + 2
    const end = i + 1 + len
    const dlen = end - start
    switch (type) {
      case AD_FLAGS:
        if (dlen >= 1) flags = b[start]!
        break
      case AD_UUID16_INCOMPLETE:
      case AD_UUID16_COMPLETE:
        // Core Spec Supplement Part A §1.1: list of 16-bit UUIDs, each little-endian.
        for (let j = start; j + 1 < end; j += 2) (serviceUuids16 ??= []).push(u16le(b, j))
        break
      case AD_NAME_SHORT:
      case AD_NAME_COMPLETE:
        hasLocalName = true
        break
      case AD_TX_POWER:
        // Core Spec Supplement Part A §1.5: TX Power Level, int8 dBm.
        if (dlen >= 1) txPowerLevel = int8(b[start]!)
        break
      case AD_SERVICE_DATA16:
        // Core Spec Supplement Part A §1.11: Service Data, 16-bit UUID (LE) then data.
        if (dlen >= 2) (serviceData16 ??= []).push({ uuid: u16le(b, start), data: b.subarray(start + 2, end) })
        break
      case AD_MANUFACTURER:
        // Core Spec Supplement Part A §1.4: Manufacturer Specific Data, company id LE then data.
        if (dlen >= 2) (manufacturerData ??= []).push({ companyId: u16le(b, start), data: b.subarray(start + 2, end) })
        break
      default:
        break
    }
    i = end
  }
  // Built field by field: object spread is markedly slower on this hot path.
  const adv: BleAdv = {
    manufacturerData: manufacturerData ?? NONE,
    serviceData16: serviceData16 ?? NONE,
    serviceUuids16: serviceUuids16 ?? NONE,
    deviceClass: 'other',
    hasLocalName,
  }
  const analysis = analyzeAdv(adv)
  adv.deviceClass = analysis.deviceClass
  if (analysis.beacon) adv.beacon = analysis.beacon
  if (analysis.tlm) adv.tlm = analysis.tlm
  if (analysis.appleType !== undefined) adv.appleType = analysis.appleType
  if (flags !== undefined) adv.flags = flags
  if (txPowerLevel !== undefined) adv.txPowerLevel = txPowerLevel
  return { ok: true, adv }
}

/**
 * Beacon frames and device class from manufacturer data, service data and service UUIDs, wherever
 * they came from (raw AD structures here, or fields of OpenMQTTGateway's JSON).
 */
export function analyzeAdv(parts: AdvParts): AdvAnalysis {
  let beacon: BleBeacon | undefined
  let tlm: EddystoneTlm | undefined
  let appleType: number | undefined
  let apple = false
  let android = false
  for (const m of parts.manufacturerData) {
    if (m.companyId === COMPANY_APPLE) {
      apple = true
      const ib = decodeIBeacon(m.data)
      if (ib) beacon ??= ib
      else if (m.data.length >= 1 && appleType === undefined) appleType = m.data[0]
    } else if (ANDROID_COMPANIES.has(m.companyId)) android = true
    if (!beacon) beacon = decodeAltBeacon(m.companyId, m.data)
  }
  for (const s of parts.serviceData16) {
    if (s.uuid === UUID_EDDYSTONE) {
      const f = decodeEddystone(s.data)
      if (f && 'kind' in f) beacon ??= f
      else if (f) tlm ??= f
    } else if (ANDROID_UUIDS.has(s.uuid)) android = true
  }
  if (!android) for (const u of parts.serviceUuids16) if (ANDROID_UUIDS.has(u)) android = true
  const deviceClass: DeviceClass = beacon || tlm ? 'beacon' : apple ? 'apple' : android ? 'android' : 'other'
  const out: AdvAnalysis = { deviceClass }
  if (beacon) out.beacon = beacon
  if (tlm) out.tlm = tlm
  if (appleType !== undefined) out.appleType = appleType
  return out
}

/**
 * iBeacon (Apple, "Proximity Beacon Specification" R1): manufacturer data 4C 00 | 02 15 | UUID(16) |
 * major(2, BE) | minor(2, BE) | measured power (int8, RSSI at 1 m). Indexing the whole manufacturer
 * data: bytes 4..19 are the UUID; `d` here starts after the company id, so the UUID is d[2..17].
 */
export function decodeIBeacon(d: Uint8Array): BleBeacon | undefined {
  if (d.length < 23 || d[0] !== 0x02 || d[1] !== 0x15) return undefined
  return { kind: 'ibeacon', uuid: uuidString(d, 2), major: u16be(d, 18), minor: u16be(d, 20), measuredPower: int8(d[22]!) }
}

/**
 * AltBeacon (altbeacon.org spec v1.0): manufacturer data MFG ID(2, LE) | beacon code BE AC |
 * beacon id(20) | reference RSSI (int8) | mfg reserved(1). The 20-byte id is read as
 * uuid(16) + major(2, BE) + minor(2, BE), as the AltBeacon library does.
 */
export function decodeAltBeacon(companyId: number, d: Uint8Array): BleBeacon | undefined {
  if (d.length < 24 || d[0] !== 0xbe || d[1] !== 0xac) return undefined
  return {
    kind: 'altbeacon',
    companyId,
    id: bytesToHex(d, 2, 18),
    major: u16be(d, 18),
    minor: u16be(d, 20),
    refRssi: int8(d[22]!),
    mfgReserved: d[23]!,
  }
}

// Eddystone-URL (github.com/google/eddystone/tree/master/eddystone-url): scheme prefixes and the
// text expansion codes 0x00..0x0D; 0x0E..0x20 and 0x7F..0xFF are reserved.
const URL_SCHEMES = ['http://www.', 'https://www.', 'http://', 'https://']
const URL_EXPANSIONS = ['.com/', '.org/', '.edu/', '.net/', '.info/', '.biz/', '.gov/', '.com', '.org', '.edu', '.net', '.info', '.biz', '.gov']

function decodeEddystoneUrl(d: Uint8Array): string | undefined {
  const scheme = URL_SCHEMES[d[2]!]
  if (scheme === undefined || d.length > 20) return undefined // 17 encoded URL bytes at most
  let url = scheme
  for (let i = 3; i < d.length; i++) {
    const c = d[i]!
    if (c < URL_EXPANSIONS.length) url += URL_EXPANSIONS[c]
    else if (c > 0x20 && c < 0x7f) url += String.fromCharCode(c)
    else return undefined
  }
  return url
}

/** Eddystone (github.com/google/eddystone/blob/master/protocol-specification.md), service data 0xFEAA. */
export function decodeEddystone(d: Uint8Array): BleBeacon | EddystoneTlm | undefined {
  if (d.length < 2) return undefined
  switch (d[0]) {
    case 0x00: // UID: tx power at 0 m | namespace(10) | instance(6) | RFU(2, often omitted)
      if (d.length < 18) return undefined
      return { kind: 'eddystone-uid', txPower0m: int8(d[1]!), namespace: bytesToHex(d, 2, 12), instance: bytesToHex(d, 12, 18) }
    case 0x10: {
      // URL: tx power at 0 m | scheme prefix | encoded URL
      if (d.length < 3) return undefined
      const url = decodeEddystoneUrl(d)
      return url === undefined ? undefined : { kind: 'eddystone-url', txPower0m: int8(d[1]!), url }
    }
    case 0x20: {
      // TLM: version | VBATT(2, mV, 0 = unsupported) | TEMP(2, 8.8 signed, 0x8000 = unsupported)
      //      | ADV_CNT(4) | SEC_CNT(4, 0.1 s). Version 0x01 is encrypted (eTLM): not readable here.
      const version = d[1]!
      if (version !== 0) return { version }
      if (d.length < 14) return undefined
      const tlm: EddystoneTlm = { version, advCount: u32be(d, 6), secCount: u32be(d, 10) }
      const mv = u16be(d, 2)
      if (mv !== 0) tlm.batteryMv = mv
      const t = u16be(d, 4)
      if (t !== 0x8000) tlm.temperatureC = (t > 0x7fff ? t - 0x10000 : t) / 256
      return tlm
    }
    case 0x30: // EID: tx power at 0 m | ephemeral id(8)
      if (d.length < 10) return undefined
      return { kind: 'eddystone-eid', txPower0m: int8(d[1]!), eid: bytesToHex(d, 2, 10) }
    default:
      return undefined
  }
}

// ---------------------------------------------------------------- identity

/** Eddystone: "tx power at 0 m"; subtract 41 dB (the spec's loss at 1 m) for RSSI at 1 m. */
export const EDDYSTONE_0M_TO_1M_DB = 41

export interface BleIdentity {
  id: string
  idKind: IdKind
  randomAddress: boolean
  txPower?: number
  beacon?: BeaconInfo
}

/**
 * Does a beacon field embed the device's own MAC (some vendors use it as the instance id)? Checked
 * in transmission order and byte-reversed (as some stacks print addresses), on hex without separators.
 */
function embedsMac(value: string, mac: string): boolean {
  const v = value.toLowerCase()
  const fwd = mac.slice(0, 2) + mac.slice(3, 5) + mac.slice(6, 8) + mac.slice(9, 11) + mac.slice(12, 14) + mac.slice(15, 17)
  if (v.includes(fwd)) return true
  const rev = mac.slice(15, 17) + mac.slice(12, 14) + mac.slice(9, 11) + mac.slice(6, 8) + mac.slice(3, 5) + mac.slice(0, 2)
  return v.includes(rev)
}

/**
 * The privacy-safe identity of one BLE sighting. Beacons (infrastructure) are identified by their
 * beacon ids; everything else by `hashMac(mac)`. A random address (or an unknown address type) is
 * never an identity you could link: idKind 'random', counted only. Eddystone-URL ids are shared by
 * many beacons, so they are keyed by the hashed MAC; a beacon id that embeds the device's MAC is
 * keyed the same way so the raw MAC never leaves the decoder.
 * `mac` must be normalised (`aa:bb:cc:dd:ee:ff`).
 */
export function bleIdentity(beacon: BleBeacon | undefined, mac: string, random: boolean, hashMac: (m: string) => string): BleIdentity
/** Without a MAC only the beacon ids that need none can be built; otherwise undefined. */
export function bleIdentity(beacon: BleBeacon | undefined, mac: string | undefined, random: boolean, hashMac: (m: string) => string): BleIdentity | undefined
export function bleIdentity(beacon: BleBeacon | undefined, mac: string | undefined, random: boolean, hashMac: (m: string) => string): BleIdentity | undefined {
  if (!beacon) return mac === undefined ? undefined : { id: hashMac(mac), idKind: random ? 'random' : 'mac', randomAddress: random }
  switch (beacon.kind) {
    case 'ibeacon': {
      const info = { major: beacon.major, minor: beacon.minor }
      if (mac !== undefined && embedsMac(beacon.uuid.replaceAll('-', ''), mac)) return hashedBeacon('ibeacon', hashMac(mac), beacon.measuredPower, info)
      return { id: `ibeacon:${beacon.uuid}:${beacon.major}:${beacon.minor}`, idKind: 'ibeacon', randomAddress: false, txPower: beacon.measuredPower, beacon: { uuid: beacon.uuid, ...info } }
    }
    case 'altbeacon': {
      const info = { major: beacon.major, minor: beacon.minor }
      if (mac !== undefined && embedsMac(beacon.id, mac)) return hashedBeacon('altbeacon', hashMac(mac), beacon.refRssi, info)
      return { id: `altbeacon:${beacon.id}:${beacon.major}:${beacon.minor}`, idKind: 'altbeacon', randomAddress: false, txPower: beacon.refRssi, beacon: { uuid: beacon.id, ...info } }
    }
    case 'eddystone-uid': {
      const tx = beacon.txPower0m - EDDYSTONE_0M_TO_1M_DB
      if (mac !== undefined && embedsMac(beacon.namespace + beacon.instance, mac)) return hashedBeacon('eddystone-uid', hashMac(mac), tx, {})
      return { id: `eddystone-uid:${beacon.namespace}:${beacon.instance}`, idKind: 'eddystone-uid', randomAddress: false, txPower: tx, beacon: { uuid: beacon.namespace, instance: beacon.instance } }
    }
    case 'eddystone-eid': {
      const tx = beacon.txPower0m - EDDYSTONE_0M_TO_1M_DB
      if (mac !== undefined && embedsMac(beacon.eid, mac)) return hashedBeacon('eddystone-eid', hashMac(mac), tx, {})
      return { id: `eddystone-eid:${beacon.eid}`, idKind: 'eddystone-eid', randomAddress: false, txPower: tx, beacon: { instance: beacon.eid } }
    }
    case 'eddystone-url': {
      if (mac === undefined) return undefined
      const tx = beacon.txPower0m - EDDYSTONE_0M_TO_1M_DB
      const leaks = embedsMac(beacon.url.replaceAll(':', '').replaceAll('-', '').replaceAll('.', ''), mac)
      return hashedBeacon('eddystone-url', hashMac(mac), tx, leaks ? {} : { url: beacon.url })
    }
  }
}

function hashedBeacon(kind: IdKind, hashed: string, txPower: number, beacon: BeaconInfo): BleIdentity {
  return { id: `${kind}:${hashed}`, idKind: kind, randomAddress: false, txPower, beacon }
}

/** Eddystone-TLM → our telemetry shape (uptime in seconds). */
export function tlmTelemetry(tlm: EddystoneTlm): Telemetry | undefined {
  if (tlm.version !== 0) return undefined
  const t: Telemetry = {}
  if (tlm.batteryMv !== undefined) t.batteryMv = tlm.batteryMv
  if (tlm.temperatureC !== undefined) t.temperatureC = tlm.temperatureC
  if (tlm.advCount !== undefined) t.advCount = tlm.advCount
  if (tlm.secCount !== undefined) t.uptimeS = tlm.secCount / 10
  return t
}

/** The sighting every BLE decoder produces from an identity (with its beacon fields) and an optional TLM frame. */
export function bleSighting(
  ident: BleIdentity,
  base: { sensorId: string; deviceClass: DeviceClass; rssi: number; ts: number; distanceM?: number },
  tlm?: EddystoneTlm,
): Sighting {
  const s: Sighting = {
    source: 'ble',
    sensorId: base.sensorId,
    id: ident.id,
    idKind: ident.idKind,
    randomAddress: ident.randomAddress,
    deviceClass: base.deviceClass,
    rssi: base.rssi,
    ts: base.ts,
  }
  if (ident.txPower !== undefined) s.txPower = ident.txPower
  if (base.distanceM !== undefined) s.distanceM = base.distanceM
  if (ident.beacon) s.beacon = ident.beacon
  if (tlm) {
    const t = tlmTelemetry(tlm)
    if (t) s.telemetry = t
  }
  return s
}
