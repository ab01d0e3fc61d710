// uPlot time charts for the store page: lines (occupancy per zone) and grouped bars (visits by
// source). Timestamps are ms in the API and seconds in uPlot. Charts follow their container's width.
import uPlot from '/vendor/uplot/uPlot.esm.js'

/** Distinguishable in light and dark themes and for the common colour-vision deficiencies. */
export const PALETTE = ['#2f6fdf', '#e08a00', '#0f9d74', '#d64590', '#7c4ddb', '#1b98b5', '#7a9a1a', '#c8442f']
export const SOURCE_COLORS = { ble: '#2f6fdf', wifi: '#e08a00' }

/**
 * @typedef {{ label: string, color: string, dash?: number[], width?: number, fill?: boolean }} SeriesSpec
 * @typedef {{ series: SeriesSpec[], bars?: boolean, yLabel: string, timeZone?: string, height?: number,
 *   syncKey?: string, valueFmt?: (v: number) => string, ariaLabel: string }} ChartSpec
 */

const cssVar = (/** @type {string} */ name, fallback) =>
  getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback

function validTimeZone(tz) {
  if (!tz) return undefined
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: tz })
    return tz
  } catch {
    return undefined
  }
}

const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 })
/** People and visits are whole numbers: no 0.5 ticks. */
const INT_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000]

/**
 * @param {HTMLElement} el container; its width drives the chart width
 * @param {ChartSpec} spec
 */
export function timeChart(el, spec) {
  const height = spec.height ?? 260
  const tz = validTimeZone(spec.timeZone)
  const axis = cssVar('--chart-axis', '#5b6472')
  const grid = cssVar('--chart-grid', 'rgba(120,130,145,0.18)')
  const fmt = spec.valueFmt ?? ((v) => intFmt.format(v))
  const n = spec.series.length

  /** @type {uPlot.Series[]} */
  const series = [
    { value: (_u, v) => (v === null || v === undefined ? '—' : fullFmt.format(new Date(v * 1000))) },
    ...spec.series.map((s, i) => {
      /** @type {uPlot.Series} */
      const out = {
        label: s.label,
        stroke: s.color,
        width: s.width ?? (spec.bars ? 1 : 2),
        dash: s.dash,
        points: { show: false },
        value: (_u, v) => (v === null || v === undefined ? '—' : fmt(v)),
      }
      if (spec.bars) {
        // Side by side: first series to the left of the minute, second to the right.
        const align = n === 2 ? (i === 0 ? -1 : 1) : 0
        out.paths = uPlot.paths.bars?.({ size: [n === 2 ? 0.42 : 0.8, 40], align: /** @type {-1|0|1} */ (align) })
        out.fill = s.color + 'cc'
      } else if (s.fill) {
        out.fill = s.color + '1f'
      }
      return out
    }),
  ]

  const dayFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', timeZone: tz })
  const hmFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: tz })
  const hmsFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZone: tz })
  const fullFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: tz })
  /** 24-hour ticks in the store's zone; the date on the first tick and wherever the day changes. */
  const xValues = (/** @type {uPlot} */ _u, /** @type {number[]} */ splits, _ax, _space, /** @type {number} */ incr) => {
    let prevDay = ''
    return splits.map((t) => {
      const d = new Date(t * 1000)
      const day = dayFmt.format(d)
      if (incr >= 86_400) return day
      const time = incr < 60 ? hmsFmt.format(d) : hmFmt.format(d)
      const label = day !== prevDay ? `${time}\n${day}` : time
      prevDay = day
      return label
    })
  }

  /** @type {uPlot.Options} */
  const opts = {
    width: Math.max(200, el.clientWidth),
    height,
    series,
    scales: { x: { time: true, range: (_u, min, max) => xRange ?? [min, max] }, y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil((max ?? 0) * 1.1))] } },
    axes: [
      { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, values: xValues, space: 60 },
      { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { show: false }, label: spec.yLabel, labelSize: 20, size: 50, incrs: INT_INCRS, values: (_u, vals) => vals.map((v) => intFmt.format(v)) },
    ],
    legend: { live: true },
    cursor: { sync: spec.syncKey ? { key: spec.syncKey } : undefined, points: { size: 6 } },
    padding: [8, 12, 0, 0],
  }
  // Tick placement (midnights, whole hours) in the store's zone; the labels above format in it too.
  if (tz) opts.tzDate = (ts) => uPlot.tzDate(new Date(ts * 1e3), tz)

  /** @type {[number, number]|null} the x window in seconds, e.g. the selected range; null: fit the data */
  let xRange = null

  /** @type {uPlot.AlignedData} */
  const emptyData = [[], ...spec.series.map(() => [])]
  const u = new uPlot(opts, emptyData, el)
  u.root.setAttribute('role', 'img')
  u.root.setAttribute('aria-label', spec.ariaLabel)

  let w = 0
  const ro = new ResizeObserver(() => {
    const nw = Math.max(200, Math.floor(el.clientWidth))
    if (nw !== w) {
      w = nw
      u.setSize({ width: nw, height })
    }
  })
  ro.observe(el)

  return {
    bars: !!spec.bars,
    /**
     * @param {number[]} xsMs
     * @param {(number|null)[][]} ys one array per series, same length as xsMs
     * @param {[number, number]} [windowMs] show exactly this time window (the selected range), data or not
     */
    setData(xsMs, ys, windowMs) {
      xRange = windowMs ? [windowMs[0] / 1000, windowMs[1] / 1000] : null
      u.setData(/** @type {uPlot.AlignedData} */ ([xsMs.map((t) => t / 1000), ...ys]))
    },
    destroy() {
      ro.disconnect()
      u.destroy()
    },
  }
}
