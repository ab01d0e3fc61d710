import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { StoreEdgeError, normalizePlate } from '../../../edge/contracts/index.ts'
import { IdentityTaken, diffSummary, type MemberInput, type MemberRecord } from '../../marketing/index.ts'
import { apiError, audit, guard, type ApiContext } from '../context.ts'
import { errors } from '../schemas.ts'
import { repoError } from './stores.routes.ts'

const REF = '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'
const IBEACON = /^ibeacon:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:(\d{1,5}):(\d{1,5})$/
const Push = Type.Object(
  { provider: Type.Union([Type.Literal('webhook'), Type.Literal('wechat')]), openId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'WeChat openId (wechat pushes).' })) },
  { additionalProperties: false },
)
const fields = {
  displayName: Type.String({ maxLength: 200, default: '' }),
  tier: Type.Integer({ minimum: 0, maximum: 99, default: 1 }),
  tags: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 100, default: [] }),
  plates: Type.Array(Type.String({ maxLength: 32 }), { maxItems: 20, default: [], description: 'Registered plates as typed; stored normalised (O→0, I→1, full-width, separators).' }),
  beaconIds: Type.Array(Type.String({ maxLength: 120 }), { maxItems: 20, default: [], description: 'ibeacon:<uuid>:<major>:<minor> the member app advertises.' }),
  push: Type.Object(Push.properties, { additionalProperties: false, default: { provider: 'webhook' } }),
  optedIn: Type.Boolean({ default: true, description: 'Only opted-in members are sent to the stores.' }),
}
const MemberBody = Type.Object({ ref: Type.String({ pattern: REF }), ...fields }, { additionalProperties: false })
const MemberPut = Type.Object({ ref: Type.Optional(Type.String({ pattern: REF })), ...fields }, { additionalProperties: false })
const MemberOut = Type.Object({
  ref: Type.String(),
  displayName: Type.String(),
  tier: Type.Integer(),
  tags: Type.Array(Type.String()),
  plates: Type.Array(Type.String()),
  beaconIds: Type.Array(Type.String()),
  push: Push,
  optedIn: Type.Boolean(),
  createdAt: Type.Number(),
  updatedAt: Type.Number(),
})
const RefParam = Type.Object({ ref: Type.String({ pattern: REF }) })

/** Plates normalised, beacons lower case; every bad one named with its reason (never logged). */
export function memberInput(body: Omit<MemberInput, 'ref'> & { ref?: string }, ref: string): MemberInput {
  const bad: string[] = []
  const plates = body.plates.map((raw, i) => {
    const r = normalizePlate(raw)
    if (!r.ok) bad.push(`/plates/${i}: ${JSON.stringify(raw)}: ${r.reason}`)
    return r.ok ? r.plate : raw
  })
  if (bad.length) throw apiError('STORE_EDGE_ERR_BAD_PLATE', bad.join('; '), { errors: bad })
  const dupPlate = plates.find((p, i) => plates.indexOf(p) !== i)
  if (dupPlate) throw apiError('STORE_EDGE_ERR_BAD_PLATE', `${dupPlate} is listed twice`, { errors: [`/plates: ${dupPlate} is listed twice (after normalisation)`] })
  const badBeacons: string[] = []
  const beaconIds = body.beaconIds.map((raw, i) => {
    const b = raw.trim().toLowerCase()
    const m = IBEACON.exec(b)
    if (!m || Number(m[1]) > 65535 || Number(m[2]) > 65535) badBeacons.push(`/beaconIds/${i}: expected ibeacon:<uuid>:<major 0-65535>:<minor 0-65535>`)
    return b
  })
  if (new Set(beaconIds).size !== beaconIds.length) badBeacons.push('/beaconIds: a beacon is listed twice')
  if (body.push.provider === 'wechat' && !body.push.openId) badBeacons.push("/push/openId: a WeChat push needs the member's openId")
  if (badBeacons.length) throw apiError('STORE_EDGE_ERR_VALIDATION', badBeacons.join('; '), { errors: badBeacons })
  return { ref, displayName: body.displayName, tier: body.tier, tags: [...new Set(body.tags)], plates, beaconIds, push: body.push, optedIn: body.optedIn }
}

/** What the audit log may keep of a member: no plates, no beacon ids, no openId. */
const auditView = (m: MemberInput) => ({ displayName: m.displayName, tier: m.tier, tags: m.tags, optedIn: m.optedIn, push: m.push.provider, plates: m.plates.length, beaconIds: m.beaconIds.length })

function identityError(err: unknown): never {
  if (err instanceof IdentityTaken) throw new StoreEdgeError('STORE_EDGE_ERR_CONFLICT', err.message)
  repoError(err)
}

/** Members (chain-wide, not store-scoped): every change republishes the members config to every store. */
export function membersRoutes(ctx: ApiContext) {
  const m = ctx.marketing
  const out = (r: MemberRecord) => r
  return async (app: FastifyInstance) => {
    app.get(
      '/members',
      {
        schema: {
          tags: ['members'],
          summary: 'Members; q matches the ref or the name, or a plate exactly',
          querystring: Type.Object({ q: Type.Optional(Type.String({ maxLength: 100 })), limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }), offset: Type.Integer({ minimum: 0, default: 0 }) }),
          response: { 200: Type.Object({ members: Type.Array(MemberOut), total: Type.Integer() }), ...errors(400, 401, 403) },
        },
        preHandler: guard('members:read'),
      },
      async (req) => {
        const { q, limit, offset } = req.query as { q?: string; limit: number; offset: number }
        const search = q?.trim() || undefined
        const plate = search ? normalizePlate(search) : undefined
        return m.members.list({ search, plate: plate?.ok ? plate.plate : undefined, limit, offset })
      },
    )

    app.get('/members/:ref', { schema: { tags: ['members'], summary: 'One member', params: RefParam, response: { 200: Type.Object({ member: MemberOut }), ...errors(401, 403, 404) } }, preHandler: guard('members:read') }, async (req) => {
      const { ref } = req.params as { ref: string }
      const r = await m.members.get(ref)
      if (!r) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `member ${ref}`)
      return { member: out(r) }
    })

    app.post(
      '/members',
      { schema: { tags: ['members'], summary: 'Register a member (plates normalised; a plate of another member is 409)', body: MemberBody, response: { 201: Type.Object({ member: MemberOut }), ...errors(400, 401, 403, 409) } }, preHandler: guard('members:write') },
      async (req, reply) => {
        const body = req.body as MemberInput
        const input = memberInput(body, body.ref)
        const r = await m.createMember(input).catch(identityError)
        await audit(ctx, req, 'member.create', { target: `member:${input.ref}`, detail: auditView(input) })
        return reply.status(201).send({ member: out(r) })
      },
    )

    app.put(
      '/members/:ref',
      { schema: { tags: ['members'], summary: 'Replace a member’s record, plates and beacons', params: RefParam, body: MemberPut, response: { 200: Type.Object({ member: MemberOut }), ...errors(400, 401, 403, 404, 409) } }, preHandler: guard('members:write') },
      async (req) => {
        const { ref } = req.params as { ref: string }
        const body = req.body as MemberInput
        if (body.ref !== undefined && body.ref !== ref) throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', `body/ref must equal the member in the URL (${ref})`)
        const input = memberInput(body, ref)
        const r = await m.updateMember(input).catch(identityError)
        if (!r) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `member ${ref}`)
        const changes = diffSummary(auditView(r.before), auditView(r.after))
        // Counts can stay equal while plates change: say so without naming them.
        if (r.before.plates.join() !== r.after.plates.join() && !changes.some((c) => c.startsWith('plates'))) changes.push('plates: changed')
        if (r.before.beaconIds.join() !== r.after.beaconIds.join() && !changes.some((c) => c.startsWith('beaconIds'))) changes.push('beaconIds: changed')
        await audit(ctx, req, 'member.update', { target: `member:${ref}`, detail: { changes } })
        return { member: out(r.after) }
      },
    )

    app.delete('/members/:ref', { schema: { tags: ['members'], summary: 'Forget a member: record, plates, beacons, visits', params: RefParam, response: { 204: Type.Null(), ...errors(401, 403, 404) } }, preHandler: guard('members:write') }, async (req, reply) => {
      const { ref } = req.params as { ref: string }
      const r = await m.removeMember(ref)
      if (!r) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `member ${ref}`)
      await audit(ctx, req, 'member.delete', { target: `member:${ref}` })
      return reply.status(204).send()
    })
  }
}
