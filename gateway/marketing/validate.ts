import type { TSchema } from '@sinclair/typebox'
import { Value, type ValueError } from '@sinclair/typebox/value'
import { Campaign, CARPARK_ZONE, Geofence, campaignProblems, geofenceProblems, type Campaign as CampaignT, type Geofence as GeofenceT } from '../../edge/contracts/index.ts'

/**
 * Validation of what the marketing view saves: every schema error with its path, then the
 * cross-field problems of rules.ts, then what only central knows (zones of the stores a rule names).
 * Pure: the caller passes what the database knows.
 */

const literalsOf = (s: TSchema): unknown[] | undefined => {
  const anyOf = (s as { anyOf?: TSchema[] }).anyOf
  if (!anyOf?.every((x) => 'const' in x)) return undefined
  return anyOf.map((x) => (x as unknown as { const: unknown }).const)
}

/** For a union of objects with a literal tag field: `kind must be one of "circle", "polygon"`. */
function tagsOf(s: TSchema): string | undefined {
  const anyOf = (s as { anyOf?: Array<{ properties?: Record<string, { const?: unknown }> }> }).anyOf
  const first = anyOf?.[0]?.properties
  if (!first) return undefined
  const tag = Object.keys(first).find((k) => anyOf!.every((b) => b.properties?.[k] && 'const' in b.properties[k]!))
  return tag && `${tag} must be one of ${anyOf!.map((b) => JSON.stringify(b.properties![tag]!.const)).join(', ')}`
}

function describe(e: ValueError): string {
  const lits = literalsOf(e.schema)
  if (lits) return `must be one of ${lits.map((l) => JSON.stringify(l)).join(', ')}`
  const tags = tagsOf(e.schema)
  if (tags) return tags
  return e.message.charAt(0).toLowerCase() + e.message.slice(1)
}

/**
 * A union of objects told apart by a literal field (a geofence shape's `kind`): the branch the
 * value names, so its errors can be reported instead of "expected union value".
 */
function branchOf(s: TSchema, value: unknown): TSchema | undefined {
  const anyOf = (s as { anyOf?: TSchema[] }).anyOf
  if (!anyOf || typeof value !== 'object' || value === null) return undefined
  return anyOf.find((b) => {
    const props = (b as { properties?: Record<string, TSchema> }).properties ?? {}
    return Object.entries(props).some(([k, p]) => 'const' in p && (value as Record<string, unknown>)[k] === (p as unknown as { const: unknown }).const)
  })
}

/** Every schema error as `/path: problem`, one per path (a union's branch errors say nothing more). */
export function schemaErrors(schema: TSchema, value: unknown, base = ''): string[] {
  const out = new Map<string, string>()
  for (const e of Value.Errors(schema, value)) {
    const path = base + e.path || '/'
    const branch = branchOf(e.schema, e.value)
    if (branch) {
      for (const line of schemaErrors(branch, e.value, base + e.path)) {
        const i = line.indexOf(': ')
        if (!out.has(line.slice(0, i))) out.set(line.slice(0, i), line.slice(i + 2))
      }
      continue
    }
    // An unknown property is reported at its own path; say what it is.
    const msg = e.message === 'Unexpected property' ? 'unknown property' : describe(e)
    if (!out.has(path)) out.set(path, msg)
  }
  return [...out].map(([p, m]) => `${p}: ${m}`)
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/**
 * A campaign as the editor sends it, made whole: the optional sections default to empty (no
 * constraint), schema defaults filled in, `version` set by the caller. Never mutates the input.
 */
export function campaignDraft(input: unknown, version: number): unknown {
  if (!isObject(input)) return input
  const c: Record<string, unknown> = structuredClone(input)
  for (const k of ['audience', 'schedule', 'caps']) if (c[k] === undefined) c[k] = {}
  c.version = version
  return Value.Default(Campaign, c)
}

export function geofenceDraft(input: unknown): unknown {
  return isObject(input) ? Value.Default(Geofence, structuredClone(input)) : input
}

/** What a rule may name in the stores it covers. */
export interface RuleTargets {
  /** Store ids that exist. */
  stores: ReadonlySet<string>
  /** Zone ids known per store: layout zones, live zones, its geofences (not `carpark`). */
  zones(storeId: string): ReadonlySet<string>
}

export type Checked<T> = { ok: true; value: T; errors: [] } | { ok: false; errors: string[] }

/** Schema, rules.ts problems, unknown stores and zones: every problem at once. */
export function checkCampaign(draft: unknown, targets: RuleTargets): Checked<CampaignT> {
  const errors = schemaErrors(Campaign, draft)
  if (errors.length) return { ok: false, errors }
  const c = draft as CampaignT
  const stores = c.stores.includes('*') ? [...targets.stores] : c.stores
  c.stores.forEach((s, i) => {
    if (s !== '*' && !targets.stores.has(s)) errors.push(`/stores/${i}: unknown store "${s}"`)
  })
  const known = new Set<string>([CARPARK_ZONE])
  for (const s of stores) if (targets.stores.has(s)) for (const z of targets.zones(s)) known.add(z)
  errors.push(...campaignProblems(c, { zones: known }))
  return errors.length ? { ok: false, errors } : { ok: true, value: c, errors: [] }
}

/** Schema, rules.ts problems, and an id that would clash with a zone the store already has. */
export function checkGeofence(draft: unknown, layoutZones: ReadonlySet<string>): Checked<GeofenceT> {
  const errors = schemaErrors(Geofence, draft)
  if (errors.length) return { ok: false, errors }
  const g = draft as GeofenceT
  if (g.id === CARPARK_ZONE) errors.push(`/id: "${CARPARK_ZONE}" is the car park's zone`)
  else if (layoutZones.has(g.id)) errors.push(`/id: "${g.id}" is already a zone of the store's layout`)
  errors.push(...geofenceProblems(g))
  return errors.length ? { ok: false, errors } : { ok: true, value: g, errors: [] }
}

/**
 * What changed between two versions, for the audit log: `path: before → after` (values cut to 80
 * characters), objects compared field by field, at most `max` lines (the rest counted).
 */
export function diffSummary(before: unknown, after: unknown, max = 30): string[] {
  const out: string[] = []
  const show = (v: unknown) => (v === undefined ? '∅' : JSON.stringify(v).slice(0, 80))
  const walk = (a: unknown, b: unknown, path: string) => {
    // An object that appears or disappears is walked too: its fields are the news.
    if ((isObject(a) || isObject(b)) && (isObject(a) || a === undefined) && (isObject(b) || b === undefined)) {
      const x = (a ?? {}) as Record<string, unknown>
      const y = (b ?? {}) as Record<string, unknown>
      for (const k of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) walk(x[k], y[k], path ? `${path}.${k}` : k)
      return
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path}: ${show(a)} → ${show(b)}`)
  }
  walk(before, after, '')
  return out.length > max ? [...out.slice(0, max), `… and ${out.length - max} more`] : out
}
