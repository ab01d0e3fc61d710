/**
 * The 1-Euro filter: an adaptive first-order low-pass filter whose cut-off rises with the speed of
 * the signal, so it smooths jitter at rest and follows real motion with little lag.
 *
 * Casiez, G., Roussel, N., Vogel, D. (2012). "1 € Filter: A Simple Speed-based Low-pass Filter for
 * Noisy Input in Interactive Systems". Proc. CHI '12, pp. 2527–2530. doi:10.1145/2207676.2208639
 *
 *   α(Te, fc) = 1 / (1 + τ/Te),  τ = 1 / (2π·fc)          (eq. 1–2 of the paper)
 *   dx̂ᵢ = α(Te, d_cutoff)·(xᵢ − x̂ᵢ₋₁)/Te + (1 − α)·dx̂ᵢ₋₁   (derivative, fixed cut-off)
 *   fc = f_cmin + β·|dx̂ᵢ|                                   (adaptive cut-off)
 *   x̂ᵢ = α(Te, fc)·xᵢ + (1 − α)·x̂ᵢ₋₁
 *
 * The step is a plain function over numbers so the presence engine can keep filter state in typed
 * arrays (one slot per identity and sensor) without an object per filter.
 */

export interface OneEuroParams {
  /** Minimum cut-off frequency f_cmin, Hz: smoothing at rest (lower = smoother, more lag). */
  minCutoff: number
  /** Speed coefficient β: how fast the cut-off rises with speed (higher = less lag when moving). */
  beta: number
  /** Cut-off for the derivative, Hz; the paper recommends 1 Hz. */
  dCutoff: number
}

/** Smallest sampling period used when two samples share a timestamp, seconds. */
export const MIN_PERIOD_S = 1e-3

/** Floor of the adaptive cut-off, Hz. */
const MIN_CUTOFF_HZ = 1e-3

/** Smoothing factor α for sampling period `periodS` and cut-off `cutoffHz`. */
export function smoothingFactor(periodS: number, cutoffHz: number): number {
  const tau = 1 / (2 * Math.PI * cutoffHz)
  return 1 / (1 + tau / periodS)
}

/**
 * One filter step from the previous estimate (`xPrev`, `dxPrev`) and a new sample `x` taken `periodS`
 * seconds later. Writes the new estimate into out[0] and its derivative into out[1].
 */
export function oneEuroStep(p: OneEuroParams, xPrev: number, dxPrev: number, x: number, periodS: number, out: Float64Array): void {
  const te = periodS > MIN_PERIOD_S ? periodS : MIN_PERIOD_S
  const ad = smoothingFactor(te, p.dCutoff)
  const dx = ad * ((x - xPrev) / te) + (1 - ad) * dxPrev
  const fc = p.minCutoff + p.beta * Math.abs(dx)
  // fc = 0 (minCutoff 0 and no motion) would freeze the estimate forever; keep a tiny floor.
  const a = smoothingFactor(te, fc > MIN_CUTOFF_HZ ? fc : MIN_CUTOFF_HZ)
  out[0] = a * x + (1 - a) * xPrev
  out[1] = dx
}

/** Object form for callers that filter a single signal. Time is given in seconds with each sample. */
export class OneEuroFilter {
  private x = NaN
  private dx = 0
  private t = NaN
  private readonly out = new Float64Array(2)

  constructor(private readonly params: OneEuroParams) {}

  /** Filter sample `x` taken at `tS` (seconds, monotonic); returns the estimate. */
  filter(x: number, tS: number): number {
    if (Number.isNaN(this.x)) {
      this.x = x
      this.dx = 0
      this.t = tS
      return x
    }
    oneEuroStep(this.params, this.x, this.dx, x, tS - this.t, this.out)
    this.x = this.out[0]!
    this.dx = this.out[1]!
    if (tS > this.t) this.t = tS
    return this.x
  }

  /** Current estimate (NaN before the first sample). */
  get value(): number {
    return this.x
  }

  reset(): void {
    this.x = NaN
    this.dx = 0
    this.t = NaN
  }
}
