import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { LatLng, StoreEdgeError, ZoneConfig, SensorConfig, layoutProblems, type ZonesConfigPayload } from '../../../edge/contracts/index.ts'
import { can, scopeFilter } from '../../auth/roles.ts'
import type { Store } from '../../db/index.ts'
import { audit, authorize, guard, type ApiContext } from '../context.ts'
import { StoreIdParam, StoreOut, errors } from '../schemas.ts'

export type StoreStatus = 'online' | 'offline' | 'unknown'

/** A store is online when its edge says so (retained health with last will) and it is not silent. */
export function storeStatus(ctx: ApiContext, storeId: string): StoreStatus {
  const live = ctx.hub.window.get(storeId)
  const h = live?.health
  if (h) return h.status
  const last = live?.points.at(-1)
  if (last && ctx.now() - last.ts < 3 * 60_000) return 'online'
  return 'unknown'
}

export const storeOut = (ctx: ApiContext, s: Store) => ({ id: s.id, name: s.name, timezone: s.timezone, status: storeStatus(ctx, s.id), lastSeenAt: s.lastSeenAt, location: s.location })

/** Turn a repository's input error into the API's error codes. */
export function repoError(err: unknown): never {
  const msg = (err as Error).message ?? String(err)
  if (/already exists|duplicate/i.test(msg)) throw new StoreEdgeError('STORE_EDGE_ERR_CONFLICT', msg)
  throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', msg)
}

const Layout = Type.Object({ zones: Type.Array(ZoneConfig, { minItems: 1, maxItems: 500 }), sensors: Type.Array(SensorConfig, { maxItems: 5000 }) }, { additionalProperties: false })
const checkLayout = TypeCompiler.Compile(Layout)

export function storesRoutes(ctx: ApiContext) {
  return async (app: FastifyInstance) => {
    app.get('/stores', { schema: { tags: ['stores'], summary: 'Stores in your scope, with live status', response: { 200: Type.Object({ stores: Type.Array(StoreOut) }), ...errors(401, 403) } }, preHandler: guard('stores:read') }, async (req) => {
      const all = await ctx.data.stores.list()
      return { stores: scopeFilter(req.principal!, all).map((s) => storeOut(ctx, s)) }
    })

    app.get(
      '/stores/:storeId',
      { schema: { tags: ['stores'], summary: 'One store and its zones', params: StoreIdParam, response: { 200: Type.Object({ store: StoreOut, zones: Type.Array(Type.String()) }), ...errors(401, 403, 404) } } },
      async (req) => {
        const { storeId } = req.params as { storeId: string }
        authorize(req, 'stores:read', storeId)
        const s = await ctx.data.stores.get(storeId)
        if (!s) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `store ${storeId}`)
        const fromLayout = ((s.layout as { zones?: Array<{ id: string }> } | null)?.zones ?? []).map((z) => z.id)
        const zones = [...new Set([...fromLayout, ...(ctx.hub.window.get(storeId)?.zones ?? [])])].sort()
        return { store: storeOut(ctx, s), zones }
      },
    )

    app.post(
      '/stores',
      {
        schema: {
          tags: ['stores'],
          summary: 'Register a store',
          body: Type.Object({ id: StoreIdParam.properties.storeId, name: Type.String({ minLength: 1, maxLength: 200 }), timezone: Type.String({ default: 'UTC', maxLength: 64 }) }, { additionalProperties: false }),
          response: { 201: StoreOut, ...errors(400, 401, 403, 409) },
        },
        preHandler: guard('stores:write'),
      },
      async (req, reply) => {
        const body = req.body as { id: string; name: string; timezone: string }
        const s = await ctx.data.stores.create(body).catch(repoError)
        await audit(ctx, req, 'store.create', { target: s.id, storeId: s.id, detail: { name: s.name, timezone: s.timezone } })
        return reply.status(201).send(storeOut(ctx, s))
      },
    )

    app.patch(
      '/stores/:storeId',
      {
        schema: {
          tags: ['stores'],
          summary: 'Rename a store, change its time zone or set its location (marketing may set the location alone)',
          params: StoreIdParam,
          body: Type.Object(
            {
              name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
              timezone: Type.Optional(Type.String({ maxLength: 64 })),
              location: Type.Optional(Type.Union([LatLng, Type.Null()], { description: 'Where the store is; null clears it.' })),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: StoreOut, ...errors(400, 401, 403, 404) },
        },
      },
      async (req) => {
        const { storeId } = req.params as { storeId: string }
        const patch = req.body as { name?: string; timezone?: string; location?: { lat: number; lng: number } | null }
        // The location only places the store on the marketing map: those who draw its geofences may set it.
        const locationOnly = Object.keys(patch).every((k) => k === 'location')
        authorize(req, locationOnly && req.principal && can(req.principal, 'campaigns:write') ? 'campaigns:write' : 'stores:write', storeId)
        const s = await ctx.data.stores.update(storeId, patch).catch(repoError)
        if (!s) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `store ${storeId}`)
        await audit(ctx, req, 'store.update', { target: storeId, storeId, detail: patch })
        return storeOut(ctx, s)
      },
    )

    app.put(
      '/stores/:storeId/layout',
      {
        schema: {
          tags: ['stores'],
          summary: 'Set the zone layout; pushed to the edge as retained config and applied live',
          params: StoreIdParam,
          body: Layout,
          response: { 200: Type.Object({ version: Type.Integer() }), ...errors(400, 401, 403, 404, 503) },
        },
      },
      async (req) => {
        const { storeId } = req.params as { storeId: string }
        authorize(req, 'layout:write', storeId)
        const body = req.body as ZonesConfigPayload
        if (!checkLayout.Check(body)) throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', 'layout does not match its schema')
        const problems = layoutProblems(body.zones, body.sensors)
        if (problems.length) throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', problems.join('; '))
        const s = await ctx.data.stores.get(storeId)
        if (!s) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `store ${storeId}`)
        const prev = (s.layout as { version?: number } | null)?.version ?? 0
        // Versions only go up, so an edge ignores replays of an older retained layout.
        const version = Math.max(prev + 1, Math.floor(ctx.now() / 1000))
        const payload: ZonesConfigPayload = { v: 1, version, zones: body.zones, sensors: body.sensors }
        await ctx.publishConfig(storeId, 'zones', payload)
        await ctx.data.stores.setLayout(storeId, payload)
        await audit(ctx, req, 'layout.push', { target: storeId, storeId, detail: { version, zones: body.zones.length, sensors: body.sensors.length } })
        return { version }
      },
    )

    const DeviceOut = Type.Object({ storeId: Type.String(), deviceId: Type.String(), kind: Type.String(), createdAt: Type.Number(), lastSeenAt: Type.Union([Type.Number(), Type.Null()]) })
    app.get('/stores/:storeId/devices', { schema: { tags: ['devices'], summary: 'Devices registered for a store', params: StoreIdParam, response: { 200: Type.Object({ devices: Type.Array(DeviceOut) }), ...errors(401, 403) } } }, async (req) => {
      const { storeId } = req.params as { storeId: string }
      authorize(req, 'devices:read', storeId)
      return { devices: await ctx.data.devices.list(storeId) }
    })
    app.post(
      '/stores/:storeId/devices',
      {
        schema: {
          tags: ['devices'],
          summary: 'Register a device of a store',
          params: StoreIdParam,
          body: Type.Object({ deviceId: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }), kind: Type.Union(['ble', 'wifi', 'espresense', 'omg', 'meraki-ap', 'camera', 'parking'].map((k) => Type.Literal(k))) }, { additionalProperties: false }),
          response: { 201: DeviceOut, ...errors(400, 401, 403, 404) },
        },
      },
      async (req, reply) => {
        const { storeId } = req.params as { storeId: string }
        authorize(req, 'devices:write', storeId)
        const { deviceId, kind } = req.body as { deviceId: string; kind: string }
        if (!(await ctx.data.stores.get(storeId))) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `store ${storeId}`)
        const d = await ctx.data.devices.upsert(storeId, deviceId, kind).catch(repoError)
        await audit(ctx, req, 'device.register', { target: deviceId, storeId, detail: { kind } })
        return reply.status(201).send(d)
      },
    )
    app.delete('/stores/:storeId/devices/:deviceId', { schema: { tags: ['devices'], summary: 'Remove a device', params: Type.Object({ storeId: StoreIdParam.properties.storeId, deviceId: Type.String({ maxLength: 63 }) }), response: { 204: Type.Null(), ...errors(401, 403, 404) } } }, async (req, reply) => {
      const { storeId, deviceId } = req.params as { storeId: string; deviceId: string }
      authorize(req, 'devices:write', storeId)
      if (!(await ctx.data.devices.remove(storeId, deviceId))) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `device ${deviceId}`)
      await audit(ctx, req, 'device.remove', { target: deviceId, storeId })
      return reply.status(204).send()
    })
  }
}
