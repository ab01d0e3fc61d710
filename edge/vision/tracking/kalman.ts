/**
 * Constant-velocity Kalman filter for one box, in the ByteTrack / BoT-SORT layout: the 8-dim state
 * (cx, cy, w, h, vcx, vcy, vw, vh), measurement (cx, cy, w, h), noise proportional to the box size.
 *
 * With F = [I dt·I; 0 I], H = [I 0] and diagonal Q, R and initial P (ByteTrack's choices), the 8×8
 * covariance never couples different coordinates: it stays four independent 2×2 (position,
 * velocity) blocks. So the filter runs as four 2-state filters — the same numbers as the 8×8 matrix
 * math, in 20 floats and no allocation per step.
 *
 * Units: positions in pixels, velocities in pixels per second, time in ms (frames may arrive at any
 * rate, so noise grows with the elapsed time, not per frame).
 */

export interface KalmanOptions {
  /** Process noise of the position, as a fraction of the box height, per √s. */
  posNoise: number
  /** Process noise of the velocity (unmodelled acceleration), fraction of the height per s, per √s. */
  velNoise: number
  /** Measurement noise, fraction of the box height (ByteTrack: 1/20). */
  measNoise: number
  /** Initial velocity uncertainty, fraction of the height per s. */
  initVel: number
}

export const DEFAULT_KALMAN: KalmanOptions = { posNoise: 0.05, velNoise: 0.5, measNoise: 0.05, initVel: 1 }

export interface BoxXYWH {
  x: number
  y: number
  w: number
  h: number
}

/** A copy of the filter's state, for OC-SORT's re-update from the last observation. */
export interface KalmanSnapshot {
  mean: Float64Array
  cov: Float64Array
  ts: number
}

export class BoxKalman {
  /** cx, cy, w, h, vcx, vcy, vw, vh. */
  readonly mean = new Float64Array(8)
  /** Per coordinate i: [Ppp, Ppv, Pvv] at 3i. */
  readonly cov = new Float64Array(12)
  /** Time the state refers to, ms. */
  ts: number

  constructor(box: BoxXYWH, ts: number, private readonly o: KalmanOptions = DEFAULT_KALMAN) {
    this.ts = ts
    const m = this.mean
    m[0] = box.x + box.w / 2
    m[1] = box.y + box.h / 2
    m[2] = box.w
    m[3] = box.h
    const h = box.h
    for (let i = 0; i < 4; i++) {
      // ByteTrack starts with 2× the measurement std on the position and a broad velocity.
      const sp = 2 * o.measNoise * h
      const sv = o.initVel * h
      this.cov[3 * i] = sp * sp
      this.cov[3 * i + 1] = 0
      this.cov[3 * i + 2] = sv * sv
    }
  }

  /** Move the state to time ts (no-op when ts is not after the state's time). */
  predict(ts: number): void {
    const dtMs = ts - this.ts
    if (dtMs <= 0) return
    const dt = dtMs / 1000
    const m = this.mean
    const c = this.cov
    const h = Math.max(1, m[3]!)
    const qp = (this.o.posNoise * h) ** 2 * dt
    const qv = (this.o.velNoise * h) ** 2 * dt
    for (let i = 0; i < 4; i++) {
      m[i] = m[i]! + m[i + 4]! * dt
      const k = 3 * i
      const pp = c[k]!
      const pv = c[k + 1]!
      const vv = c[k + 2]!
      c[k] = pp + 2 * dt * pv + dt * dt * vv + qp
      c[k + 1] = pv + dt * vv
      c[k + 2] = vv + qv
    }
    // A shrinking box would reach zero size while unobserved; keep it physical.
    if (m[2]! < 1) m[2] = 1
    if (m[3]! < 1) m[3] = 1
    this.ts = ts
  }

  /** Correct with a measured box at the filter's current time (call predict(ts) first). */
  update(box: BoxXYWH): void {
    const m = this.mean
    const c = this.cov
    const z0 = box.x + box.w / 2
    const z1 = box.y + box.h / 2
    const r = (this.o.measNoise * Math.max(1, m[3]!)) ** 2
    for (let i = 0; i < 4; i++) {
      const z = i === 0 ? z0 : i === 1 ? z1 : i === 2 ? box.w : box.h
      const k = 3 * i
      const pp = c[k]!
      const pv = c[k + 1]!
      const vv = c[k + 2]!
      const s = pp + r
      const k0 = pp / s
      const k1 = pv / s
      const y = z - m[i]!
      m[i] = m[i]! + k0 * y
      m[i + 4] = m[i + 4]! + k1 * y
      c[k] = (1 - k0) * pp
      c[k + 1] = (1 - k0) * pv
      c[k + 2] = vv - k1 * pv
    }
  }

  /** Forget the size's rate of change (ByteTrack does this for tracks that are not being seen). */
  freezeSize(): void {
    this.mean[6] = 0
    this.mean[7] = 0
  }

  box(): BoxXYWH {
    const m = this.mean
    return { x: m[0]! - m[2]! / 2, y: m[1]! - m[3]! / 2, w: m[2]!, h: m[3]! }
  }

  /** Writes the predicted box into out (no allocation on the hot path). */
  boxInto(out: BoxXYWH): BoxXYWH {
    const m = this.mean
    out.x = m[0]! - m[2]! / 2
    out.y = m[1]! - m[3]! / 2
    out.w = m[2]!
    out.h = m[3]!
    return out
  }

  velocity(): { vx: number; vy: number } {
    return { vx: this.mean[4]!, vy: this.mean[5]! }
  }

  snapshot(): KalmanSnapshot {
    return { mean: this.mean.slice(), cov: this.cov.slice(), ts: this.ts }
  }

  restore(s: KalmanSnapshot): void {
    this.mean.set(s.mean)
    this.cov.set(s.cov)
    this.ts = s.ts
  }
}
