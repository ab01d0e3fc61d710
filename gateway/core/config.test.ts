import { writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StoreEdgeError } from '../../edge/contracts/index.ts'
import { tempDir } from '../../tests/helpers.ts'
import { gatewayEnvOverrides, loadGatewayConfig, resolveGatewayConfig } from './config.ts'

/** The config error's message, which must list every problem with its path. */
function configError(input: unknown, env: NodeJS.ProcessEnv = {}): string {
  try {
    resolveGatewayConfig(input, env)
  } catch (err) {
    expect(err).toBeInstanceOf(StoreEdgeError)
    expect((err as StoreEdgeError).code).toBe('STORE_EDGE_ERR_CONFIG_INVALID')
    return (err as Error).message
  }
  throw new Error('expected STORE_EDGE_ERR_CONFIG_INVALID')
}

describe('resolveGatewayConfig: defaults', () => {
  const cfg = resolveGatewayConfig({}, {})

  it('fills every section with its documented default', () => {
    expect(cfg.http).toEqual({ host: '127.0.0.1', port: 8090, publicUrl: '', trustProxy: false })
    expect(cfg.mqtt).toMatchObject({ url: '', protocolVersion: 5, shareGroup: 'store-edge-gw', receiveMaximum: 4000, sessionExpirySec: 604_800, rejectUnauthorized: true })
    expect(cfg.centralBroker).toEqual({ host: '127.0.0.1', port: 1885 })
    expect(cfg.tsdb).toMatchObject({ url: '', queryUrl: '', batchLines: 20_000, flushMs: 250, timeoutMs: 10_000, gzip: false, bucket: 'store-edge' })
    expect(cfg.database).toEqual({ url: '', poolMax: 10 })
    expect(cfg.window).toEqual({ hours: 24, maxStores: 20_000 })
    expect(cfg.auth).toEqual({ sessionTtlHours: 12, cookieSecure: false, bootstrapAdminPassword: '', loginMaxFailures: 5, loginBanMs: 30_000, demoUsers: false })
    expect(cfg.dataDir).toBe('./var/gateway')
  })

  it('the replica id defaults to the host name, made safe for an MQTT client id', () => {
    expect(cfg.id).toBe(hostname().toLowerCase().replace(/[^a-z0-9_-]/g, '-'))
    expect(cfg.id).toMatch(/^[a-z0-9_-]+$/)
    expect(resolveGatewayConfig({ id: 'gw-7' }, {}).id).toBe('gw-7')
  })

  it('does not change its input', () => {
    const input = { http: { port: 1 } }
    resolveGatewayConfig(input, { STORE_EDGE_GW_HTTP_PORT: '2' })
    expect(input).toEqual({ http: { port: 1 } })
  })
})

describe('resolveGatewayConfig: environment', () => {
  it('derives one STORE_EDGE_GW_ variable per leaf from the schema path', () => {
    const names = gatewayEnvOverrides().map((o) => o.env)
    expect(names).toContain('STORE_EDGE_GW_TSDB_URL')
    expect(names).toContain('STORE_EDGE_GW_TSDB_BATCH_LINES')
    expect(names).toContain('STORE_EDGE_GW_MQTT_PROTOCOL_VERSION')
    expect(names).toContain('STORE_EDGE_GW_AUTH_LOGIN_MAX_FAILURES')
    expect(names).toContain('STORE_EDGE_GW_DATA_DIR')
    expect(new Set(names).size).toBe(names.length)
  })

  it('overrides the file and coerces numbers, booleans and the protocol version', () => {
    const cfg = resolveGatewayConfig(
      { http: { port: 1000 }, tsdb: { gzip: true } },
      { STORE_EDGE_GW_HTTP_PORT: '9000', STORE_EDGE_GW_TSDB_GZIP: 'false', STORE_EDGE_GW_AUTH_COOKIE_SECURE: '1', STORE_EDGE_GW_WINDOW_HOURS: '2.5', STORE_EDGE_GW_MQTT_PROTOCOL_VERSION: '4', STORE_EDGE_GW_MQTT_SHARE_GROUP: '' },
    )
    expect(cfg.http.port).toBe(9000)
    expect(cfg.tsdb.gzip).toBe(false)
    expect(cfg.auth.cookieSecure).toBe(true)
    expect(cfg.window.hours).toBe(2.5)
    expect(cfg.mqtt.protocolVersion).toBe(4)
    expect(cfg.mqtt.shareGroup).toBe('')
  })

  it('accepts DATABASE_URL, TSDB_URL and MQTT_URL; the STORE_EDGE_GW_ name wins over the alias', () => {
    const env = { DATABASE_URL: 'postgres://u@db/x', TSDB_URL: 'http://vm:8428', MQTT_URL: 'mqtts://broker:8883' }
    const cfg = resolveGatewayConfig({}, env)
    expect([cfg.database.url, cfg.tsdb.url, cfg.mqtt.url]).toEqual(['postgres://u@db/x', 'http://vm:8428', 'mqtts://broker:8883'])
    const both = resolveGatewayConfig({}, { ...env, STORE_EDGE_GW_TSDB_URL: 'http://other:8428' })
    expect(both.tsdb.url).toBe('http://other:8428')
  })
})

describe('resolveGatewayConfig: errors', () => {
  it('refuses a non-object', () => {
    for (const x of [null, 'x', 1, []]) expect(configError(x)).toMatch(/must be an object/)
  })

  it('reports every schema error with its path at once', () => {
    const msg = configError({ http: { port: 70_000 }, tsdb: { flushMs: 5 }, window: { hours: 0 } }, { STORE_EDGE_GW_AUTH_LOGIN_MAX_FAILURES: 'lots', STORE_EDGE_GW_TSDB_GZIP: 'yes' })
    for (const path of ['/http/port', '/tsdb/flushMs', '/window/hours', '/auth/loginMaxFailures', '/tsdb/gzip']) expect(msg).toContain(`${path}:`)
  })

  it('an empty numeric env var is an error, not 0', () => {
    expect(configError({}, { STORE_EDGE_GW_HTTP_PORT: '' })).toContain('/http/port:')
  })

  it('refuses a protocol version other than 4 or 5', () => {
    expect(configError({ mqtt: { protocolVersion: 3 } })).toContain('/mqtt/protocolVersion:')
  })

  it('refuses shared subscriptions over MQTT 3.1.1 at an external broker', () => {
    expect(configError({ mqtt: { url: 'mqtt://broker:1883', protocolVersion: 4 } })).toContain('/mqtt/shareGroup: shared subscriptions need protocolVersion 5')
    expect(resolveGatewayConfig({ mqtt: { url: 'mqtt://broker:1883', protocolVersion: 4, shareGroup: '' } }, {}).mqtt.shareGroup).toBe('')
    // The embedded broker (no url) is run with plain subscriptions whatever the group says.
    expect(resolveGatewayConfig({ mqtt: { protocolVersion: 4 } }, {}).mqtt.protocolVersion).toBe(4)
  })

  it('refuses a share group that is not a topic-safe name', () => {
    expect(configError({ mqtt: { shareGroup: 'a/b' } })).toContain('/mqtt/shareGroup: letters, digits')
    expect(configError({ mqtt: { shareGroup: '#' } })).toContain('/mqtt/shareGroup:')
  })

  it.each([
    ['/tsdb/url', { tsdb: { url: 'ftp://vm:8428' } }],
    ['/tsdb/url', { tsdb: { url: 'vm:8428' } }],
    ['/tsdb/url', { tsdb: { url: 'http://vm 8428' } }],
    ['/tsdb/queryUrl', { tsdb: { queryUrl: 'localhost:8428' } }],
    ['/database/url', { database: { url: 'mysql://db/x' } }],
    ['/database/url', { database: { url: 'db.example.com' } }],
    ['/mqtt/url', { mqtt: { url: 'http://broker:1883' } }],
    ['/mqtt/url', { mqtt: { url: 'broker:1883' } }],
  ])('refuses a bad URL at %s: %j', (path, input) => {
    expect(configError(input)).toContain(`${path}: must be`)
  })

  it('reports URL problems together', () => {
    const msg = configError({ tsdb: { url: 'x', queryUrl: 'y' }, database: { url: 'z' } })
    expect(msg.split('\n').filter((l) => l.includes(': must be'))).toHaveLength(3)
  })

  it('accepts the URL forms it documents', () => {
    const cfg = resolveGatewayConfig({ tsdb: { url: 'https://vm.example:8428/', queryUrl: 'http://vmselect:8481/select/0/prometheus' }, database: { url: 'postgresql://u:p@db:5432/x' }, mqtt: { url: 'wss://broker/mqtt' } }, {})
    expect(cfg.tsdb.queryUrl).toBe('http://vmselect:8481/select/0/prometheus')
  })
})

describe('loadGatewayConfig', () => {
  let dir: string
  let cleanup: () => Promise<void>
  beforeAll(async () => ({ dir, cleanup } = await tempDir('se-gw-config-')))
  afterAll(() => cleanup())

  it('reads YAML, then applies the environment', async () => {
    const file = join(dir, 'gw.yaml')
    await writeFile(file, 'id: gw-1\nhttp:\n  port: 8100\ntsdb:\n  url: http://vm:8428\n')
    const cfg = loadGatewayConfig(file, { STORE_EDGE_GW_HTTP_PORT: '8200' })
    expect([cfg.id, cfg.http.port, cfg.tsdb.url]).toEqual(['gw-1', 8200, 'http://vm:8428'])
  })

  it('an empty file is the defaults; no file is the defaults', async () => {
    const file = join(dir, 'empty.yaml')
    await writeFile(file, '')
    expect(loadGatewayConfig(file, {}).http.port).toBe(8090)
    expect(loadGatewayConfig(undefined, {}).http.port).toBe(8090)
  })

  it('a missing file or invalid YAML is a config error naming the file', async () => {
    const bad = join(dir, 'bad.yaml')
    await writeFile(bad, 'http: [port: 1\n')
    expect(() => loadGatewayConfig(join(dir, 'missing.yaml'), {})).toThrow(/cannot read .*missing\.yaml/)
    expect(() => loadGatewayConfig(bad, {})).toThrow(/bad\.yaml is not valid YAML/)
  })
})
