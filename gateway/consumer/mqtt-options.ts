import { readFileSync } from 'node:fs'
import type { IClientOptions } from 'mqtt'
import type { GatewayConfig } from '../core/config.ts'

/** Connection options shared by the gateway's MQTT clients (credentials and TLS from config). */
export function baseMqttOptions(m: GatewayConfig['mqtt']): IClientOptions {
  return {
    protocolVersion: m.protocolVersion,
    username: m.username || undefined,
    password: m.password || undefined,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    keepalive: 30,
    rejectUnauthorized: m.rejectUnauthorized,
    ...(m.caFile ? { ca: readFileSync(m.caFile) } : {}),
    ...(m.certFile ? { cert: readFileSync(m.certFile) } : {}),
    ...(m.keyFile ? { key: readFileSync(m.keyFile) } : {}),
  }
}
