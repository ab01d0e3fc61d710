import { describe, expect, it } from 'vitest'
import { EventBus, type BusEvents } from '../core/bus.ts'
import { createMetrics } from '../core/metrics.ts'
import { resolveConfig } from '../core/config.ts'
import { IngestPipeline } from './ingest.pipeline.ts'
import { MacHasher } from './privacy/mac-hasher.ts'
import { testLogger, counterValue } from '../../tests/helpers.ts'

const NOW = Date.parse('2026-11-23T12:00:00Z')

function setup() {
  const log = testLogger()
  const bus = new EventBus(log)
  const metrics = createMetrics({ defaultMetrics: false })
  const hasher = new MacHasher({ secret: Buffer.alloc(32, 1), rotationHours: 24, timeZone: 'UTC' })
  const pipeline = new IngestPipeline(resolveConfig({}, {}), hasher, bus, metrics, { now: () => NOW }, log)
  const seen: { sightings: BusEvents['sightings'][]; rejected: BusEvents['rejected'][]; status: BusEvents['deviceStatus'][] } = { sightings: [], rejected: [], status: [] }
  bus.subscriber('test').onSightings((e) => seen.sightings.push(e)).onRejected((e) => seen.rejected.push(e)).onDeviceStatus((e) => seen.status.push(e))
  return { pipeline, metrics, seen }
}

describe('IngestPipeline', () => {
  it('routes each contract topic to its decoder and publishes the sightings once per message', () => {
    const { pipeline, seen } = setup()
    const r = pipeline.handle('sensors/s1/wifi', Buffer.from(JSON.stringify({ v: 1, ts: NOW, probes: [{ mac: 'f0:18:98:4e:7c:21', rssi: -60 }, { mac: 'da:a1:19:6e:03:c5', rssi: -70 }] })), NOW)
    expect(r.sightings.map((s) => [s.source, s.idKind])).toEqual([['wifi', 'mac'], ['wifi', 'random']])
    expect(seen.sightings).toHaveLength(1)
    expect(seen.sightings[0]).toMatchObject({ deviceId: 's1', receivedAt: NOW })
    expect(JSON.stringify(seen)).not.toContain('f0:18:98')
  })

  it('turns status topics (ours, ESPresense, OpenMQTTGateway) into device status, and rejects other status payloads', () => {
    const { pipeline, seen } = setup()
    pipeline.handle('sensors/s1/status', Buffer.from('online'), NOW)
    pipeline.handle('espresense/rooms/esp-1/status', Buffer.from('offline'), NOW)
    pipeline.handle('home/omg-1/LWT', Buffer.from('online'), NOW)
    expect(seen.status.map((s) => [s.deviceId, s.online])).toEqual([['s1', true], ['esp-1', false], ['omg-1', true]])
    const bad = pipeline.handle('sensors/s1/status', Buffer.from('maybe'), NOW)
    expect(bad.rejects[0]?.code).toBe('STORE_EDGE_ERR_SCHEMA')
  })

  it('hands gate batches to the car park (plates go nowhere else) or refuses them when the store has none', async () => {
    const { pipeline, metrics, seen } = setup()
    const body = Buffer.from(JSON.stringify({ v: 1, events: [{ type: 'entry', plate: '苏E88888', gate: 'g', ts: NOW }, { type: 'entry', plate: '沪A1234', gate: 'g', ts: NOW }] }))
    const refused = pipeline.handle('sensors/gate-1/parking', body, NOW)
    expect(refused.rejects).toMatchObject([{ code: 'STORE_EDGE_ERR_UNKNOWN_SENSOR' }])
    const handed: unknown[] = []
    pipeline.onGates = (result, receivedAt) => handed.push([result, receivedAt])
    const r = pipeline.handle('sensors/gate-1/parking', body, NOW)
    expect(r).toEqual({ sightings: [], rejects: [expect.objectContaining({ code: 'STORE_EDGE_ERR_BAD_PLATE', index: 1 })] })
    expect(handed).toHaveLength(1)
    expect(handed[0]).toMatchObject([{ events: [{ plate: '苏E88888', plateValid: true }, { plateValid: false }] }, NOW])
    expect(seen.sightings).toEqual([])
    expect(JSON.stringify(seen.rejected)).not.toContain('88888')
    expect(await counterValue(metrics.registry, 'store_edge_ingest_rejected_total', { device: 'gate-1', kind: 'parking', code: 'STORE_EDGE_ERR_BAD_PLATE' })).toBe(1)
  })

  it('rejects a topic outside the contract with a reason, counted under the unknown device', async () => {
    const { pipeline, metrics, seen } = setup()
    const r = pipeline.handle('sensors/s1/unknown', Buffer.from('{}'), NOW)
    expect(r.rejects).toMatchObject([{ code: 'STORE_EDGE_ERR_TOPIC' }])
    expect(seen.rejected).toHaveLength(1)
    expect(await counterValue(metrics.registry, 'store_edge_ingest_rejected_total', { device: 'unknown', code: 'STORE_EDGE_ERR_TOPIC' })).toBe(1)
  })

  it('counts every rejection per device, kind and reason, and keeps the good items of the same batch', async () => {
    const { pipeline, metrics, seen } = setup()
    const batch = { v: 1, ts: NOW, sightings: [{ mac: 'nope', rssi: -60 }, { mac: '00:1a:7d:da:71:13', addrType: 'public', rssi: -60 }, { mac: '00:1a:7d:da:71:14', rssi: 500 }] }
    pipeline.handle('sensors/s1/ble', Buffer.from(JSON.stringify(batch)), NOW)
    expect(seen.sightings[0]?.sightings).toHaveLength(1)
    expect(seen.rejected.map((r) => [r.deviceId, r.kind, r.rejection.code, r.rejection.index])).toEqual([
      ['s1', 'ble', 'STORE_EDGE_ERR_BAD_MAC', 0],
      ['s1', 'ble', 'STORE_EDGE_ERR_BAD_RSSI', 2],
    ])
    expect(await counterValue(metrics.registry, 'store_edge_ingest_rejected_total', { device: 's1', kind: 'ble' })).toBe(2)
    expect(await counterValue(metrics.registry, 'store_edge_ingest_sightings_total', { source: 'ble' })).toBe(1)
  })
})
