import mqtt from 'mqtt'
import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GatewayApp } from '../gateway/app.ts'
import { ROLES, type Role } from '../gateway/auth/roles.ts'
import { tempDir, testLogger, waitFor } from './helpers.ts'
import { freshDatabase, gatewayTestConfig } from './support/gateway.ts'

/**
 * The HTTP API through inject() on a whole GatewayApp: the machine's PostgreSQL (a database of its
 * own, dropped afterwards), the embedded broker, demo users (one per role).
 */

let app: GatewayApp
let db: { url: string; drop: () => Promise<void> }
let cleanup: () => Promise<void>
const cookies = {} as Record<Role, string>
const PASSWORDS: Record<Role, string> = { ops: 'demo-ops', marketing: 'demo-marketing', security: 'demo-security', admin: 'demo-admin' }

type Res = Awaited<ReturnType<GatewayApp['http']['inject']>>
const call = (method: InjectOptions['method'], url: string, o: { cookie?: string; bearer?: string; body?: unknown; ip?: string; headers?: Record<string, string> } = {}): Promise<Res> =>
  app.http.inject({
    method,
    url,
    remoteAddress: o.ip,
    headers: { ...(o.cookie ? { cookie: o.cookie } : {}), ...(o.bearer ? { authorization: `Bearer ${o.bearer}` } : {}), ...o.headers },
    ...(o.body !== undefined ? { payload: o.body as object } : {}),
  })
const errorCode = (r: Res) => (r.json() as { error?: { code: string } }).error?.code

async function login(username: string, password: string, ip?: string): Promise<string> {
  const r = await call('POST', '/v1/auth/login', { body: { username, password }, ip })
  expect(r.statusCode, r.body).toBe(200)
  const c = r.cookies.find((x) => x.name === 'se_session')!
  return `se_session=${c.value}`
}
const admin = (method: InjectOptions['method'], url: string, body?: unknown) => call(method, url, { cookie: cookies.admin, body })
async function auditEntries(action: string): Promise<Array<{ actor: string; actorKind: string; action: string; target: string | null; storeId: string | null; ip: string | null; detail: Record<string, unknown> }>> {
  const r = await admin('GET', `/v1/audit?action=${encodeURIComponent(action)}&limit=1000`)
  expect(r.statusCode).toBe(200)
  return r.json().entries
}
const cameraConfig = {
  cameras: [{ id: 'door', url: 'rtsp://viewer:s3cret@10.0.0.21/stream2', lines: [{ id: 'door', entrance: 'main', a: { x: 0.4, y: 0.3 }, b: { x: 0.4, y: 0.95 } }] }],
}
const layout = { zones: [{ id: 'entrance', name: 'Entrance', floor: 0 }, { id: 'tills', name: 'Tills', floor: 0 }], sensors: [{ id: 'ble-1', zone: 'entrance', kind: 'ble', rssiOffset: 0, absorption: 3.5 }] }

beforeAll(async () => {
  const t = await tempDir('se-gw-api-')
  cleanup = t.cleanup
  db = await freshDatabase()
  const config = gatewayTestConfig(t.dir, { auth: { demoUsers: true, loginMaxFailures: 3, loginBanMs: 60_000 }, database: { url: db.url } })
  app = await new GatewayApp({ config, logger: testLogger(), defaultMetrics: false }).start()
  await waitFor(() => app.live.client?.connected && app.uplink.connected, 'consumers connected to the embedded broker')
  for (const role of ROLES) cookies[role] = await login(role, PASSWORDS[role])
  for (const id of ['store-a', 'store-b']) expect((await admin('POST', '/v1/stores', { id, name: id.toUpperCase(), timezone: 'Asia/Shanghai' })).statusCode).toBe(201)
})
afterAll(async () => {
  await app?.stop()
  await db?.drop()
  await cleanup?.()
})

describe('login', () => {
  it('sets an HttpOnly, SameSite=Strict session cookie and answers who is logged in', async () => {
    const r = await call('POST', '/v1/auth/login', { body: { username: 'ops', password: 'demo-ops' } })
    expect(r.statusCode).toBe(200)
    const set = String(r.headers['set-cookie'])
    expect(set).toMatch(/^se_session=ses_[\w-]+;/)
    expect(set).toMatch(/HttpOnly/)
    expect(set).toMatch(/SameSite=Strict/)
    expect(set).toMatch(/Path=\//)
    expect(r.json()).toMatchObject({ user: { username: 'ops', role: 'ops', stores: ['*'] }, permissions: ['stores:read', 'footfall:read', 'layout:write', 'devices:read', 'coupons:read', 'coupons:redeem'] })
    const me = await call('GET', '/v1/auth/me', { cookie: cookies.security })
    expect(me.json()).toMatchObject({ user: { username: 'security', role: 'security' }, permissions: ['stores:read', 'devices:read', 'cameras:view'] })
  })

  it('a wrong password is 401 STORE_EDGE_ERR_LOGIN_FAILED, like an unknown user', async () => {
    for (const username of ['marketing', 'nobody']) {
      const r = await call('POST', '/v1/auth/login', { body: { username, password: 'wrong-password' }, ip: '10.0.0.1' })
      expect(r.statusCode).toBe(401)
      expect(errorCode(r)).toBe('STORE_EDGE_ERR_LOGIN_FAILED')
      expect(r.headers['set-cookie']).toBeUndefined()
    }
  })

  it('after loginMaxFailures failures from one address the name is refused with 429, even with the right password', async () => {
    const ip = '10.0.0.2'
    for (let i = 0; i < 3; i++) expect((await call('POST', '/v1/auth/login', { body: { username: 'security', password: 'nope' }, ip })).statusCode).toBe(401)
    const r = await call('POST', '/v1/auth/login', { body: { username: 'security', password: 'demo-security' }, ip })
    expect(r.statusCode).toBe(429)
    expect(errorCode(r)).toBe('STORE_EDGE_ERR_LOGIN_BACKOFF')
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0)
    // X-Forwarded-For is not believed (http.trustProxy is off): it cannot dodge the ban.
    expect((await call('POST', '/v1/auth/login', { body: { username: 'security', password: 'demo-security' }, ip, headers: { 'x-forwarded-for': '192.0.2.7' } })).statusCode).toBe(429)
    // Another address is not affected.
    expect((await call('POST', '/v1/auth/login', { body: { username: 'security', password: 'demo-security' }, ip: '10.0.0.3' })).statusCode).toBe(200)
  })

  it('logout ends the session', async () => {
    const c = await login('ops', 'demo-ops')
    expect((await call('POST', '/v1/auth/logout', { cookie: c, body: {} })).statusCode).toBe(204)
    expect((await call('GET', '/v1/auth/me', { cookie: c })).statusCode).toBe(401)
  })
})

describe('RBAC matrix', () => {
  let n = 0
  const routes: Array<{ route: string; method: InjectOptions['method']; url: string; body?: () => unknown; ok: number; roles: Role[] }> = [
    { route: 'GET /v1/stores', method: 'GET', url: '/v1/stores', ok: 200, roles: ['ops', 'marketing', 'security', 'admin'] },
    { route: 'GET /v1/overview', method: 'GET', url: '/v1/overview', ok: 200, roles: ['ops', 'admin'] },
    { route: 'GET /v1/stores/:id/series', method: 'GET', url: '/v1/stores/store-a/series', ok: 200, roles: ['ops', 'admin'] },
    { route: 'GET /v1/stores/:id/events', method: 'GET', url: '/v1/stores/store-a/events', ok: 200, roles: ['ops', 'admin'] },
    { route: 'PUT /v1/stores/:id/layout', method: 'PUT', url: '/v1/stores/store-a/layout', body: () => layout, ok: 200, roles: ['ops', 'admin'] },
    { route: 'PUT /v1/stores/:id/cameras/config', method: 'PUT', url: '/v1/stores/store-a/cameras/config', body: () => cameraConfig, ok: 200, roles: ['ops', 'admin'] },
    { route: 'POST /v1/stores', method: 'POST', url: '/v1/stores', body: () => ({ id: `rbac-${++n}`, name: 'RBAC' }), ok: 201, roles: ['admin'] },
    { route: 'GET /v1/users', method: 'GET', url: '/v1/users', ok: 200, roles: ['admin'] },
    { route: 'POST /v1/users', method: 'POST', url: '/v1/users', body: () => ({ username: `rbac-${++n}`, displayName: 'R', password: 'long-enough-1', role: 'marketing', stores: ['*'] }), ok: 201, roles: ['admin'] },
    { route: 'GET /v1/audit', method: 'GET', url: '/v1/audit', ok: 200, roles: ['admin'] },
    { route: 'POST /v1/tokens', method: 'POST', url: '/v1/tokens', body: () => ({ name: `rbac-${++n}`, role: 'marketing', stores: ['*'] }), ok: 201, roles: ['admin'] },
    { route: 'GET /v1/stores/:id/devices', method: 'GET', url: '/v1/stores/store-a/devices', ok: 200, roles: ['ops', 'security', 'admin'] },
    { route: 'GET /v1/campaigns', method: 'GET', url: '/v1/campaigns', ok: 200, roles: ['marketing', 'admin'] },
    { route: 'GET /v1/stores/:id/geofences', method: 'GET', url: '/v1/stores/store-a/geofences', ok: 200, roles: ['marketing', 'admin'] },
    { route: 'GET /v1/members', method: 'GET', url: '/v1/members', ok: 200, roles: ['marketing', 'admin'] },
  ]
  const cases = ROLES.flatMap((role) => routes.map((r) => ({ ...r, role, expected: r.roles.includes(role) ? r.ok : 403 })))

  it.each(cases)('$role × $route → $expected', async ({ role, method, url, body, expected }) => {
    const r = await call(method, url, { cookie: cookies[role], body: body?.() })
    expect(r.statusCode, r.body).toBe(expected)
    if (expected === 403) expect(errorCode(r)).toBe('STORE_EDGE_ERR_FORBIDDEN')
  })

  it.each(routes)('unauthenticated × $route → 401', async ({ method, url, body }) => {
    const r = await call(method, url, { body: body?.() })
    expect(r.statusCode).toBe(401)
    expect(errorCode(r)).toBe('STORE_EDGE_ERR_UNAUTHENTICATED')
  })

  it('an unknown session cookie or API token is 401', async () => {
    expect((await call('GET', '/v1/stores', { cookie: 'se_session=ses_forged' })).statusCode).toBe(401)
    expect((await call('GET', '/v1/stores', { bearer: 'set_forged' })).statusCode).toBe(401)
  })
})

describe('store scope', () => {
  it('a user scoped to store-a neither sees nor reads store-b', async () => {
    expect((await admin('POST', '/v1/users', { username: 'scoped', displayName: 'Scoped', password: 'scoped-pass', role: 'ops', stores: ['store-a'] })).statusCode).toBe(201)
    const c = await login('scoped', 'scoped-pass')
    expect((await call('GET', '/v1/stores/store-a/series', { cookie: c })).statusCode).toBe(200)
    const b = await call('GET', '/v1/stores/store-b/series', { cookie: c })
    expect(b.statusCode).toBe(403)
    expect(errorCode(b)).toBe('STORE_EDGE_ERR_FORBIDDEN')
    for (const url of ['/v1/stores/store-b/events', '/v1/stores/store-b/devices']) expect((await call('GET', url, { cookie: c })).statusCode).toBe(403)
    expect((await call('PUT', '/v1/stores/store-b/layout', { cookie: c, body: layout })).statusCode).toBe(403)
    expect((await call('GET', '/v1/stores', { cookie: c })).json().stores.map((s: { id: string }) => s.id)).toEqual(['store-a'])
    const overview = (await call('GET', '/v1/overview', { cookie: c })).json()
    expect(overview.stores.map((s: { id: string }) => s.id)).toEqual(['store-a'])
    expect(overview.totals.stores).toBe(1)
  })
})

describe('API tokens', () => {
  it('are created by an admin (secret shown once), work as Bearer with their role and scope, and stop when revoked', async () => {
    const created = await admin('POST', '/v1/tokens', { name: 'bi-export', role: 'ops', stores: ['store-b'] })
    expect(created.statusCode).toBe(201)
    const { id, token } = created.json() as { id: string; token: string }
    expect(token).toMatch(/^set_[\w-]{40,}$/)
    const listed = (await admin('GET', '/v1/tokens')).json().tokens.find((t: { id: string }) => t.id === id)
    expect(listed).toMatchObject({ name: 'bi-export', role: 'ops', stores: ['store-b'], createdBy: 'admin', revokedAt: null })
    expect(JSON.stringify(listed)).not.toContain(token.slice(4))

    expect((await call('GET', '/v1/auth/me', { bearer: token })).json()).toMatchObject({ user: { username: 'bi-export', role: 'ops', stores: ['store-b'] } })
    expect((await call('GET', '/v1/stores', { bearer: token })).json().stores.map((s: { id: string }) => s.id)).toEqual(['store-b'])
    expect((await call('GET', '/v1/stores/store-b/series', { bearer: token })).statusCode).toBe(200)
    expect((await call('GET', '/v1/stores/store-a/series', { bearer: token })).statusCode).toBe(403)
    expect((await call('GET', '/v1/users', { bearer: token })).statusCode).toBe(403)
    // Machines need no JSON content type: the CSRF guard is for cookies.
    expect((await call('PUT', '/v1/stores/store-b/layout', { bearer: token, body: JSON.stringify(layout), headers: { 'content-type': 'application/json' } })).statusCode).toBe(200)
    expect((await auditEntries('layout.push'))[0]).toMatchObject({ actor: 'bi-export', actorKind: 'token', storeId: 'store-b' })

    expect((await admin('DELETE', `/v1/tokens/${id}`)).statusCode).toBe(204)
    const after = await call('GET', '/v1/stores', { bearer: token })
    expect(after.statusCode).toBe(401)
    expect(errorCode(after)).toBe('STORE_EDGE_ERR_UNAUTHENTICATED')
  })
})

describe('users and the audit log', () => {
  it('every change is audited with its actor; disabling a user ends their sessions', async () => {
    const failedIp = '10.0.0.9'
    await call('POST', '/v1/auth/login', { body: { username: 'temp', password: 'wrong-password' }, ip: failedIp })
    const created = await admin('POST', '/v1/users', { username: 'temp', displayName: 'Temp', password: 'temp-pass-1', role: 'ops', stores: ['store-a'] })
    expect(created.statusCode).toBe(201)
    const user = created.json().user as { id: string }
    expect(created.json().user).not.toHaveProperty('passwordHash')
    const c = await login('temp', 'temp-pass-1')
    expect((await call('GET', '/v1/auth/me', { cookie: c })).statusCode).toBe(200)

    const disabled = await admin('PATCH', `/v1/users/${user.id}`, { disabled: true })
    expect(disabled.statusCode).toBe(200)
    expect(disabled.json().user.disabled).toBe(true)
    expect((await call('GET', '/v1/auth/me', { cookie: c })).statusCode).toBe(401)
    expect((await call('POST', '/v1/auth/login', { body: { username: 'temp', password: 'temp-pass-1' } })).statusCode).toBe(401)

    expect((await admin('DELETE', `/v1/users/${user.id}`)).statusCode).toBe(204)
    expect((await admin('GET', '/v1/users')).json().users.map((u: { username: string }) => u.username)).not.toContain('temp')

    const created2 = await admin('POST', '/v1/stores', { id: 'store-audit', name: 'Audit' })
    expect(created2.statusCode).toBe(201)
    const tok = (await admin('POST', '/v1/tokens', { name: 'audited', role: 'marketing', stores: ['*'] })).json() as { id: string }
    expect((await admin('DELETE', `/v1/tokens/${tok.id}`)).statusCode).toBe(204)
    expect((await admin('PUT', '/v1/stores/store-a/layout', layout)).statusCode).toBe(200)

    const expectAudit = async (action: string, e: Record<string, unknown>) => expect(await auditEntries(action)).toContainEqual(expect.objectContaining({ action, ...e }))
    await expectAudit('session.login_failed', { actor: 'anonymous', target: 'temp', ip: failedIp })
    await expectAudit('user.create', { actor: 'admin', actorKind: 'user', target: 'temp', detail: { role: 'ops', stores: ['store-a'] } })
    await expectAudit('session.login', { actor: 'temp', actorKind: 'user', target: 'temp' })
    await expectAudit('user.update', { actor: 'admin', target: 'temp', detail: { disabled: true } })
    await expectAudit('user.delete', { actor: 'admin', target: 'temp' })
    await expectAudit('store.create', { actor: 'admin', target: 'store-audit', storeId: 'store-audit' })
    await expectAudit('token.create', { actor: 'admin', target: tok.id, detail: { name: 'audited', role: 'marketing', stores: ['*'] } })
    await expectAudit('token.revoke', { actor: 'admin', target: tok.id })
    await expectAudit('layout.push', { actor: 'admin', target: 'store-a', storeId: 'store-a', detail: expect.objectContaining({ zones: 2, sensors: 1 }) })
    expect(JSON.stringify(await auditEntries('user.update'))).not.toContain('temp-pass-1')
  })

  it('camera config: validated with paths, pushed with defaults filled in, audited without stream URLs', async () => {
    const bad = await admin('PUT', '/v1/stores/store-a/cameras/config', { cameras: [{ id: 'door', url: 'x', lines: [{ id: 'l', entrance: 'e', a: { x: 0.5, y: 0.5 }, b: { x: 0.5, y: 0.5 } }] }, { id: 'door', url: 'y', detect: { fps: 99 } }] })
    expect(bad.statusCode).toBe(400)
    expect(JSON.stringify(bad.json())).toMatch(/\/cameras\/1\/detect\/fps/)
    const dup = await admin('PUT', '/v1/stores/store-a/cameras/config', { cameras: [cameraConfig.cameras[0], cameraConfig.cameras[0]] })
    expect(dup.statusCode).toBe(400)
    expect(JSON.stringify(dup.json())).toContain('duplicate camera \\"door\\"')
    const ok = await admin('PUT', '/v1/stores/store-a/cameras/config', cameraConfig)
    expect(ok.statusCode).toBe(200)
    expect(ok.json()).toMatchObject({ cameras: 1 })
    const entries = await auditEntries('cameras.push')
    expect(entries[0]).toMatchObject({ target: 'store-a', detail: { cameras: [{ id: 'door', roles: ['footfall'], lines: 1, zones: 0 }] } })
    expect(JSON.stringify(entries)).not.toContain('s3cret')
  })

  it('a password change is audited without the password', async () => {
    const u = (await admin('POST', '/v1/users', { username: 'pw-change', displayName: 'P', password: 'first-password', role: 'marketing', stores: ['*'] })).json().user as { id: string }
    expect((await admin('PATCH', `/v1/users/${u.id}`, { password: 'second-password' })).statusCode).toBe(200)
    const e = (await auditEntries('user.update')).find((x) => x.target === 'pw-change')!
    expect(e.detail).toEqual({ password: 'changed' })
  })

  it('an admin cannot disable, demote or delete themselves', async () => {
    const me = (await call('GET', '/v1/auth/me', { cookie: cookies.admin })).json().user as { id: string }
    for (const body of [{ disabled: true }, { role: 'ops' }]) expect(errorCode(await admin('PATCH', `/v1/users/${me.id}`, body))).toBe('STORE_EDGE_ERR_VALIDATION')
    expect((await admin('DELETE', `/v1/users/${me.id}`)).statusCode).toBe(400)
  })
})

describe('request validation', () => {
  const user = { username: 'valid-name', displayName: 'V', password: 'long-enough-1', role: 'ops', stores: ['*'] }
  it.each([
    ['bad role', 'role', { ...user, role: 'root' }],
    ['short password', 'password', { ...user, password: 'short' }],
    ['bad username', 'username', { ...user, username: 'Bad Name' }],
    ['bad store scope', 'stores', { ...user, stores: ['store/x'] }],
    ['missing field', 'displayName', { ...user, displayName: undefined }],
    ['extra property', 'isAdmin', { ...user, isAdmin: true }],
  ])('%s → 400 STORE_EDGE_ERR_VALIDATION naming %s', async (_name, field, body) => {
    const r = await admin('POST', '/v1/users', body)
    expect(r.statusCode).toBe(400)
    expect(errorCode(r)).toBe('STORE_EDGE_ERR_VALIDATION')
    expect(r.json().error.message).toContain(field)
  })

  it('a query parameter out of range is named too', async () => {
    const r = await admin('GET', '/v1/audit?limit=5000')
    expect(r.statusCode).toBe(400)
    expect(r.json().error).toEqual({ code: 'STORE_EDGE_ERR_VALIDATION', message: 'querystring/limit must be <= 1000' })
    const extra = await admin('POST', '/v1/stores', { id: 'x-1', name: 'X', owner: 'me', colour: 'red' })
    expect(extra.json().error.message).toBe("body must NOT have additional properties 'owner', body must NOT have additional properties 'colour'")
  })

  it('a layout whose sensor names an unknown zone is refused with the path', async () => {
    const r = await admin('PUT', '/v1/stores/store-a/layout', { ...layout, sensors: [{ ...layout.sensors[0], zone: 'nowhere' }] })
    expect(r.statusCode).toBe(400)
    expect(r.json().error.message).toContain('/sensors/0/zone')
  })

  it('a cookie-authenticated change without a JSON content type is refused (CSRF)', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      const r = await app.http.inject({ method: 'POST', url: '/v1/stores', headers: { cookie: cookies.admin, ...(ct ? { 'content-type': ct } : {}) }, payload: ct ? 'id=csrf&name=x' : undefined })
      expect(r.statusCode, String(ct)).toBe(403)
      expect(errorCode(r)).toBe('STORE_EDGE_ERR_FORBIDDEN')
    }
    expect((await admin('GET', '/v1/stores')).json().stores.map((s: { id: string }) => s.id)).not.toContain('csrf')
  })
})

describe('layout push', () => {
  it('publishes the layout retained on stores/{id}/config/zones with a rising version', async () => {
    const first = (await admin('PUT', '/v1/stores/store-b/layout', layout)).json().version as number
    const r = await admin('PUT', '/v1/stores/store-b/layout', { ...layout, zones: [layout.zones[0]] })
    expect(r.statusCode).toBe(200)
    const version = r.json().version as number
    expect(version).toBeGreaterThan(first)
    // A client connecting afterwards gets the latest layout as the retained message.
    const client = await mqtt.connectAsync(app.brokerUrl, { reconnectPeriod: 0, protocolVersion: 4 })
    try {
      const got = new Promise<{ payload: unknown; retain: boolean }>((resolve) => client.on('message', (_t, payload, packet) => resolve({ payload: JSON.parse(payload.toString()), retain: packet.retain })))
      await client.subscribeAsync('stores/store-b/config/zones', { qos: 1 })
      const msg = await got
      expect(msg.retain).toBe(true)
      expect(msg.payload).toEqual({ v: 1, version, zones: [layout.zones[0]], sensors: layout.sensors })
    } finally {
      await client.endAsync()
    }
  })
})

describe('system routes', () => {
  it('/openapi.json lists the routes', async () => {
    const paths = Object.keys((await call('GET', '/openapi.json')).json().paths)
    for (const p of ['/v1/auth/login', '/v1/auth/me', '/v1/stores', '/v1/stores/{storeId}/series', '/v1/stores/{storeId}/layout', '/v1/overview', '/v1/users', '/v1/users/{id}', '/v1/tokens', '/v1/audit', '/v1/stream', '/health', '/v1/campaigns', '/v1/campaigns/{id}', '/v1/campaigns/preview', '/v1/stores/{storeId}/geofences', '/v1/members', '/v1/locations']) {
      expect(paths).toContain(p)
    }
  })

  it('/health reports the modules and /metrics the counters, without a login', async () => {
    const h = await call('GET', '/health')
    expect(h.statusCode).toBe(200)
    expect(h.json()).toMatchObject({ ok: true, database: 'postgres', broker: { url: app.brokerUrl, connected: true, live: true }, tsdb: null })
    const m = await call('GET', '/metrics')
    expect(m.statusCode).toBe(200)
    expect(m.headers['content-type']).toMatch(/^text\/plain/)
    expect(m.body).toMatch(/store_edge_gw_logins_total\{result="failed"\} [1-9]/)
  })
})
