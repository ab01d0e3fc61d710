import { normalizePlate, PROVINCES, type PlateKind } from '../../contracts/plates.ts'

/**
 * From recognised text to a Chinese plate. The recogniser reads a plate as free text, so the text
 * may carry the separator dot, spaces, rivets read as punctuation, a stray character at either end,
 * and the classic look-alikes. Positions settle the look-alikes: the second character is a letter
 * (a 0 there is a D, an 8 a B…), plates never contain I or O (so those are 1 and 0), and a new-energy
 * plate has digits where its pattern says digits. Validation itself is normalizePlate's
 * (edge/contracts/plates.ts), shared with the gateway.
 */

/** Look-alike digit → letter, for positions that must hold a letter. */
const AS_LETTER: Record<string, string> = { '0': 'D', '2': 'Z', '4': 'A', '5': 'S', '6': 'G', '8': 'B' }
/** Look-alike letter → digit, for positions that must hold a digit. */
const AS_DIGIT: Record<string, string> = { O: '0', Q: '0', D: '0', U: '0', I: '1', L: '1', J: '1', T: '7', Z: '2', S: '5', G: '6', B: '8', A: '4' }
/** Letters plates never use: always the digit that looks like them. */
const NEVER: Record<string, string> = { O: '0', I: '1' }

export interface PlateText {
  plate: string
  kind: PlateKind
  /** Characters changed by position (look-alikes). */
  corrections: number
  /** Indices into the recognised text of the plate's characters (for their probabilities). */
  indices: number[]
}

/** Characters dropped before reading a plate: separators, spaces and the punctuation rivets and frame edges become. */
const DROP = /[\s.·•・\-_,，。:：;；'"`|!！()（）[\]【】{}<>《》/\\~*+=]/u

/** Half-width, upper-case characters with the index each came from; separators dropped. */
function cleanWithIndex(text: string): Array<{ ch: string; i: number }> {
  const out: Array<{ ch: string; i: number }> = []
  let i = 0
  for (const ch of text.normalize('NFC')) {
    const c = ch.codePointAt(0)!
    const half = c >= 0xff01 && c <= 0xff5e ? String.fromCodePoint(c - 0xfee0) : ch
    if (!DROP.test(half)) out.push({ ch: half.toUpperCase(), i })
    i++
  }
  return out
}

const isDigit = (c: string) => c >= '0' && c <= '9'
const isLetter = (c: string) => c >= 'A' && c <= 'Z' && c !== 'I' && c !== 'O'

/** Apply positional corrections for one pattern; null when a position cannot be satisfied. */
function fit(chars: string[], pattern: string): { chars: string[]; corrections: number } | null {
  // pattern per character: P province (as is), L letter, D digit, X letter or digit, E D/F (energy mark), S any (special suffix allowed)
  const out: string[] = []
  let corrections = 0
  for (let k = 0; k < chars.length; k++) {
    const c = chars[k]!
    const p = pattern[k]!
    let r = c
    if (p === 'L') {
      if (!isLetter(c)) r = NEVER[c] ? '' : (AS_LETTER[c] ?? '')
    } else if (p === 'D') {
      if (!isDigit(c)) r = AS_DIGIT[c] ?? ''
    } else if (p === 'E') {
      if (c !== 'D' && c !== 'F') r = c === '0' ? 'D' : ''
    } else if (p === 'X') {
      if (NEVER[c]) r = NEVER[c]!
    } else if (p === 'S') {
      if (NEVER[c]) r = NEVER[c]!
    }
    if (r === '') return null
    if (r !== c) corrections++
    out.push(r)
  }
  return { chars: out, corrections }
}

// Ordinary: province, authority letter, 5 letters/digits (the last may be a special suffix such as 挂 or 警).
// New energy, small car: province, letter, D/F, letter or digit, 4 digits; large vehicle: province, letter, 5 digits, D/F.
const PATTERNS: Array<{ length: number; pattern: string }> = [
  { length: 8, pattern: 'PLEXDDDD' },
  { length: 8, pattern: 'PLDDDDDE' },
  { length: 7, pattern: 'PLXXXXS' },
]

/** At most this many recognised characters (after separators are dropped) may lie outside the plate. */
const MAX_IGNORED = 2

/**
 * The best plate in a recognised text, or null. Tries every province character as a start and each
 * pattern; prefers the reading with the fewest changes (a look-alike correction counts one, an
 * ignored character two), then the longer one (a new-energy plate's first seven characters also
 * look like an ordinary plate). Text with more than MAX_IGNORED characters besides the plate is not a plate.
 */
export function plateFromText(text: string): PlateText | null {
  const chars = cleanWithIndex(text)
  let best: (PlateText & { rank: number[] }) | null = null
  for (let s = 0; s < chars.length; s++) {
    if (!PROVINCES.includes(chars[s]!.ch)) continue
    for (const { length, pattern } of PATTERNS) {
      if (s + length > chars.length) continue
      const seg = chars.slice(s, s + length)
      const f = fit(seg.map((c) => c.ch), pattern)
      if (!f) continue
      const res = normalizePlate(f.chars.join(''))
      if (!res.ok) continue
      const ignored = chars.length - length
      if (ignored > MAX_IGNORED) continue
      // An ignored character is a worse sign than a look-alike: it costs two corrections.
      const rank = [f.corrections + 2 * ignored, -length]
      if (!best || lexLess(rank, best.rank)) {
        best = { plate: res.plate, kind: res.kind, corrections: f.corrections, indices: seg.map((c) => c.i), rank }
      }
    }
  }
  if (!best) return null
  const { rank: _rank, ...plate } = best
  return plate
}

function lexLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!
  return false
}
