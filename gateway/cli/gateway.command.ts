import { Option, type Command } from 'commander'
import { loadGatewayConfig, type GatewayConfig } from '../core/config.ts'
import { createLogger } from '../core/logger.ts'
import { GatewayApp } from '../app.ts'

/** Stop cleanly on SIGINT/SIGTERM: written lines are acknowledged, the rest stays at the broker. */
function onSignal(fn: () => Promise<void>): void {
  let stopping = false
  const handler = (sig: string) => {
    if (stopping) process.exit(1)
    stopping = true
    process.stderr.write(`\nstore-edge gateway: ${sig}, stopping…\n`)
    fn().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGINT', () => handler('SIGINT'))
  process.once('SIGTERM', () => handler('SIGTERM'))
}

export function gatewayConfigFrom(opts: { config?: string; dataDir?: string; port?: string }): GatewayConfig {
  const env = { ...process.env }
  if (opts.dataDir) env.STORE_EDGE_GW_DATA_DIR = opts.dataDir
  if (opts.port) env.STORE_EDGE_GW_HTTP_PORT = opts.port
  return loadGatewayConfig(opts.config, env)
}

export function registerGatewayCommands(program: Command): void {
  program
    .command('gateway')
    .description('run a central gateway replica: uplink consumer ($share), TSDB writer, API and dashboard')
    .addOption(new Option('-c, --config <file>', 'gateway configuration (YAML/JSON); env STORE_EDGE_GW_*, DATABASE_URL, TSDB_URL, MQTT_URL override it').env('STORE_EDGE_GW_CONFIG'))
    .addOption(new Option('-d, --data-dir <dir>', 'data directory (embedded database and broker)'))
    .addOption(new Option('-p, --port <port>', 'HTTP port of the API and dashboard'))
    .action(async (opts: { config?: string; dataDir?: string; port?: string }) => {
      const cfg = gatewayConfigFrom(opts)
      const log = createLogger({ level: cfg.log.level })
      const app = new GatewayApp({ config: cfg, logger: log })
      await app.start()
      process.stderr.write(`store-edge gateway ${cfg.id}: dashboard ${app.url}  broker ${app.brokerUrl}\n`)
      onSignal(() => app.stop())
    })
}
