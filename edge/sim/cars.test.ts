import { describe, expect, it } from 'vitest'
import { GateBatch, GateEventItem, normalizePlate } from '../contracts/index.ts'
import { checker } from '../sources/decoders/common.ts'
import { demoStore } from './demo-store.ts'
import { MEMBER_TAGS, simulatedMembers } from './members.ts'
import { ibeaconId, MEMBER_BEACON_UUID, Rng, StoreModel, type GateEmission } from './model.ts'
import { gateBatch } from './payloads.ts'
import { randomPlate, readPlate } from './plates.ts'

const HOUR = 3_600_000
const DAY0 = Date.UTC(2026, 4, 14) // 08:00 in Shanghai
const at = (localHour: number) => DAY0 + (localHour - 8) * HOUR

describe('simulated plates', () => {
  it('are all valid, ordinary and new-energy (small and large), and deterministic', () => {
    const r = new Rng(7)
    const plates = Array.from({ length: 4000 }, () => randomPlate(r))
    const kinds = { ordinary: 0, 'new-energy': 0 }
    for (const p of plates) {
      const n = normalizePlate(p)
      if (!n.ok) throw new Error(`${p}: ${n.reason}`)
      expect(n.plate).toBe(p)
      expect(n.corrected).toBe(false)
      kinds[n.kind]++
    }
    expect(kinds['new-energy'] / plates.length).toBeGreaterThan(0.2)
    expect(kinds['new-energy'] / plates.length).toBeLessThan(0.3)
    expect(plates.some((p) => [...p].length === 8 && /[DF]$/.test(p))).toBe(true) // large new-energy
    expect(plates.some((p) => [...p].length === 8 && /^..[DF]/.test(p))).toBe(true) // small new-energy
    expect(plates.filter((p) => p.startsWith('沪')).length / plates.length).toBeGreaterThan(0.5)
    const again = new Rng(7)
    expect(Array.from({ length: 4000 }, () => randomPlate(again))).toEqual(plates)
  })

  it('reads back to the same plate after normalisation, misreads included', () => {
    const r = new Rng(3)
    let misread = 0
    let dotted = 0
    for (let i = 0; i < 3000; i++) {
      const p = randomPlate(r)
      const read = readPlate(p, r, 0.5)
      if (/[OI]/.test(read.slice(2))) misread++
      if (read.includes('·')) dotted++
      const n = normalizePlate(read)
      expect(n.ok && n.plate).toBe(p)
    }
    expect(misread).toBeGreaterThan(500)
    expect(dotted).toBeGreaterThan(300)
  })
})

describe('simulatedMembers', () => {
  const members = simulatedMembers({ seed: 5 })

  it('numbers members m-<minor> with the app’s iBeacon id, tier = major, deterministic tags', () => {
    expect(members).toHaveLength(500)
    expect(members[0]!.ref).toBe('m-1')
    for (const [i, m] of members.entries()) {
      expect(m.ref).toBe(`m-${i + 1}`)
      expect(m.beaconIds).toEqual([ibeaconId(MEMBER_BEACON_UUID, m.tier, i + 1)])
      expect([1, 2, 3]).toContain(m.tier)
      for (const t of m.tags) expect(MEMBER_TAGS.map(([x]) => x)).toContain(t)
    }
    expect(members.filter((m) => m.tags.includes('beauty')).length).toBeGreaterThan(100)
    expect(simulatedMembers({ seed: 5 })).toEqual(members)
    expect(simulatedMembers({ seed: 6 })).not.toEqual(members)
  })

  it('gives about 40 % of members one registered, valid, unique plate', () => {
    const withCar = members.filter((m) => m.plates.length > 0)
    expect(withCar.length).toBeGreaterThan(160)
    expect(withCar.length).toBeLessThan(240)
    const plates = withCar.map((m) => m.plates[0]!)
    expect(new Set(plates).size).toBe(plates.length)
    for (const p of plates) expect(normalizePlate(p)).toMatchObject({ ok: true, plate: p })
  })

  it('has the tiers the model gives the same members', () => {
    const m = new StoreModel({ seed: 5, startMs: at(12), warmupMs: HOUR })
    const seen = new Map<number, number>()
    for (let i = 0; i < 60; i++) {
      m.step(at(12) + i * 60_000)
      for (const p of m.truth().people) if (p.member) seen.set(p.member.minor, p.member.major)
    }
    expect(seen.size).toBeGreaterThan(10)
    for (const [minor, major] of seen) expect(members[minor - 1]!.tier).toBe(major)
  })
})

describe('StoreModel cars', () => {
  const days = new Map<number, { m: StoreModel; gates: GateEmission[] }>()
  /** A whole simulated day (09:30–23:00), computed once per seed. */
  function day(seed: number) {
    let d = days.get(seed)
    if (!d) {
      const m = new StoreModel({ seed, startMs: at(9.5), rateMultiplier: 2 })
      const gates: GateEmission[] = []
      for (let t = at(9.5); t <= at(23); t += 60_000) gates.push(...m.step(t).gates)
      d = { m, gates }
      days.set(seed, d)
    }
    return d
  }

  it('drives cars in with shoppers and out after they leave; all gone after closing', () => {
    const { m, gates } = day(11)
    const s = m.summary()
    expect(s.carArrivals).toBeGreaterThan(100)
    expect(s.carDepartures).toBe(s.carArrivals)
    expect(m.truth().carsInside).toBe(0)
    expect(gates.filter((g) => g.type === 'entry')).toHaveLength(s.carArrivals)
    expect(gates.filter((g) => g.type === 'exit')).toHaveLength(s.carDepartures)
    // about 30 % of shoppers come by car (more among members with a car)
    expect(s.carArrivals / s.shoppersArrived).toBeGreaterThan(0.2)
    expect(s.carArrivals / s.shoppersArrived).toBeLessThan(0.45)
    // a stay is the visit plus walking and driving: tens of minutes
    expect(s.meanCarStayMs).toBeGreaterThan(15 * 60_000)
    expect(s.meanCarStayMs).toBeLessThan(3 * HOUR)
    // every car's exit comes after its entry, through the demo gate's lanes, with unique event ids
    const entered = new Map<string, number>()
    for (const g of gates) {
      expect(g.gateId).toBe('gate-carpark')
      expect(g.lane).toBe(g.type === 'entry' ? 'b1-in' : 'b1-out')
      if (g.type === 'entry') entered.set(g.plate, g.ts)
      else expect(g.ts).toBeGreaterThanOrEqual(entered.get(g.plate)!)
    }
    expect(new Set(gates.map((g) => g.eventId)).size).toBe(gates.length)
  })

  it('members arrive in their registered cars, and the plate read normalises to the plate', () => {
    const { m, gates } = day(11)
    const registry = new Map(simulatedMembers({ seed: 11 }).map((x) => [x.ref, x]))
    const s = m.summary()
    expect(s.memberCarArrivals).toBeGreaterThan(5)
    expect(gates.filter((g) => g.type === 'entry' && g.memberRef)).toHaveLength(s.memberCarArrivals)
    for (const g of gates) {
      expect(normalizePlate(g.plateRead)).toMatchObject({ ok: true, plate: g.plate })
      if (g.memberRef) expect(registry.get(g.memberRef)!.plates).toEqual([g.plate])
    }
  })

  it('a member driving in carries the app: the car’s member and the phone’s iBeacon are the same member', () => {
    const registry = new Map(simulatedMembers({ seed: 4 }).map((x) => [x.ref, x]))
    const m = new StoreModel({ seed: 4, startMs: at(11), rateMultiplier: 3 })
    let linked = 0
    for (let t = at(11); t <= at(13); t += 60_000) {
      const { gates } = m.step(t)
      const people = m.truth().people
      for (const g of gates) {
        if (g.type !== 'entry' || !g.memberRef) continue
        const driver = people.find((p) => p.member && `m-${p.member.minor}` === g.memberRef)
        expect(driver, g.memberRef).toBeDefined()
        expect(driver!.devices.some((d) => d.beaconId === driver!.member!.beaconId)).toBe(true)
        expect(registry.get(g.memberRef)!.beaconIds).toEqual([driver!.member!.beaconId])
        linked++
      }
    }
    expect(linked).toBeGreaterThan(3)
  })

  it('stores of a chain share one loyalty programme (memberSeed) while their crowds differ', () => {
    const registry = new Map(simulatedMembers({ seed: 1 }).map((x) => [x.ref, x]))
    const m = new StoreModel({ seed: 9, memberSeed: 1, startMs: at(11), rateMultiplier: 3 })
    const own = new StoreModel({ seed: 9, startMs: at(11), rateMultiplier: 3 })
    let checked = 0
    for (let t = at(11); t <= at(13); t += 60_000) {
      const { gates } = m.step(t)
      own.step(t)
      for (const p of m.truth().people) {
        if (!p.member) continue
        expect(registry.get(`m-${p.member.minor}`)!.beaconIds).toEqual([p.member.beaconId])
        checked++
      }
      for (const g of gates) if (g.memberRef) expect(registry.get(g.memberRef)!.plates).toEqual([g.plate])
    }
    expect(checked).toBeGreaterThan(10)
    // The same seed with its own programme has the same crowd size: memberSeed changes who, not how many.
    expect(Object.values(own.summary().arrivalsByHour).reduce((a, b) => a + b, 0)).toBeGreaterThan(20)
    expect(own.summary().arrivalsByHour).toEqual(m.summary().arrivalsByHour)
  })

  it('cars never change the people of a seed', () => {
    const noPark = { ...demoStore, parking: undefined }
    const a = new StoreModel({ seed: 3, startMs: at(11), layout: noPark, warmupMs: HOUR })
    const b = new StoreModel({ seed: 3, startMs: at(11), warmupMs: HOUR })
    a.step(at(14))
    b.step(at(14))
    expect(JSON.stringify(b.truth().people)).toBe(JSON.stringify(a.truth().people))
    expect(a.summary().carArrivals).toBe(0)
    expect(b.summary().carArrivals).toBeGreaterThan(0)
  })

  it('gate batches validate against the contract', () => {
    const { gates } = day(11)
    for (const g of gates) expect(Number.isInteger(g.ts), String(g.ts)).toBe(true)
    const batch = gateBatch(gates.slice(0, 50))
    expect(checker(GateBatch).Check(batch)).toBe(true)
    for (const e of batch.events) expect(checker(GateEventItem).Check(e)).toBe(true)
  })
})
