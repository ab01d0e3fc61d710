import { join } from 'node:path'
import type { Command } from 'commander'
import { Option } from 'commander'
import { topics } from '../contracts/index.ts'
import { loadConfig, type EdgeConfig } from '../core/config.ts'
import { createLogger } from '../core/logger.ts'
import { CredentialStore, DEVICE_KINDS, type DeviceKind } from '../broker/credentials.ts'
import { EdgeApp } from '../app.ts'
import { provisionStoreCommand } from './provision-store.command.ts'
import { startSystemdNotify } from '../core/systemd-notify.ts'

/** Stop cleanly on SIGINT/SIGTERM: the edge publishes its offline health and closes sessions. */
export function onShutdown(fn: () => Promise<void>): void {
  let stopping = false
  const handler = (sig: string) => {
    if (stopping) process.exit(1)
    stopping = true
    process.stderr.write(`\nstore-edge: ${sig}, stopping…\n`)
    fn().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`store-edge: stop failed: ${(err as Error).message}\n`)
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', () => handler('SIGINT'))
  process.once('SIGTERM', () => handler('SIGTERM'))
}

export function configFrom(opts: { config?: string; dataDir?: string }): EdgeConfig {
  const env = { ...process.env }
  if (opts.dataDir) env.STORE_EDGE_DATA_DIR = opts.dataDir
  return loadConfig(opts.config, env)
}

/** What a device may publish and subscribe to, for the provisioning printout. */
export function deviceTopics(deviceId: string, kind: DeviceKind): { publish: string[]; subscribe: string[] } {
  switch (kind) {
    case 'espresense':
      return { publish: [`espresense/devices/+/${deviceId}`, `espresense/rooms/${deviceId}/#`], subscribe: [`espresense/rooms/${deviceId}/+/set`, 'espresense/rooms/*/+/set', 'espresense/settings/#'] }
    case 'omg':
      return { publish: [`{base}/${deviceId}/BTtoMQTT/+`, `{base}/${deviceId}/LWT`, `{base}/${deviceId}/SYStoMQTT`], subscribe: [`{base}/${deviceId}/commands/#`] }
    case 'service':
      return { publish: ['stores/{storeId}/config/{zones|triggers|members|cameras}'], subscribe: ['stores/#', 'sensors/+/status'] }
    default: {
      const data = kind === 'ble' ? 'ble' : kind === 'wifi' ? 'wifi' : 'parking'
      return { publish: [topics.sensor(deviceId, data), `${topics.sensorStatus(deviceId)} (retained online; last will offline)`], subscribe: [topics.sensorConfig(deviceId)] }
    }
  }
}

export function registerEdgeCommands(program: Command): void {
  const configOpt = () => new Option('-c, --config <file>', 'YAML or JSON configuration file').env('STORE_EDGE_CONFIG')
  const dataDirOpt = () => new Option('-d, --data-dir <dir>', 'data directory (overrides dataDir)')

  program
    .command('edge')
    .description('run the store edge node (broker, decoders, presence, aggregates, local API)')
    .addOption(configOpt())
    .addOption(dataDirOpt())
    .action(async (opts: { config?: string; dataDir?: string }) => {
      const config = configFrom(opts)
      const logger = createLogger({ level: config.log.level })
      const app = new EdgeApp({ config, logger })
      await app.start()
      // Under systemd (Type=notify): READY=1 now, WATCHDOG=1 from the event loop, STOPPING=1 on shutdown.
      const notifier = await startSystemdNotify(`store ${config.store.id} running`, { logger: logger.child({ module: 'systemd' }) })
      onShutdown(async () => {
        await notifier.stopping(`store ${config.store.id} stopping`)
        await app.stop()
      })
    })

  const provision = program.command('provision').description('create credentials for devices')
  provision
    .command('device <id>')
    .description('create (or rotate) the credentials of one device and print them with its topics')
    .addOption(new Option('-k, --kind <kind>', 'device kind').choices(DEVICE_KINDS as unknown as string[]).default('ble'))
    .addOption(configOpt())
    .addOption(dataDirOpt())
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { kind: DeviceKind; config?: string; dataDir?: string; json?: boolean }) => {
      const config = configFrom(opts)
      const store = await new CredentialStore(join(config.dataDir, 'devices.json')).load()
      const cred = await store.provision(id, opts.kind)
      const out = {
        deviceId: cred.deviceId,
        kind: cred.kind,
        username: cred.username,
        password: cred.password,
        clientId: cred.deviceId,
        broker: { mqtt: `mqtt://<edge-host>:${config.broker.port}`, ws: config.broker.wsPort >= 0 ? `ws://<edge-host>:${config.broker.wsPort}` : null },
        topics: deviceTopics(cred.deviceId, cred.kind),
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify(out, null, 2) + '\n')
        return
      }
      process.stdout.write(
        [
          `device    ${out.deviceId} (${out.kind})`,
          `username  ${out.username}`,
          `password  ${out.password}    (shown once; stored only as an scrypt hash)`,
          `client id ${out.clientId}    (must equal the username)`,
          `broker    ${out.broker.mqtt}${out.broker.ws ? `  or  ${out.broker.ws}` : ''}`,
          `publish   ${out.topics.publish.join('\n          ')}`,
          `subscribe ${out.topics.subscribe.join('\n          ')}`,
          '',
        ].join('\n'),
      )
    })

  provision.addCommand(provisionStoreCommand())

  program
    .command('config')
    .description('validate a configuration and print it resolved (defaults and STORE_EDGE_* overrides applied)')
    .addOption(configOpt())
    .addOption(dataDirOpt())
    .action((opts: { config?: string; dataDir?: string }) => {
      process.stdout.write(JSON.stringify(configFrom(opts), null, 2) + '\n')
    })
}
