import type { DecodeContext, DecodeResult, DeviceClass } from '../../contracts/index.ts'
import { analyzeAdv, bleIdentity, bleSighting, decodeIBeacon, hexToBytes, type AdvAnalysis, type BleBeacon, type ManufacturerData, type ServiceData16 } from './ble-adv.ts'
import { checkTs, normalizeMac, num, parseJsonObject, reject, rssiValid } from './common.ts'

/**
 * OpenMQTTGateway (and Theengs Gateway) BLE messages on `{base}/{gateway}/BTtoMQTT/{MAC without
 * colons}`; the gateway name is the device id. Shape, from OMG's ZgatewayBT procBLETask():
 * `{ id: "AA:BB:CC:DD:EE:FF", mac_type: 0|1 (NimBLE address type), adv_type, name?, rssi, txpower?,
 * manufacturerdata?: hex (company id LE first), servicedata?: hex, servicedatauuid?: "0xfeaa",
 * distance?, unixtime?: s }`, plus Theengs decoder fields (brand, model, model_id, and for
 * iBeacons mfid, uuid, major, minor, power). Numbers may come as strings. One message per service
 * data entry. `name` is never read: it can be personal.
 * The MAC is the payload's `id`, else the topic's last level; it leaves only as `ctx.hashMac(mac)`.
 */

/** Manufacturer data can be up to 251 bytes in extended advertising; legacy is 29 at most. */
const MAX_FIELD_BYTES = 255

export function decodeOmg(payload: Buffer | string, ctx: DecodeContext, macFromTopic: string): DecodeResult {
  const parsed = parseJsonObject(payload)
  if (!parsed.ok) return { sightings: [], rejects: [parsed.rejection] }
  const o = parsed.value
  const mac = o.id === undefined ? normalizeMac(macFromTopic) : normalizeMac(o.id)
  if (mac === undefined) {
    const where = o.id === undefined ? 'topic MAC' : '/id'
    return { sightings: [], rejects: [reject('STORE_EDGE_ERR_BAD_MAC', `${where}: not a 48-bit address`)] }
  }
  const rssi = num(o.rssi)
  if (!rssiValid(rssi)) return { sightings: [], rejects: [reject('STORE_EDGE_ERR_BAD_RSSI', '/rssi: missing or outside -127..20')] }
  const unix = num(o.unixtime)
  const ts = checkTs(unix === undefined ? undefined : unix * 1000, ctx.now, ctx)
  if (ts === undefined) return { sightings: [], rejects: [reject('STORE_EDGE_ERR_TIMESTAMP', `/unixtime: more than ${ctx.maxSkewMs} ms from now`)] }

  const parts: { manufacturerData: ManufacturerData[]; serviceData16: ServiceData16[]; serviceUuids16: number[] } = { manufacturerData: [], serviceData16: [], serviceUuids16: [] }
  if (o.manufacturerdata !== undefined) {
    const b = typeof o.manufacturerdata === 'string' ? hexToBytes(o.manufacturerdata, MAX_FIELD_BYTES, 'manufacturerdata') : 'manufacturerdata is not a string'
    if (typeof b === 'string') return { sightings: [], rejects: [reject('STORE_EDGE_ERR_BAD_ADV', `/manufacturerdata: ${b}`)] }
    // Core Spec Supplement Part A §1.4: the company id comes first, little-endian.
    if (b.length >= 2) parts.manufacturerData.push({ companyId: b[0]! | (b[1]! << 8), data: b.subarray(2) })
  }
  if (o.servicedata !== undefined) {
    const b = typeof o.servicedata === 'string' ? hexToBytes(o.servicedata, MAX_FIELD_BYTES, 'servicedata') : 'servicedata is not a string'
    if (typeof b === 'string') return { sightings: [], rejects: [reject('STORE_EDGE_ERR_BAD_ADV', `/servicedata: ${b}`)] }
    const uuid = uuid16(o.servicedatauuid)
    if (uuid !== undefined) parts.serviceData16.push({ uuid, data: b })
  }
  const analysis = analyzeAdv(parts)
  const beacon = analysis.beacon ?? theengsIBeacon(o)

  // NimBLE address types: 0 public, 1 random, 2 public identity, 3 random identity. Absent = random.
  const macType = num(o.mac_type)
  const random = !(macType === 0 || macType === 2)
  const ident = bleIdentity(beacon, mac, random, ctx.hashMac)
  // `txpower` is AD 0x0A, the transmitted power, not RSSI at 1 m: not a txPower for us.
  const d = num(o.distance)
  const s = bleSighting(
    ident,
    { sensorId: ctx.deviceId, deviceClass: beacon ? 'beacon' : classOf(analysis, o), rssi, ts, distanceM: d !== undefined && d >= 0 ? d : undefined },
    analysis.tlm,
  )
  return { sightings: [s], rejects: [] }
}

/** `0xfeaa`, `feaa` or the 128-bit Bluetooth base form `0000feaa-0000-1000-8000-00805f9b34fb`. */
function uuid16(x: unknown): number | undefined {
  if (typeof x !== 'string') return undefined
  let h = x.toLowerCase()
  if (h.length === 36 && h.endsWith('-0000-1000-8000-00805f9b34fb') && h.startsWith('0000')) h = h.slice(4, 8)
  else if (h.startsWith('0x')) h = h.slice(2)
  if (h.length !== 4) return undefined
  const b = hexToBytes(h, 2)
  return typeof b === 'string' ? undefined : (b[0]! << 8) | b[1]!
}

/** Theengs decoder's iBeacon fields, for messages that carry them without manufacturerdata. */
function theengsIBeacon(o: Record<string, unknown>): BleBeacon | undefined {
  if (o.model_id !== 'IBEACON' || typeof o.uuid !== 'string') return undefined
  const major = num(o.major)
  const minor = num(o.minor)
  const power = num(o.power) ?? num(o.txpower)
  const hex = o.uuid.replaceAll('-', '')
  if (hex.length !== 32 || major === undefined || minor === undefined || power === undefined) return undefined
  if (!Number.isInteger(major) || !Number.isInteger(minor) || !Number.isInteger(power) || major < 0 || major > 0xffff || minor < 0 || minor > 0xffff || power < -128 || power > 255) return undefined
  // Rebuild the frame and decode it with the one iBeacon decoder.
  const frame = hexToBytes(`0215${hex}${hex4(major)}${hex4(minor)}${((power + 256) & 0xff).toString(16).padStart(2, '0')}`, 23)
  return typeof frame === 'string' ? undefined : decodeIBeacon(frame)
}

const hex4 = (n: number) => n.toString(16).padStart(4, '0')

function classOf(a: AdvAnalysis, o: Record<string, unknown>): DeviceClass {
  if (a.deviceClass !== 'other') return a.deviceClass
  // Theengs names Apple Continuity models APPLE_CONT, APPLE_CONTAT, APPLEDEVICE, APPLEWATCH.
  if (typeof o.model_id === 'string' && o.model_id.startsWith('APPLE')) return 'apple'
  return 'other'
}
