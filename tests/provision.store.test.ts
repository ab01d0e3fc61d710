import { execFile } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import { EdgeApp } from '../edge/app.ts'
import { DEVICE_ID_PATTERN, parseSensorTopic, topics, type DecodeContext } from '../edge/contracts/index.ts'
import { provisionStore } from '../edge/cli/provision-store.command.ts'
import { decodeEspresense } from '../edge/sources/decoders/espresense.decoder.ts'
import { decodeOmg } from '../edge/sources/decoders/omg.decoder.ts'
import { decodeMeraki } from '../edge/sources/decoders/meraki.decoder.ts'
import { decodeWifiBatch } from '../edge/sources/decoders/wifi-batch.decoder.ts'
import { testContext } from '../edge/sources/decoders/test-support.ts'
import { connect, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const FW = join(ROOT, 'firmware-config')

/** The CLI as an operator runs it: a real process, its exit code, stdout and stderr. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [join(ROOT, 'bin/store-edge.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 4 << 20 }, (err, stdout, stderr) =>
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

const storeYaml = (dataDir: string) => `
store: { id: prov-store, name: Provisioning Test, timezone: UTC }
dataDir: ${JSON.stringify(dataDir)}
broker: { port: 1884, wsPort: -1 }
webhooks:
  meraki: { enabled: true, validator: validator-of-the-dashboard }
zones:
  - { id: entrance, name: Entrance }
  - { id: cafe, name: Cafe, floor: 1 }
sensors:
  - { id: ble-entrance, zone: entrance, kind: ble }
  - { id: wifi-front, zone: entrance, kind: wifi }
  - { id: esp-cafe, zone: cafe, kind: espresense, absorption: 3 }
  - { id: omg-entrance, zone: entrance, kind: omg }
  - { id: ap-e0553d1a2b3c, zone: entrance, kind: meraki-ap }
cameras:
  - { id: cam-door, url: "rtsp://camera.invalid/detect" }
`
const MERAKI_SECRET = 'meraki-shared-secret-from-env'

/** The ```json block after an `<!-- example: name -->` marker of a firmware-config page. */
function mdExample(page: string, name: string): unknown {
  const text = readFileSync(join(FW, page), 'utf8')
  const m = new RegExp(`<!-- example: ${name} -->\\s*\`\`\`json\\n([\\s\\S]*?)\`\`\``).exec(text)
  if (!m) throw new Error(`${page} has no example ${name}`)
  return JSON.parse(m[1]!)
}

const ctxAt = (now: number, deviceId: string): DecodeContext => testContext(deviceId, now)

const ajv = new Ajv({ allErrors: true, strict: false })
const compiled = new Map<string, ReturnType<typeof ajv.compile>>()
/** The committed JSON Schema file, compiled once. */
const schemaValidator = (file: string) => {
  if (!compiled.has(file)) compiled.set(file, ajv.compile(JSON.parse(readFileSync(join(ROOT, file), 'utf8'))))
  return compiled.get(file)!
}

type DeviceFile = { deviceId: string; kind: string; mqtt: { url: string; clientId: string; username: string; password: string; dataTopic?: string; statusTopic?: string }; settings?: Record<string, unknown>; publishes?: Array<{ topic: string; schema: string; $id: string }> }

describe('store-edge provision store', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let out: string
  let dataDir: string
  let yamlFile: string
  let app: EdgeApp | undefined
  const clients: MqttClient[] = []
  const heard: Array<{ sensorId: string; source: string }> = []

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('store-edge-prov-'))
    out = join(dir, 'out')
    dataDir = join(dir, 'data')
    yamlFile = join(dir, 'store.yaml')
    writeFileSync(yamlFile, storeYaml(dataDir))
  })
  afterAll(async () => {
    for (const c of clients.splice(0)) c.end(true)
    await app?.stop()
    await cleanup()
  })

  const readDevice = (id: string, kind: string) => JSON.parse(readFileSync(join(out, `${id}.${kind}.json`), 'utf8')) as DeviceFile
  const passwordOf = (f: DeviceFile) => (f.kind === 'espresense' ? String(f.settings!.mqttPass) : f.mqtt.password)
  const mqttUrl = () => `mqtt://127.0.0.1:${app!.broker.address.mqtt.port}`
  const login = async (f: DeviceFile, password = passwordOf(f)) => {
    const c = await connect(mqttUrl(), { clientId: f.mqtt.clientId, username: f.mqtt.username, password })
    clients.push(c)
    return c
  }

  it('writes a 0600 file per sensor, prints a table without passwords, and the credentials work on a real edge', async () => {
    const r = await cli(['provision', 'store', yamlFile, '--out', out, '--host', '127.0.0.1'], { STORE_EDGE_WEBHOOKS_MERAKI_SECRET: MERAKI_SECRET })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)

    const expected = ['ble-entrance.ble.json', 'wifi-front.wifi.json', 'esp-cafe.espresense.json', 'omg-entrance.omg.json', 'ap-e0553d1a2b3c.meraki-ap.json']
    const files = readdirSync(out).filter((f) => f.endsWith('.json') && f !== 'index.json')
    expect(files.sort()).toEqual([...expected].sort())
    expect(statSync(out).mode & 0o777).toBe(0o700)
    for (const f of [...expected, 'index.json']) expect((statSync(join(out, f)).mode & 0o777).toString(8), f).toBe('600')
    expect(readFileSync(join(out, '.gitignore'), 'utf8')).toMatch(/^\*$/m)

    // The summary: one row per device (the camera too, without a file), never a password or the Meraki secret.
    const rows = r.stdout.split('\n').filter((l) => /^(ble|wifi|esp|omg|ap|cam)-/.test(l))
    expect(rows.map((l) => l.split(/\s+/).slice(0, 4))).toEqual([
      ['ble-entrance', 'ble', 'entrance', 'created'],
      ['wifi-front', 'wifi', 'entrance', 'created'],
      ['esp-cafe', 'espresense', 'cafe', 'created'],
      ['omg-entrance', 'omg', 'entrance', 'created'],
      ['ap-e0553d1a2b3c', 'meraki-ap', 'entrance', 'webhook'],
      ['cam-door', 'camera', 'entrance', 'none'],
    ])
    for (const f of expected.slice(0, 4)) expect(r.stdout).toContain(f)
    const devices = { ble: readDevice('ble-entrance', 'ble'), wifi: readDevice('wifi-front', 'wifi'), esp: readDevice('esp-cafe', 'espresense'), omg: readDevice('omg-entrance', 'omg') }
    const passwords = Object.values(devices).map(passwordOf)
    expect(new Set(passwords).size).toBe(4)
    for (const p of passwords) {
      expect(p.length).toBeGreaterThanOrEqual(20)
      expect(r.stdout).not.toContain(p)
      expect(readFileSync(join(out, 'index.json'), 'utf8')).not.toContain(p)
    }
    expect(r.stdout).not.toContain(MERAKI_SECRET)
    const meraki = JSON.parse(readFileSync(join(out, 'ap-e0553d1a2b3c.meraki-ap.json'), 'utf8'))
    expect(JSON.stringify(meraki)).not.toContain(MERAKI_SECRET)
    expect(meraki.apMac).toBe('e0:55:3d:1a:2b:3c')
    expect(meraki.dashboard).toMatchObject({ postUrl: 'http://127.0.0.1:8080/v1/webhooks/meraki', apiVersion: 'V3', validator: 'validator-of-the-dashboard' })

    // What each file says follows the contracts.
    expect(devices.ble.mqtt).toMatchObject({ url: 'mqtt://127.0.0.1:1884', clientId: 'ble-entrance', username: 'ble-entrance', dataTopic: 'sensors/ble-entrance/ble', statusTopic: 'sensors/ble-entrance/status' })
    expect(devices.wifi.publishes).toEqual([{ topic: 'sensors/wifi-front/wifi', schema: 'firmware-config/schemas/wifi-batch.schema.json', $id: 'https://store-edge.local/schemas/WifiBatch.schema.json', v: 1 }])
    for (const d of [devices.ble, devices.wifi]) {
      const schema = JSON.parse(readFileSync(join(ROOT, d.publishes![0]!.schema), 'utf8'))
      expect(schema.$id).toBe(d.publishes![0]!.$id)
    }
    expect(devices.esp.settings).toMatchObject({ room: 'esp-cafe', mqttUser: 'esp-cafe', mqttPort: 1884, mqttHost: '127.0.0.1', topicPrefix: 'espresense' })
    const omg = devices.omg as DeviceFile & { buildFlags: string[]; settings: Record<string, string> }
    expect(omg.settings).toMatchObject({ gateway_name: 'omg-entrance', mqtt_user: 'omg-entrance', mqtt_topic: 'home/', mqtt_port: '1884' })
    expect(omg.buildFlags).toContain(`'-DMQTT_PASS="${passwordOf(omg)}"'`)
    expect(omg.buildFlags).toContain(`'-DMQTT_USER="omg-entrance"'`)

    // A real edge on that data directory accepts each device with its file's credentials, on its topics.
    app = await new EdgeApp({ config: testConfig(dataDir, { zones: [{ id: 'entrance', name: 'E' }, { id: 'cafe', name: 'C' }], sensors: [
      { id: 'ble-entrance', zone: 'entrance', kind: 'ble' }, { id: 'wifi-front', zone: 'entrance', kind: 'wifi' },
      { id: 'esp-cafe', zone: 'cafe', kind: 'espresense' }, { id: 'omg-entrance', zone: 'entrance', kind: 'omg' },
    ], broker: { host: '127.0.0.1', port: 0, wsPort: -1 } }), logger: testLogger(), defaultMetrics: false }).start()
    app.bus.subscriber('test').onSightings((e) => e.sightings.forEach((s) => heard.push({ sensorId: s.sensorId, source: s.source })))

    const now = Date.now()
    const ble = await login(devices.ble)
    const bleBatch = { v: 1, ts: now, sightings: [{ mac: '00:1a:7d:da:71:13', addrType: 'public', rssi: -60 }] }
    expect(schemaValidator(devices.ble.publishes![0]!.schema)(bleBatch)).toBe(true)
    await ble.publishAsync(devices.ble.mqtt.dataTopic!, JSON.stringify(bleBatch), { qos: 1 })
    const wifi = await login(devices.wifi)
    const wifiBatch = { ...(mdExample('wifi-sniffer.md', 'wifi-batch') as object), ts: now, probes: [{ mac: '00:1a:7d:da:71:14', rssi: -58, channel: 6 }] }
    expect(schemaValidator(devices.wifi.publishes![0]!.schema)(wifiBatch)).toBe(true)
    await wifi.publishAsync(devices.wifi.mqtt.dataTopic!, JSON.stringify(wifiBatch), { qos: 1 })
    const esp = await login(devices.esp)
    await esp.publishAsync(topics.espresenseDevice('iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-1-7', 'esp-cafe'), JSON.stringify(mdExample('espresense.md', 'espresense')), { qos: 1 })
    const gw = await login(devices.omg)
    await gw.publishAsync(topics.omgBt('home', 'omg-entrance', 'C74F210A9D31'), JSON.stringify(mdExample('openmqttgateway.md', 'omg')), { qos: 1 })
    await waitFor(() => ['ble-entrance', 'wifi-front', 'esp-cafe', 'omg-entrance'].every((id) => heard.some((h) => h.sensorId === id)), 'a sighting from every provisioned device')
    expect(heard.find((h) => h.sensorId === 'wifi-front')?.source).toBe('wifi')
    // ...and the ACL still binds each to its own topics.
    await expect(connect(mqttUrl(), { clientId: 'ble-entrance', username: 'ble-entrance', password: 'not-the-password' })).rejects.toThrow()
  })

  it('a second run keeps every password; --rotate renews them and the old ones are refused', async () => {
    const before = { ble: readDevice('ble-entrance', 'ble'), esp: readDevice('esp-cafe', 'espresense') }
    const again = await cli(['provision', 'store', yamlFile, '--out', out, '--host', '127.0.0.1'], { STORE_EDGE_WEBHOOKS_MERAKI_SECRET: MERAKI_SECRET })
    expect(again.code).toBe(0)
    expect(again.stdout.split('\n').filter((l) => /^(ble|wifi|esp|omg)-/.test(l)).map((l) => l.split(/\s+/)[3])).toEqual(['kept', 'kept', 'kept', 'kept'])
    expect(passwordOf(readDevice('ble-entrance', 'ble'))).toBe(passwordOf(before.ble))
    expect(passwordOf(readDevice('esp-cafe', 'espresense'))).toBe(passwordOf(before.esp))
    const still = await login(before.ble)
    still.end(true)

    const rotated = await cli(['provision', 'store', yamlFile, '--out', out, '--host', '127.0.0.1', '--rotate', '--show-secrets'], { STORE_EDGE_WEBHOOKS_MERAKI_SECRET: MERAKI_SECRET })
    expect(rotated.code).toBe(0)
    expect(rotated.stdout.split('\n').filter((l) => /^(ble|wifi|esp|omg)-/.test(l)).map((l) => l.split(/\s+/)[3])).toEqual(['rotated', 'rotated', 'rotated', 'rotated'])
    const after = { ble: readDevice('ble-entrance', 'ble'), esp: readDevice('esp-cafe', 'espresense') }
    expect(passwordOf(after.ble)).not.toBe(passwordOf(before.ble))
    expect(passwordOf(after.esp)).not.toBe(passwordOf(before.esp))
    // --show-secrets prints the new passwords, and puts the Meraki secret into the AP file.
    expect(rotated.stdout).toContain(passwordOf(after.ble))
    expect(JSON.parse(readFileSync(join(out, 'ap-e0553d1a2b3c.meraki-ap.json'), 'utf8')).dashboard.sharedSecret).toBe(MERAKI_SECRET)

    // The running edge picks the new credentials up: old refused, new accepted and heard.
    await expect(connect(mqttUrl(), { clientId: 'esp-cafe', username: 'esp-cafe', password: passwordOf(before.esp) })).rejects.toThrow()
    const esp = await login(after.esp)
    const n = heard.length
    await esp.publishAsync(topics.espresenseDevice('iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-1-7', 'esp-cafe'), JSON.stringify(mdExample('espresense.md', 'espresense')), { qos: 1 })
    await waitFor(() => heard.slice(n).some((h) => h.sensorId === 'esp-cafe'), 'a sighting with the rotated credentials')
  })

  it('a bad store.yaml: every error with its path, exit 1, nothing written', async () => {
    const bad = join(dir, 'bad.yaml')
    const badOut = join(dir, 'bad-out')
    writeFileSync(bad, `store: { id: "Not An Id" }\ndataDir: ${JSON.stringify(join(dir, 'bad-data'))}\nbroker: { port: high }\nzones: [{ id: entrance, name: E }]\nsensors:\n  - { id: s1, zone: entrance, kind: zigbee }\n  - { id: Bad Id, zone: entrance }\n`)
    const r = await cli(['provision', 'store', bad, '--out', badOut])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('STORE_EDGE_ERR_CONFIG_INVALID')
    for (const p of ['/store/id', '/broker/port', '/sensors/0/kind', '/sensors/1/id']) expect(r.stderr).toContain(`${p}:`)
    expect(existsSync(badOut)).toBe(false)
    expect(existsSync(join(dir, 'bad-data'))).toBe(false)

    // Layout errors (checked once the schema passes) come with their paths too.
    writeFileSync(bad, `dataDir: ${JSON.stringify(join(dir, 'bad-data'))}\nzones: [{ id: entrance, name: E }]\nsensors:\n  - { id: s1, zone: nowhere, kind: ble }\n  - { id: s1, zone: entrance, kind: wifi }\n`)
    const r2 = await cli(['provision', 'store', bad, '--out', badOut])
    expect(r2.code).toBe(1)
    expect(r2.stderr).toContain('/sensors/0/zone: zone "nowhere" is not in /zones')
    expect(r2.stderr).toContain('/sensors/1/id: duplicate sensor id "s1"')
    expect(existsSync(badOut)).toBe(false)
    const missing = await cli(['provision', 'store', join(dir, 'no-such.yaml'), '--out', badOut])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('cannot read')
  })

  it('provisions the shipped deploy/edge/store.example.yaml: one file per sensor', async () => {
    const o = join(dir, 'example-out')
    const r = await provisionStore(join(ROOT, 'deploy/edge/store.example.yaml'), { out: o, dataDir: join(dir, 'example-data'), host: 'edge.local', env: {} })
    expect(r.storeId).toBe('demo-store')
    expect(r.rows).toHaveLength(8)
    expect(r.rows.every((x) => x.action === 'created' && x.file)).toBe(true)
    expect(readdirSync(o).filter((f) => f.endsWith('.json') && f !== 'index.json')).toHaveLength(8)
    expect(resolve(r.dataDir)).toBe(join(dir, 'example-data'))
  })

  it('the firmware-config examples parse, follow the topic contract, validate against the schemas and decode', () => {
    // OpenMQTTGateway example settings
    const omg = JSON.parse(readFileSync(join(FW, 'openmqttgateway.settings.example.json'), 'utf8'))
    expect(omg.deviceId).toMatch(DEVICE_ID_PATTERN)
    expect(omg.settings.gateway_name).toBe(omg.deviceId)
    expect(omg.settings.mqtt_user).toBe(omg.deviceId)
    expect(omg.settings.mqtt_topic).toMatch(/^[a-z0-9_-]+\/$/)
    expect(omg.buildFlags).toContain(`'-DGateway_Name="${omg.deviceId}"'`)
    const base = omg.settings.mqtt_topic.slice(0, -1)
    expect(omg.exampleMessage.topic).toBe(topics.omgBt(base, omg.deviceId, 'C74F210A9D31'))
    expect(parseSensorTopic(omg.exampleMessage.topic)).toEqual({ kind: 'omg', deviceId: omg.deviceId, mac: 'C74F210A9D31' })
    expect(parseSensorTopic(omg.lastWill.topic)).toEqual({ kind: 'status', deviceId: omg.deviceId })
    for (const payload of [omg.exampleMessage.payload, mdExample('openmqttgateway.md', 'omg')]) {
      const d = decodeOmg(JSON.stringify(payload), ctxAt(Date.now(), omg.deviceId), 'C74F210A9D31')
      expect(d.rejects).toEqual([])
      expect(d.sightings).toHaveLength(1)
      expect(d.sightings[0]!.deviceClass).toBe('beacon')
    }

    // ESPresense example message
    const espTopic = topics.espresenseDevice('iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-1-7', 'esp-cafe')
    expect(parseSensorTopic(espTopic)).toMatchObject({ kind: 'espresense', deviceId: 'esp-cafe' })
    const e = decodeEspresense(JSON.stringify(mdExample('espresense.md', 'espresense')), ctxAt(Date.now(), 'esp-cafe'), 'iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-1-7')
    expect(e.rejects).toEqual([])
    expect(e.sightings[0]).toMatchObject({ sensorId: 'esp-cafe', txPower: -59, distanceM: 2.41, deviceClass: 'beacon' })

    // Wi-Fi sniffer: the documented batch against the committed JSON Schema and the decoder; the example config's topics
    const wifiBatch = mdExample('wifi-sniffer.md', 'wifi-batch') as { ts: number; probes: unknown[] }
    const validate = schemaValidator('firmware-config/schemas/wifi-batch.schema.json')
    expect(validate(wifiBatch), JSON.stringify(validate.errors)).toBe(true)
    expect(validate({ ...wifiBatch, v: 2 })).toBe(false) // the schema can fail
    const w = decodeWifiBatch(JSON.stringify(wifiBatch), ctxAt(wifiBatch.ts, 'wifi-sniffer-01'))
    expect(w.rejects).toEqual([])
    expect(w.sightings).toHaveLength(wifiBatch.probes.length)
    const sniffer = JSON.parse(readFileSync(join(FW, 'wifi-sniffer.example.json'), 'utf8'))
    expect(parseSensorTopic(sniffer.mqtt.dataTopic)).toEqual({ kind: 'wifi', deviceId: sniffer.deviceId })

    // Meraki: the documented v3 post decodes to one sighting per AP that heard the client
    const post = mdExample('meraki.md', 'meraki') as { data: { observations: Array<{ locations: Array<{ time: string }> }> } }
    const m = decodeMeraki(post, ctxAt(Date.parse(post.data.observations[0]!.locations[0]!.time), 'meraki'))
    expect(m.rejects).toEqual([])
    expect(m.type).toBe('WiFi')
    expect(m.sightings.map((s) => [s.sensorId, s.rssi])).toEqual([['ap-e0553d1a2b3c', -52], ['ap-e0553d1a2b3d', -71]])
    expect(JSON.stringify(m.sightings)).not.toMatch(/Store Guest|iOS|Apple|00:1a:7d/)
  })
})
