import { mkdir } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { Aedes } from 'aedes'
import { ClassicLevel } from 'classic-level'
// aedes ≥ 1 needs an async persistence; this entry of the package is it (its main export is not). Untyped.
// @ts-expect-error no type declarations
import AsyncLevelPersistence from 'aedes-persistence-level/asyncPersistence.js'
import type { Logger } from '../core/logger.ts'
import type { GatewayModule } from '../core/module.ts'

/**
 * The embedded central broker of the demo and of single-box installs (mqtt.url empty): aedes
 * with durable sessions and retained messages on disk. MQTT 3.1.1 only (aedes has no MQTT 5), so
 * no shared subscriptions: one gateway replica. A chain runs Mosquitto or EMQX instead and sets
 * mqtt.url. No authentication: it binds to loopback by default and must stay there.
 */
export class CentralBroker implements GatewayModule {
  readonly name = 'central-broker'
  aedes?: Aedes
  private server?: Server
  private db?: ClassicLevel<string, Buffer>
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(
    private readonly opts: { host: string; port: number; dataDir: string },
    private readonly log: Logger,
  ) {}

  get url(): string {
    return `mqtt://${this.opts.host}:${this.port}`
  }

  async start(): Promise<void> {
    const dir = join(this.opts.dataDir, 'central-broker')
    await mkdir(dir, { recursive: true })
    this.db = new ClassicLevel<string, Buffer>(dir, { valueEncoding: 'buffer' })
    await this.db.open()
    this.aedes = await Aedes.createBroker({ persistence: new AsyncLevelPersistence(this.db), concurrency: 1000 } as never)
    this.aedes.on('clientError', (client, err) => this.log.debug({ client: client?.id, err: err.message }, 'client error'))
    this.server = createServer({ noDelay: true }, (socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
      this.aedes!.handle(socket)
    })
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject)
      this.server!.listen(this.opts.port, this.opts.host, () => resolve())
    })
    this.port = (this.server.address() as { port: number }).port
    this.log.info({ url: this.url }, 'embedded central broker listening')
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server?.listening ? this.server.close(() => r()) : r()))
    for (const s of this.sockets) s.destroy()
    if (this.aedes) await new Promise<void>((r) => this.aedes!.close(() => r()))
    if (this.db?.status === 'open') await this.db.close()
  }
}
