import { BleBatch, type DecodeContext, type DecodeResult, type Rejection, type Sighting } from '../../contracts/index.ts'
import { bleIdentity, bleSighting, parseBleAdv, type BleAdv } from './ble-adv.ts'
import { checkTs, checker, normalizeMac, parseJsonPayload, reject, rssiValid, schemaErrors } from './common.ts'

/**
 * Our own BLE scanner batch (`BleBatch` on sensors/{deviceId}/ble). The envelope is checked with the
 * compiled schema; each item is then checked on its own with direct typed checks that follow the
 * `BleSightingItem` schema (faster than the schema per item), so one bad item is one rejection with
 * its index and the good items beside it still become sightings. Rejection reasons name the path,
 * never the value: a MAC must not leak even through an error.
 */

/** Same bound as the schema's `adv` maxLength: 62 bytes as hex. */
const ADV_MAX_HEX = 124

export function decodeBleBatch(payload: Buffer | string, ctx: DecodeContext): DecodeResult {
  const sightings: Sighting[] = []
  const rejects: Rejection[] = []
  const parsed = parseJsonPayload(payload)
  if (!parsed.ok) {
    rejects.push(parsed.rejection)
    return { sightings, rejects }
  }
  const env = parsed.value
  if (typeof env !== 'object' || env === null || Array.isArray(env)) {
    rejects.push(reject('STORE_EDGE_ERR_SCHEMA', '/: expected a JSON object'))
    return { sightings, rejects }
  }
  const v = (env as { v?: unknown }).v
  if (v !== undefined && v !== 1) {
    rejects.push(reject('STORE_EDGE_ERR_SCHEMA_VERSION', '/v: this decoder reads schema version 1'))
    return { sightings, rejects }
  }
  const check = checker(BleBatch)
  if (!check.Check(env)) {
    rejects.push(reject('STORE_EDGE_ERR_SCHEMA', schemaErrors(check, env) || '/: does not match BleBatch'))
    return { sightings, rejects }
  }
  const items = env.sightings
  if (items.length > ctx.maxBatch) {
    rejects.push(reject('STORE_EDGE_ERR_BATCH_TOO_LARGE', `/sightings: ${items.length} items > ${ctx.maxBatch}`))
    return { sightings, rejects }
  }
  const envTs = checkTs(env.ts, ctx.now, ctx)
  if (envTs === undefined) {
    rejects.push(reject('STORE_EDGE_ERR_TIMESTAMP', `/ts: more than ${ctx.maxSkewMs} ms from now`))
    return { sightings, rejects }
  }
  for (let i = 0; i < items.length; i++) {
    const r = decodeItem(items[i], i, envTs, ctx)
    if ('code' in r) rejects.push(r)
    else sightings.push(r)
  }
  return { sightings, rejects }
}

/** One `BleSightingItem` → a sighting or a rejection carrying its index. */
/**
 * Advertisements repeat: a beacon sends the same frame for hours and a phone for minutes, heard by
 * several scanners. Parsing is a pure function of the hex, so results are memoised (bounded; the
 * whole cache is dropped when full, which is cheaper than LRU bookkeeping on the hot path). Cached
 * results are frozen: sightings share them.
 */
const ADV_CACHE_MAX = 20_000
let advCache = new Map<string, ReturnType<typeof parseBleAdv>>()
function parseAdvCached(hex: string): ReturnType<typeof parseBleAdv> {
  let r = advCache.get(hex)
  if (r === undefined) {
    r = parseBleAdv(hex)
    if (r.ok) deepFreeze(r.adv)
    if (advCache.size >= ADV_CACHE_MAX) advCache = new Map()
    advCache.set(hex, r)
  }
  return r
}

function deepFreeze(o: object): void {
  if (ArrayBuffer.isView(o)) return // typed arrays (raw AD bytes) cannot be frozen; nothing writes them
  for (const v of Object.values(o)) if (v && typeof v === 'object' && !Object.isFrozen(v)) deepFreeze(v)
  Object.freeze(o)
}

function decodeItem(item: unknown, i: number, envTs: number, ctx: DecodeContext): Sighting | Rejection {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    return reject('STORE_EDGE_ERR_ITEM_SCHEMA', `/sightings/${i}: expected an object`, i)
  }
  const o = item as Record<string, unknown>
  const mac = normalizeMac(o.mac)
  if (mac === undefined) {
    const why = o.mac === undefined ? 'is missing' : 'is not a 48-bit address'
    return reject('STORE_EDGE_ERR_BAD_MAC', `mac at /sightings/${i} ${why}`, i)
  }
  const addrType = o.addrType
  if (addrType !== undefined && addrType !== 'public' && addrType !== 'random') {
    return reject('STORE_EDGE_ERR_ITEM_SCHEMA', `addrType at /sightings/${i} must be "public" or "random"`, i)
  }
  const rssi = o.rssi
  if (typeof rssi !== 'number' || !rssiValid(rssi)) {
    return reject('STORE_EDGE_ERR_BAD_RSSI', `rssi at /sightings/${i} must be a number in -127..20`, i)
  }
  let ts = envTs
  if (o.ts !== undefined) {
    const t = o.ts
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) {
      return reject('STORE_EDGE_ERR_TIMESTAMP', `ts at /sightings/${i} must be a non-negative integer (ms)`, i)
    }
    if (checkTs(t, envTs, ctx) === undefined) {
      return reject('STORE_EDGE_ERR_TIMESTAMP', `ts at /sightings/${i} is more than ${ctx.maxSkewMs} ms from now`, i)
    }
    ts = t
  }
  let adv: BleAdv | undefined
  if (o.adv !== undefined) {
    if (typeof o.adv !== 'string' || o.adv.length > ADV_MAX_HEX) {
      return reject('STORE_EDGE_ERR_BAD_ADV', `adv at /sightings/${i} must be a hex string of at most 62 bytes`, i)
    }
    const p = parseAdvCached(o.adv)
    if (!p.ok) return reject('STORE_EDGE_ERR_BAD_ADV', `adv at /sightings/${i}: ${p.error}`, i)
    adv = p.adv
  }
  // BLE address type comes from the PDU's TxAdd bit (Core Spec Vol 6 Part B §2.3); absent = random.
  const random = addrType !== 'public'
  const ident = bleIdentity(adv?.beacon, mac, random, ctx.hashMac)
  return bleSighting(ident, { sensorId: ctx.deviceId, deviceClass: adv ? adv.deviceClass : 'other', rssi, ts }, adv?.tlm)
}
