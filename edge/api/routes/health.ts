import type { FastifyPluginAsync } from 'fastify'
import type { EdgeApp } from '../../app.ts'

/** Liveness/readiness and Prometheus metrics. */
export const healthRoutes: FastifyPluginAsync<{ edge: EdgeApp }> = async (app, { edge }) => {
  app.get('/health', async (_req, reply) => {
    const modules = Object.fromEntries(edge.moduleStatus)
    const radio = edge.radio?.status() ?? null
    // A configured radio that is not scanning is a degraded store (fewer phones seen), not a dead edge.
    const ok = [...edge.moduleStatus.values()].every((s) => s === 'up') && (!radio || radio.state === 'scanning')
    const body = {
      status: ok ? 'ok' : 'degraded',
      store: edge.config.store.id,
      uptimeS: Math.round((edge.clock.now() - edge.startedAt) / 1000),
      modules,
      broker: {
        clients: edge.broker.aedes?.connectedClients ?? 0,
        mqtt: edge.broker.address.mqtt,
        ws: edge.broker.address.ws ?? null,
      },
      vision: edge.vision ? edge.vision.status() : null,
      radio,
      uplink: edge.uplink ? { connected: edge.uplink.connected, backlog: edge.uplink.spool?.size ?? null } : null,
      devices: edge.devices.list().map((d) => ({ id: d.deviceId, kind: d.kind ?? null, online: d.online, since: d.since, lastMessage: d.lastMessage ?? null, rejected: d.rejected })),
    }
    return reply.status(ok ? 200 : 503).send(body)
  })

  app.get('/metrics', async (_req, reply) => {
    const text = await edge.metrics.registry.metrics()
    return reply.type(edge.metrics.registry.contentType).send(text)
  })
}
