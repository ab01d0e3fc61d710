import { Command } from 'commander'

/**
 * `store-edge`: one CLI for the edge node and the central gateway. It lives here, above both, so
 * the edge never imports the gateway (nor the gateway the edge): only the demo wires them together,
 * and even then over MQTT.
 *
 * Each command's module is loaded only when that command runs (all of them for help), and the
 * bundle is split per module: an edge box running `store-edge edge` without cameras never loads
 * the gateway (PostgreSQL, PGlite), the model converter or onnxruntime and sharp. That is about
 * 60 MB of resident memory per edge process.
 */
const program = new Command()
  .name('store-edge')
  .description('Store edge node (MQTT broker, sensor decoders, presence, aggregates) and the central gateway (time series, API, dashboard).')
  .version('0.2.0')
  .showHelpAfterError()

const commands: Record<string, () => Promise<unknown>> = {
  edge: async () => (await import('../edge/cli/edge.command.ts')).registerEdgeCommands(program),
  simulate: async () => (await import('../edge/cli/simulate.command.ts')).registerSimulateCommands(program),
  decode: async () => program.addCommand((await import('../edge/cli/decode.command.ts')).decodeCommand()),
  gateway: async () => (await import('../gateway/cli/gateway.command.ts')).registerGatewayCommands(program),
  demo: async () => (await import('./demo.command.ts')).registerDemoCommand(program),
  models: async () => (await import('../models/models.command.ts')).registerModelsCommands(program),
  audit: async () => program.addCommand((await import('../edge/cli/audit.command.ts')).auditCommand()),
}
// `provision` and `config` live with `edge`.
const owner: Record<string, string> = { provision: 'edge', config: 'edge' }
const name = process.argv[2] ?? ''
const one = commands[owner[name] ?? name]
if (one) await one()
else for (const register of Object.values(commands)) await register() // help, --version, or an unknown command (commander says so)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  const e = err as Error & { code?: string }
  process.stderr.write(`store-edge: ${e.code?.startsWith('STORE_EDGE_ERR') ? `${e.code}: ` : ''}${e.message}\n`)
  process.exit(e.code === 'STORE_EDGE_ERR_CONFIG_INVALID' ? 78 : 1)
}
