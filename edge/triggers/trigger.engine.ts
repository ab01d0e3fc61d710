import {
  audienceAllows,
  couponKey,
  eventMatches,
  inHoldout,
  localTime,
  scheduleAllows,
  type Campaign,
  type CouponRequest,
  type GeofenceEvent,
  type TriggersConfigPayload,
  type VisitHistory,
} from '../contracts/index.ts'
import { MemberIndex } from '../geofence/member-index.ts'
import type { VisitView } from '../geofence/geofence.engine.ts'

/**
 * Campaign rules evaluated at the edge: a geofence event in, coupon requests out. The rule
 * semantics are rules.ts (shared with central's validation and preview); this adds what only a
 * live evaluator has: the visit the event belongs to, the member's visit history as this edge saw
 * it since the last members sync, an in-memory record of what it already requested (caps,
 * cooldown, duplicates), and mutual exclusion between campaigns of one group.
 *
 * Central's ledger is authoritative for caps and budget (it sees every edge and survives
 * restarts); the edge applies caps only to avoid requests the ledger would refuse. Budget is not
 * known here and is left to the ledger.
 *
 * Pure: `now` is an argument.
 */

export type SuppressReason =
  | 'not-member'
  | 'dwell'
  | 'visit-zones'
  | 'late'
  | 'date'
  | 'weekday'
  | 'hours'
  | 'quiet-hours'
  | 'tier'
  | 'tags'
  | 'not-first-visit'
  | 'not-lapsed'
  | 'cap-day'
  | 'cap-week'
  | 'cap-campaign'
  | 'cooldown'
  | 'exclusive-group'
  | 'duplicate'

export interface TriggerResult {
  requests: CouponRequest[]
  suppressed: Array<{ campaignId: string; reason: SuppressReason }>
}

export interface TriggerEngineOptions {
  storeId: string
  timeZone: string
  /** Requests (campaign, member, event) remembered to drop a replayed event (bounded). */
  maxKeys?: number
}

interface Fired {
  at: number
  localDay: string
}

interface MemberMemory {
  /** Per campaign: requests in the last 7 days (caps per day / week, cooldown). */
  recent: Map<string, Fired[]>
  /** Per campaign: requests since this edge started (perMemberPerCampaign). */
  total: Map<string, number>
  /** Per exclusive group: last request (the group shares the cooldown). */
  groupLast: Map<string, number>
  /** Visits seen by this edge: start → end (or last event so far). */
  visits: Map<number, number>
  /** The history as it stood when a visit began, kept for every event of that visit. */
  frozen?: { startedAt: number; history: VisitHistory }
}

const WEEK_MS = 7 * 86_400_000

/** Dwell thresholds the geofence engine must fire, per zone: the enabled dwell campaigns of this store. */
export function dwellThresholdsOf(campaigns: readonly Campaign[], storeId: string): Array<{ zone: string; dwellS: number }> {
  const out: Array<{ zone: string; dwellS: number }> = []
  for (const c of campaigns) {
    if (!c.enabled || c.event !== 'dwell' || !c.dwellS) continue
    if (!c.stores.includes('*') && !c.stores.includes(storeId)) continue
    for (const zone of c.zones) out.push({ zone, dwellS: c.dwellS })
  }
  return out
}

export class TriggerEngine {
  private campaigns: Campaign[] = []
  private members = new MemberIndex()
  private readonly memory = new Map<string, MemberMemory>()
  private readonly keys = new Set<string>()
  private readonly maxKeys: number

  constructor(private readonly o: TriggerEngineOptions) {
    this.maxKeys = o.maxKeys ?? 100_000
  }

  get campaignCount(): number {
    return this.campaigns.length
  }

  setTriggers(p: Pick<TriggersConfigPayload, 'campaigns'>): void {
    // Only what this store runs; priority order (ties by id) makes exclusion and output stable.
    this.campaigns = p.campaigns
      .filter((c) => c.stores.includes('*') || c.stores.includes(this.o.storeId))
      .sort((a, b) => b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  /**
   * A new members sync. Central records a visit from its stays' exits, so a visit this edge saw
   * that began before the member's `lastVisitAt` is in central's count (`visits`) now; later ones
   * stay counted here until a sync includes them.
   */
  setMembers(index: MemberIndex): void {
    this.members = index
    for (const [ref, mem] of this.memory) {
      const last = index.byRef(ref)?.lastVisitAt
      if (last === undefined) continue
      for (const start of mem.visits.keys()) if (start <= last) mem.visits.delete(start)
    }
  }

  evaluate(e: GeofenceEvent, visit: VisitView | undefined, now: number): TriggerResult {
    const res: TriggerResult = { requests: [], suppressed: [] }
    if (this.campaigns.length === 0) return res
    const visitZones = visit?.zones ?? new Set<string>()
    const ref = e.memberRef
    const mem = ref ? this.memoryOf(ref) : undefined
    if (mem && visit) {
      mem.visits.set(visit.startedAt, Math.max(mem.visits.get(visit.startedAt) ?? 0, visit.endedAt ?? e.ts))
      this.history(ref!, mem, visit) // fixed at the visit's first event
    }

    const candidates: Campaign[] = []
    for (const c of this.campaigns) {
      const m = eventMatches(c, e, visitZones)
      if (!m.ok) {
        // Only a near miss is a suppression; another zone or event type is simply not this campaign's.
        if (m.reason === 'dwell' || m.reason === 'visit-zones') res.suppressed.push({ campaignId: c.id, reason: m.reason })
        continue
      }
      if (!ref) {
        res.suppressed.push({ campaignId: c.id, reason: 'not-member' }) // nobody to push a coupon to
        continue
      }
      if (now - e.ts > c.lateAfterS * 1000) {
        res.suppressed.push({ campaignId: c.id, reason: 'late' })
        continue
      }
      const sched = scheduleAllows(c.schedule, now, this.o.timeZone)
      if (!sched.ok) {
        res.suppressed.push({ campaignId: c.id, reason: sched.reason })
        continue
      }
      const aud = audienceAllows(c.audience, this.members.byRef(ref), this.history(ref, mem!, visit), e.ts)
      if (!aud.ok) {
        res.suppressed.push({ campaignId: c.id, reason: aud.reason })
        continue
      }
      // What the idempotency key hashes, unhashed: cheaper to remember and to look up.
      if (this.keys.has(`${c.id}\u001f${ref}\u001f${e.id}`)) {
        res.suppressed.push({ campaignId: c.id, reason: 'duplicate' })
        continue
      }
      const cap = this.capReason(c, mem!, now)
      if (cap) {
        res.suppressed.push({ campaignId: c.id, reason: cap })
        continue
      }
      candidates.push(c)
    }

    // One campaign per exclusive group per event: the first eligible in priority order wins.
    const groups = new Set<string>()
    const day = localTime(now, this.o.timeZone).date
    for (const c of candidates) {
      if (c.exclusiveGroup) {
        if (groups.has(c.exclusiveGroup)) {
          res.suppressed.push({ campaignId: c.id, reason: 'exclusive-group' })
          continue
        }
        groups.add(c.exclusiveGroup)
      }
      const req: CouponRequest = {
        v: 1,
        key: couponKey(this.o.storeId, c.id, ref!, e.id),
        storeId: this.o.storeId,
        campaignId: c.id,
        campaignVersion: c.version,
        memberRef: ref!,
        event: { id: e.id, type: e.type, zone: e.zone, source: e.source, ts: e.ts },
        firedAt: now,
        localDay: day,
        holdout: inHoldout(c.id, ref!, c.holdoutPct),
        priority: c.priority,
      }
      if (c.exclusiveGroup) req.exclusiveGroup = c.exclusiveGroup
      this.remember(c, mem!, req, now)
      res.requests.push(req)
    }
    return res
  }

  private memoryOf(ref: string): MemberMemory {
    let m = this.memory.get(ref)
    if (!m) {
      m = { recent: new Map(), total: new Map(), groupLast: new Map(), visits: new Map() }
      this.memory.set(ref, m)
    }
    return m
  }

  /**
   * Visits before the current one: central's count at the last sync plus those this edge saw since.
   * Fixed when the visit begins: a sync during the visit may already count it (central records a
   * visit at its first exit), which must not turn a first visit into a second one halfway through.
   */
  private history(ref: string, mem: MemberMemory, visit: VisitView | undefined): VisitHistory {
    if (visit && mem.frozen?.startedAt === visit.startedAt) return mem.frozen.history
    const h = this.currentHistory(ref, mem, visit)
    if (visit) mem.frozen = { startedAt: visit.startedAt, history: h }
    return h
  }

  private currentHistory(ref: string, mem: MemberMemory, visit: VisitView | undefined): VisitHistory {
    const member = this.members.byRef(ref)
    let previousVisits = member?.visits ?? 0
    let previousVisitAt = member?.lastVisitAt
    for (const [start, end] of mem.visits) {
      if (visit && start >= visit.startedAt) continue // the current visit (or, impossibly, a later one)
      previousVisits++
      previousVisitAt = Math.max(previousVisitAt ?? 0, end)
    }
    return previousVisitAt === undefined ? { previousVisits } : { previousVisits, previousVisitAt }
  }

  private capReason(c: Campaign, mem: MemberMemory, now: number): SuppressReason | undefined {
    const caps = c.caps
    const recent = (mem.recent.get(c.id) ?? []).filter((f) => now - f.at < WEEK_MS)
    if (caps.perMemberPerCampaign && (mem.total.get(c.id) ?? 0) >= caps.perMemberPerCampaign) return 'cap-campaign'
    if (caps.perMemberPerWeek && recent.length >= caps.perMemberPerWeek) return 'cap-week'
    if (caps.perMemberPerDay) {
      const day = localTime(now, this.o.timeZone).date
      if (recent.filter((f) => f.localDay === day).length >= caps.perMemberPerDay) return 'cap-day'
    }
    if (caps.cooldownS) {
      const last = c.exclusiveGroup ? mem.groupLast.get(c.exclusiveGroup) : recent.at(-1)?.at
      if (last !== undefined && now - last < caps.cooldownS * 1000) return 'cooldown'
    }
    return undefined
  }

  private remember(c: Campaign, mem: MemberMemory, req: CouponRequest, now: number): void {
    const recent = (mem.recent.get(c.id) ?? []).filter((f) => now - f.at < WEEK_MS)
    recent.push({ at: now, localDay: req.localDay })
    mem.recent.set(c.id, recent)
    mem.total.set(c.id, (mem.total.get(c.id) ?? 0) + 1)
    if (c.exclusiveGroup) mem.groupLast.set(c.exclusiveGroup, now)
    this.keys.add(`${c.id}\u001f${req.memberRef}\u001f${req.event.id}`)
    if (this.keys.size > this.maxKeys) this.keys.delete(this.keys.values().next().value!)
  }
}
