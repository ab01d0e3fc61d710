import { Measurements, Tags, type EdgeHealth, type MinuteAggregate } from '../../edge/contracts/index.ts'

/**
 * Uplink payloads → Influx line protocol. Every point carries the event time of what it describes
 * (the aggregate's minute, the health message's ts), never the time it was received, so a replay
 * after an outage writes the same series and timestamps again: InfluxDB overwrites, and
 * VictoriaMetrics run with -dedup.minScrapeInterval=1ms keeps one sample.
 *
 * What VictoriaMetrics names them (measurement_field): occupancy_value|enters|exits{store,zone,source},
 * visitors_visitors|passers_by|unique|repeat|randomized|sightings{store,source}, dwell_p50_s|p90_s|count{store,zone},
 * edge_health_up|devices_online|uptime_s{store}, parking_arrivals|departures|occupancy{store},
 * coupons_requested|issued|holdout|rejected|pushed|dead|redeemed{campaign,store}.
 */

/**
 * Tag values: commas, equals signs and spaces are escaped, and so is the backslash itself (`\\`),
 * or a value ending in `\` would escape the separator after it; InfluxDB's and VictoriaMetrics'
 * parsers both read `\\` back as one backslash. Line breaks cannot be carried at all.
 * (@influxdata/influxdb-client's Point escapes the first three but not the backslash.)
 */
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\\,= \r\n\u0000]/
export function tagValue(v: string): string {
  if (!NEEDS_ESCAPE.test(v)) return v
  // eslint-disable-next-line no-control-regex
  return v.replace(/\\/g, '\\\\').replace(/[\r\n\u0000]/g, ' ').replace(/([,= ])/g, '\\$1')
}

/**
 * Lines are built directly, not through the client's Point: at the gateway's rates (10⁵ lines/s)
 * Point's per-line objects and sorting were most of the gateway's CPU and garbage. Tag keys are in
 * sorted order (source < store < zone), as InfluxDB recommends; integers carry the `i` suffix.
 */
const int = (k: string, v: number) => `${k}=${Math.trunc(v)}i`
const float = (k: string, v: number) => `${k}=${v}`

export function aggregateLines(agg: MinuteAggregate, storeId: string): string[] {
  const ts = agg.minute
  const store = `${Tags.store}=${tagValue(storeId)}`
  const out: string[] = []
  for (const s of agg.sources) {
    out.push(
      `${Measurements.visitors},${Tags.source}=${s.source},${store} ${int('visitors', s.visitors)},${int('passers_by', s.passersBy)},${int('unique', s.unique)},${int('repeat', s.repeat)},${int('randomized', s.randomized)},${int('sightings', s.sightings)} ${ts}`,
    )
  }
  for (const z of agg.zones) {
    const zone = `${Tags.zone}=${tagValue(z.zone)}`
    out.push(`${Measurements.occupancy},${Tags.source}=all,${store},${zone} ${int('value', z.occupancy)},${int('enters', z.enters)},${int('exits', z.exits)} ${ts}`)
    out.push(`${Measurements.occupancy},${Tags.source}=ble,${store},${zone} ${int('value', z.occupancyBySource.ble)} ${ts}`)
    out.push(`${Measurements.occupancy},${Tags.source}=wifi,${store},${zone} ${int('value', z.occupancyBySource.wifi)} ${ts}`)
    if (z.dwellCount > 0) {
      let fields = int('count', z.dwellCount)
      if (z.dwellP50S !== null) fields += ',' + float('p50_s', z.dwellP50S)
      if (z.dwellP90S !== null) fields += ',' + float('p90_s', z.dwellP90S)
      out.push(`${Measurements.dwell},${store},${zone} ${fields} ${ts}`)
    }
  }
  return out
}

/** The car park's minute figures, when the aggregate carries them. */
export function parkingLines(agg: MinuteAggregate, storeId: string): string[] {
  const p = agg.parking
  if (!p) return []
  return [`${Measurements.parking},${Tags.store}=${tagValue(storeId)} ${int('arrivals', p.arrivals)},${int('departures', p.departures)},${int('occupancy', p.occupancy)} ${agg.minute}`]
}

/**
 * The cameras' minute: footfall in/out per entrance and camera, people per camera zone (source
 * `camera`, beside the radio occupancy of a zone with the same id), dwell per camera zone, the
 * entrance occupancy and face-counted visitors of the store, and each camera's health.
 * VictoriaMetrics names: footfall_in|out{store,entrance,camera}, occupancy_value|peak|loitering{store,zone,camera,source=camera},
 * dwell_count|p50_s|p90_s{store,zone,camera}, occupancy_value{store,zone=store,source=lines}, visitors_unique|repeat{store,source=face},
 * edge_health_up|fps|lag_ms|dropped{store,camera}.
 */
export function cameraLines(agg: MinuteAggregate, storeId: string): string[] {
  const c = agg.cameras
  if (!c) return []
  const ts = agg.minute
  const store = `${Tags.store}=${tagValue(storeId)}`
  const out: string[] = []
  for (const f of c.footfall) {
    out.push(`${Measurements.footfall},${Tags.camera}=${tagValue(f.camera)},${Tags.entrance}=${tagValue(f.entrance)},${store} ${int('in', f.in)},${int('out', f.out)} ${ts}`)
  }
  for (const z of c.zones) {
    const tags = `${Tags.camera}=${tagValue(z.camera)},${Tags.source}=camera,${store},${Tags.zone}=${tagValue(z.zone)}`
    out.push(`${Measurements.occupancy},${tags} ${int('value', z.people)},${int('peak', z.peak)},${int('loitering', z.loitering)} ${ts}`)
    if (z.dwellCount > 0) {
      let fields = int('count', z.dwellCount)
      if (z.dwellP50S !== null) fields += ',' + float('p50_s', z.dwellP50S)
      if (z.dwellP90S !== null) fields += ',' + float('p90_s', z.dwellP90S)
      out.push(`${Measurements.dwell},${Tags.camera}=${tagValue(z.camera)},${store},${Tags.zone}=${tagValue(z.zone)} ${fields} ${ts}`)
    }
  }
  if (c.occupancy !== undefined) out.push(`${Measurements.occupancy},${Tags.source}=lines,${store},${Tags.zone}=store ${int('value', c.occupancy)} ${ts}`)
  if (c.visitors) out.push(`${Measurements.visitors},${Tags.source}=face,${store} ${int('unique', c.visitors.unique)},${int('repeat', c.visitors.repeat)} ${ts}`)
  for (const h of c.health) {
    out.push(`${Measurements.edgeHealth},${Tags.camera}=${tagValue(h.camera)},${store} ${int('up', h.up)},${float('fps', h.fps)},${float('lag_ms', h.lagMs)},${int('dropped', h.dropped)} ${ts}`)
  }
  return out
}

/** One minute of one campaign at one store, counted from the ledger (see coupon-stats.ts). */
export interface CouponMinute {
  minute: number
  campaignId: string
  storeId: string
  requested: number
  issued: number
  holdout: number
  rejected: number
  pushed: number
  dead: number
  redeemed: number
}

/**
 * Every field is always written, zeros included: a recount of a minute then overwrites the whole
 * point (a later push or redemption changes an earlier minute's figures only by rewriting it).
 */
export function couponLines(m: CouponMinute): string {
  const fields = [
    int('requested', m.requested),
    int('issued', m.issued),
    int('holdout', m.holdout),
    int('rejected', m.rejected),
    int('pushed', m.pushed),
    int('dead', m.dead),
    int('redeemed', m.redeemed),
  ].join(',')
  return `${Measurements.coupons},${Tags.campaign}=${tagValue(m.campaignId)},${Tags.store}=${tagValue(m.storeId)} ${fields} ${m.minute}`
}

export function healthLines(h: EdgeHealth, storeId: string): string[] {
  let fields = int('up', h.status === 'online' ? 1 : 0)
  if (h.devicesOnline !== undefined) fields += ',' + int('devices_online', h.devicesOnline)
  if (h.uptimeS !== undefined) fields += ',' + float('uptime_s', h.uptimeS)
  return [`${Measurements.edgeHealth},${Tags.store}=${tagValue(storeId)} ${fields} ${h.ts}`]
}
