import mqtt, { type MqttClient } from 'mqtt'
import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Value } from '@sinclair/typebox/value'
import { MembersConfigPayload, TriggersConfigPayload, topics, type Campaign, type LocationReport } from '../edge/contracts/index.ts'
import { GatewayApp } from '../gateway/app.ts'
import type { Role } from '../gateway/auth/roles.ts'
import { connect, tempDir, testLogger, waitFor } from './helpers.ts'
import { PrivateMosquitto } from './support/servers.ts'
import { freshDatabase, gatewayTestConfig, syntheticAggregate } from './support/gateway.ts'

/**
 * The central marketing API (campaigns, geofences, members, preview, locations, config publishing)
 * through inject() on a whole GatewayApp, once on the machine's PostgreSQL (a database of its own)
 * and once on embedded PGlite, each with a private Mosquitto (the machine's binary) as the central
 * broker, so the retained configs and forwarded locations are read back from a real broker.
 */

const PASSWORDS: Record<Role, string> = { ops: 'demo-ops', marketing: 'demo-marketing', security: 'demo-security', admin: 'demo-admin' }
const TZ = 'Asia/Shanghai'
const SHANGHAI = { lat: 31.2304, lng: 121.4737 }
const BEIJING = { lat: 39.9042, lng: 116.4074 }
const CHENGDU = { lat: 30.6586, lng: 104.0647 }
const layout = {
  zones: [
    { id: 'entrance', name: 'Entrance', floor: 0 },
    { id: 'cosmetics', name: 'Cosmetics', floor: 1 },
  ],
  sensors: [{ id: 'ble-1', zone: 'entrance', kind: 'ble', rssiOffset: 0, absorption: 3.5 }],
}

/** A valid campaign draft (no version): dwell 5 min in cosmetics at store-a. */
const draft = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'beauty-dwell',
  name: 'Beauty dwell',
  stores: ['store-a'],
  event: 'dwell',
  zones: ['cosmetics'],
  dwellS: 300,
  audience: { membersOnly: true },
  schedule: {},
  caps: { perMemberPerDay: 1 },
  coupon: { templateId: 'tpl-beauty', title: '10% off cosmetics', percentOff: 10 },
  ...over,
})

const engines = [
  { name: 'PostgreSQL', pg: true },
  { name: 'PGlite', pg: false },
]

describe.each(engines)('marketing API on $name', ({ pg }) => {
  let app: GatewayApp
  let mosquitto: PrivateMosquitto
  let db: { url: string; drop: () => Promise<void> } | undefined
  let cleanup: () => Promise<void>
  const cookies = {} as Record<Role, string>

  type Res = Awaited<ReturnType<GatewayApp['http']['inject']>>
  const call = (method: InjectOptions['method'], url: string, o: { cookie?: string; bearer?: string; body?: unknown } = {}): Promise<Res> =>
    app.http.inject({
      method,
      url,
      headers: { ...(o.cookie ? { cookie: o.cookie } : {}), ...(o.bearer ? { authorization: `Bearer ${o.bearer}` } : {}) },
      ...(o.body !== undefined ? { payload: o.body as object } : {}),
    })
  const as = (role: Role) => (method: InjectOptions['method'], url: string, body?: unknown) => call(method, url, { cookie: cookies[role], body })
  const admin = as('admin')
  const mkt = as('marketing')
  const err = (r: Res) => (r.json() as { error: { code: string; message: string; errors?: string[]; currentVersion?: number } }).error

  async function login(username: string, password: string): Promise<string> {
    const r = await call('POST', '/v1/auth/login', { body: { username, password } })
    expect(r.statusCode, r.body).toBe(200)
    return `se_session=${r.cookies.find((x) => x.name === 'se_session')!.value}`
  }

  /** The retained message on a topic, as a fresh subscriber gets it. */
  async function retained<T>(topic: string, until: (p: T) => boolean = () => true): Promise<{ payload: T; retain: boolean }> {
    return waitFor(async () => {
      const c = await connect(mosquitto.url, { protocolVersion: 5 })
      try {
        const got = new Promise<{ payload: T; retain: boolean }>((resolve) => c.on('message', (_t, payload, packet) => resolve({ payload: JSON.parse(payload.toString()) as T, retain: packet.retain })))
        await c.subscribeAsync(topic, { qos: 1 })
        const msg = await Promise.race([got, new Promise<undefined>((r) => setTimeout(() => r(undefined), 500))])
        return msg && until(msg.payload) ? msg : undefined
      } finally {
        await c.endAsync()
      }
    }, `retained ${topic}`)
  }

  async function insertEvent(e: { id: string; store: string; type: 'enter' | 'dwell' | 'exit'; zone: string; zoneKind?: string; source?: string; subject?: string; member?: string; ts: number; enteredAt?: number; dwellS?: number }) {
    const subject = e.subject ?? `member:${e.member}`
    const body = { v: 1, id: e.id, type: e.type, storeId: e.store, zone: e.zone, zoneKind: e.zoneKind ?? 'indoor', source: e.source ?? 'ble', subject, memberRef: e.member, confidence: 0.9, enteredAt: e.enteredAt ?? e.ts, ts: e.ts, dwellS: e.dwellS }
    await app.db.query(
      `insert into geofence_events (id, store_id, type, zone, zone_kind, source, subject, member_ref, ts, entered_at, dwell_s, body)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)`,
      [e.id, e.store, e.type, e.zone, body.zoneKind, body.source, subject, e.member ?? null, new Date(e.ts), new Date(body.enteredAt), e.dwellS ?? null, JSON.stringify(body)],
    )
  }

  const auditOf = async (action: string) => ((await admin('GET', `/v1/audit?action=${action}&limit=1000`)).json() as { entries: Array<{ actor: string; target: string; storeId: string | null; detail: Record<string, unknown> }> }).entries

  beforeAll(async () => {
    const t = await tempDir('se-mkt-api-')
    cleanup = t.cleanup
    mosquitto = await new PrivateMosquitto(`${t.dir}/mosquitto`).start()
    if (pg) db = await freshDatabase('se_mkt')
    const config = gatewayTestConfig(`${t.dir}/gw`, { auth: { demoUsers: true }, mqtt: { url: mosquitto.url }, ...(db ? { database: { url: db.url } } : {}) })
    app = await new GatewayApp({ config, logger: testLogger(), defaultMetrics: false }).start()
    await waitFor(() => app.live.client?.connected && app.uplink.connected, 'gateway connected to Mosquitto')
    for (const role of ['ops', 'marketing', 'security', 'admin'] as Role[]) cookies[role] = await login(role, PASSWORDS[role])
    for (const id of ['store-a', 'store-b', 'store-c']) expect((await admin('POST', '/v1/stores', { id, name: id.toUpperCase(), timezone: TZ })).statusCode).toBe(201)
    for (const id of ['store-a', 'store-c']) expect((await admin('PUT', `/v1/stores/${id}/layout`, layout)).statusCode).toBe(200)
    expect((await admin('POST', '/v1/users', { username: 'mkt-a', displayName: 'Marketing A', password: 'mkt-a-password', role: 'marketing', stores: ['store-a'] })).statusCode).toBe(201)
  })

  afterAll(async () => {
    await app?.stop()
    await mosquitto?.stop()
    await db?.drop()
    await cleanup?.()
  })

  describe('RBAC and scope', () => {
    let n = 0
    const routes: Array<{ route: string; method: InjectOptions['method']; url: string; body?: () => unknown; ok: number; roles: Role[] }> = [
      { route: 'GET /v1/campaigns', method: 'GET', url: '/v1/campaigns', ok: 200, roles: ['marketing', 'admin'] },
      { route: 'POST /v1/campaigns', method: 'POST', url: '/v1/campaigns', body: () => draft({ id: `rbac-${++n}` }), ok: 201, roles: ['marketing', 'admin'] },
      { route: 'POST /v1/campaigns/validate', method: 'POST', url: '/v1/campaigns/validate', body: () => draft(), ok: 200, roles: ['marketing', 'admin'] },
      { route: 'POST /v1/campaigns/preview', method: 'POST', url: '/v1/campaigns/preview', body: () => ({ campaign: draft(), days: 1 }), ok: 200, roles: ['marketing', 'admin'] },
      { route: 'GET /v1/stores/:id/geofences', method: 'GET', url: '/v1/stores/store-c/geofences', ok: 200, roles: ['marketing', 'admin'] },
      { route: 'POST /v1/stores/:id/geofences', method: 'POST', url: '/v1/stores/store-c/geofences', body: () => ({ id: `rbac-fence-${++n}`, name: 'F', shape: { kind: 'circle', center: CHENGDU, radiusM: 1000 } }), ok: 201, roles: ['marketing', 'admin'] },
      { route: 'GET /v1/stores/:id/targets', method: 'GET', url: '/v1/stores/store-a/targets', ok: 200, roles: ['marketing', 'admin'] },
      { route: 'GET /v1/members', method: 'GET', url: '/v1/members', ok: 200, roles: ['marketing', 'admin'] },
      { route: 'POST /v1/members', method: 'POST', url: '/v1/members', body: () => ({ ref: `rbac-${++n}` }), ok: 201, roles: ['marketing', 'admin'] },
      { route: 'POST /v1/locations', method: 'POST', url: '/v1/locations', body: () => ({ v: 1, memberRef: 'nobody', fixes: [{ ...SHANGHAI, accuracyM: 10, ts: Date.now() }] }), ok: 202, roles: ['marketing', 'admin'] },
    ]
    const cases = (['ops', 'marketing', 'security', 'admin'] as Role[]).flatMap((role) => routes.map((r) => ({ ...r, role, expected: r.roles.includes(role) ? r.ok : 403 })))

    it.each(cases)('$role × $route → $expected', async ({ role, method, url, body, expected }) => {
      const r = await call(method, url, { cookie: cookies[role], body: body?.() })
      expect(r.statusCode, r.body).toBe(expected)
      if (expected === 403) expect(err(r).code).toBe('STORE_EDGE_ERR_FORBIDDEN')
    })

    it.each(routes)('unauthenticated × $route → 401', async ({ method, url, body }) => {
      expect((await call(method, url, { body: body?.() })).statusCode).toBe(401)
    })

    it('a marketing user scoped to store-a neither sees nor changes campaigns and geofences of other stores', async () => {
      const c = await login('mkt-a', 'mkt-a-password')
      const scoped = (method: InjectOptions['method'], url: string, body?: unknown) => call(method, url, { cookie: c, body })
      expect((await admin('POST', '/v1/campaigns', draft({ id: 'only-b', stores: ['store-b'], zones: ['carpark'], event: 'enter', dwellS: undefined }))).statusCode).toBe(201)
      expect((await scoped('POST', '/v1/campaigns', draft({ id: 'scoped-b', stores: ['store-b'], zones: ['carpark'], event: 'enter', dwellS: undefined }))).statusCode).toBe(403)
      const all = await scoped('POST', '/v1/campaigns', draft({ id: 'scoped-all', stores: ['*'], zones: ['carpark'], event: 'enter', dwellS: undefined }))
      expect(all.statusCode).toBe(403)
      expect(err(all).message).toMatch(/every store/)
      expect((await scoped('POST', '/v1/campaigns', draft({ id: 'scoped-a' }))).statusCode).toBe(201)
      const listed = (await scoped('GET', '/v1/campaigns')).json().campaigns.map((x: Campaign) => x.id)
      expect(listed).toContain('scoped-a')
      expect(listed).not.toContain('only-b')
      expect((await scoped('GET', '/v1/campaigns/only-b')).statusCode).toBe(403)
      expect((await scoped('PUT', '/v1/campaigns/only-b', { ...draft({ id: 'only-b', stores: ['store-b'], zones: ['carpark'], event: 'enter', dwellS: undefined }), version: 1 })).statusCode).toBe(403)
      expect((await scoped('DELETE', '/v1/campaigns/only-b')).statusCode).toBe(403)
      expect((await scoped('GET', '/v1/stores/store-b/geofences')).statusCode).toBe(403)
      expect((await scoped('POST', '/v1/stores/store-b/geofences', { id: 'scoped-fence', name: 'X', shape: { kind: 'circle', center: BEIJING, radiusM: 500 } })).statusCode).toBe(403)
      // Moving one's own campaign to a store outside the scope is refused too.
      expect((await scoped('PUT', '/v1/campaigns/scoped-a', { ...draft({ id: 'scoped-a', stores: ['store-a', 'store-b'] }), version: 1 })).statusCode).toBe(403)
      for (const id of ['only-b', 'scoped-a']) expect((await admin('DELETE', `/v1/campaigns/${id}`)).statusCode).toBe(204)
    })

    it('marketing may place a store on the map (location only); renaming it stays with admins', async () => {
      const r = await mkt('PATCH', '/v1/stores/store-a', { location: SHANGHAI })
      expect(r.statusCode, r.body).toBe(200)
      expect(r.json().location).toEqual(SHANGHAI)
      expect((await mkt('PATCH', '/v1/stores/store-a', { location: SHANGHAI, name: 'Renamed' })).statusCode).toBe(403)
      expect((await as('ops')('PATCH', '/v1/stores/store-a', { location: BEIJING })).statusCode).toBe(403)
      expect((await mkt('GET', '/v1/stores')).json().stores.find((s: { id: string }) => s.id === 'store-a').location).toEqual(SHANGHAI)
      expect((await admin('PATCH', '/v1/stores/store-a', { location: { lat: 91, lng: 0 } })).statusCode).toBe(400)
    })
  })

  describe('rule validation', () => {
    it('every schema error is reported with its path, as 400 STORE_EDGE_ERR_BAD_RULE with errors[]', async () => {
      const r = await mkt('POST', '/v1/campaigns', draft({ id: 'Bad Id', event: 'linger', holdoutPct: 80, caps: { perMemberPerDay: 0 }, colour: 'red' }))
      expect(r.statusCode).toBe(400)
      const e = err(r)
      expect(e.code).toBe('STORE_EDGE_ERR_BAD_RULE')
      expect(e.errors).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^\/id: /),
          '/event: must be one of "enter", "dwell", "exit"',
          expect.stringMatching(/^\/holdoutPct: .*50/),
          expect.stringMatching(/^\/caps\/perMemberPerDay: /),
          '/colour: unknown property',
        ]),
      )
      expect(e.errors!.length).toBe(5)
    })

    it.each([
      ['a dwell trigger without dwellS', { dwellS: undefined }, '/dwellS: a dwell trigger needs dwellS > 0'],
      ['visit zones on an enter trigger', { event: 'enter', visitZones: ['cosmetics'] }, '/visitZones: only an exit trigger can require zones reached during the visit'],
      ['a zone the store does not have', { zones: ['cosmetics', 'shoes'] }, '/zones/1: unknown zone or geofence "shoes"'],
      ['an unknown store', { stores: ['store-a', 'store-zz'] }, '/stores/1: unknown store "store-zz"'],
      ['caps that contradict each other', { caps: { perMemberPerDay: 5, perMemberPerWeek: 2 } }, '/caps: perMemberPerDay (5) exceeds perMemberPerWeek (2)'],
      ['a coupon with no value', { coupon: { templateId: 't', title: 'Nothing' } }, '/coupon: give valueCents or percentOff'],
      ['an empty schedule window', { schedule: { start: '10:00', end: '10:00' } }, '/schedule: start equals end (an empty window); omit both for all day'],
      ['first visit and lapsed together', { audience: { firstVisit: true, lapsedDays: 30 } }, '/audience: firstVisit and lapsedDays cannot both hold'],
    ])('%s → BAD_RULE naming it; /validate says the same', async (_what, over, problem) => {
      const r = await mkt('POST', '/v1/campaigns', draft({ id: 'bad-rule', ...over }))
      expect(r.statusCode).toBe(400)
      expect(err(r).code).toBe('STORE_EDGE_ERR_BAD_RULE')
      expect(err(r).errors).toContain(problem)
      const v = await mkt('POST', '/v1/campaigns/validate', draft({ id: 'bad-rule', ...over }))
      expect(v.statusCode).toBe(200)
      expect(v.json()).toEqual({ ok: false, errors: expect.arrayContaining([problem]) })
      expect((await mkt('GET', '/v1/campaigns/bad-rule')).statusCode).toBe(404)
    })

    it('a valid draft validates; the car park and the store’s geofences are known zones', async () => {
      expect((await mkt('POST', '/v1/campaigns/validate', draft())).json()).toEqual({ ok: true, errors: [] })
      expect((await mkt('POST', '/v1/campaigns/validate', draft({ event: 'exit', zones: ['carpark'], visitZones: ['cosmetics'], dwellS: 7200 }))).json()).toEqual({ ok: true, errors: [] })
      // A campaign for every store knows every store's zones.
      expect((await mkt('POST', '/v1/campaigns/validate', draft({ stores: ['*'] }))).json().ok).toBe(true)
    })
  })

  describe('versions, archive, audit and the triggers config', () => {
    it('saves versions with optimistic concurrency, republishes triggers with rising versions, audits every change with a diff', async () => {
      const topic = topics.storeConfig('store-a', 'triggers')
      const created = await mkt('POST', '/v1/campaigns', draft({ id: 'versioned' }))
      expect(created.statusCode, created.body).toBe(201)
      expect(created.json().campaign).toMatchObject({ id: 'versioned', version: 1, enabled: true, holdoutPct: 0, priority: 100, lateAfterS: 900 })
      const v1 = await retained<TriggersConfigPayload>(topic, (p) => p.campaigns.some((c) => c.id === 'versioned'))
      expect(v1.retain).toBe(true)
      expect(v1.payload.campaigns.find((c) => c.id === 'versioned')!.version).toBe(1)
      expect((await mkt('POST', '/v1/campaigns', draft({ id: 'versioned' }))).statusCode).toBe(409)

      const body = { ...created.json().campaign, caps: { perMemberPerDay: 2 }, name: 'Beauty dwell, twice a day' }
      const saved = await mkt('PUT', '/v1/campaigns/versioned', body)
      expect(saved.statusCode, saved.body).toBe(200)
      expect(saved.json().campaign).toMatchObject({ version: 2, caps: { perMemberPerDay: 2 } })
      // Someone else's editor still holds version 1.
      const stale = await admin('PUT', '/v1/campaigns/versioned', { ...body, name: 'Stale edit' })
      expect(stale.statusCode).toBe(409)
      expect(err(stale)).toMatchObject({ code: 'STORE_EDGE_ERR_VERSION_CONFLICT', currentVersion: 2 })
      const v2 = await retained<TriggersConfigPayload>(topic, (p) => p.campaigns.some((c) => c.id === 'versioned' && c.version === 2))
      expect(v2.payload.version).toBeGreaterThan(v1.payload.version)

      const detail = (await mkt('GET', '/v1/campaigns/versioned')).json()
      expect(detail.campaign).toMatchObject({ version: 2, archived: false, name: 'Beauty dwell, twice a day' })
      expect(detail.versions.map((v: { version: number; createdBy: string }) => [v.version, v.createdBy])).toEqual([
        [2, 'marketing'],
        [1, 'marketing'],
      ])
      expect((await mkt('GET', '/v1/campaigns/versioned/versions/1')).json().campaign).toMatchObject({ version: 1, name: 'Beauty dwell', caps: { perMemberPerDay: 1 } })
      expect((await mkt('GET', '/v1/campaigns/versioned/versions/3')).statusCode).toBe(404)

      expect((await mkt('DELETE', '/v1/campaigns/versioned')).statusCode).toBe(204)
      const v3 = await retained<TriggersConfigPayload>(topic, (p) => !p.campaigns.some((c) => c.id === 'versioned'))
      expect(v3.payload.version).toBeGreaterThan(v2.payload.version)
      const archived = (await mkt('GET', '/v1/campaigns')).json().campaigns.find((c: { id: string }) => c.id === 'versioned')
      expect(archived).toMatchObject({ archived: true, version: 2 })
      // Archived rows stay: the ledger reads the versions its coupons name.
      expect((await mkt('GET', '/v1/campaigns/versioned/versions/1')).statusCode).toBe(200)
      expect((await mkt('PUT', '/v1/campaigns/versioned', { ...body, version: 2 })).statusCode).toBe(409)

      const trail = (await mkt('GET', '/v1/campaigns/versioned/audit')).json().entries as Array<{ action: string; actor: string; target: string; detail: { changes?: string[]; version?: number } }>
      expect(trail.map((e) => e.action)).toEqual(['campaign.archive', 'campaign.update', 'campaign.create'])
      expect(trail.every((e) => e.target === 'campaign:versioned' && e.actor === 'marketing')).toBe(true)
      expect(trail[1]!.detail.changes).toEqual(['caps.perMemberPerDay: 1 → 2', 'name: "Beauty dwell" → "Beauty dwell, twice a day"'])
      expect(trail[2]!.detail.changes).toEqual(expect.arrayContaining(['event: ∅ → "dwell"', 'zones: ∅ → ["cosmetics"]', 'caps.perMemberPerDay: ∅ → 1']))
    })

    it('the versions in config_pushes only go up and the published payload is the newest state', async () => {
      const rows = await app.db.query<{ version: number }>("select version from config_pushes where store_id = 'store-a' and part = 'triggers'")
      const last = await retained<TriggersConfigPayload>(topics.storeConfig('store-a', 'triggers'))
      expect(Number(rows[0]!.version)).toBe(last.payload.version)
      // Two saves racing on one campaign: exactly one wins, the other gets a version conflict.
      const c = (await mkt('POST', '/v1/campaigns', draft({ id: 'race' }))).json().campaign
      const results = await Promise.all([mkt('PUT', '/v1/campaigns/race', { ...c, name: 'A' }), admin('PUT', '/v1/campaigns/race', { ...c, name: 'B' })])
      expect(results.map((r) => r.statusCode).sort()).toEqual([200, 409])
      const winner = results.find((r) => r.statusCode === 200)!.json().campaign.name
      const pushed = await retained<TriggersConfigPayload>(topics.storeConfig('store-a', 'triggers'), (p) => p.campaigns.some((x) => x.id === 'race' && x.version === 2))
      expect(pushed.payload.campaigns.find((x) => x.id === 'race')!.name).toBe(winner)
      expect((await admin('DELETE', '/v1/campaigns/race')).statusCode).toBe(204)
    })
  })

  describe('geofences', () => {
    it('bad geofences are refused with every problem', async () => {
      const crossing = await mkt('POST', '/v1/stores/store-a/geofences', {
        id: 'bowtie',
        name: 'Bow tie',
        shape: { kind: 'polygon', points: [{ lat: 31.2, lng: 121.4 }, { lat: 31.25, lng: 121.5 }, { lat: 31.25, lng: 121.4 }, { lat: 31.2, lng: 121.5 }] },
      })
      expect(crossing.statusCode).toBe(400)
      expect(err(crossing).code).toBe('STORE_EDGE_ERR_BAD_GEOFENCE')
      // A bow tie: its two halves cancel out (no area) and two edges cross; both are said.
      expect(err(crossing).errors).toEqual(['/shape/points: the polygon has no area', expect.stringMatching(/^\/shape\/points: edges 0 and 2 cross/)])
      const schema = await mkt('POST', '/v1/stores/store-a/geofences', { id: 'tiny', name: '', shape: { kind: 'circle', center: { lat: 95, lng: 0 }, radiusM: 10 } })
      expect(err(schema).code).toBe('STORE_EDGE_ERR_BAD_GEOFENCE')
      expect(err(schema).errors!.some((e) => e.startsWith('/name'))).toBe(true)
      const clash = await mkt('POST', '/v1/stores/store-a/geofences', { id: 'cosmetics', name: 'Clash', shape: { kind: 'circle', center: SHANGHAI, radiusM: 1000 } })
      expect(err(clash).errors).toEqual(['/id: "cosmetics" is already a zone of the store\'s layout'])
      expect((await mkt('POST', '/v1/stores/store-zz/geofences', { id: 'nowhere', name: 'N', shape: { kind: 'circle', center: SHANGHAI, radiusM: 1000 } })).statusCode).toBe(404)
    })

    it('drawing, redrawing and removing a geofence republishes the store’s triggers; a rule can then name it', async () => {
      const topic = topics.storeConfig('store-a', 'triggers')
      const g = { id: 'sh-trade', name: 'Shanghai trade area', shape: { kind: 'circle', center: SHANGHAI, radiusM: 2000 } }
      const created = await mkt('POST', '/v1/stores/store-a/geofences', g)
      expect(created.statusCode, created.body).toBe(201)
      expect(created.json().geofence).toEqual({ ...g, bufferM: 50 })
      const p1 = await retained<TriggersConfigPayload>(topic, (p) => p.geofences.some((x) => x.id === 'sh-trade'))
      expect((await mkt('POST', '/v1/stores/store-b/geofences', { ...g, shape: { ...g.shape, center: BEIJING } })).statusCode).toBe(409)
      expect((await mkt('GET', '/v1/stores/store-a/targets')).json().zones).toEqual([
        { id: 'entrance', name: 'Entrance', kind: 'indoor' },
        { id: 'cosmetics', name: 'Cosmetics', kind: 'indoor' },
        { id: 'carpark', name: 'Car park', kind: 'carpark' },
        { id: 'sh-trade', name: 'Shanghai trade area', kind: 'trade-area' },
      ])
      expect((await mkt('POST', '/v1/campaigns/validate', draft({ event: 'enter', zones: ['sh-trade'], dwellS: undefined }))).json().ok).toBe(true)
      expect((await mkt('POST', '/v1/campaigns/validate', draft({ stores: ['store-b'], event: 'enter', zones: ['sh-trade'], dwellS: undefined }))).json().errors).toEqual(['/zones/0: unknown zone or geofence "sh-trade"'])

      const redrawn = await mkt('PUT', '/v1/stores/store-a/geofences/sh-trade', { ...g, shape: { ...g.shape, radiusM: 3000 } })
      expect(redrawn.statusCode, redrawn.body).toBe(200)
      const p2 = await retained<TriggersConfigPayload>(topic, (p) => p.geofences.some((x) => x.id === 'sh-trade' && x.shape.kind === 'circle' && x.shape.radiusM === 3000))
      expect(p2.payload.version).toBeGreaterThan(p1.payload.version)

      // A live campaign naming it keeps it.
      expect((await mkt('POST', '/v1/campaigns', draft({ id: 'trade-enter', event: 'enter', zones: ['sh-trade'], dwellS: undefined }))).statusCode).toBe(201)
      const refused = await mkt('DELETE', '/v1/stores/store-a/geofences/sh-trade')
      expect(refused.statusCode).toBe(409)
      expect(err(refused).message).toContain('trade-enter')
      expect((await mkt('DELETE', '/v1/campaigns/trade-enter')).statusCode).toBe(204)
      expect((await mkt('DELETE', '/v1/stores/store-a/geofences/sh-trade')).statusCode).toBe(204)
      const p3 = await retained<TriggersConfigPayload>(topic, (p) => !p.geofences.some((x) => x.id === 'sh-trade'))
      expect(p3.payload.version).toBeGreaterThan(p2.payload.version)
      expect((await mkt('GET', '/v1/stores/store-a/geofences')).json().geofences).toEqual([])
      // Drawn again under the same id later: allowed.
      expect((await mkt('POST', '/v1/stores/store-a/geofences', g)).statusCode).toBe(201)

      const audits = [...(await auditOf('geofence.create')), ...(await auditOf('geofence.update')), ...(await auditOf('geofence.delete'))]
      expect(audits.filter((a) => a.target === 'geofence:sh-trade' && a.storeId === 'store-a')).toHaveLength(4)
      expect((await auditOf('geofence.update'))[0]!.detail.changes).toEqual(['shape.radiusM: 2000 → 3000'])
    })
  })

  describe('members', () => {
    it('plates are normalised; bad plates are named with the reason; a plate of another member is 409; the members config reaches every store', async () => {
      const bad = await mkt('POST', '/v1/members', { ref: 'm-bad', plates: ['沪A12345', 'XA12345', '沪A1234'] })
      expect(bad.statusCode).toBe(400)
      expect(err(bad).code).toBe('STORE_EDGE_ERR_BAD_PLATE')
      expect(err(bad).errors).toEqual([expect.stringMatching(/^\/plates\/1: "XA12345": "X" is not a province character/), expect.stringMatching(/^\/plates\/2: "沪A1234": a plate has 7 characters/)])

      const created = await mkt('POST', '/v1/members', { ref: 'm-1', displayName: 'Li Na', tier: 2, tags: ['vip'], plates: ['沪a·1234o', '粤B D12345'], beaconIds: ['IBEACON:E2C56DB5-DFFB-48D2-B060-D0F5A71096E0:2:1'], push: { provider: 'wechat', openId: 'o-abc' } })
      expect(created.statusCode, created.body).toBe(201)
      expect(created.json().member).toMatchObject({ ref: 'm-1', tier: 2, plates: ['沪A12340', '粤BD12345'], beaconIds: ['ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:2:1'], optedIn: true })
      const taken = await mkt('POST', '/v1/members', { ref: 'm-2', tier: 1, plates: ['沪A1234O'] })
      expect(taken.statusCode).toBe(409)
      expect(err(taken).message).toContain('沪A12340 is registered to another member')
      expect((await mkt('GET', '/v1/members/m-2')).statusCode).toBe(404)
      expect((await mkt('POST', '/v1/members', { ref: 'm-2', tier: 1, plates: ['京N12345'] })).statusCode).toBe(201)
      expect((await mkt('POST', '/v1/members', { ref: 'm-3', tier: 2, optedIn: false, plates: ['苏E12345'] })).statusCode).toBe(201)
      expect((await mkt('POST', '/v1/members', { ref: 'm-1' })).statusCode).toBe(409)
      expect(err(await mkt('POST', '/v1/members', { ref: 'm-4', push: { provider: 'wechat' } })).errors).toEqual(["/push/openId: a WeChat push needs the member's openId"])

      // Search by plate, however it is typed.
      expect((await mkt('GET', '/v1/members?q=%E6%B2%AAA1234O')).json()).toMatchObject({ total: 1, members: [{ ref: 'm-1' }] })
      expect((await mkt('GET', '/v1/members?q=li%20na')).json().members.map((m: { ref: string }) => m.ref)).toEqual(['m-1'])
      expect((await mkt('GET', '/v1/members?limit=1&offset=1')).json()).toMatchObject({ members: [{ ref: 'm-2' }] })

      for (const store of ['store-a', 'store-b', 'store-c']) {
        const cfg = await retained<MembersConfigPayload>(topics.storeConfig(store, 'members'), (p) => p.members.some((m) => m.ref === 'm-3') === false && p.members.some((m) => m.ref === 'm-2'))
        expect(cfg.retain).toBe(true)
        expect(cfg.payload.members.find((m) => m.ref === 'm-1')).toEqual({ ref: 'm-1', tier: 2, tags: ['vip'], beaconIds: ['ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:2:1'], plates: ['沪A12340', '粤BD12345'], visits: 0 })
      }
      const before = (await retained<MembersConfigPayload>(topics.storeConfig('store-b', 'members'))).payload.version

      // Moving a plate: drop it from m-1, then m-2 may register it.
      const m1 = (await mkt('GET', '/v1/members/m-1')).json().member
      expect((await mkt('PUT', '/v1/members/m-1', { ...m1, ref: undefined, createdAt: undefined, updatedAt: undefined, plates: ['粤BD12345'] })).statusCode).toBe(200)
      expect((await mkt('PUT', '/v1/members/m-2', { tier: 3, plates: ['京N12345', '沪A12340'] })).statusCode).toBe(200)
      const after = await retained<MembersConfigPayload>(topics.storeConfig('store-b', 'members'), (p) => p.members.find((m) => m.ref === 'm-2')?.tier === 3)
      expect(after.payload.version).toBeGreaterThan(before)
      expect(after.payload.members.find((m) => m.ref === 'm-2')!.plates).toEqual(['京N12345', '沪A12340'])

      const trail = [...(await auditOf('member.create')), ...(await auditOf('member.update'))]
      expect(trail.find((a) => a.target === 'member:m-1')!.detail).toMatchObject({ tier: 2, plates: 2, push: 'wechat' })
      // Plates (and openIds) never reach the audit log.
      for (const p of ['12340', '12345', 'o-abc']) expect(JSON.stringify(trail)).not.toContain(p)

      expect((await mkt('DELETE', '/v1/members/m-3')).statusCode).toBe(204)
      expect((await mkt('DELETE', '/v1/members/m-3')).statusCode).toBe(404)
      expect(await app.db.query("select 1 from member_plates where member_ref = 'm-3'")).toEqual([])
    })
  })

  describe('preview', () => {
    it('replays the last days of geofence events with schedule, audience, caps and one coupon per stay', async () => {
      // Members of its own for the replay: gold (tier 2), silver (tier 1), one who opted out.
      for (const [ref, tier] of [['pv-gold', 2], ['pv-silver', 1], ['pv-gone', 2]] as const) {
        expect((await mkt('POST', '/v1/members', { ref, tier, optedIn: ref !== 'pv-gone' })).statusCode).toBe(201)
      }
      // Local midnight two days ago in Shanghai (UTC+8, no DST).
      const day = 86_400_000
      const today = Math.floor((Date.now() + 8 * 3_600_000) / day) * day - 8 * 3_600_000
      const D = today - 2 * day
      const h = (n: number) => n * 3_600_000
      const ev = (id: string, o: Partial<Parameters<typeof insertEvent>[0]>) => insertEvent({ id: `pv-${id}-${Date.now().toString(36)}`, store: 'store-a', type: 'dwell', zone: 'cosmetics', ...o, ts: o.ts! })
      await ev('match1', { member: 'pv-gold', ts: D + h(10), enteredAt: D + h(10) - 400_000, dwellS: 400 })
      await ev('samestay', { member: 'pv-gold', ts: D + h(10) + 300_000, enteredAt: D + h(10) - 400_000, dwellS: 700 })
      await ev('capday', { member: 'pv-gold', ts: D + h(15), enteredAt: D + h(15) - 400_000, dwellS: 400 })
      await ev('tier', { member: 'pv-silver', ts: D + h(11), dwellS: 400 })
      await ev('optedout', { member: 'pv-gone', ts: D + h(11), dwellS: 400 })
      await ev('anon', { subject: 'h:9f2c', ts: D + h(12), dwellS: 400 })
      await ev('hours', { member: 'pv-gold', ts: D + day + h(22), dwellS: 400 })
      await ev('short', { member: 'pv-gold', ts: D + day + h(12), dwellS: 100 })
      await ev('match2', { member: 'pv-gold', ts: D + day + h(10), enteredAt: D + day + h(10) - 400_000, dwellS: 400 })
      await ev('enter', { member: 'pv-gold', type: 'enter', ts: D + h(9) })
      await ev('old', { member: 'pv-gold', ts: D - 6 * day, dwellS: 400 })
      await ev('otherstore', { member: 'pv-gold', store: 'store-b', ts: D + h(10), dwellS: 400 })

      const campaign = draft({ id: 'pv', audience: { tiers: [2] }, schedule: { start: '09:00', end: '21:00' }, caps: { perMemberPerDay: 1 } })
      const r = await mkt('POST', '/v1/campaigns/preview', { campaign, days: 7 })
      expect(r.statusCode, r.body).toBe(200)
      const p = r.json()
      expect(p.to - p.from).toBe(7 * day)
      expect(p.events).toBe(10)
      expect(p.matches.map((m: { eventId: string; memberRef: string; ts: number; storeId: string; holdout: boolean }) => [m.eventId.split('-')[1], m.memberRef, m.ts, m.storeId, m.holdout])).toEqual([
        ['match1', 'pv-gold', D + h(10), 'store-a', false],
        ['match2', 'pv-gold', D + day + h(10), 'store-a', false],
      ])
      expect(p.members).toBe(1)
      expect(p.suppressed).toEqual({ 'cap-day': 1, tier: 1, 'not-member': 2, hours: 1 })

      // Fewer days, fewer events; a rule that was never saved is previewed all the same, and an invalid one is refused.
      const one = (await mkt('POST', '/v1/campaigns/preview', { campaign, days: 1 })).json()
      expect(one.events).toBeLessThan(p.events)
      const everyone = (await mkt('POST', '/v1/campaigns/preview', { campaign: draft({ id: 'pv2', audience: { membersOnly: true }, caps: {} }) })).json()
      expect(everyone.matches.map((m: { eventId: string }) => m.eventId.split('-')[1]).sort()).toEqual(['capday', 'hours', 'match1', 'match2', 'tier'])
      const holdout = (await mkt('POST', '/v1/campaigns/preview', { campaign: draft({ id: 'pv3', holdoutPct: 50, caps: {} }) })).json()
      expect(holdout.matches.every((m: { holdout: boolean; memberRef: string }) => typeof m.holdout === 'boolean')).toBe(true)
      const invalid = await mkt('POST', '/v1/campaigns/preview', { campaign: draft({ dwellS: undefined }) })
      expect(err(invalid).code).toBe('STORE_EDGE_ERR_BAD_RULE')
      expect(err(await mkt('POST', '/v1/campaigns/preview', { campaign, days: 31 })).code).toMatch(/VALIDATION|BAD_RULE/)
    })

    it('an exit rule with visit zones and a minimum stay matches only visits that reached the zone', async () => {
      const day = 86_400_000
      const today = Math.floor((Date.now() + 8 * 3_600_000) / day) * day - 8 * 3_600_000
      const D = today - 4 * day
      const h = (n: number) => n * 3_600_000
      const ev = (id: string, o: Partial<Parameters<typeof insertEvent>[0]>) => insertEvent({ id: `vz-${id}-${Date.now().toString(36)}`, store: 'store-c', type: 'exit', zone: 'carpark', zoneKind: 'carpark', source: 'plate', ...o, ts: o.ts! })
      // pv-gold parks, reaches cosmetics, leaves after 3 h: matches.
      await ev('in1', { member: 'pv-gold', type: 'enter', ts: D + h(10) })
      await ev('cos1', { member: 'pv-gold', type: 'enter', zone: 'cosmetics', zoneKind: 'indoor', source: 'ble', ts: D + h(10.5) })
      await ev('out1', { member: 'pv-gold', ts: D + h(13), enteredAt: D + h(10), dwellS: 3 * 3600 })
      // pv-silver parks 3 h but never reaches cosmetics: no match.
      await ev('in2', { member: 'pv-silver', type: 'enter', ts: D + h(10) })
      await ev('out2', { member: 'pv-silver', ts: D + h(13), enteredAt: D + h(10), dwellS: 3 * 3600 })
      // pv-gold again the next day, cosmetics, but only 1 h: too short.
      await ev('cos3', { member: 'pv-gold', type: 'enter', zone: 'cosmetics', zoneKind: 'indoor', source: 'ble', ts: D + day + h(10.2) })
      await ev('out3', { member: 'pv-gold', ts: D + day + h(11), enteredAt: D + day + h(10), dwellS: 3600 })
      const r = await mkt('POST', '/v1/campaigns/preview', { campaign: draft({ id: 'vz', stores: ['store-c'], event: 'exit', zones: ['carpark'], visitZones: ['cosmetics'], dwellS: 7200, caps: {} }) })
      expect(r.statusCode, r.body).toBe(200)
      expect(r.json().matches.map((m: { eventId: string; source: string; zone: string }) => [m.eventId.split('-')[1], m.zone, m.source])).toEqual([['out1', 'carpark', 'plate']])
    })
  })

  describe('locations', () => {
    let sub: MqttClient
    const got: Array<{ store: string; report: LocationReport; retain: boolean }> = []
    beforeAll(async () => {
      expect((await mkt('POST', '/v1/stores/store-b/geofences', { id: 'bj-trade', name: 'Beijing', shape: { kind: 'circle', center: BEIJING, radiusM: 2000 } })).statusCode).toBe(201)
      sub = await connect(mosquitto.url, { protocolVersion: 5 })
      sub.on('message', (topic, payload, packet) => got.push({ store: topic.split('/')[1]!, report: JSON.parse(payload.toString()), retain: packet.retain }))
      await sub.subscribeAsync('stores/+/locations', { qos: 1 })
    })
    afterAll(async () => {
      await sub?.endAsync()
    })

    it('forwards fixes only to stores with a trade area within 20 km, not retained; stale and future fixes are rejected', async () => {
      const now = Date.now()
      // store-a has sh-trade (2 km circle at Shanghai): 18.5 km north of the centre is 16.5 km from its edge.
      const near = await mkt('POST', '/v1/locations', { v: 1, memberRef: 'pv-gold', fixes: [{ lat: 31.4, lng: 121.4737, accuracyM: 15, ts: now - 5000 }, { ...SHANGHAI, accuracyM: 10, ts: now - 2 * 3_600_000 }, { ...SHANGHAI, accuracyM: 10, ts: now + 5 * 60_000 }] })
      expect(near.statusCode, near.body).toBe(202)
      expect(near.json().forwardedTo).toEqual(['store-a'])
      expect(near.json().rejected).toEqual([
        { index: 1, reason: expect.stringMatching(/old \(at most 1 h\)/) },
        { index: 2, reason: expect.stringMatching(/in the future/) },
      ])
      await waitFor(() => got.length >= 1, 'location forwarded to store-a')
      const far = await mkt('POST', '/v1/locations', { v: 1, memberRef: 'pv-gold', fixes: [{ lat: 30.27, lng: 120.15, accuracyM: 20, ts: now }, { ...BEIJING, accuracyM: 20, ts: now }] })
      expect(far.json()).toEqual({ forwardedTo: ['store-b'], rejected: [] })
      await waitFor(() => got.length >= 2, 'location forwarded to store-b')
      expect(got.map((g) => [g.store, g.retain, g.report.fixes.length])).toEqual([
        ['store-a', false, 1],
        ['store-b', false, 2],
      ])
      expect(got[0]!.report).toEqual({ v: 1, memberRef: 'pv-gold', fixes: [{ lat: 31.4, lng: 121.4737, accuracyM: 15, ts: now - 5000 }] })
      // Hangzhou alone is near nobody.
      expect((await mkt('POST', '/v1/locations', { v: 1, memberRef: 'pv-gold', fixes: [{ lat: 30.27, lng: 120.15, accuracyM: 20, ts: now }] })).json().forwardedTo).toEqual([])
    })

    it('a stranger’s or an opted-out member’s fixes go nowhere; a malformed report is 400 BAD_LOCATION with paths', async () => {
      const now = Date.now()
      for (const memberRef of ['stranger', 'pv-gone']) {
        const r = await mkt('POST', '/v1/locations', { v: 1, memberRef, fixes: [{ ...SHANGHAI, accuracyM: 10, ts: now }] })
        expect(r.json()).toEqual({ forwardedTo: [], rejected: [{ index: 0, reason: expect.stringContaining('not an opted-in member') }] })
      }
      const bad = await mkt('POST', '/v1/locations', { v: 1, memberRef: 'pv-gold', fixes: [{ lat: 91, lng: 121, accuracyM: 0, ts: now }] })
      expect(bad.statusCode).toBe(400)
      expect(err(bad).code).toBe('STORE_EDGE_ERR_BAD_LOCATION')
      expect(err(bad).errors).toEqual(expect.arrayContaining([expect.stringMatching(/^\/fixes\/0\/lat: /), expect.stringMatching(/^\/fixes\/0\/accuracyM: /)]))
    })

    it('a token of the member-app backend scoped to some stores forwards only to those', async () => {
      const { token } = (await admin('POST', '/v1/tokens', { name: 'member-app', role: 'marketing', stores: ['store-b'] })).json() as { token: string }
      const r = await call('POST', '/v1/locations', { bearer: token, body: { v: 1, memberRef: 'pv-gold', fixes: [{ ...SHANGHAI, accuracyM: 10, ts: Date.now() }, { ...BEIJING, accuracyM: 10, ts: Date.now() }] } })
      expect(r.json().forwardedTo).toEqual(['store-b'])
    })
  })

  describe('a store seen for the first time', () => {
    it('gets its triggers (campaigns for every store) and members config, retained', async () => {
      expect((await mkt('POST', '/v1/campaigns', draft({ id: 'chain-arrival', stores: ['*'], event: 'enter', zones: ['carpark'], dwellS: undefined }))).statusCode).toBe(201)
      const edge = await connect(mosquitto.url, { protocolVersion: 5 })
      try {
        await edge.publishAsync(topics.storeAgg('store-new'), JSON.stringify(syntheticAggregate('store-new', Math.floor(Date.now() / 60_000) * 60_000, ['entrance'])), { qos: 1 })
      } finally {
        await edge.endAsync()
      }
      const t = await retained<TriggersConfigPayload>(topics.storeConfig('store-new', 'triggers'))
      expect(t.payload.campaigns.map((c) => c.id)).toEqual(['chain-arrival'])
      // What the edge's downlink accepts: the contract's schemas, exactly.
      expect([...Value.Errors(TriggersConfigPayload, t.payload)]).toEqual([])
      expect([...Value.Errors(TriggersConfigPayload, (await retained<TriggersConfigPayload>(topics.storeConfig('store-a', 'triggers'))).payload)]).toEqual([])
      expect(t.payload.geofences).toEqual([])
      const m = await retained<MembersConfigPayload>(topics.storeConfig('store-new', 'members'))
      expect(m.payload.members.map((x) => x.ref)).toContain('pv-gold')
      expect(m.payload.members.map((x) => x.ref)).not.toContain('pv-gone')
      expect([...Value.Errors(MembersConfigPayload, m.payload)]).toEqual([])
    })
  })

  describe('the broker away', () => {
    it('a change saved while the broker is down is published once it is back', async () => {
      await mosquitto.stop()
      await waitFor(() => !app.live.client?.connected, 'gateway notices the broker is gone')
      const r = await mkt('POST', '/v1/campaigns', draft({ id: 'while-down', stores: ['store-c'] }))
      // Saved (the database is the truth); the push waits for the broker.
      expect(r.statusCode, r.body).toBe(201)
      expect(app.marketing.publisher.pending).toContain('store-c\u0000triggers')
      await mosquitto.start()
      await waitFor(() => app.live.client?.connected, 'gateway reconnected')
      const t = await retained<TriggersConfigPayload>(topics.storeConfig('store-c', 'triggers'), (p) => p.campaigns.some((c) => c.id === 'while-down'))
      expect(t.retain).toBe(true)
      await waitFor(() => app.marketing.publisher.pending.length === 0, 'nothing left to retry')
    })
  })
})

describe('two gateway replicas saving at once (PostgreSQL, Mosquitto)', () => {
  let mosquitto: PrivateMosquitto
  let db: { url: string; drop: () => Promise<void> }
  let cleanup: () => Promise<void>
  const replicas: GatewayApp[] = []
  let cookie = ''

  beforeAll(async () => {
    const t = await tempDir('se-mkt-replicas-')
    cleanup = t.cleanup
    mosquitto = await new PrivateMosquitto(`${t.dir}/mosquitto`).start()
    db = await freshDatabase('se_mkt')
    for (const id of ['a', 'b']) {
      const config = gatewayTestConfig(`${t.dir}/gw-${id}`, { id: `mkt-${id}`, auth: { demoUsers: true }, mqtt: { url: mosquitto.url }, database: { url: db.url } })
      replicas.push(await new GatewayApp({ config, logger: testLogger(), defaultMetrics: false }).start())
    }
    const r = await replicas[0]!.http.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'marketing', password: 'demo-marketing' } })
    cookie = `se_session=${r.cookies.find((x) => x.name === 'se_session')!.value}`
    const admin = await replicas[0]!.http.inject({ method: 'POST', url: '/v1/auth/login', payload: { username: 'admin', password: 'demo-admin' } })
    const adminCookie = `se_session=${admin.cookies.find((x) => x.name === 'se_session')!.value}`
    expect((await replicas[1]!.http.inject({ method: 'POST', url: '/v1/stores', headers: { cookie: adminCookie }, payload: { id: 'r-1', name: 'R1', timezone: TZ } })).statusCode).toBe(201)
  })
  afterAll(async () => {
    for (const r of replicas) await r.stop()
    await mosquitto?.stop()
    await db?.drop()
    await cleanup?.()
  })

  it('the retained triggers config ends as the newest state under the newest version, whichever replica published last', async () => {
    const on = (i: number, method: InjectOptions['method'], url: string, payload?: unknown) => replicas[i % 2]!.http.inject({ method, url, headers: { cookie }, ...(payload ? { payload: payload as object } : {}) })
    const ids = Array.from({ length: 6 }, (_, i) => `rc-${i}`)
    for (const [i, id] of ids.entries()) expect((await on(i, 'POST', '/v1/campaigns', draft({ id, stores: ['r-1'], event: 'enter', zones: ['carpark'], dwellS: undefined }))).statusCode).toBe(201)
    // Six editors, each saving its campaign three times, alternating replicas, all at once.
    await Promise.all(
      ids.map(async (id, i) => {
        for (let v = 1; v <= 3; v++) {
          const r = await on(i + v, 'PUT', `/v1/campaigns/${id}`, { ...draft({ id, stores: ['r-1'], event: 'enter', zones: ['carpark'], dwellS: undefined, name: `${id} v${v + 1}` }), version: v })
          expect(r.statusCode, r.body).toBe(200)
        }
      }),
    )
    // Every save has returned, so every publish has been acknowledged: the first retained message a
    // new subscriber gets must already be the final state.
    const c = await connect(mosquitto.url, { protocolVersion: 5 })
    let got: { payload: TriggersConfigPayload; retain: boolean }
    try {
      const first = new Promise<{ payload: TriggersConfigPayload; retain: boolean }>((resolve) => c.on('message', (_t, payload, packet) => resolve({ payload: JSON.parse(payload.toString()), retain: packet.retain })))
      await c.subscribeAsync(topics.storeConfig('r-1', 'triggers'), { qos: 1 })
      got = await first
    } finally {
      await c.endAsync()
    }
    expect(got.retain).toBe(true)
    expect(got.payload.campaigns.map((x) => [x.id, x.version, x.name])).toEqual(ids.map((id) => [id, 4, `${id} v4`]))
    const [row] = await replicas[0]!.db.query<{ version: number }>("select version from config_pushes where store_id = 'r-1' and part = 'triggers'")
    expect(got.payload.version).toBe(Number(row!.version))
  })
})
