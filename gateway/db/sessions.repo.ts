import { isRole, type Principal } from '../auth/roles.ts'
import { randomToken, sha256Hex } from '../auth/password.ts'
import { isUuid, type Queryable } from './db.ts'

/**
 * Dashboard login sessions. The cookie holds the random token; the table holds only its sha256,
 * so a leaked table (or backup) cannot be replayed. Expiry uses the injected clock, not the
 * database's, so tests can move time and replicas agree with the HTTP layer's notion of "now".
 */
export const SESSION_TOKEN_PREFIX = 'ses'

interface ResolveRow {
  id: string
  username: string
  role: string
  stores: string[]
}

export class SessionsRepo {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => number = Date.now,
  ) {}

  async create(userId: string, ttlMs: number): Promise<{ token: string; expiresAt: number }> {
    if (!isUuid(userId)) throw new Error(`invalid user id ${JSON.stringify(userId)}`)
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new Error('session ttl must be a positive number of ms')
    const token = randomToken(SESSION_TOKEN_PREFIX)
    const now = this.now()
    const expiresAt = now + ttlMs
    await this.db.query('insert into sessions (token_hash, user_id, created_at, expires_at) values ($1, $2, $3, $4)', [
      sha256Hex(token),
      userId,
      new Date(now),
      new Date(expiresAt),
    ])
    return { token, expiresAt }
  }

  /** The session's user as a principal; undefined when unknown, expired, or the user is disabled. */
  async resolve(token: string): Promise<Principal | undefined> {
    if (typeof token !== 'string' || !token.startsWith(`${SESSION_TOKEN_PREFIX}_`)) return undefined
    const rows = await this.db.query<ResolveRow>(
      `select u.id, u.username, u.role, u.stores from sessions s join users u on u.id = s.user_id
       where s.token_hash = $1 and s.expires_at > $2 and not u.disabled`,
      [sha256Hex(token), new Date(this.now())],
    )
    const r = rows[0]
    if (!r || !isRole(r.role)) return undefined
    return { kind: 'user', id: r.id, name: r.username, role: r.role, stores: r.stores }
  }

  /** Logout. Returns whether the session existed. */
  async revoke(token: string): Promise<boolean> {
    return (await this.db.query('delete from sessions where token_hash = $1 returning user_id', [sha256Hex(token)])).length === 1
  }

  /** Logs a user out everywhere (password change, role change, disable). Returns sessions removed. */
  async revokeUser(userId: string): Promise<number> {
    if (!isUuid(userId)) return 0
    return (await this.db.query('delete from sessions where user_id = $1 returning user_id', [userId])).length
  }

  /** Housekeeping for a periodic timer; expired rows are already ignored by resolve(). */
  async purgeExpired(): Promise<number> {
    const rows = await this.db.query('delete from sessions where expires_at <= $1 returning user_id', [new Date(this.now())])
    return rows.length
  }
}
