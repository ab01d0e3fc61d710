import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayData, MIGRATIONS, migrate, openDb, openGatewayData, type Db, type Migration } from '../gateway/db/index.ts'
import { hashPassword, randomToken, sha256Hex, verifyPassword } from '../gateway/auth/password.ts'
import { tempDir, testLogger } from './helpers.ts'

/**
 * The gateway's data layer, one suite run against both engines: embedded PGlite (in memory) and
 * the machine's PostgreSQL (127.0.0.1:5432, trust auth). Other runs share that server, so each run
 * creates its own se_gw_<random> databases and drops them afterwards. Time-dependent behaviour
 * (session expiry, token last-use) runs on an injected clock.
 */

const PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/test'
const pgUrl = (dbName: string) => `postgres://postgres@127.0.0.1:5432/${dbName}`
const log = testLogger()

const pgReachable = await (async () => {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 })
  try {
    await c.connect()
    return true
  } catch {
    return false
  } finally {
    await c.end().catch(() => undefined)
  }
})()

const createdDatabases: string[] = []
async function adminQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL })
  await c.connect()
  try {
    await c.query(sql)
  } finally {
    await c.end()
  }
}
/** A fresh, empty database on the shared server; dropped in afterAll. */
async function freshPgDatabase(): Promise<string> {
  const name = `se_gw_${randomBytes(6).toString('hex')}`
  await adminQuery(`create database "${name}"`)
  createdDatabases.push(name)
  return name
}
afterAll(async () => {
  for (const name of createdDatabases) await adminQuery(`drop database if exists "${name}" with (force)`)
})

interface Engine {
  name: string
  kind: Db['kind']
  enabled: boolean
  open(): Promise<Db>
}
const engines: Engine[] = [
  { name: 'PGlite (memory)', kind: 'pglite', enabled: true, open: () => openDb({ log }) },
  { name: 'PostgreSQL 127.0.0.1:5432', kind: 'postgres', enabled: pgReachable, open: async () => openDb({ url: pgUrl(await freshPgDatabase()), log }) },
]

const T0 = Date.UTC(2030, 0, 1, 9, 0, 0)

describe.each(engines)('gateway data on $name', (engine) => {
  if (!engine.enabled) {
    it.skip(`${engine.name} is not reachable`, () => undefined)
    return
  }
  let db: Db
  let data: GatewayData
  let firstMigrate: { applied: number[] }
  let clock = T0

  beforeAll(async () => {
    db = await engine.open()
    firstMigrate = await migrate(db, log)
    data = new GatewayData(db, { now: () => clock })
  })
  afterAll(async () => {
    await db?.close()
  })

  describe('migrations', () => {
    it('apply once; a second migrate is a no-op', async () => {
      expect(db.kind).toBe(engine.kind)
      expect(firstMigrate.applied).toEqual(MIGRATIONS.map((m) => m.version))
      expect(await migrate(db, log)).toEqual({ applied: [] })
      const rows = await db.query<{ version: number; name: string }>('select version, name from schema_migrations order by version')
      expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })))
      const tables = await db.query<{ t: string }>(
        `select table_name as t from information_schema.tables where table_schema = 'public' order by 1`,
      )
      expect(tables.map((r) => r.t)).toEqual(['api_tokens', 'audit_log', 'campaign_versions', 'campaigns', 'config_pushes', 'coupon_budgets', 'coupon_outbox', 'coupon_signing_keys', 'coupons', 'devices', 'geofence_events', 'geofences', 'member_beacons', 'member_faces', 'member_plates', 'member_visits', 'members', 'schema_migrations', 'sessions', 'stores', 'users'])
    })

    it.runIf(engine.kind === 'postgres')('four replicas migrating at once apply each migration exactly once', async () => {
      const url = pgUrl(await freshPgDatabase())
      // Two probe versions after the real ones count their own executions: a second run of the last would add a row.
      const top = Math.max(...MIGRATIONS.map((m) => m.version))
      const migrations: Migration[] = [
        ...MIGRATIONS,
        { version: top + 1, name: 'probe table', sql: 'create table mig_probe (n int)' },
        { version: top + 2, name: 'probe row', sql: 'insert into mig_probe values (1)' },
      ]
      const replicas = await Promise.all([1, 2, 3, 4].map(() => openDb({ url, poolMax: 2, log })))
      try {
        const results = await Promise.all(replicas.map((r) => migrate(r, log, migrations)))
        const all = results.flatMap((r) => r.applied).sort((a, b) => a - b)
        expect(all).toEqual(migrations.map((m) => m.version))
        const probe = replicas[0] as Db
        expect(await probe.query('select n from mig_probe')).toEqual([{ n: 1 }])
        expect(await probe.query('select count(*) as c from schema_migrations')).toEqual([{ c: migrations.length }])
      } finally {
        await Promise.all(replicas.map((r) => r.close()))
      }
    })
  })

  describe('adapter', () => {
    it('maps jsonb, timestamptz, text[] and bigint the same way on both engines', async () => {
      const [row] = await db.query<Record<string, unknown>>(
        `select $1::timestamptz as ts, $2::jsonb as j, $3::text[] as a, 42::bigint as b,
                9007199254740993::bigint as big, null::timestamptz as none`,
        [new Date(T0), JSON.stringify({ zones: [{ id: 'z1' }] }), ['s1', 's2']],
      )
      expect(row?.ts).toBeInstanceOf(Date)
      expect((row?.ts as Date).getTime()).toBe(T0)
      expect(row?.j).toEqual({ zones: [{ id: 'z1' }] })
      expect(row?.a).toEqual(['s1', 's2'])
      expect(row?.b).toBe(42)
      expect(row?.big).toBe(9007199254740993n)
      expect(row?.none).toBeNull()
    })

    it('runs several statements when there are no parameters, returning the last result', async () => {
      expect(await db.query('select 1 as x; select 2 as y')).toEqual([{ y: 2 }])
    })

    it('rolls a transaction back when its function throws, and commits otherwise', async () => {
      await expect(
        db.tx(async (q) => {
          await q.query(`insert into stores (id, name) values ('tx-rolled-back', 'x')`)
          throw new Error('boom')
        }),
      ).rejects.toThrow('boom')
      expect(await data.stores.get('tx-rolled-back')).toBeUndefined()
      const n = await db.tx(async (q) => {
        await q.query(`insert into stores (id, name) values ('tx-committed', 'x')`)
        return (await q.query<{ c: number }>(`select count(*) as c from stores where id = 'tx-committed'`))[0]?.c
      })
      expect(n).toBe(1)
      expect((await data.stores.get('tx-committed'))?.name).toBe('x')
    })
  })

  describe('users', () => {
    it('creates and verifies: right password, wrong password, unknown user, disabled user', async () => {
      const alice = await data.users.create({ username: 'alice', displayName: 'Alice', password: 'correct horse', role: 'ops', stores: ['s1', 's2'] })
      expect(alice).toMatchObject({ username: 'alice', displayName: 'Alice', role: 'ops', stores: ['s1', 's2'], disabled: false })
      expect(alice.id).toMatch(/^[0-9a-f-]{36}$/)
      expect(typeof alice.createdAt).toBe('number')
      expect(Object.keys(alice).sort()).toEqual(['createdAt', 'disabled', 'displayName', 'id', 'role', 'stores', 'username'])

      expect((await data.users.verify('alice', 'correct horse'))?.id).toBe(alice.id)
      expect(await data.users.verify('alice', 'correct horsE')).toBeUndefined()
      expect(await data.users.verify('nobody', 'correct horse')).toBeUndefined()

      const [stored] = await db.query<{ password_hash: string }>('select password_hash from users where id = $1', [alice.id])
      expect(stored?.password_hash).toMatch(/^scrypt\$16384\$8\$1\$[\w-]+\$[\w-]+$/)
      expect(stored?.password_hash).not.toContain('correct horse')

      expect((await data.users.update(alice.id, { disabled: true }))?.disabled).toBe(true)
      expect(await data.users.verify('alice', 'correct horse')).toBeUndefined()
      await data.users.update(alice.id, { disabled: false, password: 'battery staple' })
      expect(await data.users.verify('alice', 'correct horse')).toBeUndefined()
      expect((await data.users.verify('alice', 'battery staple'))?.username).toBe('alice')
    })

    it('rejects a duplicate username, a bad role, username, password or store scope', async () => {
      const base = { username: 'bob', displayName: 'Bob', password: 'long enough', role: 'marketing' as const, stores: ['*'] }
      await data.users.create(base)
      await expect(data.users.create({ ...base, displayName: 'Other Bob' })).rejects.toThrow('username bob is already taken')
      await expect(data.users.create({ ...base, username: 'carol', role: 'root' as never })).rejects.toThrow(/invalid role "root"/)
      await expect(data.users.create({ ...base, username: 'Carol' })).rejects.toThrow(/invalid username "Carol"/)
      await expect(data.users.create({ ...base, username: 'c' })).rejects.toThrow(/invalid username/)
      await expect(data.users.create({ ...base, username: 'carol', password: 'short' })).rejects.toThrow(/at least 8 characters/)
      await expect(data.users.create({ ...base, username: 'carol', stores: [] })).rejects.toThrow(/non-empty array/)
      await expect(data.users.create({ ...base, username: 'carol', stores: ['*', 's1'] })).rejects.toThrow(/cannot be combined/)
      await expect(data.users.create({ ...base, username: 'carol', stores: ['Bad Store'] })).rejects.toThrow(/invalid store id/)
      expect(await data.users.getByUsername('carol')).toBeUndefined()
    })

    it('gets, lists, updates, counts and removes', async () => {
      const dave = await data.users.create({ username: 'dave.k', displayName: 'Dave', password: 'password1', role: 'security', stores: ['s9'] })
      expect(await data.users.get(dave.id)).toEqual(dave)
      expect(await data.users.getByUsername('dave.k')).toEqual(dave)
      expect(await data.users.get('not-a-uuid')).toBeUndefined()
      expect((await data.users.list()).map((u) => u.username)).toEqual(['alice', 'bob', 'dave.k'])
      expect(await data.users.count()).toBe(3)
      const updated = await data.users.update(dave.id, { displayName: 'Dave K', role: 'admin', stores: ['*'] })
      expect(updated).toMatchObject({ displayName: 'Dave K', role: 'admin', stores: ['*'], disabled: false })
      await expect(data.users.update(dave.id, { role: 'boss' as never })).rejects.toThrow(/invalid role/)
      expect(await data.users.remove(dave.id)).toBe(true)
      expect(await data.users.remove(dave.id)).toBe(false)
      expect(await data.users.count()).toBe(2)
    })
  })

  describe('sessions', () => {
    it('resolve to the user until they expire; purge removes expired ones', async () => {
      const u = await data.users.create({ username: 'sess-user', displayName: 'S', password: 'password1', role: 'ops', stores: ['s1'] })
      clock = T0
      const { token, expiresAt } = await data.sessions.create(u.id, 60_000)
      expect(expiresAt).toBe(T0 + 60_000)
      expect(token.startsWith('ses_')).toBe(true)
      expect(await data.sessions.resolve(token)).toEqual({ kind: 'user', id: u.id, name: 'sess-user', role: 'ops', stores: ['s1'] })
      // Role and scope are read at resolve time: an update applies to live sessions.
      await data.users.update(u.id, { stores: ['s1', 's3'] })
      expect((await data.sessions.resolve(token))?.stores).toEqual(['s1', 's3'])
      clock = T0 + 59_999
      expect(await data.sessions.resolve(token)).toBeDefined()
      clock = T0 + 60_000
      expect(await data.sessions.resolve(token)).toBeUndefined()
      expect(await data.sessions.resolve('ses_unknown')).toBeUndefined()
      expect(await data.sessions.purgeExpired()).toBe(1)
      expect(await db.query('select 1 from sessions where user_id = $1', [u.id])).toEqual([])
    })

    it('revoke, revokeUser, disabled users and deleted users', async () => {
      clock = T0
      const u = await data.users.create({ username: 'sess-two', displayName: 'S2', password: 'password1', role: 'marketing', stores: ['*'] })
      const a = await data.sessions.create(u.id, 3_600_000)
      const b = await data.sessions.create(u.id, 3_600_000)
      const c = await data.sessions.create(u.id, 3_600_000)
      expect(await data.sessions.revoke(a.token)).toBe(true)
      expect(await data.sessions.revoke(a.token)).toBe(false)
      expect(await data.sessions.resolve(a.token)).toBeUndefined()
      expect((await data.sessions.resolve(b.token))?.name).toBe('sess-two')

      await data.users.update(u.id, { disabled: true })
      expect(await data.sessions.resolve(b.token)).toBeUndefined()
      await data.users.update(u.id, { disabled: false })
      expect(await data.sessions.resolve(b.token)).toBeDefined()

      expect(await data.sessions.revokeUser(u.id)).toBe(2)
      expect(await data.sessions.resolve(c.token)).toBeUndefined()
      const d = await data.sessions.create(u.id, 3_600_000)
      await data.users.remove(u.id)
      expect(await data.sessions.resolve(d.token)).toBeUndefined()
      expect(await db.query('select 1 from sessions where user_id = $1', [u.id])).toEqual([])
      // Raw session tokens are never stored, only their sha256.
      const dump = JSON.stringify(await db.query('select * from sessions'))
      for (const t of [a, b, c, d]) expect(dump).not.toContain(t.token.slice(4))
    })
  })

  describe('api tokens', () => {
    it('resolve until revoked, store only a hash, and touch last_used_at at most once a minute', async () => {
      clock = T0
      const { id, token } = await data.tokens.create({ name: 'bi-export', role: 'marketing', stores: ['s1'], createdBy: 'alice' })
      expect(token).toMatch(/^set_[A-Za-z0-9_-]{43}$/)
      expect(await data.tokens.resolve(token)).toEqual({ kind: 'token', id, name: 'bi-export', role: 'marketing', stores: ['s1'] })
      expect((await data.tokens.get(id))?.lastUsedAt).toBe(T0)

      clock = T0 + 30_000
      await data.tokens.resolve(token)
      expect((await data.tokens.get(id))?.lastUsedAt).toBe(T0)
      clock = T0 + 61_000
      await data.tokens.resolve(token)
      expect((await data.tokens.get(id))?.lastUsedAt).toBe(T0 + 61_000)

      const rows = await db.query<Record<string, unknown>>('select * from api_tokens')
      const dump = JSON.stringify(rows)
      expect(dump).not.toContain(token)
      expect(dump).not.toContain(token.slice(4))
      expect(rows.find((r) => r.id === id)?.token_hash).toBe(sha256Hex(token))

      const listed = await data.tokens.list()
      expect(listed.map((t) => t.name)).toContain('bi-export')
      expect(JSON.stringify(listed)).not.toContain(sha256Hex(token))
      expect(Object.keys(listed[0] ?? {})).not.toContain('tokenHash')

      expect(await data.tokens.resolve(`${token}x`)).toBeUndefined()
      expect(await data.tokens.resolve(token.replace('set_', 'ses_'))).toBeUndefined()
      expect(await data.tokens.revoke(id)).toBe(true)
      expect(await data.tokens.revoke(id)).toBe(false)
      expect(await data.tokens.resolve(token)).toBeUndefined()
      expect((await data.tokens.get(id))?.revokedAt).toBe(T0 + 61_000)
      await expect(data.tokens.create({ name: 'x', role: 'god' as never, stores: ['*'], createdBy: 'alice' })).rejects.toThrow(/invalid role/)
    })
  })

  describe('audit log', () => {
    it('lists newest first, filters by store and action, and pages with before', async () => {
      const ids: number[] = []
      for (let i = 0; i < 30; i++) {
        clock = T0 + i * 1000
        ids.push(
          await data.audit.record({
            actor: i % 2 ? 'alice' : 'ingest',
            actorKind: i % 2 ? 'user' : 'system',
            action: i % 3 === 0 ? 'layout.push' : 'store.touch',
            storeId: i % 2 ? 'audit-a' : 'audit-b',
            target: `t${i}`,
            detail: i === 29 ? { zones: ['z1', 'z2'], n: 3 } : undefined,
            ip: i === 29 ? '10.0.0.7' : undefined,
          }),
        )
      }
      expect(ids.every((id, i) => i === 0 || id > (ids[i - 1] as number))).toBe(true)

      const page1 = await data.audit.list({ limit: 10 })
      expect(page1.map((e) => e.target)).toEqual(Array.from({ length: 10 }, (_, k) => `t${29 - k}`))
      expect(page1[0]).toEqual({
        id: ids[29], ts: T0 + 29_000, actor: 'alice', actorKind: 'user', action: 'store.touch',
        target: 't29', storeId: 'audit-a', detail: { zones: ['z1', 'z2'], n: 3 }, ip: '10.0.0.7',
      })
      expect(page1[1]?.detail).toBeNull()
      const page2 = await data.audit.list({ limit: 10, before: page1.at(-1)?.id })
      expect(page2.map((e) => e.target)).toEqual(Array.from({ length: 10 }, (_, k) => `t${19 - k}`))

      const storeA = await data.audit.list({ storeId: 'audit-a' })
      expect(storeA).toHaveLength(15)
      expect(storeA.every((e) => e.storeId === 'audit-a')).toBe(true)
      const pushesB = await data.audit.list({ storeId: 'audit-b', action: 'layout.push' })
      expect(pushesB.map((e) => e.target)).toEqual(['t24', 't18', 't12', 't6', 't0'])
      expect(await data.audit.list({ limit: 100_000 })).toHaveLength(30)
      expect(await data.audit.list({ limit: 0 })).toHaveLength(1)
      await expect(data.audit.record({ actor: 'x', actorKind: 'robot' as never, action: 'a' })).rejects.toThrow(/actor kind/)
    })
  })

  describe('stores and devices', () => {
    it('ensure() under a race creates the store exactly once', async () => {
      const results = await Promise.all(Array.from({ length: 10 }, () => data.stores.ensure('race-store')))
      expect(results.filter(Boolean)).toHaveLength(1)
      expect(await data.stores.ensure('race-store')).toBe(false)
      expect(await data.stores.get('race-store')).toMatchObject({ id: 'race-store', name: 'race-store', timezone: 'UTC', lastSeenAt: null, layout: null })
      await expect(data.stores.ensure('../etc')).rejects.toThrow(/invalid store id/)
    })

    it('touchSeen only moves last_seen_at forward', async () => {
      await data.stores.ensure('seen-a')
      await data.stores.ensure('seen-b')
      expect(await data.stores.touchSeen(['seen-a', 'seen-b', 'seen-missing'], T0 + 5000)).toBe(2)
      expect(await data.stores.touchSeen(['seen-a'], T0 + 1000)).toBe(0)
      expect((await data.stores.get('seen-a'))?.lastSeenAt).toBe(T0 + 5000)
      expect(await data.stores.touchSeen(['seen-a'], T0 + 9000)).toBe(1)
      expect((await data.stores.get('seen-a'))?.lastSeenAt).toBe(T0 + 9000)
      expect((await data.stores.get('seen-b'))?.lastSeenAt).toBe(T0 + 5000)
      expect(await data.stores.touchSeen([], T0)).toBe(0)
    })

    it('create, update, list and layouts', async () => {
      const s = await data.stores.create({ id: 'berlin-1', name: 'Berlin Mitte', timezone: 'Europe/Berlin' })
      expect(s).toMatchObject({ id: 'berlin-1', name: 'Berlin Mitte', timezone: 'Europe/Berlin', lastSeenAt: null, layout: null })
      await expect(data.stores.create({ id: 'berlin-1', name: 'again' })).rejects.toThrow('store berlin-1 already exists')
      await expect(data.stores.create({ id: 'x1', name: 'X', timezone: 'Mars/Olympus' })).rejects.toThrow(/invalid timezone/)
      expect(await data.stores.update('berlin-1', { name: 'Berlin' })).toMatchObject({ name: 'Berlin', timezone: 'Europe/Berlin' })
      expect(await data.stores.update('nope', { name: 'N' })).toBeUndefined()
      // A top-level array is the case pg would mis-encode without JSON.stringify.
      const layout = [{ id: 'entrance', polygon: [[0, 0], [1, 0], [1, 1]] }]
      expect(await data.stores.setLayout('berlin-1', layout)).toBe(true)
      expect((await data.stores.get('berlin-1'))?.layout).toEqual(layout)
      expect(await data.stores.setLayout('berlin-1', null)).toBe(true)
      expect((await data.stores.get('berlin-1'))?.layout).toBeNull()
      expect(await data.stores.setLayout('nope', layout)).toBe(false)
      expect((await data.stores.list()).map((x) => x.id)).toContain('berlin-1')
    })

    it('devices: upsert, list, remove; an unknown store is a clear error', async () => {
      await data.stores.ensure('dev-store')
      clock = T0
      expect(await data.devices.upsert('dev-store', 'esp-entrance', 'espresense')).toMatchObject({ lastSeenAt: T0, kind: 'espresense' })
      clock = T0 + 1000
      await data.devices.upsert('dev-store', 'esp-entrance', 'ble')
      await data.devices.upsert('dev-store', 'cam-1', 'camera')
      const list = await data.devices.list('dev-store')
      expect(list.map((d) => [d.deviceId, d.kind, d.lastSeenAt])).toEqual([
        ['cam-1', 'camera', T0 + 1000],
        ['esp-entrance', 'ble', T0 + 1000],
      ])
      await expect(data.devices.upsert('no-such-store', 'cam-2', 'camera')).rejects.toThrow('unknown store no-such-store')
      await expect(data.devices.upsert('dev-store', 'Bad Id', 'camera')).rejects.toThrow(/invalid device id/)
      expect(await data.devices.remove('dev-store', 'cam-1')).toBe(true)
      expect(await data.devices.remove('dev-store', 'cam-1')).toBe(false)
      expect((await data.devices.list('dev-store')).map((d) => d.deviceId)).toEqual(['esp-entrance'])
    })
  })
})

describe('PGlite on disk', () => {
  it('persists across close and reopen', async () => {
    const tmp = await tempDir('se-gw-pglite-')
    try {
      const first = await openGatewayData({ dataDir: tmp.dir, log })
      const u = await first.data.users.create({ username: 'persist', displayName: 'P', password: 'password1', role: 'admin', stores: ['*'] })
      await first.data.stores.create({ id: 'kept', name: 'Kept', timezone: 'UTC' })
      await first.db.close()

      const second = await openDb({ dataDir: tmp.dir, log })
      try {
        expect(await migrate(second, log)).toEqual({ applied: [] })
        const data = new GatewayData(second)
        expect((await data.users.verify('persist', 'password1'))?.id).toBe(u.id)
        expect((await data.stores.get('kept'))?.name).toBe('Kept')
      } finally {
        await second.close()
      }
    } finally {
      await tmp.cleanup()
    }
  })
})

describe('openDb', () => {
  it('names the host on a connection failure and never prints the password', async () => {
    const err = await openDb({ url: 'postgres://gw:s3cret-pw@127.0.0.1:1/gateway', log }).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(err).toBeInstanceOf(Error)
    expect(err?.message).toMatch(/^cannot connect to PostgreSQL at gw@127\.0\.0\.1:1\/gateway: .*ECONNREFUSED/)
    expect(err?.message).not.toContain('s3cret-pw')
  })

  it.runIf(pgReachable)('names the database when it does not exist', async () => {
    await expect(openDb({ url: pgUrl('se_gw_does_not_exist'), log })).rejects.toThrow(
      /cannot connect to PostgreSQL at postgres@127\.0\.0\.1:5432\/se_gw_does_not_exist: database "se_gw_does_not_exist" does not exist/,
    )
  })
})

describe('password hashing', () => {
  it('salts, verifies in constant time, and rejects malformed hashes', async () => {
    const a = await hashPassword('same password')
    const b = await hashPassword('same password')
    expect(a).not.toBe(b)
    expect(await verifyPassword('same password', a)).toBe(true)
    expect(await verifyPassword('same passwore', a)).toBe(false)
    expect(await verifyPassword('same password', 'scrypt$16384$8$1$$')).toBe(false)
    expect(await verifyPassword('same password', 'bcrypt$whatever')).toBe(false)
    expect(randomToken('set')).toMatch(/^set_[A-Za-z0-9_-]{43}$/)
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })
})
