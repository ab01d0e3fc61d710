import { randomUUID } from 'node:crypto'
import { isRole, type Role } from '../auth/roles.ts'
import { dummyVerify, hashPassword, verifyPassword } from '../auth/password.ts'
import { isUuid, pgErrorCode, toMs, type Queryable } from './db.ts'
import { assertStoreScope } from './stores.repo.ts'

/** A dashboard user. The password hash never leaves this file. */
export interface User {
  id: string
  username: string
  displayName: string
  role: Role
  stores: string[]
  disabled: boolean
  createdAt: number
}

export interface NewUser {
  username: string
  displayName: string
  password: string
  role: Role
  stores: string[]
}

export interface UserPatch {
  displayName?: string
  role?: Role
  stores?: string[]
  disabled?: boolean
  password?: string
}

interface UserRow {
  id: string
  username: string
  display_name: string
  role: string
  stores: string[]
  disabled: boolean
  created_at: Date
}

export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{1,63}$/
export const MIN_PASSWORD_LENGTH = 8
// scrypt input beyond this is pointless and an easy CPU sink for a hostile login form.
const MAX_PASSWORD_LENGTH = 1024

const COLUMNS = 'id, username, display_name, role, stores, disabled, created_at'

function toUser(r: UserRow): User {
  if (!isRole(r.role)) throw new Error(`user ${r.username} has an unknown role ${JSON.stringify(r.role)}`)
  return {
    id: r.id,
    username: r.username,
    displayName: r.display_name,
    role: r.role,
    stores: r.stores,
    disabled: r.disabled,
    createdAt: toMs(r.created_at) as number,
  }
}

function assertPassword(p: unknown): asserts p is string {
  if (typeof p !== 'string' || p.length < MIN_PASSWORD_LENGTH) throw new Error(`password must be at least ${MIN_PASSWORD_LENGTH} characters`)
  if (p.length > MAX_PASSWORD_LENGTH) throw new Error(`password must be at most ${MAX_PASSWORD_LENGTH} characters`)
}

function assertDisplayName(n: unknown): asserts n is string {
  if (typeof n !== 'string' || n.trim() === '' || n.length > 200) throw new Error('display name must be 1–200 characters')
}

function assertRole(r: unknown): asserts r is Role {
  if (!isRole(r)) throw new Error(`invalid role ${JSON.stringify(r)}: expected ops, marketing, security or admin`)
}

export class UsersRepo {
  constructor(private readonly db: Queryable) {}

  async create(input: NewUser): Promise<User> {
    if (typeof input.username !== 'string' || !USERNAME_PATTERN.test(input.username)) {
      throw new Error(`invalid username ${JSON.stringify(input.username)}: 2–64 of a-z 0-9 . _ -, starting with a letter or digit`)
    }
    assertDisplayName(input.displayName)
    assertPassword(input.password)
    assertRole(input.role)
    assertStoreScope(input.stores)
    const hash = await hashPassword(input.password)
    try {
      const rows = await this.db.query<UserRow>(
        `insert into users (id, username, display_name, password_hash, role, stores)
         values ($1, $2, $3, $4, $5, $6::text[]) returning ${COLUMNS}`,
        [randomUUID(), input.username, input.displayName, hash, input.role, input.stores],
      )
      return toUser(rows[0] as UserRow)
    } catch (err) {
      if (pgErrorCode(err) === '23505') throw new Error(`username ${input.username} is already taken`, { cause: err })
      throw err
    }
  }

  /**
   * The user when the password matches and the account is enabled. Unknown users cost a dummy
   * scrypt and disabled ones the real one, so response time does not reveal which usernames exist.
   */
  async verify(username: string, password: string): Promise<User | undefined> {
    if (typeof password !== 'string' || password.length > MAX_PASSWORD_LENGTH) return undefined
    const rows = await this.db.query<UserRow & { password_hash: string }>(
      `select ${COLUMNS}, password_hash from users where username = $1`,
      [username],
    )
    const row = rows[0]
    if (!row) {
      await dummyVerify(password)
      return undefined
    }
    const ok = await verifyPassword(password, row.password_hash)
    return ok && !row.disabled ? toUser(row) : undefined
  }

  async get(id: string): Promise<User | undefined> {
    if (!isUuid(id)) return undefined
    const rows = await this.db.query<UserRow>(`select ${COLUMNS} from users where id = $1`, [id])
    return rows[0] && toUser(rows[0])
  }

  async getByUsername(username: string): Promise<User | undefined> {
    const rows = await this.db.query<UserRow>(`select ${COLUMNS} from users where username = $1`, [username])
    return rows[0] && toUser(rows[0])
  }

  async list(): Promise<User[]> {
    return (await this.db.query<UserRow>(`select ${COLUMNS} from users order by username`)).map(toUser)
  }

  /**
   * Changes take effect on the next request: sessions read role, scope and disabled from this row.
   * Revoking other sessions after a password change is the caller's decision (SessionsRepo.revokeUser).
   */
  async update(id: string, patch: UserPatch): Promise<User | undefined> {
    if (!isUuid(id)) return undefined
    if (patch.displayName !== undefined) assertDisplayName(patch.displayName)
    if (patch.role !== undefined) assertRole(patch.role)
    if (patch.stores !== undefined) assertStoreScope(patch.stores)
    if (patch.disabled !== undefined && typeof patch.disabled !== 'boolean') throw new Error('disabled must be a boolean')
    if (patch.password !== undefined) assertPassword(patch.password)
    const hash = patch.password === undefined ? null : await hashPassword(patch.password)
    const rows = await this.db.query<UserRow>(
      `update users set
         display_name = coalesce($2, display_name),
         role = coalesce($3, role),
         stores = coalesce($4::text[], stores),
         disabled = coalesce($5::boolean, disabled),
         password_hash = coalesce($6, password_hash),
         updated_at = now()
       where id = $1 returning ${COLUMNS}`,
      [id, patch.displayName ?? null, patch.role ?? null, patch.stores ?? null, patch.disabled ?? null, hash],
    )
    return rows[0] && toUser(rows[0])
  }

  /** Deletes the user; their sessions go with them (on delete cascade). */
  async remove(id: string): Promise<boolean> {
    if (!isUuid(id)) return false
    return (await this.db.query('delete from users where id = $1 returning id', [id])).length === 1
  }

  async count(): Promise<number> {
    const rows = await this.db.query<{ n: number }>('select count(*)::int as n from users')
    return rows[0]?.n ?? 0
  }
}
