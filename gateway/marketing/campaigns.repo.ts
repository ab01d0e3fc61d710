import type { Campaign } from '../../edge/contracts/index.ts'
import { pgErrorCode, toMs, type Queryable } from '../db/index.ts'

export interface CampaignRecord {
  campaign: Campaign
  archived: boolean
  createdAt: number
  updatedAt: number
}

export interface CampaignVersionInfo {
  version: number
  createdBy: string
  createdAt: number
}

interface Row {
  body: Campaign
  archived: boolean
  created_at: Date
  updated_at: Date
}

const toRecord = (r: Row): CampaignRecord => ({ campaign: r.body, archived: r.archived, createdAt: toMs(r.created_at)!, updatedAt: toMs(r.updated_at)! })

/** Thrown by update() when the editor's version is not the current one. */
export class VersionConflict extends Error {
  constructor(
    readonly id: string,
    readonly expected: number,
    readonly current: number,
  ) {
    super(`campaign ${id} is at version ${current}, you edited version ${expected}: reload it and apply your change again`)
  }
}

/**
 * Campaigns and their immutable versions. Every save inserts a campaign_versions row and moves
 * campaigns.current_version in the caller's transaction; an update names the version it was
 * based on and fails when another save came first (optimistic concurrency). Archived campaigns
 * keep every row: the ledger needs the versions its coupons name.
 */
export class CampaignsRepo {
  constructor(private readonly q: Queryable) {}

  async list(): Promise<CampaignRecord[]> {
    return (await this.q.query<Row>('select body, archived, created_at, updated_at from campaigns order by archived, id')).map(toRecord)
  }

  async get(id: string): Promise<CampaignRecord | undefined> {
    const rows = await this.q.query<Row>('select body, archived, created_at, updated_at from campaigns where id = $1', [id])
    return rows[0] && toRecord(rows[0])
  }

  async versions(id: string): Promise<CampaignVersionInfo[]> {
    const rows = await this.q.query<{ version: number; created_by: string; created_at: Date }>(
      'select version, created_by, created_at from campaign_versions where campaign_id = $1 order by version desc',
      [id],
    )
    return rows.map((r) => ({ version: r.version, createdBy: r.created_by, createdAt: toMs(r.created_at)! }))
  }

  async getVersion(id: string, version: number): Promise<Campaign | undefined> {
    const rows = await this.q.query<{ body: Campaign }>('select body from campaign_versions where campaign_id = $1 and version = $2', [id, version])
    return rows[0]?.body
  }

  /** Version 1 of a new campaign; throws 'already exists' when the id is taken (archived or not). */
  async insert(c: Campaign, by: string, now: number): Promise<Campaign> {
    const body: Campaign = { ...c, version: 1 }
    try {
      await this.q.query('insert into campaigns (id, name, current_version, body, created_at, updated_at) values ($1, $2, 1, $3::jsonb, $4, $4)', [c.id, c.name, JSON.stringify(body), new Date(now)])
    } catch (err) {
      if (pgErrorCode(err) === '23505') throw new Error(`campaign ${c.id} already exists`, { cause: err })
      throw err
    }
    await this.insertVersion(body, by, now)
    return body
  }

  /**
   * Saves `c` as version c.version + 1 if c.version is still the current one. Returns the saved
   * campaign and the one it replaced; undefined when there is no such campaign; throws
   * VersionConflict when another save came first.
   */
  async update(c: Campaign, by: string, now: number): Promise<{ saved: Campaign; before: Campaign } | undefined> {
    const current = (await this.q.query<{ body: Campaign; current_version: number; archived: boolean }>('select body, current_version, archived from campaigns where id = $1 for update', [c.id]))[0]
    if (!current) return undefined
    if (current.archived) throw new Error(`campaign ${c.id} is archived`)
    if (current.current_version !== c.version) throw new VersionConflict(c.id, c.version, current.current_version)
    const saved: Campaign = { ...c, version: c.version + 1 }
    // The where clause repeats the check: correct even without the row lock above.
    const rows = await this.q.query(
      'update campaigns set name = $2, current_version = $3, body = $4::jsonb, updated_at = $5 where id = $1 and current_version = $6 returning id',
      [c.id, c.name, saved.version, JSON.stringify(saved), new Date(now), c.version],
    )
    if (rows.length !== 1) throw new VersionConflict(c.id, c.version, current.current_version + 1)
    await this.insertVersion(saved, by, now)
    return { saved, before: current.body }
  }

  /** Archives (no longer pushed to edges, kept for the ledger). Returns the campaign, or undefined if unknown. */
  async archive(id: string, now: number): Promise<{ campaign: Campaign; wasArchived: boolean } | undefined> {
    const rows = await this.q.query<{ body: Campaign; archived: boolean }>('select body, archived from campaigns where id = $1 for update', [id])
    if (!rows[0]) return undefined
    if (!rows[0].archived) await this.q.query('update campaigns set archived = true, updated_at = $2 where id = $1', [id, new Date(now)])
    return { campaign: rows[0].body, wasArchived: rows[0].archived }
  }

  /** Live (not archived) campaigns that name one of these zones (in zones or visitZones). */
  async naming(zone: string): Promise<Campaign[]> {
    const all = await this.q.query<{ body: Campaign }>('select body from campaigns where not archived order by id')
    return all.map((r) => r.body).filter((c) => c.zones.includes(zone) || c.visitZones?.includes(zone))
  }

  private async insertVersion(c: Campaign, by: string, now: number): Promise<void> {
    await this.q.query('insert into campaign_versions (campaign_id, version, body, created_by, created_at) values ($1, $2, $3::jsonb, $4, $5)', [c.id, c.version, JSON.stringify(c), by, new Date(now)])
  }
}
