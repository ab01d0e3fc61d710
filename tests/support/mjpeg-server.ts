import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type ServerResponse } from 'node:http'

/**
 * A tiny HTTP MJPEG camera (multipart/x-mixed-replace, one JPEG per part, as IP cameras serve it) on
 * 127.0.0.1, for the HTTP source tests. Its JPEGs come from ffmpeg encoding a file in real time
 * (looped), or from a fixed list of JPEGs repeated at `fps`. The encoder runs only while a client
 * watches.
 */

export interface MjpegServerOptions {
  /** A video file ffmpeg encodes to JPEG at `fps`, looping. */
  file?: string
  /** Fixed JPEG frames, served round robin at `fps` (instead of `file`). */
  jpegs?: Buffer[]
  fps?: number
  /** Scale the file's frames to this width (height follows the aspect). */
  width?: number
  port?: number
}

export interface MjpegServer {
  port: number
  /** The stream is at /video.mjpg; every other path is a 404. */
  url: string
  /** JPEG parts sent so far, all clients together. */
  readonly framesSent: number
  stop(): Promise<void>
}

const BOUNDARY = 'mjpegboundary'

export async function startMjpegServer(opts: MjpegServerOptions): Promise<MjpegServer> {
  if (!opts.file && !opts.jpegs?.length) throw new Error('mjpeg server: give a file or some jpegs')
  const fps = opts.fps ?? 10
  const clients = new Set<ServerResponse>()
  let framesSent = 0
  let encoder: ChildProcess | undefined
  let ticker: NodeJS.Timeout | undefined

  const send = (jpeg: Buffer) => {
    for (const res of clients) {
      res.write(`--${BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`)
      res.write(jpeg)
      res.write('\r\n')
      framesSent++
    }
  }

  const startProducing = () => {
    if (opts.jpegs?.length) {
      let i = 0
      ticker = setInterval(() => send(opts.jpegs![i++ % opts.jpegs!.length]!), 1000 / fps)
      return
    }
    const vf = `fps=${fps}` + (opts.width ? `,scale=${opts.width}:-2` : '')
    const child = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', opts.file!, '-an', '-vf', vf, '-q:v', '5', '-f', 'mjpeg', 'pipe:1'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    encoder = child
    // ffmpeg's mjpeg muxer writes bare JPEGs back to back; cut them at the EOI marker (0xFFD9; a 0xFF in
    // the entropy-coded data is always followed by 0x00 or a restart marker, so EOI cannot occur inside).
    let pending: Buffer = Buffer.alloc(0)
    child.stdout!.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
      for (;;) {
        const end = pending.indexOf(EOI)
        if (end < 0) break
        send(pending.subarray(0, end + 2))
        pending = pending.subarray(end + 2)
      }
    })
  }

  const stopProducing = () => {
    clearInterval(ticker)
    ticker = undefined
    encoder?.kill('SIGKILL')
    encoder = undefined
  }

  const server = createServer((req, res) => {
    if (req.url !== '/video.mjpg') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    res.writeHead(200, {
      'content-type': `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
      'cache-control': 'no-cache',
      connection: 'close',
    })
    clients.add(res)
    if (clients.size === 1) startProducing()
    res.on('close', () => {
      clients.delete(res)
      if (clients.size === 0) stopProducing()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as { port: number }).port
  return {
    port,
    url: `http://127.0.0.1:${port}/video.mjpg`,
    get framesSent() {
      return framesSent
    },
    stop: async () => {
      stopProducing()
      for (const res of clients) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

const EOI = Buffer.from([0xff, 0xd9])
