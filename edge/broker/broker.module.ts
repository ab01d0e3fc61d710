import { createServer, type Server, type Socket } from 'node:net'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Duplex } from 'node:stream'
import { Aedes, type AedesOptions, type Client } from 'aedes'
import { ClassicLevel } from 'classic-level'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { EdgeConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { EdgeMetrics } from '../core/metrics.ts'
import type { Clock } from '../core/clock.ts'
import type { EdgeModule } from '../core/module.ts'
import { ErrorCodes, type ErrorCode } from '../contracts/index.ts'
import { canPublish, canSubscribe, mayRetain, type Principal } from './acl.ts'
import type { CredentialStore } from './credentials.ts'
import { FrameLimiter, FrameTooLargeError } from './frame-limit.ts'
import { TokenBucket } from './rate-limit.ts'
import { AuthBackoff } from './auth-backoff.ts'
import { LogThrottle } from '../core/log-throttle.ts'
// The async level persistence (aedes ≥ 1 requires async persistence; the package's main export is
// the callback adapter). Not typed upstream.
// @ts-expect-error no type declarations
import AsyncLevelPersistence from 'aedes-persistence-level/asyncPersistence.js'

/**
 * aedes writes every PUBACK as its own 4-byte write; at thousands of QoS 1 messages a second the
 * syscalls dominate. Cork the connection on the first write of a tick and uncork on the next, so
 * the acks of one read batch leave in one segment.
 */
function corkPerTick(conn: Socket | Duplex): void {
  const write = conn.write.bind(conn) as (...args: unknown[]) => boolean
  let corked = false
  const uncork = () => {
    corked = false
    conn.uncork()
  }
  conn.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true
      conn.cork()
      process.nextTick(uncork)
    }
    return write(...args)
  }) as typeof conn.write
}

/** A refusal with a catalogue code; MQTT 3.1.1 CONNACK codes where the spec has one. */
function refusal(code: ErrorCode, returnCode?: number): Error & { returnCode?: number; code: ErrorCode } {
  const e = new Error(ErrorCodes[code].message) as Error & { returnCode?: number; code: ErrorCode }
  e.code = code
  if (returnCode !== undefined) e.returnCode = returnCode
  return e
}

interface ClientState {
  principal: Principal
  bucket: TokenBucket
  dropped: number
}

export interface BrokerAddresses {
  mqtt: { host: string; port: number }
  ws?: { host: string; port: number }
}

/**
 * The embedded MQTT broker: aedes over TCP and WebSocket, every device authenticated, ACL per
 * device, durable sessions (QoS 1 subscriptions and their queued messages survive a restart),
 * packet-size and publish-rate limits. Refusals are counted by reason and logged.
 */
export class BrokerModule implements EdgeModule {
  readonly name = 'broker'
  aedes!: Aedes
  private tcp?: Server
  private http?: HttpServer
  private wss?: WebSocketServer
  private db?: ClassicLevel<string, Buffer>
  private readonly clients = new WeakMap<Client, ClientState>()
  private readonly sockets = new Set<Socket | Duplex>()
  /** Remote address per connection stream handed to aedes (our wrapper has none of its own). */
  private readonly remote = new WeakMap<object, string>()
  private backoff!: AuthBackoff
  private addresses?: BrokerAddresses

  constructor(
    private readonly cfg: EdgeConfig,
    private readonly credentials: CredentialStore,
    private readonly log: Logger,
    private readonly metrics: EdgeMetrics,
    private readonly clock: Clock,
  ) {}

  get address(): BrokerAddresses {
    if (!this.addresses) throw new Error('broker not started')
    return this.addresses
  }

  async start(): Promise<void> {
    const b = this.cfg.broker
    let persistence: unknown
    if (b.persistence === 'level') {
      const dir = join(this.cfg.dataDir, 'broker')
      await mkdir(dir, { recursive: true })
      this.db = new ClassicLevel<string, Buffer>(dir, { valueEncoding: 'buffer' })
      await this.db.open()
      persistence = new AsyncLevelPersistence(this.db)
    }
    const opts: AedesOptions = {
      persistence,
      concurrency: 1000,
      drainTimeout: 30_000,
      connectTimeout: 10_000,
      queueLimit: 100,
      maxTopicLevels: 16,
      maxClientsIdLength: 64,
      heartbeatInterval: 60_000,
      preConnect: (client, _packet, done) => {
        if (this.aedes.connectedClients >= b.maxConnections) {
          this.refuse('STORE_EDGE_ERR_TOO_MANY_CONNECTIONS', client)
          return done(refusal('STORE_EDGE_ERR_TOO_MANY_CONNECTIONS', 3), false)
        }
        done(null, true)
      },
      authenticate: (client, username, password, done) => {
        const address = this.remote.get(client.conn) ?? 'unknown'
        const now = this.clock.now()
        if (username && b.authBanMs > 0) {
          const wait = this.backoff.blockedFor(address, username, now)
          if (wait > 0) {
            // No password check while banned: a guesser gets no answer and costs no scrypt.
            this.refuse('STORE_EDGE_ERR_AUTH_BACKOFF', client, `${Math.ceil(wait / 1000)} s left for ${address}`)
            return done(refusal('STORE_EDGE_ERR_AUTH_BACKOFF', 4) as never, false)
          }
        }
        // MQTT-3.1.3: the client id identifies the session; we bind it to the device id so one
        // device cannot take over (or read the queued messages of) another's session.
        if (!username || client.id !== username) {
          this.refuse(username ? 'STORE_EDGE_ERR_CLIENT_ID' : 'STORE_EDGE_ERR_AUTH_FAILED', client)
          return done(refusal(username ? 'STORE_EDGE_ERR_CLIENT_ID' : 'STORE_EDGE_ERR_AUTH_FAILED', username ? 2 : 4) as never, false)
        }
        this.credentials.verify(username, password).then(
          (rec) => {
            if (!rec) {
              this.refuse('STORE_EDGE_ERR_AUTH_FAILED', client)
              if (b.authBanMs > 0 && this.backoff.failure(address, username, this.clock.now())) {
                this.log.warn({ client: client.id, address }, 'too many failed logins: refusing this device from this address for a while')
              }
              return done(refusal('STORE_EDGE_ERR_AUTH_FAILED', 4) as never, false)
            }
            this.backoff.success(address, username)
            this.clients.set(client, {
              principal: { deviceId: rec.deviceId, kind: rec.kind },
              bucket: new TokenBucket(b.publishRatePerSec, b.publishBurst, this.clock.now()),
              dropped: 0,
            })
            done(null, true)
          },
          (err) => {
            this.log.error({ err }, 'credential check failed')
            done(refusal('STORE_EDGE_ERR_INTERNAL', 3) as never, false)
          },
        )
      },
      authorizePublish: (client, packet, done) => {
        if (!client) return done(null) // an obsolete will of a client from before a restart
        const st = this.clients.get(client)
        if (!st || !canPublish(st.principal, packet.topic)) {
          this.refuse('STORE_EDGE_ERR_ACL_PUBLISH', client, packet.topic)
          // MQTT-3.3.5-2: we close the connection rather than pretend the message was accepted.
          return done(refusal('STORE_EDGE_ERR_ACL_PUBLISH'))
        }
        const size = packet.payload?.length ?? 0
        if (size > b.maxPacketBytes) {
          this.refuse('STORE_EDGE_ERR_PACKET_TOO_LARGE', client)
          return done(refusal('STORE_EDGE_ERR_PACKET_TOO_LARGE'))
        }
        if (!st.bucket.take(this.clock.now())) {
          st.dropped++
          this.refuse('STORE_EDGE_ERR_RATE_LIMITED', client)
          if (st.dropped >= b.floodDisconnectAfter) return done(refusal('STORE_EDGE_ERR_RATE_LIMITED'))
          // MQTT-3.3.5-2 allows a positive acknowledgement of a message we do not deliver: reroute
          // it to a `$`-topic no subscription can match (MQTT-4.7.2-1) and never retain it.
          packet.topic = `$drop/${st.principal.deviceId}`
          packet.retain = false
          return done(null)
        }
        st.dropped = 0
        if (packet.retain && !mayRetain(st.principal, packet.topic)) packet.retain = false
        this.metrics.brokerPublishes.inc()
        done(null)
      },
      authorizeSubscribe: (client, sub, done) => {
        const st = this.clients.get(client)
        if (!st || !canSubscribe(st.principal, sub.topic)) {
          this.refuse('STORE_EDGE_ERR_ACL_SUBSCRIBE', client, sub.topic)
          // Negate the subscription: SUBACK carries 0x80 for it (MQTT-3.9.3), the client stays.
          return done(null, null)
        }
        done(null, sub)
      },
    }
    this.backoff = new AuthBackoff({ maxFailures: b.authMaxFailures, windowMs: 60_000, banMs: b.authBanMs })
    this.aedes = await Aedes.createBroker(opts)
    this.aedes.on('clientError', (client, err) => {
      // Our own refusals were counted and logged in refuse(); the rest (resets, parse errors) are noise.
      if (!('code' in err && String(err.code).startsWith('STORE_EDGE_ERR'))) {
        this.log.debug({ client: client?.id, err: err.message }, 'client error')
      }
    })
    this.aedes.on('connectionError', (client, err) => {
      this.log.debug({ client: client?.id, err: err.message }, 'connection error')
    })
    this.aedes.on('client', () => this.metrics.brokerClients.set(this.aedes.connectedClients))
    this.aedes.on('clientDisconnect', () => this.metrics.brokerClients.set(this.aedes.connectedClients))

    // noDelay: acks are tiny writes; Nagle + delayed ACK would add ~40 ms to every QoS 1 round trip.
    this.tcp = createServer({ noDelay: true }, (socket) => this.handle(socket))
    this.tcp.maxConnections = b.maxConnections + 10
    await new Promise<void>((resolve, reject) => {
      this.tcp!.once('error', reject)
      this.tcp!.listen(b.port, b.host, () => resolve())
    })
    const tcpAddr = this.tcp.address() as { port: number }
    this.addresses = { mqtt: { host: b.host, port: tcpAddr.port } }

    if (b.wsPort >= 0) {
      this.http = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n')
      })
      this.wss = new WebSocketServer({ server: this.http, maxPayload: b.maxPacketBytes, handleProtocols: (p) => (p.has('mqtt') ? 'mqtt' : p.has('mqttv3.1') ? 'mqttv3.1' : false) })
      this.wss.on('connection', (ws, req) => this.handle(createWebSocketStream(ws), req.socket.remoteAddress))
      await new Promise<void>((resolve, reject) => {
        this.http!.once('error', reject)
        this.http!.listen(b.wsPort, b.host, () => resolve())
      })
      this.addresses.ws = { host: b.host, port: (this.http.address() as { port: number }).port }
    }
    this.log.info({ mqtt: this.addresses.mqtt, ws: this.addresses.ws, persistence: b.persistence }, 'broker listening')
  }

  /** Every connection passes the frame limiter before the MQTT parser sees a byte. */
  private handle(conn: Socket | Duplex, remoteAddress = (conn as Socket).remoteAddress): void {
    const limiter = new FrameLimiter(this.cfg.broker.maxPacketBytes)
    const duplex = Duplex.from({ readable: limiter, writable: conn })
    this.remote.set(duplex, remoteAddress ?? 'unknown')
    corkPerTick(conn)
    this.sockets.add(conn)
    conn.on('close', () => this.sockets.delete(conn))
    conn.on('error', () => conn.destroy())
    limiter.on('error', (err) => {
      if (err instanceof FrameTooLargeError) this.refuse('STORE_EDGE_ERR_PACKET_TOO_LARGE', undefined, `${err.size} bytes`)
      else this.log.debug({ err: err.message }, 'malformed MQTT stream')
      conn.destroy()
    })
    conn.pipe(limiter)
    this.aedes.handle(duplex)
  }

  private readonly logThrottle = new LogThrottle()
  private refuse(code: ErrorCode, client?: Client | null, detail?: string): void {
    const reason = code.replace('STORE_EDGE_ERR_', '').toLowerCase()
    this.metrics.brokerRefused.inc({ reason })
    // A flood must not become a log flood: one line per client and reason per 10 s.
    if (!this.logThrottle.shouldLog(`${client?.id ?? '-'}:${code}`, this.clock.now())) return
    this.log.warn({ code, client: client?.id, detail }, 'broker refused')
  }

  /**
   * First phase of a shutdown: stop accepting and drop every connection, so no publish is
   * acknowledged after the ingest pipeline has stopped (unacknowledged QoS 1 messages are resent by
   * the clients to the next edge process).
   */
  async closeListeners(): Promise<void> {
    this.wss?.close()
    for (const s of this.sockets) s.destroy()
    await Promise.all([
      new Promise<void>((r) => (this.tcp?.listening ? this.tcp.close(() => r()) : r())),
      new Promise<void>((r) => (this.http?.listening ? this.http.close(() => r()) : r())),
    ])
  }

  async stop(): Promise<void> {
    await this.closeListeners()
    if (this.aedes) await new Promise<void>((r) => this.aedes.close(() => r()))
    if (this.db && this.db.status === 'open') await this.db.close()
  }
}
