import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { StoreEdgeError } from '../../contracts/errors.ts'
import { matchCrossings, parseCrossingTruth, type PredictedCrossing, type TruthCrossing } from './match-crossings.ts'

const pairs = (r: ReturnType<typeof matchCrossings>) => r.matched.map((m) => [m.predictedFrame, m.truthFrame, m.dir])

describe('matchCrossings', () => {
  it('matches one-to-one within the tolerance, same direction only, and reports offsets', () => {
    const truth: TruthCrossing[] = [{ frame: 100, dir: 'in' }, { frame: 200, dir: 'out' }, { frame: 300, dir: 'in' }]
    const pred: PredictedCrossing[] = [
      { frame: 104, dir: 'in', track: 7 }, // late by 4
      { frame: 196, dir: 'in', track: 8 }, // right time, wrong direction: not a match
      { frame: 311, dir: 'in', track: 9 }, // 11 frames late: outside ±10
    ]
    const r = matchCrossings(pred, truth)
    expect(r.toleranceFrames).toBe(10)
    expect(r.matched).toEqual([
      { dir: 'in', truthIndex: 0, truthFrame: 100, predictedIndex: 0, predictedFrame: 104, offset: 4, optional: false, track: 7 },
    ])
    expect(r.missed.map((m) => [m.frame, m.dir, m.index])).toEqual([[200, 'out', 1], [300, 'in', 2]])
    expect(r.extra.map((e) => [e.frame, e.dir, e.track, e.index])).toEqual([[196, 'in', 8, 1], [311, 'in', 9, 2]])
    expect(r.in).toMatchObject({ truth: 2, predicted: 3, matched: 1, missed: 1, extra: 2 })
    expect(r.out).toMatchObject({ truth: 1, predicted: 0, matched: 0, missed: 1, extra: 0, precision: 1, recall: 0, countErrorPct: 100 })
    expect(r.in.countErrorPct).toBeCloseTo(50)
    expect(r.total).toMatchObject({ truth: 3, predicted: 3, matched: 1, missed: 2, extra: 2, countErrorPct: 0 })
    expect(r.precision).toBeCloseTo(1 / 3)
    expect(r.recall).toBeCloseTo(1 / 3)
  })

  it('the tolerance is inclusive and configurable', () => {
    const truth: TruthCrossing[] = [{ frame: 50, dir: 'out' }]
    expect(matchCrossings([{ frame: 60, dir: 'out' }], truth).matched).toHaveLength(1)
    expect(matchCrossings([{ frame: 40, dir: 'out' }], truth).matched).toHaveLength(1)
    expect(matchCrossings([{ frame: 60, dir: 'out' }], truth, { toleranceFrames: 9 }).matched).toHaveLength(0)
    expect(matchCrossings([{ frame: 50, dir: 'out' }], truth, { toleranceFrames: 0 }).matched).toHaveLength(1)
  })

  it('finds the assignment that matches most, not the greedy nearest one', () => {
    // Nearest-first would take 108–110 (2 frames) and then find 119 is 19 from truth 100: one match.
    // The optimum pairs 108–100 (8) and 119–110 (9): two matches.
    const truth: TruthCrossing[] = [{ frame: 100, dir: 'in' }, { frame: 110, dir: 'in' }]
    const pred: PredictedCrossing[] = [{ frame: 108, dir: 'in' }, { frame: 119, dir: 'in' }]
    const r = matchCrossings(pred, truth)
    expect(pairs(r)).toEqual([[108, 100, 'in'], [119, 110, 'in']])
    expect(r.total).toMatchObject({ matched: 2, missed: 0, extra: 0 })
  })

  it('among equally many matches, takes the smallest total time distance', () => {
    const truth: TruthCrossing[] = [{ frame: 100, dir: 'out' }, { frame: 104, dir: 'out' }]
    const pred: PredictedCrossing[] = [{ frame: 101, dir: 'out' }, { frame: 105, dir: 'out' }]
    expect(pairs(matchCrossings(pred, truth))).toEqual([[101, 100, 'out'], [105, 104, 'out']])
    expect(matchCrossings(pred, truth).matched.map((m) => m.offset)).toEqual([1, 1])
  })

  it('ties: a prediction halfway between two truths takes the earlier truth', () => {
    const truth: TruthCrossing[] = [{ frame: 10, dir: 'in' }, { frame: 16, dir: 'in' }]
    const r = matchCrossings([{ frame: 13, dir: 'in' }], truth)
    expect(pairs(r)).toEqual([[13, 10, 'in']])
    expect(r.missed.map((m) => m.frame)).toEqual([16])
  })

  it('ties: a truth halfway between two predictions takes the earlier prediction', () => {
    const r = matchCrossings([{ frame: 16, dir: 'in', track: 2 }, { frame: 10, dir: 'in', track: 1 }], [{ frame: 13, dir: 'in' }])
    expect(r.matched.map((m) => [m.predictedFrame, m.track, m.offset])).toEqual([[10, 1, -3]])
    expect(r.extra.map((e) => [e.frame, e.track, e.index])).toEqual([[16, 2, 0]])
  })

  it('ties: identical frames pair in list order, and duplicates beyond the truth are extras', () => {
    const truth: TruthCrossing[] = [{ frame: 20, dir: 'out' }, { frame: 20, dir: 'out' }]
    const pred: PredictedCrossing[] = [{ frame: 20, dir: 'out', track: 1 }, { frame: 20, dir: 'out', track: 2 }, { frame: 20, dir: 'out', track: 3 }]
    const r = matchCrossings(pred, truth)
    expect(r.matched.map((m) => [m.truthIndex, m.predictedIndex])).toEqual([[0, 0], [1, 1]])
    expect(r.extra.map((e) => e.track)).toEqual([3])
    expect(r.out.countErrorPct).toBeCloseTo(50)
  })

  it('an optional truth matched is neither a hit nor an extra; unmatched it is not missed', () => {
    const truth: TruthCrossing[] = [
      { frame: 100, dir: 'in' },
      { frame: 200, dir: 'out', optional: true, note: 'turns back on the line' },
      { frame: 210, dir: 'in', optional: true },
      { frame: 400, dir: 'out', optional: true },
    ]
    const pred: PredictedCrossing[] = [{ frame: 101, dir: 'in' }, { frame: 203, dir: 'out', track: 4 }, { frame: 212, dir: 'in' }]
    const r = matchCrossings(pred, truth)
    expect(r.matched.map((m) => [m.truthFrame, m.optional])).toEqual([[100, false], [200, true], [210, true]])
    expect(r.matched[1]).toMatchObject({ note: 'turns back on the line', track: 4, offset: 3 })
    expect(r.missed).toEqual([]) // 400 is optional
    expect(r.extra).toEqual([])
    expect(r.total).toMatchObject({ truth: 1, predicted: 1, matched: 1, matchedOptional: 2, precision: 1, recall: 1, countErrorPct: 0 })
    expect(r.out).toMatchObject({ truth: 0, predicted: 0, matchedOptional: 1, countErrorPct: 0 })
    // Without the predictions on the optional crossings the scores are the same.
    expect(matchCrossings([{ frame: 101, dir: 'in' }], truth).total).toMatchObject({ truth: 1, predicted: 1, matched: 1, countErrorPct: 0 })
  })

  it('a prediction goes to the required truth rather than a nearer optional one', () => {
    const truth: TruthCrossing[] = [{ frame: 100, dir: 'in', optional: true }, { frame: 107, dir: 'in' }]
    const r = matchCrossings([{ frame: 101, dir: 'in' }], truth)
    expect(pairs(r)).toEqual([[101, 107, 'in']])
    expect(r.total).toMatchObject({ matched: 1, missed: 0, extra: 0, recall: 1 })
  })

  it('with room for both, the required truth is kept and the optional one absorbs the other prediction', () => {
    const truth: TruthCrossing[] = [{ frame: 100, dir: 'out', optional: true }, { frame: 104, dir: 'out' }]
    const r = matchCrossings([{ frame: 99, dir: 'out' }, { frame: 103, dir: 'out' }], truth)
    expect(pairs(r)).toEqual([[99, 100, 'out'], [103, 104, 'out']])
    expect(r.total).toMatchObject({ truth: 1, predicted: 1, matched: 1, matchedOptional: 1, extra: 0 })
  })

  it('count error excludes optional truths from the denominator and their matches from the predictions', () => {
    const truth: TruthCrossing[] = [
      { frame: 10, dir: 'in' }, { frame: 50, dir: 'in' }, { frame: 90, dir: 'in' }, { frame: 130, dir: 'in' },
      { frame: 170, dir: 'in', optional: true },
    ]
    // 4 required; the counter finds 3 of them, one optional, and one extra far away: counted 4.
    const pred: PredictedCrossing[] = [{ frame: 12, dir: 'in' }, { frame: 52, dir: 'in' }, { frame: 88, dir: 'in' }, { frame: 171, dir: 'in' }, { frame: 300, dir: 'in' }]
    const r = matchCrossings(pred, truth)
    expect(r.in).toMatchObject({ truth: 4, predicted: 4, matched: 3, matchedOptional: 1, missed: 1, extra: 1, countErrorPct: 0 })
    expect(r.in.precision).toBeCloseTo(0.75)
    expect(r.in.recall).toBeCloseTo(0.75)
    // Count error is about totals, so it hides mistakes that cancel; precision and recall do not.
    expect(matchCrossings(pred.slice(0, 3), truth).in.countErrorPct).toBeCloseTo(25)
  })

  it('empty inputs', () => {
    const none = matchCrossings([], [])
    expect(none.total).toMatchObject({ truth: 0, predicted: 0, precision: 1, recall: 1, countErrorPct: 0 })
    const onlyPred = matchCrossings([{ frame: 1, dir: 'in' }], [])
    expect(onlyPred.total).toMatchObject({ extra: 1, precision: 0, recall: 1, countErrorPct: null })
    const onlyTruth = matchCrossings([], [{ frame: 1, dir: 'out' }])
    expect(onlyTruth.total).toMatchObject({ missed: 1, precision: 1, recall: 0, countErrorPct: 100 })
  })

  it('is optimal on random small cases (checked against brute force)', () => {
    // Every assignment enumerated: the matcher's (required matched, all matched, Σ|offset|) must be the
    // best one (most required, then most matches, then least offset).
    let seed = 12345
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    for (let round = 0; round < 300; round++) {
      const truth: TruthCrossing[] = Array.from({ length: 1 + Math.floor(rnd() * 5) }, () => ({
        frame: Math.floor(rnd() * 40), dir: rnd() < 0.7 ? 'in' as const : 'out' as const, optional: rnd() < 0.3,
      }))
      const pred: PredictedCrossing[] = Array.from({ length: Math.floor(rnd() * 6) }, () => ({
        frame: Math.floor(rnd() * 40), dir: rnd() < 0.7 ? 'in' as const : 'out' as const,
      }))
      const r = matchCrossings(pred, truth, { toleranceFrames: 6 })
      const got = [r.total.matched, r.matched.length, r.matched.reduce((s, m) => s + Math.abs(m.offset), 0)]
      expect(got).toEqual(bruteForce(pred, truth, 6))
      // one-to-one
      expect(new Set(r.matched.map((m) => m.truthIndex)).size).toBe(r.matched.length)
      expect(new Set(r.matched.map((m) => m.predictedIndex)).size).toBe(r.matched.length)
      expect(r.matched.every((m) => Math.abs(m.offset) <= 6 && pred[m.predictedIndex]!.dir === truth[m.truthIndex]!.dir)).toBe(true)
      expect(r.total.matched + r.total.matchedOptional + r.extra.length).toBe(pred.length)
    }
  })

  it('rejects malformed input with the entry named', () => {
    expect(() => matchCrossings([{ frame: 1, dir: 'IN' as 'in' }], [])).toThrow(/predicted\[0\]\.dir: expected "in" or "out", got "IN"/)
    expect(() => matchCrossings([], [{ frame: -1, dir: 'in' }])).toThrow(/truth\[0\]\.frame/)
    expect(() => matchCrossings([], [], { toleranceFrames: -1 })).toThrow(StoreEdgeError)
  })
})

describe('parseCrossingTruth', () => {
  it('keeps frame, dir, optional and note', () => {
    expect(parseCrossingTruth([{ frame: 3, dir: 'in' }, { frame: 9, dir: 'out', optional: true, note: 'n', extra: 1 }])).toEqual([
      { frame: 3, dir: 'in' },
      { frame: 9, dir: 'out', optional: true, note: 'n' },
    ])
  })

  it('names the first bad entry', () => {
    expect(() => parseCrossingTruth({ frame: 1 }, 'truth.json')).toThrow(/truth\.json: expected a JSON array/)
    expect(() => parseCrossingTruth([{ frame: 1, dir: 'in' }, { frame: '2', dir: 'in' }], 'truth.json')).toThrow(/truth\.json\[1\]\.frame/)
    expect(() => parseCrossingTruth([{ frame: 1, dir: 'left' }])).toThrow(/truth\[0\]\.dir/)
    expect(() => parseCrossingTruth([{ frame: 1, dir: 'in', optional: 'yes' }])).toThrow(/truth\[0\]\.optional/)
    expect(() => parseCrossingTruth([null])).toThrow(/truth\[0\]: expected an object/)
  })
})

describe('the vtest.avi hand count (tests/fixtures/vtest)', () => {
  const dir = new URL('../../../tests/fixtures/vtest/', import.meta.url)
  const line = JSON.parse(readFileSync(new URL('line.json', dir), 'utf8')) as {
    width: number; height: number; frames: number; line: { a: { x: number; y: number }; b: { x: number; y: number } }
  }
  const truth = parseCrossingTruth(JSON.parse(readFileSync(new URL('line-truth.json', dir), 'utf8')), 'line-truth.json')

  it('is a valid truth file for the line: sorted, inside the clip, at least 20 required crossings both ways', () => {
    for (const p of [line.line.a, line.line.b]) {
      expect(p.x).toBeGreaterThan(0); expect(p.x).toBeLessThan(line.width)
      expect(p.y).toBeGreaterThan(0); expect(p.y).toBeLessThan(line.height)
    }
    expect(truth.every((t) => Number.isInteger(t.frame) && t.frame < line.frames)).toBe(true)
    expect(truth.map((t) => t.frame)).toEqual([...truth.map((t) => t.frame)].sort((a, b) => a - b))
    const required = truth.filter((t) => !t.optional)
    expect(required.length).toBeGreaterThanOrEqual(20)
    expect(required.filter((t) => t.dir === 'in').length).toBeGreaterThan(0)
    expect(required.filter((t) => t.dir === 'out').length).toBeGreaterThan(0)
    expect(truth.filter((t) => t.optional).every((t) => t.note)).toBe(true)
  })

  it('scores itself perfectly, and a counter that is late by 10 frames still matches everything', () => {
    const self = matchCrossings(truth, truth)
    expect(self.total).toMatchObject({ precision: 1, recall: 1, countErrorPct: 0, missed: 0, extra: 0 })
    const late = matchCrossings(truth.map((t) => ({ frame: t.frame + 10, dir: t.dir })), truth)
    expect(late.total).toMatchObject({ recall: 1, precision: 1, extra: 0 })
    expect(late.matched.every((m) => m.offset === 10)).toBe(true)
  })
})

/** Every one-to-one assignment (small cases only): best [required, all, Σ|offset|]. */
function bruteForce(pred: PredictedCrossing[], truth: TruthCrossing[], tol: number): [number, number, number] {
  let best: [number, number, number] = [0, 0, 0]
  const used = new Set<number>()
  const walk = (i: number, req: number, all: number, cost: number) => {
    if (i === pred.length) {
      const s: [number, number, number] = [req, all, cost]
      if (s[0] > best[0] || (s[0] === best[0] && (s[1] > best[1] || (s[1] === best[1] && s[2] < best[2])))) best = s
      return
    }
    walk(i + 1, req, all, cost)
    truth.forEach((t, j) => {
      const d = Math.abs(pred[i]!.frame - t.frame)
      if (used.has(j) || t.dir !== pred[i]!.dir || d > tol) return
      used.add(j)
      walk(i + 1, req + (t.optional ? 0 : 1), all + 1, cost + d)
      used.delete(j)
    })
  }
  walk(0, 0, 0, 0)
  return best
}
