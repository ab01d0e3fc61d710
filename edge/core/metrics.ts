import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * The edge's Prometheus metrics, one registry per app instance (tests run several in one process).
 * Label values are bounded: device ids are provisioned, reasons and kinds come from the catalogue.
 */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry()
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'store_edge_process_' })
  const r = [registry]
  // Hot-path counters are batched by their owners; these run before the counters are read.
  const collectors: Array<() => void> = []
  const runCollectors = () => {
    for (const fn of collectors) fn()
  }
  return {
    registry,
    /** Register a function that moves batched counts into their metrics before each scrape. */
    onCollect(fn: () => void) {
      collectors.push(fn)
    },
    brokerRefused: new Counter({
      name: 'store_edge_broker_refused_total',
      help: 'Connections, publishes and subscriptions the broker refused or dropped, by reason.',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    brokerClients: new Gauge({ name: 'store_edge_broker_clients', help: 'Connected MQTT clients.', registers: r }),
    brokerPublishes: new Counter({ name: 'store_edge_broker_publishes_total', help: 'Publishes accepted from clients.', registers: r }),
    devicesOnline: new Gauge({ name: 'store_edge_devices_online', help: 'Sensors whose last status is online.', registers: r }),
    messages: new Counter({
      name: 'store_edge_ingest_messages_total',
      help: 'Inbound sensor messages decoded, by kind.',
      labelNames: ['kind'] as const,
      registers: r,
      collect: runCollectors,
    }),
    sightings: new Counter({
      name: 'store_edge_ingest_sightings_total',
      help: 'Sightings accepted, by source.',
      labelNames: ['source'] as const,
      registers: r,
      collect: runCollectors,
    }),
    rejected: new Counter({
      name: 'store_edge_ingest_rejected_total',
      help: 'Payloads or batch items rejected, by device, kind and reason code.',
      labelNames: ['device', 'kind', 'code'] as const,
      registers: r,
    }),
    ingestLatency: new Histogram({
      name: 'store_edge_ingest_latency_seconds',
      help: 'Broker receipt to presence updated, per message.',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
      registers: r,
    }),
    presenceIdentities: new Gauge({ name: 'store_edge_presence_identities', help: 'Identities tracked by presence.', registers: r }),
    presenceOccupancy: new Gauge({
      name: 'store_edge_presence_occupancy',
      help: 'Devices present per zone.',
      labelNames: ['zone'] as const,
      registers: r,
    }),
    presenceEvents: new Counter({
      name: 'store_edge_presence_events_total',
      help: 'Presence events emitted, by type.',
      labelNames: ['type'] as const,
      registers: r,
    }),
    aggregatesPublished: new Counter({ name: 'store_edge_aggregates_published_total', help: 'Minute aggregates published.', registers: r }),
    uplinkConnected: new Gauge({ name: 'store_edge_uplink_connected', help: '1 while connected to the central broker.', registers: r }),
    uplinkBacklog: new Gauge({ name: 'store_edge_uplink_backlog', help: 'Messages in the uplink spool, not yet acknowledged by the central broker.', registers: r }),
    uplinkSent: new Counter({ name: 'store_edge_uplink_sent_total', help: 'Messages acknowledged by the central broker.', registers: r }),
    uplinkDropped: new Counter({ name: 'store_edge_uplink_dropped_total', help: 'Messages dropped because the spool was full (spoolMaxEntries).', registers: r }),
    uplinkReplayed: new Counter({ name: 'store_edge_uplink_replayed_total', help: 'Messages sent again after a reconnect (the replay window).', registers: r }),
    geofenceEvents: new Counter({
      name: 'store_edge_geofence_events_total',
      help: 'Geofence events emitted, by type (enter, dwell, exit), zone kind and source.',
      labelNames: ['type', 'kind', 'source'] as const,
      registers: r,
    }),
    geofenceFlapsSuppressed: new Counter({ name: 'store_edge_geofence_flaps_suppressed_total', help: 'Exits cancelled because the subject came back within the flap window.', registers: r }),
    locationFixes: new Counter({ name: 'store_edge_location_fixes_total', help: 'Member-app location fixes accepted.', registers: r }),
    locationFixesRejected: new Counter({
      name: 'store_edge_location_fixes_rejected_total',
      help: 'Member-app location fixes rejected, by reason (accuracy, future, too-old, out-of-order, speed).',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    couponRequests: new Counter({
      name: 'store_edge_coupon_requests_total',
      help: 'Coupon requests fired by the trigger engine, by campaign and holdout.',
      labelNames: ['campaign', 'holdout'] as const,
      registers: r,
    }),
    triggersSuppressed: new Counter({
      name: 'store_edge_triggers_suppressed_total',
      help: 'Campaigns whose trigger matched an event but did not fire, by reason (schedule, audience, caps, exclusion, lateness…).',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    inferenceSeconds: new Histogram({
      name: 'store_edge_inference_seconds',
      help: 'Inference job latency by model and stage: queue (waiting for a worker), prepare (decode and resize until the first model run), infer (inside onnxruntime), decode (outputs to results), total (submit to result).',
      labelNames: ['model', 'stage'] as const,
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2],
      registers: r,
    }),
    inferenceJobs: new Counter({
      name: 'store_edge_inference_jobs_total',
      help: 'Inference jobs finished, by task and outcome (ok, or the error code).',
      labelNames: ['task', 'outcome'] as const,
      registers: r,
    }),
    inferenceDropped: new Counter({
      name: 'store_edge_inference_dropped_total',
      help: 'Frames dropped because a newer frame of the same source replaced them in the queue, or the source limit was reached, by source.',
      labelNames: ['source'] as const,
      registers: r,
    }),
    inferenceQueueDepth: new Gauge({ name: 'store_edge_inference_queue_depth', help: 'Frames waiting for an inference worker, all sources.', registers: r }),
    inferenceWorkers: new Gauge({ name: 'store_edge_inference_workers', help: 'Inference worker threads running and ready.', registers: r }),
    inferenceWorkerRestarts: new Counter({ name: 'store_edge_inference_worker_restarts_total', help: 'Inference worker threads that died and were started again.', registers: r }),
    cameraUp: new Gauge({ name: 'store_edge_camera_up', help: '1 while the camera delivers frames (status online).', labelNames: ['camera'] as const, registers: r }),
    cameraFps: new Gauge({ name: 'store_edge_camera_fps', help: 'Frames per second the camera delivered over the last seconds.', labelNames: ['camera'] as const, registers: r }),
    cameraLag: new Gauge({ name: 'store_edge_camera_lag_seconds', help: 'Time since the camera’s last frame.', labelNames: ['camera'] as const, registers: r }),
    cameraDropped: new Counter({ name: 'store_edge_camera_dropped_frames_total', help: 'Frames skipped because analysis of an earlier frame was still running.', labelNames: ['camera'] as const, registers: r }),
    cameraReconnects: new Counter({ name: 'store_edge_camera_reconnects_total', help: 'Times the camera stream was opened again after a failure.', labelNames: ['camera'] as const, registers: r }),
    cameraErrors: new Counter({ name: 'store_edge_camera_errors_total', help: 'Frames whose analysis failed, by camera and error code.', labelNames: ['camera', 'code'] as const, registers: r }),
    cameraFrameSeconds: new Histogram({
      name: 'store_edge_camera_frame_seconds',
      help: 'From a frame being read off the decoder to its analysis being done (detection, tracking, counting, events), by camera.',
      labelNames: ['camera'] as const,
      buckets: [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5],
      registers: r,
    }),
    footfall: new Counter({ name: 'store_edge_footfall_total', help: 'Counting-line crossings, by camera, entrance and direction.', labelNames: ['camera', 'entrance', 'dir'] as const, registers: r }),
    cameraEvents: new Counter({ name: 'store_edge_camera_events_total', help: 'Camera events (loitering, overcrowded, overcrowding-cleared, member, plate), by camera and type.', labelNames: ['camera', 'type'] as const, registers: r }),
    cameraPeople: new Gauge({ name: 'store_edge_camera_zone_people', help: 'People in a camera zone now.', labelNames: ['camera', 'zone'] as const, registers: r }),
    moduleUp: new Gauge({
      name: 'store_edge_module_up',
      help: '1 when a module started, 0 when its start failed.',
      labelNames: ['module'] as const,
      registers: r,
    }),
  }
}

export type EdgeMetrics = ReturnType<typeof createMetrics>
