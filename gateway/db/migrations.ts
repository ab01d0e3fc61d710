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
  {
    version: 2,
    name: 'members, geofences, campaigns and their versions, config pushes, geofence events, coupon ledger and outbox',
    sql: `
      -- Opted-in members. push: { provider: 'webhook' | 'wechat', openId?: string } (where to push coupons).
      create table members (
        ref text primary key,
        display_name text not null default '',
        tier int not null default 1,
        tags text[] not null default '{}',
        opted_in boolean not null default true,
        push jsonb not null default '{}'::jsonb,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );
      -- Only members' plates are stored, normalised (edge/contracts/plates.ts).
      create table member_plates (
        plate text primary key,
        member_ref text not null references members(ref) on delete cascade,
        created_at timestamptz not null default now()
      );
      create index member_plates_member on member_plates (member_ref);
      -- Identities the member app advertises (ibeacon:<uuid>:<major>:<minor>).
      create table member_beacons (
        beacon_id text primary key,
        member_ref text not null references members(ref) on delete cascade
      );
      create index member_beacons_member on member_beacons (member_ref);
      -- Per store visit history, from geofence exit events (audience: first visit, lapsed N days).
      create table member_visits (
        member_ref text not null references members(ref) on delete cascade,
        store_id text not null references stores(id) on delete cascade,
        visits int not null default 0,
        last_visit_at timestamptz,
        primary key (member_ref, store_id)
      );

      -- Trade-area geofences; body is a Geofence (contracts). Soft-deleted so history stays readable.
      create table geofences (
        id text primary key,
        store_id text not null references stores(id) on delete cascade,
        body jsonb not null,
        version int not null default 1,
        deleted boolean not null default false,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );
      create index geofences_store on geofences (store_id);

      -- A campaign is one trigger rule plus its coupon; body is the current Campaign (contracts).
      create table campaigns (
        id text primary key,
        name text not null,
        current_version int not null,
        body jsonb not null,
        archived boolean not null default false,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );
      -- Every version ever saved, immutable: the ledger applies the caps of the version a request names.
      create table campaign_versions (
        campaign_id text not null references campaigns(id) on delete cascade,
        version int not null,
        body jsonb not null,
        created_by text not null,
        created_at timestamptz not null default now(),
        primary key (campaign_id, version)
      );

      -- The monotonic version of each retained config part pushed to each store.
      create table config_pushes (
        store_id text not null references stores(id) on delete cascade,
        part text not null,
        version bigint not null,
        pushed_at timestamptz not null default now(),
        primary key (store_id, part)
      );

      -- Geofence events from the edges (preview of rules over the last days, member-left checks, feed).
      create table geofence_events (
        id text primary key,
        store_id text not null,
        type text not null,
        zone text not null,
        zone_kind text not null,
        source text not null,
        subject text not null,
        member_ref text,
        ts timestamptz not null,
        entered_at timestamptz not null,
        dwell_s double precision,
        body jsonb not null,
        received_at timestamptz not null default now()
      );
      create index geofence_events_store_ts on geofence_events (store_id, ts);
      create index geofence_events_member_ts on geofence_events (member_ref, ts) where member_ref is not null;

      -- The coupon ledger. key is the request's idempotency key. status: issued (pushed to the
      -- member), holdout (recorded, never pushed), rejected (reason says why: caps, budget, late...).
      create table coupons (
        key text primary key,
        id uuid unique not null,
        store_id text not null,
        campaign_id text not null,
        campaign_version int not null,
        member_ref text not null,
        exclusive_group text,
        event_id text not null,
        event_type text not null,
        zone text not null,
        source text not null,
        event_ts timestamptz not null,
        fired_at timestamptz not null,
        local_day date not null,
        status text not null check (status in ('issued', 'holdout', 'rejected')),
        reason text,
        code text,
        expires_at timestamptz,
        received_at timestamptz not null default now(),
        push_status text check (push_status in ('pending', 'pushed', 'dead')),
        pushed_at timestamptz,
        redeemed_at timestamptz,
        redeemed_store text,
        redeemed_by text
      );
      create index coupons_member_campaign on coupons (member_ref, campaign_id, fired_at);
      create index coupons_member_fired on coupons (member_ref, fired_at);
      create index coupons_campaign_status on coupons (campaign_id, status);
      create index coupons_received on coupons (received_at desc);

      -- Transactional outbox: written in the ledger's transaction, drained by the push worker.
      create table coupon_outbox (
        id bigserial primary key,
        coupon_key text not null references coupons(key) on delete cascade,
        provider text not null,
        status text not null default 'pending' check (status in ('pending', 'sent', 'dead')),
        attempts int not null default 0,
        next_attempt_at timestamptz not null default now(),
        locked_until timestamptz,
        last_error text,
        created_at timestamptz not null default now(),
        sent_at timestamptz,
        unique (coupon_key, provider)
      );
      create index coupon_outbox_due on coupon_outbox (next_attempt_at) where status = 'pending';
    `,
  },
  {
    version: 3,
    name: 'coupon signing public keys; ledger indexes for the push, redemption and exclusive-group queries',
    sql: `
      -- Public halves of the Ed25519 keys that sign coupon codes (every replica registers its own);
      -- private keys never enter the database. kid: first 8 hex of sha256(raw public key).
      create table coupon_signing_keys (
        kid text primary key,
        alg text not null default 'Ed25519',
        public_key_pem text not null,
        created_at timestamptz not null default now(),
        retired_at timestamptz
      );
      create index coupons_pushed_at on coupons (pushed_at) where pushed_at is not null;
      create index coupons_redeemed_at on coupons (redeemed_at) where redeemed_at is not null;
      create index coupons_member_group on coupons (member_ref, exclusive_group, fired_at) where exclusive_group is not null;
      create index coupons_campaign_received on coupons (campaign_id, received_at);
      -- Issued coupons per campaign with a budget: the ledger increments it, conditionally, as the
      -- last check before it issues, so replicas racing on one budget serialise on this row only
      -- for the end of their transactions (instead of counting the ledger under a campaign lock).
      create table coupon_budgets (
        campaign_id text primary key,
        issued int not null
      );
      -- When a push was given up (the dead letter), for the per-minute figures.
      alter table coupon_outbox add column dead_at timestamptz;
      create index coupon_outbox_dead_at on coupon_outbox (dead_at) where dead_at is not null;
    `,
  },
  {
    version: 4,
    name: 'store location (where the marketing map centres); audit lookups by target (a campaign’s history)',
    sql: `
      -- { lat, lng } of the store; null until someone sets it.
      alter table stores add column location jsonb;
      create index audit_log_target on audit_log (target, id desc) where target is not null;
    `,
  },
  {
    version: 5,
    name: 'member face gallery (opt-in face embeddings, sent to the edges with the members config)',
    sql: `
      -- Biometric data: never logged, never returned by the API, only published to the edges inside
      -- the members config. embeddings: base64 float32 LE vectors as enrolled (jsonb array), all of
      -- dims values. Deleted with the member and when the member opts out (members.repo.ts).
      create table member_faces (
        member_ref text primary key references members(ref) on delete cascade,
        model text not null,
        dims int not null,
        embeddings jsonb not null,
        enrolled_at timestamptz not null default now(),
        updated_by text not null
      );
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
