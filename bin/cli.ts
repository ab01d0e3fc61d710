import { Command } from 'commander'
import { registerEdgeCommands } from '../edge/cli/edge.command.ts'
import { registerSimulateCommands } from '../edge/cli/simulate.command.ts'
import { decodeCommand } from '../edge/cli/decode.command.ts'
import { registerGatewayCommands } from '../gateway/cli/gateway.command.ts'
import { registerDemoCommand } from './demo.command.ts'
import { registerModelsCommands } from '../models/models.command.ts'

/**
 * `store-edge`: one CLI for the edge node and the central gateway. It lives here, above both, so
 * the edge never imports the gateway (nor the gateway the edge): only the demo wires them together,
 * and even then over MQTT.
 */
const program = new Command()
  .name('store-edge')
  .description('Store edge node (MQTT broker, sensor decoders, presence, aggregates) and the central gateway (time series, API, dashboard).')
  .version('0.2.0')
  .showHelpAfterError()

registerEdgeCommands(program)
registerSimulateCommands(program)
program.addCommand(decodeCommand())
registerGatewayCommands(program)
registerDemoCommand(program)
registerModelsCommands(program)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  const e = err as Error & { code?: string }
  process.stderr.write(`store-edge: ${e.code?.startsWith('STORE_EDGE_ERR') ? `${e.code}: ` : ''}${e.message}\n`)
  process.exit(e.code === 'STORE_EDGE_ERR_CONFIG_INVALID' ? 78 : 1)
}
