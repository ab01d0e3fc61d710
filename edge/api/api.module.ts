import type { FastifyInstance } from 'fastify'
import type { EdgeConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { EdgeModule } from '../core/module.ts'
import type { EdgeApp } from '../app.ts'
import { buildHttp } from './http.ts'
import { healthRoutes } from './routes/health.ts'
import { presenceRoutes } from './routes/presence.ts'
import { merakiWebhookRoutes } from './routes/meraki.route.ts'
import { locationRoutes } from './routes/locations.route.ts'
import { parkingWebhookRoutes } from './routes/parking.route.ts'
import { cameraRoutes } from './routes/cameras.routes.ts'

/** The edge's local HTTP API: /health, /metrics, /v1/presence, /v1/stats, and the Meraki webhook. */
export class ApiModule implements EdgeModule {
  readonly name = 'api'
  app!: FastifyInstance
  url = ''

  constructor(
    private readonly cfg: EdgeConfig,
    private readonly edge: EdgeApp,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const app = buildHttp(this.log)
    await app.register(healthRoutes, { edge: this.edge })
    await app.register(presenceRoutes, { edge: this.edge })
    const edge = this.edge
    await app.register(locationRoutes, {
      accept: (report) => {
        if (edge.moduleStatus.get('geofence') !== 'up') return undefined
        edge.bus.emitLocation(report) // synchronous: the geofence module has handled it on return
        return edge.geofence.locationResults.get(report)
      },
    })
    const meraki = this.cfg.webhooks.meraki
    if (meraki.enabled) {
      const edge = this.edge
      await app.register(merakiWebhookRoutes, {
        secret: meraki.secret,
        validator: meraki.validator,
        deviceId: 'meraki',
        decodeContext: () => ({
          deviceId: 'meraki',
          hashMac: (mac: string) => edge.pipeline.hashMacNow(mac),
          now: edge.clock.now(),
          maxSkewMs: this.cfg.ingest.maxSkewMs,
          maxBatch: 10_000,
        }),
        accept: (result) => edge.pipeline.accept('meraki', 'meraki', result, edge.clock.now()),
        onReject: (rejection) => edge.pipeline.rejected('meraki', 'meraki', rejection),
      })
    }
    const parking = this.cfg.parking.webhook
    if (parking.enabled && this.edge.parking) {
      const edge = this.edge
      const car = this.edge.parking
      await app.register(parkingWebhookRoutes, {
        secret: parking.secret,
        decodeContext: () => ({
          deviceId: parking.deviceId,
          hashMac: (s: string) => edge.pipeline.hashMacNow(s),
          now: edge.clock.now(),
          maxSkewMs: this.cfg.ingest.maxSkewMs,
          maxBatch: this.cfg.ingest.maxBatch,
        }),
        accept: (result) => {
          car.ingest(result)
          edge.pipeline.accept(parking.deviceId, 'parking', { sightings: [], rejects: [] }, edge.clock.now())
        },
        onReject: (rejection) => edge.pipeline.rejected(parking.deviceId, 'parking', rejection),
      })
    }
    // The camera module may start after the API (or restart): the hub is looked up per request.
    await app.register(cameraRoutes, {
      hub: () => edge.cameras,
      token: this.cfg.http.cameraToken,
      allowUnblurred: this.cfg.http.cameraUnblurred,
      ffmpegPath: this.cfg.camera.ffmpegPath,
    })
    this.app = app
    const address = await app.listen({ host: this.cfg.http.host, port: this.cfg.http.port })
    this.url = address
  }

  async stop(): Promise<void> {
    await this.app?.close()
  }
}
