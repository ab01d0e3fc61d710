import type { SensorConfig } from '../core/config.ts'
import type { Point3, StoreLayout } from './demo-store.ts'
import { Rng, type BleAdvertiser, type ProbeEmission } from './model.ts'

/**
 * Radio propagation and what each sensor hears. Log-distance path loss,
 *   rssi = rssi@1m − 10·n·log10(d) − floors·floorLoss − storefront + shadowing + fast fading,
 * with slow log-normal shadowing per (sensor, transmitter) link (an AR(1) process, σ ≈ 4 dB, τ ≈ 10 s,
 * people and shelves moving between them) and fast fading per packet. Deterministic given a seed.
 */

export interface RadioOptions {
  seed?: number
  /** Weakest packet a sensor decodes, dBm. */
  hearingThresholdDbm?: number
  /** Slow shadowing standard deviation, dB. */
  shadowSigmaDb?: number
  /** Correlation time of slow shadowing, ms. */
  shadowTauMs?: number
  /** Per-packet fading standard deviation, dB. */
  fastSigmaDb?: number
  /** Path-loss exponent for Wi-Fi (2.4/5 GHz through a shop floor). BLE uses each sensor's `absorption`. */
  wifiPathLossExponent?: number
  /** Share of advertisements a BLE scanner catches (scan window / interval, channel hopping). */
  bleScanDuty?: number
  /** Share of probe requests a channel-hopping sniffer catches. */
  wifiCapture?: number
  /** How a BLE scanner reduces a batch's packets of one device to one RSSI. */
  bleReduce?: 'median' | 'max'
  /** Storey height, m (for the 3-D distance). */
  floorHeightM?: number
}

export interface BleHeard {
  advertiser: BleAdvertiser
  rssi: number
  /** Advertisements received in the batch. */
  packets: number
}

export interface WifiHeard {
  probe: ProbeEmission
  rssi: number
}

/** Free-space-style log-distance model; distances under 0.3 m are treated as 0.3 m. */
export function pathLossRssi(rssiAt1m: number, distanceM: number, exponent: number): number {
  return rssiAt1m - 10 * exponent * Math.log10(Math.max(0.3, distanceM))
}

/** Inverse of pathLossRssi: the distance an RSSI implies. */
export function distanceFromRssi(rssiAt1m: number, rssi: number, exponent: number): number {
  return Math.pow(10, (rssiAt1m - rssi) / (10 * exponent))
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

interface Shadow {
  v: number
  at: number
}

export class Radio {
  private readonly rng: Rng
  private readonly o: Required<Omit<RadioOptions, 'seed'>>
  private readonly shadows = new Map<string, Shadow>()
  private lastSweep = 0
  readonly bleSensors: SensorConfig[]
  readonly wifiSensors: SensorConfig[]
  private readonly pos: Record<string, Point3>

  constructor(
    private readonly layout: StoreLayout,
    opts: RadioOptions = {},
  ) {
    this.rng = new Rng(opts.seed ?? 2)
    this.o = {
      hearingThresholdDbm: opts.hearingThresholdDbm ?? -95,
      shadowSigmaDb: opts.shadowSigmaDb ?? 4,
      shadowTauMs: opts.shadowTauMs ?? 10_000,
      fastSigmaDb: opts.fastSigmaDb ?? 3,
      wifiPathLossExponent: opts.wifiPathLossExponent ?? 3,
      bleScanDuty: opts.bleScanDuty ?? 0.8,
      wifiCapture: opts.wifiCapture ?? 0.6,
      bleReduce: opts.bleReduce ?? 'median',
      floorHeightM: opts.floorHeightM ?? 4,
    }
    this.pos = layout.geometry.sensorPositions
    // ESPresense nodes are BLE scanners too; they only report differently.
    this.bleSensors = layout.sensors.filter((s) => (s.kind === 'ble' || s.kind === 'espresense') && this.pos[s.id])
    this.wifiSensors = layout.sensors.filter((s) => s.kind === 'wifi' && this.pos[s.id])
  }

  get threshold(): number {
    return this.o.hearingThresholdDbm
  }

  /** Extra loss between two points: floor slabs, and the storefront when one is outside. */
  extraLossDb(a: Point3, b: Point3): number {
    const g = this.layout.geometry
    const outside = (p: Point3) => p.floor === 0 && p.y < g.door.y
    return Math.abs(a.floor - b.floor) * g.floorLossDb + (outside(a) !== outside(b) ? g.storefrontLossDb : 0)
  }

  distance(a: Point3, b: Point3): number {
    return Math.hypot(a.x - b.x, a.y - b.y, (a.floor - b.floor) * this.o.floorHeightM)
  }

  /** Mean received power (no fading) from a transmitter at `at` to a sensor. */
  meanRssi(txAt1m: number, at: Point3, sensor: Point3, exponent: number): number {
    return pathLossRssi(txAt1m, this.distance(at, sensor), exponent) - this.extraLossDb(at, sensor)
  }

  private shadow(key: string, now: number): number {
    const sigma = this.o.shadowSigmaDb
    const s = this.shadows.get(key)
    if (!s || now - s.at > 5 * this.o.shadowTauMs) {
      const v = this.rng.normal(0, sigma)
      this.shadows.set(key, { v, at: now })
      return v
    }
    // Probes within one step may be a few hundred ms out of order: treat as no time passing.
    const rho = Math.exp(-Math.max(0, now - s.at) / this.o.shadowTauMs)
    s.v = rho * s.v + Math.sqrt(1 - rho * rho) * this.rng.normal(0, sigma)
    s.at = Math.max(s.at, now)
    return s.v
  }

  /** Forget links not heard for a while (addresses rotate, people leave). */
  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return
    this.lastSweep = now
    for (const [k, s] of this.shadows) if (now - s.at > 5 * this.o.shadowTauMs) this.shadows.delete(k)
  }

  /**
   * One scan batch of dtMs for every BLE scanner (and ESPresense node): each device advertises
   * every intervalMs, a share of those packets is caught, the ones above the threshold are
   * reduced to one RSSI per device (median or max of the batch).
   */
  scanBle(now: number, dtMs: number, advertisers: readonly BleAdvertiser[]): Map<string, BleHeard[]> {
    this.sweep(now)
    const out = new Map<string, BleHeard[]>()
    const margin = 2.5 * (this.o.shadowSigmaDb + this.o.fastSigmaDb)
    for (const sensor of this.bleSensors) {
      const sp = this.pos[sensor.id]!
      const heard: BleHeard[] = []
      for (const a of advertisers) {
        const mean = this.meanRssi(a.txAt1m, a, sp, sensor.absorption)
        if (mean + margin < this.o.hearingThresholdDbm) continue
        const shadow = this.shadow(`${sensor.id}|${a.mac}`, now)
        const expected = dtMs / a.intervalMs
        let sent = Math.floor(expected)
        if (this.rng.next() < expected - sent) sent++
        const samples: number[] = []
        for (let i = 0; i < sent; i++) {
          if (!this.rng.bool(this.o.bleScanDuty)) continue
          const r = mean + shadow + this.rng.normal(0, this.o.fastSigmaDb)
          if (r >= this.o.hearingThresholdDbm) samples.push(r)
        }
        if (samples.length === 0) continue
        const r = this.o.bleReduce === 'max' ? Math.max(...samples) : median(samples)
        heard.push({ advertiser: a, rssi: Math.max(-127, Math.min(20, Math.round(r))), packets: samples.length })
      }
      out.set(sensor.id, heard)
    }
    return out
  }

  /** Which sniffers hear which probe requests. */
  hearWifi(probes: readonly ProbeEmission[]): Map<string, WifiHeard[]> {
    const out = new Map<string, WifiHeard[]>()
    for (const sensor of this.wifiSensors) {
      const sp = this.pos[sensor.id]!
      const heard: WifiHeard[] = []
      for (const p of probes) {
        const mean = this.meanRssi(p.txAt1m, p, sp, this.o.wifiPathLossExponent)
        if (mean + 2.5 * (this.o.shadowSigmaDb + this.o.fastSigmaDb) < this.o.hearingThresholdDbm) continue
        if (!this.rng.bool(this.o.wifiCapture)) continue
        const r = mean + this.shadow(`${sensor.id}|${p.mac}`, p.ts) + this.rng.normal(0, this.o.fastSigmaDb)
        if (r < this.o.hearingThresholdDbm) continue
        heard.push({ probe: p, rssi: Math.max(-127, Math.min(20, Math.round(r))) })
      }
      out.set(sensor.id, heard)
    }
    return out
  }
}
