import { describe, expect, it } from 'vitest'
import { geometryProblems, parseNumbers } from './count-audit.ts'
import { inNormal } from './count-report.ts'

describe('counting audit arguments', () => {
  it('parses x1,y1,x2,y2 and x,y, and says what it expected otherwise', () => {
    expect(parseNumbers('300, 190,300,560', 4, '--line')).toEqual([300, 190, 300, 560])
    expect(() => parseNumbers('300,190,300', 4, '--line')).toThrow('--line: expected 4 comma-separated numbers in video pixels (x1,y1,x2,y2), got "300,190,300"')
    expect(() => parseNumbers('1,a', 2, '--in-point')).toThrow('(x,y)')
    expect(() => parseNumbers('1,,2,3', 4, '--line')).toThrow('expected 4')
  })

  it('checks the line and the in-point against the frame', () => {
    const v = { width: 768, height: 576 }
    expect(geometryProblems({ a: { x: 300, y: 190 }, b: { x: 300, y: 560 } }, undefined, v)).toEqual([])
    expect(geometryProblems({ a: { x: -1, y: 190 }, b: { x: 300, y: 577 } }, { x: 800, y: 10 }, v)).toEqual([
      'line start (-1,190) is outside the 768×576 frame',
      'line end (300,577) is outside the 768×576 frame',
      'in-point (800,10) is outside the 768×576 frame',
    ])
    expect(geometryProblems({ a: { x: 10, y: 10 }, b: { x: 11, y: 10 } }, undefined, v)).toEqual(['the line is shorter than 2 pixels'])
    expect(geometryProblems({ a: { x: 10, y: 10 }, b: { x: 10, y: 100 } }, { x: 10, y: 50 }, v)).toEqual(['the in-point lies on the line: it must be on the side people walk into'])
  })

  it('draws the in arrow the way the line counts: left-hand side of a→b on screen, or toward the in-point', () => {
    // Drawn top to bottom: in is toward larger x (tests/fixtures/vtest/README.md).
    const r = (p: { x: number; y: number }) => ({ x: Math.round(p.x * 1e6) / 1e6 + 0, y: Math.round(p.y * 1e6) / 1e6 + 0 })
    expect(r(inNormal({ a: { x: 300, y: 190 }, b: { x: 300, y: 560 } }))).toEqual({ x: 1, y: 0 })
    expect(r(inNormal({ a: { x: 300, y: 560 }, b: { x: 300, y: 190 } }))).toEqual({ x: -1, y: 0 })
    expect(r(inNormal({ a: { x: 300, y: 190 }, b: { x: 300, y: 560 } }, { x: 100, y: 300 }))).toEqual({ x: -1, y: 0 })
    // A horizontal line drawn left to right: in is up the screen (smaller y).
    expect(r(inNormal({ a: { x: 100, y: 300 }, b: { x: 600, y: 300 } }))).toEqual({ x: 0, y: -1 })
  })
})
