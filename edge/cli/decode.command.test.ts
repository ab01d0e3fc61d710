import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { CLI_HASH_NOTE, decodeCommand } from './decode.command.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const wifi = (probes: unknown[], ts = Date.now()) => JSON.stringify({ v: 1, ts, probes })

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`)
  }
}

/** Run the command in-process with captured output; resolves with what a process would have shown. */
async function run(args: string[], stdin = '', files: Record<string, string> = {}) {
  let out = ''
  let err = ''
  let code = 0
  const cmd = decodeCommand({
    stdout: (t) => void (out += t),
    stderr: (t) => void (err += t),
    readStdin: async () => stdin,
    readFile: (p) => {
      if (!(p in files)) throw new Error(`ENOENT: no such file, open '${p}'`)
      return files[p]!
    },
    setExitCode: (c) => void (code = c),
    exit: (c) => {
      throw new Exit(c)
    },
  })
  try {
    await cmd.parseAsync(args, { from: 'user' })
  } catch (e) {
    if (!(e instanceof Exit)) throw e
    code = e.code
  }
  return { code, out, err, json: () => JSON.parse(out) as { ok: boolean; sightings: Array<Record<string, unknown>>; rejects: Array<Record<string, unknown>>; note: string } }
}

describe('store-edge decode (in-process)', () => {
  it('decodes a Wi-Fi batch and exits 0 when nothing was rejected', async () => {
    const r = await run(['wifi', wifi([{ mac: 'f0:18:98:4e:7c:21', rssi: -60 }])])
    expect(r.code).toBe(0)
    const j = r.json()
    expect(j.ok).toBe(true)
    expect(j.sightings).toHaveLength(1)
    expect(j.sightings[0]).toMatchObject({ source: 'wifi', sensorId: 'cli', idKind: 'mac', rssi: -60 })
    expect(j.note).toBe(CLI_HASH_NOTE)
    expect(r.out).not.toContain('f0:18:98')
    expect(r.out).toContain('\n  "ok": true') // pretty printed
  })

  it('exits 1 and lists the rejections when something was rejected', async () => {
    const r = await run(['wifi', wifi([{ mac: 'f0:18:98:4e:7c:21', rssi: -60 }, { mac: 'zz', rssi: -60 }])])
    expect(r.code).toBe(1)
    expect(r.json()).toMatchObject({ ok: false, rejects: [{ code: 'STORE_EDGE_ERR_BAD_MAC', index: 1 }] })
    expect((await run(['wifi', 'not json'])).json().rejects[0]!.code).toBe('STORE_EDGE_ERR_PAYLOAD_NOT_JSON')
  })

  it('hashes with a fresh salt on every run', async () => {
    const p = wifi([{ mac: 'f0:18:98:4e:7c:21', rssi: -60 }])
    const a = (await run(['wifi', p])).json().sightings[0]!.id
    const b = (await run(['wifi', p])).json().sightings[0]!.id
    expect(a).toMatch(/^h:[0-9a-f]{20}$/)
    expect(a).not.toBe(b)
  })

  it('reads @file and - (stdin)', async () => {
    const p = wifi([{ mac: 'f0:18:98:4e:7c:21', rssi: -60 }])
    expect((await run(['wifi', '@probe.json'], '', { 'probe.json': p })).json().sightings).toHaveLength(1)
    expect((await run(['wifi', '-'], p)).json().sightings).toHaveLength(1)
    const missing = await run(['wifi', '@nope.json'])
    expect(missing.code).toBe(2)
    expect(missing.err).toContain('cannot read nope.json')
  })

  it('takes the device id from --topic for ble/wifi and insists the topic fits the kind', async () => {
    const p = wifi([{ mac: 'f0:18:98:4e:7c:21', rssi: -60 }])
    expect((await run(['wifi', p, '--topic', 'sensors/sniffer-7/wifi'])).json().sightings[0]!.sensorId).toBe('sniffer-7')
    const wrong = await run(['wifi', p, '--topic', 'sensors/sniffer-7/ble'])
    expect(wrong.code).toBe(2)
    expect(wrong.err).toContain('is not a sensors/{deviceId}/wifi topic')
    expect(wrong.out).toBe('')
  })

  it('decodes a Meraki post', async () => {
    const t = new Date().toISOString()
    const post = { version: '3.0', secret: 's', type: 'WiFi', data: { networkId: 'N_1', observations: [{ clientMac: 'f0:18:98:4e:7c:21', locations: [], latestRecord: { time: t, nearestApMac: 'e0:55:3d:1a:2b:3c', nearestApRssi: '-61' } }] } }
    const r = await run(['meraki', JSON.stringify(post)])
    expect(r.code).toBe(0)
    expect(r.json().sightings[0]).toMatchObject({ source: 'wifi', sensorId: 'ap-e0553d1a2b3c', rssi: -61 })
    expect((await run(['meraki', JSON.stringify(post), '--topic', 'sensors/x/wifi'])).code).toBe(2)
  })

  it('decodes a gate batch: normalised plates, each bad event rejected with its reason', async () => {
    const now = Date.now()
    const body = JSON.stringify({ v: 1, events: [{ type: 'entry', plate: '沪a·O2345', gate: 'b1-in', ts: now }, { type: 'exit', plate: '沪A1234', gate: 'b1-out', ts: now }] })
    const r = await run(['parking', body, '--topic', 'sensors/gate-carpark/parking'])
    expect(r.code).toBe(1)
    const out = JSON.parse(r.out) as { ok: boolean; events: Array<Record<string, unknown>>; rejects: Array<Record<string, unknown>> }
    expect(out.ok).toBe(false)
    expect(out.events.map((e) => [e.deviceId, e.plate, e.plateValid, e.corrected])).toEqual([
      ['gate-carpark', '沪A02345', true, true],
      ['gate-carpark', '沪A1234', false, undefined],
    ])
    expect(out.rejects).toEqual([{ code: 'STORE_EDGE_ERR_BAD_PLATE', index: 1, reason: expect.stringMatching(/^\/events\/1\/plate: a plate has 7 characters/) }])
    expect((await run(['parking', JSON.stringify({ v: 1, events: [{ type: 'entry', plate: '京AD12345', gate: 'g', ts: now }] })])).code).toBe(0)
  })

  it('needs --topic for espresense and omg, and takes the beacon id / MAC and the device id from it', async () => {
    for (const kind of ['espresense', 'omg']) {
      const r = await run([kind, '{}'])
      expect(r.code).toBe(2)
      expect(r.err).toContain(`--topic is required for ${kind}`)
    }
    expect((await run(['espresense', '{}', '--topic', 'sensors/a/ble'])).code).toBe(2)
    expect((await run(['omg', '{}', '--topic', 'espresense/devices/x/room-1'])).code).toBe(2)
    // the decoders themselves belong to the BLE engineer; here only the wiring: it runs and answers JSON
    const esp = await run(['espresense', JSON.stringify({ id: 'iBeacon:e5ca1ade-f007-ba11-0000-000000000000-1-2', rssi: -70, distance: 2.1 }), '--topic', 'espresense/devices/iBeacon:e5ca1ade-f007-ba11-0000-000000000000-1-2/room-1'])
    expect([0, 1]).toContain(esp.code)
    expect(esp.json()).toHaveProperty('ok')
    for (const s of esp.json().sightings) expect(s.sensorId).toBe('room-1')
    const omg = await run(['omg', JSON.stringify({ id: 'F0:18:98:4E:7C:21', rssi: -70 }), '--topic', 'home/gw-1/BTtoMQTT/F018984E7C21'])
    expect([0, 1]).toContain(omg.code)
    for (const s of omg.json().sightings) expect(s.sensorId).toBe('gw-1')
    expect(omg.out).not.toContain('F0:18:98')
    const ble = await run(['ble', JSON.stringify({ v: 1, ts: Date.now(), sightings: [] })])
    expect(ble.code).toBe(0)
  })

  it('exits 2 with a readable message on usage errors', async () => {
    let r = await run(['bluetooth', '{}'])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/Allowed choices are ble, wifi, espresense, omg, meraki/)
    r = await run(['wifi'])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/missing required argument 'payload'/)
    r = await run(['wifi', '{}', '--max-skew-ms', 'soon'])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/--max-skew-ms must be a positive integer/)
    r = await run(['--help'])
    expect(r.code).toBe(0)
    expect(r.out).toContain('Usage: decode')
  })
})

/** The real CLI, end to end: bin/store-edge.js → bin/cli.ts → this command. */
describe('store-edge decode (child process)', () => {
  const cli = (args: string[], input?: string) => {
    const r = spawnSync(process.execPath, ['bin/store-edge.js', 'decode', ...args], { cwd: ROOT, input, encoding: 'utf8', timeout: 30_000 })
    return { code: r.status, out: r.stdout, err: r.stderr }
  }

  it('prints pretty JSON and exits 0, 1 or 2', () => {
    const good = wifi([{ mac: 'f0:18:98:4e:7c:21', rssi: -60 }])
    let r = cli(['wifi', good])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.out)).toMatchObject({ ok: true, sightings: [{ source: 'wifi', sensorId: 'cli' }], rejects: [], note: CLI_HASH_NOTE })

    r = cli(['wifi', wifi([{ mac: 'f0:18:98:4e:7c:21', rssi: 99 }])])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, rejects: [{ code: 'STORE_EDGE_ERR_BAD_RSSI', index: 0 }] })

    r = cli(['wifi', '-'], good)
    expect(r.code).toBe(0)
    const dir = mkdtempSync(join(tmpdir(), 'store-edge-decode-'))
    writeFileSync(join(dir, 'meraki.json'), JSON.stringify({ version: '3.0', type: 'WiFi', data: { networkId: 'N_1', observations: [{ clientMac: 'zz' }] } }))
    r = cli(['meraki', `@${join(dir, 'meraki.json')}`])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.out).rejects[0]).toMatchObject({ code: 'STORE_EDGE_ERR_BAD_MAC', index: 0 })

    r = cli(['zigbee', '{}'])
    expect(r.code).toBe(2)
    expect(r.err).toContain('Allowed choices are')
    r = cli(['omg', '{}'])
    expect(r.code).toBe(2)
    expect(r.err).toContain('--topic is required for omg')
  })
})
