import { mkdir } from 'node:fs/promises'
import { ClassicLevel } from 'classic-level'

/**
 * A durable store-and-forward spool for the uplink: every message bound for the central broker is
 * written to LevelDB before it is sent and deleted only when the central broker acknowledged it
 * (PUBACK), so a central outage or an edge restart loses nothing. Keys are zero-padded sequence
 * numbers, so LevelDB's key order is arrival order and the backlog drains oldest first.
 *
 * Writes are grouped per event-loop tick into one LevelDB batch (one fsync-free write per tick;
 * LevelDB's log survives a process crash, a power cut may lose the last tick).
 */
export interface SpoolEntry {
  key: string
  topic: string
  payload: Buffer
}

export interface SpoolOptions {
  dir: string
  /** Entries kept at most; beyond it the oldest are dropped and counted (a deliberate, visible bound). */
  maxEntries: number
}

const SEQ_DIGITS = 16

function encode(topic: string, payload: Buffer): Buffer {
  const t = Buffer.from(topic, 'utf8')
  const out = Buffer.allocUnsafe(2 + t.length + payload.length)
  out.writeUInt16BE(t.length, 0)
  t.copy(out, 2)
  payload.copy(out, 2 + t.length)
  return out
}

function decode(key: string, v: Buffer): SpoolEntry {
  const n = v.readUInt16BE(0)
  return { key, topic: v.toString('utf8', 2, 2 + n), payload: v.subarray(2 + n) }
}

export class Spool {
  private db!: ClassicLevel<string, Buffer>
  private seq = 0
  private count = 0
  private pending: Array<{ type: 'put'; key: string; value: Buffer }> = []
  private flushing?: Promise<void>
  /** Oldest entries dropped because the spool was full. */
  dropped = 0

  constructor(private readonly opts: SpoolOptions) {}

  async open(): Promise<this> {
    await mkdir(this.opts.dir, { recursive: true })
    this.db = new ClassicLevel<string, Buffer>(this.opts.dir, { valueEncoding: 'buffer' })
    await this.db.open()
    for await (const key of this.db.keys({ reverse: true, limit: 1 })) this.seq = Number(key) + 1
    let n = 0
    for await (const _ of this.db.keys()) n++
    this.count = n
    return this
  }

  /** Entries waiting (written or about to be). */
  get size(): number {
    return this.count
  }

  /** Queue one message; it reaches disk at the end of this tick (await flush() to be sure). */
  append(topic: string, payload: Buffer): string {
    const key = String(this.seq++).padStart(SEQ_DIGITS, '0')
    this.pending.push({ type: 'put', key, value: encode(topic, payload) })
    this.count++
    if (this.pending.length === 1) queueMicrotask(() => void this.flush())
    return key
  }

  /** Write what append() queued. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing
    if (this.pending.length === 0) return
    const ops = this.pending
    this.pending = []
    this.flushing = this.db.batch(ops).finally(() => (this.flushing = undefined))
    await this.flushing
    if (this.count > this.opts.maxEntries) await this.dropOldest(this.count - this.opts.maxEntries)
  }

  /** The oldest `limit` entries after `afterKey` (exclusive), in order. */
  async peek(limit: number, afterKey?: string): Promise<SpoolEntry[]> {
    await this.flush()
    const out: SpoolEntry[] = []
    const range = afterKey === undefined ? { limit } : { gt: afterKey, limit }
    for await (const [key, value] of this.db.iterator(range)) out.push(decode(key, value))
    return out
  }

  /** Delete acknowledged entries. */
  async ack(keys: string[]): Promise<void> {
    if (keys.length === 0) return
    await this.flush()
    await this.db.batch(keys.map((key) => ({ type: 'del' as const, key })))
    this.count = Math.max(0, this.count - keys.length)
  }

  private async dropOldest(n: number): Promise<void> {
    const keys: string[] = []
    for await (const key of this.db.keys({ limit: n })) keys.push(key)
    await this.db.batch(keys.map((key) => ({ type: 'del' as const, key })))
    this.count -= keys.length
    this.dropped += keys.length
  }

  async close(): Promise<void> {
    if (!this.db || this.db.status !== 'open') return
    await this.flush()
    await this.db.close()
  }
}
