import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Sighting } from '../edge/contracts/index.ts'
import { EdgeApp } from '../edge/app.ts'
import { collectJson, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'
import { FakeBluez, PrivateDbus } from './support/fake-bluez.ts'

/**
 * The edge box's own radio against BlueZ's D-Bus interface: a private dbus-daemon and a BlueZ-like
 * service replaying recorded advertisements (tests/fixtures/ble/, an iBeacon, Eddystone beacons,
 * phones with random addresses) through Adapter1/Device1 property changes. The source talks to it
 * exactly as it would to bluetoothd. Its sightings must come out of the same decoders, hashing and
 * presence as an MQTT scanner's; every failure must show in /health and /metrics and heal.
 */
const ADVERTS = fileURLToPath(new URL('./fixtures/ble/adverts.json', import.meta.url))
const recorded = JSON.parse(readFileSync(ADVERTS, 'utf8')) as Array<{ address: string }>

interface Health {
  status: string
  radio: { state: string; reason: string | null; adapter: string | null; adverts: number; retries: number } | null
  devices: Array<{ id: string; online: boolean }>
}

describe('the edge box’s own Bluetooth radio (BlueZ over D-Bus)', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let bus: PrivateDbus
  let bluez: FakeBluez
  const edges: EdgeApp[] = []

  const edgeWith = async (radio: Record<string, unknown>, busAddress = bus.address) => {
    const e = await new EdgeApp({
      config: testConfig(`${dir}/edge-${edges.length}`, {
        zones: [{ id: 'entrance', name: 'Entrance' }],
        sensors: [{ id: 'edge-radio', zone: 'entrance', kind: 'ble' }],
        radio: { enabled: true, busAddress, retryMinMs: 200, retryMaxMs: 1000, batchMs: 300, ...radio },
      }),
      logger: testLogger(),
      defaultMetrics: false,
    }).start()
    edges.push(e)
    return e
  }
  const health = async (e: EdgeApp) => (await (await fetch(`${e.api.url}/health`)).json()) as Health
  const metrics = async (e: EdgeApp) => (await fetch(`${e.api.url}/metrics`)).text()
  const state = async (e: EdgeApp, want: string) => waitFor(async () => ((await health(e)).radio?.state === want ? health(e) : false), `radio ${want}`, 20_000)

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('store-edge-radio-'))
    bus = await new PrivateDbus().start()
    bluez = await new FakeBluez(bus, { advertsFile: ADVERTS }).start()
  }, 30_000)

  afterEach(async () => {
    while (edges.length) await edges.pop()!.stop()
    // Each test starts with BlueZ running and powered, whatever the one before left.
    await bluez.power(true).catch(() => bluez.start())
  })

  afterAll(async () => {
    await bluez?.stop()
    await bus?.stop()
    await cleanup()
  })

  it('scans with duplicates, and its adverts go through the scanner path: decoded beacons, hashed addresses, the radio a device in its zone', { timeout: 60_000 }, async () => {
    const edge = await edgeWith({})
    const batches: Array<{ v: number; sightings: Array<{ mac: string; adv?: string }> }> = []
    await collectJson(edge, 'sensors/edge-radio/ble', batches)
    const decoded: Sighting[] = []
    edge.bus.subscriber('test').onSightings((e) => {
      if (e.deviceId === 'edge-radio') decoded.push(...e.sightings)
    })
    const h = await state(edge, 'scanning')
    expect(h.radio).toMatchObject({ state: 'scanning', reason: null, adapter: 'hci0' })
    // Every recorded device heard, the iBeacons decoded as beacons by the same decoders as an ESP32's.
    await waitFor(() => new Set(batches.flatMap((b) => b.sightings.map((s) => s.mac))).size >= new Set(recorded.map((r) => r.address)).size, 'every recorded device in a batch', 20_000)
    await waitFor(() => decoded.some((s) => s.beacon?.uuid === 'fda50693-a4e2-4fb1-afcf-c6eb07647825'), 'the iBeacon decoded')
    expect(decoded.some((s) => s.idKind.startsWith('eddystone'))).toBe(true)
    expect(decoded.some((s) => s.randomAddress)).toBe(true)
    // The raw MACs stop at the decoder: nothing after it carries them.
    const after = JSON.stringify(decoded)
    for (const r of recorded) expect(after).not.toContain(r.address.toLowerCase())
    // Duplicates: the same devices again and again (BlueZ's DuplicateData), not once each.
    const before = (await health(edge)).radio!.adverts
    await waitFor(async () => (await health(edge)).radio!.adverts > before + recorded.length, 'repeated adverts', 20_000)
    // The radio is a device like any scanner, online, in /health; and /health is ok.
    const h2 = await health(edge)
    expect(h2.status).toBe('ok')
    expect(h2.devices.find((d) => d.id === 'edge-radio')?.online).toBe(true)
    expect(await metrics(edge)).toMatch(/store_edge_radio_state\{state="scanning"\} 1/)
  })

  it('BlueZ killed mid-scan: reported, the edge runs on, and scanning resumes when BlueZ returns', { timeout: 60_000 }, async () => {
    const edge = await edgeWith({})
    await state(edge, 'scanning')
    await bluez.kill9()
    const down = await state(edge, 'bluez-unavailable')
    expect(down.status).toBe('degraded')
    expect(down.radio!.reason).toMatch(/BlueZ/)
    // The radio's offline status goes through the broker and the device list like any scanner's.
    await waitFor(async () => (await health(edge)).devices.find((d) => d.id === 'edge-radio')?.online === false, 'the radio device offline')
    expect(await metrics(edge)).toMatch(/store_edge_radio_failures_total\{state="bluez-unavailable"\} [1-9]/)
    // The rest of the edge keeps answering meanwhile.
    expect((await fetch(`${edge.api.url}/v1/stats`)).status).toBeLessThan(500)
    await bluez.start()
    const up = await state(edge, 'scanning')
    expect(up.radio!.retries).toBe(0) // a scan that works again ends the failure streak
    const adverts = up.radio!.adverts
    await waitFor(async () => (await health(edge)).radio!.adverts > adverts, 'adverts again after the restart', 20_000)
  })

  it('adapter powered off: reported; with powerOn the edge powers it back on, without it waits for someone to', { timeout: 60_000 }, async () => {
    const edge = await edgeWith({ powerOn: false })
    await state(edge, 'scanning')
    await bluez.power(false)
    const off = await state(edge, 'powered-off')
    expect(off.radio!.reason).toMatch(/powered off/)
    await new Promise((r) => setTimeout(r, 1500)) // retries pass; powerOn is false: it stays off
    expect((await health(edge)).radio!.state).toBe('powered-off')
    await bluez.power(true)
    await state(edge, 'scanning')
    await edges.pop()!.stop()

    const auto = await edgeWith({ powerOn: true })
    await state(auto, 'scanning')
    await bluez.power(false)
    await waitFor(async () => (await metrics(auto)).match(/store_edge_radio_failures_total\{state="powered-off"\} [1-9]/), 'the power-off noticed')
    await state(auto, 'scanning') // powered back on by the edge itself
    expect(bluez.events.filter((e) => e.event === 'powered' && e.on === true).length).toBeGreaterThanOrEqual(2)
  })

  it('no such adapter, no bus, D-Bus permission denied: each a clear state, retried', { timeout: 60_000 }, async () => {
    const wrong = await edgeWith({ adapter: 'hci7' })
    const a = await state(wrong, 'no-adapter')
    expect(a.radio!.reason).toContain('adapter hci7 not found (BlueZ has: hci0)')

    const nobus = await edgeWith({}, `unix:path=${dir}/no-such-bus`)
    const b = await state(nobus, 'dbus-unavailable')
    expect(b.radio!.reason).toMatch(/no D-Bus system bus/)
    await waitFor(async () => (await health(nobus)).radio!.retries >= 2, 'retried with backoff')

    const denied = await new PrivateDbus().start({ denyBluez: true })
    const deniedBluez = await new FakeBluez(denied, { advertsFile: ADVERTS }).start()
    try {
      const e = await edgeWith({}, denied.address)
      const c = await state(e, 'permission-denied')
      expect(c.radio!.reason).toMatch(/D-Bus refused access to BlueZ/)
    } finally {
      while (edges.length) await edges.pop()!.stop()
      await deniedBluez.stop()
      await denied.stop()
    }
  })
})
