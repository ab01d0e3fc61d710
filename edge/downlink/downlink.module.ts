import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import { layoutProblems, topics, ZonesConfigPayload, type ConfigAppliedEvent } from '../contracts/index.ts'
import type { Clock } from '../core/clock.ts'
import type { EdgeConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { EdgeModule, Publish } from '../core/module.ts'
import type { PresenceModule } from '../presence/presence.module.ts'

const checkZones = TypeCompiler.Compile(ZonesConfigPayload)

/**
 * Downlink configuration from central (`stores/{storeId}/config/{part}`, retained), applied live:
 * `zones` replaces the store layout (zones and sensor placement). Every payload is validated; the
 * outcome, with every error, is published on `stores/{storeId}/events/config` (and so reaches
 * central through the uplink). The last applied layout is kept on disk so a restart without the
 * central broker starts with it. Parts this edge does not apply yet are answered with an error.
 */
export class DownlinkModule implements EdgeModule {
  readonly name = 'downlink'
  /** Applied version per part. */
  readonly versions = new Map<string, number>()
  private readonly file: string

  constructor(
    private readonly cfg: EdgeConfig,
    private readonly presence: PresenceModule,
    private readonly publish: Publish,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.file = join(cfg.dataDir, 'downlink', 'zones.json')
  }

  async start(): Promise<void> {
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch {
      return // nothing applied yet: the configuration file's layout stands
    }
    const r = this.validate(text)
    if ('errors' in r) {
      this.log.error({ file: this.file, errors: r.errors }, 'stored layout is invalid; keeping the configured one')
      return
    }
    // A newer layout may already have arrived from central while we were starting.
    if (r.payload.version > (this.versions.get('zones') ?? 0)) this.use(r.payload)
  }

  /** Apply one downlink message; never throws. */
  async apply(part: string, payload: Buffer): Promise<ConfigAppliedEvent> {
    const event = (version: number | null, ok: boolean, errors: string[]): ConfigAppliedEvent => ({ v: 1, part, version, ok, errors, ts: this.clock.now() })
    let result: ConfigAppliedEvent
    if (payload.length === 0) {
      result = event(null, true, []) // a cleared retained message: nothing to apply
    } else if (part !== 'zones') {
      result = event(null, false, [`STORE_EDGE_ERR_VALIDATION: config part "${part}" is not applied by this edge version`])
    } else {
      const r = this.validate(payload.toString('utf8'))
      if ('errors' in r) result = event(r.version, false, r.errors)
      else if (r.payload.version <= (this.versions.get('zones') ?? 0)) result = event(r.payload.version, true, []) // replay of what we run
      else {
        this.use(r.payload)
        await this.persist(payload)
        result = event(r.payload.version, true, [])
      }
    }
    if (!result.ok) this.log.warn({ part, errors: result.errors }, 'downlink config rejected')
    await this.publish(topics.storeEvents(this.cfg.store.id, 'config'), result)
    return result
  }

  private validate(text: string): { payload: ZonesConfigPayload } | { errors: string[]; version: number | null } {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      return { errors: [`STORE_EDGE_ERR_PAYLOAD_NOT_JSON: ${(err as Error).message}`], version: null }
    }
    value = Value.Default(ZonesConfigPayload, value) // floor, kind, rssiOffset, absorption
    const version = typeof (value as { version?: unknown })?.version === 'number' ? (value as { version: number }).version : null
    const schemaErrors = [...checkZones.Errors(value)].slice(0, 20).map((e) => `STORE_EDGE_ERR_SCHEMA: ${e.path || '/'}: ${e.message}`)
    if (schemaErrors.length) return { errors: schemaErrors, version }
    const payload = value as ZonesConfigPayload
    const problems = layoutProblems(payload.zones, payload.sensors).map((p) => `STORE_EDGE_ERR_VALIDATION: ${p}`)
    if (problems.length) return { errors: problems, version }
    return { payload }
  }

  private use(p: ZonesConfigPayload): void {
    // The config object is shared by the modules: replacing its layout is what they all see.
    this.cfg.zones = p.zones
    this.cfg.sensors = p.sensors
    this.versions.set('zones', p.version)
    if (this.presence.engine) this.presence.reconfigure()
  }

  private async persist(payload: Buffer): Promise<void> {
    await mkdir(join(this.cfg.dataDir, 'downlink'), { recursive: true })
    const tmp = `${this.file}.${process.pid}.tmp`
    await writeFile(tmp, payload)
    await rename(tmp, this.file)
  }

  async stop(): Promise<void> {}
}
