import type { Member } from '../contracts/index.ts'
import { ibeaconId, MEMBER_BEACON_UUID, Rng } from './model.ts'
import { randomPlate } from './plates.ts'

/**
 * The simulated loyalty programme: `memberPoolSize` members numbered 1…n (the iBeacon minor their
 * app advertises), tier = the iBeacon major, deterministic tags, and a share of them with a
 * registered car. A pure function of the seed, so a demo or a test can push exactly the members
 * the simulator's shoppers are (`MembersConfigPayload`) and check the edge recognises them.
 */
export interface SimMembersOptions {
  seed?: number
  memberPoolSize?: number
  memberUuid?: string
  /** Share of members who registered a car (default 0.4). */
  carOwnerShare?: number
}

export const MEMBER_TAGS: ReadonlyArray<readonly [string, number]> = [
  ['beauty', 0.35],
  ['fashion', 0.3],
  ['food', 0.25],
  ['sports', 0.2],
  ['kids', 0.2],
]

/** Loyalty tiers (iBeacon major), member 1 first: most are tier 1. `rng` is the model's first fork. */
export function memberTiers(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.weighted([[1, 6], [2, 3], [3, 1]] as const))
}

/** The members' own streams derive from the seed but never draw from the model's generator. */
const plateSeed = (seed: number) => (Math.imul(seed, 0x9e3779b1) ^ 0x5bd1e995) >>> 0
const tagSeed = (seed: number) => (Math.imul(seed, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0

export const memberRef = (minor: number) => `m-${minor}`

export function simulatedMembers(opts: SimMembersOptions = {}): Member[] {
  const seed = opts.seed ?? 1
  const n = opts.memberPoolSize ?? 500
  const uuid = (opts.memberUuid ?? MEMBER_BEACON_UUID).toLowerCase()
  const tiers = memberTiers(new Rng(seed).fork(), n)
  const plates = new Rng(plateSeed(seed))
  const tags = new Rng(tagSeed(seed))
  const share = opts.carOwnerShare ?? 0.4
  const taken = new Set<string>()
  const out: Member[] = []
  for (let minor = 1; minor <= n; minor++) {
    const major = tiers[minor - 1]!
    const m: Member = {
      ref: memberRef(minor),
      tier: major,
      tags: MEMBER_TAGS.filter(([, p]) => tags.bool(p)).map(([t]) => t),
      beaconIds: [ibeaconId(uuid, major, minor)],
      plates: [],
      visits: 0,
    }
    if (plates.bool(share)) {
      let p = randomPlate(plates)
      while (taken.has(p)) p = randomPlate(plates)
      taken.add(p)
      m.plates.push(p)
    }
    out.push(m)
  }
  return out
}
