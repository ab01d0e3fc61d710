// A BlueZ look-alike on a private D-Bus (tests only): owns org.bluez on DBUS_SYSTEM_BUS_ADDRESS,
// exports the adapter hci0 and replays recorded LE advertisements (FAKE_BLUEZ_ADVERTS) as
// Device1 objects and PropertiesChanged signals, the way bluetoothd reports them.
// Control: stdin lines `power off` | `power on` | `remove-all`. Events: one JSON line each on stdout.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import dbus from 'dbus-next'

const { Interface, ACCESS_READ, ACCESS_READWRITE } = dbus.interface
const { Variant, DBusError, Message } = dbus

const ADAPTER_PATH = '/org/bluez/hci0'
const STD_IFACES = { 'org.freedesktop.DBus.Introspectable': {}, 'org.freedesktop.DBus.Properties': {} }
// bluetoothd's GetDiscoveryFilters() answer (doc/adapter-api.txt).
const FILTER_KEYS = { UUIDs: 'as', RSSI: 'n', Pathloss: 'q', Transport: 's', DuplicateData: 'b', Discoverable: 'b', Pattern: 's' }

// dbus-next marshals a JS object as a dict but keeps its keys as strings, and its uint16
// marshaller rejects "76": ManufacturerData (a{qv}) could not be sent. Coerce numeric-string keys
// for 'q' in this process only (real bluetoothd sends a proper a{qv}; clients are unaffected).
const marshallers = createRequire(import.meta.url)('dbus-next/lib/marshallers.js')
const makeSimple = marshallers.MakeSimpleMarshaller
marshallers.MakeSimpleMarshaller = (type) => {
  const m = makeSimple(type)
  if (type !== 'q') return m
  const marshall = m.marshall
  m.marshall = function (ps, data) {
    return marshall.call(this, ps, typeof data === 'string' && /^\d+$/.test(data) ? Number(data) : data)
  }
  return m
}

const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`)
const warn = (...a) => process.stderr.write(`fake-bluez: ${a.join(' ')}\n`)
const bluezError = (name, text) => new DBusError(`org.bluez.Error.${name}`, text)

/** The properties of an interface that are set, as Variants (what GetAll and InterfacesAdded carry). */
function variantsOf(iface) {
  const props = {}
  for (const [k, opt] of Object.entries(iface.$properties ?? {})) {
    const v = iface[k]
    if (v !== undefined) props[opt.name] = new Variant(opt.signature, v)
  }
  return props
}

// ---------------------------------------------------------------- ObjectManager on '/'
class ObjectManager extends Interface {
  GetManagedObjects() {
    const objects = {
      '/org/bluez': { 'org.bluez.AgentManager1': {}, ...STD_IFACES },
      [ADAPTER_PATH]: { 'org.bluez.Adapter1': variantsOf(adapter), ...STD_IFACES },
    }
    for (const [path, dev] of devices) objects[path] = { 'org.bluez.Device1': variantsOf(dev), ...STD_IFACES }
    return objects
  }
  InterfacesAdded(path, ifaces) { return [path, ifaces] }
  InterfacesRemoved(path, names) { return [path, names] }
}
ObjectManager.configureMembers({
  methods: { GetManagedObjects: { outSignature: 'a{oa{sa{sv}}}' } },
  signals: { InterfacesAdded: { signature: 'oa{sa{sv}}' }, InterfacesRemoved: { signature: 'oas' } },
})

// ---------------------------------------------------------------- AgentManager1 on /org/bluez
class AgentManager1 extends Interface {
  RegisterAgent(_path, _capability) {}
  UnregisterAgent(_path) {}
  RequestDefaultAgent(_path) {}
}
AgentManager1.configureMembers({
  methods: { RegisterAgent: { inSignature: 'os' }, UnregisterAgent: { inSignature: 'o' }, RequestDefaultAgent: { inSignature: 'o' } },
})

// ---------------------------------------------------------------- Adapter1 on /org/bluez/hci0
class Adapter1 extends Interface {
  constructor() {
    super('org.bluez.Adapter1')
    this.powered = true
    this.discovering = false
    this.filter = {}
    /** Unique bus names of the clients that called StartDiscovery (bluetoothd keeps one session each). */
    this.clients = new Set()
  }
  get Address() { return '00:1A:7D:DA:71:0E' }
  get AddressType() { return 'public' }
  get Name() { return 'store-edge-fake' }
  get Alias() { return 'store-edge-fake' }
  get Class() { return 0 }
  get Discoverable() { return false }
  get Pairable() { return false }
  get UUIDs() { return ['00001800-0000-1000-8000-00805f9b34fb', '00001801-0000-1000-8000-00805f9b34fb'] }
  get Modalias() { return 'usb:v1D6Bp0246d0542' }
  get Powered() { return this.powered }
  set Powered(on) { setPowered(on) }
  get Discovering() { return this.discovering }

  StartDiscovery() {
    if (!this.powered) throw bluezError('NotReady', 'Resource Not Ready')
    this.clients.add(currentSender)
    setDiscovering(true)
  }
  StopDiscovery() {
    if (!this.powered) throw bluezError('NotReady', 'Resource Not Ready')
    if (!this.discovering || !this.clients.delete(currentSender)) throw bluezError('Failed', 'No discovery started')
    if (this.clients.size === 0) setDiscovering(false)
  }
  SetDiscoveryFilter(dict) {
    const next = {}
    for (const [key, v] of Object.entries(dict ?? {})) {
      if (!(key in FILTER_KEYS) || !(v instanceof Variant) || v.signature !== FILTER_KEYS[key]) {
        throw bluezError('InvalidArguments', 'Invalid arguments in method call')
      }
      if (key === 'Transport' && !['auto', 'bredr', 'le'].includes(v.value)) {
        throw bluezError('InvalidArguments', 'Invalid arguments in method call')
      }
      next[key] = v.value
    }
    this.filter = next
  }
  GetDiscoveryFilters() { return Object.keys(FILTER_KEYS) }
  RemoveDevice(path) {
    if (!devices.has(path)) throw bluezError('DoesNotExist', 'Does Not Exist')
    removeDevice(path)
  }
}
Adapter1.configureMembers({
  properties: {
    Address: { signature: 's', access: ACCESS_READ },
    AddressType: { signature: 's', access: ACCESS_READ },
    Name: { signature: 's', access: ACCESS_READ },
    Alias: { signature: 's', access: ACCESS_READ },
    Class: { signature: 'u', access: ACCESS_READ },
    Powered: { signature: 'b', access: ACCESS_READWRITE },
    Discoverable: { signature: 'b', access: ACCESS_READ },
    Pairable: { signature: 'b', access: ACCESS_READ },
    Discovering: { signature: 'b', access: ACCESS_READ },
    UUIDs: { signature: 'as', access: ACCESS_READ },
    Modalias: { signature: 's', access: ACCESS_READ },
  },
  methods: {
    StartDiscovery: {},
    StopDiscovery: {},
    SetDiscoveryFilter: { inSignature: 'a{sv}' },
    GetDiscoveryFilters: { outSignature: 'as' },
    RemoveDevice: { inSignature: 'o' },
  },
})

// ---------------------------------------------------------------- Device1 on /org/bluez/hci0/dev_*
const DEVICE_PROPS = {
  Address: 's', AddressType: 's', Name: 's', Alias: 's', Adapter: 'o', Paired: 'b', Bonded: 'b',
  Trusted: 'b', Blocked: 'b', LegacyPairing: 'b', Connected: 'b', ServicesResolved: 'b',
  RSSI: 'n', TxPower: 'n', UUIDs: 'as', ManufacturerData: 'a{qv}', ServiceData: 'a{sv}',
}

class Device1 extends Interface {
  constructor(advert) {
    super('org.bluez.Device1')
    this.v = {}
    // Per-object property table: a property the advert lacks is absent (GetAll, introspection,
    // Get → InvalidArgs), as with bluetoothd, instead of dbus-next's "property not set" error.
    this.$properties = {}
    const address = advert.address.toUpperCase()
    this.put('Address', address)
    this.put('AddressType', advert.addressType === 'public' ? 'public' : 'random')
    this.put('Alias', address.replace(/:/g, '-'))
    this.put('Adapter', ADAPTER_PATH)
    for (const k of ['Paired', 'Bonded', 'Trusted', 'Blocked', 'LegacyPairing', 'Connected', 'ServicesResolved']) this.put(k, false)
    this.update(advert, true)
  }
  put(name, value) {
    this.$properties[name] = Device1.prototype.$properties[name]
    this.v[name] = value
  }
  /** Applies an advert; returns the changed properties (JS values) for PropertiesChanged. */
  update(a, first = false) {
    const changed = {}
    const set = (k, v, always = false) => {
      const before = this.v[k]
      const same = before !== undefined && JSON.stringify(before) === JSON.stringify(v)
      this.put(k, v)
      if (!first && (always || !same)) changed[k] = v
    }
    const dup = adapter.filter.DuplicateData !== false
    set('RSSI', a.rssi, true)
    if (typeof a.txPower === 'number') set('TxPower', a.txPower)
    if (typeof a.name === 'string' && a.name) {
      set('Name', a.name)
      set('Alias', a.name)
    }
    if (Array.isArray(a.uuids) && a.uuids.length) {
      set('UUIDs', [...new Set([...(this.v.UUIDs ?? []), ...a.uuids.map((u) => u.toLowerCase())])])
    }
    if (a.manufacturerData) set('ManufacturerData', mergeData(this.v.ManufacturerData, a.manufacturerData, Number), dup)
    if (a.serviceData) set('ServiceData', mergeData(this.v.ServiceData, a.serviceData, (k) => k.toLowerCase()), dup)
    return changed
  }
  Connect() { throw bluezError('Failed', 'le-connection-abort-by-local') }
  Disconnect() { throw bluezError('NotConnected', 'Not Connected') }
  Pair() { throw bluezError('AuthenticationFailed', 'Authentication Failed') }
  CancelPair() { throw bluezError('DoesNotExist', 'Does Not Exist') }
}
for (const name of Object.keys(DEVICE_PROPS)) {
  Object.defineProperty(Device1.prototype, name, { get() { return this.v[name] }, configurable: true })
}
Device1.configureMembers({
  properties: Object.fromEntries(Object.entries(DEVICE_PROPS).map(([k, signature]) => [k, { signature, access: ACCESS_READ }])),
  methods: { Connect: {}, Disconnect: {}, Pair: {}, CancelPair: {} },
})

/** Merges `{ key: hex }` into a dict of `ay` Variants (bluetoothd keeps other keys' data). */
function mergeData(prev, hexByKey, keyOf) {
  const merged = { ...(prev ?? {}) }
  for (const [k, hex] of Object.entries(hexByKey)) merged[keyOf(k)] = new Variant('ay', Buffer.from(String(hex), 'hex'))
  return merged
}

// ---------------------------------------------------------------- state and replay
const adapter = new Adapter1()
const objectManager = new ObjectManager('org.freedesktop.DBus.ObjectManager')
const devices = new Map()
let currentSender = ''
let sent = 0
let timer = null

const adverts = loadAdverts(process.env.FAKE_BLUEZ_ADVERTS)
const loopMs = Number(process.env.FAKE_BLUEZ_LOOP_MS) > 0
  ? Number(process.env.FAKE_BLUEZ_LOOP_MS)
  : (adverts.at(-1)?.atMs ?? 0) + 1000

function loadAdverts(file) {
  if (!file) return []
  try {
    const list = JSON.parse(readFileSync(file, 'utf8'))
    const ok = (a) => a && typeof a.atMs === 'number' && typeof a.rssi === 'number' &&
      typeof a.address === 'string' && /^([0-9A-F]{2}:){5}[0-9A-F]{2}$/i.test(a.address)
    const good = Array.isArray(list) ? list.filter(ok) : []
    if (!Array.isArray(list) || good.length !== list.length) warn('skipped malformed adverts in', file)
    return good.sort((a, b) => a.atMs - b.atMs)
  } catch (err) {
    warn('cannot read adverts:', err.message)
    return []
  }
}

const devicePath = (address) => `${ADAPTER_PATH}/dev_${address.toUpperCase().replace(/:/g, '_')}`

function deliver(a) {
  const f = adapter.filter
  if (f.Transport === 'bredr') return // recorded adverts are LE
  if (typeof f.RSSI === 'number' && a.rssi < f.RSSI) return
  const path = devicePath(a.address)
  let dev = devices.get(path)
  if (!dev) {
    dev = new Device1(a)
    devices.set(path, dev)
    bus.export(path, dev)
    objectManager.InterfacesAdded(path, { 'org.bluez.Device1': variantsOf(dev), ...STD_IFACES })
  } else {
    const changed = dev.update(a)
    if (Object.keys(changed).length) Interface.emitPropertiesChanged(dev, changed, [])
  }
  out({ event: 'advert', address: a.address.toUpperCase(), n: ++sent })
}

function startReplay() {
  if (timer || adverts.length === 0) return
  const t0 = Date.now()
  let i = 0
  let loop = 0
  const next = () => {
    const a = adverts[i]
    const due = t0 + loop * loopMs + a.atMs
    timer = setTimeout(() => {
      try { deliver(a) } catch (err) { warn('advert failed:', err.stack) }
      if (++i >= adverts.length) { i = 0; loop += 1 }
      next()
    }, Math.max(0, due - Date.now()))
  }
  next()
}

function stopReplay() {
  clearTimeout(timer)
  timer = null
}

function setDiscovering(on) {
  if (adapter.discovering === on) return
  adapter.discovering = on
  if (!on) adapter.clients.clear()
  Interface.emitPropertiesChanged(adapter, { Discovering: on }, [])
  if (on) startReplay()
  else stopReplay()
  out({ event: 'discovery', on })
}

function setPowered(on) {
  on = Boolean(on)
  if (adapter.powered === on) {
    out({ event: 'powered', on })
    return
  }
  if (!on) setDiscovering(false) // bluetoothd ends every discovery session on power-down
  adapter.powered = on
  Interface.emitPropertiesChanged(adapter, { Powered: on }, [])
  out({ event: 'powered', on })
}

function removeDevice(path) {
  if (!devices.delete(path)) return
  bus.unexport(path)
  objectManager.InterfacesRemoved(path, ['org.freedesktop.DBus.Properties', 'org.freedesktop.DBus.Introspectable', 'org.bluez.Device1'])
}

// ---------------------------------------------------------------- bus
const bus = dbus.systemBus()
bus.on('error', (err) => {
  warn('bus error:', err?.message ?? err)
  process.exit(1)
})
// dbus-next emits 'message' just before dispatching it: the caller of StartDiscovery/StopDiscovery.
bus.on('message', (msg) => {
  currentSender = msg.sender ?? ''
  // bluetoothd drops a client's discovery session when the client leaves the bus.
  if (msg.member === 'NameOwnerChanged' && msg.sender === 'org.freedesktop.DBus') {
    const [name, , newOwner] = msg.body
    if (!newOwner && adapter.clients.delete(name) && adapter.clients.size === 0) setDiscovering(false)
  }
})
process.on('uncaughtException', (err) => warn('uncaught:', err.stack))

function shutdown() {
  stopReplay()
  try { bus.disconnect() } catch { /* already gone */ }
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim()
  try {
    if (cmd === 'power off') setPowered(false)
    else if (cmd === 'power on') setPowered(true)
    else if (cmd === 'remove-all') {
      const n = devices.size
      for (const path of [...devices.keys()]) removeDevice(path)
      out({ event: 'removed', count: n })
    } else if (cmd) warn('unknown command:', cmd)
  } catch (err) {
    warn('command failed:', err.stack)
  }
})

bus.export('/', objectManager)
bus.export('/org/bluez', new AgentManager1('org.bluez.AgentManager1'))
bus.export(ADAPTER_PATH, adapter)
await bus.call(new Message({
  destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus',
  member: 'AddMatch', signature: 's', body: ["type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'"],
}))
const reply = await bus.requestName('org.bluez', dbus.NameFlag.DO_NOT_QUEUE)
if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) {
  warn('could not own org.bluez, reply', reply)
  process.exit(1)
}
out({ event: 'ready' })
