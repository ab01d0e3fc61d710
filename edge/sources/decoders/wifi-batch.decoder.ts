import { WifiBatch, WifiProbeItem, type DecodeContext, type DecodeResult, type Rejection, type Sighting } from '../../contracts/index.ts'
import { checker, checkTs, isLocallyAdministered, normalizeMac, parseJsonPayload, reject, rssiValid, schemaErrors } from './common.ts'

/**
 * Our Wi-Fi probe sniffer batch (`WifiBatch` on `sensors/{deviceId}/wifi`). The envelope is checked
 * first and rejects the whole message; after that every probe stands on its own, so one bad probe
 * never poisons the good ones beside it.
 *
 * Privacy: the MAC is hashed with `ctx.hashMac` and never echoed, rejection reasons included; any
 * SSID a sniffer sends anyway is ignored (nothing is copied from the item but MAC, RSSI and time).
 */

const envelopeCheck = checker(WifiBatch)
const itemCheck = checker(WifiProbeItem)

/** Describe a bad value without echoing it: a stray string could be a raw MAC. */
export function describeValue(x: unknown): string {
  if (typeof x === 'number') return Number.isFinite(x) ? String(x) : 'a non-finite number'
  if (x === null) return 'null'
  if (Array.isArray(x)) return 'an array'
  return `a ${typeof x}`
}

/** JSON.parse messages quote the input (`Unexpected token … "aa:bb:cc…"`): keep only the position. */
export function notJsonRejection(rejection: Rejection): Rejection {
  if (rejection.code !== 'STORE_EDGE_ERR_PAYLOAD_NOT_JSON') return rejection
  const at = /position (\d+)/.exec(rejection.reason)
  return reject('STORE_EDGE_ERR_PAYLOAD_NOT_JSON', at ? `invalid JSON at position ${at[1]}` : 'invalid JSON')
}

export function decodeWifiBatch(payload: Buffer | string, ctx: DecodeContext): DecodeResult {
  const sightings: Sighting[] = []
  const rejects: Rejection[] = []
  const whole = (r: Rejection): DecodeResult => ({ sightings, rejects: [r] })

  const parsed = parseJsonPayload(payload)
  if (!parsed.ok) return whole(notJsonRejection(parsed.rejection))
  const body = parsed.value
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return whole(reject('STORE_EDGE_ERR_SCHEMA', `/: expected an object, got ${describeValue(body)}`))
  }
  const env = body as Record<string, unknown>
  if (env.v !== 1) {
    return whole(reject('STORE_EDGE_ERR_SCHEMA_VERSION', env.v === undefined ? '/v: missing, expected 1' : `/v: expected 1, got ${describeValue(env.v)}`))
  }
  if (Array.isArray(env.probes) && env.probes.length > ctx.maxBatch) {
    return whole(reject('STORE_EDGE_ERR_BATCH_TOO_LARGE', `/probes: ${env.probes.length} items > ${ctx.maxBatch}`))
  }
  if (!envelopeCheck.Check(env)) return whole(reject('STORE_EDGE_ERR_SCHEMA', schemaErrors(envelopeCheck, env)))
  const batch = env as WifiBatch
  const envTs = checkTs(batch.ts, batch.ts, ctx)
  if (envTs === undefined) {
    return whole(reject('STORE_EDGE_ERR_TIMESTAMP', `/ts: ${batch.ts} is more than ${ctx.maxSkewMs} ms from the edge clock`))
  }

  // The same frame (MAC + 802.11 sequence number) heard twice, e.g. on adjacent channels while
  // hopping: one sighting, the strongest reading.
  const bySeq = new Map<string, Sighting>()
  batch.probes.forEach((item, i) => {
    const path = `/probes/${i}`
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      rejects.push(reject('STORE_EDGE_ERR_ITEM_SCHEMA', `${path}: expected an object, got ${describeValue(item)}`, i))
      return
    }
    const p = item as Record<string, unknown>
    const mac = normalizeMac(p.mac)
    if (!mac) {
      rejects.push(reject('STORE_EDGE_ERR_BAD_MAC', `${path}/mac: ${typeof p.mac === 'string' ? 'not a 48-bit MAC address' : `expected a string, got ${describeValue(p.mac)}`}`, i))
      return
    }
    const rssi = typeof p.rssi === 'number' ? p.rssi : undefined
    if (!rssiValid(rssi)) {
      rejects.push(reject('STORE_EDGE_ERR_BAD_RSSI', `${path}/rssi: expected -127..20 dBm, got ${describeValue(p.rssi)}`, i))
      return
    }
    let ts: number | undefined = envTs
    if (p.ts !== undefined) {
      ts = typeof p.ts === 'number' && Number.isInteger(p.ts) && p.ts >= 0 ? checkTs(p.ts, envTs, ctx) : undefined
      if (ts === undefined) {
        rejects.push(reject('STORE_EDGE_ERR_TIMESTAMP', `${path}/ts: expected epoch ms within ${ctx.maxSkewMs} ms of now, got ${describeValue(p.ts)}`, i))
        return
      }
    }
    // channel, seq and anything else the schema constrains
    if (!itemCheck.Check(p)) {
      rejects.push(reject('STORE_EDGE_ERR_ITEM_SCHEMA', prefixed(path, schemaErrors(itemCheck, p)), i))
      return
    }
    const random = isLocallyAdministered(mac)
    const sighting: Sighting = {
      source: 'wifi',
      sensorId: ctx.deviceId,
      id: ctx.hashMac(mac),
      idKind: random ? 'random' : 'mac',
      randomAddress: random,
      // Phones probe with randomised MACs, so OUI lookups say little; we do not guess.
      deviceClass: 'other',
      rssi,
      ts,
    }
    if (typeof p.seq === 'number') {
      const key = `${mac}|${p.seq}`
      const seen = bySeq.get(key)
      if (seen) {
        if (rssi > seen.rssi) seen.rssi = rssi
        return
      }
      bySeq.set(key, sighting)
    }
    sightings.push(sighting)
  })
  return { sightings, rejects }
}

/** schemaErrors paths are relative to the item ("/channel: …", "/: …"); make them batch paths. */
function prefixed(path: string, errors: string): string {
  return errors
    .split('; ')
    .map((e) => (e.startsWith('/:') ? path + e.slice(1) : path + e))
    .join('; ')
}
