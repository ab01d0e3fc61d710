/**
 * CTC greedy decoding for PaddleOCR recognisers (CTCLabelDecode): the model's classes are
 * [blank, ...dictionary, " "] (use_space_char), so index 0 is the CTC blank and the last class a space.
 * Per time step take the most probable class; collapse repeats, drop blanks.
 */

export interface CtcResult {
  text: string
  /** Probability of each emitted character (the step's max softmax). */
  probs: number[]
}

/** Classes of a PaddleOCR recogniser from its dictionary file text (one character per line). */
export function ctcClasses(dictText: string, useSpaceChar = true): string[] {
  const lines = dictText.split(/\r?\n/)
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  return ['', ...lines, ...(useSpaceChar ? [' '] : [])]
}

/** Decode one sequence: `probs` is [T, C] row-major softmax output. */
export function ctcGreedy(probs: Float32Array, steps: number, classes: string[]): CtcResult {
  const C = classes.length
  if (probs.length < steps * C) throw new Error(`CTC output has ${probs.length} values, expected ${steps}×${C}`)
  let text = ''
  const out: number[] = []
  let prev = -1
  for (let t = 0; t < steps; t++) {
    const row = t * C
    let best = 0
    let bestP = probs[row]!
    for (let c = 1; c < C; c++) {
      const p = probs[row + c]!
      if (p > bestP) {
        bestP = p
        best = c
      }
    }
    if (best !== 0 && best !== prev) {
      text += classes[best]!
      out.push(bestP)
    }
    prev = best
  }
  return { text, probs: out }
}
