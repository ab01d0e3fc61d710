import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** The gateway's Prometheus metrics, one registry per app instance. Label values are bounded. */
export function createGatewayMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry()
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'store_edge_gw_process_' })
  const r = [registry]
  return {
    registry,
    uplinkMessages: new Counter({ name: 'store_edge_gw_uplink_messages_total', help: 'Uplink messages accepted, by kind.', labelNames: ['kind'] as const, registers: r }),
    uplinkRejected: new Counter({
      name: 'store_edge_gw_uplink_rejected_total',
      help: 'Uplink messages rejected (acknowledged and not written), by reason code.',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    redeliveries: new Counter({ name: 'store_edge_gw_uplink_redeliveries_total', help: 'Messages the broker delivered again (DUP): written again, overwritten in the TSDB.', registers: r }),
    unacked: new Gauge({ name: 'store_edge_gw_uplink_unacked', help: 'Messages received and not yet acknowledged (waiting for their TSDB write).', registers: r }),
    mqttConnected: new Gauge({ name: 'store_edge_gw_mqtt_connected', help: '1 while connected to the central broker, by client (durable, live).', labelNames: ['client'] as const, registers: r }),
    tsdbLines: new Counter({ name: 'store_edge_gw_tsdb_lines_written_total', help: 'Lines the TSDB accepted.', registers: r }),
    tsdbRejectedLines: new Counter({ name: 'store_edge_gw_tsdb_lines_rejected_total', help: 'Lines the TSDB refused as malformed (4xx), isolated and dropped.', registers: r }),
    tsdbFailures: new Counter({ name: 'store_edge_gw_tsdb_write_failures_total', help: 'Write requests that failed and were retried.', registers: r }),
    tsdbPending: new Gauge({ name: 'store_edge_gw_tsdb_pending_lines', help: 'Lines waiting to be written.', registers: r }),
    tsdbWriteSeconds: new Histogram({
      name: 'store_edge_gw_tsdb_write_seconds',
      help: 'Duration of successful write requests.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: r,
    }),
    liveClients: new Gauge({ name: 'store_edge_gw_live_clients', help: 'Open live streams (SSE).', registers: r }),
    liveEvents: new Counter({ name: 'store_edge_gw_live_events_total', help: 'Events sent to live streams, by type.', labelNames: ['type'] as const, registers: r }),
    windowStores: new Gauge({ name: 'store_edge_gw_window_stores', help: 'Stores in the in-memory window.', registers: r }),
    logins: new Counter({ name: 'store_edge_gw_logins_total', help: 'Login attempts, by result.', labelNames: ['result'] as const, registers: r }),
  }
}
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>
