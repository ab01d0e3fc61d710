import { Point } from '@influxdata/influxdb-client'
import { Measurements, Tags, type EdgeHealth, type MinuteAggregate } from '../../edge/contracts/index.ts'

/**
 * Uplink payloads → Influx line protocol. Every point carries the event time of what it describes
 * (the aggregate's minute, the health message's ts), never the time it was received, so a replay
 * after an outage writes the same series and timestamps again: InfluxDB overwrites, and
 * VictoriaMetrics run with -dedup.minScrapeInterval=1ms keeps one sample.
 *
 * What VictoriaMetrics names them (measurement_field): occupancy_value|enters|exits{store,zone,source},
 * visitors_visitors|passers_by|unique|repeat|randomized|sightings{store,source}, dwell_p50_s|p90_s|count{store,zone},
 * edge_health_up|devices_online|uptime_s{store}.
 */

/**
 * The client escapes commas, equals signs and spaces in tag values but not backslashes, so a value
 * ending in `\` would escape the separator after it. Escaping the backslash first (`\\`) round-trips
 * through InfluxDB's and VictoriaMetrics' parsers. Line breaks cannot be carried at all.
 */
export function tagValue(v: string): string {
  // eslint-disable-next-line no-control-regex
  return v.replace(/\\/g, '\\\\').replace(/[\r\n\u0000]/g, ' ')
}

const tag = (p: Point, k: string, v: string) => p.tag(k, tagValue(v))

export function aggregateLines(agg: MinuteAggregate, storeId: string): string[] {
  const ts = agg.minute
  const out: string[] = []
  for (const s of agg.sources) {
    const p = new Point(Measurements.visitors)
    tag(p, Tags.store, storeId)
    tag(p, Tags.source, s.source)
    p.intField('visitors', s.visitors)
      .intField('passers_by', s.passersBy)
      .intField('unique', s.unique)
      .intField('repeat', s.repeat)
      .intField('randomized', s.randomized)
      .intField('sightings', s.sightings)
      .timestamp(ts)
    out.push(p.toLineProtocol()!)
  }
  for (const z of agg.zones) {
    const all = new Point(Measurements.occupancy)
    tag(all, Tags.store, storeId)
    tag(all, Tags.zone, z.zone)
    tag(all, Tags.source, 'all')
    all.intField('value', z.occupancy).intField('enters', z.enters).intField('exits', z.exits).timestamp(ts)
    out.push(all.toLineProtocol()!)
    for (const src of ['ble', 'wifi'] as const) {
      const p = new Point(Measurements.occupancy)
      tag(p, Tags.store, storeId)
      tag(p, Tags.zone, z.zone)
      tag(p, Tags.source, src)
      p.intField('value', z.occupancyBySource[src]).timestamp(ts)
      out.push(p.toLineProtocol()!)
    }
    if (z.dwellCount > 0) {
      const d = new Point(Measurements.dwell)
      tag(d, Tags.store, storeId)
      tag(d, Tags.zone, z.zone)
      d.intField('count', z.dwellCount)
      if (z.dwellP50S !== null) d.floatField('p50_s', z.dwellP50S)
      if (z.dwellP90S !== null) d.floatField('p90_s', z.dwellP90S)
      out.push(d.timestamp(ts).toLineProtocol()!)
    }
  }
  return out
}

export function healthLines(h: EdgeHealth, storeId: string): string[] {
  const p = new Point(Measurements.edgeHealth)
  tag(p, Tags.store, storeId)
  p.intField('up', h.status === 'online' ? 1 : 0)
  if (h.devicesOnline !== undefined) p.intField('devices_online', h.devicesOnline)
  if (h.uptimeS !== undefined) p.floatField('uptime_s', h.uptimeS)
  return [p.timestamp(h.ts).toLineProtocol()!]
}
