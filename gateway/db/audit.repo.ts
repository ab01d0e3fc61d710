import { toMs, type Queryable } from './db.ts'

/** Who did what, append only: logins, user and token changes, layout pushes, store edits. */
export const ACTOR_KINDS = ['user', 'token', 'system'] as const
export type ActorKind = (typeof ACTOR_KINDS)[number]

export interface AuditInput {
  actor: string
  actorKind: ActorKind
  /** Dotted verb, e.g. 'user.create', 'session.login', 'layout.push'. */
  action: string
  target?: string
  storeId?: string
  detail?: unknown
  ip?: string
}

export interface AuditEntry {
  id: number
  ts: number
  actor: string
  actorKind: ActorKind
  action: string
  target: string | null
  storeId: string | null
  detail: unknown | null
  ip: string | null
}

export interface AuditQuery {
  /** Default 100, at most 1000. */
  limit?: number
  /** Cursor: only entries with an id below this (the last id of the previous page). */
  before?: number
  storeId?: string
  action?: string
  /** What the entry is about, e.g. `campaign:<id>` (a campaign's trail). */
  target?: string
}

interface AuditRow {
  id: number
  ts: Date
  actor: string
  actor_kind: ActorKind
  action: string
  target: string | null
  store_id: string | null
  detail: unknown | null
  ip: string | null
}

export const AUDIT_DEFAULT_LIMIT = 100
export const AUDIT_MAX_LIMIT = 1000

const toEntry = (r: AuditRow): AuditEntry => ({
  id: Number(r.id),
  ts: toMs(r.ts) as number,
  actor: r.actor,
  actorKind: r.actor_kind,
  action: r.action,
  target: r.target,
  storeId: r.store_id,
  detail: r.detail,
  ip: r.ip,
})

export class AuditRepo {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => number = Date.now,
  ) {}

  /** Appends one entry and returns its id. */
  async record(e: AuditInput): Promise<number> {
    if (!(ACTOR_KINDS as readonly string[]).includes(e.actorKind)) throw new Error(`invalid actor kind ${JSON.stringify(e.actorKind)}`)
    if (typeof e.actor !== 'string' || e.actor === '') throw new Error('audit actor is required')
    if (typeof e.action !== 'string' || e.action === '') throw new Error('audit action is required')
    const rows = await this.db.query<{ id: number }>(
      `insert into audit_log (ts, actor, actor_kind, action, target, store_id, detail, ip)
       values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8) returning id`,
      [
        new Date(this.now()),
        e.actor,
        e.actorKind,
        e.action,
        e.target ?? null,
        e.storeId ?? null,
        e.detail === undefined ? null : JSON.stringify(e.detail),
        e.ip ?? null,
      ],
    )
    return Number(rows[0]?.id)
  }

  /**
   * Newest first, in insertion (id) order: ts is the writer's clock and two replicas may disagree by
   * a few ms, while the id cursor makes pages stable as new entries arrive.
   */
  async list(q: AuditQuery = {}): Promise<AuditEntry[]> {
    const limit = Math.min(Math.max(1, Math.floor(q.limit ?? AUDIT_DEFAULT_LIMIT)), AUDIT_MAX_LIMIT)
    const where: string[] = []
    const params: unknown[] = []
    const add = (clause: string, value: unknown) => {
      params.push(value)
      where.push(clause.replace('?', `$${params.length}`))
    }
    if (q.before !== undefined) add('id < ?', q.before)
    if (q.storeId !== undefined) add('store_id = ?', q.storeId)
    if (q.action !== undefined) add('action = ?', q.action)
    if (q.target !== undefined) add('target = ?', q.target)
    params.push(limit)
    const rows = await this.db.query<AuditRow>(
      `select id, ts, actor, actor_kind, action, target, store_id, detail, ip from audit_log
       ${where.length ? `where ${where.join(' and ')}` : ''} order by id desc limit $${params.length}`,
      params,
    )
    return rows.map(toEntry)
  }
}
