import { STATUS_CODES, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { Type } from '@sinclair/typebox'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import { ErrorCodes, StoreEdgeError } from '../../../edge/contracts/index.ts'
import { can, inScope, type Principal } from '../../auth/roles.ts'
import { audit, authorize, type ApiContext } from '../context.ts'
import { errors, StoreIdParam } from '../schemas.ts'
import { SESSION_COOKIE } from './auth.routes.ts'

/**
 * The security view's central side: every camera route of a store's edge, proxied with the role and
 * store-scope check. The browser never talks to an edge; the gateway reaches it at the URL and with
 * the token of `cameras.edges[storeId]` (the edge's http.cameraToken).
 *
 *   GET /v1/stores/:storeId/cameras                        { cameras, canUnblur }          cameras:view
 *   GET /v1/stores/:storeId/cameras/events?camera=&limit=  { events }                      cameras:view
 *   GET /v1/stores/:storeId/cameras/snapshots/:id.jpg      image/jpeg, blurred             cameras:view
 *        …?blur=0                                          unblurred, audited              cameras:unblur + policy
 *   WS  /v1/stores/:storeId/cameras/:id/live               MPEG-TS for JSMpeg              cameras:view
 *   WS  /v1/stores/:storeId/cameras/:id/overlay            JSON overlay frames and events  cameras:view
 *
 * WebSocket upgrades skip fastify's hooks, so they are authenticated here the same way (session cookie
 * or bearer token), and a cookie is only taken from our own origin: browsers send cookies on
 * cross-site WebSocket handshakes and no CORS rule stops them.
 */

/** The gateway's own camera codes; the edge's are passed through as the edge sent them. */
const GatewayCameraErrors = {
  STORE_EDGE_ERR_CAMERA_VIEW_OFF: ErrorCodes.STORE_EDGE_ERR_CAMERA_VIEW_OFF,
  STORE_EDGE_ERR_EDGE_UNREACHABLE: ErrorCodes.STORE_EDGE_ERR_EDGE_UNREACHABLE,
} as const
type LocalCode = keyof typeof GatewayCameraErrors
class CameraProxyError extends Error {
  constructor(
    readonly status: number,
    readonly body: { error: { code: string; message: string } },
  ) {
    super(body.error.message)
  }
}
const local = (code: LocalCode, detail?: string) =>
  new CameraProxyError(GatewayCameraErrors[code].status, { error: { code, message: detail ? `${GatewayCameraErrors[code].message}: ${detail}` : GatewayCameraErrors[code].message } })

const WS_PATH = /^\/v1\/stores\/([a-z0-9][a-z0-9_-]{0,63})\/cameras\/([^/?]+)\/(live|overlay)(?:\?.*)?$/
const SESSION_RECHECK_MS = 15_000
/** Live video: a viewer this far behind is cut off (JSMpeg reconnects); overlay frames are skipped instead. */
const LIVE_MAX_BUFFERED = 4 * 1024 * 1024
const OVERLAY_MAX_BUFFERED = 256 * 1024
/** Edge answers passed on as they are; any other status means the gateway or edge is misconfigured. */
const PASS_THROUGH = new Set([400, 403, 404, 503])

const CameraOut = Type.Object({ id: Type.String(), name: Type.String(), state: Type.String() }, { additionalProperties: true, description: 'CameraInfo (edge/vision/camera/hub.ts): roles, fps, size, lines and zones (normalised 0..1).' })
const EventOut = Type.Object({ id: Type.String(), camera: Type.String(), type: Type.String(), ts: Type.Number() }, { additionalProperties: true, description: 'CameraEventRecord; `snapshot` names a snapshot kept at the edge.' })

export function camerasRoutes(ctx: ApiContext) {
  const cfg = ctx.cfg.cameras

  const edgeOf = (storeId: string) => {
    const e = cfg.edges[storeId]
    if (!e) throw local('STORE_EDGE_ERR_CAMERA_VIEW_OFF', `no camera edge configured for store ${storeId}`)
    return e
  }

  /** An edge error as our answer: its own 4xx/503 as is, anything else (a wrong token: 401) as 502. */
  const edgeError = async (res: Response): Promise<CameraProxyError> => {
    const body = (await res.json().catch(() => null)) as { error?: { code?: unknown; message?: unknown } } | null
    const code = typeof body?.error?.code === 'string' ? body.error.code : `HTTP_${res.status}`
    const message = typeof body?.error?.message === 'string' ? body.error.message : `HTTP ${res.status}`
    if (PASS_THROUGH.has(res.status) && code.startsWith('STORE_EDGE_ERR_')) return new CameraProxyError(res.status, { error: { code, message } })
    return local('STORE_EDGE_ERR_EDGE_UNREACHABLE', `${code}: ${message}`)
  }

  const edgeGet = async (storeId: string, path: string): Promise<Response> => {
    const e = edgeOf(storeId)
    let res: Response
    try {
      res = await fetch(new URL(path, e.url), { headers: { 'x-camera-token': e.token }, signal: AbortSignal.timeout(cfg.timeoutMs) })
    } catch (err) {
      throw local('STORE_EDGE_ERR_EDGE_UNREACHABLE', (err as Error).name === 'TimeoutError' ? `no answer within ${cfg.timeoutMs} ms` : 'connection failed')
    }
    if (!res.ok) throw await edgeError(res)
    return res
  }

  const canUnblur = (p: Principal) => cfg.allowUnblurred && can(p, 'cameras:unblur')

  return async (app: FastifyInstance) => {
    app.setErrorHandler((err, req, reply) => {
      if (err instanceof CameraProxyError) return reply.code(err.status).send(err.body)
      throw err // the app's handler: catalogue errors, validation, 500
    })

    app.get(
      '/stores/:storeId/cameras',
      {
        schema: {
          tags: ['cameras'],
          summary: "The store's cameras (state, lines, zones) and whether you may see unblurred snapshots; a store without a camera edge has none (configured: false)",
          params: StoreIdParam,
          response: { 200: Type.Object({ cameras: Type.Array(CameraOut), canUnblur: Type.Boolean(), configured: Type.Boolean() }), ...errors(401, 403, 502, 503) },
        },
      },
      async (req) => {
        const { storeId } = req.params as { storeId: string }
        const p = authorize(req, 'cameras:view', storeId)
        // Most stores may have no cameras: that is an empty list, not an error.
        if (!cfg.edges[storeId]) return { cameras: [], canUnblur: canUnblur(p), configured: false }
        const res = await edgeGet(storeId, '/v1/cameras')
        const { cameras } = (await res.json()) as { cameras: unknown[] }
        return { cameras, canUnblur: canUnblur(p), configured: true }
      },
    )

    app.get(
      '/stores/:storeId/cameras/events',
      {
        schema: {
          tags: ['cameras'],
          summary: 'Recent camera events of the store (crossings, loitering, overcrowding, status), newest first',
          params: StoreIdParam,
          querystring: Type.Object({ camera: Type.Optional(Type.String({ maxLength: 200 })), limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }) }),
          response: { 200: Type.Object({ events: Type.Array(EventOut) }), ...errors(401, 403, 404, 502, 503) },
        },
      },
      async (req) => {
        const { storeId } = req.params as { storeId: string }
        authorize(req, 'cameras:view', storeId)
        if (!cfg.edges[storeId]) return { events: [] }
        const q = req.query as { camera?: string; limit: number }
        const qs = new URLSearchParams({ limit: String(q.limit) })
        if (q.camera) qs.set('camera', q.camera)
        const res = await edgeGet(storeId, `/v1/cameras/events?${qs}`)
        return (await res.json()) as { events: unknown[] }
      },
    )

    app.get(
      '/stores/:storeId/cameras/snapshots/:id.jpg',
      {
        schema: {
          tags: ['cameras'],
          summary: 'An event snapshot, faces and heads blurred; blur=0 (cameras:unblur) is unblurred and written to the audit log',
          params: Type.Object({ ...StoreIdParam.properties, id: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,200}$' }) }),
          querystring: Type.Object({ blur: Type.Union([Type.Literal('1'), Type.Literal('0')], { default: '1' }) }),
          response: errors(401, 403, 404, 502, 503),
        },
      },
      async (req, reply: FastifyReply) => {
        const { storeId, id } = req.params as { storeId: string; id: string }
        const blur = (req.query as { blur: '0' | '1' }).blur !== '0'
        const p = authorize(req, blur ? 'cameras:view' : 'cameras:unblur', storeId)
        if (!blur && !canUnblur(p)) throw new StoreEdgeError('STORE_EDGE_ERR_FORBIDDEN', 'unblurred snapshots are off at this gateway (cameras.allowUnblurred)')
        const res = await edgeGet(storeId, `/v1/cameras/snapshots/${encodeURIComponent(id)}.jpg?blur=${blur ? 1 : 0}`)
        const jpeg = Buffer.from(await res.arrayBuffer())
        // An edge that answered with the faces visible is recorded whatever was asked; the record is
        // written before the image leaves, so a view that cannot be audited does not happen.
        const blurred = res.headers.get('x-snapshot-blurred') !== '0'
        if (!blurred) {
          const camera = decodeURIComponent(res.headers.get('x-camera') ?? '') || undefined
          await audit(ctx, req, 'camera.snapshot.unblurred', { target: `snapshot:${id}`, storeId, detail: { camera, snapshot: id } })
        }
        return reply.type('image/jpeg').header('cache-control', 'private, no-store').header('x-snapshot-blurred', blurred ? '1' : '0').send(jpeg)
      },
    )

    // ---- WebSocket proxy ----------------------------------------------------------------------

    const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 })

    const refuse = (socket: Duplex, status: number, body: unknown) => {
      if (socket.destroyed) return
      const json = JSON.stringify(body)
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`)
    }
    const refuseCode = (socket: Duplex, code: 'STORE_EDGE_ERR_UNAUTHENTICATED' | 'STORE_EDGE_ERR_FORBIDDEN', message: string) =>
      refuse(socket, code === 'STORE_EDGE_ERR_UNAUTHENTICATED' ? 401 : 403, { error: { code, message } })

    /** Our own origin(s): the Host the request came to, and the configured public URL. */
    const sameOrigin = (req: IncomingMessage): boolean => {
      const origin = req.headers.origin
      if (!origin) return true // not a browser: it sends no cookie it did not mean to
      let host: string
      try {
        host = new URL(origin).host
      } catch {
        return false
      }
      if (host === req.headers.host) return true
      try {
        return !!ctx.cfg.http.publicUrl && new URL(ctx.cfg.http.publicUrl).host === host
      } catch {
        return false
      }
    }

    const principalOf = async (req: IncomingMessage): Promise<{ p?: Principal; session?: string }> => {
      const auth = req.headers.authorization
      if (auth?.startsWith('Bearer ')) return { p: await ctx.data.tokens.resolve(auth.slice(7).trim()) }
      const session = app.parseCookie(req.headers.cookie ?? '')[SESSION_COOKIE]
      if (!session) return {}
      if (!sameOrigin(req)) return {}
      return { p: await ctx.data.sessions.resolve(session), session }
    }

    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const m = WS_PATH.exec(req.url ?? '')
      if (!m) {
        if (app.server.listenerCount('upgrade') === 1) refuse(socket, 404, { error: { code: 'STORE_EDGE_ERR_NOT_FOUND', message: `no route ${req.url?.split('?')[0]}` } })
        return
      }
      socket.on('error', () => undefined) // a client gone mid-handshake is not our error
      void upgrade(req, socket, head, m[1]!, m[2]!, m[3] as 'live' | 'overlay').catch((err) => {
        ctx.log.error({ err }, 'camera proxy upgrade failed')
        refuse(socket, 500, { error: { code: 'STORE_EDGE_ERR_INTERNAL', message: 'internal error' } })
      })
    }

    const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer, storeId: string, rawCamera: string, kind: 'live' | 'overlay') => {
      const { p, session } = await principalOf(req)
      if (!p) return refuseCode(socket, 'STORE_EDGE_ERR_UNAUTHENTICATED', 'not logged in (or the session expired)')
      if (!can(p, 'cameras:view')) return refuseCode(socket, 'STORE_EDGE_ERR_FORBIDDEN', `role ${p.role} lacks cameras:view`)
      if (!inScope(p, storeId)) return refuseCode(socket, 'STORE_EDGE_ERR_FORBIDDEN', `store ${storeId} is outside your scope`)
      const edge = cfg.edges[storeId]
      if (!edge) return refuse(socket, 503, local('STORE_EDGE_ERR_CAMERA_VIEW_OFF', `no camera edge configured for store ${storeId}`).body)

      let camera: string
      try {
        camera = decodeURIComponent(rawCamera)
      } catch {
        camera = ''
      }
      // Re-encoded from the decoded id, and never a dot segment: URL resolution would turn
      // `..` (or `%2e%2e`) into another path at the edge, sent with the edge token.
      if (!camera || camera === '.' || camera === '..') return refuse(socket, 404, { error: { code: 'STORE_EDGE_ERR_CAMERA_NOT_FOUND', message: ErrorCodes.STORE_EDGE_ERR_CAMERA_NOT_FOUND.message } })
      const target = new URL(`/v1/cameras/${encodeURIComponent(camera)}/${kind}`, edge.url)
      target.protocol = target.protocol === 'https:' ? 'wss:' : 'ws:'
      const upstream = new WebSocket(target, { headers: { 'x-camera-token': edge.token }, handshakeTimeout: cfg.timeoutMs, perMessageDeflate: false })
      let settled = false
      const fail = (status: number, body: unknown) => {
        if (settled) return
        settled = true
        upstream.removeAllListeners()
        upstream.on('error', () => undefined)
        upstream.terminate()
        refuse(socket, status, body)
      }
      upstream.once('unexpected-response', (_r, res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const r = new Response(Buffer.concat(chunks), { status: res.statusCode ?? 502 })
          void edgeError(r).then((e) => fail(e.status, e.body))
        })
        res.on('error', () => fail(502, local('STORE_EDGE_ERR_EDGE_UNREACHABLE').body))
      })
      upstream.once('error', (err) => fail(502, local('STORE_EDGE_ERR_EDGE_UNREACHABLE', err.message.includes('timeout') ? `no answer within ${cfg.timeoutMs} ms` : 'connection failed').body))
      socket.once('close', () => {
        if (settled) return
        settled = true
        upstream.terminate()
      })
      upstream.once('open', () => {
        if (settled) return
        settled = true
        upstream.removeAllListeners('error')
        wss.handleUpgrade(req, socket, head, (client) => relay(client, upstream, kind, p, session))
      })
    }

    const relay = (client: WebSocket, upstream: WebSocket, kind: 'live' | 'overlay', p: Principal, session?: string) => {
      let closed = false
      const close = (code = 1000, reason = '') => {
        if (closed) return
        closed = true
        clearInterval(recheck)
        if (client.readyState === client.OPEN) client.close(code, reason)
        else client.terminate()
        upstream.terminate()
      }
      upstream.on('message', (data: RawData, isBinary: boolean) => {
        if (client.readyState !== client.OPEN) return
        if (kind === 'live') {
          if (client.bufferedAmount > LIVE_MAX_BUFFERED) return close(1013, 'too slow')
        } else if (client.bufferedAmount > OVERLAY_MAX_BUFFERED) return
        client.send(data, { binary: isBinary })
      })
      upstream.on('close', () => close(1011, 'edge closed the stream'))
      upstream.on('error', () => close(1011, 'edge stream failed'))
      client.on('close', () => close())
      client.on('error', () => close())
      // A session that ends (logout, user disabled, expiry) ends its streams, as the SSE stream does.
      const recheck = setInterval(() => {
        if (!session || p.kind !== 'user') return
        void ctx.data.sessions.resolve(session).then((still) => !still && close(1008, 'session ended'), () => undefined)
      }, SESSION_RECHECK_MS)
      recheck.unref()
    }

    app.server.on('upgrade', onUpgrade)
    app.addHook('onClose', async () => {
      app.server.off('upgrade', onUpgrade)
      for (const c of wss.clients) c.terminate()
      wss.close()
    })
  }
}
