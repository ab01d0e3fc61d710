import { pgErrorCode, toMs, type Queryable } from '../db/index.ts'

export type PushTarget = { provider: 'webhook' | 'wechat'; openId?: string }

/** A member as the API shows and takes it; plates and beacon ids already normalised. */
export interface MemberInput {
  ref: string
  displayName: string
  tier: number
  tags: string[]
  plates: string[]
  beaconIds: string[]
  push: PushTarget
  optedIn: boolean
}

export interface MemberRecord extends MemberInput {
  createdAt: number
  updatedAt: number
}

/** An identity (plate or beacon) that belongs to another member. */
export class IdentityTaken extends Error {
  constructor(
    readonly kind: 'plate' | 'beacon',
    readonly value: string,
  ) {
    super(`${kind} ${value} is registered to another member`)
  }
}

interface Row {
  ref: string
  display_name: string
  tier: number
  tags: string[]
  opted_in: boolean
  push: PushTarget
  created_at: Date
  updated_at: Date
  plates: string[]
  beacons: string[]
}

const SELECT = `select m.ref, m.display_name, m.tier, m.tags, m.opted_in, m.push, m.created_at, m.updated_at,
  array(select p.plate from member_plates p where p.member_ref = m.ref order by p.plate) as plates,
  array(select b.beacon_id from member_beacons b where b.member_ref = m.ref order by b.beacon_id) as beacons
  from members m`

const toRecord = (r: Row): MemberRecord => ({
  ref: r.ref,
  displayName: r.display_name,
  tier: r.tier,
  tags: r.tags,
  // Sorted here, not by the database's collation, so both engines agree.
  plates: [...r.plates].sort(),
  beaconIds: [...r.beacons].sort(),
  push: r.push,
  optedIn: r.opted_in,
  createdAt: toMs(r.created_at)!,
  updatedAt: toMs(r.updated_at)!,
})

/**
 * Opted-in members with their registered plates and app beacons. A plate or beacon belongs to one
 * member at most (primary keys), so a registration that would move one is refused, not silent.
 */
/** $1…$7 of the insert and the update: ref, display name, tier, tags, opted in, push, now. */
const memberParams = (m: MemberInput, now: number) => [m.ref, m.displayName, m.tier, m.tags, m.optedIn, JSON.stringify(m.push), new Date(now)]

export class MembersRepo {
  constructor(private readonly q: Queryable) {}

  /** `search` matches the ref or the name (substring, case-insensitive), or a plate exactly (normalised by the caller). */
  async list(o: { search?: string; plate?: string; limit: number; offset: number }): Promise<{ members: MemberRecord[]; total: number }> {
    const params: unknown[] = []
    let where = ''
    if (o.search) {
      params.push(`%${o.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`, o.plate ?? '')
      where = `where m.ref ilike $1 or m.display_name ilike $1 or exists (select 1 from member_plates p where p.member_ref = m.ref and p.plate = $2)`
    }
    const total = Number((await this.q.query<{ n: number }>(`select count(*)::int as n from members m ${where}`, params))[0]!.n)
    const rows = await this.q.query<Row>(`${SELECT} ${where} order by m.ref limit $${params.length + 1} offset $${params.length + 2}`, [...params, o.limit, o.offset])
    return { members: rows.map(toRecord), total }
  }

  async get(ref: string): Promise<MemberRecord | undefined> {
    const rows = await this.q.query<Row>(`${SELECT} where m.ref = $1`, [ref])
    return rows[0] && toRecord(rows[0])
  }

  /** Throws 'already exists' for a taken ref, IdentityTaken for a plate or beacon of another member. */
  async create(m: MemberInput, now: number): Promise<MemberRecord> {
    try {
      await this.q.query('insert into members (ref, display_name, tier, tags, opted_in, push, created_at, updated_at) values ($1, $2, $3, $4, $5, $6::jsonb, $7, $7)', memberParams(m, now))
    } catch (err) {
      if (pgErrorCode(err) === '23505') throw new Error(`member ${m.ref} already exists`, { cause: err })
      throw err
    }
    await this.setIdentities(m)
    return (await this.get(m.ref))!
  }

  /** Replaces a member's record and identities; undefined when unknown. Returns it before and after. */
  async update(m: MemberInput, now: number): Promise<{ before: MemberRecord; after: MemberRecord } | undefined> {
    const before = await this.get(m.ref)
    if (!before) return undefined
    await this.q.query('update members set display_name = $2, tier = $3, tags = $4, opted_in = $5, push = $6::jsonb, updated_at = $7 where ref = $1', memberParams(m, now))
    // Opting out ends recognition by face too: the face goes (the edges drop it with this change's push).
    if (!m.optedIn) await this.q.query('delete from member_faces where member_ref = $1', [m.ref])
    await this.setIdentities(m)
    return { before, after: (await this.get(m.ref))! }
  }

  /** Deletes a member with their plates, beacons and visits (forgotten). Returns what was deleted. */
  async remove(ref: string): Promise<MemberRecord | undefined> {
    const before = await this.get(ref)
    if (!before) return undefined
    await this.q.query('delete from members where ref = $1', [ref])
    return before
  }

  private async setIdentities(m: MemberInput): Promise<void> {
    await this.q.query('delete from member_plates where member_ref = $1 and not (plate = any($2::text[]))', [m.ref, m.plates])
    await this.q.query('delete from member_beacons where member_ref = $1 and not (beacon_id = any($2::text[]))', [m.ref, m.beaconIds])
    for (const plate of m.plates) {
      const rows = await this.q.query<{ member_ref: string }>(
        `insert into member_plates (plate, member_ref) values ($1, $2) on conflict (plate) do update set plate = excluded.plate
         where member_plates.member_ref = excluded.member_ref returning member_ref`,
        [plate, m.ref],
      )
      if (rows.length === 0) throw new IdentityTaken('plate', plate)
    }
    for (const beacon of m.beaconIds) {
      const rows = await this.q.query<{ member_ref: string }>(
        `insert into member_beacons (beacon_id, member_ref) values ($1, $2) on conflict (beacon_id) do update set beacon_id = excluded.beacon_id
         where member_beacons.member_ref = excluded.member_ref returning member_ref`,
        [beacon, m.ref],
      )
      if (rows.length === 0) throw new IdentityTaken('beacon', beacon)
    }
  }
}
