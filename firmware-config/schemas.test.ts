import { readFileSync } from 'node:fs'
import { Value } from '@sinclair/typebox/value'
import type { TSchema } from '@sinclair/typebox'
import { describe, expect, it } from 'vitest'
import { testContext } from '../edge/sources/decoders/test-support.ts'
import { BleBatch, BleSightingItem, DEVICE_ID_PATTERN, GateBatch, GateEventItem, WifiBatch, WifiProbeItem, topics, type DecodeContext } from '../edge/contracts/index.ts'
import { EdgeConfigSchema } from '../edge/core/config.ts'
import { decodeBleBatch } from '../edge/sources/decoders/ble-batch.decoder.ts'
import { decodeWifiBatch } from '../edge/sources/decoders/wifi-batch.decoder.ts'
import { decodeGateBatch } from '../edge/sources/decoders/gate.decoder.ts'
import { buildSchemas, render, SCHEMA_DIR } from './generate-schemas.ts'

const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8')

/** The README's examples: a ```json block right after an `<!-- example: name -->` marker. */
function examples(): Map<string, unknown> {
  const out = new Map<string, unknown>()
  for (const m of readme.matchAll(/<!-- example: ([a-z-]+) -->\s*```json\n([\s\S]*?)```/g)) out.set(m[1]!, JSON.parse(m[2]!))
  return out
}

const ctxAt = (now: number, deviceId: string): DecodeContext => testContext(deviceId, now)

/** Envelope and items checked the way the edge checks them, against the same TypeBox objects the schemas come from. */
function check(envelope: TSchema, arrayKey: string, item: TSchema, value: unknown): string[] {
  const errs = [...Value.Errors(envelope, value)].map((e) => `${e.path}: ${e.message}`)
  const items = (value as Record<string, unknown[]>)[arrayKey] ?? []
  items.forEach((it, i) => errs.push(...[...Value.Errors(item, it)].map((e) => `/${arrayKey}/${i}${e.path}: ${e.message}`)))
  return errs
}

describe('firmware-config schemas', () => {
  it('the committed JSON Schemas equal the ones generated from edge/contracts (run generate-schemas.ts)', () => {
    const generated = buildSchemas()
    expect(Object.keys(generated).sort()).toEqual(['ble-batch', 'gate-batch', 'wifi-batch'])
    for (const [name, schema] of Object.entries(generated)) {
      const committed = readFileSync(`${SCHEMA_DIR}${name}.schema.json`, 'utf8')
      expect(committed, `${name}.schema.json is stale: node --import tsx firmware-config/generate-schemas.ts`).toBe(render(schema))
    }
  })

  it('merges the item schema into the envelope array for the docs', () => {
    const wifi = buildSchemas()['wifi-batch'] as { properties: { probes: { items: { required: string[]; properties: Record<string, unknown> } } } }
    expect(wifi.properties.probes.items.required).toEqual(['mac', 'rssi'])
    expect(Object.keys(wifi.properties.probes.items.properties)).toEqual(['mac', 'rssi', 'ts', 'channel', 'seq'])
    const ble = buildSchemas()['ble-batch'] as { properties: { sightings: { items: { required: string[] } } } }
    expect(ble.properties.sightings.items.required).toEqual(['mac', 'rssi'])
  })

  it('the README examples validate and decode without a rejection', () => {
    const ex = examples()
    expect([...ex.keys()].sort()).toEqual(['ble-batch', 'gate-batch', 'wifi-batch'])

    const gate = ex.get('gate-batch') as { events: Array<{ ts: number }> }
    expect(check(GateBatch, 'events', GateEventItem, gate)).toEqual([])
    const g = decodeGateBatch(JSON.stringify(gate), ctxAt(gate.events[0]!.ts, 'gate-carpark'))
    expect(g.rejects).toEqual([])
    expect(g.events.map((e) => [e.plate, e.plateKind])).toEqual([['沪A12345', 'ordinary'], ['沪AD12345', 'new-energy']])

    const wifi = ex.get('wifi-batch') as { ts: number; probes: unknown[] }
    expect(check(WifiBatch, 'probes', WifiProbeItem, wifi)).toEqual([])
    const w = decodeWifiBatch(JSON.stringify(wifi), ctxAt(wifi.ts, 'wifi-sniffer-01'))
    expect(w.rejects).toEqual([])
    expect(w.sightings).toHaveLength(wifi.probes.length)

    const ble = ex.get('ble-batch') as { ts: number; sightings: unknown[] }
    expect(check(BleBatch, 'sightings', BleSightingItem, ble)).toEqual([])
    const b = decodeBleBatch(JSON.stringify(ble), ctxAt(ble.ts, 'ble-scanner-01'))
    expect(b.rejects).toEqual([])
    expect(b.sightings).toHaveLength(ble.sightings.length)
  })

  it('the example sniffer configuration follows the topic contract and the edge limits', () => {
    const cfg = JSON.parse(readFileSync(new URL('./wifi-sniffer.example.json', import.meta.url), 'utf8'))
    const defaults = Value.Default(EdgeConfigSchema, {}) as { broker: { port: number }; ingest: { maxBatch: number } }
    expect(cfg.deviceId).toMatch(DEVICE_ID_PATTERN)
    expect(cfg.mqtt.clientId).toBe(cfg.deviceId)
    expect(cfg.mqtt.username).toBe(cfg.deviceId)
    expect(cfg.mqtt.port).toBe(defaults.broker.port)
    expect(cfg.mqtt.qos).toBe(1)
    expect(cfg.mqtt.dataTopic).toBe(topics.sensor(cfg.deviceId, 'wifi'))
    expect(cfg.mqtt.statusTopic).toBe(topics.sensorStatus(cfg.deviceId))
    expect(cfg.mqtt.lastWill).toEqual({ topic: topics.sensorStatus(cfg.deviceId), payload: 'offline', qos: 1, retain: true })
    expect(cfg.mqtt.onConnect).toEqual({ topic: topics.sensorStatus(cfg.deviceId), payload: 'online', qos: 1, retain: true })
    expect(cfg.sniffer.sendSsid).toBe(false)
    expect(cfg.sniffer.rssiFloorDbm).toBeGreaterThanOrEqual(-127)
    expect(cfg.batch.maxProbes).toBeLessThanOrEqual(defaults.ingest.maxBatch)
    expect(cfg.batch.maxBytes).toBeLessThanOrEqual(256 * 1024)
  })

  it('the README documents the contract it claims', () => {
    for (const s of ['sensors/{id}/status', 'offline', 'online', 'store-edge provision device', 'espresense/devices/{beaconId}/{room}', '{base}/{gateway}/BTtoMQTT/{MAC}', '/v1/webhooks/meraki', 'webhooks:', '1884', '/v1/parking/events', 'X-Parking-Secret', 'STORE_EDGE_ERR_BAD_PLATE']) {
      expect(readme).toContain(s)
    }
  })
})
