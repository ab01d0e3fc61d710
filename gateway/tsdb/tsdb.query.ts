import { StoreEdgeError } from '../../edge/contracts/index.ts'
import type { StorePoint, StoreSeries } from '../live/store-point.ts'

/** A PromQL string literal: backslashes and double quotes escaped. */
export const promString = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`

interface Matrix {
  status: string
  error?: string
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> }
}

/**
 * History from the TSDB with PromQL (VictoriaMetrics' /api/v1/query_range, or any Prometheus
 * query API). The result has the same shape as the live window's, so the dashboard does not care
 * where a range came from.
 */
export class TsdbQuery {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async range(query: string, from: number, to: number, stepS: number): Promise<NonNullable<Matrix['data']>['result']> {
    const params = new URLSearchParams({ query, start: String(from / 1000), end: String(to / 1000), step: `${stepS}s`, nocache: '1' })
    let res: Response
    try {
      res = await fetch(`${this.baseUrl.replace(/\/$/, '')}/api/v1/query_range`, {
        method: 'POST',
        body: params,
        signal: AbortSignal.timeout(this.timeoutMs),
      })
    } catch (err) {
      throw new StoreEdgeError('STORE_EDGE_ERR_TSDB_UNAVAILABLE', (err as Error).message)
    }
    const body = (await res.json().catch(() => ({ status: 'error', error: `HTTP ${res.status}` }))) as Matrix
    if (!res.ok || body.status !== 'success' || !body.data) throw new StoreEdgeError('STORE_EDGE_ERR_TSDB_UNAVAILABLE', body.error ?? `HTTP ${res.status}`)
    return body.data.result
  }

  /** A store's series over [from, to] in steps of stepS (≥ 60): occupancy averaged, visits summed per step. */
  async series(storeId: string, from: number, to: number, stepS: number): Promise<StoreSeries> {
    const s = `store=${promString(storeId)}`
    const w = `[${stepS}s]`
    const [occ, visits, visitors, passers, dwell] = await Promise.all([
      this.range(`avg_over_time(occupancy_value{${s},source="all"}${w})`, from, to, stepS),
      this.range(`sum by (source) (sum_over_time(visitors_unique{${s}}${w}) + sum_over_time(visitors_repeat{${s}}${w}))`, from, to, stepS),
      this.range(`sum by (source) (avg_over_time(visitors_visitors{${s}}${w}))`, from, to, stepS),
      this.range(`sum by (source) (avg_over_time(visitors_passers_by{${s}}${w}))`, from, to, stepS),
      this.range(`avg(avg_over_time(dwell_p50_s{${s}}${w}))`, from, to, stepS),
    ])
    const points = new Map<number, StorePoint>()
    const at = (tsS: number): StorePoint => {
      // An evaluation at t covers (t - step, t]: label the point with the step's first minute.
      const ts = tsS * 1000 - stepS * 1000 + 60_000
      let p = points.get(ts)
      if (!p) {
        p = { ts, occupancy: 0, occupancyByZone: {}, visits: 0, visitsBySource: { ble: 0, wifi: 0 }, visitorsBySource: { ble: 0, wifi: 0 }, passersBySource: { ble: 0, wifi: 0 }, dwellP50S: null }
        points.set(ts, p)
      }
      return p
    }
    const round = (x: string) => Math.round(Number(x) * 10) / 10
    const zones = new Set<string>()
    for (const r of occ) {
      const zone = r.metric.zone ?? ''
      zones.add(zone)
      for (const [t, v] of r.values) {
        const p = at(t)
        p.occupancyByZone[zone] = round(v)
        p.occupancy = round(String(p.occupancy + Number(v)))
      }
    }
    const bySource = (rows: typeof occ, key: 'visitsBySource' | 'visitorsBySource' | 'passersBySource') => {
      for (const r of rows) {
        const src = r.metric.source === 'wifi' ? 'wifi' : 'ble'
        for (const [t, v] of r.values) at(t)[key][src] = round(v)
      }
    }
    bySource(visits, 'visitsBySource')
    bySource(visitors, 'visitorsBySource')
    bySource(passers, 'passersBySource')
    for (const r of dwell) for (const [t, v] of r.values) at(t).dwellP50S = round(v)
    for (const p of points.values()) p.visits = p.visitsBySource.ble + p.visitsBySource.wifi
    return { storeId, source: 'tsdb', from, to, stepS, zones: [...zones].sort(), points: [...points.values()].sort((a, b) => a.ts - b.ts) }
  }
}
