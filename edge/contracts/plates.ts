/**
 * Chinese licence plates (GA 36-2018): a province character, the issuing-authority letter, then 5
 * characters (ordinary plates) or 6 (new-energy plates, D/F marking the first or last of them).
 * Plates never use the letters I and O, so a reader's O and I are the digits 0 and 1. Shared by the
 * edge (gate events, the plate reader) and the gateway (members registering their plates).
 */
export const PROVINCES = '京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼'

/** Trailing characters of special ordinary plates (trailer, coach, police, Hong Kong, Macau). */
const SPECIAL_SUFFIX = '挂学警港澳领使'

export type PlateKind = 'ordinary' | 'new-energy'

export type PlateResult =
  | { ok: true; plate: string; kind: PlateKind; corrected: boolean }
  | { ok: false; reason: string }

/** Full-width ASCII to half-width, upper case, separators (spaces, dots, middle dots, hyphens) dropped. */
function clean(raw: string): string {
  let s = ''
  for (const ch of raw.normalize('NFC')) {
    const c = ch.codePointAt(0)!
    const half = c >= 0xff01 && c <= 0xff5e ? String.fromCodePoint(c - 0xfee0) : ch
    if (/[\s.·•・\-_]/u.test(half)) continue
    s += half.toUpperCase()
  }
  return s
}

const ALNUM = /^[A-HJ-NP-Z0-9]$/

/** Normalise and validate one plate as read by a camera or typed by a person. */
export function normalizePlate(raw: string): PlateResult {
  if (typeof raw !== 'string' || raw.length === 0) return { ok: false, reason: 'plate is empty' }
  if (raw.length > 32) return { ok: false, reason: 'plate is longer than 32 characters' }
  const chars = [...clean(raw)]
  if (chars.length === 0) return { ok: false, reason: 'plate is empty' }
  const province = chars[0]!
  if (!PROVINCES.includes(province)) return { ok: false, reason: `"${province}" is not a province character (${PROVINCES})` }
  if (chars.length !== 7 && chars.length !== 8) {
    return { ok: false, reason: `a plate has 7 characters (8 for new-energy), this one has ${chars.length}` }
  }
  let corrected = false
  // The authority letter is a letter: a read 0 / 1 there is the letter O / I … which plates never use.
  const letter = chars[1]!
  if (!/^[A-Z]$/.test(letter) || letter === 'I' || letter === 'O') {
    return { ok: false, reason: `second character must be a letter A–Z other than I and O, got "${letter}"` }
  }
  const rest = chars.slice(2).map((c) => {
    if (c === 'O') return (corrected = true), '0'
    if (c === 'I') return (corrected = true), '1'
    return c
  })
  const last = rest[rest.length - 1]!
  if (rest.length === 5) {
    const body = SPECIAL_SUFFIX.includes(last) ? rest.slice(0, 4) : rest
    const bad = body.find((c) => !ALNUM.test(c))
    if (bad !== undefined) return { ok: false, reason: `"${bad}" may not appear in a plate (letters other than I/O and digits only)` }
    return { ok: true, plate: province + letter + rest.join(''), kind: 'ordinary', corrected }
  }
  // New energy: small cars D/F first then 5 digits (the second may be a letter); large vehicles 5 digits then D/F.
  const bad = rest.find((c) => !ALNUM.test(c))
  if (bad !== undefined) return { ok: false, reason: `"${bad}" may not appear in a plate (letters other than I/O and digits only)` }
  const small = /^[DF][A-HJ-NP-Z0-9][0-9]{4}$/.test(rest.join(''))
  const large = /^[0-9]{5}[DF]$/.test(rest.join(''))
  if (!small && !large) return { ok: false, reason: 'an 8-character (new-energy) plate needs D or F first followed by digits, or 5 digits then D or F' }
  return { ok: true, plate: province + letter + rest.join(''), kind: 'new-energy', corrected }
}
