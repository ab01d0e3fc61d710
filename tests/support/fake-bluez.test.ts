import { fileURLToPath } from 'node:url'
import dbus from 'dbus-next'
import nodeBle from 'node-ble'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeBluez, PrivateDbus } from './fake-bluez.ts'

// The harness must look like bluetoothd to node-ble and to a plain dbus-next client: these tests
// drive it only through D-Bus (and the fake's stdin), never through its internals.

const ADVERTS = fileURLToPath(new URL('../fixtures/ble/adverts.json', import.meta.url))
const HCI0 = '/org/bluez/hci0'
const IBEACON = 'AC:23:3F:A1:05:7C'
const IBEACON_PATH = `${HCI0}/dev_AC_23_3F_A1_05_7C`
const PHONE_PATH = `${HCI0}/dev_6E_A4_19_D0_7C_35` // random address, no name, no TxPower
const EDDYSTONE_UID_PATH = `${HCI0}/dev_C8_4F_0E_33_9D_E2`
// iBeacon: 02 15 | UUID (bytes 2..17) | major 10001 | minor 1 | measured power -59 (0xC5)
const IBEACON_MD = Buffer.from('0215fda50693a4e24fb1afcfc6eb0764782527110001c5', 'hex')
const FEAA = '0000feaa-0000-1000-8000-00805f9b34fb'

const PROPS_CHANGED = "type='signal',sender='org.bluez',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'"
const OBJECT_MANAGER = "type='signal',sender='org.bluez',interface='org.freedesktop.DBus.ObjectManager'"
const OWNER_CHANGED = "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.bluez'"

type Msg = dbus.Message
type Variant = dbus.Variant
interface Adapter1Proxy extends dbus.ClientInterface {
  StartDiscovery(): Promise<void>
  StopDiscovery(): Promise<void>
  SetDiscoveryFilter(filter: Record<string, Variant>): Promise<void>
  GetDiscoveryFilters(): Promise<string[]>
  RemoveDevice(path: string): Promise<void>
}
interface PropertiesProxy extends dbus.ClientInterface {
  GetAll(iface: string): Promise<Record<string, Variant>>
  Set(iface: string, name: string, value: Variant): Promise<void>
}
interface ObjectManagerProxy extends dbus.ClientInterface {
  GetManagedObjects(): Promise<Record<string, Record<string, Record<string, Variant>>>>
}

/** A dbus-next client connection that records every signal it receives. */
class SignalClient {
  readonly bus: dbus.MessageBus
  readonly signals: Msg[] = []
  private wake: Array<() => void> = []
  constructor(address: string) {
    this.bus = dbus.sessionBus({ busAddress: address })
    this.bus.on('message', (m: Msg) => {
      if (m.type !== dbus.MessageType.SIGNAL) return
      this.signals.push(m)
      for (const w of this.wake.splice(0)) w()
    })
  }
  async addMatch(rule: string): Promise<void> {
    await this.bus.call(new dbus.Message({
      destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus',
      member: 'AddMatch', signature: 's', body: [rule],
    }))
  }
  /** First signal at index ≥ `from` matching `pred`, waiting up to `ms`. */
  async next(pred: (m: Msg) => boolean, from = 0, ms = 8000): Promise<Msg> {
    const deadline = Date.now() + ms
    for (;;) {
      const hit = this.signals.slice(from).find(pred)
      if (hit) return hit
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no matching signal within ${ms} ms (${this.signals.length} seen)`)
      await new Promise<void>((r) => {
        const t = setTimeout(r, left)
        this.wake.push(() => (clearTimeout(t), r()))
      })
    }
  }
  async adapter(): Promise<Adapter1Proxy> {
    return (await this.bus.getProxyObject('org.bluez', HCI0)).getInterface<Adapter1Proxy>('org.bluez.Adapter1')
  }
}

const isPropsChanged = (path: string, key: string) => (m: Msg) =>
  m.member === 'PropertiesChanged' && m.path === path && key in (m.body[1] as Record<string, Variant>)

/** The D-Bus error name a promise rejects with. */
async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    return (err as dbus.DBusError).type ?? String(err)
  }
  return 'resolved'
}

describe('fake BlueZ on a private dbus-daemon', () => {
  const bus = new PrivateDbus()
  let fake: FakeBluez
  let client: SignalClient
  let ble: ReturnType<typeof nodeBle.createBluetooth>
  const envBefore = process.env.DBUS_SYSTEM_BUS_ADDRESS

  beforeAll(async () => {
    await bus.start()
    fake = await new FakeBluez(bus, { advertsFile: ADVERTS }).start()
    process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address // node-ble's createBluetooth() → systemBus()
    ble = nodeBle.createBluetooth()
    client = new SignalClient(bus.address)
    for (const rule of [PROPS_CHANGED, OBJECT_MANAGER, OWNER_CHANGED]) await client.addMatch(rule)
  })

  afterAll(async () => {
    ble?.destroy()
    client?.bus.disconnect()
    await fake?.stop()
    await bus.stop()
    if (envBefore === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS
    else process.env.DBUS_SYSTEM_BUS_ADDRESS = envBefore
  })

  it('node-ble finds hci0 (via /org/bluez AgentManager1) powered and idle', async () => {
    expect(await ble.bluetooth.adapters()).toEqual(['hci0'])
    const adapter = await ble.bluetooth.defaultAdapter()
    expect(await adapter.isPowered()).toBe(true)
    expect(await adapter.isDiscovering()).toBe(false)
    expect(await adapter.getAddress()).toMatch(/^([0-9A-F]{2}:){5}[0-9A-F]{2}$/)
    expect(await adapter.devices()).toEqual([])
    const filters = await (await client.adapter()).GetDiscoveryFilters()
    expect(filters).toEqual(expect.arrayContaining(['Transport', 'DuplicateData', 'RSSI']))
    expect(await errorName((await client.adapter()).SetDiscoveryFilter({ Bogus: new dbus.Variant('b', true) })))
      .toBe('org.bluez.Error.InvalidArguments')
    expect(await errorName((await client.adapter()).StopDiscovery())).toBe('org.bluez.Error.Failed')
    expect(await errorName((await client.adapter()).RemoveDevice(`${HCI0}/dev_00_00_00_00_00_00`))).toBe('org.bluez.Error.DoesNotExist')
    // An odd call (wrong signature) is refused, and the fake keeps serving.
    const odd = new dbus.Message({ destination: 'org.bluez', path: HCI0, interface: 'org.bluez.Adapter1', member: 'StartDiscovery', signature: 's', body: ['x'] })
    expect(await errorName(client.bus.call(odd))).toBe('org.freedesktop.DBus.Error.UnknownMethod')
    expect(await adapter.isPowered()).toBe(true)
  })

  it('replays adverts: InterfacesAdded, then PropertiesChanged with the iBeacon bytes intact', async () => {
    const from = client.signals.length
    const hci0 = await client.adapter()
    await hci0.SetDiscoveryFilter({ Transport: new dbus.Variant('s', 'le'), DuplicateData: new dbus.Variant('b', true) })
    await hci0.StartDiscovery()
    const disc = await client.next(isPropsChanged(HCI0, 'Discovering'), from)
    expect(disc.body[0]).toBe('org.bluez.Adapter1')
    expect((disc.body[1] as Record<string, Variant>).Discovering!.value).toBe(true)

    const added = await client.next((m) => m.member === 'InterfacesAdded' && m.body[0] === IBEACON_PATH, from)
    expect(added.path).toBe('/')
    const dev = (added.body[1] as Record<string, Record<string, Variant>>)['org.bluez.Device1']!
    expect(dev.Address!.value).toBe(IBEACON)
    expect(dev.AddressType!.value).toBe('public')
    expect(dev.Adapter!.value).toBe(HCI0)
    expect(dev.RSSI!.signature).toBe('n')
    expect(dev.RSSI!.value).toBeGreaterThanOrEqual(-95)
    expect(dev.RSSI!.value).toBeLessThanOrEqual(-45)
    expect('Name' in dev).toBe(false) // beacons send no name: the property is absent, as in BlueZ
    const md = dev.ManufacturerData!
    expect(md.signature).toBe('a{qv}')
    const beacon = (md.value as Record<string, Variant>)['76']!
    expect(beacon.signature).toBe('ay')
    expect(Buffer.compare(beacon.value as Buffer, IBEACON_MD)).toBe(0)
    expect((beacon.value as Buffer).readUInt16BE(18)).toBe(10001) // iBeacon: bytes 18..19 major

    const changed = await client.next(isPropsChanged(IBEACON_PATH, 'RSSI'), client.signals.indexOf(added) + 1)
    expect(changed.body[0]).toBe('org.bluez.Device1')
    const props = changed.body[1] as Record<string, Variant>
    expect(props.RSSI!.signature).toBe('n')
    expect(Buffer.compare((props.ManufacturerData!.value as Record<string, Variant>)['76']!.value as Buffer, IBEACON_MD)).toBe(0)
    expect(fake.events).toContainEqual({ event: 'discovery', on: true })
    expect(fake.advertsSent()).toBeGreaterThan(1)
  })

  it('devices read back through node-ble and GetAll; absent properties stay absent', async () => {
    await client.next((m) => m.member === 'InterfacesAdded' && m.body[0] === EDDYSTONE_UID_PATH)
    await client.next((m) => m.member === 'InterfacesAdded' && m.body[0] === PHONE_PATH)
    const adapter = await ble.bluetooth.getAdapter('hci0')
    expect(await adapter.isDiscovering()).toBe(true)
    expect(await adapter.devices()).toContain(IBEACON)
    const beacon = await adapter.getDevice(IBEACON)
    const md = (await beacon.getManufacturerData()) as Record<string, Buffer>
    expect(Buffer.compare(md['76']!, IBEACON_MD)).toBe(0)
    expect(await beacon.isPaired()).toBe(false)
    expect(await errorName(beacon.getName())).toBe('org.freedesktop.DBus.Error.InvalidArgs')
    const eddystone = await adapter.getDevice('C8:4F:0E:33:9D:E2')
    const sd = (await eddystone.getServiceData()) as Record<string, Buffer>
    expect(sd[FEAA]![0]).toBe(0x00) // Eddystone frame type 0x00 = UID

    const phone = await client.bus.getProxyObject('org.bluez', PHONE_PATH)
    const all = await phone.getInterface<PropertiesProxy>('org.freedesktop.DBus.Properties').GetAll('org.bluez.Device1')
    expect(all.AddressType!.value).toBe('random')
    expect(Object.keys(all)).not.toContain('Name')
    expect(Object.keys(all)).not.toContain('TxPower')
    expect(Object.keys(all)).not.toContain('ServiceData')
    expect(all.Alias!.value).toBe('6E-A4-19-D0-7C-35')

    const root = await client.bus.getProxyObject('org.bluez', '/')
    const managed = await root.getInterface<ObjectManagerProxy>('org.freedesktop.DBus.ObjectManager').GetManagedObjects()
    expect(Object.keys(managed['/org/bluez']!)).toContain('org.bluez.AgentManager1')
    expect(Object.keys(managed[IBEACON_PATH]!)).toContain('org.bluez.Device1')
  })

  it('power off ends discovery (Discovering false); StartDiscovery then fails NotReady', async () => {
    const from = client.signals.length
    await fake.power(false)
    const off = await client.next(isPropsChanged(HCI0, 'Discovering'), from)
    expect((off.body[1] as Record<string, Variant>).Discovering!.value).toBe(false)
    await client.next(isPropsChanged(HCI0, 'Powered'), from)
    const adapter = await ble.bluetooth.getAdapter('hci0')
    expect(await adapter.isPowered()).toBe(false)
    expect(await errorName((await client.adapter()).StartDiscovery())).toBe('org.bluez.Error.NotReady')
    const sent = fake.advertsSent()
    await new Promise((r) => setTimeout(r, 1200))
    expect(fake.advertsSent()).toBe(sent) // no replay while off

    // Powered is writable, as with `busctl set-property … Powered b true`.
    const props = (await client.bus.getProxyObject('org.bluez', HCI0)).getInterface<PropertiesProxy>('org.freedesktop.DBus.Properties')
    await props.Set('org.bluez.Adapter1', 'Powered', new dbus.Variant('b', true))
    expect(await adapter.isPowered()).toBe(true)
    expect(await adapter.isDiscovering()).toBe(false)
  })

  it('kill -9 drops the name (NameOwnerChanged); a restarted fake serves again on the same bus', async () => {
    let from = client.signals.length
    await fake.kill9()
    const gone = await client.next((m) => m.member === 'NameOwnerChanged' && m.body[0] === 'org.bluez', from)
    expect(gone.body[2]).toBe('')
    expect(await errorName(ble.bluetooth.adapters())).toBe('org.freedesktop.DBus.Error.ServiceUnknown')

    from = client.signals.length
    await fake.start()
    const back = await client.next((m) => m.member === 'NameOwnerChanged' && m.body[0] === 'org.bluez', from)
    expect(back.body[2]).toMatch(/^:1\./)
    expect(await ble.bluetooth.adapters()).toEqual(['hci0'])
    const adapter = await ble.bluetooth.getAdapter('hci0')
    expect(await adapter.devices()).toEqual([]) // a fresh bluetoothd knows no devices
    await adapter.startDiscovery() // node-ble's own path: SetDiscoveryFilter({Transport:'le'}) + StartDiscovery
    const added = await client.next((m) => m.member === 'InterfacesAdded' && m.body[0] === IBEACON_PATH, from)
    expect(added.body[0]).toBe(IBEACON_PATH)

    from = client.signals.length
    await fake.removeAll()
    const removed = await client.next((m) => m.member === 'InterfacesRemoved' && m.body[0] === IBEACON_PATH, from)
    expect(removed.body[1]).toContain('org.bluez.Device1')
    await adapter.stopDiscovery()
    expect(await adapter.isDiscovering()).toBe(false)
  })
})

describe('fake BlueZ behind a D-Bus policy that denies clients', () => {
  const bus = new PrivateDbus()
  let fake: FakeBluez

  beforeAll(async () => {
    await bus.start({ denyBluez: true })
    fake = await new FakeBluez(bus, { advertsFile: ADVERTS }).start() // owning the name is allowed
  })

  afterAll(async () => {
    await fake?.stop()
    await bus.stop()
  })

  it('a client calling org.bluez gets org.freedesktop.DBus.Error.AccessDenied', async () => {
    const envBefore = process.env.DBUS_SYSTEM_BUS_ADDRESS
    process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address
    const ble = nodeBle.createBluetooth()
    try {
      expect(await errorName(ble.bluetooth.adapters())).toBe('org.freedesktop.DBus.Error.AccessDenied')
    } finally {
      ble.destroy()
      if (envBefore === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS
      else process.env.DBUS_SYSTEM_BUS_ADDRESS = envBefore
    }
  })
})
