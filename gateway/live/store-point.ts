import type { MinuteAggregate } from '../../edge/contracts/index.ts'

type BySource = { ble: number; wifi: number }

/** One store-minute as the API and the dashboard see it (what `/series` and the live stream carry). */
export interface StorePoint {
  /** Minute start, ms since epoch. */
  ts: number
  /** Sum over zones of devices present at the end of the minute. */
  occupancy: number
  occupancyByZone: Record<string, number>
  /** Visits started in the minute (unique + repeat), over both sources. */
  visits: number
  visitsBySource: BySource
  visitorsBySource: BySource
  passersBySource: BySource
  /** Median dwell of zone stays that ended in the minute, weighted over zones; null when none ended. */
  dwellP50S: number | null
}

export interface StoreSeries {
  storeId: string
  source: 'window' | 'tsdb'
  from: number
  to: number
  stepS: number
  zones: string[]
  points: StorePoint[]
}

const zero = (): BySource => ({ ble: 0, wifi: 0 })

export function pointFromAggregate(agg: MinuteAggregate): StorePoint {
  const p: StorePoint = {
    ts: agg.minute,
    occupancy: 0,
    occupancyByZone: {},
    visits: 0,
    visitsBySource: zero(),
    visitorsBySource: zero(),
    passersBySource: zero(),
    dwellP50S: null,
  }
  for (const s of agg.sources) {
    p.visitsBySource[s.source] += s.unique + s.repeat
    p.visitorsBySource[s.source] += s.visitors
    p.passersBySource[s.source] += s.passersBy
  }
  p.visits = p.visitsBySource.ble + p.visitsBySource.wifi
  let dwellSum = 0
  let dwellN = 0
  for (const z of agg.zones) {
    p.occupancyByZone[z.zone] = z.occupancy
    p.occupancy += z.occupancy
    if (z.dwellP50S !== null && z.dwellCount > 0) {
      dwellSum += z.dwellP50S * z.dwellCount
      dwellN += z.dwellCount
    }
  }
  p.dwellP50S = dwellN ? Math.round((dwellSum / dwellN) * 10) / 10 : null
  return p
}

/**
 * Re-bucket minute points into steps of `stepS` (epoch-aligned): occupancy and visitors are averaged (a level),
 * visits summed (a count), dwell averaged over minutes that had one.
 */
export function rebucket(points: StorePoint[], stepS: number): StorePoint[] {
  if (stepS <= 60) return points
  const stepMs = stepS * 1000
  const buckets = new Map<number, StorePoint[]>()
  for (const p of points) {
    // Buckets are aligned to multiples of the step since the epoch (as PromQL's are), not to
    // `from`, so a live point lands in the same bucket whatever range was asked for.
    const b = Math.floor(p.ts / stepMs) * stepMs
    let list = buckets.get(b)
    if (!list) buckets.set(b, (list = []))
    list.push(p)
  }
  const avg = (xs: number[]) => Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10
  const out: StorePoint[] = []
  for (const [ts, list] of [...buckets].sort((a, b) => a[0] - b[0])) {
    const zones = new Set(list.flatMap((p) => Object.keys(p.occupancyByZone)))
    const dwell = list.map((p) => p.dwellP50S).filter((d): d is number => d !== null)
    const src = (k: 'visitsBySource' | 'visitorsBySource' | 'passersBySource', f: (xs: number[]) => number) => ({
      ble: f(list.map((p) => p[k].ble)),
      wifi: f(list.map((p) => p[k].wifi)),
    })
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
    out.push({
      ts,
      occupancy: avg(list.map((p) => p.occupancy)),
      occupancyByZone: Object.fromEntries([...zones].map((z) => [z, avg(list.map((p) => p.occupancyByZone[z] ?? 0))])),
      visits: sum(list.map((p) => p.visits)),
      visitsBySource: src('visitsBySource', sum),
      visitorsBySource: src('visitorsBySource', avg),
      passersBySource: src('passersBySource', avg),
      dwellP50S: dwell.length ? avg(dwell) : null,
    })
  }
  return out
}
