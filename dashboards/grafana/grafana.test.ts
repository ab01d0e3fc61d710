import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { METRIC_NAMES } from './metric-names.ts'

interface DatasourceRef {
  type?: string
  uid?: string
}
interface Target {
  refId?: string
  expr?: string
  datasource?: DatasourceRef
}
interface Panel {
  id: number
  type: string
  title: string
  datasource?: DatasourceRef
  targets?: Target[]
  panels?: Panel[]
}
interface Variable {
  name: string
  type: string
  query?: unknown
  definition?: string
  datasource?: DatasourceRef
}
interface Dashboard {
  uid: string
  title: string
  schemaVersion: number
  panels: Panel[]
  templating: { list: Variable[] }
}

const FILE = new URL('./store-edge-footfall.json', import.meta.url)
const DS_VM = { type: 'prometheus', uid: '${DS_VM}' }

// PromQL words that look like identifiers but are not metric names.
const PROMQL_WORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'atan2', 'inf', 'nan',
])

/**
 * Metric names a PromQL expression selects: identifiers that are not function calls, aggregation
 * keywords, grouping labels or label matchers. Good enough for the expressions a dashboard holds.
 */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery windows
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // grouping label lists
  const names = new Set<string>()
  for (const m of stripped.matchAll(/(?<![\w:.$])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = m
    if (call || !name || PROMQL_WORDS.has(name.toLowerCase())) continue
    names.add(name)
  }
  return [...names]
}

/** Every panel, rows' nested panels included. */
function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])])
}

describe('metricNamesIn', () => {
  it('finds selectors and skips functions, keywords, labels and windows', () => {
    expect(metricNamesIn('sum by (zone) (occupancy_value{store=~"$store",source="all"})')).toEqual(['occupancy_value'])
    expect(metricNamesIn('sum by (source) (visitors_unique{store=~"$store"} + visitors_repeat{store=~"$store"})').sort()).toEqual([
      'visitors_repeat',
      'visitors_unique',
    ])
    expect(metricNamesIn('sum(sum_over_time(dwell_p50_s[1h:1m])) / ignoring(zone) group_left edge_health_up offset 5m')).toEqual([
      'dwell_p50_s',
      'edge_health_up',
    ])
    expect(metricNamesIn('label_values(occupancy_value, store)')).toEqual(['occupancy_value', 'store'])
  })
})

describe('Grafana dashboard store-edge-footfall.json', () => {
  const text = readFileSync(FILE, 'utf8')
  const dash = JSON.parse(text) as Dashboard
  const panels = allPanels(dash.panels).filter((p) => p.type !== 'row')
  const known = new Set<string>(METRIC_NAMES)

  it('parses as a current-schema dashboard with a stable uid', () => {
    expect(dash.schemaVersion).toBeGreaterThanOrEqual(38)
    expect(dash.uid).toBe('store-edge-footfall')
    expect(panels.length).toBeGreaterThan(0)
    expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length)
  })

  it('declares DS_VM as a Prometheus datasource variable and store from label_values(occupancy_value, store)', () => {
    const ds = dash.templating.list.find((v) => v.name === 'DS_VM')
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' })
    const store = dash.templating.list.find((v) => v.name === 'store')
    expect(store?.type).toBe('query')
    expect(store?.datasource).toEqual(DS_VM)
    expect(store?.definition).toBe('label_values(occupancy_value, store)')
    expect(JSON.stringify(store?.query)).toContain('label_values(occupancy_value, store)')
  })

  it('queries only through ${DS_VM}: every panel and target', () => {
    for (const p of panels) {
      expect(p.datasource, `panel ${p.title}`).toEqual(DS_VM)
      for (const t of p.targets ?? []) if (t.datasource) expect(t.datasource, `panel ${p.title} target ${t.refId}`).toEqual(DS_VM)
    }
    // No datasource uid is hard-coded anywhere in the file.
    const uids = [...text.matchAll(/"uid":\s*"([^"]*)"/g)].map((m) => m[1])
    expect(uids.filter((u) => u !== '${DS_VM}' && u !== '-- Grafana --' && u !== dash.uid)).toEqual([])
  })

  it('gives every panel at least one target with a PromQL expr', () => {
    for (const p of panels) {
      const exprs = (p.targets ?? []).map((t) => t.expr?.trim()).filter(Boolean)
      expect(exprs.length, `panel ${p.title}`).toBeGreaterThan(0)
    }
  })

  it('uses only metric names VictoriaMetrics makes of our line protocol', () => {
    const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr ?? '' })))
    for (const v of dash.templating.list) if (v.definition) exprs.push({ panel: `variable ${v.name}`, expr: v.definition })
    for (const { panel, expr } of exprs) {
      const names = metricNamesIn(expr.replace(/label_values\(([^,)]+),[^)]*\)/, '$1'))
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0)
      for (const n of names) expect(known.has(n), `${panel}: unknown metric ${n} in ${expr}`).toBe(true)
    }
  })

  it('has the panels the ops team asked for', () => {
    const all = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')).join('\n')
    expect(all).toContain('sum by (zone) (occupancy_value{store=~"$store",source="all"})')
    expect(all).toContain('sum by (source) (visitors_unique{store=~"$store"} + visitors_repeat{store=~"$store"})')
    for (const m of ['visitors_visitors', 'visitors_passers_by', 'dwell_p50_s', 'dwell_p90_s', 'edge_health_up']) expect(all).toContain(m)
  })
})
