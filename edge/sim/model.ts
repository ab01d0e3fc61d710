import { demoStore, zoneAt, type Point, type Point3, type Rect, type StoreLayout } from './demo-store.ts'
import { memberRef, memberTiers, simulatedMembers } from './members.ts'
import { randomPlate, readPlate } from './plates.ts'

/**
 * The store model: who is where, carrying what, at every instant. Pure and deterministic: all
 * randomness comes from one seeded PRNG and all time from `step(nowMs)`, so a seed and a start
 * time replay the same day, person for person. It knows the ground truth the edge tries to infer.
 */

// ───────────────────────────── randomness ─────────────────────────────

/** mulberry32: tiny, fast, good enough for a simulation, and reproducible everywhere. */
export class Rng {
  private a: number
  constructor(seed: number) {
    this.a = seed >>> 0
  }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0
    let t = this.a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next()
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  bool(p: number): boolean {
    return this.next() < p
  }
  /** Box–Muller. */
  normal(mean = 0, sd = 1): number {
    const u = 1 - this.next()
    const v = this.next()
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(this.normal(0, sigma))
  }
  /** Knuth's method; fine for the small rates of one simulation step. */
  poisson(lambda: number): number {
    if (lambda <= 0) return 0
    if (lambda > 30) return Math.max(0, Math.round(this.normal(lambda, Math.sqrt(lambda))))
    const limit = Math.exp(-lambda)
    let k = 0
    let p = this.next()
    while (p > limit) {
      k++
      p *= this.next()
    }
    return k
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }
  weighted<T>(items: ReadonlyArray<readonly [T, number]>): T {
    const total = items.reduce((s, [, w]) => s + w, 0)
    let r = this.next() * total
    for (const [item, w] of items) {
      r -= w
      if (r < 0) return item
    }
    return items[items.length - 1]![0]
  }
  byte(): number {
    return this.int(256)
  }
  /** A child generator, so one consumer's draws do not shift another's sequence. */
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 4294967296))
  }
}

// ───────────────────────────── curves ─────────────────────────────

/**
 * Shoppers per hour relative to the peak, by local hour (typical department store: a lunch peak,
 * a dip in the afternoon, an early-evening peak). Zero while closed.
 */
export const SHOPPER_CURVE: readonly number[] = [
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 00–09 closed
  0.35, 0.7, 1.0, 0.85, 0.6, 0.55, 0.65, 0.85, 0.95, 0.9, 0.6, 0.3, // 10–21
  0, 0, // 22–23 closed
]

/** Pedestrians on the street per hour relative to the peak, by local hour (never quite zero). */
export const PASSER_CURVE: readonly number[] = [
  0.05, 0.03, 0.02, 0.02, 0.03, 0.08, 0.2, 0.5, 0.8, 0.6, 0.5, 0.7,
  1.0, 0.9, 0.6, 0.6, 0.7, 0.9, 1.0, 0.8, 0.6, 0.4, 0.25, 0.1,
]

// ───────────────────────────── addresses ─────────────────────────────

const hex2 = (b: number) => b.toString(16).padStart(2, '0')
const macOf = (bytes: number[]) => bytes.map(hex2).join(':')

/** BLE resolvable private address: the two most significant bits of the address are 0b01 (Core spec Vol 6 Part B 1.3.2.2). */
export function randomBleAddress(rng: Rng): string {
  const b = Array.from({ length: 6 }, () => rng.byte())
  b[0] = (b[0]! & 0x3f) | 0x40
  return macOf(b)
}

/** Randomised Wi-Fi MAC: locally administered (bit 0x02 of the first octet), unicast (bit 0x01 clear). */
export function randomWifiMac(rng: Rng): string {
  const b = Array.from({ length: 6 }, () => rng.byte())
  b[0] = (b[0]! & 0xfc) | 0x02
  return macOf(b)
}

/** Globally administered OUIs of phone makers, for the few phones that still probe with their real MAC. */
const PHONE_OUIS: ReadonlyArray<readonly [number, number, number]> = [
  [0x8c, 0xf5, 0xa3],
  [0xa0, 0xcb, 0xfd],
  [0x64, 0x09, 0x80],
  [0x00, 0xe0, 0xfc],
  [0x3c, 0x28, 0x6d],
]
export function globalWifiMac(rng: Rng): string {
  return macOf([...rng.pick(PHONE_OUIS), rng.byte(), rng.byte(), rng.byte()])
}

/** The identity the edge gives an iBeacon: `ibeacon:<uuid lowercase with dashes>:<major>:<minor>`. */
export function ibeaconId(uuid: string, major: number, minor: number): string {
  return `ibeacon:${uuid.toLowerCase()}:${major}:${minor}`
}

/** The proximity UUID the loyalty app advertises (one per retailer). */
export const MEMBER_BEACON_UUID = '5a4bcfce-174e-4bac-a814-092e77f6b7e5'
/** Calibrated RSSI at 1 m the app puts in its iBeacon frame, dBm. */
export const MEMBER_BEACON_MEASURED_POWER = -59

// ───────────────────────────── world types ─────────────────────────────

export type Os = 'ios' | 'android'
export type AdvKind = 'apple-nearby' | 'android-fe9f' | 'ibeacon'

/** One BLE advertiser as the radio sees it this instant. */
export interface BleAdvertiser {
  personId: string
  mac: string
  addrType: 'random' | 'public'
  kind: AdvKind
  /** Changes with every address rotation: the advertisement's rotating bytes derive from it. */
  nonce: number
  /** RSSI this advertiser produces at 1 m, dBm (phone, pocket and body included). */
  txAt1m: number
  intervalMs: number
  beacon?: { uuid: string; major: number; minor: number; measuredPower: number; id: string }
  x: number
  y: number
  floor: number
}

/** One Wi-Fi probe request sent this step. */
export interface ProbeEmission {
  personId: string
  mac: string
  random: boolean
  ts: number
  channel: number
  seq: number
  txAt1m: number
  x: number
  y: number
  floor: number
}

interface Rotating {
  mac: string
  nonce: number
  rotateAt: number
  periodMs: number
}

interface Phone {
  os: Os
  ble: Rotating
  bleTxAt1m: number
  bleIntervalMs: number
  beacon?: Rotating & { major: number; minor: number }
  wifi: Rotating & { random: boolean; seq: number; nextProbeAt: number; screenOn: boolean; screenToggleAt: number }
  wifiTxAt1m: number
  dualBand: boolean
}

type Action =
  | { kind: 'walk'; to: Point; speed: number }
  | { kind: 'climb'; from: Point3; to: Point3; durMs: number; doneMs: number }
  /** Dwell in a zone; the clock starts on arrival (untilMs is 0 until then). */
  | { kind: 'browse'; zone: string; dwellMs: number; untilMs: number; target?: Point; waitUntil: number }
  | { kind: 'despawn' }

/** A car in the car park: who drove it and the plate on it. */
interface Car {
  plate: string
  /** The member whose registered plate this is. */
  memberRef?: string
  /** The gate controller (device id) and lanes it used. */
  gate: string
  entryLane: string
  exitLane: string
  enteredAt: number
}

/** One car passing a gate lane (what the gate controller reports). */
export interface GateEmission {
  /** The gate controller's device id. */
  gateId: string
  /** The controller's own event id (unique per controller). */
  eventId: string
  type: 'entry' | 'exit'
  lane: string
  /** The plate as the reader reported it (separators, the odd O for 0). */
  plateRead: string
  /** The plate on the car. */
  plate: string
  memberRef?: string
  ts: number
  confidence: number
}

interface Person {
  id: string
  role: 'shopper' | 'passer'
  x: number
  y: number
  floor: number
  speed: number
  phase: 'approach' | 'shopping' | 'leaving'
  actions: Action[]
  plan: string[]
  zone: string | null
  member?: { major: number; minor: number; beaconId: string }
  phones: Phone[]
  gone: boolean
  enteredAt?: number
  /** Arrived by car: the car waits in the car park until they leave. */
  car?: Car
}

export interface TruthDevice {
  kind: 'ble' | 'wifi'
  mac: string
  /** Random / locally administered address (rotates). */
  random: boolean
  os: Os
  /** The stable identity an iBeacon advertiser carries. */
  beaconId?: string
}

export interface TruthPerson {
  personId: string
  role: 'shopper' | 'passer'
  /** Zone the person stands in; null outside the building (street, doorway). */
  zone: string | null
  floor: number
  x: number
  y: number
  member?: { major: number; minor: number; beaconId: string }
  devices: TruthDevice[]
}

export interface Truth {
  ts: number
  /** Store-local hour, fractional. */
  localHour: number
  open: boolean
  people: TruthPerson[]
  occupancyByZone: Record<string, number>
  inStore: number
  /** People on the street (passers-by and shoppers on their way in or out). */
  outside: number
  membersInStore: number
  /** Cumulative since the start (after warm-up). */
  visitsStarted: number
  visitsEnded: number
  passersBy: number
  /** Cars in the car park now (all, including those that came in before counting started). */
  carsInside: number
}

export interface Summary {
  from: number
  to: number
  /** People inside when counting started (after warm-up). */
  inStoreAtStart: number
  shoppersArrived: number
  visitorsEntered: number
  visitorsExited: number
  passersBy: number
  /** Distinct members who entered. */
  membersSeen: number
  memberVisits: number
  /** Entries into each zone (a walk through counts). */
  zoneVisits: Record<string, number>
  /** Person-milliseconds spent in each zone. */
  zoneDwellMs: Record<string, number>
  /** Completed visits: mean time inside, ms. */
  meanVisitMs: number
  /** Shopper arrivals by store-local hour. */
  arrivalsByHour: Record<number, number>
  peakInStore: number
  /** Cars in the car park when counting started. */
  carsInsideAtStart: number
  /** Cars through the entry / exit lanes. */
  carArrivals: number
  carDepartures: number
  /** Arrivals of cars whose plate a member registered. */
  memberCarArrivals: number
  /** Completed car stays: mean time between entry and exit, ms. */
  meanCarStayMs: number
}

export interface StoreModelOptions {
  layout?: StoreLayout
  seed?: number
  /** Seed of the loyalty programme (tiers, tags, plates); default `seed`. A chain's stores share one. */
  memberSeed?: number
  /** Model time at construction, ms since the epoch. */
  startMs: number
  /** Added to UTC ms to give store-local wall time (default +8 h, Asia/Shanghai). */
  localOffsetMs?: number
  /** Scales both arrival curves (the demo wants a lively store). */
  rateMultiplier?: number
  /** Shoppers per hour at the busiest hour, before the multiplier. */
  peakShoppersPerHour?: number
  /** Passers-by per hour at the busiest hour, before the multiplier. */
  peakPassersPerHour?: number
  /** Share of shoppers who are members with the app (iBeacon). */
  memberShare?: number
  memberPoolSize?: number
  memberUuid?: string
  /** Share of phones that are iPhones. */
  iosShare?: number
  /** Share of Android phones that probe with their real (globally administered) MAC. */
  stableWifiShareAndroid?: number
  /** Mean BLE private-address rotation period (real phones: ~15 min). */
  bleRotationMs?: number
  /** Mean randomised Wi-Fi probe MAC rotation period. */
  wifiRotationMs?: number
  /** Run the world this long before startMs (not counted) so the store is not empty at the start. */
  warmupMs?: number
  /** Shoppers may arrive by car (default: when the layout has a car park). */
  cars?: boolean
  /** Share of shoppers arriving by car (members with a registered car: carMemberShare). */
  carShare?: number
  /** Share of shoppers who are members with a registered car that arrive in it. */
  carMemberShare?: number
  /** Share of members with a registered car (the member registry, see members.ts). */
  carOwnerShare?: number
  /** Share of plate reads with a 0 read as O or a 1 as I. */
  plateMisreadShare?: number
}

const MIN = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000
const STEP_MS = 1000
const BROWSE_SPEED = 0.6

// ───────────────────────────── the model ─────────────────────────────

export class StoreModel {
  readonly layout: StoreLayout
  private readonly rng: Rng
  private readonly o: Required<Omit<StoreModelOptions, 'layout' | 'seed' | 'memberSeed' | 'startMs' | 'warmupMs'>>
  /** Cars draw from their own generator: the people of a seed are the same with or without a car park. */
  private readonly carRng: Rng
  /** Registered plate per member number (index minor − 1), or undefined. */
  private readonly memberPlates: Array<string | undefined>
  private readonly departures: Array<{ at: number; car: Car }> = []
  private gates: GateEmission[] = []
  private gateSeq = new Map<string, number>()
  private carsInside = 0
  private t: number
  private people: Person[] = []
  private seq = 0
  private readonly memberTiers: number[]
  private readonly membersInside = new Set<number>()
  private probes: ProbeEmission[] = []
  private c!: {
    from: number
    inStoreAtStart: number
    shoppersArrived: number
    entered: number
    exited: number
    passers: number
    members: Set<number>
    memberVisits: number
    carsInsideAtStart: number
    carArrivals: number
    carDepartures: number
    memberCarArrivals: number
    carStayMsTotal: number
    carStaysCompleted: number
    zoneVisits: Record<string, number>
    zoneDwellMs: Record<string, number>
    visitMsTotal: number
    visitsCompleted: number
    arrivalsByHour: Record<number, number>
    peakInStore: number
  }

  constructor(opts: StoreModelOptions) {
    this.layout = opts.layout ?? demoStore
    this.rng = new Rng(opts.seed ?? 1)
    this.o = {
      localOffsetMs: opts.localOffsetMs ?? 8 * HOUR,
      rateMultiplier: opts.rateMultiplier ?? 1,
      peakShoppersPerHour: opts.peakShoppersPerHour ?? 90,
      peakPassersPerHour: opts.peakPassersPerHour ?? 240,
      memberShare: opts.memberShare ?? 0.2,
      memberPoolSize: opts.memberPoolSize ?? 500,
      memberUuid: (opts.memberUuid ?? MEMBER_BEACON_UUID).toLowerCase(),
      iosShare: opts.iosShare ?? 0.5,
      stableWifiShareAndroid: opts.stableWifiShareAndroid ?? 0.3,
      bleRotationMs: opts.bleRotationMs ?? 15 * MIN,
      wifiRotationMs: opts.wifiRotationMs ?? 15 * MIN,
      cars: (opts.cars ?? true) && this.layout.parking !== undefined && this.layout.parking.gates.length > 0,
      carShare: opts.carShare ?? 0.3,
      carMemberShare: opts.carMemberShare ?? 0.7,
      carOwnerShare: opts.carOwnerShare ?? 0.4,
      plateMisreadShare: opts.plateMisreadShare ?? 0.03,
    }
    // Loyalty tiers (iBeacon major): most members are tier 1. The first draw of the generator, so
    // simulatedMembers() gives the same tiers from the seed alone.
    // The fork is drawn in every case so the model's own sequence does not depend on memberSeed.
    const tierRng = this.rng.fork()
    const seed = opts.seed ?? 1
    const memberSeed = opts.memberSeed ?? seed
    this.memberTiers = memberTiers(memberSeed === seed ? tierRng : new Rng(memberSeed).fork(), this.o.memberPoolSize)
    this.carRng = new Rng((Math.imul(seed, 0x27d4eb2f) ^ 0x165667b1) >>> 0)
    this.memberPlates = this.o.cars
      ? simulatedMembers({ seed: memberSeed, memberPoolSize: this.o.memberPoolSize, memberUuid: this.o.memberUuid, carOwnerShare: this.o.carOwnerShare }).map((m) => m.plates[0])
      : []
    const warmup = Math.max(0, opts.warmupMs ?? 0)
    this.t = opts.startMs - warmup
    this.resetCounters()
    if (warmup > 0) {
      this.step(opts.startMs)
      this.resetCounters()
    }
  }

  get now(): number {
    return this.t
  }

  /** Store-local hour (fractional) at a time. */
  localHour(ms = this.t): number {
    const local = (((ms + this.o.localOffsetMs) % DAY) + DAY) % DAY
    return local / HOUR
  }

  isOpen(ms = this.t): boolean {
    return SHOPPER_CURVE[Math.floor(this.localHour(ms))]! > 0
  }

  /** Expected shopper arrivals per hour at a time (multiplier included). */
  shopperRate(ms = this.t): number {
    return SHOPPER_CURVE[Math.floor(this.localHour(ms))]! * this.o.peakShoppersPerHour * this.o.rateMultiplier
  }

  passerRate(ms = this.t): number {
    return PASSER_CURVE[Math.floor(this.localHour(ms))]! * this.o.peakPassersPerHour * this.o.rateMultiplier
  }

  /**
   * Advance the world to nowMs (in steps of at most a second) and return the Wi-Fi probes sent
   * meanwhile. Time never goes back: an earlier nowMs is a no-op.
   */
  step(nowMs: number): { probes: ProbeEmission[]; gates: GateEmission[] } {
    this.probes = []
    this.gates = []
    while (this.t < nowMs) {
      const dt = Math.min(STEP_MS, nowMs - this.t)
      this.substep(dt)
    }
    return { probes: this.probes, gates: this.gates }
  }

  private substep(dt: number): void {
    this.t += dt
    const t = this.t
    const hours = dt / HOUR
    const open = this.isOpen(t)

    if (!open) {
      // Closing time: everyone finishes up and heads for the door.
      for (const p of this.people) {
        if (p.role !== 'shopper' || p.phase !== 'shopping') continue
        p.plan = []
        for (const a of p.actions) {
          if (a.kind !== 'browse') continue
          a.dwellMs = 0
          if (a.untilMs > 0) a.untilMs = Math.min(a.untilMs, t)
        }
      }
    }
    const nShoppers = this.rng.poisson(this.shopperRate(t) * hours)
    for (let i = 0; i < nShoppers; i++) this.spawnShopper()
    const nPassers = this.rng.poisson(this.passerRate(t) * hours)
    for (let i = 0; i < nPassers; i++) this.spawnPasser()

    let inStore = 0
    for (const p of this.people) {
      this.advance(p, dt)
      const zone = p.gone ? null : zoneAt(this.layout.geometry, p.x, p.y, p.floor)
      this.transition(p, zone)
      if (zone) {
        inStore++
        this.c.zoneDwellMs[zone] = (this.c.zoneDwellMs[zone] ?? 0) + dt
      }
      if (!p.gone) for (const ph of p.phones) this.updatePhone(p, ph)
    }
    this.c.peakInStore = Math.max(this.c.peakInStore, inStore)
    if (this.people.some((p) => p.gone)) this.people = this.people.filter((p) => !p.gone)
    this.driveOut()
  }

  // ── cars ──

  /** A shopper who just appeared on the street may have parked a moment ago. */
  private arriveByCar(p: Person): void {
    if (!this.o.cars) return
    const r = this.carRng
    const plate = p.member ? this.memberPlates[p.member.minor - 1] : undefined
    if (!r.bool(plate !== undefined ? this.o.carMemberShare : this.o.carShare)) return
    const gate = r.pick(this.layout.parking!.gates)
    // A member sometimes comes in another car (a friend's, a taxi-like drop-off is not a car here).
    const own = plate !== undefined && r.bool(0.9)
    const car: Car = { plate: own ? plate : randomPlate(r), gate: gate.id, entryLane: gate.entryLane, exitLane: gate.exitLane, enteredAt: this.t }
    if (own) car.memberRef = memberRef(p.member!.minor)
    p.car = car
    this.carsInside++
    this.c.carArrivals++
    if (car.memberRef) this.c.memberCarArrivals++
    this.emitGate(car, 'entry', this.t)
  }

  /** The shopper is back at the car: it reaches the exit barrier a few minutes later. */
  private leaveByCar(p: Person): void {
    if (!p.car) return
    this.departures.push({ at: this.t + Math.round(this.carRng.range(60_000, 300_000)), car: p.car })
    p.car = undefined
  }

  private driveOut(): void {
    if (this.departures.length === 0) return
    for (let i = 0; i < this.departures.length; ) {
      const d = this.departures[i]!
      if (d.at > this.t) {
        i++
        continue
      }
      this.departures.splice(i, 1)
      this.carsInside--
      this.c.carDepartures++
      this.c.carStayMsTotal += d.at - d.car.enteredAt
      this.c.carStaysCompleted++
      this.emitGate(d.car, 'exit', d.at)
    }
  }

  private emitGate(car: Car, type: 'entry' | 'exit', ts: number): void {
    const n = (this.gateSeq.get(car.gate) ?? 0) + 1
    this.gateSeq.set(car.gate, n)
    const e: GateEmission = {
      gateId: car.gate,
      eventId: `${car.gate}-${n}`,
      type,
      lane: type === 'entry' ? car.entryLane : car.exitLane,
      plateRead: readPlate(car.plate, this.carRng, this.o.plateMisreadShare),
      plate: car.plate,
      ts,
      confidence: Math.round(this.carRng.range(0.82, 0.995) * 1000) / 1000,
    }
    if (car.memberRef) e.memberRef = car.memberRef
    this.gates.push(e)
  }

  private transition(p: Person, zone: string | null): void {
    if (zone === p.zone) return
    const was = p.zone
    p.zone = zone
    if (zone) this.c.zoneVisits[zone] = (this.c.zoneVisits[zone] ?? 0) + 1
    if (p.role !== 'shopper') return
    if (was === null && zone !== null) {
      this.c.entered++
      p.enteredAt = this.t
      if (p.member) {
        this.c.memberVisits++
        this.c.members.add(p.member.minor)
      }
    } else if (was !== null && zone === null) {
      this.c.exited++
      if (p.enteredAt !== undefined) {
        this.c.visitMsTotal += this.t - p.enteredAt
        this.c.visitsCompleted++
      }
    }
  }

  // ── people ──

  private nextId(): string {
    return `p${String(++this.seq).padStart(6, '0')}`
  }

  private streetLane(): number {
    const s = this.layout.geometry.street
    return this.rng.range(s.y0 + 0.5, s.y1 - 0.5)
  }

  private spawnPasser(): void {
    const s = this.layout.geometry.street
    const fromLeft = this.rng.bool(0.5)
    const y = this.streetLane()
    const p = this.newPerson('passer', fromLeft ? s.x0 : s.x1, y, 0)
    p.actions.push({ kind: 'walk', to: { x: fromLeft ? s.x1 : s.x0, y: y + this.rng.range(-0.5, 0.5) }, speed: p.speed }, { kind: 'despawn' })
    this.c.passers++
    this.people.push(p)
  }

  private spawnShopper(): void {
    const g = this.layout.geometry
    const s = g.street
    const y = this.streetLane()
    const p = this.newPerson('shopper', this.rng.bool(0.5) ? s.x0 : s.x1, y, 0, true)
    const doorX = g.door.x + this.rng.range(-1, 1)
    p.actions.push({ kind: 'walk', to: { x: doorX, y }, speed: p.speed }, { kind: 'walk', to: { x: doorX, y: g.door.y + 1.5 }, speed: p.speed })
    p.plan = this.makePlan()
    this.arriveByCar(p)
    this.c.shoppersArrived++
    const h = Math.floor(this.localHour())
    this.c.arrivalsByHour[h] = (this.c.arrivalsByHour[h] ?? 0) + 1
    this.people.push(p)
  }

  private newPerson(role: Person['role'], x: number, y: number, floor: number, mayBeMember = false): Person {
    const id = this.nextId()
    const p: Person = {
      id,
      role,
      x,
      y,
      floor,
      speed: this.rng.range(1.0, 1.4),
      phase: 'approach',
      actions: [],
      plan: [],
      zone: null,
      phones: [],
      gone: false,
    }
    let nPhones: number = this.rng.weighted([[0, 1], [1, 7], [2, 2]] as const)
    if (mayBeMember && this.rng.bool(this.o.memberShare)) {
      const minor = this.freeMember()
      if (minor !== undefined) {
        const major = this.memberTiers[minor - 1]!
        p.member = { major, minor, beaconId: ibeaconId(this.o.memberUuid, major, minor) }
        this.membersInside.add(minor)
        nPhones = Math.max(1, nPhones)
      }
    }
    for (let i = 0; i < nPhones; i++) p.phones.push(this.newPhone(i === 0 ? p.member : undefined))
    return p
  }

  private freeMember(): number | undefined {
    for (let tries = 0; tries < 20; tries++) {
      const minor = 1 + this.rng.int(this.o.memberPoolSize)
      if (!this.membersInside.has(minor)) return minor
    }
    return undefined
  }

  private rotating(periodMs: number, mac: string): Rotating {
    // First rotation at a random phase, so the crowd's addresses do not all change at once.
    return { mac, nonce: this.rng.int(2 ** 31), rotateAt: this.t + this.rng.range(0, periodMs), periodMs }
  }

  private newPhone(member?: { major: number; minor: number }): Phone {
    const os: Os = this.rng.bool(this.o.iosShare) ? 'ios' : 'android'
    const stable = os === 'android' && this.rng.bool(this.o.stableWifiShareAndroid)
    const phone: Phone = {
      os,
      ble: this.rotating(this.o.bleRotationMs, randomBleAddress(this.rng)),
      // Calibrated 1 m RSSI varies by handset and by pocket, bag or hand.
      bleTxAt1m: this.rng.normal(-65, 3),
      bleIntervalMs: os === 'ios' ? this.rng.range(180, 350) : this.rng.range(300, 700),
      wifi: {
        ...(stable
          ? { mac: globalWifiMac(this.rng), nonce: 0, rotateAt: Infinity, periodMs: Infinity }
          : this.rotating(this.o.wifiRotationMs, randomWifiMac(this.rng))),
        random: !stable,
        seq: this.rng.int(4096),
        nextProbeAt: this.t + this.rng.range(0, 90_000),
        screenOn: this.rng.bool(0.25),
        screenToggleAt: this.t + this.rng.range(0, 120_000),
      },
      wifiTxAt1m: this.rng.normal(-38, 3),
      dualBand: this.rng.bool(0.8),
    }
    if (member) phone.beacon = { ...this.rotating(this.o.bleRotationMs, randomBleAddress(this.rng)), ...member }
    return phone
  }

  /** 1–4 zones to visit, weighted by attraction, no zone twice in a row. */
  private makePlan(): string[] {
    const zones = Object.entries(this.layout.geometry.zones)
      .filter(([, z]) => z.attraction > 0)
      .map(([id, z]) => [id, z.attraction] as const)
    if (zones.length === 0) return []
    const n = Math.min(4, 1 + this.rng.poisson(1))
    const plan: string[] = []
    for (let i = 0; i < n; i++) {
      const choices = zones.filter(([id]) => id !== plan[plan.length - 1])
      if (choices.length === 0) break
      plan.push(this.rng.weighted(choices))
    }
    return plan
  }

  private pointIn(r: Rect, margin = 1): Point {
    return { x: this.rng.range(r.x0 + margin, r.x1 - margin), y: this.rng.range(r.y0 + margin, r.y1 - margin) }
  }

  /** Walk (and climb, across floors) from where the person stands to a point on a floor. */
  private routeTo(p: Person, fromFloor: number, to: Point, floor: number): Action[] {
    if (fromFloor === floor) return [{ kind: 'walk', to, speed: p.speed }]
    const st = this.layout.geometry.stairs
    const [from, dest] = st.bottom.floor === fromFloor ? [st.bottom, st.top] : [st.top, st.bottom]
    return [
      { kind: 'walk', to: from, speed: p.speed },
      { kind: 'climb', from, to: dest, durMs: st.climbS * 1000, doneMs: 0 },
      { kind: 'walk', to, speed: p.speed },
    ]
  }

  /** What a shopper does once the current actions run out. */
  private nextActions(p: Person): void {
    if (p.role === 'passer') {
      p.actions.push({ kind: 'despawn' })
      return
    }
    const g = this.layout.geometry
    if (p.phase === 'approach') p.phase = 'shopping'
    if (p.phase === 'shopping') {
      const zoneId = this.isOpen() ? p.plan.shift() : undefined
      const zone = zoneId ? g.zones[zoneId] : undefined
      if (zoneId && zone) {
        const dwell = Math.min(90 * MIN, Math.max(30_000, this.rng.logNormal(zone.dwellMedianS * 1000, 0.7)))
        p.actions.push(...this.routeTo(p, p.floor, this.pointIn(zone.rect), zone.floor), {
          kind: 'browse',
          zone: zoneId,
          dwellMs: dwell,
          untilMs: 0,
          waitUntil: 0,
        })
        return
      }
      p.phase = 'leaving'
      const doorX = g.door.x + this.rng.range(-1, 1)
      const s = g.street
      const lane = this.streetLane()
      p.actions.push(
        ...this.routeTo(p, p.floor, { x: doorX, y: g.door.y + 1.5 }, 0),
        { kind: 'walk', to: { x: doorX, y: lane }, speed: p.speed },
        { kind: 'walk', to: { x: this.rng.bool(0.5) ? s.x0 : s.x1, y: lane }, speed: p.speed },
        { kind: 'despawn' },
      )
      return
    }
    p.actions.push({ kind: 'despawn' })
  }

  /** Move a person through their actions for dt milliseconds. */
  private advance(p: Person, dt: number): void {
    let budget = dt
    for (let guard = 0; budget > 0 && !p.gone && guard < 32; guard++) {
      if (p.actions.length === 0) this.nextActions(p)
      const a = p.actions[0]!
      switch (a.kind) {
        case 'despawn': {
          p.gone = true
          if (p.member) this.membersInside.delete(p.member.minor)
          this.leaveByCar(p)
          return
        }
        case 'walk': {
          budget = this.walk(p, a.to, a.speed, budget)
          if (budget > 0 || (p.x === a.to.x && p.y === a.to.y)) p.actions.shift()
          break
        }
        case 'climb': {
          const used = Math.min(budget, a.durMs - a.doneMs)
          a.doneMs += used
          budget -= used
          const f = a.doneMs / a.durMs
          p.x = a.from.x + (a.to.x - a.from.x) * f
          p.y = a.from.y + (a.to.y - a.from.y) * f
          p.floor = f < 0.5 ? a.from.floor : a.to.floor
          if (a.doneMs >= a.durMs) p.actions.shift()
          break
        }
        case 'browse': {
          if (a.untilMs === 0) {
            const arrived = this.t - budget
            a.untilMs = arrived + a.dwellMs
            a.waitUntil = arrived + this.rng.range(5_000, 30_000)
          }
          budget = this.browse(p, a, budget)
          if (budget > 0) p.actions.shift()
          break
        }
      }
    }
  }

  /** Walk towards a point; returns the time left over after arriving (0 if still walking). */
  private walk(p: Person, to: Point, speed: number, budget: number): number {
    const dx = to.x - p.x
    const dy = to.y - p.y
    const dist = Math.hypot(dx, dy)
    const reach = (speed * budget) / 1000
    if (reach >= dist) {
      p.x = to.x
      p.y = to.y
      return dist === 0 ? budget : budget - (dist / speed) * 1000
    }
    p.x += (dx / dist) * reach
    p.y += (dy / dist) * reach
    return 0
  }

  /** Dwell in a zone: stand, look, drift to another shelf. Returns time left once the dwell is over. */
  private browse(p: Person, a: Extract<Action, { kind: 'browse' }>, budget: number): number {
    const rect = this.layout.geometry.zones[a.zone]?.rect
    let now = this.t - budget
    while (budget > 0) {
      if (now >= a.untilMs) return budget
      const slice = Math.min(budget, a.untilMs - now)
      if (a.target) {
        const left = this.walk(p, a.target, BROWSE_SPEED, slice)
        const used = slice - left
        if (left > 0) {
          a.target = undefined
          a.waitUntil = now + used + this.rng.range(15_000, 90_000)
        }
        now += used
        budget -= used
      } else if (now >= a.waitUntil && rect) {
        a.target = this.pointIn(rect, 0.8)
      } else {
        const wait = now >= a.waitUntil ? slice : Math.min(slice, a.waitUntil - now)
        now += wait
        budget -= wait
      }
    }
    return 0
  }

  // ── devices ──

  private rotate(r: Rotating, fresh: () => string): void {
    if (this.t < r.rotateAt) return
    r.mac = fresh()
    r.nonce = this.rng.int(2 ** 31)
    // Real phones rotate on a timer with some jitter (iOS ~15 min, Android 15 min ± randomisation).
    r.rotateAt = this.t + r.periodMs * this.rng.range(0.85, 1.15)
  }

  private updatePhone(p: Person, ph: Phone): void {
    this.rotate(ph.ble, () => randomBleAddress(this.rng))
    if (ph.beacon) this.rotate(ph.beacon, () => randomBleAddress(this.rng))
    const w = ph.wifi
    if (w.random) this.rotate(w, () => randomWifiMac(this.rng))
    if (this.t >= w.screenToggleAt) {
      w.screenOn = !w.screenOn
      w.screenToggleAt = this.t + (w.screenOn ? this.rng.logNormal(60_000, 0.8) : this.rng.logNormal(240_000, 0.8))
      // Waking the screen triggers a scan soon after.
      if (w.screenOn) w.nextProbeAt = Math.min(w.nextProbeAt, this.t + this.rng.range(1000, 5000))
    }
    if (this.t >= w.nextProbeAt) {
      this.probeBurst(p, ph)
      w.nextProbeAt = this.t + (w.screenOn ? this.rng.range(15_000, 40_000) : this.rng.range(40_000, 120_000))
    }
  }

  /** One active scan: a probe request on each 2.4 GHz social channel (and some 5 GHz ones), a few ms apart. */
  private probeBurst(p: Person, ph: Phone): void {
    const channels = ph.dualBand ? [1, 6, 11, 36, 44, 149] : [1, 6, 11]
    let ts = this.t - this.rng.int(900)
    for (const channel of channels) {
      ph.wifi.seq = (ph.wifi.seq + 1) % 4096
      this.probes.push({
        personId: p.id,
        mac: ph.wifi.mac,
        random: ph.wifi.random,
        ts,
        channel,
        seq: ph.wifi.seq,
        txAt1m: ph.wifiTxAt1m,
        x: p.x,
        y: p.y,
        floor: p.floor,
      })
      ts += this.rng.int(30) + 10
    }
  }

  /** Every BLE advertiser in the world right now (inside and on the street). */
  bleAdvertisers(): BleAdvertiser[] {
    const out: BleAdvertiser[] = []
    for (const p of this.people) {
      for (const ph of p.phones) {
        out.push({
          personId: p.id,
          mac: ph.ble.mac,
          addrType: 'random',
          kind: ph.os === 'ios' ? 'apple-nearby' : 'android-fe9f',
          nonce: ph.ble.nonce,
          txAt1m: ph.bleTxAt1m,
          intervalMs: ph.bleIntervalMs,
          x: p.x,
          y: p.y,
          floor: p.floor,
        })
        if (ph.beacon && p.member) {
          out.push({
            personId: p.id,
            mac: ph.beacon.mac,
            addrType: 'random',
            kind: 'ibeacon',
            nonce: ph.beacon.nonce,
            // The app advertises at the power it calibrated its frame for, give or take the body.
            txAt1m: ph.bleTxAt1m + 6,
            intervalMs: ph.os === 'ios' ? 100 : 250,
            beacon: {
              uuid: this.o.memberUuid,
              major: ph.beacon.major,
              minor: ph.beacon.minor,
              measuredPower: MEMBER_BEACON_MEASURED_POWER,
              id: p.member.beaconId,
            },
            x: p.x,
            y: p.y,
            floor: p.floor,
          })
        }
      }
    }
    return out
  }

  // ── truth ──

  truth(): Truth {
    const occupancyByZone: Record<string, number> = Object.fromEntries(this.layout.zones.map((z) => [z.id, 0]))
    const people: TruthPerson[] = []
    let inStore = 0
    let membersInStore = 0
    for (const p of this.people) {
      if (p.zone) {
        occupancyByZone[p.zone] = (occupancyByZone[p.zone] ?? 0) + 1
        inStore++
        if (p.member) membersInStore++
      }
      const devices: TruthDevice[] = []
      for (const ph of p.phones) {
        devices.push({ kind: 'ble', mac: ph.ble.mac, random: true, os: ph.os })
        if (ph.beacon && p.member) devices.push({ kind: 'ble', mac: ph.beacon.mac, random: true, os: ph.os, beaconId: p.member.beaconId })
        devices.push({ kind: 'wifi', mac: ph.wifi.mac, random: ph.wifi.random, os: ph.os })
      }
      const tp: TruthPerson = {
        personId: p.id,
        role: p.role,
        zone: p.zone,
        floor: p.floor,
        x: Math.round(p.x * 100) / 100,
        y: Math.round(p.y * 100) / 100,
        devices,
      }
      if (p.member) tp.member = { ...p.member }
      people.push(tp)
    }
    return {
      ts: this.t,
      localHour: this.localHour(),
      open: this.isOpen(),
      people,
      occupancyByZone,
      inStore,
      outside: people.length - inStore,
      membersInStore,
      visitsStarted: this.c.entered,
      visitsEnded: this.c.exited,
      passersBy: this.c.passers,
      carsInside: this.carsInside,
    }
  }

  summary(): Summary {
    const c = this.c
    return {
      from: c.from,
      to: this.t,
      inStoreAtStart: c.inStoreAtStart,
      shoppersArrived: c.shoppersArrived,
      visitorsEntered: c.entered,
      visitorsExited: c.exited,
      passersBy: c.passers,
      membersSeen: c.members.size,
      memberVisits: c.memberVisits,
      zoneVisits: { ...c.zoneVisits },
      zoneDwellMs: { ...c.zoneDwellMs },
      meanVisitMs: c.visitsCompleted ? c.visitMsTotal / c.visitsCompleted : 0,
      arrivalsByHour: { ...c.arrivalsByHour },
      peakInStore: c.peakInStore,
      carsInsideAtStart: c.carsInsideAtStart,
      carArrivals: c.carArrivals,
      carDepartures: c.carDepartures,
      memberCarArrivals: c.memberCarArrivals,
      meanCarStayMs: c.carStaysCompleted ? c.carStayMsTotal / c.carStaysCompleted : 0,
    }
  }

  private resetCounters(): void {
    const zeros = () => Object.fromEntries(this.layout.zones.map((z) => [z.id, 0])) as Record<string, number>
    const inStore = this.people.filter((p) => p.zone !== null).length
    this.c = {
      from: this.t,
      inStoreAtStart: inStore,
      shoppersArrived: 0,
      entered: 0,
      exited: 0,
      passers: 0,
      members: new Set(),
      memberVisits: 0,
      carsInsideAtStart: this.carsInside,
      carArrivals: 0,
      carDepartures: 0,
      memberCarArrivals: 0,
      carStayMsTotal: 0,
      carStaysCompleted: 0,
      zoneVisits: zeros(),
      zoneDwellMs: zeros(),
      visitMsTotal: 0,
      visitsCompleted: 0,
      arrivalsByHour: {},
      peakInStore: inStore,
    }
  }
}
