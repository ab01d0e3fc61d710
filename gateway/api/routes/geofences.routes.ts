import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import { Geofence, StoreEdgeError } from '../../../edge/contracts/index.ts'
import { checkGeofence, diffSummary, geofenceDraft } from '../../marketing/index.ts'
import { apiError, audit, authorize, type ApiContext } from '../context.ts'
import { StoreIdParam, errors } from '../schemas.ts'
import { inline } from './campaigns.routes.ts'
import { repoError } from './stores.routes.ts'

const GeofenceSchema = inline(Geofence)
const Params = Type.Object({ storeId: StoreIdParam.properties.storeId, id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }) })
const Target = Type.Object({ id: Type.String(), name: Type.String(), kind: Type.Union([Type.Literal('indoor'), Type.Literal('carpark'), Type.Literal('trade-area')]) })

/** Trade-area geofences per store (each change republishes that store's triggers config) and what a rule can name. */
export function geofencesRoutes(ctx: ApiContext) {
  const m = ctx.marketing

  async function validated(req: FastifyRequest, storeId: string, body: unknown) {
    if (req.validationError && req.validationError.validationContext !== 'body') throw req.validationError
    const layout = await m.layoutZones(storeId)
    if (!layout) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `store ${storeId}`)
    const r = checkGeofence(geofenceDraft(body), layout)
    if (!r.ok) throw apiError('STORE_EDGE_ERR_BAD_GEOFENCE', r.errors.slice(0, 5).join('; '), { errors: r.errors })
    return r.value
  }

  return async (app: FastifyInstance) => {
    app.get(
      '/stores/:storeId/targets',
      { schema: { tags: ['campaigns'], summary: 'What a rule for this store can name: layout zones, the car park, its geofences', params: StoreIdParam, response: { 200: Type.Object({ zones: Type.Array(Target) }), ...errors(401, 403, 404) } } },
      async (req) => {
        const { storeId } = req.params as { storeId: string }
        authorize(req, 'campaigns:read', storeId)
        const zones = await m.storeTargets(storeId, [...(ctx.hub.window.get(storeId)?.zones ?? [])])
        if (!zones) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `store ${storeId}`)
        return { zones }
      },
    )

    app.get(
      '/stores/:storeId/geofences',
      { schema: { tags: ['geofences'], summary: "A store's trade-area geofences", params: StoreIdParam, response: { 200: Type.Object({ geofences: Type.Array(GeofenceSchema) }), ...errors(401, 403) } } },
      async (req) => {
        const { storeId } = req.params as { storeId: string }
        authorize(req, 'campaigns:read', storeId)
        return { geofences: await m.geofences.listByStore(storeId) }
      },
    )

    app.post(
      '/stores/:storeId/geofences',
      {
        schema: { tags: ['geofences'], summary: 'Draw a trade-area geofence; republishes the store’s triggers config', params: StoreIdParam, body: GeofenceSchema, response: { 201: Type.Object({ geofence: GeofenceSchema }), ...errors(400, 401, 403, 404, 409) } },
        attachValidation: true,
      },
      async (req, reply) => {
        const { storeId } = req.params as { storeId: string }
        authorize(req, 'campaigns:write', storeId)
        const g = await validated(req, storeId, req.body)
        const rec = await m.createGeofence(storeId, g).catch(repoError)
        await audit(ctx, req, 'geofence.create', { target: `geofence:${g.id}`, storeId, detail: { version: rec.version, changes: diffSummary({}, g) } })
        return reply.status(201).send({ geofence: rec.geofence })
      },
    )

    app.put(
      '/stores/:storeId/geofences/:id',
      {
        schema: { tags: ['geofences'], summary: 'Redraw a geofence; republishes the store’s triggers config', params: Params, body: GeofenceSchema, response: { 200: Type.Object({ geofence: GeofenceSchema }), ...errors(400, 401, 403, 404) } },
        attachValidation: true,
      },
      async (req) => {
        const { storeId, id } = req.params as { storeId: string; id: string }
        authorize(req, 'campaigns:write', storeId)
        const body = req.body as { id?: unknown } | undefined
        if (body && typeof body === 'object' && body.id !== undefined && body.id !== id) throw apiError('STORE_EDGE_ERR_BAD_GEOFENCE', `/id: the body's id differs from the URL's ${id}`, { errors: [`/id: must equal the geofence id in the URL (${id})`] })
        const g = await validated(req, storeId, { ...(body as object), id })
        const r = await m.updateGeofence(storeId, g)
        if (!r) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `geofence ${id} of store ${storeId}`)
        await audit(ctx, req, 'geofence.update', { target: `geofence:${id}`, storeId, detail: { version: r.after.version, changes: diffSummary(r.before, g) } })
        return { geofence: r.after.geofence }
      },
    )

    app.delete(
      '/stores/:storeId/geofences/:id',
      { schema: { tags: ['geofences'], summary: 'Remove a geofence (refused while a live campaign names it)', params: Params, response: { 204: Type.Null(), ...errors(401, 403, 404, 409) } } },
      async (req, reply) => {
        const { storeId, id } = req.params as { storeId: string; id: string }
        authorize(req, 'campaigns:write', storeId)
        const users = (await m.campaigns.naming(id)).filter((c) => c.stores.includes('*') || c.stores.includes(storeId))
        if (users.length) throw new StoreEdgeError('STORE_EDGE_ERR_CONFLICT', `geofence ${id} is named by campaign ${users.map((c) => c.id).join(', ')}: change or archive them first`)
        const g = await m.removeGeofence(storeId, id)
        if (!g) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `geofence ${id} of store ${storeId}`)
        await audit(ctx, req, 'geofence.delete', { target: `geofence:${id}`, storeId, detail: { name: g.name } })
        return reply.status(204).send()
      },
    )
  }
}
