import { join } from 'node:path'
import { Option, type Command } from 'commander'
import { CredentialStore, type DeviceKind } from '../broker/credentials.ts'
import { resolveConfig, type EdgeConfig } from '../core/config.ts'
import { createLogger, type Logger } from '../core/logger.ts'
import { systemClock } from '../core/clock.ts'
import { demoStore, type StoreLayout } from '../sim/demo-store.ts'
import { Simulator } from '../sim/simulator.ts'
import { configFrom, onShutdown } from './edge.command.ts'

export interface SimOpts {
  config?: string
  dataDir?: string
  broker?: string
  speed: string
  seed: string
  rate: string
  startHour?: string
  warmup: string
  truth?: boolean
}

const kindOf = (k: string): DeviceKind => (k === 'wifi' ? 'wifi' : k === 'espresense' ? 'espresense' : 'ble')

/** Provision every simulated sensor in the edge's credential store (the running edge picks them up). */
export async function provisionLayout(dataDir: string, layout: StoreLayout): Promise<Record<string, { username: string; password: string }>> {
  const store = await new CredentialStore(join(dataDir, 'devices.json')).load()
  const out: Record<string, { username: string; password: string }> = {}
  for (const s of layout.sensors) {
    if (s.kind !== 'ble' && s.kind !== 'wifi' && s.kind !== 'espresense') continue
    const c = await store.provision(s.id, kindOf(s.kind))
    out[s.id] = { username: c.username, password: c.password }
  }
  // Car-park gate controllers: the simulator drives them when it has their credentials.
  for (const g of layout.parking?.gates ?? []) {
    const c = await store.provision(g.id, 'parking')
    out[g.id] = { username: c.username, password: c.password }
  }
  return out
}

/** The demo store's zones, sensors and car park, for an edge config that has no zones or sensors. */
export function withDemoLayout(cfg: EdgeConfig): EdgeConfig {
  if (cfg.zones.length || cfg.sensors.length) return cfg
  return resolveConfig({ ...cfg, zones: demoStore.zones, sensors: demoStore.sensors, parking: { ...cfg.parking, enabled: true } }, {})
}

export function simOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--speed <x>', 'simulated seconds per wall-clock second (the edge must share the clock above 1)').default('1'))
    .addOption(new Option('--seed <n>', 'random seed (the same seed replays the same day)').default('1'))
    .addOption(new Option('--rate <x>', 'shopper arrival multiplier over a typical store').default('3'))
    .addOption(new Option('--start-hour <h>', 'store-local hour the simulated day starts at (default: now; demo: 12)'))
    .addOption(new Option('--warmup <minutes>', 'simulated minutes run before publishing, so the store is not empty').default('20'))
}

export function makeSimulator(opts: SimOpts, brokerUrl: string, credentials: Record<string, { username: string; password: string }>, log: Logger, memberSeed?: number): Simulator {
  const num = (x: string | undefined, what: string) => {
    const n = Number(x)
    if (x === undefined || !Number.isFinite(n)) throw new Error(`--${what} must be a number, got "${x}"`)
    return n
  }
  const startHour = opts.startHour === undefined ? undefined : num(opts.startHour, 'start-hour')
  if (startHour !== undefined && (startHour < 0 || startHour > 23)) throw new Error('--start-hour must be 0..23')
  return new Simulator({
    brokerUrl,
    credentials,
    clock: systemClock,
    seed: num(opts.seed, 'seed'),
    memberSeed,
    speed: num(opts.speed, 'speed'),
    rateMultiplier: num(opts.rate, 'rate'),
    startHour,
    warmupMs: num(opts.warmup, 'warmup') * 60_000,
    logger: log,
    mqtt: { reconnectPeriod: 1000 },
  })
}

export function registerSimulateCommands(program: Command): void {
  simOptions(
    program
      .command('simulate')
      .description('drive a realistic store over real MQTT against a running edge (provisions its sensors in the edge data dir)')
      .addOption(new Option('-c, --config <file>', 'the edge configuration (for its data dir and broker port)').env('STORE_EDGE_CONFIG'))
      .addOption(new Option('-d, --data-dir <dir>', 'the edge data directory (overrides dataDir)'))
      .addOption(new Option('--broker <url>', 'edge broker URL (default: mqtt://127.0.0.1:<broker.port>)'))
      .option('--truth', 'print the ground truth every 10 s as JSON lines'),
  ).action(async (opts: SimOpts) => {
    const cfg = configFrom(opts)
    const log = createLogger({ level: cfg.log.level })
    if (Number(opts.speed) !== 1) log.warn('speed ≠ 1: timestamps run ahead of the edge clock and will be rejected beyond ingest.maxSkewMs')
    const credentials = await provisionLayout(cfg.dataDir, demoStore)
    const sim = makeSimulator(opts, opts.broker ?? `mqtt://127.0.0.1:${cfg.broker.port}`, credentials, log)
    await sim.start()
    log.info({ sensors: Object.keys(credentials).length }, 'simulating the demo store')
    const timer = setInterval(() => {
      const t = sim.truth()
      if (opts.truth) process.stdout.write(JSON.stringify({ ts: t.ts, inStore: t.inStore, occupancyByZone: t.occupancyByZone, membersInStore: t.membersInStore, summary: sim.summary() }) + '\n')
      else log.info({ inStore: t.inStore, occupancy: t.occupancyByZone, published: sim.published }, 'simulated store')
    }, 10_000)
    onShutdown(async () => {
      clearInterval(timer)
      await sim.stop()
    })
  })
}
