import type { Sighting } from '../contracts/index.ts'
import { oneEuroStep, type OneEuroParams } from './one-euro.ts'

/**
 * From one sighting to a smoothed distance per (identity, sensor):
 *
 *   calibrated RSSI → distance (log-distance path loss) → median pre-filter
 *     → implausible-speed rejection → 1-Euro smoothing.
 *
 * State lives in `DistanceTracks`, a struct of typed arrays indexed by slot number, so the presence
 * engine keeps tens of thousands of tracks without an object (or boxed double) per track.
 */

/** Distances are clamped to this range: closer than 10 cm or farther than 50 m is noise, not data. */
export const MIN_DISTANCE_M = 0.1
export const MAX_DISTANCE_M = 50

/** Consecutive rejected samples after which the new level is accepted (the device really moved). */
export const OUTLIER_RUN = 3
/**
 * RSSI ranging error is multiplicative (σ 4–6 dB ≈ ±30–50 % of the distance), so a jump is judged
 * against speed·Δt plus this fraction of the current distance plus an absolute floor.
 */
export const JUMP_REL_TOL = 0.5
export const JUMP_ABS_TOL_M = 0.5
/** Cut-off of the 1-Euro derivative filter, Hz (the paper's recommended value). */
export const D_CUTOFF_HZ = 1

export interface SensorCalibration {
  /** Receiver calibration added to every RSSI this sensor reports, dB. */
  rssiOffset: number
  /** Path-loss exponent around the sensor. */
  absorption: number
}

function clampDistance(d: number): number {
  if (!(d >= MIN_DISTANCE_M)) return MIN_DISTANCE_M // also NaN
  return d > MAX_DISTANCE_M ? MAX_DISTANCE_M : d
}

/** Log-distance path loss: d = 10^((ref − rssi) / (10·n)), clamped to [MIN_DISTANCE_M, MAX_DISTANCE_M]. */
export function rssiToDistance(calibratedRssi: number, refAt1m: number, absorption: number): number {
  return clampDistance(Math.pow(10, (refAt1m - calibratedRssi) / (10 * absorption)))
}

/**
 * Distance of one sighting from the sensor that heard it, metres. A distance computed by the sensor
 * itself (ESPresense `distanceM`, already calibrated on the node) wins; otherwise the RSSI plus the
 * sensor's offset against the advertised 1 m power (iBeacon measured power, Eddystone) or `rssiAt1m`.
 */
export function sightingDistance(
  s: Pick<Sighting, 'rssi' | 'txPower' | 'distanceM'>,
  sensor: SensorCalibration,
  rssiAt1m: number,
): number {
  const given = s.distanceM
  if (given !== undefined && given > 0 && Number.isFinite(given)) return clampDistance(given)
  return rssiToDistance(s.rssi + sensor.rssiOffset, s.txPower ?? rssiAt1m, sensor.absorption)
}

/** Median of values[start .. start+n) (n ≥ 1), sorted in `scratch` (length ≥ n) so nothing is allocated. */
export function medianOf(values: ArrayLike<number>, start: number, n: number, scratch: Float64Array): number {
  for (let i = 0; i < n; i++) {
    const v = values[start + i]!
    let j = i - 1
    while (j >= 0 && scratch[j]! > v) {
      scratch[j + 1] = scratch[j]!
      j--
    }
    scratch[j + 1] = v
  }
  const h = n >> 1
  return n & 1 ? scratch[h]! : (scratch[h - 1]! + scratch[h]!) / 2
}

/** True when going from `fromM` to `toM` in `periodS` seconds is faster than a person moves (with ranging noise). */
export function isImplausibleJump(fromM: number, toM: number, periodS: number, maxSpeedMps: number): boolean {
  const allowed = maxSpeedMps * (periodS > 0 ? periodS : 0) + JUMP_REL_TOL * fromM + JUMP_ABS_TOL_M
  return Math.abs(toM - fromM) > allowed
}

export interface DistanceFilterParams {
  /** Median window, samples (1–9; 1 = off). */
  medianWindow: number
  /** Jumps faster than this are outliers, m/s. */
  maxSpeedMps: number
  /** 1-Euro minimum cut-off, Hz. */
  minCutoff: number
  /** 1-Euro speed coefficient. */
  beta: number
}

const MAX_WINDOW = 9
const MAX_SAMPLES = 0xffff

function grown<T extends Float32Array | Float64Array | Uint8Array | Uint16Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length)
  b.set(a)
  return b
}

/**
 * Filter state for many distance tracks, one per slot. Per slot: the median ring, the 1-Euro estimate
 * and derivative, the time of the last accepted sample, the accepted-sample count and the run of
 * consecutive outliers — 21 + 4·medianWindow bytes.
 */
export class DistanceTracks {
  private readonly w: number
  private readonly euro: OneEuroParams
  private readonly maxSpeed: number
  private readonly out = new Float64Array(2)
  private readonly scratch = new Float64Array(MAX_WINDOW)
  private cap = 0
  private x = new Float32Array(0)
  private dx = new Float32Array(0)
  private t = new Float64Array(0)
  private n = new Uint16Array(0)
  private outliers = new Uint8Array(0)
  private win = new Float32Array(0)
  private wpos = new Uint8Array(0)
  private wlen = new Uint8Array(0)

  constructor(params: DistanceFilterParams, capacity = 1024) {
    this.w = Math.max(1, Math.min(MAX_WINDOW, Math.floor(params.medianWindow)))
    this.euro = { minCutoff: params.minCutoff, beta: params.beta, dCutoff: D_CUTOFF_HZ }
    this.maxSpeed = params.maxSpeedMps
    this.grow(capacity)
  }

  get capacity(): number {
    return this.cap
  }

  /** Make room for at least `capacity` slots (keeps existing state). */
  grow(capacity: number): void {
    if (capacity <= this.cap) return
    this.x = grown(this.x, capacity)
    this.dx = grown(this.dx, capacity)
    this.t = grown(this.t, capacity)
    this.n = grown(this.n, capacity)
    this.outliers = grown(this.outliers, capacity)
    this.win = grown(this.win, capacity * this.w)
    this.wpos = grown(this.wpos, capacity)
    this.wlen = grown(this.wlen, capacity)
    this.cap = capacity
  }

  /** Forget a slot so it can track something else. */
  reset(slot: number): void {
    this.n[slot] = 0
    this.outliers[slot] = 0
    this.wpos[slot] = 0
    this.wlen[slot] = 0
  }

  /**
   * Feed a raw distance (metres) measured at `tMs`. Returns the filtered distance, or NaN when the
   * sample was rejected as an implausible jump (the previous estimate stays).
   */
  update(slot: number, distanceM: number, tMs: number): number {
    const w = this.w
    const base = slot * w
    const pos = this.wpos[slot]!
    this.win[base + pos] = distanceM
    this.wpos[slot] = pos + 1 === w ? 0 : pos + 1
    const len = this.wlen[slot]! < w ? this.wlen[slot]! + 1 : w
    this.wlen[slot] = len
    const m = len === 1 ? distanceM : medianOf(this.win, base, len, this.scratch)

    if (this.n[slot] === 0) return this.restart(slot, m, tMs, 1)
    const prev = this.x[slot]!
    const periodS = (tMs - this.t[slot]!) / 1000
    if (isImplausibleJump(prev, m, periodS, this.maxSpeed)) {
      const run = this.outliers[slot]! + 1
      this.outliers[slot] = run
      if (run < OUTLIER_RUN) return NaN
      // A run of consistent "outliers" is a real move (or a changed radio path): take the new level.
      return this.restart(slot, m, Math.max(tMs, this.t[slot]!), OUTLIER_RUN)
    }
    this.outliers[slot] = 0
    oneEuroStep(this.euro, prev, this.dx[slot]!, m, periodS, this.out)
    this.x[slot] = this.out[0]!
    this.dx[slot] = this.out[1]!
    if (tMs > this.t[slot]!) this.t[slot] = tMs
    if (this.n[slot]! < MAX_SAMPLES) this.n[slot] = this.n[slot]! + 1
    return this.x[slot]!
  }

  private restart(slot: number, m: number, tMs: number, samples: number): number {
    this.x[slot] = m
    this.dx[slot] = 0
    this.t[slot] = tMs
    this.n[slot] = samples
    this.outliers[slot] = 0
    return this.x[slot]!
  }

  /** Filtered distance of a slot, metres (NaN when it has no sample). */
  value(slot: number): number {
    return this.n[slot] === 0 ? NaN : this.x[slot]!
  }

  /** Accepted samples behind the current estimate (saturates at 65535). */
  samples(slot: number): number {
    return this.n[slot]!
  }

  /** Bytes of state per slot. */
  get bytesPerSlot(): number {
    return 4 + 4 + 8 + 2 + 1 + 1 + 1 + 4 * this.w
  }
}
