import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { DecodeResult, Rejection } from '../../contracts/index.ts'
import { merakiWebhookRoutes } from './meraki.route.ts'
import { secretMatches } from './webhook.common.ts'

const NOW = Date.parse('2026-05-14T09:31:50Z')
const SECRET = 'meraki-fixture-secret'
const hashMac = (m: string) => 'h:' + createHmac('sha256', 'test-salt').update(m).digest('hex').slice(0, 20)

/** The fixtures were captured at 2024-05-14T09:31:50Z; move every ISO time to "now" so the skew check passes. */
// any: tests edit the fixture freely; the route treats the body as unknown.
function fixture(name: 'wifi' | 'bluetooth'): any {
  const text = readFileSync(new URL(`../../../tests/fixtures/meraki-v3-${name}.json`, import.meta.url), 'utf8')
  const shift = NOW - Date.parse('2024-05-14T09:31:50Z')
  return JSON.parse(text, (_k, v) => (typeof v === 'string' && /^\d{4}-\d\d-\d\dT[\d:]+Z$/.test(v) ? new Date(Date.parse(v) + shift).toISOString() : v))
}

describe('Meraki webhook route', () => {
  let app: FastifyInstance
  let accepted: DecodeResult[]
  let rejected: Rejection[]

  beforeEach(async () => {
    accepted = []
    rejected = []
    app = Fastify({ logger: false })
    await app.register(merakiWebhookRoutes, {
      secret: SECRET,
      validator: 'da6a17c407bb11dfeec7392a5042be0a4cc034b6',
      deviceId: 'meraki',
      decodeContext: () => ({ deviceId: 'ignored', hashMac, now: NOW, maxSkewMs: 600_000, maxBatch: 500 }),
      accept: (r) => accepted.push(r),
      onReject: (r) => rejected.push(r),
    })
    await app.ready()
  })
  afterEach(() => app.close())

  const post = (payload: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    app.inject({ method: 'POST', url: '/v1/webhooks/meraki', headers, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) })

  it('answers the validator handshake as text/plain', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/webhooks/meraki' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.body).toBe('da6a17c407bb11dfeec7392a5042be0a4cc034b6')
  })

  it('accepts the WiFi and Bluetooth fixtures', async () => {
    let res = await post(fixture('wifi'))
    expect(res.statusCode).toBe(202)
    expect(res.json()).toEqual({ accepted: 6, rejected: [] })
    res = await post(fixture('bluetooth'))
    expect(res.statusCode).toBe(202)
    expect(res.json()).toEqual({ accepted: 3, rejected: [] })
    expect(accepted.map((r) => r.sightings.length)).toEqual([6, 3])
    expect(accepted[1]!.sightings.every((s) => s.source === 'ble')).toBe(true)
    expect(rejected).toEqual([])
  })

  it('refuses a wrong or missing secret with 403, before decoding anything', async () => {
    for (const secret of ['wrong', SECRET + 'x', '', undefined, 42]) {
      const res = await post({ ...fixture('wifi'), secret })
      expect(res.statusCode).toBe(403)
      expect(res.json().error.code).toBe('STORE_EDGE_ERR_WEBHOOK_SECRET')
      expect(res.body).not.toContain(SECRET)
    }
    expect(accepted).toEqual([])
    expect(rejected.map((r) => r.code)).toEqual(Array(5).fill('STORE_EDGE_ERR_WEBHOOK_SECRET'))
  })

  it('refuses an unknown type with 400', async () => {
    const res = await post({ ...fixture('wifi'), type: 'DevicesSeen' })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ error: { code: 'STORE_EDGE_ERR_WEBHOOK_TYPE', message: expect.any(String) } })
  })

  it('refuses a v2 post as a whole', async () => {
    const res = await post({ ...fixture('wifi'), version: '2.0' })
    expect(res.statusCode).toBe(400)
    expect(res.json().error.code).toBe('STORE_EDGE_ERR_SCHEMA_VERSION')
    expect(accepted).toEqual([])
  })

  it('keeps the good observations beside a bad one, and reports the bad one with its index', async () => {
    const body = fixture('wifi')
    body.data.observations.splice(1, 0, { ...body.data.observations[0], clientMac: 'f0:18:98:4e:7c' })
    const res = await post(body)
    expect(res.statusCode).toBe(202)
    expect(res.json()).toEqual({
      accepted: 6,
      rejected: [{ index: 1, code: 'STORE_EDGE_ERR_BAD_MAC', reason: '/data/observations/1/clientMac: not a 48-bit MAC address' }],
    })
    expect(rejected).toEqual([{ index: 1, code: 'STORE_EDGE_ERR_BAD_MAC', reason: '/data/observations/1/clientMac: not a 48-bit MAC address' }])
    expect(accepted[0]!.sightings).toHaveLength(6)
  })

  it('takes numbers sent as strings', async () => {
    const body = fixture('wifi')
    for (const o of body.data.observations) {
      o.latestRecord.nearestApRssi = String(o.latestRecord.nearestApRssi)
      for (const l of o.locations) for (const r of l.rssiRecords) r.rssi = String(r.rssi)
    }
    body.data.observations[2].latestRecord.time = String(Math.round(NOW / 1000))
    const res = await post(body)
    expect(res.json()).toEqual({ accepted: 6, rejected: [] })
    expect(accepted[0]!.sightings.at(-1)).toMatchObject({ rssi: -86, ts: Math.round(NOW / 1000) * 1000 })
  })

  it('answers a body that is not JSON with a clear 400, not a crash', async () => {
    for (const [payload, headers] of [
      ['{"version": "3.0", "secret": "meraki-fixture-secret", "data": {', { 'content-type': 'application/json' }],
      ['version=3.0&secret=x', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['', { 'content-type': 'application/json' }],
      ['<xml/>', {}],
    ] as const) {
      const res = await post(payload, headers)
      expect(res.statusCode).toBe(400)
      const { error } = res.json()
      expect(error.code).toBe('STORE_EDGE_ERR_PAYLOAD_NOT_JSON')
      expect(error.message).toMatch(/^body is not valid JSON/)
      expect(error.message).not.toContain('meraki-fixture-secret')
    }
    expect((await post('[1,2,3]')).json().error.code).toBe('STORE_EDGE_ERR_SCHEMA')
    // and the route still works afterwards
    expect((await post(fixture('wifi'))).statusCode).toBe(202)
  })

  it('refuses bodies over 5 MB with 413 in our error format', async () => {
    const res = await post(JSON.stringify({ ...fixture('wifi'), pad: 'x'.repeat(5 * 1024 * 1024) }))
    expect(res.statusCode).toBe(413)
    expect(res.json().error.code).toBe('STORE_EDGE_ERR_PAYLOAD_TOO_LARGE')
    expect(rejected.map((r) => r.code)).toEqual(['STORE_EDGE_ERR_PAYLOAD_TOO_LARGE'])
  })

  it('keeps its raw-body parser and error format to its own routes (encapsulated plugin)', async () => {
    const outer = Fastify({ logger: false })
    outer.post('/other', async (req) => ({ got: req.body }))
    await outer.register(merakiWebhookRoutes, { secret: SECRET, validator: 'v', deviceId: 'meraki', decodeContext: () => ({ deviceId: 'meraki', hashMac, now: NOW, maxSkewMs: 600_000, maxBatch: 500 }), accept() {}, onReject() {} })
    expect((await outer.inject({ method: 'POST', url: '/other', payload: { a: 1 } })).json()).toEqual({ got: { a: 1 } })
    expect((await outer.inject({ method: 'POST', url: '/other', headers: { 'content-type': 'application/json' }, payload: '{' })).json().code).toBe('FST_ERR_CTP_INVALID_JSON_BODY')
    await outer.close()
  })

  it('compares secrets in constant time over equal-length digests', () => {
    expect(secretMatches('s3cret', 's3cret')).toBe(true)
    expect(secretMatches('s3cret', 's3cret-but-longer')).toBe(false)
    expect(secretMatches('', '')).toBe(false) // an unset secret never matches
    expect(secretMatches('s3cret', null)).toBe(false)
  })
})
