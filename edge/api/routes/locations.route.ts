import type { FastifyPluginAsync } from 'fastify'
import { Type } from '@sinclair/typebox'
import { ErrorCodes, LocationReport } from '../../contracts/index.ts'
import type { FixRejectReason, LocationResult } from '../../geofence/geofence.engine.ts'

export interface LocationRouteOptions {
  /** Hand the validated report on (the bus); the outcome per fix, or undefined when geofencing is down. */
  accept(report: LocationReport): LocationResult | undefined
}

export const LOCATIONS_PATH = '/v1/locations'

const REASONS: Record<FixRejectReason, string> = {
  accuracy: 'accuracy is worse than the configured maximum',
  future: 'fix time is too far in the future',
  'too-old': 'fix is too old',
  'out-of-order': 'fix is not newer than the last accepted fix of this member',
  speed: 'fix implies an impossible speed from the last accepted fix',
}

const Rejected = Type.Array(
  Type.Object({ index: Type.Integer(), code: Type.Literal('STORE_EDGE_ERR_BAD_LOCATION'), reason: Type.String(), message: Type.String() }),
)

/**
 * POST /v1/locations: a member-app location report sent straight to the store (the central API
 * forwards the same reports on `stores/{storeId}/locations`). The body is validated by schema
 * (400 STORE_EDGE_ERR_VALIDATION); each fix is then checked by the geofence engine (accuracy,
 * time, order, speed): 202 with the rejected fixes listed, or 400 STORE_EDGE_ERR_BAD_LOCATION
 * when no fix was usable.
 */
export const locationRoutes: FastifyPluginAsync<LocationRouteOptions> = async (app, opts) => {
  app.post(
    LOCATIONS_PATH,
    {
      schema: {
        body: LocationReport,
        response: {
          202: Type.Object({ accepted: Type.Integer(), rejected: Rejected }),
          400: Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String(), rejected: Type.Optional(Rejected) }) }),
          503: Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) }),
        },
      },
    },
    async (req, reply) => {
      const report = req.body as LocationReport
      const res = opts.accept(report)
      if (!res) {
        return reply.code(503).send({ error: { code: 'STORE_EDGE_ERR_INTERNAL', message: 'geofencing is not running on this edge' } })
      }
      const rejected = res.rejected.map((r) => ({ index: r.index, code: 'STORE_EDGE_ERR_BAD_LOCATION' as const, reason: r.reason, message: REASONS[r.reason] }))
      if (res.accepted === 0) {
        return reply.code(400).send({ error: { code: 'STORE_EDGE_ERR_BAD_LOCATION', message: `${ErrorCodes.STORE_EDGE_ERR_BAD_LOCATION.message}: no usable fix`, rejected } })
      }
      return reply.code(202).send({ accepted: res.accepted, rejected })
    },
  )
}
