import { randomUUID } from 'node:crypto'
import { isRole, type Principal, type Role } from '../auth/roles.ts'
import { randomToken, sha256Hex } from '../auth/password.ts'
import { isUuid, toMs, type Queryable } from './db.ts'
import { assertStoreScope } from './stores.repo.ts'

/** Machine API tokens (BI exports, scripts). The secret is shown once; only its sha256 is stored. */
export const API_TOKEN_PREFIX = 'set'

/** last_used_at is informational: write it at most this often per token, not on every request. */
const LAST_USED_RESOLUTION_MS = 60_000

export interface ApiToken {
  id: string
  name: string
  role: Role
  stores: string[]
  createdBy: string
  createdAt: number
  lastUsedAt: number | null
  revokedAt: number | null
}

interface TokenRow {
  id: string
  name: string
  role: string
  stores: string[]
  created_by: string
  created_at: Date
  last_used_at: Date | null
  revoked_at: Date | null
}

const COLUMNS = 'id, name, role, stores, created_by, created_at, last_used_at, revoked_at'

function toToken(r: TokenRow): ApiToken {
  if (!isRole(r.role)) throw new Error(`api token ${r.id} has an unknown role ${JSON.stringify(r.role)}`)
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    stores: r.stores,
    createdBy: r.created_by,
    createdAt: toMs(r.created_at) as number,
    lastUsedAt: toMs(r.last_used_at),
    revokedAt: toMs(r.revoked_at),
  }
}

export class TokensRepo {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => number = Date.now,
  ) {}

  async create(input: { name: string; role: Role; stores: string[]; createdBy: string }): Promise<{ id: string; token: string }> {
    if (typeof input.name !== 'string' || input.name.trim() === '' || input.name.length > 100) throw new Error('token name must be 1–100 characters')
    if (!isRole(input.role)) throw new Error(`invalid role ${JSON.stringify(input.role)}: expected ops, marketing, security or admin`)
    assertStoreScope(input.stores)
    if (typeof input.createdBy !== 'string' || input.createdBy === '') throw new Error('createdBy is required')
    const id = randomUUID()
    const token = randomToken(API_TOKEN_PREFIX)
    await this.db.query(
      `insert into api_tokens (id, name, token_hash, role, stores, created_by, created_at)
       values ($1, $2, $3, $4, $5::text[], $6, $7)`,
      [id, input.name, sha256Hex(token), input.role, input.stores, input.createdBy, new Date(this.now())],
    )
    return { id, token }
  }

  /** The token's principal; undefined when unknown or revoked. */
  async resolve(token: string): Promise<Principal | undefined> {
    if (typeof token !== 'string' || !token.startsWith(`${API_TOKEN_PREFIX}_`)) return undefined
    const rows = await this.db.query<TokenRow>(`select ${COLUMNS} from api_tokens where token_hash = $1 and revoked_at is null`, [
      sha256Hex(token),
    ])
    const r = rows[0]
    if (!r || !isRole(r.role)) return undefined
    const now = this.now()
    const last = toMs(r.last_used_at)
    if (last === null || now - last >= LAST_USED_RESOLUTION_MS) {
      // The condition repeats in SQL so replicas racing on one token write once.
      await this.db.query('update api_tokens set last_used_at = $2 where id = $1 and (last_used_at is null or last_used_at <= $3)', [
        r.id,
        new Date(now),
        new Date(now - LAST_USED_RESOLUTION_MS),
      ])
    }
    return { kind: 'token', id: r.id, name: r.name, role: r.role, stores: r.stores }
  }

  /** Every token, revoked ones included (for the admin page), newest first. */
  async list(): Promise<ApiToken[]> {
    return (await this.db.query<TokenRow>(`select ${COLUMNS} from api_tokens order by created_at desc, id`)).map(toToken)
  }

  async get(id: string): Promise<ApiToken | undefined> {
    if (!isUuid(id)) return undefined
    const rows = await this.db.query<TokenRow>(`select ${COLUMNS} from api_tokens where id = $1`, [id])
    return rows[0] && toToken(rows[0])
  }

  /** Returns false when the token is unknown or already revoked. */
  async revoke(id: string): Promise<boolean> {
    if (!isUuid(id)) return false
    const rows = await this.db.query('update api_tokens set revoked_at = $2 where id = $1 and revoked_at is null returning id', [
      id,
      new Date(this.now()),
    ])
    return rows.length === 1
  }
}
