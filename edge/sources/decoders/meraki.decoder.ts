import type { DecodeContext, DecodeResult, DeviceClass, Rejection, Sighting } from '../../contracts/index.ts'
import { checkTs, isLocallyAdministered, normalizeMac, num, parseJsonPayload, reject, rssiValid } from './common.ts'
import { describeValue, notJsonRejection } from './wifi-batch.decoder.ts'

/**
 * Meraki Scanning API v3 posts (one POST per network, observations grouped by client):
 *
 *   { version: "3.0", secret, type: "WiFi" | "Bluetooth",
 *     data: { networkId, [startTime, endTime, reportingAps: [...] for Bluetooth],
 *             observations: [ { clientMac, locations: [ { time, rssiRecords: [ { apMac, rssi } ], lat, lng, x, y, … } ],
 *                               latestRecord: { time, nearestApMac, nearestApRssi }, ssid, os, manufacturer, ipv4, … } ] } }
 *
 * Bluetooth observations carry `name` and `bleBeacons` instead of ssid/os/ipv4/ipv6. Numbers arrive
 * as numbers or strings (`"nearestApRssi": "-47"`), times as ISO 8601 or epoch seconds.
 *
 * Each observation becomes one sighting per access point that heard it (the rssiRecords of its newest
 * location, else latestRecord's nearest AP); the AP is the sensor (`ap-<12 hex>`, infrastructure,
 * mapped to a zone by the sensors config). The client MAC is hashed; nothing else about the client
 * (ssid, ip addresses, os, manufacturer, name, coordinates) leaves this function. The shared secret
 * is checked by the route, not here.
 */

export type MerakiType = 'WiFi' | 'Bluetooth'

/** The post `type`; the v3 docs' prose also calls Bluetooth "BLE". Undefined when unsupported. */
export function merakiType(x: unknown): MerakiType | undefined {
  if (x === 'WiFi') return 'WiFi'
  if (x === 'Bluetooth' || x === 'BLE') return 'Bluetooth'
  return undefined
}

/** `ap-` + the AP MAC's 12 lowercase hex digits: the sensor id the sensors config maps to a zone. */
export function apSensorId(normalizedMac: string): string {
  return 'ap-' + normalizedMac.replace(/:/g, '')
}

/** ISO 8601 (`2019-11-28T14:27:46Z`) or epoch seconds / milliseconds, as number or string. */
export function merakiTime(x: unknown): number | undefined {
  const n = num(x)
  if (n !== undefined) return n < 1e11 ? Math.round(n * 1000) : Math.round(n)
  if (typeof x === 'string' && x.length <= 40 && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(x)) {
    const t = Date.parse(x)
    return Number.isFinite(t) ? t : undefined
  }
  return undefined
}

type Obj = Record<string, unknown>
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x)

type Reading = { apMac: string; rssi: number }

export function decodeMeraki(body: unknown, ctx: DecodeContext): DecodeResult & { type?: MerakiType } {
  const whole = (r: Rejection, type?: MerakiType) => (type ? { type, sightings: [], rejects: [r] } : { sightings: [], rejects: [r] })

  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const parsed = parseJsonPayload(body)
    if (!parsed.ok) return whole(notJsonRejection(parsed.rejection))
    body = parsed.value
  }
  if (!isObj(body)) return whole(reject('STORE_EDGE_ERR_SCHEMA', `/: expected an object, got ${describeValue(body)}`))
  // "A receiver should route messages on the major version number" (Scanning API v3 docs).
  const version = typeof body.version === 'number' || typeof body.version === 'string' ? String(body.version) : undefined
  if (version === undefined || !/^3(\.\d+)*$/.test(version)) {
    return whole(reject('STORE_EDGE_ERR_SCHEMA_VERSION', `/version: expected 3.x, got ${version !== undefined && version.length <= 8 && /^[\d.]+$/.test(version) ? version : describeValue(body.version)}`))
  }
  const type = merakiType(body.type)
  if (!type) return whole(reject('STORE_EDGE_ERR_WEBHOOK_TYPE', `/type: expected "WiFi" or "Bluetooth", got ${describeValue(body.type)}`))
  const data = body.data
  if (!isObj(data) || !Array.isArray(data.observations)) {
    return whole(reject('STORE_EDGE_ERR_SCHEMA', isObj(data) ? '/data/observations: expected an array' : '/data: expected an object'), type)
  }
  const observations: unknown[] = data.observations
  if (observations.length > ctx.maxBatch) {
    return whole(reject('STORE_EDGE_ERR_BATCH_TOO_LARGE', `/data/observations: ${observations.length} items > ${ctx.maxBatch}`), type)
  }

  const source = type === 'WiFi' ? 'wifi' : 'ble'
  const sightings: Sighting[] = []
  const rejects: Rejection[] = []
  observations.forEach((o, i) => {
    const path = `/data/observations/${i}`
    if (!isObj(o)) {
      rejects.push(reject('STORE_EDGE_ERR_ITEM_SCHEMA', `${path}: expected an object, got ${describeValue(o)}`, i))
      return
    }
    const mac = normalizeMac(o.clientMac)
    if (!mac) {
      rejects.push(reject('STORE_EDGE_ERR_BAD_MAC', `${path}/clientMac: ${typeof o.clientMac === 'string' ? 'not a 48-bit MAC address' : `expected a string, got ${describeValue(o.clientMac)}`}`, i))
      return
    }
    const picked = pickReadings(o, path, ctx)
    if ('rejection' in picked) {
      rejects.push({ ...picked.rejection, index: i })
      return
    }
    // Without the PDU's TxAdd bit (Meraki does not send it) the IEEE local bit is the best signal
    // we have for BLE too; Wi-Fi MAC randomisation always sets it.
    const random = isLocallyAdministered(mac)
    const id = ctx.hashMac(mac)
    const deviceClass = random ? 'other' : classify(o)
    for (const r of picked.readings) {
      sightings.push({ source, sensorId: apSensorId(r.apMac), id, idKind: random ? 'random' : 'mac', randomAddress: random, deviceClass, rssi: r.rssi, ts: picked.ts })
    }
  })
  return { type, sightings, rejects }
}

/**
 * The APs that heard the client: the rssiRecords of its newest location when that location is
 * usable, else latestRecord's nearest AP (clients no longer locatable only have latestRecord).
 */
function pickReadings(o: Obj, path: string, ctx: DecodeContext): { readings: Reading[]; ts: number } | { rejection: Rejection } {
  let firstProblem: Rejection | undefined
  const problem = (r: Rejection) => {
    firstProblem ??= r
  }

  if (Array.isArray(o.locations) && o.locations.length > 0) {
    let newest: { loc: Obj; j: number; t: number } | undefined
    o.locations.forEach((loc: unknown, j) => {
      if (!isObj(loc)) return
      const t = merakiTime(loc.time)
      if (t !== undefined && (!newest || t > newest.t)) newest = { loc, j, t }
    })
    if (!newest) {
      problem(reject('STORE_EDGE_ERR_TIMESTAMP', `${path}/locations: no location with a valid time`))
    } else {
      const lpath = `${path}/locations/${newest.j}`
      const ts = checkTs(newest.t, newest.t, ctx)
      if (ts === undefined) {
        problem(reject('STORE_EDGE_ERR_TIMESTAMP', `${lpath}/time: more than ${ctx.maxSkewMs} ms from the edge clock`))
      } else if (!Array.isArray(newest.loc.rssiRecords)) {
        problem(reject('STORE_EDGE_ERR_ITEM_SCHEMA', `${lpath}/rssiRecords: expected an array`))
      } else {
        const best = new Map<string, Reading>()
        newest.loc.rssiRecords.forEach((rec: unknown, k) => {
          const rpath = `${lpath}/rssiRecords/${k}`
          if (!isObj(rec)) return problem(reject('STORE_EDGE_ERR_ITEM_SCHEMA', `${rpath}: expected an object`))
          const ap = normalizeMac(rec.apMac)
          if (!ap) return problem(reject('STORE_EDGE_ERR_BAD_MAC', `${rpath}/apMac: not a 48-bit MAC address`))
          const rssi = num(rec.rssi)
          if (!rssiValid(rssi)) return problem(reject('STORE_EDGE_ERR_BAD_RSSI', `${rpath}/rssi: expected -127..20 dBm, got ${describeValue(rssi ?? rec.rssi)}`))
          const seen = best.get(ap)
          if (!seen || rssi > seen.rssi) best.set(ap, { apMac: ap, rssi })
        })
        // A location with some bad records still counts by its good ones.
        if (best.size > 0) return { readings: [...best.values()], ts }
        problem(reject('STORE_EDGE_ERR_ITEM_SCHEMA', `${lpath}/rssiRecords: no usable record`))
      }
    }
  }

  const lr = o.latestRecord
  if (isObj(lr)) {
    const ap = normalizeMac(lr.nearestApMac)
    const rssi = num(lr.nearestApRssi)
    const t = merakiTime(lr.time)
    const ts = t === undefined ? undefined : checkTs(t, t, ctx)
    if (!ap) problem(reject('STORE_EDGE_ERR_BAD_MAC', `${path}/latestRecord/nearestApMac: not a 48-bit MAC address`))
    else if (!rssiValid(rssi)) problem(reject('STORE_EDGE_ERR_BAD_RSSI', `${path}/latestRecord/nearestApRssi: expected -127..20 dBm, got ${describeValue(rssi ?? lr.nearestApRssi)}`))
    else if (ts === undefined) problem(reject('STORE_EDGE_ERR_TIMESTAMP', `${path}/latestRecord/time: ${t === undefined ? 'missing or malformed' : `more than ${ctx.maxSkewMs} ms from the edge clock`}`))
    else return { readings: [{ apMac: ap, rssi }], ts }
  } else if (!firstProblem) {
    problem(reject('STORE_EDGE_ERR_ITEM_SCHEMA', `${path}: neither a location with rssiRecords nor a latestRecord`))
  }
  return { rejection: firstProblem! }
}

/** Cheap and reliable only: Meraki's own manufacturer / OS fingerprint of a public address. */
function classify(o: Obj): DeviceClass {
  if (typeof o.manufacturer === 'string' && /^apple\b/i.test(o.manufacturer)) return 'apple'
  if (typeof o.os === 'string' && /^android\b/i.test(o.os)) return 'android'
  return 'other'
}
