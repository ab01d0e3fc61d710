import { HttpError, InfluxDB, setLogger, type WriteApi } from '@influxdata/influxdb-client'
import type { GatewayConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { GatewayMetrics } from '../core/metrics.ts'
import type { GatewayModule } from '../core/module.ts'

interface Item {
  lines: string[]
  /** Called once the lines are stored (or, for lines the TSDB refuses as malformed, given up). */
  done: () => void
}

/**
 * Writes line protocol to the TSDB through @influxdata/influxdb-client, in batches of up to
 * `batchLines`, a partly filled batch after `flushMs`. One request is in flight at a time and items
 * are written in arrival order, so acknowledgements (which wait on `done`) stay in order too.
 *
 * The client's own retry buffer is off: it drops lines when full, and nothing may be dropped here.
 * A failed request is retried with capped exponential backoff until it succeeds, holding its items
 * (whose messages stay unacknowledged at the broker, which is the back-pressure). A request the TSDB
 * refuses as malformed (4xx other than 429) is split in halves until the bad item is isolated; only
 * that item is dropped, counted and logged, so one bad message never poisons a batch.
 */
export class TsdbWriter implements GatewayModule {
  readonly name = 'tsdb'
  private readonly api: WriteApi
  private queue: Item[] = []
  private queuedLines = 0
  private timer?: NodeJS.Timeout
  private writing = false
  private stopped = false
  private backoffMs = 0
  private wake?: () => void
  private idle: Promise<void> = Promise.resolve()

  constructor(
    private readonly cfg: GatewayConfig['tsdb'],
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
  ) {
    // The client logs through console by default; route it into pino.
    setLogger({ error: (message, err) => log.debug({ err }, message), warn: (message, err) => log.debug({ err }, message) })
    this.api = new InfluxDB({ url: cfg.url, token: cfg.token || undefined, timeout: cfg.timeoutMs }).getWriteApi(cfg.org, cfg.bucket, 'ms', {
      // We batch (a batch never exceeds batchLines but for one oversized message); flush() sends.
      batchSize: cfg.batchLines + 10_000,
      flushInterval: 0,
      maxRetries: 0,
      maxBufferLines: Number.MAX_SAFE_INTEGER,
      maxBatchBytes: Number.MAX_SAFE_INTEGER,
      gzipThreshold: cfg.gzip ? 64 * 1024 : Number.MAX_SAFE_INTEGER,
      writeFailed: () => undefined,
    })
  }

  get pendingLines(): number {
    return this.queuedLines
  }

  async start(): Promise<void> {}

  enqueue(lines: string[], done: () => void): void {
    if (this.stopped) return // not acknowledged: the broker delivers it again after restart
    this.queue.push({ lines, done })
    this.queuedLines += lines.length
    this.metrics.tsdbPending.set(this.queuedLines)
    if (this.queuedLines >= this.cfg.batchLines) this.kick()
    else this.timer ??= setTimeout(() => this.kick(), this.cfg.flushMs)
  }

  private kick(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (!this.writing) this.idle = this.drain()
  }

  private takeBatch(): Item[] {
    const batch: Item[] = []
    let n = 0
    while (this.queue.length && (batch.length === 0 || n + this.queue[0]!.lines.length <= this.cfg.batchLines)) {
      const it = this.queue.shift()!
      n += it.lines.length
      batch.push(it)
    }
    this.queuedLines -= n
    return batch
  }

  private async drain(): Promise<void> {
    this.writing = true
    try {
      while (this.queue.length && !this.stopped) {
        // Only full batches go at once; a partial one waits for its timer unless we are behind.
        const batch = this.takeBatch()
        await this.writeReliably(batch)
        this.metrics.tsdbPending.set(this.queuedLines)
        if (this.queuedLines < this.cfg.batchLines) break
      }
    } finally {
      this.writing = false
      if (this.queue.length && !this.stopped) this.timer ??= setTimeout(() => this.kick(), this.queuedLines >= this.cfg.batchLines ? 0 : this.cfg.flushMs)
    }
  }

  private async writeReliably(batch: Item[]): Promise<void> {
    for (;;) {
      const res = await this.send(batch)
      if (res === 'ok') {
        this.backoffMs = 0
        for (const it of batch) it.done()
        return
      }
      if (res === 'malformed') return this.isolate(batch)
      if (this.stopped) return
      this.metrics.tsdbFailures.inc()
      this.backoffMs = Math.min(10_000, Math.max(250, this.backoffMs * 2))
      const wait = this.backoffMs * (0.75 + Math.random() * 0.5)
      await new Promise<void>((resolve) => {
        this.wake = resolve
        setTimeout(resolve, wait).unref()
      })
    }
  }

  /** Split a refused batch until each bad item stands alone; write the good halves. */
  private async isolate(batch: Item[]): Promise<void> {
    if (batch.length === 1) {
      this.metrics.tsdbRejectedLines.inc(batch[0]!.lines.length)
      this.log.error({ lines: batch[0]!.lines.slice(0, 3) }, 'TSDB refused these lines as malformed; dropped')
      batch[0]!.done()
      return
    }
    const mid = batch.length >> 1
    await this.writeReliably(batch.slice(0, mid))
    await this.writeReliably(batch.slice(mid))
  }

  private async send(batch: Item[]): Promise<'ok' | 'retry' | 'malformed'> {
    const lines = batch.flatMap((b) => b.lines)
    const t0 = performance.now()
    try {
      this.api.writeRecords(lines)
      await this.api.flush()
      this.metrics.tsdbWriteSeconds.observe((performance.now() - t0) / 1000)
      this.metrics.tsdbLines.inc(lines.length)
      return 'ok'
    } catch (err) {
      const status = err instanceof HttpError ? err.statusCode : 0
      if (status >= 400 && status < 500 && status !== 429 && status !== 401 && status !== 403 && status !== 404) {
        this.log.warn({ status, lines: lines.length, err: (err as Error).message }, 'TSDB refused a batch; isolating the bad lines')
        return 'malformed'
      }
      this.log.warn({ status, err: (err as Error).message, pending: this.queuedLines + lines.length }, 'TSDB write failed; retrying')
      return 'retry'
    }
  }

  /** Write what is queued (best effort, bounded); unwritten messages stay unacknowledged at the broker. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    const deadline = new Promise<void>((r) => setTimeout(r, timeoutMs).unref())
    if (!this.writing && this.queue.length) this.idle = this.drainAll()
    await Promise.race([this.idle, deadline])
    this.stopped = true
    this.wake?.()
    await this.api.close().catch(() => undefined)
  }

  private async drainAll(): Promise<void> {
    while (this.queue.length && !this.stopped) await this.writeReliably(this.takeBatch())
  }
}
