import type { DecodeContext, DecodeResult, Rejection } from '../contracts/index.ts'
import { parseSensorTopic } from '../contracts/index.ts'
import type { EventBus } from '../core/bus.ts'
import type { Clock } from '../core/clock.ts'
import type { EdgeConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { EdgeMetrics } from '../core/metrics.ts'
import type { MacHasher } from './privacy/mac-hasher.ts'
import { LogThrottle } from '../core/log-throttle.ts'
import { decodeBleBatch } from './decoders/ble-batch.decoder.ts'
import { decodeWifiBatch } from './decoders/wifi-batch.decoder.ts'
import { decodeEspresense } from './decoders/espresense.decoder.ts'
import { decodeOmg } from './decoders/omg.decoder.ts'
import { decodeGateBatch, type GateDecodeResult } from './decoders/gate.decoder.ts'

/**
 * Topic + payload → decoder → sightings on the bus. Source-agnostic: the embedded broker feeds it
 * in-process, and the ingest benchmark feeds the same pipeline from the machine's Mosquitto.
 * Rejections are counted per device and reason, logged (rate-limited) and published on the bus;
 * a bad payload never throws out of here.
 */
export class IngestPipeline {
  private readonly logThrottle = new LogThrottle()
  private readonly hashMac: (mac: string) => string

  /**
   * Per-message counts are kept as plain numbers and handed to prom-client when /metrics is
   * scraped (its labelled inc() costs more than the rest of the bookkeeping on the hot path).
   */
  private readonly pendingMessages = new Map<string, number>()
  private readonly pendingSightings = { ble: 0, wifi: 0 }
  /** Where decoded gate events go (the parking module); unset when the store has no car park. */
  onGates?: (result: GateDecodeResult, receivedAt: number) => void

  constructor(
    private readonly cfg: EdgeConfig,
    private readonly hasher: MacHasher,
    private readonly bus: EventBus,
    private readonly metrics: EdgeMetrics,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.hashMac = (mac) => this.hasher.hash(mac)
    metrics.onCollect(() => this.flushCounts())
  }

  /** Move the pending counts into the Prometheus counters (called before every scrape). */
  flushCounts(): void {
    for (const [kind, n] of this.pendingMessages) this.metrics.messages.inc({ kind }, n)
    this.pendingMessages.clear()
    for (const source of ['ble', 'wifi'] as const) {
      const n = this.pendingSightings[source]
      if (n > 0) this.metrics.sightings.inc({ source }, n)
      this.pendingSightings[source] = 0
    }
  }

  /** Handle one inbound message; returns the decode result (for tests and the bench). */
  handle(topic: string, payload: Buffer, receivedAt = this.clock.now()): DecodeResult {
    const parsed = parseSensorTopic(topic)
    if (!parsed) {
      return this.rejectAll('unknown', 'unknown', { code: 'STORE_EDGE_ERR_TOPIC', reason: `topic "${topic.slice(0, 120)}" is not part of the contract` })
    }
    if (parsed.kind === 'status') {
      const s = payload.toString('utf8').trim()
      if (s !== 'online' && s !== 'offline') {
        return this.rejectAll(parsed.deviceId, 'status', { code: 'STORE_EDGE_ERR_SCHEMA', reason: 'status must be "online" or "offline"' })
      }
      this.bus.emitDeviceStatus({ deviceId: parsed.deviceId, online: s === 'online', ts: receivedAt })
      return { sightings: [], rejects: [] }
    }
    this.hasher.rotateIfDue(receivedAt)
    const ctx: DecodeContext = {
      deviceId: parsed.deviceId,
      hashMac: this.hashMac,
      now: receivedAt,
      maxSkewMs: this.cfg.ingest.maxSkewMs,
      maxBatch: this.cfg.ingest.maxBatch,
    }
    let result: DecodeResult
    try {
      switch (parsed.kind) {
        case 'ble':
          result = decodeBleBatch(payload, ctx)
          break
        case 'wifi':
          result = decodeWifiBatch(payload, ctx)
          break
        case 'espresense':
          result = decodeEspresense(payload, ctx, parsed.beaconId)
          break
        case 'omg':
          result = decodeOmg(payload, ctx, parsed.mac)
          break
        case 'parking': {
          if (!this.onGates) {
            result = { sightings: [], rejects: [{ code: 'STORE_EDGE_ERR_UNKNOWN_SENSOR', reason: 'this store has no car park (parking.enabled is false)' }] }
            break
          }
          const gates = decodeGateBatch(payload, ctx)
          // Plates go to the parking module only; the rest of the pipeline sees the rejections.
          this.onGates(gates, receivedAt)
          result = { sightings: [], rejects: gates.rejects }
          break
        }
        default:
          result = { sightings: [], rejects: [{ code: 'STORE_EDGE_ERR_TOPIC', reason: `no decoder for ${parsed.kind}` }] }
      }
    } catch (err) {
      // Decoders must not throw; if one does, the message is rejected, counted and the bug logged.
      this.log.error({ err, kind: parsed.kind, device: parsed.deviceId }, 'decoder threw')
      result = { sightings: [], rejects: [{ code: 'STORE_EDGE_ERR_INTERNAL', reason: 'decoder failed on this payload' }] }
    }
    this.accept(parsed.deviceId, parsed.kind, result, receivedAt)
    return result
  }

  /** Hash a MAC with the salt of the current period (webhook sources hash outside handle()). */
  hashMacNow(mac: string): string {
    this.hasher.rotateIfDue(this.clock.now())
    return this.hasher.hash(mac)
  }

  /** Publish a decode result's sightings and count its rejections (also used by webhooks). */
  accept(deviceId: string, kind: string, result: DecodeResult, receivedAt: number): void {
    this.pendingMessages.set(kind, (this.pendingMessages.get(kind) ?? 0) + 1)
    if (result.sightings.length > 0) {
      for (const s of result.sightings) {
        if (s.source === 'ble') this.pendingSightings.ble++
        else this.pendingSightings.wifi++
      }
      this.bus.emitSightings({ sightings: result.sightings, receivedAt, deviceId })
    }
    for (const r of result.rejects) this.rejected(deviceId, kind, r)
  }

  rejected(deviceId: string, kind: string, rejection: Rejection): void {
    this.metrics.rejected.inc({ device: deviceId, kind, code: rejection.code })
    this.bus.emitRejected({ deviceId, kind, rejection })
    if (!this.logThrottle.shouldLog(`${deviceId}:${kind}:${rejection.code}`, this.clock.now())) return
    this.log.warn({ device: deviceId, kind, code: rejection.code, reason: rejection.reason, index: rejection.index }, 'payload rejected')
  }

  private rejectAll(deviceId: string, kind: string, r: Rejection): DecodeResult {
    this.rejected(deviceId, kind, r)
    return { sightings: [], rejects: [r] }
  }
}
