import { describe, expect, it } from 'vitest'
import { plateFromText } from './plate-text.ts'

const read = (t: string) => plateFromText(t)

describe('plateFromText', () => {
  it('reads ordinary plates with the separator dot, middle dots, spaces or hyphens', () => {
    for (const t of ['京A·12345', '京A•12345', '京A 12345', '京A-12345', '京A.12345', ' 京 A12345 ']) {
      expect(read(t)).toMatchObject({ plate: '京A12345', kind: 'ordinary', corrections: 0 })
    }
  })

  it('accepts full-width letters and digits and lower case', () => {
    expect(read('沪ｂ·１２３４５')).toMatchObject({ plate: '沪B12345', corrections: 0 })
    expect(read('粤b12c45')).toMatchObject({ plate: '粤B12C45' })
  })

  it('reads new-energy plates (D/F first for small cars, last for large vehicles)', () => {
    expect(read('粤B·D12345')).toMatchObject({ plate: '粤BD12345', kind: 'new-energy', corrections: 0 })
    expect(read('苏AFA1234')).toMatchObject({ plate: '苏AFA1234', kind: 'new-energy' })
    expect(read('浙A12345D')).toMatchObject({ plate: '浙A12345D', kind: 'new-energy' })
  })

  it('prefers the new-energy reading over its seven-character prefix', () => {
    expect(read('川AD12345')?.plate).toBe('川AD12345')
  })

  it('turns O and I into 0 and 1 after the authority letter (plates never use them)', () => {
    expect(read('京A1O2I3')).toMatchObject({ plate: '京A10213', corrections: 2 })
  })

  it('resolves digit look-alikes in the authority-letter position', () => {
    expect(read('京8·12345')).toMatchObject({ plate: '京B12345', corrections: 1 })
    expect(read('沪0·12345')).toMatchObject({ plate: '沪D12345', corrections: 1 })
    expect(read('粤5·12345')).toMatchObject({ plate: '粤S12345', corrections: 1 })
    expect(read('苏2·12345')).toMatchObject({ plate: '苏Z12345', corrections: 1 })
  })

  it('resolves letter look-alikes where a new-energy plate must have digits, and 0 for its D mark', () => {
    expect(read('粤BD1B3S5')).toMatchObject({ plate: '粤BD18355', kind: 'new-energy', corrections: 2 })
    expect(read('粤B0A1234')).toMatchObject({ plate: '粤BDA1234', kind: 'new-energy', corrections: 1 })
    expect(read('浙A1Z3450')).toMatchObject({ plate: '浙A12345D', kind: 'new-energy', corrections: 2 })
  })

  it('keeps letters where an ordinary plate may have them', () => {
    expect(read('京AB8S2Z')).toMatchObject({ plate: '京AB8S2Z', corrections: 0 })
  })

  it('finds the plate inside extra characters (rivets, frame text)', () => {
    expect(read(':京A·12345|')?.plate).toBe('京A12345')
    expect(read('1京A12345')?.plate).toBe('京A12345')
  })

  it('keeps special suffixes of ordinary plates', () => {
    expect(read('京A1234警')?.plate).toBe('京A1234警')
    expect(read('粤Z1234港')?.plate).toBe('粤Z1234港')
  })

  it('refuses what is not a plate', () => {
    for (const t of ['', '图像采集区域', 'Video', 'CTON', '12345', 'A12345', '京A1234', '京A123456789', '京1·12345', '京A12#45', 'XA12345', '京A12345678', '京A1234·5678']) {
      expect(read(t), t).toBeNull()
    }
  })

  it('points at the characters it used, for their probabilities', () => {
    expect(read('x京A·12345')?.indices).toEqual([1, 2, 4, 5, 6, 7, 8])
  })
})
