import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Rejection } from '../../contracts/index.ts'
import type { GateDecodeResult } from '../../sources/decoders/gate.decoder.ts'
import { testContext } from '../../sources/decoders/test-support.ts'
import { parkingWebhookRoutes } from './parking.route.ts'

const NOW = Date.parse('2026-05-14T09:31:50Z')
const SECRET = 'parking-fixture-secret'

describe('parking webhook route', () => {
  let app: FastifyInstance
  let accepted: GateDecodeResult[]
  let rejected: Rejection[]

  beforeEach(async () => {
    accepted = []
    rejected = []
    app = Fastify({ logger: false })
    await app.register(parkingWebhookRoutes, {
      secret: SECRET,
      decodeContext: () => testContext('parking-system', NOW),
      accept: (r) => accepted.push(r),
      onReject: (r) => rejected.push(r),
    })
    await app.ready()
  })
  afterEach(() => app.close())

  const post = (payload: unknown, headers: Record<string, string> = { 'content-type': 'application/json', 'x-parking-secret': SECRET }) =>
    app.inject({ method: 'POST', url: '/v1/parking/events', headers, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) })
  const ev = (plate: string, extra: Record<string, unknown> = {}) => ({ id: `e-${plate}`, type: 'entry', plate, gate: 'west-in', ts: NOW - 500, ...extra })

  it('accepts a clean batch with 200 and hands the events on', async () => {
    const res = await post({ v: 1, events: [ev('沪A12345'), ev('京AD12345', { type: 'exit' })] })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ accepted: 2, rejected: [] })
    expect(accepted).toHaveLength(1)
    expect(accepted[0]!.events.map((e) => [e.deviceId, e.plate, e.type])).toEqual([
      ['parking-system', '沪A12345', 'entry'],
      ['parking-system', '京AD12345', 'exit'],
    ])
    expect(rejected).toEqual([])
  })

  it('refuses a missing or wrong secret with 403 before reading the body', async () => {
    const cases: Array<Record<string, string>> = [{ 'content-type': 'application/json' }, { 'content-type': 'application/json', 'x-parking-secret': 'nope' }]
    for (const headers of cases) {
      const res = await post('not even json', headers)
      expect(res.statusCode).toBe(403)
      expect(res.json().error.code).toBe('STORE_EDGE_ERR_WEBHOOK_SECRET')
    }
    expect(accepted).toEqual([])
    expect(rejected.map((r) => r.code)).toEqual(['STORE_EDGE_ERR_WEBHOOK_SECRET', 'STORE_EDGE_ERR_WEBHOOK_SECRET'])
  })

  it('refuses a bad body as a whole with the catalogue code, never quoting it', async () => {
    let res = await post('{"v":1,"events":[{"plate":"沪A12345"')
    expect(res.statusCode).toBe(400)
    expect(res.json().error.code).toBe('STORE_EDGE_ERR_PAYLOAD_NOT_JSON')
    expect(res.body).not.toContain('沪A12345')
    res = await post({ v: 2, events: [] })
    expect([res.statusCode, res.json().error.code]).toEqual([400, 'STORE_EDGE_ERR_SCHEMA_VERSION'])
    res = await post({ v: 1, events: 'x' })
    expect([res.statusCode, res.json().error.code]).toEqual([400, 'STORE_EDGE_ERR_SCHEMA'])
    res = await post('')
    expect([res.statusCode, res.json().error.code]).toEqual([400, 'STORE_EDGE_ERR_PAYLOAD_NOT_JSON'])
    res = await post({ v: 1, events: Array.from({ length: 501 }, () => ev('沪A12345')) })
    expect([res.statusCode, res.json().error.code]).toEqual([413, 'STORE_EDGE_ERR_BATCH_TOO_LARGE'])
    expect(accepted).toEqual([])
  })

  it('answers 207 with each rejected item (index, code, reason) and keeps the good ones', async () => {
    const res = await post({ v: 1, events: [ev('沪A12345'), ev('沪A1234'), ev('沪A22222', { ts: NOW - 3_600_000 }), ev('沪A33333', { type: 'in' }), ev('沪AOI234')] })
    expect(res.statusCode).toBe(207)
    const body = res.json()
    expect(body.accepted).toBe(2)
    expect(body.rejected).toEqual([
      { index: 1, code: 'STORE_EDGE_ERR_BAD_PLATE', reason: expect.stringMatching(/^\/events\/1\/plate: a plate has 7 characters/) },
      { index: 2, code: 'STORE_EDGE_ERR_TIMESTAMP', reason: expect.stringMatching(/^\/events\/2\/ts/) },
      { index: 3, code: 'STORE_EDGE_ERR_ITEM_SCHEMA', reason: expect.stringMatching(/^\/events\/3\/type/) },
    ])
    // the unreadable plate still goes to the car park (the car passed), flagged
    expect(accepted[0]!.events.map((e) => [e.index, e.plateValid, e.plateValid ? e.plate : ''])).toEqual([
      [0, true, '沪A12345'],
      [1, false, ''],
      [4, true, '沪A01234'],
    ])
    expect(rejected.map((r) => r.index)).toEqual([1, 2, 3])
  })

  it('takes the body whatever the content type', async () => {
    const res = await post({ v: 1, events: [ev('沪A12345')] }, { 'content-type': 'text/plain', 'x-parking-secret': SECRET })
    expect(res.statusCode).toBe(200)
  })
})
