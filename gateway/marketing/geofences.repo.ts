import type { Geofence } from '../../edge/contracts/index.ts'
import type { Queryable } from '../db/index.ts'

export interface GeofenceRecord {
  storeId: string
  geofence: Geofence
  version: number
}

/**
 * Trade-area geofences of the stores. Ids are global (they are zone ids in events and rules);
 * deletion is soft, so events and coupons that name an old geofence stay readable, and an id can
 * be drawn again later (the row comes back with a higher version).
 */
export class GeofencesRepo {
  constructor(private readonly q: Queryable) {}

  async listByStore(storeId: string): Promise<Geofence[]> {
    return (await this.q.query<{ body: Geofence }>('select body from geofences where store_id = $1 and not deleted order by id', [storeId])).map((r) => r.body)
  }

  /** Every live geofence with its store (location forwarding). */
  async listAll(): Promise<GeofenceRecord[]> {
    const rows = await this.q.query<{ store_id: string; body: Geofence; version: number }>('select store_id, body, version from geofences where not deleted order by store_id, id')
    return rows.map((r) => ({ storeId: r.store_id, geofence: r.body, version: r.version }))
  }

  /** Live geofence ids per store, for the stores given. */
  async idsByStore(storeIds: readonly string[]): Promise<Map<string, string[]>> {
    const rows = await this.q.query<{ store_id: string; id: string }>('select store_id, id from geofences where not deleted and store_id = any($1::text[]) order by id', [storeIds])
    const out = new Map<string, string[]>()
    for (const r of rows) out.set(r.store_id, [...(out.get(r.store_id) ?? []), r.id])
    return out
  }

  async get(id: string): Promise<GeofenceRecord | undefined> {
    const r = (await this.q.query<{ store_id: string; body: Geofence; version: number }>('select store_id, body, version from geofences where id = $1 and not deleted', [id]))[0]
    return r && { storeId: r.store_id, geofence: r.body, version: r.version }
  }

  /**
   * A new geofence (or one drawn again under a deleted id). Throws 'already exists' when the id is
   * live, in this store or another.
   */
  async create(storeId: string, g: Geofence, now: number): Promise<GeofenceRecord> {
    const rows = await this.q.query<{ version: number }>(
      `insert into geofences (id, store_id, body, created_at, updated_at) values ($1, $2, $3::jsonb, $4, $4)
       on conflict (id) do update set store_id = excluded.store_id, body = excluded.body, version = geofences.version + 1,
         deleted = false, updated_at = excluded.updated_at
       where geofences.deleted
       returning version`,
      [g.id, storeId, JSON.stringify(g), new Date(now)],
    )
    if (!rows[0]) throw new Error(`geofence ${g.id} already exists`)
    return { storeId, geofence: g, version: rows[0].version }
  }

  /** Replaces a live geofence of the store; undefined when there is none. Returns it before and after. */
  async update(storeId: string, g: Geofence, now: number): Promise<{ before: Geofence; after: GeofenceRecord } | undefined> {
    const before = (await this.q.query<{ body: Geofence }>('select body from geofences where id = $1 and store_id = $2 and not deleted for update', [g.id, storeId]))[0]
    if (!before) return undefined
    const rows = await this.q.query<{ version: number }>('update geofences set body = $3::jsonb, version = version + 1, updated_at = $4 where id = $1 and store_id = $2 returning version', [
      g.id,
      storeId,
      JSON.stringify(g),
      new Date(now),
    ])
    return { before: before.body, after: { storeId, geofence: g, version: rows[0]!.version } }
  }

  /** Soft delete; returns the geofence removed, or undefined. */
  async remove(storeId: string, id: string, now: number): Promise<Geofence | undefined> {
    const rows = await this.q.query<{ body: Geofence }>('update geofences set deleted = true, updated_at = $3 where id = $1 and store_id = $2 and not deleted returning body', [id, storeId, new Date(now)])
    return rows[0]?.body
  }
}
