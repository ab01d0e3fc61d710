import { toMs, type Db, type Queryable } from '../db/index.ts'
import type { Logger } from '../core/logger.ts'
import { attachFaces } from './member-faces.repo.ts'
import type { Campaign, Geofence, Member, MembersConfigPayload, TriggersConfigPayload } from '../../edge/contracts/index.ts'

export type MarketingPart = 'triggers' | 'members'
export type PublishConfig = (storeId: string, part: MarketingPart, payload: unknown) => Promise<void>

const PUBLISH_TIMEOUT_MS = 5_000
const RETRY_MS = 5_000
/** Stores published to at once (each holds a database connection while its publish is acknowledged). */
const CONCURRENCY = 4
/** Members' visit counts change with every visit: their config is refreshed this often. */
export const MEMBERS_REFRESH_MS = 6 * 3_600_000

/**
 * The next version of a store's config part, inside the transaction of the change that needs it:
 * version + 1, but never below the clock in seconds, so a rebuilt database still sends versions an
 * edge (which ignores equal or lower ones) accepts. Returns the new version per store.
 */
export async function bumpConfigVersions(q: Queryable, storeIds: readonly string[], part: MarketingPart, nowMs: number): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  // Sorted: two transactions bumping overlapping stores lock the rows in the same order (no deadlock).
  for (const id of [...new Set(storeIds)].sort()) {
    const rows = await q.query<{ version: number }>(
      `insert into config_pushes (store_id, part, version) values ($1, $2, $3)
       on conflict (store_id, part) do update set version = greatest(config_pushes.version + 1, $3)
       returning version`,
      [id, part, Math.floor(nowMs / 1000)],
    )
    out.set(id, Number(rows[0]!.version))
  }
  return out
}

/**
 * Builds and publishes the retained `config/triggers` and `config/members` of a store.
 *
 * Ordering: the change's transaction bumps the version; after it commits, publish() locks the
 * store's config_pushes row, reads the version and the state as they are now and publishes them
 * while holding the lock. Publishers of one store and part run one at a time, each after the
 * changes it follows have committed, so the retained message the broker keeps is always the newest
 * state, under the newest version, whatever order replicas and requests finish in.
 *
 * A publish that fails (broker unreachable) is retried every few seconds until it goes out.
 */
export class ConfigPublisher {
  private readonly dirty = new Set<string>()
  private timer?: NodeJS.Timeout
  private refreshTimer?: NodeJS.Timeout
  private retrying?: Promise<void>

  constructor(
    private readonly db: Db,
    private readonly publish: PublishConfig,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.retry(), RETRY_MS)
    this.timer.unref()
    this.refreshTimer = setInterval(() => void this.refreshMembers().catch((err) => this.log.warn({ err }, 'members refresh failed')), MEMBERS_REFRESH_MS)
    this.refreshTimer.unref()
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    if (this.refreshTimer) clearInterval(this.refreshTimer)
    this.timer = this.refreshTimer = undefined
    await this.retrying
  }

  /** Store/part pairs waiting for a retry. */
  get pending(): string[] {
    return [...this.dirty]
  }

  async triggersPayload(q: Queryable, storeId: string, version: number): Promise<TriggersConfigPayload> {
    const geofences = await q.query<{ body: Geofence }>('select body from geofences where store_id = $1 and not deleted order by id', [storeId])
    const campaigns = await q.query<{ body: Campaign }>('select body from campaigns where not archived order by id')
    return {
      v: 1,
      version,
      geofences: geofences.map((r) => r.body),
      campaigns: campaigns.map((r) => r.body).filter((c) => c.stores.includes('*') || c.stores.includes(storeId)),
    }
  }

  async membersPayload(q: Queryable, storeId: string, version: number): Promise<MembersConfigPayload> {
    const rows = await q.query<{ ref: string; tier: number; tags: string[]; plates: string[]; beacons: string[]; visits: number | null; last_visit_at: Date | null }>(
      `select m.ref, m.tier, m.tags,
              array(select p.plate from member_plates p where p.member_ref = m.ref order by p.plate) as plates,
              array(select b.beacon_id from member_beacons b where b.member_ref = m.ref order by b.beacon_id) as beacons,
              v.visits, v.last_visit_at
       from members m left join member_visits v on v.member_ref = m.ref and v.store_id = $1
       where m.opted_in order by m.ref`,
      [storeId],
    )
    const members = rows.map((r): Member => {
      const m: Member = { ref: r.ref, tier: r.tier, tags: r.tags, beaconIds: [...r.beacons].sort(), plates: [...r.plates].sort(), visits: r.visits ?? 0 }
      const last = toMs(r.last_visit_at)
      if (last !== null) m.lastVisitAt = last
      return m
    })
    await attachFaces(q, members)
    return { v: 1, version, members }
  }

  /** Publishes the current state of one part to one store; returns the version sent. Throws when it cannot. */
  async publishOne(storeId: string, part: MarketingPart): Promise<number> {
    const version = await this.db.tx(async (q) => {
      let row = (await q.query<{ version: number }>('select version from config_pushes where store_id = $1 and part = $2 for update', [storeId, part]))[0]
      // First push to a store that never had one (first seen): start its versions.
      if (!row) row = { version: (await bumpConfigVersions(q, [storeId], part, this.now())).get(storeId)! }
      const v = Number(row.version)
      const payload = part === 'triggers' ? await this.triggersPayload(q, storeId, v) : await this.membersPayload(q, storeId, v)
      await withTimeout(this.publish(storeId, part, payload), PUBLISH_TIMEOUT_MS, `publishing ${part} to ${storeId}`)
      await q.query('update config_pushes set pushed_at = $3 where store_id = $1 and part = $2', [storeId, part, new Date(this.now())])
      return v
    })
    this.dirty.delete(`${storeId}\u0000${part}`)
    return version
  }

  /** Publishes to each store; failures are logged and retried later, never thrown. */
  async publishMany(storeIds: Iterable<string>, part: MarketingPart): Promise<{ published: Map<string, number>; failed: string[] }> {
    const published = new Map<string, number>()
    const failed: string[] = []
    const queue = [...new Set(storeIds)]
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          published.set(id, await this.publishOne(id, part))
        } catch (err) {
          failed.push(id)
          this.dirty.add(`${id}\u0000${part}`)
          this.log.warn({ err, store: id, part }, 'could not publish config; will retry')
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, queue.length) }, worker))
    return { published, failed }
  }

  /** Every store's members config (after a member change). */
  async publishMembersEverywhere(): Promise<{ published: Map<string, number>; failed: string[] }> {
    const stores = await this.db.query<{ id: string }>('select id from stores order by id')
    return this.publishMany(stores.map((s) => s.id), 'members')
  }

  /** New versions of every store's members config (visit counts move without a member change). */
  async refreshMembers(): Promise<void> {
    const stores = (await this.db.query<{ id: string }>('select id from stores order by id')).map((s) => s.id)
    await this.db.tx((q) => bumpConfigVersions(q, stores, 'members', this.now()))
    await this.publishMany(stores, 'members')
  }

  /** A store seen for the first time by this replica: make sure it has both parts. */
  async storeSeen(storeId: string): Promise<void> {
    await this.publishMany([storeId], 'triggers')
    await this.publishMany([storeId], 'members')
  }

  private async retry(): Promise<void> {
    if (this.retrying || this.dirty.size === 0) return
    const run = async () => {
      for (const key of [...this.dirty]) {
        const [storeId, part] = key.split('\u0000') as [string, MarketingPart]
        try {
          await this.publishOne(storeId, part)
        } catch {
          // Still failing: the next round tries again (publishMany logged the first failure).
        }
      }
    }
    this.retrying = run().finally(() => (this.retrying = undefined))
    await this.retrying
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)))
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}
