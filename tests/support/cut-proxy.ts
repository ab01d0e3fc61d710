import { createConnection, createServer, type Server, type Socket } from 'node:net'

/**
 * A TCP relay standing for the network between the edges and the central broker, so a test can
 * cut the uplink (every connection dropped, new ones refused) and restore it on the same port.
 */
export class CutProxy {
  private server?: Server
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(private readonly targetPort: () => number) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`
  }

  async start(): Promise<this> {
    this.server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: this.targetPort() })
      for (const s of [client, upstream]) {
        this.sockets.add(s)
        s.on('close', () => this.sockets.delete(s))
        s.on('error', () => undefined)
      }
      client.pipe(upstream).pipe(client)
      const kill = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on('close', kill)
      upstream.on('close', kill)
    })
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', () => r()))
    this.port = (this.server.address() as { port: number }).port
    return this
  }

  async cut(): Promise<void> {
    const closed = new Promise<void>((r) => (this.server?.listening ? this.server.close(() => r()) : r()))
    for (const s of this.sockets) s.destroy()
    await closed
  }

  async restore(): Promise<void> {
    await this.start()
  }

  async stop(): Promise<void> {
    await this.cut()
  }
}
