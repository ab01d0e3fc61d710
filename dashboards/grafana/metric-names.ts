/**
 * The metric names VictoriaMetrics makes of our Influx line protocol: `{measurement}_{field}`
 * (its default `-influxMeasurementFieldSeparator=_`; `-influxSkipSingleField` must stay off, or a
 * single-field line would lose its `_field` suffix). Tags (store, zone, source, …) become labels.
 * The Grafana dashboard may query only these; its test checks that.
 */
import { Measurements } from '../../edge/contracts/measurements.ts'

/** Fields the gateway's TSDB writer puts on each measurement. */
export const INFLUX_FIELDS = {
  /** tags store, zone, source (all|ble|wifi); enters/exits only on source=all */
  [Measurements.occupancy]: ['value', 'enters', 'exits'],
  /** tags store, source */
  [Measurements.visitors]: ['visitors', 'passers_by', 'unique', 'repeat', 'randomized', 'sightings'],
  /** tags store, zone */
  [Measurements.dwell]: ['p50_s', 'p90_s', 'count'],
  /** tag store */
  [Measurements.edgeHealth]: ['up', 'devices_online', 'uptime_s'],
  /** tag store (stores with a car park) */
  [Measurements.parking]: ['arrivals', 'departures', 'occupancy'],
  /** tags campaign, store: what the ledger decided, pushed and redeemed in the minute */
  [Measurements.coupons]: ['requested', 'issued', 'holdout', 'rejected', 'pushed', 'dead', 'redeemed'],
} as const satisfies Partial<Record<(typeof Measurements)[keyof typeof Measurements], readonly string[]>>

type Fields = typeof INFLUX_FIELDS
export type MetricName = { [M in keyof Fields]: `${M}_${Fields[M][number]}` }[keyof Fields]

export const METRIC_NAMES: readonly MetricName[] = Object.entries(INFLUX_FIELDS).flatMap(([m, fields]) =>
  fields.map((f) => `${m}_${f}` as MetricName),
)
