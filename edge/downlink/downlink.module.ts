import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import {
  campaignProblems,
  geofenceProblems,
  layoutProblems,
  CamerasConfigPayload,
  cameraProblems,
  MembersConfigPayload,
  topics,
  TriggersConfigPayload,
  ZonesConfigPayload,
  type CameraConfig,
  type ConfigAppliedEvent,
} from '../contracts/index.ts'
import type { Clock } from '../core/clock.ts'
import type { EdgeConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { EdgeModule, Publish } from '../core/module.ts'
import { MemberIndex } from '../geofence/member-index.ts'
import type { PresenceModule } from '../presence/presence.module.ts'

/** The parts this edge applies; anything else is answered with an error. */
const PARTS = ['zones', 'triggers', 'members', 'cameras'] as const
type Part = (typeof PARTS)[number]
type Payloads = { zones: ZonesConfigPayload; triggers: TriggersConfigPayload; members: MembersConfigPayload; cameras: CamerasConfigPayload }

const schemas: { [P in Part]: { schema: TSchema; check: TypeCheck<TSchema> } } = {
  zones: { schema: ZonesConfigPayload, check: TypeCompiler.Compile(ZonesConfigPayload) },
  triggers: { schema: TriggersConfigPayload, check: TypeCompiler.Compile(TriggersConfigPayload) },
  members: { schema: MembersConfigPayload, check: TypeCompiler.Compile(MembersConfigPayload) },
  cameras: { schema: CamerasConfigPayload, check: TypeCompiler.Compile(CamerasConfigPayload) },
}

/** Cross-field problems of each part, as `path: problem` lines. */
function problemsOf<P extends Part>(part: P, payload: Payloads[P]): string[] {
  if (part === 'zones') {
    const p = payload as ZonesConfigPayload
    return layoutProblems(p.zones, p.sensors)
  }
  if (part === 'triggers') {
    const p = payload as TriggersConfigPayload
    const out: string[] = []
    const dup = (ids: string[], base: string) => {
      const seen = new Set<string>()
      ids.forEach((id, i) => {
        if (seen.has(id)) out.push(`${base}/${i}/id: duplicate id "${id}"`)
        seen.add(id)
      })
    }
    dup(p.geofences.map((g) => g.id), '/geofences')
    dup(p.campaigns.map((c) => c.id), '/campaigns')
    p.geofences.forEach((g, i) => out.push(...geofenceProblems(g, `/geofences/${i}`)))
    p.campaigns.forEach((c, i) => out.push(...campaignProblems(c, undefined, `/campaigns/${i}`)))
    return out
  }
  if (part === 'cameras') return cameraProblems((payload as CamerasConfigPayload).cameras)
  const p = payload as MembersConfigPayload
  const out: string[] = []
  const refs = new Set<string>()
  const beacons = new Map<string, string>()
  p.members.forEach((m, i) => {
    if (refs.has(m.ref)) out.push(`/members/${i}/ref: duplicate member "${m.ref}"`)
    refs.add(m.ref)
    m.beaconIds.forEach((b, j) => {
      const other = beacons.get(b.toLowerCase())
      if (other !== undefined && other !== m.ref) out.push(`/members/${i}/beaconIds/${j}: "${b}" also belongs to member "${other}"`)
      beacons.set(b.toLowerCase(), m.ref)
    })
  })
  return out
}

/**
 * Downlink configuration from central (`stores/{storeId}/config/{part}`, retained), applied live:
 * - `zones` replaces the store layout (zones and sensor placement);
 * - `triggers` the trade-area geofences and the campaigns the trigger engine evaluates;
 * - `members` the members this store may recognise (phones by beacon, cars by plate).
 * Every payload is validated (schema, then the cross-field rules of rules.ts); a version at or below
 * the applied one is acknowledged and not re-applied. The outcome, with every error, is published
 * on `stores/{storeId}/events/config` (and so reaches central through the uplink). The last applied
 * payload of each part is kept on disk (dataDir/downlink/{part}.json) so a restart without the
 * central broker starts with it.
 */
export class DownlinkModule implements EdgeModule {
  readonly name = 'downlink'
  /** Applied version per part. */
  readonly versions = new Map<string, number>()
  /** The applied triggers config (geofences and campaigns), if any. */
  triggers?: TriggersConfigPayload
  /** The applied members (empty until the first sync). */
  members = new MemberIndex()
  private readonly listeners = new Set<(part: 'triggers' | 'members') => void>()
  private readonly dir: string

  constructor(
    private readonly cfg: EdgeConfig,
    private readonly presence: PresenceModule,
    private readonly publish: Publish,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.dir = join(cfg.dataDir, 'downlink')
  }

  /** The camera module's apply (wired by the app): a new camera list from central. */
  onCameras?: (cameras: CameraConfig[]) => unknown

  /** Called after `triggers` or `members` changed; returns the unsubscribe function. */
  onMarketing(fn: (part: 'triggers' | 'members') => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  async start(): Promise<void> {
    for (const part of PARTS) {
      const file = join(this.dir, `${part}.json`)
      let text: string
      try {
        text = await readFile(file, 'utf8')
      } catch {
        continue // nothing applied yet: the configuration file's layout / no campaigns stand
      }
      const r = this.validate(part, text)
      if ('errors' in r) {
        this.log.error({ file, errors: r.errors }, 'stored downlink config is invalid; not restored')
        continue
      }
      // A newer one may already have arrived from central while we were starting.
      if (r.payload.version > (this.versions.get(part) ?? 0)) this.use(part, r.payload)
    }
  }

  /** Apply one downlink message; never throws. */
  async apply(part: string, payload: Buffer): Promise<ConfigAppliedEvent> {
    const event = (version: number | null, ok: boolean, errors: string[]): ConfigAppliedEvent => ({ v: 1, part, version, ok, errors, ts: this.clock.now() })
    let result: ConfigAppliedEvent
    if (payload.length === 0) {
      result = event(null, true, []) // a cleared retained message: nothing to apply
    } else if (!(PARTS as readonly string[]).includes(part)) {
      result = event(null, false, [`STORE_EDGE_ERR_VALIDATION: config part "${part}" is not applied by this edge version`])
    } else {
      const p = part as Part
      const r = this.validate(p, payload.toString('utf8'))
      if ('errors' in r) result = event(r.version, false, r.errors)
      else if (r.payload.version <= (this.versions.get(p) ?? 0)) result = event(r.payload.version, true, []) // replay of what we run
      else {
        try {
          this.use(p, r.payload)
          await this.persist(p, payload)
          result = event(r.payload.version, true, [])
        } catch (err) {
          this.log.error({ err, part }, 'applying downlink config failed')
          result = event(r.payload.version, false, [`STORE_EDGE_ERR_INTERNAL: ${(err as Error).message}`])
        }
      }
    }
    if (!result.ok) this.log.warn({ part, errors: result.errors }, 'downlink config rejected')
    await this.publish(topics.storeEvents(this.cfg.store.id, 'config'), result)
    return result
  }

  private validate<P extends Part>(part: P, text: string): { payload: Payloads[P] } | { errors: string[]; version: number | null } {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      return { errors: [`STORE_EDGE_ERR_PAYLOAD_NOT_JSON: ${(err as Error).message}`], version: null }
    }
    const { schema, check } = schemas[part]
    value = Value.Default(schema, value) // zone floor/kind, campaign priority/holdout/lateness, member tags…
    const version = typeof (value as { version?: unknown })?.version === 'number' ? (value as { version: number }).version : null
    const schemaErrors = [...check.Errors(value)].slice(0, 20).map((e) => `STORE_EDGE_ERR_SCHEMA: ${e.path || '/'}: ${e.message}`)
    if (schemaErrors.length) return { errors: schemaErrors, version }
    const payload = value as Payloads[P]
    const code = part === 'triggers' ? 'STORE_EDGE_ERR_BAD_RULE' : 'STORE_EDGE_ERR_VALIDATION'
    const problems = problemsOf(part, payload).map((p) => `${code}: ${p}`)
    if (problems.length) return { errors: problems.slice(0, 50), version }
    return { payload }
  }

  private use<P extends Part>(part: P, payload: Payloads[P]): void {
    this.versions.set(part, payload.version)
    if (part === 'zones') {
      const p = payload as ZonesConfigPayload
      // The config object is shared by the modules: replacing its layout is what they all see.
      this.cfg.zones = p.zones
      this.cfg.sensors = p.sensors
      if (this.presence.engine) this.presence.reconfigure()
      return
    }
    if (part === 'cameras') {
      this.cfg.cameras = (payload as CamerasConfigPayload).cameras
      void Promise.resolve(this.onCameras?.(this.cfg.cameras)).catch((err) => this.log.error({ err }, 'applying cameras failed'))
      this.log.info({ part, version: payload.version }, 'downlink config applied')
      return
    }
    if (part === 'triggers') this.triggers = payload as TriggersConfigPayload
    else this.members = new MemberIndex(payload as MembersConfigPayload)
    for (const fn of this.listeners) {
      try {
        fn(part)
      } catch (err) {
        this.log.error({ err, part }, 'downlink listener threw')
      }
    }
    this.log.info({ part, version: payload.version }, 'downlink config applied')
  }

  private async persist(part: Part, payload: Buffer): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const file = join(this.dir, `${part}.json`)
    const tmp = `${file}.${process.pid}.tmp`
    await writeFile(tmp, payload)
    await rename(tmp, file)
  }

  async stop(): Promise<void> {
    this.listeners.clear()
  }
}
