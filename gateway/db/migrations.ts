import type { Logger } from '../core/logger.ts'
import type { Db, Queryable } from './db.ts'

/**
 * Versioned schema migrations, in code so they ship with the build. Append only: never edit a
 * migration that has been released; add the next version instead.
 */
export interface Migration {
  version: number
  name: string
  sql: string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'stores, devices, users, sessions, api tokens, audit log',
    sql: `
      create table stores (
        id text primary key,
        name text not null,
        timezone text not null default 'UTC',
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        last_seen_at timestamptz,
        layout jsonb
      );

      create table devices (
        store_id text not null references stores(id) on delete cascade,
        device_id text not null,
        kind text not null,
        created_at timestamptz not null default now(),
        last_seen_at timestamptz,
        primary key (store_id, device_id)
      );

      -- ids are generated in JS (crypto.randomUUID) so no extension is needed on either engine.
      create table users (
        id uuid primary key,
        username text unique not null,
        display_name text not null,
        password_hash text not null,
        role text not null check (role in ('ops', 'marketing', 'security', 'admin')),
        stores text[] not null,
        disabled boolean not null default false,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );

      create table sessions (
        token_hash text primary key,
        user_id uuid not null references users(id) on delete cascade,
        created_at timestamptz not null default now(),
        expires_at timestamptz not null
      );
      create index sessions_user_id on sessions (user_id);
      create index sessions_expires_at on sessions (expires_at);

      create table api_tokens (
        id uuid primary key,
        name text not null,
        token_hash text unique not null,
        role text not null check (role in ('ops', 'marketing', 'security', 'admin')),
        stores text[] not null,
        created_by text not null,
        created_at timestamptz not null default now(),
        last_used_at timestamptz,
        revoked_at timestamptz
      );

      create table audit_log (
        id bigserial primary key,
        ts timestamptz not null default now(),
        actor text not null,
        actor_kind text not null check (actor_kind in ('user', 'token', 'system')),
        action text not null,
        target text,
        store_id text,
        detail jsonb,
        ip text
      );
      create index audit_log_ts on audit_log (ts desc);
      create index audit_log_store_ts on audit_log (store_id, ts desc);
    `,
  },
]

/** Arbitrary, fixed: the advisory lock every gateway replica takes to migrate one at a time. */
const MIGRATION_LOCK_KEY = 0x5e_ed_6e_01

const lock = (q: Queryable) => q.query('select pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY])

/**
 * Applies pending migrations, each in its own transaction under the advisory lock, so replicas
 * starting together apply each version exactly once: the loser of the lock waits, then sees the
 * version recorded (read committed takes a fresh snapshot per statement) and skips it.
 */
export async function migrate(db: Db, log: Logger, migrations: readonly Migration[] = MIGRATIONS): Promise<{ applied: number[] }> {
  const mlog = log.child({ module: 'migrations' })
  // Under the lock too: concurrent "create table if not exists" can race on the catalog.
  await db.tx(async (q) => {
    await lock(q)
    await q.query(`create table if not exists schema_migrations (
      version int primary key,
      name text not null,
      applied_at timestamptz not null default now()
    )`)
  })
  const ordered = [...migrations].sort((a, b) => a.version - b.version)
  const applied: number[] = []
  for (const m of ordered) {
    const didApply = await db.tx(async (q) => {
      await lock(q)
      const done = await q.query('select 1 from schema_migrations where version = $1', [m.version])
      if (done.length > 0) return false
      await q.query(m.sql)
      await q.query('insert into schema_migrations (version, name) values ($1, $2)', [m.version, m.name])
      return true
    })
    if (didApply) {
      applied.push(m.version)
      mlog.info({ version: m.version, name: m.name }, 'migration applied')
    }
  }
  if (applied.length === 0) mlog.debug('schema up to date')
  return { applied }
}
