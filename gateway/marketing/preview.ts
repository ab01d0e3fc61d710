import { CARPARK_ZONE, audienceAllows, eventMatches, inHoldout, localTime, scheduleAllows, type Campaign, type GeofenceEvent, type Member } from '../../edge/contracts/index.ts'

/**
 * "Who would this rule have matched in the last N days": the campaign replayed over the geofence
 * events the edges sent, with the same rule semantics the edges use (rules.ts), the store's time
 * zone, the members as they are now and caps simulated in memory. Pure: the caller feeds events in
 * time order and supplies members, visit history and time zones.
 *
 * Approximations, because only the present is stored: a member's tier and tags are today's; the
 * visit history at an event is today's recorded visits minus the visits the replay sees after it;
 * a visit (for `visitZones`, first visit and lapsed days) is a run of one subject's events at one
 * store's indoor zones and car park (trade-area events belong to no visit): it ends with a car-park
 * exit, or when the subject has been in no zone for VISIT_GAP_MS (or has not been heard of for
 * STALE_VISIT_MS, an exit having been lost). Other campaigns' exclusion
 * groups are not simulated (the preview is of one rule).
 */

/** As the edge's geofence engine (`geofence.visitGapS` default): in no store zone this long ends the visit. */
export const VISIT_GAP_MS = 30 * 60_000
export const STALE_VISIT_MS = 12 * 3_600_000
/** Matches listed at most (all are counted). */
export const MAX_LISTED_MATCHES = 5_000

export type PreviewEvent = Pick<GeofenceEvent, 'id' | 'storeId' | 'type' | 'zone' | 'source' | 'ts' | 'enteredAt' | 'dwellS'> & {
  /** Absent: indoor. */
  zoneKind?: GeofenceEvent['zoneKind']
  subject: string
  memberRef: string | null
}

export interface PreviewMatch {
  storeId: string
  memberRef: string
  eventId: string
  type: GeofenceEvent['type']
  zone: string
  source: GeofenceEvent['source']
  ts: number
  holdout: boolean
}

export interface PreviewResult {
  from: number
  to: number
  events: number
  matches: PreviewMatch[]
  /** Matches found in all (matches lists at most MAX_LISTED_MATCHES). */
  matched: number
  truncated: boolean
  members: number
  suppressed: Record<string, number>
}

export interface PreviewInputs {
  from: number
  to: number
  timeZone(storeId: string): string
  /** Opted-in members by ref. */
  members: ReadonlyMap<string, Member>
  /** Recorded visits per `${ref}\u0000${storeId}` (today's values). */
  visits: ReadonlyMap<string, { visits: number; lastVisitAt?: number }>
}

interface VisitState {
  /** Zones reached during the visit. */
  zones: Set<string>
  /** Zones the subject is in now (entered or dwelling, not yet left). */
  open: Set<string>
  lastTs: number
}

/** Splits one subject's events at one store into visits: zones reached so far, and visit ends. */
class Visits {
  private readonly state = new Map<string, VisitState>()
  /** Visit end times per key, in order (for member history). */
  readonly ends = new Map<string, number[]>()

  /** The zones reached during the visit this event belongs to (this event's zone included). */
  see(key: string, e: PreviewEvent): ReadonlySet<string> {
    let s = this.state.get(key)
    if (e.zoneKind === 'trade-area') return s?.zones ?? new Set()
    const gap = s ? e.ts - s.lastTs : 0
    if (s && ((s.open.size === 0 && gap > VISIT_GAP_MS) || gap > STALE_VISIT_MS)) {
      this.end(key, s.lastTs)
      s = undefined
    }
    if (!s) {
      s = { zones: new Set(), open: new Set(), lastTs: e.ts }
      this.state.set(key, s)
    }
    s.zones.add(e.zone)
    if (e.type === 'exit') s.open.delete(e.zone)
    else s.open.add(e.zone)
    s.lastTs = e.ts
    return s.zones
  }

  /** After the event was evaluated: a car-park exit ends the visit. */
  after(key: string, e: PreviewEvent): void {
    if (e.zone === CARPARK_ZONE && e.type === 'exit') {
      this.end(key, e.ts)
      this.state.delete(key)
    }
  }

  /** Visits still open at the end of the window that have gone quiet count as ended. */
  close(to: number): void {
    for (const [key, s] of this.state) if ((s.open.size === 0 && to - s.lastTs > VISIT_GAP_MS) || to - s.lastTs > STALE_VISIT_MS) this.end(key, s.lastTs)
    this.state.clear()
  }

  private end(key: string, ts: number): void {
    const list = this.ends.get(key)
    if (list) list.push(ts)
    else this.ends.set(key, [ts])
  }
}

export class PreviewReplay {
  private readonly campaign: Campaign
  private scanned = 0
  private readonly anonymous = new Visits()
  private readonly memberEvents: PreviewEvent[] = []

  constructor(
    campaign: Campaign,
    private readonly inputs: PreviewInputs,
  ) {
    // A preview shows what the rule would do: a paused campaign is previewed as if enabled.
    this.campaign = { ...campaign, enabled: true }
  }

  private readonly suppressed: Record<string, number> = {}
  private suppress(reason: string): void {
    this.suppressed[reason] = (this.suppressed[reason] ?? 0) + 1
  }

  /** Feed events in time order. Members' events are kept for the replay; others are judged at once. */
  feed(e: PreviewEvent): void {
    this.scanned++
    const member = e.memberRef ? this.inputs.members.get(e.memberRef) : undefined
    if (member) {
      this.memberEvents.push(e)
      return
    }
    // Not a (opted-in) member: nobody to push a coupon to, whatever the audience says.
    const key = `${e.storeId}\u0000${e.subject}`
    const zones = this.anonymous.see(key, e)
    if (eventMatches(this.campaign, e, zones).ok) this.suppress(this.campaign.audience.membersOnly === false ? 'anonymous' : 'not-member')
    this.anonymous.after(key, e)
  }

  result(): PreviewResult {
    const c = this.campaign
    const { from, to } = this.inputs
    // Pass 1: the members' visits, to know the history at each event.
    const pass1 = new Visits()
    for (const e of this.memberEvents) {
      const key = `${e.memberRef}\u0000${e.storeId}`
      pass1.see(key, e)
      pass1.after(key, e)
    }
    pass1.close(to)

    // Pass 2: the rule, event by event, with caps in memory.
    const visits = new Visits()
    const fired = new Map<string, { days: Map<string, number>; times: number[] }>()
    const firedStays = new Set<string>()
    let budgetUsed = 0
    const matches: PreviewMatch[] = []
    let matched = 0
    const members = new Set<string>()
    for (const e of this.memberEvents) {
      const ref = e.memberRef!
      const key = `${ref}\u0000${e.storeId}`
      const zones = visits.see(key, e)
      const verdict = this.judge(e, ref, zones, pass1.ends.get(key) ?? [], visits.ends.get(key) ?? [], fired, firedStays, budgetUsed)
      visits.after(key, e)
      if (verdict === 'no-match') continue
      if (verdict !== 'match') {
        this.suppress(verdict)
        continue
      }
      budgetUsed++
      matched++
      members.add(ref)
      const mine = fired.get(ref) ?? { days: new Map<string, number>(), times: [] as number[] }
      fired.set(ref, mine)
      const day = localTime(e.ts, this.inputs.timeZone(e.storeId)).date
      mine.days.set(day, (mine.days.get(day) ?? 0) + 1)
      mine.times.push(e.ts)
      if (c.event === 'dwell') firedStays.add(`${key}\u0000${e.zone}\u0000${e.enteredAt}`)
      if (matches.length < MAX_LISTED_MATCHES) {
        matches.push({ storeId: e.storeId, memberRef: ref, eventId: e.id, type: e.type, zone: e.zone, source: e.source, ts: e.ts, holdout: inHoldout(c.id, ref, c.holdoutPct) })
      }
    }
    return { from, to, events: this.scanned, matches, matched, truncated: matched > matches.length, members: members.size, suppressed: this.suppressed }
  }

  private judge(
    e: PreviewEvent,
    ref: string,
    zones: ReadonlySet<string>,
    allEnds: number[],
    endsSoFar: number[],
    fired: Map<string, { days: Map<string, number>; times: number[] }>,
    firedStays: Set<string>,
    budgetUsed: number,
  ): string {
    const c = this.campaign
    if (!eventMatches(c, e, zones).ok) return 'no-match'
    // One dwell coupon per stay: the edge fires when the stay reaches dwellS, not at every dwell report.
    if (c.event === 'dwell' && firedStays.has(`${ref}\u0000${e.storeId}\u0000${e.zone}\u0000${e.enteredAt}`)) return 'no-match'
    const tz = this.inputs.timeZone(e.storeId)
    const sched = scheduleAllows(c.schedule, e.ts, tz)
    if (!sched.ok) return sched.reason
    const recorded = this.inputs.visits.get(`${ref}\u0000${e.storeId}`)
    const before = endsSoFar.filter((t) => t < e.ts)
    const previousVisits = Math.max(0, (recorded?.visits ?? 0) - allEnds.length) + before.length
    const previousVisitAt = before.length ? before.at(-1) : recorded?.lastVisitAt !== undefined && recorded.lastVisitAt < this.inputs.from ? recorded.lastVisitAt : undefined
    const aud = audienceAllows(c.audience, this.inputs.members.get(ref), { previousVisits, previousVisitAt }, e.ts)
    if (!aud.ok) return aud.reason
    const caps = c.caps
    const mine = fired.get(ref)
    if (caps.budget !== undefined && budgetUsed >= caps.budget) return 'budget'
    if (mine) {
      const day = localTime(e.ts, tz).date
      if (caps.perMemberPerDay !== undefined && (mine.days.get(day) ?? 0) >= caps.perMemberPerDay) return 'cap-day'
      if (caps.perMemberPerWeek !== undefined && mine.times.filter((t) => e.ts - t < 7 * 86_400_000).length >= caps.perMemberPerWeek) return 'cap-week'
      if (caps.perMemberPerCampaign !== undefined && mine.times.length >= caps.perMemberPerCampaign) return 'cap-campaign'
      if (caps.cooldownS !== undefined && e.ts - mine.times.at(-1)! < caps.cooldownS * 1000) return 'cooldown'
    }
    return 'match'
  }
}
