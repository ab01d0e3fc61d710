import { STATUS_CODES, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { Type } from '@sinclair/typebox'
import { WebSocketServer, type WebSocket } from 'ws'
import type { CameraHub } from '../../vision/camera/hub.ts'
import { LiveStreams } from '../../vision/camera/live-stream.ts'
import { renderSnapshot } from '../../vision/camera/snapshot.ts'
import { ErrorCodes, type ErrorCode } from '../../contracts/index.ts'
import { secretMatches } from './webhook.common.ts'

/**
 * The security view's edge side (the gateway is its only client): camera list, live MPEG-1 video and
 * the analytics overlay over WebSocket, recent events, and event snapshots, blurred unless this edge's
 * policy allows otherwise and the gateway asks (it checks the viewer's role and audits the view).
 * Every route, the WebSocket upgrades included, needs the shared token in `x-camera-token`; with no
 * token configured the routes answer 503, so a forgotten setting never opens the cameras to the LAN.
 *
 *   GET  /v1/cameras                          { cameras: CameraInfo[] }
 *   GET  /v1/cameras/events?camera=&limit=    { events: CameraEventRecord[] }, newest first
 *   GET  /v1/cameras/snapshots/:id.jpg?blur=  image/jpeg (blur=1 default; 0 needs allowUnblurred)
 *   WS   /v1/cameras/:id/live                 binary MPEG-TS (mpeg1video) messages, for JSMpeg
 *   WS   /v1/cameras/:id/overlay              JSON: OverlayFrame, or { type: 'event', event }
 */
export interface CameraRoutesOptions {
  /** The camera module's hub; undefined while it is not running (503). */
  hub: () => CameraHub | undefined
  /** http.cameraToken; empty: every camera route answers 503. */
  token: string
  /** http.cameraUnblurred: whether `?blur=0` may be honoured at all. */
  allowUnblurred: boolean
  /** The restreams to use (tests hold one to watch ffmpeg come and go); default: one owned by this plugin. */
  live?: LiveStreams
  /** camera.ffmpegPath, for the plugin's own restreams. */
  ffmpegPath?: string
}

export const CAMERA_TOKEN_HEADER = 'x-camera-token'

/** Codes of the camera routes (edge/contracts/errors.ts). */
export type CameraErrorCode =
  | 'STORE_EDGE_ERR_CAMERA_TOKEN'
  | 'STORE_EDGE_ERR_CAMERAS_UNAVAILABLE'
  | 'STORE_EDGE_ERR_UNBLUR_OFF'
  | 'STORE_EDGE_ERR_CAMERA_VIEW_OFF'
  | 'STORE_EDGE_ERR_CAMERA_NOT_FOUND'
  | 'STORE_EDGE_ERR_SNAPSHOT_NOT_FOUND'
const catalogue = (code: CameraErrorCode) => ErrorCodes[code]

const body = (code: CameraErrorCode, detail?: string) => ({ error: { code, message: detail ? `${catalogue(code).message}: ${detail}` : catalogue(code).message } })
const send = (reply: FastifyReply, code: CameraErrorCode, detail?: string) => reply.code(catalogue(code).status).send(body(code, detail))

/** Answer an upgrade request with a plain HTTP error (the handshake never completes). */
export function refuseUpgrade(socket: Duplex, status: number, payload: unknown): void {
  const json = JSON.stringify(payload)
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`)
}

const WS_PATH = /^\/v1\/cameras\/([^/?]+)\/(live|overlay)(?:\?.*)?$/
/** Overlay frames are skipped (not queued) for a viewer this far behind; the next one replaces them. */
const OVERLAY_MAX_BUFFERED = 256 * 1024
const EVENTS_MAX = 500

export const cameraRoutes: FastifyPluginAsync<CameraRoutesOptions> = async (app, opts) => {
  const live =
    opts.live ??
    new LiveStreams({ source: (id) => opts.hub()?.sourceUrl(id), frames: (id) => opts.hub()?.frameFeed?.(id), log: app.log.child({ module: 'live-stream' }), ffmpegPath: opts.ffmpegPath })
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 })

  /** The token and the hub, the same way for HTTP and upgrades. */
  const gate = (headers: IncomingMessage['headers']): { hub: CameraHub } | { code: CameraErrorCode } => {
    if (!opts.token) return { code: 'STORE_EDGE_ERR_CAMERA_VIEW_OFF' }
    if (!secretMatches(opts.token, headers[CAMERA_TOKEN_HEADER])) return { code: 'STORE_EDGE_ERR_CAMERA_TOKEN' }
    const hub = opts.hub()
    return hub ? { hub } : { code: 'STORE_EDGE_ERR_CAMERAS_UNAVAILABLE' }
  }

  const hubOf = new WeakMap<object, CameraHub>()
  app.addHook('onRequest', async (req, reply) => {
    const g = gate(req.headers)
    if ('code' in g) return send(reply, g.code)
    hubOf.set(req, g.hub)
  })
  const hub = (req: object) => hubOf.get(req)!

  app.get('/v1/cameras', async (req) => ({ cameras: hub(req).list() }))

  app.get(
    '/v1/cameras/events',
    { schema: { querystring: Type.Object({ camera: Type.Optional(Type.String({ maxLength: 200 })), limit: Type.Integer({ minimum: 1, maximum: EVENTS_MAX, default: 50 }) }) } },
    async (req, reply) => {
      const q = req.query as { camera?: string; limit: number }
      if (q.camera && !hub(req).info(q.camera)) return send(reply, 'STORE_EDGE_ERR_CAMERA_NOT_FOUND', q.camera)
      return { events: hub(req).recentEvents({ camera: q.camera || undefined, limit: q.limit }) }
    },
  )

  app.get(
    '/v1/cameras/snapshots/:id.jpg',
    { schema: { params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }), querystring: Type.Object({ blur: Type.Union([Type.Literal('1'), Type.Literal('0')], { default: '1' }) }) } },
    async (req, reply) => {
      const { id } = req.params as { id: string }
      const blur = (req.query as { blur: '0' | '1' }).blur !== '0'
      if (!blur && !opts.allowUnblurred) return send(reply, 'STORE_EDGE_ERR_UNBLUR_OFF')
      const s = hub(req).snapshot(id)
      if (!s) return send(reply, 'STORE_EDGE_ERR_SNAPSHOT_NOT_FOUND', id)
      const jpeg = await renderSnapshot(s, { blur })
      return reply
        .type('image/jpeg')
        .header('cache-control', 'no-store')
        .header('x-camera', encodeURIComponent(s.camera))
        .header('x-snapshot-blurred', blur ? '1' : '0')
        .send(jpeg)
    },
  )

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const m = WS_PATH.exec(req.url ?? '')
    if (!m) {
      // Not ours: someone else listening for upgrades may take it; if nobody is, say so.
      if (app.server.listenerCount('upgrade') === 1) refuseUpgrade(socket, 404, { error: { code: 'STORE_EDGE_ERR_NOT_FOUND', message: `no route ${req.url?.split('?')[0]}` } })
      return
    }
    const g = gate(req.headers)
    if ('code' in g) return refuseUpgrade(socket, catalogue(g.code).status, body(g.code))
    let camera: string
    try {
      camera = decodeURIComponent(m[1]!)
    } catch {
      return refuseUpgrade(socket, 404, body('STORE_EDGE_ERR_CAMERA_NOT_FOUND'))
    }
    if (!g.hub.info(camera)) return refuseUpgrade(socket, 404, body('STORE_EDGE_ERR_CAMERA_NOT_FOUND', camera))
    wss.handleUpgrade(req, socket, head, (ws) => (m[2] === 'live' ? watchLive(ws, camera) : watchOverlay(ws, g.hub, camera)))
  }

  const watchLive = (ws: WebSocket, camera: string) => {
    if (!live.attach(camera, ws)) ws.close(1011, 'camera has no source')
  }

  const watchOverlay = (ws: WebSocket, hub: CameraHub, camera: string) => {
    const offOverlay = hub.onOverlay(camera, (o) => {
      if (ws.readyState === ws.OPEN && ws.bufferedAmount < OVERLAY_MAX_BUFFERED) ws.send(JSON.stringify(o))
    })
    const offEvent = hub.onEvent((event) => {
      if (event.camera === camera && ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'event', event }))
    })
    const off = () => {
      offOverlay()
      offEvent()
    }
    ws.once('close', off)
    ws.once('error', off)
  }

  app.server.on('upgrade', onUpgrade)
  app.addHook('onClose', async () => {
    app.server.off('upgrade', onUpgrade)
    for (const ws of wss.clients) ws.terminate()
    wss.close()
    if (!opts.live) await live.stop()
  })
}
