import { Writable } from 'node:stream'
import type { InjectOptions } from 'fastify'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Value } from '@sinclair/typebox/value'
import { MembersConfigPayload, topics } from '../edge/contracts/index.ts'
import { MemberGallery, decodeVector, encodeVector } from '../edge/vision/faces/gallery.ts'
import { GatewayApp } from '../gateway/app.ts'
import type { Role } from '../gateway/auth/roles.ts'
import { FACE_MAX_DIMS } from '../gateway/marketing/index.ts'
import { connect, tempDir, testLogger, waitFor } from './helpers.ts'
import { PrivateMosquitto } from './support/servers.ts'
import { freshDatabase, gatewayTestConfig } from './support/gateway.ts'

/**
 * Member faces on central: enrol, read, revoke and opt out through the API of a whole GatewayApp
 * (inject), on the machine's PostgreSQL and on PGlite, with a private Mosquitto as the central
 * broker: the retained members config a store gets is read back from the broker, and fed to the
 * edge's own gallery. Every log line the gateway writes (debug level) is kept to check that no
 * embedding is ever logged.
 */

const PASSWORDS: Record<Role, string> = { ops: 'demo-ops', marketing: 'demo-marketing', security: 'demo-security', admin: 'demo-admin' }
const MODEL = 'faceres-int8'
const STORES = ['store-a', 'store-b']

/** A deterministic unit vector (xorshift), as a face model would produce. */
function unitVector(dims: number, seed: number): Float32Array {
  const v = new Float32Array(dims)
  let s = seed * 2654435761 || 1
  let sq = 0
  for (let i = 0; i < dims; i++) {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    v[i] = ((s >>> 0) / 2 ** 32) * 2 - 1
    sq += v[i]! * v[i]!
  }
  const k = 1 / Math.sqrt(sq)
  for (let i = 0; i < dims; i++) v[i]! *= k
  return v
}
const b64 = (v: Float32Array) => encodeVector(v)
const scaled = (v: Float32Array, k: number) => v.map((x) => x * k)

const engines = [
  { name: 'PostgreSQL', pg: true },
  { name: 'PGlite', pg: false },
]

describe.each(engines)('member faces on $name', ({ pg }) => {
  let app: GatewayApp
  let mosquitto: PrivateMosquitto
  let db: { url: string; drop: () => Promise<void> } | undefined
  let dir: string
  let cleanup: () => Promise<void>
  const logLines: string[] = []
  const cookies = {} as Record<Role, string>

  type Res = Awaited<ReturnType<GatewayApp['http']['inject']>>
  const call = (method: InjectOptions['method'], url: string, o: { cookie?: string; body?: unknown } = {}): Promise<Res> =>
    app.http.inject({ method, url, headers: o.cookie ? { cookie: o.cookie } : {}, ...(o.body !== undefined ? { payload: o.body as object } : {}) })
  const as = (role: Role) => (method: InjectOptions['method'], url: string, body?: unknown) => call(method, url, { cookie: cookies[role], body })
  const admin = as('admin')
  const mkt = as('marketing')
  const err = (r: Res) => (r.json() as { error: { code: string; message: string; errors?: string[] } }).error

  /** The retained members config of a store, as a fresh subscriber (an edge coming online) gets it. */
  async function retained(store: string, until: (p: MembersConfigPayload) => boolean = () => true): Promise<MembersConfigPayload> {
    return waitFor(async () => {
      const c = await connect(mosquitto.url, { protocolVersion: 5 })
      try {
        const got = new Promise<{ p: MembersConfigPayload; retain: boolean }>((resolve) => c.on('message', (_t, payload, packet) => resolve({ p: JSON.parse(payload.toString()) as MembersConfigPayload, retain: packet.retain })))
        await c.subscribeAsync(topics.storeConfig(store, 'members'), { qos: 1 })
        const msg = await Promise.race([got, new Promise<undefined>((r) => setTimeout(() => r(undefined), 500))])
        return msg?.retain && until(msg.p) ? msg.p : undefined
      } finally {
        await c.endAsync()
      }
    }, `retained members config of ${store}`)
  }
  const versionOf = async (store: string) => Number((await app.db.query<{ version: number }>("select version from config_pushes where store_id = $1 and part = 'members'", [store]))[0]?.version ?? 0)
  const auditOf = async (action: string) => ((await admin('GET', `/v1/audit?action=${action}&limit=1000`)).json() as { entries: Array<{ actor: string; target: string; detail: Record<string, unknown> }> }).entries
  /** No 24-character run of any embedding appears in `text` (a base64 vector of 64+ dims is 344+). */
  const leaks = (text: string, embeddings: string[]) => embeddings.filter((e) => text.includes(e.slice(100, 124)))

  const f1 = [1, 2, 3].map((s) => b64(unitVector(512, s)))
  const big = [b64(unitVector(FACE_MAX_DIMS, 9))]

  beforeAll(async () => {
    const t = await tempDir('se-faces-')
    dir = t.dir
    cleanup = t.cleanup
    mosquitto = await new PrivateMosquitto(`${t.dir}/mosquitto`).start()
    if (pg) db = await freshDatabase('se_faces')
    const sink = new Writable({ write: (chunk, _enc, done) => void (logLines.push(String(chunk)), done()) })
    const config = gatewayTestConfig(`${t.dir}/gw`, { auth: { demoUsers: true }, mqtt: { url: mosquitto.url }, ...(db ? { database: { url: db.url } } : {}) })
    app = await new GatewayApp({ config, logger: pino({ level: 'debug' }, sink), defaultMetrics: false }).start()
    await waitFor(() => app.live.client?.connected && app.uplink.connected, 'gateway connected to Mosquitto')
    for (const role of ['ops', 'marketing', 'security', 'admin'] as Role[]) {
      const r = await call('POST', '/v1/auth/login', { body: { username: role, password: PASSWORDS[role] } })
      expect(r.statusCode, r.body).toBe(200)
      cookies[role] = `se_session=${r.cookies.find((x) => x.name === 'se_session')!.value}`
    }
    for (const id of STORES) expect((await admin('POST', '/v1/stores', { id, name: id })).statusCode).toBe(201)
    for (const [ref, optedIn] of [['f-1', true], ['f-2', true], ['f-out', false]] as const) expect((await mkt('POST', '/v1/members', { ref, optedIn })).statusCode).toBe(201)
  })

  afterAll(async () => {
    await app?.stop()
    await mosquitto?.stop()
    await db?.drop()
    await cleanup?.()
  })

  it('only members:write roles enrol and revoke, only members:read roles read (ops and security get 403)', async () => {
    for (const role of ['ops', 'security'] as Role[]) {
      const r = as(role)
      expect((await r('PUT', '/v1/members/f-1/face', { model: MODEL, embeddings: f1 })).statusCode).toBe(403)
      expect(err(await r('DELETE', '/v1/members/f-1/face')).code).toBe('STORE_EDGE_ERR_FORBIDDEN')
      expect((await r('GET', '/v1/members/f-1/face')).statusCode).toBe(403)
    }
    expect((await call('GET', '/v1/members/f-1/face')).statusCode).toBe(401)
    expect((await mkt('GET', '/v1/members/f-1/face')).json()).toEqual({ enrolled: false })
    expect((await app.db.query('select 1 from member_faces')).length).toBe(0)
  })

  it('refuses bad embeddings, naming each problem by its path, and publishes nothing', async () => {
    const before = await Promise.all(STORES.map(versionOf))
    const v = unitVector(128, 7)
    const nan = v.slice()
    nan[5] = Number.NaN
    const cases: Array<{ body: unknown; expect: RegExp }> = [
      { body: { model: MODEL, embeddings: ['not base64!'] }, expect: /^\/embeddings\/0: not base64/ },
      { body: { model: MODEL, embeddings: [Buffer.alloc(258, 1).toString('base64')] }, expect: /^\/embeddings\/0: 258 bytes is not a whole number of float32 values/ },
      { body: { model: MODEL, embeddings: [b64(unitVector(32, 1))] }, expect: /^\/embeddings\/0: 32 dimensions, expected 64\.\.1536/ },
      { body: { model: MODEL, embeddings: [b64(unitVector(FACE_MAX_DIMS + 1, 1))] }, expect: /^\/embeddings\/0: 1537 dimensions/ },
      { body: { model: MODEL, embeddings: [b64(v), b64(nan)] }, expect: /^\/embeddings\/1: value 5 is not a finite number/ },
      { body: { model: MODEL, embeddings: [b64(scaled(v, 1.02))] }, expect: /^\/embeddings\/0: L2 norm 1\.0200 is not within 1 ± 0\.01/ },
      { body: { model: MODEL, embeddings: [b64(v), b64(unitVector(256, 2))] }, expect: /^\/embeddings: vectors of different lengths \(128, 256 dimensions\)/ },
      { body: { model: MODEL, embeddings: Array.from({ length: 11 }, () => b64(v)) }, expect: /^\/embeddings: 11 embeddings, expected 1\.\.10/ },
      { body: { model: MODEL, embeddings: [] }, expect: /^\/embeddings: 0 embeddings/ },
    ]
    for (const c of cases) {
      const r = await mkt('PUT', '/v1/members/f-1/face', c.body)
      expect(r.statusCode, r.body).toBe(400)
      const e = err(r)
      expect(e.code).toBe('STORE_EDGE_ERR_VALIDATION')
      expect(e.errors?.some((x) => c.expect.test(x)), `${JSON.stringify(e.errors)} ~ ${c.expect}`).toBe(true)
    }
    // Schema errors (fastify) say where too.
    expect(err(await mkt('PUT', '/v1/members/f-1/face', { model: 'bad model!', embeddings: [b64(v)] })).message).toMatch(/body\/model/)
    expect(err(await mkt('PUT', '/v1/members/f-1/face', { model: MODEL, embeddings: [b64(v)], photo: 'x' })).message).toMatch(/must NOT have additional properties 'photo'/)
    // The member must exist and have opted in.
    expect(err(await mkt('PUT', '/v1/members/nobody/face', { model: MODEL, embeddings: [b64(v)] })).code).toBe('STORE_EDGE_ERR_NOT_FOUND')
    const out = await mkt('PUT', '/v1/members/f-out/face', { model: MODEL, embeddings: [b64(v)] })
    expect(out.statusCode).toBe(400)
    expect(err(out).errors).toEqual(['/optedIn: member f-out has not opted in (optedIn is false): only opted-in members can be enrolled'])
    expect((await app.db.query('select 1 from member_faces')).length).toBe(0)
    expect(await Promise.all(STORES.map(versionOf))).toEqual(before)
    expect(await auditOf('member.face.enrol')).toEqual([])
  })

  it('enrol: every store’s retained members config carries the face at once, under a new version; the edge gallery matches it', async () => {
    const before = await Promise.all(STORES.map(versionOf))
    const r = await mkt('PUT', '/v1/members/f-1/face', { model: MODEL, embeddings: f1 })
    expect(r.statusCode, r.body).toBe(200)
    expect(Object.keys(r.json()).sort()).toEqual(['count', 'enrolled', 'enrolledAt', 'model'])
    expect(r.json()).toMatchObject({ enrolled: true, model: MODEL, count: 3 })
    // The largest vector the contract allows goes through too (another model: its own gallery).
    expect((await admin('PUT', '/v1/members/f-2/face', { model: 'wide-model', embeddings: big })).statusCode).toBe(200)
    for (const [i, store] of STORES.entries()) {
      const p = await retained(store, (x) => x.members.some((m) => m.ref === 'f-2' && m.face))
      expect(Value.Check(MembersConfigPayload, p), [...Value.Errors(MembersConfigPayload, p)].map((e) => `${e.path} ${e.message}`).join()).toBe(true)
      expect(p.version).toBeGreaterThan(before[i]!)
      expect(p.members.find((m) => m.ref === 'f-1')!.face).toEqual({ model: MODEL, embeddings: f1 })
      expect(p.members.find((m) => m.ref === 'f-2')!.face).toEqual({ model: 'wide-model', embeddings: big })
      expect(p.members.some((m) => m.ref === 'f-out')).toBe(false)
      expect(decodeVector(p.members.find((m) => m.ref === 'f-1')!.face!.embeddings[0]!)).toEqual(unitVector(512, 1))
    }
    const gallery = new MemberGallery({ dataDir: `${dir}/edge-${pg}`, model: MODEL, threshold: 0.5, margin: 0.05, log: testLogger() })
    await gallery.start()
    await gallery.sync((await retained('store-a')).members)
    expect(gallery.match(unitVector(512, 2))?.ref).toBe('f-1')
    await gallery.stop()
  })

  it('GET answers enrolled, model, count and when: never an embedding (nor does the member record or any log line)', async () => {
    const r = await mkt('GET', '/v1/members/f-1/face')
    expect(r.statusCode).toBe(200)
    const body = r.json()
    expect(Object.keys(body).sort()).toEqual(['count', 'enrolled', 'enrolledAt', 'model'])
    expect(body).toMatchObject({ enrolled: true, model: MODEL, count: 3 })
    expect(Math.abs(body.enrolledAt - Date.now())).toBeLessThan(60_000)
    expect(leaks(r.body, f1)).toEqual([])
    expect(leaks((await mkt('GET', '/v1/members/f-1')).body, f1)).toEqual([])
    expect(leaks((await mkt('GET', '/v1/members')).body, [...f1, ...big])).toEqual([])
    expect(err(await mkt('GET', '/v1/members/nobody/face')).code).toBe('STORE_EDGE_ERR_NOT_FOUND')
    expect(logLines.length).toBeGreaterThan(0)
    expect(leaks(logLines.join('\n'), [...f1, ...big])).toEqual([])
  })

  it('enrolments are audited with the model and counts, without embeddings', async () => {
    const entries = await auditOf('member.face.enrol')
    expect(entries.map((e) => [e.actor, e.target, e.detail])).toEqual([
      ['admin', 'member:f-2', { model: 'wide-model', count: 1, dims: FACE_MAX_DIMS }],
      ['marketing', 'member:f-1', { model: MODEL, count: 3, dims: 512 }],
    ])
    const all = await admin('GET', '/v1/audit?limit=1000')
    expect(leaks(all.body, [...f1, ...big])).toEqual([])
  })

  it('revoke: republished without the face under a higher version, the edge gallery drops it; a second revoke is a no-op', async () => {
    const enrolled = await Promise.all(STORES.map((s) => retained(s, (p) => !!p.members.find((m) => m.ref === 'f-1')?.face)))
    const r = await mkt('DELETE', '/v1/members/f-1/face')
    expect(r.statusCode, r.body).toBe(204)
    for (const [i, store] of STORES.entries()) {
      const p = await retained(store, (x) => x.members.some((m) => m.ref === 'f-1' && !m.face))
      expect(p.version).toBeGreaterThan(enrolled[i]!.version)
      expect(p.members.find((m) => m.ref === 'f-1')).toEqual({ ref: 'f-1', tier: 1, tags: [], beaconIds: [], plates: [], visits: 0 })
      expect(p.members.find((m) => m.ref === 'f-2')!.face).toBeDefined()
    }
    const gallery = new MemberGallery({ dataDir: `${dir}/edge-${pg}`, model: MODEL, threshold: 0.5, margin: 0.05, log: testLogger() })
    await gallery.start()
    expect(gallery.size).toBe(1)
    await gallery.sync((await retained('store-a')).members)
    expect(gallery.size).toBe(0)
    expect(gallery.match(unitVector(512, 2))).toBeUndefined()
    await gallery.stop()
    expect((await mkt('GET', '/v1/members/f-1/face')).json()).toEqual({ enrolled: false })
    expect((await auditOf('member.face.revoke')).map((e) => [e.actor, e.target, e.detail])).toEqual([['marketing', 'member:f-1', { model: MODEL, count: 3 }]])

    const versions = await Promise.all(STORES.map(versionOf))
    expect((await mkt('DELETE', '/v1/members/f-1/face')).statusCode).toBe(204)
    expect(await Promise.all(STORES.map(versionOf))).toEqual(versions)
    expect(await auditOf('member.face.revoke')).toHaveLength(1)
    expect(err(await mkt('DELETE', '/v1/members/nobody/face')).code).toBe('STORE_EDGE_ERR_NOT_FOUND')
  })

  it('opting out drops the face from every store and deletes it; opting back in does not bring it back; deleting the member deletes it', async () => {
    const enrolled = await retained('store-b', (p) => !!p.members.find((m) => m.ref === 'f-2')?.face)
    expect((await mkt('PUT', '/v1/members/f-2', { optedIn: false })).statusCode).toBe(200)
    for (const store of STORES) {
      const p = await retained(store, (x) => !x.members.some((m) => m.ref === 'f-2'))
      expect(p.version).toBeGreaterThan(enrolled.version)
      expect(p.members.some((m) => m.face)).toBe(false)
    }
    expect(await app.db.query("select 1 from member_faces where member_ref = 'f-2'")).toEqual([])
    expect((await mkt('PUT', '/v1/members/f-2', { optedIn: true })).statusCode).toBe(200)
    expect((await mkt('GET', '/v1/members/f-2/face')).json()).toEqual({ enrolled: false })
    const p = await retained('store-a', (x) => x.members.some((m) => m.ref === 'f-2'))
    expect(p.members.find((m) => m.ref === 'f-2')!.face).toBeUndefined()

    expect((await mkt('PUT', '/v1/members/f-2/face', { model: MODEL, embeddings: f1.slice(0, 1) })).statusCode).toBe(200)
    expect((await mkt('DELETE', '/v1/members/f-2')).statusCode).toBe(204)
    expect(await app.db.query("select 1 from member_faces where member_ref = 'f-2'")).toEqual([])
  })
})
