import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { StoreEdgeError } from '../../../edge/contracts/index.ts'
import { can, inScope, type Principal } from '../../auth/roles.ts'
import type { LiveEvent } from '../../live/live.hub.ts'
import type { ApiContext } from '../context.ts'
import { errors } from '../schemas.ts'
import { SESSION_COOKIE } from './auth.routes.ts'

const HEARTBEAT_MS = 15_000
/** A client this far behind is cut off rather than buffered without bound; EventSource reconnects. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024

/**
 * The live stream (Server-Sent Events): minute aggregates, presence events and health of the
 * stores in scope, filtered by the principal's permissions. A session that ends (logout, user
 * disabled, expiry) ends its stream at the next heartbeat.
 */
export function streamRoutes(ctx: ApiContext) {
  return async (app: FastifyInstance) => {
    app.get(
      '/stream',
      {
        schema: {
          tags: ['live'],
          summary: 'Server-Sent Events: agg, presence, health, geofence, coupon (and hello on connect)',
          querystring: Type.Object({ stores: Type.Optional(Type.String({ maxLength: 10_000, description: 'Comma-separated store ids (default: all in scope)' })) }),
          response: errors(401, 403),
        },
      },
      async (req, reply) => {
        const p = req.principal
        if (!p) throw new StoreEdgeError('STORE_EDGE_ERR_UNAUTHENTICATED')
        if (!can(p, 'stores:read')) throw new StoreEdgeError('STORE_EDGE_ERR_FORBIDDEN', `role ${p.role} lacks stores:read`)
        const wanted = (req.query as { stores?: string }).stores?.split(',').filter(Boolean)
        const outOfScope = wanted?.filter((s) => !inScope(p, s))
        if (outOfScope?.length) throw new StoreEdgeError('STORE_EDGE_ERR_FORBIDDEN', `outside your scope: ${outOfScope.slice(0, 5).join(', ')}`)
        const only = wanted ? new Set(wanted) : undefined
        const footfall = can(p, 'footfall:read')
        const coupons = can(p, 'coupons:read')
        const geofences = footfall || can(p, 'campaigns:read')
        const allowed = (e: LiveEvent) => (e.type === 'health' ? true : e.type === 'coupon' ? coupons : e.type === 'geofence' ? geofences : footfall)

        reply.hijack()
        const res = reply.raw
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' })
        const write = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
        write('hello', { ts: ctx.now() })

        let closed = false
        const close = () => {
          if (closed) return
          closed = true
          unsubscribe()
          clearInterval(beat)
          res.end()
        }
        const unsubscribe = ctx.hub.subscribe({
          accepts: (e: LiveEvent) => (only ? only.has(e.storeId) : inScope(p, e.storeId)) && allowed(e),
          send: (e: LiveEvent) => {
            if (closed) return
            if (res.writableLength > MAX_BUFFERED_BYTES) return close()
            if (e.type === 'agg') write('agg', { storeId: e.storeId, point: e.point })
            else write(e.type, { storeId: e.storeId, ...e.data })
          },
        })
        const session = req.cookies[SESSION_COOKIE]
        const beat = setInterval(() => {
          res.write(': ping\n\n')
          if (session && p.kind === 'user') {
            void ctx.data.sessions.resolve(session).then((still?: Principal) => !still && close(), () => undefined)
          }
        }, HEARTBEAT_MS)
        beat.unref()
        res.on('close', close)
        res.on('error', close)
      },
    )
  }
}
