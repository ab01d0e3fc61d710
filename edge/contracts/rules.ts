import { createHash } from 'node:crypto'
import type { Audience, Campaign, Geofence, GeofenceEvent, Member, Schedule } from './payloads/marketing.ts'

/**
 * What a campaign rule means, written once: the edge's trigger engine evaluates it live, the
 * gateway validates it on save and replays it over past events for the marketing preview. Pure:
 * time arrives as an argument, the time zone is the store's.
 */

// ── validation ─────────────────────────────────────────────────────────────────────────────────

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5))

/** Cross-field problems of a campaign as `path: problem` lines (empty when valid). */
export function campaignProblems(c: Campaign, known?: { zones?: ReadonlySet<string> }, base = ''): string[] {
  const p: string[] = []
  if (c.event === 'dwell' && !(c.dwellS && c.dwellS > 0)) p.push(`${base}/dwellS: a dwell trigger needs dwellS > 0`)
  if (c.visitZones && c.event !== 'exit') p.push(`${base}/visitZones: only an exit trigger can require zones reached during the visit`)
  if (new Set(c.zones).size !== c.zones.length) p.push(`${base}/zones: duplicate zone`)
  if (known?.zones) {
    c.zones.forEach((z, i) => {
      if (!known.zones!.has(z)) p.push(`${base}/zones/${i}: unknown zone or geofence "${z}"`)
    })
    c.visitZones?.forEach((z, i) => {
      if (!known.zones!.has(z)) p.push(`${base}/visitZones/${i}: unknown zone "${z}"`)
    })
  }
  if (c.stores.includes('*') && c.stores.length > 1) p.push(`${base}/stores: "*" already means every store`)
  const s = c.schedule
  if (s.start && s.end && s.start === s.end) p.push(`${base}/schedule: start equals end (an empty window); omit both for all day`)
  if (s.from && s.until && s.from > s.until) p.push(`${base}/schedule: from ${s.from} is after until ${s.until}`)
  for (const d of [s.from, s.until]) if (d && Number.isNaN(Date.parse(`${d}T00:00:00Z`))) p.push(`${base}/schedule: ${d} is not a date`)
  s.quietHours?.forEach((q, i) => {
    if (q.start === q.end) p.push(`${base}/schedule/quietHours/${i}: start equals end`)
  })
  if (s.days && new Set(s.days).size !== s.days.length) p.push(`${base}/schedule/days: duplicate weekday`)
  const caps = c.caps
  if (caps.perMemberPerDay && caps.perMemberPerWeek && caps.perMemberPerDay > caps.perMemberPerWeek) {
    p.push(`${base}/caps: perMemberPerDay (${caps.perMemberPerDay}) exceeds perMemberPerWeek (${caps.perMemberPerWeek})`)
  }
  if (caps.perMemberPerCampaign && caps.perMemberPerWeek && caps.perMemberPerWeek > caps.perMemberPerCampaign) {
    p.push(`${base}/caps: perMemberPerWeek (${caps.perMemberPerWeek}) exceeds perMemberPerCampaign (${caps.perMemberPerCampaign})`)
  }
  if (c.coupon.valueCents === undefined && c.coupon.percentOff === undefined) p.push(`${base}/coupon: give valueCents or percentOff`)
  if (c.coupon.valueCents !== undefined && c.coupon.percentOff !== undefined) p.push(`${base}/coupon: give valueCents or percentOff, not both`)
  if (c.audience.membersOnly === false && (c.audience.tiers || c.audience.tagsAny || c.audience.tagsAll || c.audience.firstVisit || c.audience.lapsedDays)) {
    p.push(`${base}/audience: tiers, tags, first visit and lapsed days need membersOnly`)
  }
  if (c.audience.firstVisit && c.audience.lapsedDays) p.push(`${base}/audience: firstVisit and lapsedDays cannot both hold`)
  return p
}

/** Problems of a geofence a schema cannot see: a degenerate or self-crossing polygon. */
export function geofenceProblems(g: Geofence, base = ''): string[] {
  if (g.shape.kind !== 'polygon') return []
  const pts = g.shape.points
  const p: string[] = []
  // Shoelace area in degrees² scaled by latitude: zero area means all points on a line.
  let area = 0
  const k = Math.cos((pts[0]!.lat * Math.PI) / 180)
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) area += pts[j]!.lng * k * pts[i]!.lat - pts[i]!.lng * k * pts[j]!.lat
  if (Math.abs(area) < 1e-9) p.push(`${base}/shape/points: the polygon has no area`)
  const seg = (i: number) => [pts[i]!, pts[(i + 1) % pts.length]!] as const
  const cross = (a: { lat: number; lng: number }, b: { lat: number; lng: number }, c: { lat: number; lng: number }) =>
    (b.lng - a.lng) * (c.lat - a.lat) - (b.lat - a.lat) * (c.lng - a.lng)
  outer: for (let i = 0; i < pts.length; i++) {
    for (let j = i + 2; j < pts.length; j++) {
      if (i === 0 && j === pts.length - 1) continue // adjacent through the closing edge
      const [a, b] = seg(i)
      const [c, d] = seg(j)
      if (cross(a, b, c) * cross(a, b, d) < 0 && cross(c, d, a) * cross(c, d, b) < 0) {
        p.push(`${base}/shape/points: edges ${i} and ${j} cross (the polygon must not intersect itself)`)
        break outer
      }
    }
  }
  return p
}

// ── time in the store's zone ─────────────────────────────────────────────────────────────────

export interface LocalTime {
  /** YYYY-MM-DD */
  date: string
  /** 0 = Sunday */
  weekday: number
  /** Minutes since local midnight. */
  minutes: number
}

const formatters = new Map<string, Intl.DateTimeFormat>()
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']

/** The last answer per time zone: a rule set asks about the same minute many times per event. */
const lastMinute = new Map<string, { minute: number; t: LocalTime }>()

export function localTime(ts: number, timeZone: string): LocalTime {
  // Zone offsets are whole minutes, so every ts within one UTC minute has the same local minute.
  const minute = Math.floor(ts / 60_000)
  const hit = lastMinute.get(timeZone)
  if (hit && hit.minute === minute) return { ...hit.t }
  const t = formatLocal(ts, timeZone)
  lastMinute.set(timeZone, { minute, t })
  return { ...t }
}

/**
 * The daily period containing ts for a reset at local `resetAt` ('HH:MM'): the local date, or the day
 * before while the local time is earlier than resetAt. A change of key is a reset. Reading the local
 * clock (not subtracting HH:MM as a duration) keeps the reset at resetAt on the days clocks change: a
 * skipped reset time fires at the first instant after it, a repeated hour resets once. Undefined when
 * resetAt is not 'HH:MM' (resets off). Keys compare as strings.
 */
export function resetPeriodKey(ts: number, timeZone: string, resetAt: string): string | undefined {
  const m = /^(\d\d):(\d\d)$/.exec(resetAt)
  if (!m) return undefined
  const t = localTime(ts, timeZone)
  if (t.minutes >= Number(m[1]) * 60 + Number(m[2])) return t.date
  const [y, mo, d] = t.date.split('-').map(Number) as [number, number, number]
  return new Date(Date.UTC(y, mo - 1, d - 1)).toISOString().slice(0, 10)
}

function formatLocal(ts: number, timeZone: string): LocalTime {
  let f = formatters.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short', hour: '2-digit', minute: '2-digit' })
    formatters.set(timeZone, f)
  }
  const parts: Record<string, string> = {}
  for (const x of f.formatToParts(ts)) parts[x.type] = x.value
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    weekday: WEEKDAYS.indexOf(parts.weekday!),
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
  }
}

/** Is minute m in [start, end), where end ≤ start wraps past midnight. */
function inWindow(m: number, start: number, end: number): boolean {
  return start < end ? m >= start && m < end : m >= start || m < end
}

export type ScheduleVerdict = { ok: true } | { ok: false; reason: 'date' | 'weekday' | 'hours' | 'quiet-hours' }

export function scheduleAllows(s: Schedule, ts: number, timeZone: string): ScheduleVerdict {
  const t = localTime(ts, timeZone)
  if ((s.from && t.date < s.from) || (s.until && t.date > s.until)) return { ok: false, reason: 'date' }
  if (s.days && !s.days.includes(t.weekday)) return { ok: false, reason: 'weekday' }
  if ((s.start || s.end) && !inWindow(t.minutes, minutesOf(s.start ?? '00:00'), s.end ? minutesOf(s.end) : 24 * 60)) return { ok: false, reason: 'hours' }
  if (s.quietHours?.some((q) => inWindow(t.minutes, minutesOf(q.start), minutesOf(q.end)))) return { ok: false, reason: 'quiet-hours' }
  return { ok: true }
}

// ── audience and event ───────────────────────────────────────────────────────────────────────

/** What is known of the member's history at this store when the event happens. */
export interface VisitHistory {
  /** Visits recorded before the current one. */
  previousVisits: number
  /** End of the previous visit, if any. */
  previousVisitAt?: number
}

export type AudienceVerdict = { ok: true } | { ok: false; reason: 'not-member' | 'tier' | 'tags' | 'not-first-visit' | 'not-lapsed' }

export function audienceAllows(a: Audience, member: Member | undefined, history: VisitHistory, now: number): AudienceVerdict {
  if (!member) return a.membersOnly === false ? { ok: true } : { ok: false, reason: 'not-member' }
  if (a.tiers && !a.tiers.includes(member.tier)) return { ok: false, reason: 'tier' }
  if (a.tagsAny && !a.tagsAny.some((t) => member.tags.includes(t))) return { ok: false, reason: 'tags' }
  if (a.tagsAll && !a.tagsAll.every((t) => member.tags.includes(t))) return { ok: false, reason: 'tags' }
  if (a.firstVisit && history.previousVisits > 0) return { ok: false, reason: 'not-first-visit' }
  if (a.lapsedDays) {
    // Never visited counts as lapsed only when we know of no visit at all: a first visit is not a lapse.
    if (history.previousVisitAt === undefined || now - history.previousVisitAt < a.lapsedDays * 86_400_000) return { ok: false, reason: 'not-lapsed' }
  }
  return { ok: true }
}

export type EventVerdict = { ok: true } | { ok: false; reason: 'disabled' | 'store' | 'type' | 'zone' | 'source' | 'dwell' | 'visit-zones' }

/**
 * Does a geofence event match the campaign's trigger part (type, zone, source, dwell, visit)?
 * `visitZones` is the set of zones the subject reached during the current visit.
 */
export function eventMatches(c: Campaign, e: Pick<GeofenceEvent, 'type' | 'zone' | 'source' | 'dwellS' | 'storeId'>, visitZones: ReadonlySet<string>): EventVerdict {
  if (!c.enabled) return { ok: false, reason: 'disabled' }
  if (!c.stores.includes('*') && !c.stores.includes(e.storeId)) return { ok: false, reason: 'store' }
  if (c.event !== e.type) return { ok: false, reason: 'type' }
  if (!c.zones.includes(e.zone)) return { ok: false, reason: 'zone' }
  if (c.sources && !c.sources.includes(e.source)) return { ok: false, reason: 'source' }
  if (c.event === 'dwell' && (e.dwellS ?? 0) < (c.dwellS ?? 0)) return { ok: false, reason: 'dwell' }
  if (c.event === 'exit' && c.dwellS && (e.dwellS ?? 0) < c.dwellS) return { ok: false, reason: 'dwell' }
  if (c.visitZones && !c.visitZones.some((z) => visitZones.has(z))) return { ok: false, reason: 'visit-zones' }
  return { ok: true }
}

// ── deterministic ids ────────────────────────────────────────────────────────────────────────

const sha = (...parts: Array<string | number>) => createHash('sha256').update(parts.join('\u001f')).digest('hex')

/** A geofence event's id: the same stay gives the same id, so a replay is recognised. */
export const geofenceEventId = (storeId: string, subject: string, zone: string, type: string, enteredAt: number, dwellS?: number) =>
  sha('geofence', storeId, subject, zone, type, enteredAt, type === 'dwell' ? (dwellS ?? 0) : '').slice(0, 32)

/** The idempotency key of a coupon request: one per (store, campaign, member, triggering event). */
export const couponKey = (storeId: string, campaignId: string, memberRef: string, eventId: string) =>
  sha('coupon', storeId, campaignId, memberRef, eventId).slice(0, 40)

/** Deterministic holdout: the same member is in or out of a campaign's holdout on every edge, every time. */
export function inHoldout(campaignId: string, memberRef: string, holdoutPct: number): boolean {
  if (holdoutPct <= 0) return false
  const bucket = parseInt(sha('holdout', campaignId, memberRef).slice(0, 8), 16) / 0x1_0000_0000
  return bucket * 100 < holdoutPct
}
