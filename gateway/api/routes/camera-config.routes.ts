import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import { CameraConfig, cameraProblems, StoreEdgeError, type CamerasConfigPayload } from '../../../edge/contracts/index.ts'
import { apiError, audit, authorize, type ApiContext } from '../context.ts'
import { errors, StoreIdParam } from '../schemas.ts'

const Cameras = Type.Array(CameraConfig, { maxItems: 64 })
const checkCameras = TypeCompiler.Compile(Cameras)

/**
 * A store's cameras, pushed to its edge as the retained downlink `stores/{id}/config/cameras` and
 * applied there live (changed cameras restart, removed ones stop). Whoever may set the zone layout
 * (ops, admin) may set the cameras. Camera URLs may hold the camera's credentials: they go to the
 * edge only and never into the audit log.
 */
export function cameraConfigRoutes(ctx: ApiContext) {
  return async (app: FastifyInstance) => {
    app.put(
      '/stores/:storeId/cameras/config',
      {
        schema: {
          tags: ['cameras'],
          summary: "Set a store's cameras (streams, roles, counting lines, zones, gate); pushed to the edge as retained config and applied live",
          params: StoreIdParam,
          body: Type.Object({ cameras: Type.Array(Type.Unknown(), { maxItems: 64 }) }, { additionalProperties: false }),
          response: { 200: Type.Object({ version: Type.Integer(), cameras: Type.Integer() }), ...errors(400, 401, 403, 404, 503) },
        },
      },
      async (req) => {
        const { storeId } = req.params as { storeId: string }
        authorize(req, 'layout:write', storeId)
        const list = Value.Default(Cameras, structuredClone((req.body as { cameras: unknown[] }).cameras))
        const schemaErrors = [...checkCameras.Errors(list)].slice(0, 20).map((e) => `/cameras${e.path}: ${e.message}`)
        if (schemaErrors.length) throw apiError('STORE_EDGE_ERR_VALIDATION', 'cameras do not match their schema', { errors: schemaErrors })
        const cameras = list as CameraConfig[]
        const problems = cameraProblems(cameras)
        if (problems.length) throw apiError('STORE_EDGE_ERR_VALIDATION', 'cameras are inconsistent', { errors: problems })
        if (!(await ctx.data.stores.get(storeId))) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `store ${storeId}`)
        // Milliseconds: versions only go up across pushes and replicas, so an edge ignores an older retained list.
        const version = ctx.now()
        const payload: CamerasConfigPayload = { v: 1, version, cameras }
        await ctx.publishConfig(storeId, 'cameras', payload)
        await audit(ctx, req, 'cameras.push', { target: storeId, storeId, detail: { version, cameras: cameras.map((c) => ({ id: c.id, roles: c.roles, lines: c.lines.length, zones: c.zones.length })) } })
        return { version, cameras: cameras.length }
      },
    )
  }
}
