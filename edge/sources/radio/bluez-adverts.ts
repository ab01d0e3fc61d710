import type { BleSightingItem } from '../../contracts/index.ts'
import { AD_MANUFACTURER, AD_NAME_COMPLETE, AD_SERVICE_DATA16, AD_TX_POWER, AD_UUID16_COMPLETE, MAX_ADV_BYTES } from '../decoders/ble-adv.ts'

/**
 * BlueZ's view of an advertiser (org.bluez.Device1 properties, already parsed by BlueZ) back into
 * what an ESP32 scanner publishes: the raw AD structures, so the radio's sightings go through the
 * very same decoders (iBeacon, Eddystone, phone fingerprints) and privacy hashing as an MQTT
 * scanner's. Pure.
 *
 * Order of AD structures, each only while it fits the 62 bytes of advertisement + scan response:
 * manufacturer data, 16-bit service data, TX power, 16-bit service UUIDs, then the local name (the
 * decoder only notes that one exists; names can be personal and never leave the decoder).
 */

/** The Device1 properties we use (dbus-next values: ManufacturerData a{qv} and ServiceData a{sv} hold `ay`). */
export interface BluezDevice {
  Address?: string
  AddressType?: string
  RSSI?: number
  TxPower?: number
  ManufacturerData?: Record<string, Uint8Array>
  ServiceData?: Record<string, Uint8Array>
  UUIDs?: string[]
  Name?: string
}

const BASE_UUID_TAIL = '-0000-1000-8000-00805f9b34fb'

/** A 128-bit UUID on the Bluetooth base UUID as its 16-bit short form, else undefined. */
export function shortUuid(uuid: string): number | undefined {
  const u = uuid.toLowerCase()
  if (u.length !== 36 || !u.endsWith(BASE_UUID_TAIL) || !u.startsWith('0000')) return undefined
  const n = Number.parseInt(u.slice(4, 8), 16)
  return Number.isNaN(n) ? undefined : n
}

/** AD structures (hex) for a device's current properties; at most 62 bytes. */
export function advFromBluez(d: BluezDevice): string {
  const out: number[] = []
  const push = (type: number, data: ArrayLike<number>): boolean => {
    if (data.length > 254 || out.length + 2 + data.length > MAX_ADV_BYTES) return false
    out.push(data.length + 1, type, ...Array.from(data))
    return true
  }
  for (const [id, bytes] of Object.entries(d.ManufacturerData ?? {})) {
    const company = Number(id)
    if (!Number.isInteger(company) || company < 0 || company > 0xffff) continue
    push(AD_MANUFACTURER, [company & 0xff, company >> 8, ...bytes])
  }
  for (const [uuid, bytes] of Object.entries(d.ServiceData ?? {})) {
    const s = shortUuid(uuid)
    if (s !== undefined) push(AD_SERVICE_DATA16, [s & 0xff, s >> 8, ...bytes])
  }
  if (typeof d.TxPower === 'number' && d.TxPower >= -128 && d.TxPower <= 127) push(AD_TX_POWER, [d.TxPower & 0xff])
  const uuids16 = (d.UUIDs ?? []).map(shortUuid).filter((u): u is number => u !== undefined)
  if (uuids16.length) push(AD_UUID16_COMPLETE, uuids16.flatMap((u) => [u & 0xff, u >> 8]))
  if (d.Name) {
    const name = Buffer.from(d.Name, 'utf8')
    push(AD_NAME_COMPLETE, name.subarray(0, Math.max(0, Math.min(name.length, MAX_ADV_BYTES - out.length - 2))))
  }
  return Buffer.from(out).toString('hex')
}

/** One sighting as a scanner would publish it, or undefined when the device has no address or RSSI. */
export function sightingFromBluez(d: BluezDevice, ts: number): BleSightingItem | undefined {
  if (!d.Address || typeof d.RSSI !== 'number') return undefined
  const adv = advFromBluez(d)
  return {
    mac: d.Address.toLowerCase(),
    addrType: d.AddressType === 'public' ? 'public' : 'random',
    rssi: Math.max(-127, Math.min(20, d.RSSI)),
    ...(adv ? { adv } : {}),
    ts,
  }
}

/** dbus-next's a{sv}/a{qv} of Variants → plain values (ManufacturerData keys are numbers, values Buffers). */
export function plainProps(props: Record<string, { value: unknown } | unknown>): BluezDevice {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(props)) {
    const value = v && typeof v === 'object' && 'value' in v && 'signature' in v ? (v as { value: unknown }).value : v
    if ((k === 'ManufacturerData' || k === 'ServiceData') && value && typeof value === 'object') {
      const inner: Record<string, Uint8Array> = {}
      for (const [key, bytes] of Object.entries(value as Record<string, unknown>)) {
        const b = bytes && typeof bytes === 'object' && 'value' in bytes ? (bytes as { value: unknown }).value : bytes
        if (b instanceof Uint8Array) inner[key] = b
      }
      out[k] = inner
    } else out[k] = value
  }
  return out as BluezDevice
}
