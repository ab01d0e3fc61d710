import { describe, expect, it } from 'vitest'
import { normalizePlate } from './plates.ts'

describe('normalizePlate', () => {
  it.each([
    ['京A12345', '京A12345', 'ordinary'],
    ['沪 B·8K9X2', '沪B8K9X2', 'ordinary'],
    ['粤b-12345', '粤B12345', 'ordinary'],
    ['ＡＢ', undefined, undefined],
    ['苏E1234学', '苏E1234学', 'ordinary'],
    ['浙AD12345', '浙AD12345', 'new-energy'],
    ['浙AFA1234', '浙AFA1234', 'new-energy'],
    ['川A12345D', '川A12345D', 'new-energy'],
    ['京Ａ１２３４５', '京A12345', 'ordinary'],
  ])('%s → %s', (raw, plate, kind) => {
    const r = normalizePlate(raw)
    if (plate === undefined) return expect(r.ok).toBe(false)
    expect(r).toMatchObject({ ok: true, plate, kind })
  })

  it('reads the letters O and I after the authority letter as 0 and 1, and says so', () => {
    expect(normalizePlate('京AO1I23')).toEqual({ ok: true, plate: '京A01123', kind: 'ordinary', corrected: true })
    expect(normalizePlate('京A12345')).toMatchObject({ corrected: false })
  })

  it.each([
    ['', 'empty'],
    ['A12345', 'province'],
    ['X京12345', 'province'],
    ['京112345', 'second character'],
    ['京O12345', 'second character'],
    ['京A1234', '7 characters'],
    ['京A123456789', '7 characters'],
    ['京A12#45', 'may not appear'],
    ['京A123456', 'new-energy'],
    ['京AX12345', 'new-energy'],
  ])('rejects %j with a reason about %s', (raw, why) => {
    const r = normalizePlate(raw)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.reason).toContain(why)
  })
})
