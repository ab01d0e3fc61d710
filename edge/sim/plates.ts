import type { Rng } from './model.ts'

/**
 * Licence plates for the simulated car park, deterministic from an Rng: mostly Shanghai and its
 * neighbours, a quarter new-energy (8 characters: D/F first for cars, last for large vehicles),
 * every one valid under GA 36-2018 (no I or O; the edge's normalizePlate accepts them all). A plate
 * reader's output is modelled too: separators, and now and then a 0 read as O or a 1 as I.
 */

const PROVINCES: ReadonlyArray<readonly [string, number]> = [
  ['沪', 60],
  ['苏', 14],
  ['浙', 12],
  ['皖', 5],
  ['京', 3],
  ['粤', 3],
  ['鲁', 2],
  ['川', 1],
]
/** Plate letters: A–Z without I and O. */
export const PLATE_LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ'
const DIGITS = '0123456789'

export function randomPlate(rng: Rng, newEnergyShare = 0.25): string {
  const head = rng.weighted(PROVINCES) + rng.pick([...PLATE_LETTERS.slice(0, 14)])
  if (rng.bool(newEnergyShare)) {
    const df = rng.pick(['D', 'F'])
    // Small new-energy cars: D/F, a letter or digit, four digits. Large vehicles (rare): five digits, D/F.
    if (rng.bool(0.95)) return head + df + rng.pick([...(rng.bool(0.3) ? PLATE_LETTERS : DIGITS)]) + digits(rng, 4)
    return head + digits(rng, 5) + df
  }
  const body = [...digits(rng, 5)]
  const letters = rng.weighted([[0, 6], [1, 3], [2, 1]] as const)
  for (let i = 0; i < letters; i++) body[rng.int(5)] = rng.pick([...PLATE_LETTERS])
  return head + body.join('')
}

function digits(rng: Rng, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += DIGITS[rng.int(10)]
  return s
}

/**
 * What a gate's plate reader reports for a plate: often with the dot separator printed on the
 * plate (`沪A·12345`), and with probability `misread` one 0 read as O or one 1 as I.
 */
export function readPlate(plate: string, rng: Rng, misread = 0.03): string {
  const chars = [...plate]
  if (rng.bool(misread)) {
    const at = chars.findIndex((c, i) => i >= 2 && (c === '0' || c === '1'))
    if (at >= 0) chars[at] = chars[at] === '0' ? 'O' : 'I'
  }
  return rng.bool(0.2) ? chars.slice(0, 2).join('') + '·' + chars.slice(2).join('') : chars.join('')
}
