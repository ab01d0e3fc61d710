import type { FastifyPluginAsync } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { EdgeApp } from '../../app.ts'

const PresenceQuery = Type.Object({
  zone: Type.Optional(Type.String({ maxLength: 64, description: 'Only identities in this zone.' })),
  limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 500, description: 'Most identities returned.' }),
})

const StatsQuery = Type.Object({
  minutes: Type.Integer({ minimum: 1, maximum: 180, default: 15, description: 'Recent minute aggregates to include.' }),
})

/**
 * /v1/presence: who is where now (privacy-safe ids; random-address devices only as counts).
 * /v1/stats: occupancy, recent minute aggregates, ingest counters and device status.
 */
export const presenceRoutes: FastifyPluginAsync<{ edge: EdgeApp }> = async (app, { edge }) => {
  app.get('/v1/presence', { schema: { querystring: PresenceQuery } }, async (req) => {
    const q = req.query as { zone?: string; limit: number }
    if (q.zone !== undefined && !edge.config.zones.some((z) => z.id === q.zone)) {
      const err = new Error(`zone "${q.zone}" is not configured`) as Error & { statusCode: number }
      err.statusCode = 404
      throw err
    }
    const now = edge.clock.now()
    const snap = edge.presence.engine.snapshot(now)
    return {
      store: edge.config.store.id,
      ts: now,
      occupancy: snap,
      identities: edge.presence.engine.list(now, { zone: q.zone, limit: q.limit }),
    }
  })

  app.get('/v1/stats', { schema: { querystring: StatsQuery } }, async (req) => {
    const q = req.query as { minutes: number }
    const now = edge.clock.now()
    const m = edge.metrics
    const sum = async (metric: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }, by?: string) => {
      const { values } = await metric.get()
      if (!by) return values.reduce((a, v) => a + v.value, 0)
      const out: Record<string, number> = {}
      for (const v of values) out[String(v.labels[by])] = (out[String(v.labels[by])] ?? 0) + v.value
      return out
    }
    return {
      store: edge.config.store.id,
      ts: now,
      occupancy: edge.presence.engine.snapshot(now),
      tracked: edge.presence.engine.size,
      aggregates: edge.presence.recent.slice(-q.minutes),
      ingest: {
        messages: await sum(m.messages, 'kind'),
        sightings: await sum(m.sightings, 'source'),
        rejected: await sum(m.rejected, 'code'),
        unknownSensorSightings: edge.presence.engine.unknownSensorSightings,
      },
      devices: { online: edge.devices.onlineCount, known: edge.devices.list().length },
    }
  })
}
