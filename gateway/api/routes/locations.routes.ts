import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { LocationReport, StoreEdgeError, type LocationFix, type LocationReport as LocationReportT } from '../../../edge/contracts/index.ts'
import { inScope } from '../../auth/roles.ts'
import { FORWARD_RADIUS_M, schemaErrors } from '../../marketing/index.ts'
import { apiError, guard, type ApiContext } from '../context.ts'
import { errors } from '../schemas.ts'
import { inline } from './campaigns.routes.ts'

const MAX_FUTURE_MS = 60_000
const MAX_AGE_MS = 3_600_000

/** Why central refuses to forward a fix (the edge then judges accuracy and speed against its geofences). */
export function fixProblem(f: LocationFix, now: number): string | undefined {
  if (f.ts > now + MAX_FUTURE_MS) return `ts is ${Math.round((f.ts - now) / 1000)} s in the future (at most 60 s)`
  if (f.ts < now - MAX_AGE_MS) return `ts is ${Math.round((now - f.ts) / 60_000)} min old (at most 1 h)`
  return undefined
}

/**
 * Member-app location reports (the member-app backend holds a locations:write token): checked, then
 * forwarded on stores/{id}/locations (QoS 1, not retained) to every store in the token's scope with a
 * trade-area geofence within 20 km, whose edge evaluates them. Only opted-in members' fixes go anywhere.
 */
export function locationsRoutes(ctx: ApiContext) {
  return async (app: FastifyInstance) => {
    app.post(
      '/locations',
      {
        schema: {
          tags: ['geofences'],
          summary: 'Forward a member’s location fixes to the stores whose trade areas are near',
          body: inline(LocationReport),
          response: { 202: Type.Object({ forwardedTo: Type.Array(Type.String()), rejected: Type.Array(Type.Object({ index: Type.Integer(), reason: Type.String() })) }), ...errors(400, 401, 403, 503) },
        },
        attachValidation: true,
        preHandler: guard('locations:write'),
      },
      async (req, reply) => {
        const errs = schemaErrors(LocationReport, req.body)
        if (errs.length) throw apiError('STORE_EDGE_ERR_BAD_LOCATION', errs.slice(0, 5).join('; '), { errors: errs })
        const report = req.body as LocationReportT
        const now = ctx.now()
        const rejected: Array<{ index: number; reason: string }> = []
        const member = await ctx.marketing.members.get(report.memberRef)
        if (!member?.optedIn) {
          report.fixes.forEach((_, index) => rejected.push({ index, reason: 'not an opted-in member: location not forwarded' }))
          return reply.status(202).send({ forwardedTo: [], rejected })
        }
        const fixes: LocationFix[] = []
        report.fixes.forEach((f, index) => {
          const problem = fixProblem(f, now)
          if (problem) rejected.push({ index, reason: problem })
          else fixes.push(f)
        })
        const p = req.principal!
        const stores = fixes.length ? (await ctx.marketing.storesNear(fixes, FORWARD_RADIUS_M)).filter((s) => inScope(p, s)) : []
        const forward: LocationReportT = { v: 1, memberRef: report.memberRef, fixes }
        // Fixes are news, not state: one store the broker refuses does not hold up the others.
        const forwardedTo: string[] = []
        let failure: unknown
        for (const s of stores) {
          try {
            await ctx.publishLocations(s, forward)
            forwardedTo.push(s)
          } catch (err) {
            failure = err
            ctx.log.warn({ err, store: s }, 'could not forward a location report')
          }
        }
        if (failure && forwardedTo.length === 0) throw failure instanceof StoreEdgeError ? failure : new StoreEdgeError('STORE_EDGE_ERR_BROKER_UNAVAILABLE', (failure as Error).message)
        return reply.status(202).send({ forwardedTo, rejected })
      },
    )
  }
}
