import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { pino } from 'pino'
import { resolveConfig, type EdgeConfig } from '../edge/core/config.ts'

/** A logger that keeps tests quiet unless TEST_LOG is set. */
export const testLogger = () => pino({ level: process.env.TEST_LOG ?? 'silent' })

export async function tempDir(prefix = 'store-edge-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** An edge config on free ports (0) in a private data dir. */
export function testConfig(dataDir: string, overrides: Record<string, unknown> = {}): EdgeConfig {
  const base = {
    dataDir,
    store: { id: 'test-store', timezone: 'UTC' },
    broker: { host: '127.0.0.1', port: 0, wsPort: 0 },
    http: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    ...overrides,
  }
  return resolveConfig(base, {})
}

export function connect(url: string, opts: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
    // Only a failure to connect ends the client; a later error (a broker restart a test provokes)
    // is the test's business, and the client may reconnect.
    const failed = (err: Error) => {
      c.end(true)
      reject(err)
    }
    c.once('error', failed)
    c.once('connect', () => {
      c.off('error', failed)
      c.on('error', () => undefined)
      resolve(c)
    })
  })
}

export async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Sum of a counter's values with matching labels, read from a prom-client registry. */
export async function counterValue(registry: { getSingleMetric(name: string): unknown }, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name) as { get(): Promise<{ values: Array<{ value: number; labels: Record<string, string | number> }> }> } | undefined
  if (!m) return 0
  const { values } = await m.get()
  return values.filter((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x)).reduce((a, v) => a + v.value, 0)
}

/**
 * Every JSON message published on an edge's own broker under `topic` (wildcards allowed), pushed
 * into `into` as it arrives. Through the broker's own subscription, as the uplink bridge reads it:
 * devices may not subscribe to store topics.
 */
export function collectJson(app: { broker: { aedes: { subscribe(topic: string, fn: (packet: { payload: Buffer | string }, cb: () => void) => void, done: () => void): void } } }, topic: string, into: unknown[]): Promise<void> {
  return new Promise((resolve) =>
    app.broker.aedes.subscribe(
      topic,
      (packet, cb) => {
        into.push(JSON.parse(packet.payload.toString()))
        cb()
      },
      () => resolve(),
    ),
  )
}
