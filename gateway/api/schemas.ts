import { Type } from '@sinclair/typebox'
import { ROLES } from '../auth/roles.ts'

/** Shared request/response schemas of the API (they also document it in /openapi.json). */
export const ErrorBody = Type.Object(
  {
    error: Type.Object(
      { code: Type.String(), message: Type.String(), errors: Type.Optional(Type.Array(Type.String(), { description: 'Every problem found, each `/path: problem` (rules, geofences, plates).' })) },
      { additionalProperties: true, description: 'Some codes carry more fields (e.g. the current version on a version conflict).' },
    ),
  },
  { $id: 'Error' },
)
export const RoleSchema = Type.Union(ROLES.map((r) => Type.Literal(r)))
export const StoreIdParam = Type.Object({ storeId: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }) })
export const StoreScope = Type.Array(Type.String({ pattern: '^(\\*|[a-z0-9][a-z0-9_-]{0,63})$' }), { minItems: 1, maxItems: 10_000, description: "Store ids in scope, or ['*'] for all." })
export const UserOut = Type.Object({
  id: Type.String(),
  username: Type.String(),
  displayName: Type.String(),
  role: RoleSchema,
  stores: Type.Array(Type.String()),
  disabled: Type.Boolean(),
  createdAt: Type.Number(),
})
export const BySource = Type.Object({ ble: Type.Number(), wifi: Type.Number() })
export const StorePointOut = Type.Object({
  ts: Type.Number(),
  occupancy: Type.Number(),
  occupancyByZone: Type.Record(Type.String(), Type.Number()),
  visits: Type.Number(),
  visitsBySource: BySource,
  visitorsBySource: BySource,
  passersBySource: BySource,
  dwellP50S: Type.Union([Type.Number(), Type.Null()]),
})
export const StoreStatus = Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('unknown')])
export const StoreOut = Type.Object({
  id: Type.String(),
  name: Type.String(),
  timezone: Type.String(),
  status: StoreStatus,
  lastSeenAt: Type.Union([Type.Number(), Type.Null()]),
  location: Type.Union([Type.Object({ lat: Type.Number(), lng: Type.Number() }), Type.Null()], { description: 'Where the store is (the marketing map centres on it).' }),
})
export const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ErrorBody]))

/** One audit log entry as the API shows it (the admin's log, a campaign's trail). */
export const AuditEntryOut = Type.Object({
  id: Type.Number(),
  ts: Type.Number(),
  actor: Type.String(),
  actorKind: Type.String(),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  storeId: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Unknown(),
  ip: Type.Union([Type.String(), Type.Null()]),
})
