import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { TSchema } from '@sinclair/typebox'
import { BleBatch, BleSightingItem, GateBatch, GateEventItem, WifiBatch, WifiProbeItem } from '../edge/contracts/index.ts'

/**
 * The JSON Schemas firmware developers read, generated from the TypeBox contract the edge validates
 * with (TypeBox objects are JSON Schema). The edge checks envelope and items separately so one bad
 * item never poisons a batch; for the docs the item schema is merged into the envelope's array.
 *
 *   node --import tsx firmware-config/generate-schemas.ts
 *
 * firmware-config/schemas.test.ts fails when the committed files differ from what this generates.
 */

export const SCHEMA_DIR = fileURLToPath(new URL('./schemas/', import.meta.url))

/** Plain JSON (TypeBox's symbol keys dropped), the array's items replaced by the item schema. */
function merged(envelope: TSchema, arrayKey: string, item: TSchema, title: string): Record<string, unknown> {
  const env = JSON.parse(JSON.stringify(envelope)) as Record<string, unknown> & { properties: Record<string, Record<string, unknown>> }
  const { $id: _itemId, ...itemSchema } = JSON.parse(JSON.stringify(item)) as Record<string, unknown>
  const { $id, ...rest } = env
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: `https://store-edge.local/schemas/${String($id)}.schema.json`,
    title,
    ...rest,
    properties: { ...env.properties, [arrayKey]: { ...env.properties[arrayKey], items: { title: String(item.$id), ...itemSchema } } },
  }
}

/** File name (without .schema.json) → schema. */
export function buildSchemas(): Record<string, Record<string, unknown>> {
  return {
    'ble-batch': merged(BleBatch, 'sightings', BleSightingItem, 'BLE scanner batch (sensors/{deviceId}/ble)'),
    'wifi-batch': merged(WifiBatch, 'probes', WifiProbeItem, 'Wi-Fi probe sniffer batch (sensors/{deviceId}/wifi)'),
    'gate-batch': merged(GateBatch, 'events', GateEventItem, 'Car-park gate events (sensors/{deviceId}/parking and POST /v1/parking/events)'),
  }
}

export const render = (schema: unknown) => JSON.stringify(schema, null, 2) + '\n'

export function writeSchemas(dir = SCHEMA_DIR): string[] {
  mkdirSync(dir, { recursive: true })
  return Object.entries(buildSchemas()).map(([name, schema]) => {
    const file = `${dir}${name}.schema.json`
    writeFileSync(file, render(schema))
    return file
  })
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const f of writeSchemas()) process.stdout.write(`wrote ${f}\n`)
}
