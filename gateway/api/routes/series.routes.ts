import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { StoreEdgeError } from '../../../edge/contracts/index.ts'
import { scopeFilter } from '../../auth/roles.ts'
import { authorize, guard, type ApiContext } from '../context.ts'
import { BySource, StoreIdParam, StorePointOut, StoreStatus, errors } from '../schemas.ts'
import { storeStatus } from './stores.routes.ts'

const MAX_POINTS = 1500

/** Chain overview, per-store series (live window or TSDB history) and recent presence events. */
export function metricsRoutes(ctx: ApiContext) {
  return async (app: FastifyInstance) => {
    app.get(
      '/overview',
      {
        schema: {
          tags: ['footfall'],
          summary: 'Every store in scope, now: occupancy, visits today and last hour, status',
          response: {
            200: Type.Object({
              ts: Type.Number(),
              totals: Type.Object({ stores: Type.Integer(), storesOnline: Type.Integer(), occupancy: Type.Number(), visitsToday: Type.Number(), visitsLastHour: Type.Number() }),
              stores: Type.Array(
                Type.Object({
                  id: Type.String(),
                  name: Type.String(),
                  status: StoreStatus,
                  occupancy: Type.Number(),
                  visitsToday: Type.Number(),
                  visitsLastHour: Type.Number(),
                  visitorsBySource: BySource,
                  dwellP50S: Type.Union([Type.Number(), Type.Null()]),
                  lastMinute: Type.Union([Type.Number(), Type.Null()]),
                }),
              ),
            }),
            ...errors(401, 403),
          },
        },
        preHandler: guard('footfall:read'),
      },
      async (req) => {
        const now = ctx.now()
        const stores = scopeFilter(req.principal!, await ctx.data.stores.list()).map((s) => {
          const n = ctx.hub.window.now(s.id, now, s.timezone)
          return { id: s.id, name: s.name, status: storeStatus(ctx, s.id), ...n }
        })
        const sum = (f: (s: (typeof stores)[number]) => number) => stores.reduce((a, s) => a + f(s), 0)
        return {
          ts: now,
          totals: {
            stores: stores.length,
            storesOnline: stores.filter((s) => s.status === 'online').length,
            occupancy: sum((s) => s.occupancy),
            visitsToday: sum((s) => s.visitsToday),
            visitsLastHour: sum((s) => s.visitsLastHour),
          },
          stores,
        }
      },
    )

    app.get(
      '/stores/:storeId/series',
      {
        schema: {
          tags: ['footfall'],
          summary: 'Occupancy, visits, visitors and dwell per step; the last 24 h from memory, longer ranges from the TSDB (PromQL)',
          params: StoreIdParam,
          querystring: Type.Object({
            from: Type.Optional(Type.Integer({ minimum: 0, description: 'ms since epoch (default: an hour ago)' })),
            to: Type.Optional(Type.Integer({ minimum: 0, description: 'ms since epoch (default: now)' })),
            stepS: Type.Optional(Type.Integer({ minimum: 60, maximum: 86_400, description: 'Seconds per point (default: ≤ 720 points)' })),
            source: Type.Union([Type.Literal('auto'), Type.Literal('window'), Type.Literal('tsdb')], { default: 'auto' }),
          }),
          response: {
            200: Type.Object({
              storeId: Type.String(),
              source: Type.Union([Type.Literal('window'), Type.Literal('tsdb')]),
              from: Type.Number(),
              to: Type.Number(),
              stepS: Type.Integer(),
              zones: Type.Array(Type.String()),
              points: Type.Array(StorePointOut),
            }),
            ...errors(400, 401, 403, 503),
          },
        },
      },
      async (req) => {
        const { storeId } = req.params as { storeId: string }
        authorize(req, 'footfall:read', storeId)
        const q = req.query as { from?: number; to?: number; stepS?: number; source: 'auto' | 'window' | 'tsdb' }
        const now = ctx.now()
        const to = q.to ?? now
        const from = q.from ?? to - 3_600_000
        if (from >= to) throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', 'from must be before to')
        const stepS = q.stepS ?? Math.max(60, Math.ceil((to - from) / 1000 / 720 / 60) * 60)
        if ((to - from) / 1000 / stepS > MAX_POINTS) throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', `more than ${MAX_POINTS} points: use a larger stepS`)
        // A little slack: "the last 24 h" asked a moment ago must not fall off the window's edge.
        const inWindow = from >= ctx.hub.window.horizon(now) - 10 * 60_000
        const useTsdb = q.source === 'tsdb' || (q.source === 'auto' && !inWindow && ctx.tsdb)
        if (useTsdb) {
          if (!ctx.tsdb) throw new StoreEdgeError('STORE_EDGE_ERR_TSDB_UNAVAILABLE', 'no TSDB is configured (tsdb.url)')
          return ctx.tsdb.series(storeId, from, to, stepS)
        }
        if (!inWindow && q.source === 'auto') {
          throw new StoreEdgeError('STORE_EDGE_ERR_TSDB_UNAVAILABLE', `ranges older than ${ctx.cfg.window.hours} h need a TSDB (tsdb.url), none is configured`)
        }
        return ctx.hub.window.series(storeId, from, to, stepS)
      },
    )

    app.get(
      '/stores/:storeId/events',
      {
        schema: {
          tags: ['footfall'],
          summary: 'Latest presence events of a store (no device identities)',
          params: StoreIdParam,
          response: {
            200: Type.Object({
              events: Type.Array(
                Type.Object({ type: Type.String(), zone: Type.String(), fromZone: Type.Optional(Type.String()), source: Type.String(), ts: Type.Number(), dwellS: Type.Optional(Type.Number()) }),
              ),
            }),
            ...errors(401, 403),
          },
        },
      },
      async (req) => {
        const { storeId } = req.params as { storeId: string }
        authorize(req, 'footfall:read', storeId)
        const events = (ctx.hub.window.get(storeId)?.events ?? []).map(({ type, zone, fromZone, source, ts, dwellS }) => ({ type, zone, fromZone, source, ts, dwellS }))
        return { events: events.reverse() }
      },
    )
  }
}
