import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { resolveGatewayConfig, type GatewayConfig } from '../../gateway/core/config.ts'
import type { MinuteAggregate } from '../../edge/contracts/index.ts'

export const PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/test'

/** A fresh PostgreSQL database on the machine's server for one test file; drop() removes it. */
export async function freshDatabase(prefix = 'se_gw'): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  await admin.query(`create database "${name}"`)
  await admin.end()
  return {
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL })
      await c.connect()
      await c.query(`drop database if exists "${name}" with (force)`)
      await c.end()
    },
  }
}

/** A gateway config for tests: port 0, quiet, its own data dir. */
export function gatewayTestConfig(dataDir: string, overrides: Record<string, unknown> = {}): GatewayConfig {
  return resolveGatewayConfig({ dataDir, http: { port: 0 }, centralBroker: { port: 0 }, log: { level: 'silent' }, ...overrides }, {})
}

/** A plausible minute aggregate for tests, fully determined by (storeId, minute, zones). */
export function syntheticAggregate(storeId: string, minute: number, zones: string[], seed = 0): MinuteAggregate {
  const k = Math.floor(minute / 60_000) + seed
  const n = (m: number) => (k * 7 + m * 13) % 50
  return {
    v: 1,
    storeId,
    minute,
    sources: [
      { source: 'ble', visitors: n(1), passersBy: n(2), unique: n(3) % 7, repeat: n(4) % 3, randomized: n(5), sightings: 100 + n(6) },
      { source: 'wifi', visitors: n(7), passersBy: n(8), unique: n(9) % 5, repeat: n(10) % 2, randomized: n(11), sightings: 50 + n(12) },
    ],
    zones: zones.map((zone, i) => ({
      zone,
      occupancy: n(20 + i),
      occupancyBySource: { ble: n(20 + i) % 30, wifi: n(21 + i) % 20 },
      enters: n(30 + i) % 9,
      exits: n(31 + i) % 9,
      dwellCount: i % 2,
      dwellP50S: i % 2 ? 30 + (n(40 + i) % 100) : null,
      dwellP90S: i % 2 ? 200 + (n(41 + i) % 100) : null,
    })),
    parking: { arrivals: n(50) % 6, departures: n(51) % 6, occupancy: n(52) },
  }
}

/** Log in through the API and return the session cookie header. */
export async function login(baseUrl: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) })
  if (!res.ok) throw new Error(`login ${username}: HTTP ${res.status} ${await res.text()}`)
  return res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
}

/** Read Server-Sent Events from a URL until `until` returns true for the collected events. */
export async function readSse(url: string, cookie: string, until: (events: Array<{ event: string; data: unknown; at: number }>) => boolean, timeoutMs = 20_000) {
  const ac = new AbortController()
  const timer = setTimeout(() => ac.abort(), timeoutMs)
  const events: Array<{ event: string; data: unknown; at: number }> = []
  try {
    const res = await fetch(url, { headers: { cookie, accept: 'text/event-stream' }, signal: ac.signal })
    if (!res.ok || !res.body) throw new Error(`stream: HTTP ${res.status}`)
    const decoder = new TextDecoder()
    let buf = ''
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true })
      let i: number
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i)
        buf = buf.slice(i + 2)
        const ev = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (ev && data) events.push({ event: ev, data: JSON.parse(data), at: Date.now() })
      }
      if (until(events)) break
    }
    return events
  } catch (err) {
    if (ac.signal.aborted) throw new Error(`stream: timed out with ${events.length} events`)
    throw err
  } finally {
    clearTimeout(timer)
    ac.abort()
  }
}

export const token = () => randomBytes(4).toString('hex')
