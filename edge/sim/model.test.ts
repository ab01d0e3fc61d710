import { describe, expect, it } from 'vitest'
import { demoStore, zoneAt } from './demo-store.ts'
import { MEMBER_BEACON_UUID, Rng, StoreModel, type TruthPerson } from './model.ts'
import { resolveConfig } from '../core/config.ts'

// 2025-05-10 00:00 in Asia/Shanghai (UTC+8), the model's default local offset.
const MIDNIGHT_LOCAL = Date.UTC(2025, 4, 9, 16, 0, 0)
const at = (hour: number) => MIDNIGHT_LOCAL + hour * 3_600_000

/** Step a model second by second to a local hour, calling fn after every step. */
function runTo(m: StoreModel, hour: number, fn?: (m: StoreModel) => void): void {
  const until = at(hour)
  for (let t = m.now + 1000; t <= until; t += 1000) {
    m.step(t)
    fn?.(m)
  }
}

describe('demo store', () => {
  it('is a valid edge configuration', () => {
    const cfg = resolveConfig({ zones: demoStore.zones, sensors: demoStore.sensors })
    expect(cfg.zones.map((z) => z.id)).toEqual(['entrance', 'cosmetics', 'apparel', 'cafe', 'kids'])
    expect(new Set(cfg.zones.map((z) => z.floor))).toEqual(new Set([0, 1]))
    expect(cfg.sensors.filter((s) => s.kind === 'ble').map((s) => s.id)).toEqual(['ble-entrance', 'ble-cosmetics', 'ble-apparel', 'ble-cafe', 'ble-kids'])
    expect(cfg.sensors.filter((s) => s.kind === 'wifi').map((s) => s.id)).toEqual(['wifi-front', 'wifi-back'])
    expect(cfg.sensors.filter((s) => s.kind === 'espresense').map((s) => s.id)).toEqual(['esp-cafe'])
  })

  it('places every sensor inside the zone it is configured for', () => {
    for (const s of demoStore.sensors) {
      const p = demoStore.geometry.sensorPositions[s.id]!
      expect(zoneAt(demoStore.geometry, p.x, p.y, p.floor), s.id).toBe(s.zone)
    }
  })
})

describe('Rng', () => {
  it('is reproducible from its seed', () => {
    const a = new Rng(42)
    const b = new Rng(42)
    const xs = Array.from({ length: 5 }, () => a.next())
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs)
    expect(new Rng(43).next()).not.toBe(xs[0])
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true)
  })
})

describe('StoreModel', () => {
  it('replays the same day from the same seed, and another day from another seed', () => {
    const a = new StoreModel({ startMs: at(11), seed: 9 })
    const b = new StoreModel({ startMs: at(11), seed: 9 })
    const c = new StoreModel({ startMs: at(11), seed: 10 })
    for (const m of [a, b, c]) runTo(m, 11.5)
    expect(JSON.stringify(b.truth())).toBe(JSON.stringify(a.truth()))
    expect(b.summary()).toEqual(a.summary())
    expect(JSON.stringify(c.truth())).not.toBe(JSON.stringify(a.truth()))
  })

  it('steps of any size land on the same world as one-second steps', () => {
    const a = new StoreModel({ startMs: at(12), seed: 3 })
    const b = new StoreModel({ startMs: at(12), seed: 3 })
    runTo(a, 12.25)
    b.step(at(12.25))
    expect(JSON.stringify(b.truth())).toBe(JSON.stringify(a.truth()))
    // Time never goes back.
    b.step(at(12))
    expect(b.now).toBe(at(12.25))
  })

  it('follows the hour-of-day curve: more arrivals at 12:00 than at 10:00, none at night', () => {
    const m = new StoreModel({ startMs: at(9), seed: 5 })
    runTo(m, 13)
    const byHour = m.summary().arrivalsByHour
    expect(byHour[9] ?? 0).toBe(0) // closed
    expect(byHour[12]!).toBeGreaterThan(byHour[10]! * 1.5)
    // Peak 90/h: a Poisson count stays well within ±4σ.
    expect(byHour[12]!).toBeGreaterThan(90 - 4 * Math.sqrt(90))
    expect(byHour[12]!).toBeLessThan(90 + 4 * Math.sqrt(90))
  })

  it('scales arrivals with the rate multiplier', () => {
    const calm = new StoreModel({ startMs: at(12), seed: 5 })
    const busy = new StoreModel({ startMs: at(12), seed: 5, rateMultiplier: 4 })
    runTo(calm, 13)
    runTo(busy, 13)
    expect(busy.summary().shoppersArrived).toBeGreaterThan(calm.summary().shoppersArrived * 2.5)
    expect(busy.summary().passersBy).toBeGreaterThan(calm.summary().passersBy * 2.5)
  })

  it('lets people leave: visits end, and the store is empty after closing', () => {
    const m = new StoreModel({ startMs: at(18), seed: 11, rateMultiplier: 2 })
    runTo(m, 20)
    const s1 = m.summary()
    expect(s1.visitorsExited).toBeGreaterThan(0)
    expect(s1.meanVisitMs).toBeGreaterThan(2 * 60_000)
    expect(s1.meanVisitMs).toBeLessThan(90 * 60_000)
    runTo(m, 23)
    const t = m.truth()
    expect(t.open).toBe(false)
    expect(t.inStore).toBe(0)
    const s2 = m.summary()
    expect(s2.visitorsExited).toBe(s2.visitorsEntered)
    expect(s2.visitorsEntered).toBe(s2.shoppersArrived)
  })

  it("truth occupancy equals the people inside, each in the zone of their position", () => {
    const m = new StoreModel({ startMs: at(12), seed: 21, rateMultiplier: 3 })
    let checked = 0
    runTo(m, 12.75, (mm) => {
      if (mm.now % 60_000 !== 0) return
      const t = mm.truth()
      const inside = t.people.filter((p) => p.zone !== null)
      expect(t.inStore).toBe(inside.length)
      expect(Object.values(t.occupancyByZone).reduce((a, b) => a + b, 0)).toBe(inside.length)
      for (const [zone, n] of Object.entries(t.occupancyByZone)) expect(inside.filter((p) => p.zone === zone).length).toBe(n)
      for (const p of t.people) {
        expect(zoneAt(demoStore.geometry, p.x, p.y, p.floor) ?? null, p.personId).toBe(p.zone)
        if (p.role === 'passer') expect(p.zone).toBeNull()
      }
      expect(t.membersInStore).toBe(inside.filter((p) => p.member).length)
      checked++
    })
    expect(checked).toBe(45)
    expect(m.truth().inStore).toBeGreaterThan(10)
  })

  it('some shoppers go upstairs and come back down', () => {
    const m = new StoreModel({ startMs: at(12), seed: 4 })
    const floorsSeen = new Map<string, Set<number>>()
    runTo(m, 14, (mm) => {
      if (mm.now % 5000 !== 0) return
      for (const p of mm.truth().people) {
        const s = floorsSeen.get(p.personId) ?? new Set()
        s.add(p.floor)
        floorsSeen.set(p.personId, s)
      }
    })
    expect([...floorsSeen.values()].filter((s) => s.has(1)).length).toBeGreaterThan(10)
    const s = m.summary()
    expect(s.zoneVisits.cafe! + s.zoneVisits.kids!).toBeGreaterThan(10)
  })

  it('rotates random addresses (~15 min): BLE private addresses and locally administered Wi-Fi MACs', () => {
    const m = new StoreModel({ startMs: at(12), seed: 8, rateMultiplier: 3, warmupMs: 20 * 60_000 })
    const history = new Map<string, Array<{ ts: number; devices: TruthPerson['devices'] }>>()
    runTo(m, 12.75, (mm) => {
      if (mm.now % 30_000 !== 0) return
      for (const p of mm.truth().people) {
        const h = history.get(p.personId) ?? []
        h.push({ ts: mm.now, devices: p.devices })
        history.set(p.personId, h)
      }
    })
    let bleRotations = 0
    let wifiRotations = 0
    let stableSeen = 0
    for (const h of history.values()) {
      for (const snap of h) {
        for (const d of snap.devices) {
          const first = parseInt(d.mac.slice(0, 2), 16)
          expect(d.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/)
          if (d.kind === 'ble') {
            expect(d.random).toBe(true)
            expect(first & 0xc0, d.mac).toBe(0x40) // resolvable private address
          } else if (d.random) {
            expect(first & 0x02, d.mac).toBe(0x02) // locally administered
            expect(first & 0x01, d.mac).toBe(0) // unicast
          } else {
            expect(first & 0x02, d.mac).toBe(0) // globally administered
            stableSeen++
          }
        }
      }
      // Compare the first and last snapshot of people seen for 30 minutes or more.
      const a = h[0]!
      const b = h[h.length - 1]!
      if (b.ts - a.ts < 30 * 60_000) continue
      a.devices.forEach((d, i) => {
        const e = b.devices[i]!
        if (d.kind === 'ble' && d.mac !== e.mac) bleRotations++
        if (d.kind === 'wifi' && d.random && d.mac !== e.mac) wifiRotations++
        if (d.kind === 'wifi' && !d.random) expect(e.mac).toBe(d.mac)
      })
    }
    expect(bleRotations).toBeGreaterThan(5)
    expect(wifiRotations).toBeGreaterThan(3)
    expect(stableSeen).toBeGreaterThan(0)
  })

  it('members advertise a stable iBeacon identity while their addresses rotate', () => {
    const m = new StoreModel({ startMs: at(12), seed: 13, rateMultiplier: 3, memberShare: 0.5 })
    const beaconOf = new Map<string, Set<string>>()
    const macsOf = new Map<string, Set<string>>()
    runTo(m, 13, (mm) => {
      if (mm.now % 30_000 !== 0) return
      for (const p of mm.truth().people) {
        if (!p.member) continue
        const beacon = p.devices.find((d) => d.beaconId)
        expect(beacon, p.personId).toBeDefined()
        expect(beacon!.beaconId).toBe(p.member.beaconId)
        expect(p.member.beaconId).toBe(`ibeacon:${MEMBER_BEACON_UUID}:${p.member.major}:${p.member.minor}`)
        expect(p.member.beaconId).toMatch(/^ibeacon:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:\d+:\d+$/)
        expect([1, 2, 3]).toContain(p.member.major)
        ;(beaconOf.get(p.personId) ?? beaconOf.set(p.personId, new Set()).get(p.personId)!).add(beacon!.beaconId!)
        ;(macsOf.get(p.personId) ?? macsOf.set(p.personId, new Set()).get(p.personId)!).add(beacon!.mac)
      }
    })
    expect(beaconOf.size).toBeGreaterThan(10)
    for (const ids of beaconOf.values()) expect(ids.size).toBe(1)
    expect([...macsOf.values()].some((macs) => macs.size > 1)).toBe(true)
    expect(m.summary().membersSeen).toBeGreaterThan(10)
  })

  it('emits sparse Wi-Fi probe bursts: tens of seconds to minutes apart per phone', () => {
    const m = new StoreModel({ startMs: at(12), seed: 17, rateMultiplier: 2, warmupMs: 10 * 60_000 })
    const burstsByMac = new Map<string, number[]>()
    for (let t = m.now + 1000; t <= at(12.5); t += 1000) {
      for (const p of m.step(t).probes) {
        expect(p.seq).toBeGreaterThanOrEqual(0)
        expect(p.seq).toBeLessThan(4096)
        expect([1, 6, 11, 36, 44, 149]).toContain(p.channel)
        const bursts = burstsByMac.get(p.mac) ?? []
        if (bursts.length === 0 || p.ts - bursts[bursts.length - 1]! > 2000) bursts.push(p.ts)
        burstsByMac.set(p.mac, bursts)
      }
    }
    const gaps: number[] = []
    for (const b of burstsByMac.values()) for (let i = 1; i < b.length; i++) gaps.push(b[i]! - b[i - 1]!)
    gaps.sort((a, b) => a - b)
    const medianGap = gaps[gaps.length >> 1]!
    expect(gaps.length).toBeGreaterThan(100)
    // Waking the screen can trigger a scan a few seconds after the last one; most gaps are long.
    expect(gaps[Math.floor(gaps.length * 0.1)]!).toBeGreaterThan(10_000)
    expect(medianGap).toBeGreaterThan(20_000)
    expect(medianGap).toBeLessThan(120_000)
  })
})
