import { Command } from 'commander'
import { registerEdgeCommands } from './edge.command.ts'
import { registerSimulateCommands } from './simulate.command.ts'
import { decodeCommand } from './decode.command.ts'

/** `store-edge`: one CLI whose subcommands grow with the project. */
const program = new Command()
  .name('store-edge')
  .description('Store edge node: MQTT broker, sensor decoders, presence and aggregates for one store.')
  .version('0.1.0')
  .showHelpAfterError()

registerEdgeCommands(program)
registerSimulateCommands(program)
program.addCommand(decodeCommand())

try {
  await program.parseAsync(process.argv)
} catch (err) {
  const e = err as Error & { code?: string }
  process.stderr.write(`store-edge: ${e.code?.startsWith('STORE_EDGE_ERR') ? `${e.code}: ` : ''}${e.message}\n`)
  process.exit(e.code === 'STORE_EDGE_ERR_CONFIG_INVALID' ? 78 : 1)
}
