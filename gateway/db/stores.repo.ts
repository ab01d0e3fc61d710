import { pgErrorCode, toMs, type Queryable } from './db.ts'

export interface Store {
  id: string
  name: string
  timezone: string
  createdAt: number
  lastSeenAt: number | null
  layout: unknown | null
  /** Where the store is (the marketing map centres on it); null until set. */
  location: { lat: number; lng: number } | null
}

interface StoreRow {
  id: string
  name: string
  timezone: string
  created_at: Date
  last_seen_at: Date | null
  layout: unknown | null
  location: { lat: number; lng: number } | null
}

/** Store ids are the {storeId} level of uplink topics: the edge config's pattern, bounded. */
export const STORE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/

export function assertStoreId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !STORE_ID_PATTERN.test(id)) {
    throw new Error(`invalid store id ${JSON.stringify(id)}: expected ${STORE_ID_PATTERN.source}`)
  }
}

/** A principal's store scope: a non-empty list of store ids, or exactly ['*'] for every store. */
export function assertStoreScope(stores: unknown): asserts stores is string[] {
  if (!Array.isArray(stores) || stores.length === 0) throw new Error('stores must be a non-empty array of store ids, or ["*"]')
  if (stores.includes('*')) {
    if (stores.length !== 1) throw new Error('stores: "*" means every store and cannot be combined with store ids')
    return
  }
  for (const s of stores) assertStoreId(s)
}

function assertTimezone(tz: unknown): asserts tz is string {
  try {
    if (typeof tz !== 'string' || tz === '') throw new Error()
    new Intl.DateTimeFormat('en', { timeZone: tz })
  } catch {
    throw new Error(`invalid timezone ${JSON.stringify(tz)}: expected an IANA zone such as Europe/Berlin`)
  }
}

function assertName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.trim() === '' || name.length > 200) throw new Error('store name must be 1–200 characters')
}

const COLUMNS = 'id, name, timezone, created_at, last_seen_at, layout, location'

function assertLocation(l: unknown): asserts l is { lat: number; lng: number } | null {
  if (l === null) return
  const { lat, lng } = (l ?? {}) as { lat?: unknown; lng?: unknown }
  if (typeof lat !== 'number' || typeof lng !== 'number' || !(lat >= -90 && lat <= 90) || !(lng >= -180 && lng <= 180)) {
    throw new Error('location must be { lat: -90..90, lng: -180..180 } or null')
  }
}

const toStore = (r: StoreRow): Store => ({
  id: r.id,
  name: r.name,
  timezone: r.timezone,
  createdAt: toMs(r.created_at) as number,
  lastSeenAt: toMs(r.last_seen_at),
  layout: r.layout ?? null,
  location: r.location ?? null,
})

export class StoresRepo {
  constructor(private readonly db: Queryable) {}

  /**
   * Registers a store seen for the first time (name = id). Safe when several replicas see the same
   * new store at once: on conflict do nothing lets exactly one insert win. Returns true for that one.
   */
  async ensure(id: string): Promise<boolean> {
    assertStoreId(id)
    const rows = await this.db.query('insert into stores (id, name) values ($1, $1) on conflict (id) do nothing returning id', [id])
    return rows.length === 1
  }

  async create(input: { id: string; name: string; timezone?: string }): Promise<Store> {
    assertStoreId(input.id)
    assertName(input.name)
    const timezone = input.timezone ?? 'UTC'
    assertTimezone(timezone)
    try {
      const rows = await this.db.query<StoreRow>(
        `insert into stores (id, name, timezone) values ($1, $2, $3) returning ${COLUMNS}`,
        [input.id, input.name, timezone],
      )
      return toStore(rows[0] as StoreRow)
    } catch (err) {
      if (pgErrorCode(err) === '23505') throw new Error(`store ${input.id} already exists`, { cause: err })
      throw err
    }
  }

  /** `location: null` clears the location; an absent field is left as it is. */
  async update(id: string, patch: { name?: string; timezone?: string; location?: { lat: number; lng: number } | null }): Promise<Store | undefined> {
    if (patch.name !== undefined) assertName(patch.name)
    if (patch.timezone !== undefined) assertTimezone(patch.timezone)
    if (patch.location !== undefined) assertLocation(patch.location)
    const rows = await this.db.query<StoreRow>(
      `update stores set name = coalesce($2, name), timezone = coalesce($3, timezone),
         location = case when $4::boolean then $5::jsonb else location end, updated_at = now()
       where id = $1 returning ${COLUMNS}`,
      [id, patch.name ?? null, patch.timezone ?? null, patch.location !== undefined, patch.location ? JSON.stringify({ lat: patch.location.lat, lng: patch.location.lng }) : null],
    )
    return rows[0] && toStore(rows[0])
  }

  async get(id: string): Promise<Store | undefined> {
    const rows = await this.db.query<StoreRow>(`select ${COLUMNS} from stores where id = $1`, [id])
    return rows[0] && toStore(rows[0])
  }

  async list(): Promise<Store[]> {
    return (await this.db.query<StoreRow>(`select ${COLUMNS} from stores order by id`)).map(toStore)
  }

  /** Batch heartbeat from uplinks; only moves last_seen_at forward (late messages do not rewind it). Returns rows changed. */
  async touchSeen(ids: string[], ts: number): Promise<number> {
    if (ids.length === 0) return 0
    const rows = await this.db.query(
      `update stores set last_seen_at = $2
       where id = any($1::text[]) and (last_seen_at is null or last_seen_at < $2) returning id`,
      [ids, new Date(ts)],
    )
    return rows.length
  }

  /** Stores the zone layout; null clears it. Returns false for an unknown store. */
  async setLayout(id: string, layout: unknown): Promise<boolean> {
    const rows = await this.db.query(
      'update stores set layout = $2::jsonb, updated_at = now() where id = $1 returning id',
      [id, layout === null || layout === undefined ? null : JSON.stringify(layout)],
    )
    return rows.length === 1
  }
}
