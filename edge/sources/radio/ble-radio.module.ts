import { createRequire } from 'node:module'
import dbus, { Message, type MessageBus } from 'dbus-next'
import { Counter, Gauge, type Registry } from 'prom-client'
import { topics, type BleBatch, type BleSightingItem } from '../../contracts/index.ts'
import type { Clock } from '../../core/clock.ts'
import type { EdgeConfig } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import type { EdgeModule } from '../../core/module.ts'
import { plainProps, sightingFromBluez, type BluezDevice } from './bluez-adverts.ts'

/**
 * The edge box's own Bluetooth radio as one more BLE scanner. BlueZ is driven over D-Bus: node-ble
 * for the adapter (list, power, discovery), and BlueZ's own signals for the advertisements
 * (ObjectManager.InterfacesAdded for a new device, Properties.PropertiesChanged on Device1 for
 * every later advertisement, which BlueZ sends for each one when the discovery filter has
 * DuplicateData). Each advertisement becomes the sighting an ESP32 scanner would publish (raw AD
 * structures, see bluez-adverts.ts); they are batched and published on the edge's own broker as
 * `sensors/{sensor}/ble`, with a retained `sensors/{sensor}/status`, so the same decoders, privacy
 * hashing, presence and device list handle the radio as any scanner. The sensor's zone comes from
 * the `sensors` entry.
 *
 * In the field it fails in known ways, each a state with a reason in /health and /metrics, a log
 * line when it changes, and a retry with exponential backoff and jitter; the rest of the edge never
 * waits on it: no D-Bus system bus, permission denied by the D-Bus policy, BlueZ not running (or
 * restarted: its name owner changes), no adapter, adapter powered off (rfkill) or removed.
 */

export type RadioState = 'starting' | 'scanning' | 'no-adapter' | 'powered-off' | 'bluez-unavailable' | 'dbus-unavailable' | 'permission-denied' | 'error' | 'stopped'
const STATES: RadioState[] = ['starting', 'scanning', 'no-adapter', 'powered-off', 'bluez-unavailable', 'dbus-unavailable', 'permission-denied', 'error', 'stopped']

export interface RadioStatus {
  state: RadioState
  reason: string | null
  adapter: string | null
  since: number
  retries: number
  nextRetryAt: number | null
  adverts: number
  devices: number
}

interface NodeBleAdapter {
  isPowered(): Promise<boolean>
  isDiscovering(): Promise<boolean>
  helper: { callMethod(name: string, ...args: unknown[]): Promise<unknown>; set(name: string, value: unknown): Promise<void> }
}
interface NodeBleBluetooth {
  adapters(): Promise<string[]>
  getAdapter(name: string): Promise<NodeBleAdapter>
}
// node-ble's Bluetooth class takes the bus we made (index.js only offers the default system bus).
const Bluetooth = createRequire(import.meta.url)('node-ble/src/Bluetooth.js') as new (bus: MessageBus) => NodeBleBluetooth

const BLUEZ = 'org.bluez'
const DEVICE1 = 'org.bluez.Device1'
const ADAPTER1 = 'org.bluez.Adapter1'
const PROPS = 'org.freedesktop.DBus.Properties'
const OBJECT_MANAGER = 'org.freedesktop.DBus.ObjectManager'
const CONNECT_TIMEOUT_MS = 15_000

export interface RadioDeps {
  cfg: EdgeConfig
  clock: Clock
  log: Logger
  registry: Registry
  /** Publish raw bytes on the edge's broker (QoS 1). */
  publish: (topic: string, payload: Buffer, retain: boolean) => Promise<void>
}

class RadioFailure extends Error {
  constructor(
    readonly state: RadioState,
    message: string,
  ) {
    super(message)
  }
}

/** A D-Bus or connection error → the state an installer can act on. */
export function classify(err: unknown): RadioFailure {
  if (err instanceof RadioFailure) return err
  const e = err as { type?: string; code?: string; message?: string; text?: string }
  const type = e.type ?? ''
  const msg = e.text ?? e.message ?? String(err)
  if (type === 'org.freedesktop.DBus.Error.AccessDenied' || /AccessDenied|not allowed|EACCES/i.test(msg)) return new RadioFailure('permission-denied', `D-Bus refused access to BlueZ: ${msg} (add the service user to the bluetooth group or allow it in /etc/dbus-1/system.d; see deploy/edge/README.md)`)
  if (type === 'org.freedesktop.DBus.Error.ServiceUnknown' || type === 'org.freedesktop.DBus.Error.NameHasNoOwner' || /was not provided by any \.service/.test(msg)) return new RadioFailure('bluez-unavailable', `BlueZ is not running on the system bus (${msg}); start bluetoothd`)
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || /ENOENT|ECONNREFUSED|connect/i.test(msg)) return new RadioFailure('dbus-unavailable', `no D-Bus system bus: ${msg}`)
  if (type === 'org.bluez.Error.NotReady') return new RadioFailure('powered-off', `the adapter is not ready (powered off?): ${msg}`)
  return new RadioFailure('error', msg)
}

export class BleRadioModule implements EdgeModule {
  readonly name = 'radio'
  private bus?: MessageBus
  private adapterPath = ''
  private readonly devices = new Map<string, BluezDevice>()
  private pending = new Map<string, BleSightingItem>()
  private st: RadioStatus
  private retryTimer?: NodeJS.Timeout
  private batchTimer?: NodeJS.Timeout
  private stopped = false
  private attempt = 0
  private readonly m: { state: Gauge; adverts: Counter; failures: Counter; retries: Counter; devices: Gauge }

  constructor(private readonly d: RadioDeps) {
    this.st = { state: 'starting', reason: null, adapter: null, since: d.clock.now(), retries: 0, nextRetryAt: null, adverts: 0, devices: 0 }
    const registers = [d.registry]
    this.m = {
      state: new Gauge({ name: 'store_edge_radio_state', help: 'The edge’s own Bluetooth radio: 1 for its current state (scanning, no-adapter, powered-off, bluez-unavailable, dbus-unavailable, permission-denied, error).', labelNames: ['state'], registers }),
      adverts: new Counter({ name: 'store_edge_radio_adverts_total', help: 'Advertisements heard by the edge’s own radio.', registers }),
      failures: new Counter({ name: 'store_edge_radio_failures_total', help: 'Times the radio stopped scanning, by state.', labelNames: ['state'], registers }),
      retries: new Counter({ name: 'store_edge_radio_retries_total', help: 'Attempts to (re)start scanning after a failure.', registers }),
      devices: new Gauge({ name: 'store_edge_radio_devices', help: 'Devices BlueZ currently lists under the adapter.', registers }),
    }
    this.setState('starting', null)
  }

  status(): RadioStatus {
    return { ...this.st, devices: this.devices.size }
  }

  get sensorId(): string {
    return this.d.cfg.radio.sensor
  }

  async start(): Promise<void> {
    this.batchTimer = setInterval(() => void this.flush(), this.d.cfg.radio.batchMs)
    this.batchTimer.unref()
    // The first attempt runs in the background: a bus that never answers must not hold up the edge.
    void this.connect()
  }

  private setState(state: RadioState, reason: string | null): void {
    const changed = state !== this.st.state || reason !== this.st.reason
    this.st = { ...this.st, state, reason, since: changed ? this.d.clock.now() : this.st.since }
    for (const s of STATES) this.m.state.set({ state: s }, s === state ? 1 : 0)
    if (!changed) return
    if (state === 'scanning') this.d.log.info({ adapter: this.st.adapter, sensor: this.sensorId }, 'Bluetooth radio scanning')
    else if (state !== 'starting' && state !== 'stopped') this.d.log.warn({ state, reason, retryInMs: this.st.nextRetryAt ? this.st.nextRetryAt - this.d.clock.now() : null }, 'Bluetooth radio not scanning')
  }

  private async connect(): Promise<void> {
    if (this.stopped) return
    const r = this.d.cfg.radio
    let timer: NodeJS.Timeout | undefined
    try {
      const bus = r.busAddress ? dbus.sessionBus({ busAddress: r.busAddress }) : dbus.systemBus()
      this.bus = bus
      // A call on a bus whose connection failed never answers: every step races the bus's error and a timeout.
      const broken = new Promise<never>((_, reject) => {
        bus.once('error', reject)
        timer = setTimeout(() => reject(new RadioFailure('error', `no answer on the D-Bus system bus within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS)
      })
      broken.catch(() => undefined)
      const step = <T>(p: Promise<T>): Promise<T> => Promise.race([p, broken])
      bus.on('error', (err: Error) => this.fail(classify(err)))
      bus.on('message', (msg: Message) => this.onMessage(msg))
      await step(this.addMatch(`type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${BLUEZ}'`))
      const bluetooth = new Bluetooth(bus)
      const names = await step(bluetooth.adapters())
      const name = r.adapter || names[0]
      if (!name || !names.includes(name)) throw new RadioFailure('no-adapter', r.adapter ? `adapter ${r.adapter} not found (BlueZ has: ${names.join(', ') || 'none'})` : 'BlueZ has no Bluetooth adapter')
      this.st.adapter = name
      this.adapterPath = `/org/bluez/${name}`
      const adapter = await step(bluetooth.getAdapter(name))
      await step(this.addMatch(`type='signal',sender='${BLUEZ}',interface='${PROPS}',member='PropertiesChanged',path_namespace='${this.adapterPath}'`))
      await step(this.addMatch(`type='signal',sender='${BLUEZ}',interface='${OBJECT_MANAGER}'`))
      if (!(await step(adapter.isPowered()))) {
        if (!r.powerOn) throw new RadioFailure('powered-off', `adapter ${name} is powered off (radio.powerOn is false)`)
        try {
          await step(adapter.helper.set('Powered', new dbus.Variant('b', true)))
        } catch (err) {
          throw new RadioFailure('powered-off', `adapter ${name} is powered off and could not be powered on: ${classify(err).message} (rfkill unblock bluetooth?)`)
        }
      }
      await step(this.loadDevices())
      await step(adapter.helper.callMethod('SetDiscoveryFilter', { Transport: new dbus.Variant('s', 'le'), DuplicateData: new dbus.Variant('b', true) }))
      if (!(await step(adapter.isDiscovering()))) {
        try {
          await step(adapter.helper.callMethod('StartDiscovery'))
        } catch (err) {
          if (!/InProgress/.test(String((err as { type?: string }).type))) throw err
        }
      }
      if (this.stopped || this.bus !== bus) {
        // Stopped, or failed (and torn down) while this attempt was under way.
        if (this.bus === bus) this.teardown()
        return
      }
      this.attempt = 0
      this.st.retries = 0
      this.st.nextRetryAt = null
      this.setState('scanning', null)
      await this.publishStatus('online')
    } catch (err) {
      this.fail(classify(err))
    } finally {
      clearTimeout(timer)
    }
  }

  private async addMatch(rule: string): Promise<void> {
    await this.bus!.call(new Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's', body: [rule] }))
  }

  private async loadDevices(): Promise<void> {
    const reply = await this.bus!.call(new Message({ destination: BLUEZ, path: '/', interface: OBJECT_MANAGER, member: 'GetManagedObjects' }))
    const objects = (reply?.body[0] ?? {}) as Record<string, Record<string, Record<string, unknown>>>
    this.devices.clear()
    for (const [path, ifaces] of Object.entries(objects)) {
      if (path.startsWith(this.adapterPath + '/') && ifaces[DEVICE1]) this.devices.set(path, plainProps(ifaces[DEVICE1]))
    }
    this.m.devices.set(this.devices.size)
  }

  private onMessage(msg: Message): void {
    if (msg.type !== dbus.MessageType.SIGNAL || this.st.state !== 'scanning') return
    try {
      if (msg.member === 'NameOwnerChanged' && msg.body[0] === BLUEZ) {
        if (!msg.body[2]) this.fail(new RadioFailure('bluez-unavailable', 'BlueZ left the system bus (bluetoothd stopped or restarted)'))
        return
      }
      const path = msg.path ?? ''
      if (msg.interface === OBJECT_MANAGER && msg.member === 'InterfacesAdded') {
        const [objPath, ifaces] = msg.body as [string, Record<string, Record<string, unknown>>]
        if (objPath.startsWith(this.adapterPath + '/') && ifaces[DEVICE1]) {
          const dev = plainProps(ifaces[DEVICE1])
          this.devices.set(objPath, dev)
          this.m.devices.set(this.devices.size)
          if (typeof dev.RSSI === 'number') this.heard(dev)
        }
        return
      }
      if (msg.interface === OBJECT_MANAGER && msg.member === 'InterfacesRemoved') {
        const [objPath, ifaces] = msg.body as [string, string[]]
        if (objPath === this.adapterPath && ifaces.includes(ADAPTER1)) this.fail(new RadioFailure('no-adapter', `adapter ${this.st.adapter} was removed`))
        else if (ifaces.includes(DEVICE1) && this.devices.delete(objPath)) this.m.devices.set(this.devices.size)
        return
      }
      if (msg.interface === PROPS && msg.member === 'PropertiesChanged') {
        const [iface, changed] = msg.body as [string, Record<string, unknown>]
        const props = plainProps(changed)
        if (iface === ADAPTER1 && path === this.adapterPath) {
          const p = props as { Powered?: boolean; Discovering?: boolean }
          if (p.Powered === false) this.fail(new RadioFailure('powered-off', `adapter ${this.st.adapter} was powered off`))
          else if (p.Discovering === false) void this.discoveryStopped()
          return
        }
        if (iface !== DEVICE1 || !path.startsWith(this.adapterPath + '/')) return
        const dev = { ...(this.devices.get(path) ?? {}), ...props }
        this.devices.set(path, dev)
        if ('RSSI' in props || 'ManufacturerData' in props || 'ServiceData' in props) this.heard(dev)
      }
    } catch (err) {
      this.d.log.warn({ err, member: msg.member, path: msg.path }, 'unreadable BlueZ signal ignored')
    }
  }

  /** Discovery ended without us: the adapter going down says Discovering first, then Powered. */
  private async discoveryStopped(): Promise<void> {
    const bus = this.bus
    if (!bus) return
    try {
      const reply = await bus.call(new Message({ destination: BLUEZ, path: this.adapterPath, interface: PROPS, member: 'Get', signature: 'ss', body: [ADAPTER1, 'Powered'] }))
      const powered = (reply?.body[0] as { value?: unknown } | undefined)?.value
      if (bus !== this.bus) return // already failed meanwhile
      if (powered === false) this.fail(new RadioFailure('powered-off', `adapter ${this.st.adapter} was powered off`))
      else this.fail(new RadioFailure('error', `discovery on ${this.st.adapter} was stopped by another program`))
    } catch (err) {
      if (bus === this.bus) this.fail(classify(err))
    }
  }

  private heard(dev: BluezDevice): void {
    const s = sightingFromBluez(dev, this.d.clock.now())
    if (!s) return
    this.st.adverts++
    this.m.adverts.inc()
    this.pending.set(s.mac, s) // one sighting per device and batch: the latest
  }

  private async flush(): Promise<void> {
    if (!this.pending.size) return
    const batch: BleBatch = { v: 1, ts: this.d.clock.now(), sightings: [...this.pending.values()] }
    this.pending = new Map()
    await this.d.publish(topics.sensor(this.sensorId, 'ble'), Buffer.from(JSON.stringify(batch)), false).catch((err: Error) => this.d.log.warn({ err: err.message }, 'radio batch not published'))
  }

  private fail(f: RadioFailure): void {
    if (this.stopped) return
    if (this.retryTimer && this.st.state !== 'scanning' && this.st.state !== 'starting') return // already waiting to retry
    const r = this.d.cfg.radio
    const base = Math.min(r.retryMaxMs, r.retryMinMs * 2 ** Math.min(this.attempt, 20))
    const delay = Math.round(base * (0.75 + Math.random() * 0.5))
    this.attempt++
    this.st.retries = this.attempt
    this.st.nextRetryAt = this.d.clock.now() + delay
    this.m.failures.inc({ state: f.state })
    this.setState(f.state, f.message)
    void this.flush()
    void this.publishStatus('offline')
    this.teardown()
    clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.m.retries.inc()
      void this.connect()
    }, delay)
    this.retryTimer.unref()
  }

  private teardown(): void {
    const bus = this.bus
    this.bus = undefined
    this.devices.clear()
    this.m.devices.set(0)
    if (bus) {
      // A late error of this old connection must not fail the next one.
      bus.removeAllListeners('message')
      bus.removeAllListeners('error')
      bus.on('error', () => undefined)
      try {
        bus.disconnect()
      } catch {
        // already gone
      }
    }
  }

  private async publishStatus(s: 'online' | 'offline'): Promise<void> {
    await this.d.publish(topics.sensorStatus(this.sensorId), Buffer.from(s), true).catch(() => undefined)
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.retryTimer)
    clearInterval(this.batchTimer)
    await this.flush()
    if (this.st.state === 'scanning' && this.bus && this.adapterPath) {
      await this.bus.call(new Message({ destination: BLUEZ, path: this.adapterPath, interface: ADAPTER1, member: 'StopDiscovery' })).catch(() => undefined)
    }
    await this.publishStatus('offline')
    this.teardown()
    this.setState('stopped', null)
  }
}
