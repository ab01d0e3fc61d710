import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Spool } from './spool.ts'
import { tempDir } from '../../tests/helpers.ts'

describe('Spool (LevelDB store-and-forward)', () => {
  let dir: string
  let cleanup: () => Promise<void>
  beforeEach(async () => ({ dir, cleanup } = await tempDir()))
  afterEach(() => cleanup())

  it('keeps arrival order, pages after a key, and deletes only what was acknowledged', async () => {
    const s = await new Spool({ dir, maxEntries: 1000 }).open()
    for (let i = 0; i < 25; i++) s.append(`stores/s1/agg`, Buffer.from(`m${i}`))
    const first = await s.peek(10)
    expect(first.map((e) => e.payload.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`))
    const next = await s.peek(10, first.at(-1)!.key)
    expect(next[0]!.payload.toString()).toBe('m10')
    await s.ack(first.slice(0, 5).map((e) => e.key))
    expect(s.size).toBe(20)
    expect((await s.peek(1))[0]!.payload.toString()).toBe('m5')
    expect((await s.peek(1))[0]!.topic).toBe('stores/s1/agg')
    await s.close()
  })

  it('survives a reopen (an edge restart): the backlog, its order and the sequence continue', async () => {
    const a = await new Spool({ dir, maxEntries: 1000 }).open()
    for (let i = 0; i < 5; i++) a.append('t', Buffer.from(`a${i}`))
    await a.ack((await a.peek(2)).map((e) => e.key))
    await a.close()
    const b = await new Spool({ dir, maxEntries: 1000 }).open()
    expect(b.size).toBe(3)
    b.append('t', Buffer.from('b0'))
    expect((await b.peek(10)).map((e) => e.payload.toString())).toEqual(['a2', 'a3', 'a4', 'b0'])
    await b.close()
  })

  it('drops the oldest beyond its bound, and counts them', async () => {
    const s = await new Spool({ dir, maxEntries: 10 }).open()
    for (let i = 0; i < 15; i++) s.append('t', Buffer.from(`m${i}`))
    await s.flush()
    expect(s.size).toBe(10)
    expect(s.dropped).toBe(5)
    expect((await s.peek(1))[0]!.payload.toString()).toBe('m5')
    await s.close()
  })
})
