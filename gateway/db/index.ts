import { openDb, type Db, type OpenDbOptions } from './db.ts'
import { migrate } from './migrations.ts'
import { AuditRepo } from './audit.repo.ts'
import { DevicesRepo } from './devices.repo.ts'
import { SessionsRepo } from './sessions.repo.ts'
import { StoresRepo } from './stores.repo.ts'
import { TokensRepo } from './tokens.repo.ts'
import { UsersRepo } from './users.repo.ts'

export * from './db.ts'
export * from './migrations.ts'
export * from './audit.repo.ts'
export * from './devices.repo.ts'
export * from './sessions.repo.ts'
export * from './stores.repo.ts'
export * from './tokens.repo.ts'
export * from './users.repo.ts'

/** The gateway's repositories over one database. `now` is the clock for expiry and timestamps. */
export class GatewayData {
  readonly users: UsersRepo
  readonly sessions: SessionsRepo
  readonly tokens: TokensRepo
  readonly audit: AuditRepo
  readonly stores: StoresRepo
  readonly devices: DevicesRepo

  constructor(
    readonly db: Db,
    opts: { now?: () => number } = {},
  ) {
    const now = opts.now ?? Date.now
    this.users = new UsersRepo(db)
    this.sessions = new SessionsRepo(db, now)
    this.tokens = new TokensRepo(db, now)
    this.audit = new AuditRepo(db, now)
    this.stores = new StoresRepo(db)
    this.devices = new DevicesRepo(db, now)
  }
}

/** Opens the database and brings its schema up to date; closes it again if migrating fails. */
export async function openGatewayData(opts: OpenDbOptions & { now?: () => number }): Promise<{ db: Db; data: GatewayData }> {
  const db = await openDb(opts)
  try {
    await migrate(db, opts.log)
  } catch (err) {
    await db.close().catch(() => undefined)
    throw err
  }
  return { db, data: new GatewayData(db, { now: opts.now }) }
}
