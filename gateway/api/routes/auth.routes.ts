import type { FastifyInstance, FastifyReply } from 'fastify'
import { Type } from '@sinclair/typebox'
import { StoreEdgeError } from '../../../edge/contracts/index.ts'
import { permissionsOf, PERMISSIONS } from '../../auth/roles.ts'
import type { User } from '../../db/index.ts'
import { audit, type ApiContext } from '../context.ts'
import { RoleSchema, errors } from '../schemas.ts'

export const SESSION_COOKIE = 'se_session'

const Me = Type.Object({
  user: Type.Object({ id: Type.String(), username: Type.String(), displayName: Type.String(), role: RoleSchema, stores: Type.Array(Type.String()) }),
  permissions: Type.Array(Type.Union(PERMISSIONS.map((p) => Type.Literal(p)))),
})

const me = (u: Pick<User, 'id' | 'username' | 'displayName' | 'role' | 'stores'>) => ({
  user: { id: u.id, username: u.username, displayName: u.displayName, role: u.role, stores: u.stores },
  permissions: permissionsOf(u.role),
})

/** Login with a session cookie (HttpOnly, SameSite=Strict), logout, who am I. */
export function authRoutes(ctx: ApiContext) {
  return async (app: FastifyInstance) => {
    const ttlMs = ctx.cfg.auth.sessionTtlHours * 3_600_000
    const setCookie = (reply: FastifyReply, token: string, maxAgeS: number) =>
      reply.setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'strict', secure: ctx.cfg.auth.cookieSecure, maxAge: maxAgeS })

    app.post(
      '/login',
      {
        schema: {
          tags: ['auth'],
          summary: 'Log in; sets the session cookie',
          security: [],
          body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
          response: { 200: Me, ...errors(400, 401, 429) },
        },
      },
      async (req, reply) => {
        const { username, password } = req.body as { username: string; password: string }
        const now = ctx.now()
        const wait = ctx.logins.retryAfterMs(req.ip, username, now)
        if (wait > 0) {
          ctx.metrics.logins.inc({ result: 'throttled' })
          reply.header('retry-after', Math.ceil(wait / 1000))
          throw new StoreEdgeError('STORE_EDGE_ERR_LOGIN_BACKOFF', `retry in ${Math.ceil(wait / 1000)} s`)
        }
        const user = await ctx.data.users.verify(username, password)
        if (!user) {
          ctx.logins.failed(req.ip, username, now)
          ctx.metrics.logins.inc({ result: 'failed' })
          await audit(ctx, req, 'session.login_failed', { target: username.slice(0, 64) })
          throw new StoreEdgeError('STORE_EDGE_ERR_LOGIN_FAILED')
        }
        ctx.logins.succeeded(req.ip, username)
        const session = await ctx.data.sessions.create(user.id, ttlMs)
        setCookie(reply, session.token, Math.floor(ttlMs / 1000))
        ctx.metrics.logins.inc({ result: 'ok' })
        req.principal = { kind: 'user', id: user.id, name: user.username, role: user.role, stores: user.stores }
        await audit(ctx, req, 'session.login', { target: user.username })
        return me(user)
      },
    )

    app.post('/logout', { schema: { tags: ['auth'], summary: 'End the session', response: { 204: Type.Null() } } }, async (req, reply) => {
      const sid = req.cookies[SESSION_COOKIE]
      if (sid) await ctx.data.sessions.revoke(sid)
      if (req.principal) await audit(ctx, req, 'session.logout', { target: req.principal.name })
      reply.clearCookie(SESSION_COOKIE, { path: '/' })
      return reply.status(204).send()
    })

    app.get('/me', { schema: { tags: ['auth'], summary: 'The logged-in user and their permissions', response: { 200: Me, ...errors(401) } } }, async (req) => {
      const p = req.principal
      if (!p) throw new StoreEdgeError('STORE_EDGE_ERR_UNAUTHENTICATED')
      if (p.kind === 'token') return me({ id: p.id, username: p.name, displayName: p.name, role: p.role, stores: p.stores })
      const u = await ctx.data.users.get(p.id)
      if (!u) throw new StoreEdgeError('STORE_EDGE_ERR_UNAUTHENTICATED')
      return me(u)
    })
  }
}
