/**
 * Roles and permissions of the central API and dashboard: a pure table, tested on its own.
 * A principal (a logged-in user or a machine API token) has one role and a store scope: a list of
 * store ids, or ['*'] for every store. A request is allowed when the role grants the permission
 * AND the store (where the route names one) is in scope.
 */
export const ROLES = ['ops', 'marketing', 'security', 'admin'] as const
export type Role = (typeof ROLES)[number]

export const PERMISSIONS = [
  'stores:read', // the store list, a store's status
  'footfall:read', // live and historical footfall, occupancy, visitors, dwell; presence events
  'layout:write', // a store's zone layout (pushed to the edge as retained config)
  'stores:write', // create or rename stores
  'devices:read',
  'devices:write',
  'users:read',
  'users:write',
  'tokens:write',
  'audit:read',
  'campaigns:read', // campaigns (trigger rules), their versions, audit and preview; geofences; rule targets
  'campaigns:write', // create, edit, archive campaigns; draw geofences (pushed to the edges as retained config)
  'members:read', // opted-in members (plates, beacons, push targets)
  'members:write',
  'coupons:read', // the coupon ledger, its funnel and the live coupon feed
  'coupons:redeem', // redeem a coupon at a till (an ops API token scoped to its store)
  'locations:write', // member-app location reports (the member-app backend's token)
  'cameras:view', // the security view: camera list, live video and overlay, events, blurred snapshots
  'cameras:unblur', // an unblurred snapshot (each view is audited; the edge and gateway policies must allow it too)
] as const
export type Permission = (typeof PERMISSIONS)[number]

/** Least privilege. Unblurred snapshots are admin-only: seeing faces is an exception, and an audited one. */
const GRANTS: Record<Role, readonly Permission[]> = {
  ops: ['stores:read', 'footfall:read', 'layout:write', 'devices:read', 'coupons:read', 'coupons:redeem'],
  marketing: ['stores:read', 'campaigns:read', 'campaigns:write', 'members:read', 'members:write', 'coupons:read', 'locations:write'],
  security: ['stores:read', 'devices:read', 'cameras:view'],
  admin: PERMISSIONS,
}

export interface Principal {
  kind: 'user' | 'token'
  id: string
  /** Username or token name, for the audit log. */
  name: string
  role: Role
  /** Store ids in scope, or ['*'] for all stores. */
  stores: string[]
}

export const isRole = (x: unknown): x is Role => typeof x === 'string' && (ROLES as readonly string[]).includes(x)

export function can(p: Pick<Principal, 'role'>, perm: Permission): boolean {
  return GRANTS[p.role].includes(perm)
}

export function inScope(p: Pick<Principal, 'stores'>, storeId: string): boolean {
  return p.stores.includes('*') || p.stores.includes(storeId)
}

/** The permissions of a role, for the UI (navigation follows them). */
export function permissionsOf(role: Role): Permission[] {
  return [...GRANTS[role]]
}

/** Store ids of `all` that the principal may see. */
export function scopeFilter<T extends { id: string }>(p: Pick<Principal, 'stores'>, all: T[]): T[] {
  return p.stores.includes('*') ? all : all.filter((s) => p.stores.includes(s.id))
}
