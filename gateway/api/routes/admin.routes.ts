import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { StoreEdgeError } from '../../../edge/contracts/index.ts'
import type { Role } from '../../auth/roles.ts'
import { audit, guard, type ApiContext } from '../context.ts'
import { AuditEntryOut, RoleSchema, StoreScope, UserOut, errors } from '../schemas.ts'
import { repoError } from './stores.routes.ts'

const Id = Type.Object({ id: Type.String({ format: 'uuid' }) })
const TokenOut = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: RoleSchema,
  stores: Type.Array(Type.String()),
  createdBy: Type.String(),
  createdAt: Type.Number(),
  lastUsedAt: Type.Union([Type.Number(), Type.Null()]),
  revokedAt: Type.Union([Type.Number(), Type.Null()]),
})

/** Users, API tokens and the audit log: admin only, every change audited. */
export function adminRoutes(ctx: ApiContext) {
  return async (app: FastifyInstance) => {
    app.get('/users', { schema: { tags: ['admin'], summary: 'All users', response: { 200: Type.Object({ users: Type.Array(UserOut) }), ...errors(401, 403) } }, preHandler: guard('users:read') }, async () => ({
      users: await ctx.data.users.list(),
    }))

    app.post(
      '/users',
      {
        schema: {
          tags: ['admin'],
          summary: 'Create a user',
          body: Type.Object(
            {
              username: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{1,63}$' }),
              displayName: Type.String({ minLength: 1, maxLength: 200 }),
              password: Type.String({ minLength: 8, maxLength: 256 }),
              role: RoleSchema,
              stores: StoreScope,
            },
            { additionalProperties: false },
          ),
          response: { 201: Type.Object({ user: UserOut }), ...errors(400, 401, 403, 409) },
        },
        preHandler: guard('users:write'),
      },
      async (req, reply) => {
        const body = req.body as { username: string; displayName: string; password: string; role: Role; stores: string[] }
        const user = await ctx.data.users.create(body).catch(repoError)
        await audit(ctx, req, 'user.create', { target: user.username, detail: { role: user.role, stores: user.stores } })
        return reply.status(201).send({ user })
      },
    )

    app.patch(
      '/users/:id',
      {
        schema: {
          tags: ['admin'],
          summary: 'Change a user (role, scope, disabled, password); revokes their sessions when access shrinks',
          params: Id,
          body: Type.Object(
            {
              displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
              role: Type.Optional(RoleSchema),
              stores: Type.Optional(StoreScope),
              disabled: Type.Optional(Type.Boolean()),
              password: Type.Optional(Type.String({ minLength: 8, maxLength: 256 })),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: Type.Object({ user: UserOut }), ...errors(400, 401, 403, 404) },
        },
        preHandler: guard('users:write'),
      },
      async (req) => {
        const { id } = req.params as { id: string }
        const patch = req.body as { displayName?: string; role?: Role; stores?: string[]; disabled?: boolean; password?: string }
        if (id === req.principal!.id && (patch.disabled || (patch.role && patch.role !== 'admin'))) {
          throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', 'you cannot disable or demote yourself')
        }
        const user = await ctx.data.users.update(id, patch).catch(repoError)
        if (!user) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `user ${id}`)
        if (patch.disabled || patch.role || patch.stores || patch.password) await ctx.data.sessions.revokeUser(id)
        const { password, ...shown } = patch
        await audit(ctx, req, 'user.update', { target: user.username, detail: { ...shown, ...(password ? { password: 'changed' } : {}) } })
        return { user }
      },
    )

    app.delete('/users/:id', { schema: { tags: ['admin'], summary: 'Delete a user', params: Id, response: { 204: Type.Null(), ...errors(400, 401, 403, 404) } }, preHandler: guard('users:write') }, async (req, reply) => {
      const { id } = req.params as { id: string }
      if (id === req.principal!.id) throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', 'you cannot delete yourself')
      const user = await ctx.data.users.get(id)
      if (!user || !(await ctx.data.users.remove(id))) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `user ${id}`)
      await audit(ctx, req, 'user.delete', { target: user.username })
      return reply.status(204).send()
    })

    app.get('/tokens', { schema: { tags: ['admin'], summary: 'API tokens (never their secrets)', response: { 200: Type.Object({ tokens: Type.Array(TokenOut) }), ...errors(401, 403) } }, preHandler: guard('tokens:write') }, async () => ({
      tokens: await ctx.data.tokens.list(),
    }))

    app.post(
      '/tokens',
      {
        schema: {
          tags: ['admin'],
          summary: 'Create an API token for a machine; the secret is shown once',
          body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }), role: RoleSchema, stores: StoreScope }, { additionalProperties: false }),
          response: { 201: Type.Object({ id: Type.String(), token: Type.String() }), ...errors(400, 401, 403) },
        },
        preHandler: guard('tokens:write'),
      },
      async (req, reply) => {
        const body = req.body as { name: string; role: Role; stores: string[] }
        const t = await ctx.data.tokens.create({ ...body, createdBy: req.principal!.name }).catch(repoError)
        await audit(ctx, req, 'token.create', { target: t.id, detail: { name: body.name, role: body.role, stores: body.stores } })
        return reply.status(201).send(t)
      },
    )

    app.delete('/tokens/:id', { schema: { tags: ['admin'], summary: 'Revoke an API token', params: Id, response: { 204: Type.Null(), ...errors(401, 403, 404) } }, preHandler: guard('tokens:write') }, async (req, reply) => {
      const { id } = req.params as { id: string }
      if (!(await ctx.data.tokens.revoke(id))) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `token ${id}`)
      await audit(ctx, req, 'token.revoke', { target: id })
      return reply.status(204).send()
    })

    app.get(
      '/audit',
      {
        schema: {
          tags: ['admin'],
          summary: 'The audit log, newest first',
          querystring: Type.Object({
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
            before: Type.Optional(Type.Integer({ minimum: 1 })),
            storeId: Type.Optional(Type.String({ maxLength: 64 })),
            action: Type.Optional(Type.String({ maxLength: 64 })),
          }),
          response: {
            200: Type.Object({
              entries: Type.Array(AuditEntryOut),
            }),
            ...errors(401, 403),
          },
        },
        preHandler: guard('audit:read'),
      },
      async (req) => ({ entries: await ctx.data.audit.list(req.query as { limit: number; before?: number; storeId?: string; action?: string }) }),
    )
  }
}
