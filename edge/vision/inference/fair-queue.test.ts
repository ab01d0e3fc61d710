import { describe, expect, it } from 'vitest'
import { FairQueue } from './fair-queue.ts'

const job = (source: string, n: number) => ({ source, n })

describe('FairQueue', () => {
  it('keeps the newest `depth` jobs per source, returning the oldest as dropped', () => {
    const q = new FairQueue<{ source: string; n: number }>(2, 8)
    expect(q.push(job('a', 1))).toEqual({ accepted: true })
    expect(q.push(job('a', 2))).toEqual({ accepted: true })
    expect(q.push(job('a', 3))).toEqual({ accepted: true, dropped: job('a', 1) })
    expect(q.push(job('a', 4))).toEqual({ accepted: true, dropped: job('a', 2) })
    expect(q.size).toBe(2)
    expect([q.next(), q.next(), q.next()]).toEqual([job('a', 3), job('a', 4), undefined])
    expect(q.sources).toBe(0)
  })

  it('serves sources in turn, one job each, oldest first within a source', () => {
    const q = new FairQueue<{ source: string; n: number }>(3, 8)
    for (let i = 1; i <= 3; i++) q.push(job('busy', i))
    q.push(job('quiet', 1))
    q.push(job('third', 1))
    q.push(job('quiet', 2))
    const served = []
    for (let j = q.next(); j; j = q.next()) served.push(`${j.source}${j.n}`)
    expect(served).toEqual(['busy1', 'quiet1', 'third1', 'busy2', 'quiet2', 'busy3'])
  })

  it('refuses a source past maxSources and bounds what it holds under any burst', () => {
    const q = new FairQueue<{ source: string; n: number }>(2, 3)
    let refused = 0
    let dropped = 0
    for (let i = 0; i < 10_000; i++) {
      const r = q.push(job(`cam${i % 5}`, i))
      if (!r.accepted) refused++
      else if (r.dropped) dropped++
      expect(q.size).toBeLessThanOrEqual(6)
    }
    expect(q.sources).toBe(3)
    expect(refused).toBe(4000)
    expect(dropped).toBe(6000 - 6)
    expect(q.drain().map((j) => j.n)).toEqual([9990, 9995, 9991, 9996, 9992, 9997])
    expect(q.size).toBe(0)
    expect(q.push(job('cam4', 1)).accepted).toBe(true)
  })

  it('skips busy sources without losing their turn', () => {
    const q = new FairQueue<{ source: string; n: number }>(3, 8)
    q.push(job('a', 1))
    q.push(job('a', 2))
    q.push(job('b', 1))
    q.push(job('c', 1))
    const busy = new Set(['a'])
    expect(q.next((s) => busy.has(s))).toEqual(job('b', 1))
    busy.add('c')
    expect(q.next((s) => busy.has(s))).toBeUndefined()
    busy.clear()
    expect([q.next(), q.next(), q.next()]).toEqual([job('a', 1), job('c', 1), job('a', 2)])
  })
})
