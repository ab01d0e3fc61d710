import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import cookie from '@fastify/cookie'
import swagger from '@fastify/swagger'
import fastifyStatic from '@fastify/static'
import { ErrorCodes, StoreEdgeError } from '../../edge/contracts/index.ts'
import type { Logger } from '../core/logger.ts'
import type { ApiContext } from './context.ts'
import { SESSION_COOKIE } from './routes/auth.routes.ts'
import { authRoutes } from './routes/auth.routes.ts'
import { storesRoutes } from './routes/stores.routes.ts'
import { metricsRoutes } from './routes/series.routes.ts'
import { streamRoutes } from './routes/stream.routes.ts'
import { adminRoutes } from './routes/admin.routes.ts'
import { systemRoutes } from './routes/system.routes.ts'
import { couponsRoutes } from './routes/coupons.routes.ts'
import { campaignsRoutes } from './routes/campaigns.routes.ts'
import { geofencesRoutes } from './routes/geofences.routes.ts'
import { membersRoutes } from './routes/members.routes.ts'
import { memberFacesRoutes } from './routes/member-faces.routes.ts'
import { locationsRoutes } from './routes/locations.routes.ts'
import { camerasRoutes } from './routes/cameras.routes.ts'
import { cameraConfigRoutes } from './routes/camera-config.routes.ts'

const here = dirname(fileURLToPath(import.meta.url))
/** /v1 routes that answer without a principal (logout and me report the missing session themselves). */
const PUBLIC_ROUTES = new Set(['/v1/auth/login', '/v1/auth/logout', '/v1/auth/me', '/v1/coupons/public-key'])
/** dashboards/web, found from the source tree or from the bundle in dist/. */
export function dashboardsDir(): string {
  const candidates = [join(here, '../../dashboards/web'), join(here, '../dashboards/web')]
  return candidates.find((d) => {
    try {
      return createRequire(import.meta.url).resolve(join(d, 'index.html'))
    } catch {
      return false
    }
  }) ?? candidates[0]!
}

/**
 * The gateway's fastify app: API under /v1 (every route schema-validated, role- and
 * scope-checked), OpenAPI at /openapi.json, the dashboard at /. Errors answer
 * `{ error: { code: 'STORE_EDGE_ERR_…', message } }`. Separate from listen() for inject() tests.
 */
export async function buildGatewayHttp(ctx: ApiContext, log: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: log.child({ module: 'http' }, { level: 'warn' }),
    bodyLimit: 256 * 1024,
    trustProxy: ctx.cfg.http.trustProxy,
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, allErrors: true } },
    // As fastify's own formatter, but naming the property an additionalProperties error is about.
    schemaErrorFormatter: (errors, dataVar) =>
      new Error(errors.map((e) => `${dataVar}${e.instancePath} ${e.message}${typeof e.params.additionalProperty === 'string' ? ` '${e.params.additionalProperty}'` : ''}`).join(', ')),
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; code?: string }, req, reply) => {
    if (err instanceof StoreEdgeError) return reply.status(err.statusCode).send({ error: { ...(err as { extra?: Record<string, unknown> }).extra, code: err.code, message: err.message } })
    if (err.validation) return reply.status(400).send({ error: { code: 'STORE_EDGE_ERR_VALIDATION', message: err.message } })
    const status = err.statusCode ?? 500
    if (status >= 500) req.log.error({ err }, 'request failed')
    const code = status === 413 ? 'STORE_EDGE_ERR_PAYLOAD_TOO_LARGE' : status === 404 ? 'STORE_EDGE_ERR_NOT_FOUND' : status < 500 ? 'STORE_EDGE_ERR_VALIDATION' : 'STORE_EDGE_ERR_INTERNAL'
    return reply.status(status).send({ error: { code, message: status < 500 ? err.message : ErrorCodes.STORE_EDGE_ERR_INTERNAL.message } })
  })
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: { code: 'STORE_EDGE_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } }),
  )

  await app.register(cookie)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'store-edge gateway API', version: '0.2.0', description: 'Central API: stores, live and historical footfall, users, tokens, audit. Errors: { error: { code, message } }.' },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
          token: { type: 'http', scheme: 'bearer', description: 'API token for machines (set_…)' },
        },
      },
      security: [{ session: [] }, { token: [] }],
    },
  })

  // Who is asking: a session cookie (people) or a bearer API token (machines).
  app.addHook('onRequest', async (req) => {
    const auth = req.headers.authorization
    if (auth?.startsWith('Bearer ')) {
      req.principal = await ctx.data.tokens.resolve(auth.slice(7).trim())
      if (!req.principal) throw new StoreEdgeError('STORE_EDGE_ERR_UNAUTHENTICATED', 'unknown or revoked API token')
      return
    }
    const sid = req.cookies[SESSION_COOKIE]
    if (sid) req.principal = await ctx.data.sessions.resolve(sid)
    // A cookie is sent by browsers on their own; a change made with one must come from our page,
    // which always sends JSON (a cross-site form cannot, without a CORS preflight we never grant).
    if (req.principal && !['GET', 'HEAD', 'OPTIONS'].includes(req.method) && !String(req.headers['content-type'] ?? '').startsWith('application/json') && req.method !== 'DELETE') {
      throw new StoreEdgeError('STORE_EDGE_ERR_FORBIDDEN', 'changes need a JSON request')
    }
    // Strangers learn nothing about a route's inputs: 401 before any schema validation.
    if (!req.principal && req.url.startsWith('/v1/') && !PUBLIC_ROUTES.has(req.url.split('?')[0]!)) {
      throw new StoreEdgeError('STORE_EDGE_ERR_UNAUTHENTICATED')
    }
  })

  await app.register(systemRoutes(ctx))
  await app.register(authRoutes(ctx), { prefix: '/v1/auth' })
  await app.register(storesRoutes(ctx), { prefix: '/v1' })
  await app.register(metricsRoutes(ctx), { prefix: '/v1' })
  await app.register(streamRoutes(ctx), { prefix: '/v1' })
  await app.register(adminRoutes(ctx), { prefix: '/v1' })
  await app.register(couponsRoutes(ctx), { prefix: '/v1' })
  await app.register(campaignsRoutes(ctx), { prefix: '/v1' })
  await app.register(geofencesRoutes(ctx), { prefix: '/v1' })
  await app.register(membersRoutes(ctx), { prefix: '/v1' })
  await app.register(memberFacesRoutes(ctx), { prefix: '/v1' })
  await app.register(locationsRoutes(ctx), { prefix: '/v1' })
  await app.register(camerasRoutes(ctx), { prefix: '/v1' })
  await app.register(cameraConfigRoutes(ctx), { prefix: '/v1' })

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  const uplot = dirname(createRequire(import.meta.url).resolve('uplot/package.json'))
  await app.register(fastifyStatic, { root: join(uplot, 'dist'), prefix: '/vendor/uplot/', decorateReply: false, allowedPath: (p) => /^\/uPlot\.(esm\.js|min\.css)$/.test(p) })
  await app.register(fastifyStatic, { root: dashboardsDir(), prefix: '/', decorateReply: false, index: 'index.html' })
  return app as unknown as FastifyInstance
}
