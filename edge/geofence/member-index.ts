import { normalizePlate, type Member, type MembersConfigPayload } from '../contracts/index.ts'

/**
 * Who the store may recognise, from the retained `config/members` downlink: a member's phone
 * (the iBeacon identity its app advertises), a member's car (a registered plate) and the member
 * record itself, by ref. Pure and immutable: a new sync builds a new index.
 */
export class MemberIndex {
  readonly version: number
  private readonly refs = new Map<string, Member>()
  private readonly beacons = new Map<string, Member>()
  private readonly plates = new Map<string, Member>()

  constructor(payload?: MembersConfigPayload) {
    this.version = payload?.version ?? 0
    for (const m of payload?.members ?? []) {
      this.refs.set(m.ref, m)
      // The edge writes beacon identities lower case (`ibeacon:<uuid>:<major>:<minor>`).
      for (const b of m.beaconIds) this.beacons.set(b.toLowerCase(), m)
      for (const p of m.plates) {
        const r = normalizePlate(p)
        // Central normalises on registration; a plate that does not parse is kept as written.
        this.plates.set(r.ok ? r.plate : p, m)
      }
    }
  }

  get size(): number {
    return this.refs.size
  }

  /** Every member, in sync order. */
  all(): Member[] {
    return [...this.refs.values()]
  }

  byRef(ref: string): Member | undefined {
    return this.refs.get(ref)
  }

  byBeacon(id: string): Member | undefined {
    return this.beacons.get(id.toLowerCase())
  }

  /** `plate` as read: normalised here (O/0, I/1, full-width, separators). */
  byPlate(plate: string): Member | undefined {
    const r = normalizePlate(plate)
    return this.plates.get(r.ok ? r.plate : plate)
  }

  /** All members (for replays and tests). */
  members(): IterableIterator<Member> {
    return this.refs.values()
  }
}

/** The privacy-safe subject of a member: the same for their phone, their car and their app's GPS. */
export const memberSubject = (ref: string) => `member:${ref}`
