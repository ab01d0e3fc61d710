import { describe, expect, it } from 'vitest'
import { MemberRecognizer } from './member-recognizer.ts'

/** Vote arithmetic with hand-made matches; tests/faces.members.test.ts votes with real embeddings. */

const m = (ref: string, score = 0.9) => ({ ref, score })

describe('MemberRecognizer', () => {
  it('recognises on the observation that brings the minVotes-th vote, once per track', () => {
    const r = new MemberRecognizer({ windowSize: 5, minVotes: 3, cooldownMs: 0 })
    expect(r.observe(1, m('a'), 0)).toBeUndefined()
    expect(r.observe(1, undefined, 100)).toBeUndefined()
    expect(r.observe(1, m('a', 0.8), 200)).toBeUndefined()
    const hit = r.observe(1, m('a', 1), 300)
    expect(hit).toEqual({ trackId: 1, ref: 'a', ts: 300, votes: 3, window: 5, score: expect.closeTo(0.9, 6) })
    for (let i = 0; i < 10; i++) expect(r.observe(1, m('a'), 400 + i)).toBeUndefined()
  })
  it('votes must fall in the last windowSize observations and be for the same member', () => {
    const r = new MemberRecognizer({ windowSize: 4, minVotes: 3, cooldownMs: 0 })
    const seq = [m('a'), m('b'), undefined, m('a'), m('b'), undefined, m('a'), undefined]
    for (const [i, x] of seq.entries()) expect(r.observe(7, x, i), `obs ${i}`).toBeUndefined()
  })
  it('matches under the threshold do not vote', () => {
    const r = new MemberRecognizer({ windowSize: 3, minVotes: 2, threshold: 0.8, cooldownMs: 0 })
    expect(r.observe(1, m('a', 0.79), 0)).toBeUndefined()
    expect(r.observe(1, m('a', 0.79), 1)).toBeUndefined()
    expect(r.observe(1, m('a', 0.81), 2)).toBeUndefined()
    expect(r.observe(1, m('a', 0.81), 3)?.ref).toBe('a')
  })
  it('once per member per cooldown, across tracks; again after it', () => {
    const r = new MemberRecognizer({ windowSize: 2, minVotes: 2, cooldownMs: 60_000 })
    r.observe(1, m('a'), 0)
    expect(r.observe(1, m('a'), 1)?.trackId).toBe(1)
    r.observe(2, m('a'), 30_000)
    expect(r.observe(2, m('a'), 30_001)).toBeUndefined()
    expect(r.suppressed).toBe(1)
    // track 2 was decided (suppressed): it stays quiet even after the cooldown
    expect(r.observe(2, m('a'), 70_000)).toBeUndefined()
    r.observe(3, m('a'), 60_001)
    expect(r.observe(3, m('a'), 60_002)?.trackId).toBe(3)
  })
  it('forget starts a track afresh; forgetMember drops pending votes', () => {
    const r = new MemberRecognizer({ windowSize: 3, minVotes: 2, cooldownMs: 0 })
    r.observe(1, m('a'), 0)
    r.forget(1)
    expect(r.observe(1, m('a'), 1)).toBeUndefined()
    r.forgetMember('a')
    expect(r.observe(1, m('a'), 2)).toBeUndefined()
    expect(r.observe(1, m('a'), 3)?.ref).toBe('a')
  })
  it('keeps at most maxTracks tracks, dropping the least recently seen', () => {
    const r = new MemberRecognizer({ maxTracks: 3, windowSize: 2, minVotes: 2, cooldownMs: 0 })
    r.observe(1, m('a'), 0)
    for (const id of [2, 3, 4]) r.observe(id, undefined, id)
    expect(r.trackCount).toBe(3)
    // track 1's vote was dropped with it
    expect(r.observe(1, m('a'), 10)).toBeUndefined()
  })
  it('rejects minVotes outside 1..windowSize', () => {
    expect(() => new MemberRecognizer({ windowSize: 3, minVotes: 4 })).toThrow(/minVotes/)
  })
})
