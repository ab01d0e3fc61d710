/**
 * Occupancy of a store or area from the in / out crossings of its entrances. Pure; time is passed in.
 *
 * occupancy = ins − outs, never below zero: an "out" at zero (someone whose "in" was missed) is
 * clamped and counted as drift. When a camera sees the whole area, `observe(count, ts)` pulls the
 * estimate towards the seen count by `gain` × the difference per observation (an exponential pull:
 * with gain 0.05 and one observation a second the error halves in about 14 s, so a moment of
 * occlusion barely moves it but a steady miscount is corrected within a minute).
 *
 * Daily reset: the first event at or after the local time `resetAt` ('HH:MM', '' = never) in
 * `timeZone` starts a new period with occupancy 0. The period key is the local date, minus a day
 * before resetAt, and only ever moves forwards, so a wall-clock hour repeated when DST ends does
 * not reset twice and a reset time skipped when DST starts happens at the first instant after it.
 */
import { resetPeriodKey } from '../../contracts/index.ts'

export interface OccupancyOptions {
  /** IANA time zone of the store. */
  timeZone: string
  /** Local reset time 'HH:MM'; '' never resets. */
  resetAt: string
  /** Fraction of the difference to an observed count applied per observe(), 0..1. */
  gain: number
}

export const DEFAULT_OCCUPANCY: OccupancyOptions = { timeZone: 'UTC', resetAt: '04:00', gain: 0.05 }

export interface OccupancyStats {
  /** Rounded occupancy now. */
  occupancy: number
  /** Unrounded estimate (drift correction makes it fractional). */
  estimate: number
  ins: number
  outs: number
  /** Outs that would have taken occupancy below zero, this period. */
  clamps: number
  /** Sum of the corrections applied by observe(), this period (signed). */
  corrected: number
  /** Resets since construction. */
  resets: number
  /** The period key (local date of the reset that started it). */
  period: string | undefined
}

export class OccupancyCounter {
  private readonly o: OccupancyOptions
  private estimate = 0
  private ins = 0
  private outs = 0
  private clamps = 0
  private corrected = 0
  private resets = 0
  private period: string | undefined

  constructor(opts: Partial<OccupancyOptions> = {}, startTs?: number) {
    this.o = { ...DEFAULT_OCCUPANCY, ...opts }
    if (startTs !== undefined) this.period = resetPeriodKey(startTs, this.o.timeZone, this.o.resetAt)
  }

  /** One person in (dir 'in') or out at ts. Returns true when this event started a new period. */
  crossing(dir: 'in' | 'out', ts: number): boolean {
    const reset = this.tick(ts)
    if (dir === 'in') {
      this.ins++
      this.estimate++
    } else {
      this.outs++
      this.estimate--
      if (this.estimate < 0) {
        this.clamps++
        this.estimate = 0
      }
    }
    return reset
  }

  /** A direct count of the people in the area (e.g. a zone that covers it), for drift correction. */
  observe(count: number, ts: number): boolean {
    const reset = this.tick(ts)
    const delta = this.o.gain * (count - this.estimate)
    this.estimate += delta
    this.corrected += delta
    return reset
  }

  /** Advance time without an event; true when a daily reset happened. */
  tick(ts: number): boolean {
    const key = resetPeriodKey(ts, this.o.timeZone, this.o.resetAt)
    if (key === undefined) return false
    if (this.period === undefined) {
      this.period = key
      return false
    }
    if (key <= this.period) return false
    this.period = key
    this.estimate = 0
    this.ins = 0
    this.outs = 0
    this.clamps = 0
    this.corrected = 0
    this.resets++
    return true
  }

  value(): number {
    return Math.round(this.estimate)
  }

  stats(): OccupancyStats {
    return {
      occupancy: this.value(),
      estimate: this.estimate,
      ins: this.ins,
      outs: this.outs,
      clamps: this.clamps,
      corrected: this.corrected,
      resets: this.resets,
      period: this.period,
    }
  }
}

export { resetPeriodKey }
