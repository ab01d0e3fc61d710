import { mkdirSync } from 'node:fs'
import pg from 'pg'
import { PGlite, type Transaction } from '@electric-sql/pglite'
import type { Logger } from '../core/logger.ts'

/**
 * One small adapter over a real PostgreSQL (pg.Pool) and embedded PGlite, so the gateway runs
 * against a server in production and with no server at all in a demo or a test.
 *
 * Type mapping, the same on both engines: timestamptz → Date (repositories expose ms numbers),
 * jsonb → parsed JSON, text[] → string[], int8/bigserial → number (bigint above 2^53, never a
 * string). Parameters use `$1…`. Pass jsonb parameters as JSON.stringify(…): pg would send a JS
 * array as a Postgres array literal. A query without parameters runs on the simple protocol on
 * both engines, so it may hold several statements (migrations rely on this).
 */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite'
  /** Runs fn in one transaction (BEGIN/COMMIT, ROLLBACK on throw) on one connection. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>
  close(): Promise<void>
}

export interface OpenDbOptions {
  /** postgres://user:pass@host:port/db; empty or undefined → embedded PGlite. */
  url?: string
  /** PGlite data directory (persisted); undefined → in memory. Ignored with a url. */
  dataDir?: string
  /** pg.Pool size (default 10). */
  poolMax?: number
  log: Logger
}

const INT8_OID = 20
const CONNECT_TIMEOUT_MS = 10_000

/** int8 as a number when exact, else a bigint: counts and bigserial ids stay plain numbers. */
export function parseInt8(text: string): number | bigint {
  const n = Number(text)
  return Number.isSafeInteger(n) ? n : BigInt(text)
}

/** The SQLSTATE of a database error from either engine ('23505' unique violation, …). */
export function pgErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** Timestamps come back as Date on both engines; the API speaks ms since the epoch. */
export function toMs(v: Date | string | number | null | undefined): number | null {
  if (v === null || v === undefined) return null
  return v instanceof Date ? v.getTime() : new Date(v).getTime()
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** Guards uuid columns: Postgres rejects a malformed uuid with an error, we want "not found". */
export const isUuid = (x: unknown): x is string => typeof x === 'string' && UUID_RE.test(x)

export async function openDb(opts: OpenDbOptions): Promise<Db> {
  const log = opts.log.child({ module: 'db' })
  return opts.url ? openPostgres(opts.url, opts.poolMax ?? 10, log) : openPglite(opts.dataDir, log)
}

/** Where we connect, for errors and logs, without the password. */
function describeUrl(url: string): { where: string; password: string } {
  try {
    const u = new URL(url)
    const user = u.username ? `${decodeURIComponent(u.username)}@` : ''
    return { where: `${user}${u.hostname}:${u.port || '5432'}${u.pathname}`, password: decodeURIComponent(u.password) }
  } catch {
    return { where: '(unparseable database url)', password: '' }
  }
}

async function openPostgres(url: string, max: number, log: Logger): Promise<Db> {
  const { where, password } = describeUrl(url)
  const types: pg.CustomTypesConfig = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
  }
  const pool = new pg.Pool({ connectionString: url, max, types, connectionTimeoutMillis: CONNECT_TIMEOUT_MS })
  // An idle client losing its server emits here; unhandled it would crash the process.
  pool.on('error', (err) => log.error({ err }, 'idle PostgreSQL connection failed'))
  try {
    await pool.query('select 1')
  } catch (err) {
    await pool.end().catch(() => undefined)
    let msg = err instanceof Error ? err.message : String(err)
    if (password) msg = msg.split(password).join('***')
    throw new Error(`cannot connect to PostgreSQL at ${where}: ${msg}`, { cause: err })
  }
  log.info({ engine: 'postgres', where, poolMax: max }, 'database opened')

  const wrap = (c: pg.Pool | pg.PoolClient): Queryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      // Several statements on the simple protocol give one result each (typed as one); keep the last.
      const res: pg.QueryResult | pg.QueryResult[] = await c.query(sql, params)
      return (Array.isArray(res) ? (res.at(-1)?.rows ?? []) : res.rows) as T[]
    },
  })
  let closed = false
  return {
    kind: 'postgres',
    ...wrap(pool),
    async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect()
      let broken: Error | undefined
      try {
        await client.query('BEGIN')
        const result = await fn(wrap(client))
        await client.query('COMMIT')
        return result
      } catch (err) {
        // A failed ROLLBACK means the connection is unusable: destroy it instead of pooling it.
        await client.query('ROLLBACK').catch((e: Error) => (broken = e))
        throw err
      } finally {
        client.release(broken)
      }
    },
    async close() {
      if (closed) return
      closed = true
      await pool.end()
    },
  }
}

async function openPglite(dataDir: string | undefined, log: Logger): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true })
  const lite = await PGlite.create({ dataDir, parsers: { [INT8_OID]: parseInt8 } })
  log.info({ engine: 'pglite', dataDir: dataDir ?? '(memory)' }, 'database opened')

  // PGlite's query() is extended-protocol only (one statement); exec() mirrors pg's simple protocol.
  const run = async <T>(c: PGlite | Transaction, sql: string, params?: unknown[]): Promise<T[]> => {
    if (params && params.length > 0) return (await c.query<T>(sql, params)).rows
    const results = await c.exec(sql)
    return (results.at(-1)?.rows ?? []) as T[]
  }
  let closed = false
  return {
    kind: 'pglite',
    query: <T>(sql: string, params?: unknown[]) => run<T>(lite, sql, params),
    // One connection: PGlite queues other queries until the transaction ends. Inside fn, use q
    // only; a query on the Db itself would wait for the transaction and deadlock.
    tx: <T>(fn: (q: Queryable) => Promise<T>) =>
      lite.transaction((t) => fn({ query: <R>(sql: string, params?: unknown[]) => run<R>(t, sql, params) })),
    async close() {
      if (closed) return
      closed = true
      await lite.close()
    },
  }
}
