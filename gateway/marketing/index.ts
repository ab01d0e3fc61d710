import { CARPARK_ZONE, shapeSignedDistanceM, type Campaign, type Geofence, type LocationFix, type Member } from '../../edge/contracts/index.ts'
import type { Logger } from '../core/logger.ts'
import type { Db, Queryable } from '../db/index.ts'
import { toMs } from '../db/index.ts'
import { CampaignsRepo } from './campaigns.repo.ts'
import { ConfigPublisher, bumpConfigVersions, type PublishConfig } from './config.publisher.ts'
import { GeofencesRepo, type GeofenceRecord } from './geofences.repo.ts'
import { MembersRepo, type MemberInput, type MemberRecord } from './members.repo.ts'
import { MemberFacesRepo, type FaceInput, type FaceSummary } from './member-faces.repo.ts'
import { PreviewReplay, type PreviewEvent, type PreviewResult } from './preview.ts'
import type { RuleTargets } from './validate.ts'

export * from './campaigns.repo.ts'
export * from './config.publisher.ts'
export * from './geofences.repo.ts'
export * from './members.repo.ts'
export * from './member-faces.repo.ts'
export * from './preview.ts'
export * from './validate.ts'

/** Location fixes are forwarded to stores with a trade-area geofence this close. */
export const FORWARD_RADIUS_M = 20_000
const GEOFENCE_CACHE_MS = 10_000
const PREVIEW_SLICE_MS = 3_600_000
/** Events a preview scans at most (a month of a large chain); beyond it the result says truncated. */
export const PREVIEW_MAX_EVENTS = 2_000_000

export type ZoneKind = 'indoor' | 'carpark' | 'trade-area'

/**
 * The marketing side of central: campaigns (versioned), trade-area geofences and members, each
 * change made in one transaction that also moves the config version of every store it affects,
 * then published to those stores as retained config (config.publisher.ts).
 */
export class Marketing {
  readonly campaigns: CampaignsRepo
  readonly geofences: GeofencesRepo
  readonly members: MembersRepo
  readonly faces: MemberFacesRepo
  readonly publisher: ConfigPublisher
  private geofenceCache?: { at: number; list: GeofenceRecord[] }

  constructor(
    private readonly db: Db,
    publish: PublishConfig,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.campaigns = new CampaignsRepo(db)
    this.geofences = new GeofencesRepo(db)
    this.members = new MembersRepo(db)
    this.faces = new MemberFacesRepo(db)
    this.publisher = new ConfigPublisher(db, publish, log, now)
  }

  start(): void {
    this.publisher.start()
  }

  async stop(): Promise<void> {
    await this.publisher.stop()
  }

  // ── what rules can name ──────────────────────────────────────────────────────────────────────

  private async storeRows(): Promise<Array<{ id: string; timezone: string; layout: { zones?: Array<{ id: string; name?: string }> } | null }>> {
    return this.db.query('select id, timezone, layout from stores order by id')
  }

  /** Stores and the zones of each (layout, live zones from `liveZones`, geofences). */
  async ruleTargets(liveZones: (storeId: string) => readonly string[] = () => []): Promise<RuleTargets> {
    const stores = await this.storeRows()
    const fences = await this.geofences.idsByStore(stores.map((s) => s.id))
    const zones = new Map<string, Set<string>>()
    for (const s of stores) zones.set(s.id, new Set([...(s.layout?.zones ?? []).map((z) => z.id), ...liveZones(s.id), ...(fences.get(s.id) ?? [])]))
    return { stores: new Set(zones.keys()), zones: (id) => zones.get(id) ?? new Set() }
  }

  /** What a rule for this store can name, with kinds (the zone picker); undefined for an unknown store. */
  async storeTargets(storeId: string, liveZones: readonly string[] = []): Promise<Array<{ id: string; name: string; kind: ZoneKind }> | undefined> {
    const s = (await this.db.query<{ layout: { zones?: Array<{ id: string; name?: string }> } | null }>('select layout from stores where id = $1', [storeId]))[0]
    if (!s) return undefined
    const out = new Map<string, { id: string; name: string; kind: ZoneKind }>()
    for (const z of s.layout?.zones ?? []) out.set(z.id, { id: z.id, name: z.name ?? z.id, kind: 'indoor' })
    for (const z of liveZones) if (!out.has(z)) out.set(z, { id: z, name: z, kind: 'indoor' })
    out.set(CARPARK_ZONE, { id: CARPARK_ZONE, name: 'Car park', kind: 'carpark' })
    for (const g of await this.geofences.listByStore(storeId)) out.set(g.id, { id: g.id, name: g.name, kind: 'trade-area' })
    return [...out.values()]
  }

  /** Layout zone ids of a store (a geofence id must not clash with them). */
  async layoutZones(storeId: string): Promise<Set<string> | undefined> {
    const s = (await this.db.query<{ layout: { zones?: Array<{ id: string }> } | null }>('select layout from stores where id = $1', [storeId]))[0]
    return s && new Set((s.layout?.zones ?? []).map((z) => z.id))
  }

  /** Store ids a campaign is pushed to ('*': every store there is). */
  async storesOf(...campaigns: Array<Pick<Campaign, 'stores'> | undefined>): Promise<string[]> {
    const named = new Set<string>()
    let all = false
    for (const c of campaigns) {
      if (!c) continue
      if (c.stores.includes('*')) all = true
      else for (const s of c.stores) named.add(s)
    }
    if (all) return (await this.db.query<{ id: string }>('select id from stores order by id')).map((r) => r.id)
    return [...named].sort()
  }

  // ── campaigns ────────────────────────────────────────────────────────────────────────────────

  async createCampaign(c: Campaign, by: string): Promise<{ campaign: Campaign; versions: Map<string, number> }> {
    const stores = await this.storesOf(c)
    const { campaign, versions } = await this.db.tx(async (q) => {
      const campaign = await new CampaignsRepo(q).insert(c, by, this.now())
      return { campaign, versions: await bumpConfigVersions(q, stores, 'triggers', this.now()) }
    })
    await this.publisher.publishMany(stores, 'triggers')
    return { campaign, versions }
  }

  /** Undefined when there is no such campaign; throws VersionConflict when c.version is stale. */
  async updateCampaign(c: Campaign, by: string): Promise<{ campaign: Campaign; before: Campaign } | undefined> {
    const existing = await this.campaigns.get(c.id)
    if (!existing) return undefined
    const stores = await this.storesOf(c, existing.campaign)
    const r = await this.db.tx(async (q) => {
      const saved = await new CampaignsRepo(q).update(c, by, this.now())
      if (saved) await bumpConfigVersions(q, stores, 'triggers', this.now())
      return saved
    })
    if (!r) return undefined
    await this.publisher.publishMany(stores, 'triggers')
    return { campaign: r.saved, before: r.before }
  }

  async archiveCampaign(id: string): Promise<{ campaign: Campaign; wasArchived: boolean } | undefined> {
    const existing = await this.campaigns.get(id)
    if (!existing) return undefined
    const stores = await this.storesOf(existing.campaign)
    const r = await this.db.tx(async (q) => {
      const a = await new CampaignsRepo(q).archive(id, this.now())
      if (a && !a.wasArchived) await bumpConfigVersions(q, stores, 'triggers', this.now())
      return a
    })
    if (r && !r.wasArchived) await this.publisher.publishMany(stores, 'triggers')
    return r
  }

  // ── geofences ────────────────────────────────────────────────────────────────────────────────

  private async geofenceChange<T>(storeId: string, fn: (repo: GeofencesRepo) => Promise<T>): Promise<T> {
    const r = await this.db.tx(async (q) => {
      const out = await fn(new GeofencesRepo(q))
      if (out !== undefined) await bumpConfigVersions(q, [storeId], 'triggers', this.now())
      return out
    })
    this.geofenceCache = undefined
    if (r !== undefined) await this.publisher.publishMany([storeId], 'triggers')
    return r
  }

  createGeofence(storeId: string, g: Geofence): Promise<GeofenceRecord> {
    return this.geofenceChange(storeId, (repo) => repo.create(storeId, g, this.now()))
  }

  updateGeofence(storeId: string, g: Geofence): Promise<{ before: Geofence; after: GeofenceRecord } | undefined> {
    return this.geofenceChange(storeId, (repo) => repo.update(storeId, g, this.now()))
  }

  removeGeofence(storeId: string, id: string): Promise<Geofence | undefined> {
    return this.geofenceChange(storeId, (repo) => repo.remove(storeId, id, this.now()))
  }

  /** Stores with a live trade-area geofence within `radiusM` of any of the fixes. */
  async storesNear(fixes: readonly LocationFix[], radiusM = FORWARD_RADIUS_M): Promise<string[]> {
    if (!this.geofenceCache || this.now() - this.geofenceCache.at > GEOFENCE_CACHE_MS) this.geofenceCache = { at: this.now(), list: await this.geofences.listAll() }
    const out = new Set<string>()
    for (const g of this.geofenceCache.list) {
      if (out.has(g.storeId)) continue
      if (fixes.some((f) => shapeSignedDistanceM(g.geofence.shape, f) <= radiusM)) out.add(g.storeId)
    }
    return [...out].sort()
  }

  // ── members ──────────────────────────────────────────────────────────────────────────────────

  private async memberChange<T>(fn: (repo: MembersRepo, q: Queryable) => Promise<T>): Promise<T> {
    const stores = (await this.db.query<{ id: string }>('select id from stores order by id')).map((r) => r.id)
    const r = await this.db.tx(async (q) => {
      const out = await fn(new MembersRepo(q), q)
      if (out !== undefined) await bumpConfigVersions(q, stores, 'members', this.now())
      return out
    })
    if (r !== undefined) await this.publisher.publishMany(stores, 'members')
    return r
  }

  createMember(m: MemberInput): Promise<MemberRecord> {
    return this.memberChange((repo) => repo.create(m, this.now()))
  }

  updateMember(m: MemberInput): Promise<{ before: MemberRecord; after: MemberRecord } | undefined> {
    return this.memberChange((repo) => repo.update(m, this.now()))
  }

  removeMember(ref: string): Promise<MemberRecord | undefined> {
    return this.memberChange((repo) => repo.remove(ref))
  }

  /** Enrols or replaces a member's face (checked); every store gets it at once. Throws FaceEnrolRefused. */
  enrolFace(ref: string, face: FaceInput, dims: number, by: string): Promise<FaceSummary> {
    return this.memberChange((_repo, q) => new MemberFacesRepo(q).enrol(ref, face, dims, by, this.now()))
  }

  /** Revokes a member's face: every store gets a members config without it at once. Undefined when none. */
  revokeFace(ref: string): Promise<FaceSummary | undefined> {
    return this.memberChange((_repo, q) => new MemberFacesRepo(q).revoke(ref))
  }

  // ── preview ──────────────────────────────────────────────────────────────────────────────────

  /** Replays the campaign over the geofence events of `storeIds` in [now − days, now]. */
  async preview(c: Campaign, days: number, storeIds: readonly string[]): Promise<PreviewResult & { scanLimited: boolean }> {
    const to = this.now()
    const from = to - days * 86_400_000
    const zones = new Map((await this.storeRows()).map((s) => [s.id, s.timezone]))
    const memberRows = await this.db.query<{ ref: string; tier: number; tags: string[] }>('select ref, tier, tags from members where opted_in')
    const members = new Map<string, Member>(memberRows.map((m) => [m.ref, { ref: m.ref, tier: m.tier, tags: m.tags, beaconIds: [], plates: [], visits: 0 }]))
    const visitRows = await this.db.query<{ member_ref: string; store_id: string; visits: number; last_visit_at: Date | null }>(
      'select member_ref, store_id, visits, last_visit_at from member_visits where store_id = any($1::text[])',
      [storeIds],
    )
    const visits = new Map(visitRows.map((v) => [`${v.member_ref}\u0000${v.store_id}`, { visits: v.visits, lastVisitAt: toMs(v.last_visit_at) ?? undefined }]))
    const replay = new PreviewReplay(c, { from, to, timeZone: (id) => zones.get(id) ?? 'UTC', members, visits })
    // Only what the rule can use: events of its type and zones, plus, where visits matter (zones
    // reached during the visit, visit history), the members' other events (and everyone's for visit zones).
    const visitsMatter = !!c.audience.firstVisit || !!c.audience.lapsedDays
    const filter = c.visitZones ? '' : visitsMatter ? 'and (member_ref is not null or (type = $4 and zone = any($5::text[])))' : 'and type = $4 and zone = any($5::text[])'
    const params = (a: number, b: number) => (filter ? [storeIds, new Date(a), new Date(b), c.event, c.zones] : [storeIds, new Date(a), new Date(b)])
    let scanned = 0
    let scanLimited = false
    // Hour by hour: each slice is an index range scan on (store_id, ts), sorted in memory.
    for (let a = from; a <= to && !scanLimited; a += PREVIEW_SLICE_MS) {
      const b = Math.min(a + PREVIEW_SLICE_MS, to + 1)
      const rows = await this.db.query<{ id: string; store_id: string; type: PreviewEvent['type']; zone: string; zone_kind: PreviewEvent['zoneKind']; source: PreviewEvent['source']; subject: string; member_ref: string | null; ts: Date; entered_at: Date; dwell_s: number | null }>(
        `select id, store_id, type, zone, zone_kind, source, subject, member_ref, ts, entered_at, dwell_s from geofence_events
         where store_id = any($1::text[]) and ts >= $2 and ts < $3 ${filter} order by ts, id`,
        params(a, b),
      )
      for (const r of rows) {
        replay.feed({ id: r.id, storeId: r.store_id, type: r.type, zone: r.zone, zoneKind: r.zone_kind, source: r.source, subject: r.subject, memberRef: r.member_ref, ts: toMs(r.ts)!, enteredAt: toMs(r.entered_at)!, dwellS: r.dwell_s ?? undefined })
      }
      scanned += rows.length
      if (scanned >= PREVIEW_MAX_EVENTS) {
        scanLimited = true
        this.log.warn({ campaign: c.id, scanned }, 'preview stopped at its event limit')
      }
    }
    // `events` is every event of these stores in the window, read or skipped by the filter above.
    const total = filter ? Number((await this.db.query<{ n: number }>('select count(*)::int as n from geofence_events where store_id = any($1::text[]) and ts >= $2 and ts <= $3', [storeIds, new Date(from), new Date(to)]))[0]!.n) : scanned
    return { ...replay.result(), events: total, scanLimited }
  }
}
