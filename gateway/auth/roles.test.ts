import { describe, expect, it } from 'vitest'
import { PERMISSIONS, ROLES, can, inScope, isRole, permissionsOf, scopeFilter, type Permission, type Role } from './roles.ts'

/**
 * The permission matrix, written out by hand: a change to GRANTS must change this table too.
 * ✓ granted, · refused.
 */
const MATRIX: Record<Permission, Record<Role, boolean>> = {
  //                  ops    marketing security admin
  'stores:read': { ops: true, marketing: true, security: true, admin: true },
  'footfall:read': { ops: true, marketing: false, security: false, admin: true },
  'layout:write': { ops: true, marketing: false, security: false, admin: true },
  'stores:write': { ops: false, marketing: false, security: false, admin: true },
  'devices:read': { ops: true, marketing: false, security: true, admin: true },
  'devices:write': { ops: false, marketing: false, security: false, admin: true },
  'users:read': { ops: false, marketing: false, security: false, admin: true },
  'users:write': { ops: false, marketing: false, security: false, admin: true },
  'tokens:write': { ops: false, marketing: false, security: false, admin: true },
  'audit:read': { ops: false, marketing: false, security: false, admin: true },
  'campaigns:read': { ops: false, marketing: true, security: false, admin: true },
  'campaigns:write': { ops: false, marketing: true, security: false, admin: true },
  'members:read': { ops: false, marketing: true, security: false, admin: true },
  'members:write': { ops: false, marketing: true, security: false, admin: true },
  'coupons:read': { ops: true, marketing: true, security: false, admin: true },
  'coupons:redeem': { ops: true, marketing: false, security: false, admin: true },
  'locations:write': { ops: false, marketing: true, security: false, admin: true },
  'cameras:view': { ops: false, marketing: false, security: true, admin: true },
  'cameras:unblur': { ops: false, marketing: false, security: false, admin: true },
}

describe('permission matrix', () => {
  it('covers every permission and role', () => {
    expect(Object.keys(MATRIX).sort()).toEqual([...PERMISSIONS].sort())
    for (const row of Object.values(MATRIX)) expect(Object.keys(row).sort()).toEqual([...ROLES].sort())
  })

  const cases = PERMISSIONS.flatMap((perm) => ROLES.map((role) => [role, perm, MATRIX[perm][role]] as const))
  it.each(cases)('%s × %s → %s', (role, perm, allowed) => {
    expect(can({ role }, perm)).toBe(allowed)
  })

  it.each(ROLES.map((r) => [r]))('permissionsOf(%s) lists exactly what can() grants, in catalogue order', (role) => {
    expect(permissionsOf(role)).toEqual(PERMISSIONS.filter((p) => MATRIX[p][role]))
  })

  it('permissionsOf returns a copy: the table cannot be changed through it', () => {
    const perms = permissionsOf('marketing')
    perms.push('users:write')
    expect(can({ role: 'marketing' }, 'users:write')).toBe(false)
    expect(permissionsOf('marketing')).toEqual(['stores:read', 'campaigns:read', 'campaigns:write', 'members:read', 'members:write', 'coupons:read', 'locations:write'])
  })

  it('isRole accepts the four roles only', () => {
    for (const r of ROLES) expect(isRole(r)).toBe(true)
    for (const x of ['Admin', 'root', '', undefined, null, 1, ['admin'], 'admin ']) expect(isRole(x)).toBe(false)
  })
})

describe('store scope', () => {
  it("'*' covers every store, however named", () => {
    for (const id of ['store-a', 'x', '上海', '*']) expect(inScope({ stores: ['*'] }, id)).toBe(true)
  })

  it('a list covers exactly its members', () => {
    const p = { stores: ['store-a', 'store-c'] }
    expect(inScope(p, 'store-a')).toBe(true)
    expect(inScope(p, 'store-c')).toBe(true)
    expect(inScope(p, 'store-b')).toBe(false)
    expect(inScope(p, 'store-')).toBe(false)
    expect(inScope(p, 'STORE-A')).toBe(false)
    expect(inScope(p, '*')).toBe(false)
  })

  it("'*' anywhere in the list means all; an empty list means none", () => {
    expect(inScope({ stores: ['store-a', '*'] }, 'store-z')).toBe(true)
    expect(inScope({ stores: [] }, 'store-a')).toBe(false)
  })

  it('scopeFilter keeps the stores in scope, in their order', () => {
    const all = [{ id: 'c' }, { id: 'a' }, { id: 'b' }]
    expect(scopeFilter({ stores: ['*'] }, all)).toBe(all)
    expect(scopeFilter({ stores: ['b', 'c', 'zz'] }, all)).toEqual([{ id: 'c' }, { id: 'b' }])
    expect(scopeFilter({ stores: [] }, all)).toEqual([])
  })
})
