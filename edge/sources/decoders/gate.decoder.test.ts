import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../contracts/index.ts'
import { decodeGateBatch, decodeGateValue, type GateDecodeResult } from './gate.decoder.ts'
import { testContext } from './test-support.ts'

const NOW = Date.parse('2026-05-14T09:31:50Z')
const ctx = testContext('gate-north', NOW)
const batch = (events: unknown[], extra: Record<string, unknown> = {}) => JSON.stringify({ v: 1, events, ...extra })
const ev = (plate: unknown, extra: Record<string, unknown> = {}) => ({ type: 'entry', plate, gate: 'north-in', ts: NOW - 1000, ...extra })

function one(plate: unknown): GateDecodeResult {
  return decodeGateBatch(batch([ev(plate)]), ctx)
}

function wellFormed(r: GateDecodeResult): void {
  for (const x of r.rejects) {
    if (!(x.code in ErrorCodes)) throw new Error(`unknown code ${x.code}`)
    if (!x.reason) throw new Error('empty reason')
  }
}

describe('decodeGateBatch: plates', () => {
  it('accepts an ordinary plate and keeps the event fields', () => {
    const r = decodeGateBatch(batch([ev('沪A12345', { id: 'evt-1', confidence: 0.93, type: 'exit', gate: 'north-out' })]), ctx)
    expect(r.rejects).toEqual([])
    expect(r.events).toEqual([
      { deviceId: 'gate-north', index: 0, id: 'evt-1', type: 'exit', gate: 'north-out', ts: NOW - 1000, confidence: 0.93, plate: '沪A12345', plateValid: true, plateKind: 'ordinary' },
    ])
  })

  it('accepts new-energy plates, small car (D/F first) and large vehicle (D/F last)', () => {
    const small = one('沪AD12345').events[0]!
    expect([small.plate, small.plateKind, small.plateValid]).toEqual(['沪AD12345', 'new-energy', true])
    const small2 = one('粤BFA1234').events[0]!
    expect([small2.plate, small2.plateKind]).toEqual(['粤BFA1234', 'new-energy'])
    const large = one('京A12345D').events[0]!
    expect([large.plate, large.plateKind]).toEqual(['京A12345D', 'new-energy'])
  })

  it('corrects the confusable O/0 and I/1 after the authority letter, and cleans case, spaces and full-width', () => {
    const r = one('沪a·O2I45')
    expect(r.rejects).toEqual([])
    expect(r.events[0]).toMatchObject({ plate: '沪A02145', plateValid: true, corrected: true })
    expect(one('苏Ｅ　１２３４５').events[0]).toMatchObject({ plate: '苏E12345', plateValid: true })
    expect(one('浙B 12345').events[0]!.corrected).toBeUndefined()
  })

  it('rejects a bad province with BAD_PLATE and the reason, keeping the car as unreadable', () => {
    const r = one('港A12345')
    expect(r.rejects).toHaveLength(1)
    expect(r.rejects[0]).toMatchObject({ code: 'STORE_EDGE_ERR_BAD_PLATE', index: 0 })
    expect(r.rejects[0]!.reason).toMatch(/^\/events\/0\/plate: "港" is not a province character/)
    expect(r.events).toEqual([expect.objectContaining({ plateValid: false, type: 'entry', gate: 'north-in' })])
  })

  it('rejects a bad length and bad letters with their reasons', () => {
    expect(one('沪A1234').rejects[0]!.reason).toMatch(/7 characters \(8 for new-energy\), this one has 6/)
    expect(one('沪A1234567').rejects[0]!.reason).toMatch(/this one has 9/)
    expect(one('沪112345').rejects[0]!.reason).toMatch(/second character must be a letter/)
    expect(one('沪A12$45').rejects[0]!.reason).toMatch(/"\$" may not appear in a plate/)
    expect(one('沪A123456').rejects[0]!.reason).toMatch(/needs D or F first/) // 8 characters, no D/F
    for (const p of ['沪A1234', '沪112345', '沪A12$45', '']) expect(one(p).rejects[0]!.code, p).toBe(p === '' ? 'STORE_EDGE_ERR_ITEM_SCHEMA' : 'STORE_EDGE_ERR_BAD_PLATE')
  })

  it('never quotes the plate in a reason', () => {
    for (const p of ['沪A1234', '沪A123456', 'ABCDEFG', '沪A12345X9Z']) {
      const r = one(p)
      expect(r.rejects).toHaveLength(1)
      expect(r.rejects[0]!.reason, p).not.toContain(p)
    }
  })
})

describe('decodeGateBatch: envelope and items', () => {
  it('rejects the envelope as a whole: JSON, shape, version, size', () => {
    const code = (p: string) => decodeGateBatch(p, ctx).rejects.map((x) => [x.code, x.index])
    expect(code('not json')).toEqual([['STORE_EDGE_ERR_PAYLOAD_NOT_JSON', undefined]])
    expect(code('[1]')).toEqual([['STORE_EDGE_ERR_SCHEMA', undefined]])
    expect(code(JSON.stringify({ v: 2, events: [] }))).toEqual([['STORE_EDGE_ERR_SCHEMA_VERSION', undefined]])
    expect(code(JSON.stringify({ events: [] }))).toEqual([['STORE_EDGE_ERR_SCHEMA_VERSION', undefined]])
    expect(code(JSON.stringify({ v: 1 }))).toEqual([['STORE_EDGE_ERR_SCHEMA', undefined]])
    expect(code(JSON.stringify({ v: 1, events: {} }))).toEqual([['STORE_EDGE_ERR_SCHEMA', undefined]])
    expect(code(batch(Array.from({ length: 501 }, () => ev('沪A12345'))))).toEqual([['STORE_EDGE_ERR_BATCH_TOO_LARGE', undefined]])
    // JSON.parse quotes the input; the reason must not (it could hold a plate)
    expect(decodeGateBatch('{"v":1,"events":[{"plate":"沪A12345"', ctx).rejects[0]!.reason).not.toContain('沪A12345')
  })

  it('isolates bad items: each rejected with its index, the good ones kept in order', () => {
    const r = decodeGateBatch(
      batch([
        ev('沪A12345'),
        'nope',
        ev('沪A12346', { type: 'in' }),
        ev('沪A12347', { ts: NOW - 3_600_000 }),
        ev('沪A12348', { ts: 'now' }),
        ev(12345),
        ev('沪A12349', { gate: '' }),
        ev('沪A1234'),
        ev('沪A1235O', { confidence: 2 }),
        ev('沪AD12345', { id: 'x'.repeat(65) }),
        ev('沪B54321', { type: 'exit' }),
      ]),
      ctx,
    )
    wellFormed(r)
    expect(r.rejects.map((x) => [x.index, x.code])).toEqual([
      [1, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
      [2, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
      [3, 'STORE_EDGE_ERR_TIMESTAMP'],
      [4, 'STORE_EDGE_ERR_TIMESTAMP'],
      [5, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
      [6, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
      [7, 'STORE_EDGE_ERR_BAD_PLATE'],
      [8, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
      [9, 'STORE_EDGE_ERR_ITEM_SCHEMA'],
    ])
    expect(r.rejects[5]!.reason).toMatch(/^\/events\/6\/gate/)
    expect(r.rejects[7]!.reason).toMatch(/^\/events\/8\/confidence/)
    expect(r.events.map((e) => [e.index, e.plate, e.plateValid])).toEqual([
      [0, '沪A12345', true],
      [7, '沪A1234', false],
      [10, '沪B54321', true],
    ])
  })

  it('checks each timestamp against the skew window, edges exact', () => {
    const at = (ts: number) => decodeGateBatch(batch([ev('沪A12345', { ts })]), ctx)
    expect(at(NOW + 600_000).events).toHaveLength(1)
    expect(at(NOW - 600_000).events).toHaveLength(1)
    expect(at(NOW + 600_001).rejects[0]!.code).toBe('STORE_EDGE_ERR_TIMESTAMP')
    expect(at(NOW - 600_001).rejects[0]!.code).toBe('STORE_EDGE_ERR_TIMESTAMP')
    expect(at(1.5).rejects[0]!.code).toBe('STORE_EDGE_ERR_TIMESTAMP')
  })

  it('decodeGateValue takes an already parsed body (the webhook)', () => {
    expect(decodeGateValue({ v: 1, events: [ev('沪A12345')] }, ctx).events).toHaveLength(1)
    expect(decodeGateValue(null, ctx).rejects[0]!.code).toBe('STORE_EDGE_ERR_SCHEMA')
  })
})

describe('decodeGateBatch properties (fuzz)', () => {
  it('never throws on random bytes or JSON', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => wellFormed(decodeGateBatch(Buffer.from(b), ctx))), { numRuns: 3000 })
    fc.assert(fc.property(fc.jsonValue(), (v) => wellFormed(decodeGateBatch(JSON.stringify(v) ?? 'null', ctx))), { numRuns: 3000 })
  })

  it('accounts for every item: an event, a rejection, or (bad plate) both', () => {
    const anything = fc.oneof(fc.jsonValue(), fc.string(), fc.constant(undefined))
    const item = fc
      .record({
        type: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('entry', 'exit') }, { weight: 1, arbitrary: anything }),
        plate: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('沪A12345', '京AD1234O', '沪A1234', 'X') }, { weight: 1, arbitrary: anything }),
        gate: fc.oneof({ weight: 4, arbitrary: fc.constant('g1') }, { weight: 1, arbitrary: anything }),
        ts: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: NOW - 700_000, max: NOW + 700_000 }) }, { weight: 1, arbitrary: anything }),
        id: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 70 })),
      })
      .map((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)))
    fc.assert(
      fc.property(fc.array(fc.oneof({ weight: 9, arbitrary: item }, { weight: 1, arbitrary: anything }), { maxLength: 20 }), (items) => {
        const r = decodeGateBatch(batch(items), ctx)
        wellFormed(r)
        const rejected = new Map(r.rejects.map((x) => [x.index, x.code]))
        if (rejected.size !== r.rejects.length) throw new Error('an item rejected twice')
        for (const e of r.events) {
          if (!e.plateValid && rejected.get(e.index) !== 'STORE_EDGE_ERR_BAD_PLATE') throw new Error('invalid plate without its rejection')
          if (e.plateValid && rejected.has(e.index)) throw new Error('accepted and rejected')
        }
        const accounted = new Set([...rejected.keys(), ...r.events.map((e) => e.index)])
        if (accounted.size !== items.length) throw new Error('items unaccounted for')
      }),
      { numRuns: 3000 },
    )
  })
})
