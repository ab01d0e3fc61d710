import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type, type TSchema } from '@sinclair/typebox'
import { Campaign, StoreEdgeError, type Campaign as CampaignT } from '../../../edge/contracts/index.ts'
import { inScope, type Principal } from '../../auth/roles.ts'
import { VersionConflict, campaignDraft, checkCampaign, diffSummary } from '../../marketing/index.ts'
import { apiError, audit, guard, type ApiContext } from '../context.ts'
import { AuditEntryOut, errors } from '../schemas.ts'
import { repoError } from './stores.routes.ts'

/** A contract schema without its $id, so several routes can embed it. */
export function inline<T extends TSchema>(s: T): T {
  const { $id: _id, ...rest } = s as T & { $id?: string }
  return rest as T
}

const CampaignSchema = inline(Campaign)
const CampaignOut = Type.Composite([CampaignSchema, Type.Object({ archived: Type.Boolean(), updatedAt: Type.Number() })], { additionalProperties: false })
const CampaignDraft = Type.Composite([Type.Omit(CampaignSchema, ['version']), Type.Object({ version: Type.Optional(Type.Integer({ minimum: 1, description: 'Ignored on create (a new campaign is version 1).' })) })], {
  additionalProperties: false,
  description: 'A campaign as the editor has it; audience, schedule and caps may be omitted (no constraint).',
})
const IdParam = Type.Object({ id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }) })
const PreviewOut = Type.Object({
  from: Type.Number(),
  to: Type.Number(),
  events: Type.Integer({ description: 'Geofence events scanned.' }),
  matches: Type.Array(
    Type.Object({
      storeId: Type.String(),
      memberRef: Type.String(),
      eventId: Type.String(),
      type: Type.String(),
      zone: Type.String(),
      source: Type.String(),
      ts: Type.Number(),
      holdout: Type.Boolean(),
    }),
  ),
  matched: Type.Integer({ description: 'All matches (the list stops at 5000).' }),
  truncated: Type.Boolean({ description: 'The match list or the event scan stopped at its limit.' }),
  members: Type.Integer({ description: 'Distinct members matched.' }),
  suppressed: Type.Record(Type.String(), Type.Integer(), { description: 'Events that met the trigger but were held back, by reason (schedule, audience, caps).' }),
})

/** Campaigns a principal may see: those for every store, or naming a store in scope. */
export const seesCampaign = (p: Principal, c: Pick<CampaignT, 'stores'>) => p.stores.includes('*') || c.stores.includes('*') || c.stores.some((s) => inScope(p, s))

/** Changing a campaign needs every store it names in scope; one for every store needs every store. */
export function assertMayChange(p: Principal, c: { stores?: unknown }): void {
  if (!Array.isArray(c.stores)) return
  const stores = c.stores.filter((s): s is string => typeof s === 'string')
  if (stores.includes('*') && !p.stores.includes('*')) throw new StoreEdgeError('STORE_EDGE_ERR_FORBIDDEN', 'a campaign for every store needs access to every store')
  const outside = stores.filter((s) => s !== '*' && !inScope(p, s))
  if (outside.length) throw new StoreEdgeError('STORE_EDGE_ERR_FORBIDDEN', `store ${outside.join(', ')} is outside your scope`)
}

/** The body failed its documented schema: the handler validates it itself (all errors, as BAD_RULE). */
function rethrowNonBody(req: FastifyRequest): void {
  if (req.validationError && req.validationError.validationContext !== 'body') throw req.validationError
}

/** Campaigns: versioned rules, validated on save, pushed to the edges of the stores they name. */
export function campaignsRoutes(ctx: ApiContext) {
  const m = ctx.marketing
  const liveZones = (id: string) => [...(ctx.hub.window.get(id)?.zones ?? [])]

  async function validated(body: unknown, version: number): Promise<CampaignT> {
    const r = checkCampaign(campaignDraft(body, version), await m.ruleTargets(liveZones))
    if (!r.ok) throw apiError('STORE_EDGE_ERR_BAD_RULE', r.errors.slice(0, 5).join('; ') + (r.errors.length > 5 ? `; … ${r.errors.length - 5} more` : ''), { errors: r.errors })
    return r.value
  }

  async function visible(req: FastifyRequest, id: string) {
    const rec = await m.campaigns.get(id)
    if (!rec) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `campaign ${id}`)
    if (!seesCampaign(req.principal!, rec.campaign)) throw new StoreEdgeError('STORE_EDGE_ERR_FORBIDDEN', `campaign ${id} covers no store in your scope`)
    return rec
  }

  return async (app: FastifyInstance) => {
    app.get(
      '/campaigns',
      { schema: { tags: ['campaigns'], summary: 'Campaigns covering your stores, archived ones included', response: { 200: Type.Object({ campaigns: Type.Array(CampaignOut) }), ...errors(401, 403) } }, preHandler: guard('campaigns:read') },
      async (req) => ({
        campaigns: (await m.campaigns.list()).filter((r) => seesCampaign(req.principal!, r.campaign)).map((r) => ({ ...r.campaign, archived: r.archived, updatedAt: r.updatedAt })),
      }),
    )

    app.get(
      '/campaigns/:id',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'One campaign and the list of its versions',
          params: IdParam,
          response: { 200: Type.Object({ campaign: CampaignOut, versions: Type.Array(Type.Object({ version: Type.Integer(), createdBy: Type.String(), createdAt: Type.Number() })) }), ...errors(401, 403, 404) },
        },
        preHandler: guard('campaigns:read'),
      },
      async (req) => {
        const { id } = req.params as { id: string }
        const rec = await visible(req, id)
        return { campaign: { ...rec.campaign, archived: rec.archived, updatedAt: rec.updatedAt }, versions: await m.campaigns.versions(id) }
      },
    )

    app.get(
      '/campaigns/:id/versions/:version',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'A campaign as it was at one version (versions are immutable)',
          params: Type.Object({ id: IdParam.properties.id, version: Type.Integer({ minimum: 1 }) }),
          response: { 200: Type.Object({ campaign: CampaignSchema }), ...errors(401, 403, 404) },
        },
        preHandler: guard('campaigns:read'),
      },
      async (req) => {
        const { id, version } = req.params as { id: string; version: number }
        await visible(req, id)
        const campaign = await m.campaigns.getVersion(id, version)
        if (!campaign) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `campaign ${id} version ${version}`)
        return { campaign }
      },
    )

    app.get(
      '/campaigns/:id/audit',
      { schema: { tags: ['campaigns'], summary: 'Every change to the campaign, newest first', params: IdParam, response: { 200: Type.Object({ entries: Type.Array(AuditEntryOut) }), ...errors(401, 403, 404) } }, preHandler: guard('campaigns:read') },
      async (req) => {
        const { id } = req.params as { id: string }
        await visible(req, id)
        return { entries: await ctx.data.audit.list({ target: `campaign:${id}`, limit: 500 }) }
      },
    )

    app.post(
      '/campaigns/validate',
      {
        schema: { tags: ['campaigns'], summary: 'Check a draft: schema errors with paths, rule problems, unknown stores and zones', body: CampaignDraft, response: { 200: Type.Object({ ok: Type.Boolean(), errors: Type.Array(Type.String()) }), ...errors(401, 403) } },
        attachValidation: true,
        preHandler: guard('campaigns:read'),
      },
      async (req) => {
        rethrowNonBody(req)
        const body = req.body as { version?: unknown } | undefined
        const version = typeof body?.version === 'number' && Number.isInteger(body.version) && body.version >= 1 ? body.version : 1
        const r = checkCampaign(campaignDraft(body, version), await m.ruleTargets(liveZones))
        return { ok: r.ok, errors: r.errors }
      },
    )

    app.post(
      '/campaigns',
      {
        schema: { tags: ['campaigns'], summary: 'Create a campaign (version 1); pushed to the edges of its stores', body: CampaignDraft, response: { 201: Type.Object({ campaign: CampaignSchema }), ...errors(400, 401, 403, 409) } },
        attachValidation: true,
        preHandler: guard('campaigns:write'),
      },
      async (req, reply) => {
        rethrowNonBody(req)
        assertMayChange(req.principal!, (req.body ?? {}) as { stores?: unknown })
        const c = await validated(req.body, 1)
        const { campaign } = await m.createCampaign(c, req.principal!.name).catch(repoError)
        await audit(ctx, req, 'campaign.create', { target: `campaign:${c.id}`, detail: { version: 1, changes: diffSummary({}, { ...campaign, version: undefined }) } })
        return reply.status(201).send({ campaign })
      },
    )

    app.put(
      '/campaigns/:id',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'Save a new version; `version` is the one you loaded (409 VERSION_CONFLICT if another save came first)',
          params: IdParam,
          body: CampaignSchema,
          response: { 200: Type.Object({ campaign: CampaignSchema }), ...errors(400, 401, 403, 404, 409) },
        },
        attachValidation: true,
        preHandler: guard('campaigns:write'),
      },
      async (req) => {
        rethrowNonBody(req)
        const { id } = req.params as { id: string }
        const body = (req.body ?? {}) as { id?: unknown; version?: unknown }
        const rec = await visible(req, id)
        assertMayChange(req.principal!, rec.campaign)
        assertMayChange(req.principal!, body as { stores?: unknown })
        if (body.id !== undefined && body.id !== id) throw apiError('STORE_EDGE_ERR_BAD_RULE', `/id: the body's id ${JSON.stringify(body.id)} differs from the URL's ${id}`, { errors: [`/id: must equal the campaign id in the URL (${id})`] })
        if (typeof body.version !== 'number') throw apiError('STORE_EDGE_ERR_BAD_RULE', '/version: the version you loaded is required', { errors: ['/version: required (the version you loaded)'] })
        const c = await validated({ ...body, id }, body.version)
        let r: Awaited<ReturnType<typeof m.updateCampaign>>
        try {
          r = await m.updateCampaign(c, req.principal!.name)
        } catch (err) {
          if (err instanceof VersionConflict) throw apiError('STORE_EDGE_ERR_VERSION_CONFLICT', err.message, { currentVersion: err.current })
          if (/archived/.test((err as Error).message)) throw new StoreEdgeError('STORE_EDGE_ERR_CONFLICT', (err as Error).message)
          throw err
        }
        if (!r) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `campaign ${id}`)
        const { version: _a, ...before } = r.before
        const { version: _b, ...after } = r.campaign
        await audit(ctx, req, 'campaign.update', { target: `campaign:${id}`, detail: { from: r.before.version, version: r.campaign.version, changes: diffSummary(before, after) } })
        return { campaign: r.campaign }
      },
    )

    app.delete(
      '/campaigns/:id',
      { schema: { tags: ['campaigns'], summary: 'Archive: no longer pushed to the edges; versions kept for the ledger', params: IdParam, response: { 204: Type.Null(), ...errors(401, 403, 404) } }, preHandler: guard('campaigns:write') },
      async (req, reply) => {
        const { id } = req.params as { id: string }
        const rec = await visible(req, id)
        assertMayChange(req.principal!, rec.campaign)
        const r = await m.archiveCampaign(id)
        if (!r) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `campaign ${id}`)
        if (!r.wasArchived) await audit(ctx, req, 'campaign.archive', { target: `campaign:${id}`, detail: { version: r.campaign.version, changes: ['archived: false → true'] } })
        return reply.status(204).send()
      },
    )

    app.post(
      '/campaigns/preview',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'Who the rule would have matched over the last days (replay of the geofence events of your stores)',
          body: Type.Object({ campaign: CampaignDraft, days: Type.Optional(Type.Integer({ minimum: 1, maximum: 30, default: 7 })) }, { additionalProperties: false }),
          response: { 200: PreviewOut, ...errors(400, 401, 403) },
        },
        attachValidation: true,
        preHandler: guard('campaigns:read'),
      },
      async (req) => {
        rethrowNonBody(req)
        const body = (req.body ?? {}) as { campaign?: { version?: unknown }; days?: unknown }
        const days = body.days ?? 7
        if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > 30) throw apiError('STORE_EDGE_ERR_VALIDATION', '/days: 1..30', { errors: ['/days: must be an integer from 1 to 30'] })
        const version = typeof body.campaign?.version === 'number' ? body.campaign.version : 1
        const c = await validated(body.campaign, version)
        const p = req.principal!
        const stores = (await m.storesOf(c)).filter((s) => inScope(p, s))
        const r = await m.preview(c, days, stores)
        const { scanLimited, ...out } = r
        return { ...out, truncated: out.truncated || scanLimited }
      },
    )
  }
}
