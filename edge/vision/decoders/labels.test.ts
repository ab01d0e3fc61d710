import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { builtinLabels, COCO80, labelOf, loadLabels } from './labels.ts'

describe('labels', () => {
  it('coco80 is built in: 80 names, person first, toothbrush last', () => {
    expect(COCO80).toHaveLength(80)
    expect([COCO80[0], COCO80[2], COCO80[79]]).toEqual(['person', 'car', 'toothbrush'])
    expect(builtinLabels({ labels: 'coco80' })).toBe(COCO80)
    expect(builtinLabels({ labels: 'mine.txt' })).toBeUndefined()
    expect(labelOf(undefined, 3)).toBe('class 3')
  })
  it('a labels file is read relative to its manifest, blank lines skipped; a missing one is a manifest error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'labels-'))
    try {
      writeFileSync(join(dir, 'shop.txt'), 'shopper\r\n\nstaff\ntrolley\n')
      expect(loadLabels({ name: 'm', labels: 'shop.txt' }, join(dir, 'm.json'))).toEqual(['shopper', 'staff', 'trolley'])
      expect(loadLabels({ name: 'm' }, join(dir, 'm.json'))).toBeUndefined()
      expect(() => loadLabels({ name: 'm', labels: 'nope.txt' }, join(dir, 'm.json'))).toThrow(expect.objectContaining({ code: 'STORE_EDGE_ERR_MODEL_MANIFEST', message: expect.stringContaining("model 'm'") }))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
