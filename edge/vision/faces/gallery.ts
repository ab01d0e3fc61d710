import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { chmod, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { StoreEdgeError } from '../../contracts/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { cosine } from '../pipelines/embed.ts'

/**
 * The opt-in member face gallery: embeddings of members who agreed to be recognised, synced down
 * from central with the members list. Kept in memory for matching and on disk only encrypted:
 * AES-256-GCM, the key in its own file (mode 0600, created on first write), so a copy of the data
 * directory without the key holds nothing usable. A revoked member leaves memory and the file
 * before revoke() returns. A file that does not decrypt (tampered, truncated, another key) is an
 * error that is logged and counted; the gallery then starts empty until the next sync, never crashing
 * the edge. Embeddings are never logged.
 */

/** The part of a downlink Member the gallery reads (contract: Member.face, optional). */
export interface GalleryMember {
  ref: string
  face?: {
    model: string
    /** Base64 of float32 little-endian vectors, L2-normalised. */
    embeddings: string[]
  }
}

export interface MemberGalleryOptions {
  /** Directory of the encrypted gallery file (the edge's data dir). */
  dataDir: string
  /** Embedding model the edge runs (vision.models.faceEmbed); members enrolled with another model are left out. */
  model: string
  /** Cosine at or above which a member matches (the model's matchThreshold). */
  threshold: number
  /** Least lead of the best member over the second best. */
  margin: number
  log: Logger
  /** Gallery file (default <dataDir>/faces/member-gallery.enc). */
  file?: string
  /** Key file (default <dataDir>/faces/member-gallery.key). */
  keyFile?: string
  /** Embeddings kept per member at most (the first ones). */
  maxEmbeddingsPerMember?: number
}

export interface GalleryMatch {
  ref: string
  /** Best cosine between the embedding and one of the member's enrolled embeddings. */
  score: number
  /** score minus the best score of any other member (0 when no other member). */
  margin: number
}

export interface GalleryStats {
  size: number
  embeddings: number
  dims: number
  loadErrors: number
  writeErrors: number
  /** Members of the last sync left out: no face, another model, or unusable vectors. */
  skipped: number
  lastError?: string
}

export interface SyncResult {
  size: number
  added: number
  removed: number
  skipped: number
}

const MAGIC = Buffer.from('SEGAL\x01', 'latin1') // store-edge gallery, format 1
const IV_BYTES = 12 // NIST SP 800-38D §8.2: 96-bit IVs, random per encryption
const TAG_BYTES = 16
const KEY_BYTES = 32

/** Decode a base64 float32 LE vector, L2-normalise it; undefined when unusable. */
export function decodeVector(b64: string, dims?: number): Float32Array | undefined {
  const buf = Buffer.from(b64, 'base64')
  if (buf.length === 0 || buf.length % 4 !== 0) return undefined
  const n = buf.length / 4
  if (dims !== undefined && n !== dims) return undefined
  const v = new Float32Array(n)
  let sq = 0
  for (let i = 0; i < n; i++) {
    const x = buf.readFloatLE(i * 4)
    if (!Number.isFinite(x)) return undefined
    v[i] = x
    sq += x * x
  }
  if (!(sq > 1e-12)) return undefined
  // central says normalised; normalising again costs nothing and keeps cosine a dot product
  const k = 1 / Math.sqrt(sq)
  for (let i = 0; i < n; i++) v[i]! *= k
  return v
}

/** Base64 float32 LE of a vector (what central sends; used by tests and tools). */
export function encodeVector(v: Float32Array): string {
  const buf = Buffer.alloc(v.length * 4)
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i]!, i * 4)
  return buf.toString('base64')
}

export class MemberGallery {
  private members = new Map<string, Float32Array[]>()
  private dims = 0
  private loadErrors = 0
  private writeErrors = 0
  private skipped = 0
  private lastError?: string
  private key?: Buffer
  private writing: Promise<void> = Promise.resolve()
  private readonly file: string
  private readonly keyFile: string
  private readonly log: Logger

  constructor(private readonly opts: MemberGalleryOptions) {
    this.file = opts.file ?? join(opts.dataDir, 'faces', 'member-gallery.enc')
    this.keyFile = opts.keyFile ?? join(opts.dataDir, 'faces', 'member-gallery.key')
    this.log = opts.log
  }

  get size(): number {
    return this.members.size
  }

  stats(): GalleryStats {
    let embeddings = 0
    for (const e of this.members.values()) embeddings += e.length
    return { size: this.size, embeddings, dims: this.dims, loadErrors: this.loadErrors, writeErrors: this.writeErrors, skipped: this.skipped, ...(this.lastError ? { lastError: this.lastError } : {}) }
  }

  /** Load the encrypted file. A missing file is an empty gallery; an unreadable one is logged, counted, and leaves it empty. */
  async start(): Promise<void> {
    try {
      await this.load()
    } catch (err) {
      this.members.clear()
      this.loadErrors++
      this.lastError = (err as Error).message
      this.log.error({ err, file: this.file }, 'member gallery not loaded; recognition is off until the next members sync')
    }
  }

  /** Waits for a write in progress; nothing else to release. */
  async stop(): Promise<void> {
    await this.writing
  }

  private async load(): Promise<void> {
    let blob: Buffer
    try {
      blob = await readFile(this.file)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    let key: Buffer
    try {
      key = await this.readKey()
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw galleryError(`key file ${this.keyFile} is missing, so ${this.file} cannot be decrypted`)
      throw err
    }
    const doc = decrypt(blob, key, this.file, this.keyFile)
    this.key = key
    this.fill(doc.model, doc.members)
    this.log.info({ members: this.size, dims: this.dims }, 'member gallery loaded')
  }

  /**
   * Replace the gallery with the members of a downlink (the full list: members missing from it are
   * removed). Members without a face, or enrolled with another model, are left out. Resolves once
   * the file is written.
   */
  async sync(members: readonly GalleryMember[]): Promise<SyncResult> {
    const before = new Set(this.members.keys())
    const enrolled = members.filter((m) => m.face && m.face.model === this.opts.model).map((m) => ({ ref: m.ref, embeddings: m.face!.embeddings }))
    this.fill(this.opts.model, enrolled)
    // fill() counted the enrolled members whose vectors were unusable; add those not enrolled for this model
    this.skipped += members.length - enrolled.length
    const skipped = this.skipped
    let added = 0
    for (const ref of this.members.keys()) if (!before.delete(ref)) added++
    await this.persist()
    const result = { size: this.size, added, removed: before.size, skipped }
    this.log.info(result, 'member gallery synced')
    return result
  }

  /** Forget a member now: gone from matching at once, and from the file before this resolves. */
  async revoke(ref: string): Promise<boolean> {
    const had = this.members.delete(ref)
    if (had) {
      await this.persist()
      this.log.info({ members: this.size }, 'member revoked from the face gallery')
    }
    return had
  }

  /** The best member for an embedding, when above the threshold and ahead of the next member by the margin. */
  match(embedding: Float32Array): GalleryMatch | undefined {
    if (embedding.length !== this.dims) return undefined
    let best: string | undefined
    let bestScore = -Infinity
    let second = -Infinity
    for (const [ref, vectors] of this.members) {
      let s = -Infinity
      for (const v of vectors) s = Math.max(s, cosine(embedding, v))
      if (s > bestScore) {
        second = bestScore
        bestScore = s
        best = ref
      } else if (s > second) second = s
    }
    if (best === undefined || bestScore < this.opts.threshold) return undefined
    const margin = bestScore - Math.max(0, second)
    if (margin < this.opts.margin) return undefined
    return { ref: best, score: bestScore, margin }
  }

  /** Rebuild the in-memory map from decoded members; vectors of the wrong size or unusable are left out. */
  private fill(model: string, members: ReadonlyArray<{ ref: string; embeddings: readonly string[] }>): void {
    const next = new Map<string, Float32Array[]>()
    let dims = 0
    let skipped = 0
    const max = this.opts.maxEmbeddingsPerMember ?? 16
    if (model === this.opts.model) {
      for (const m of members) {
        const vectors: Float32Array[] = []
        for (const b64 of m.embeddings.slice(0, max)) {
          const v = decodeVector(b64, dims || undefined)
          if (!v) continue
          dims ||= v.length
          vectors.push(v)
        }
        if (vectors.length) next.set(m.ref, vectors)
        else skipped++
      }
    } else {
      skipped = members.length
      this.log.warn({ fileModel: model, model: this.opts.model }, 'member gallery was enrolled with another embedding model; left empty until the next sync')
    }
    this.members = next
    this.dims = dims
    this.skipped = skipped
  }

  /** Write the current members (whatever they are when the write runs), one write at a time, atomically. */
  private persist(): Promise<void> {
    const run = this.writing.then(() => this.write())
    // the chain goes on after a failed write; the caller still sees the failure
    this.writing = run.catch(() => undefined)
    return run
  }

  private async write(): Promise<void> {
    try {
      if (this.members.size === 0) {
        await unlink(this.file).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err
        })
        return
      }
      const key = await this.ensureKey()
      const doc: GalleryDoc = { v: 1, model: this.opts.model, members: [...this.members].map(([ref, vs]) => ({ ref, embeddings: vs.map(encodeVector) })) }
      await mkdir(dirname(this.file), { recursive: true, mode: 0o700 })
      const tmp = `${this.file}.${process.pid}.tmp`
      const fh = await open(tmp, 'w', 0o600)
      try {
        await fh.writeFile(encrypt(Buffer.from(JSON.stringify(doc)), key))
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(tmp, this.file)
    } catch (err) {
      this.writeErrors++
      this.lastError = (err as Error).message
      // A revoked member must not stay at rest: without a fresh file, no file.
      await unlink(this.file).catch(() => undefined)
      this.log.error({ err, file: this.file }, 'member gallery not written; the file was removed, the gallery is in memory only')
      throw err
    }
  }

  private async readKey(): Promise<Buffer> {
    const st = await stat(this.keyFile)
    if ((st.mode & 0o077) !== 0) {
      this.log.warn({ keyFile: this.keyFile, mode: (st.mode & 0o777).toString(8) }, 'member gallery key file is readable by others; setting it to 0600')
      await chmod(this.keyFile, 0o600)
    }
    const key = await readFile(this.keyFile)
    if (key.length !== KEY_BYTES) throw galleryError(`key file ${this.keyFile} holds ${key.length} bytes, expected ${KEY_BYTES}`)
    return key
  }

  /** The key, created (32 random bytes, 0600, never overwritten) on first use. */
  private async ensureKey(): Promise<Buffer> {
    if (this.key) return this.key
    try {
      this.key = await this.readKey()
      return this.key
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    await mkdir(dirname(this.keyFile), { recursive: true, mode: 0o700 })
    const key = randomBytes(KEY_BYTES)
    // 'wx': never replace a key another process just wrote
    const fh = await open(this.keyFile, 'wx', 0o600)
    try {
      await fh.writeFile(key)
      await fh.sync()
    } finally {
      await fh.close()
    }
    this.key = key
    return key
  }
}

interface GalleryDoc {
  v: 1
  model: string
  members: Array<{ ref: string; embeddings: string[] }>
}

function galleryError(detail: string): StoreEdgeError {
  return new StoreEdgeError('STORE_EDGE_ERR_GALLERY', `member gallery: ${detail}`)
}

/** MAGIC | iv | tag | ciphertext; the magic is authenticated as associated data. */
function encrypt(plain: Buffer, key: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES)
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(MAGIC)
  const body = Buffer.concat([c.update(plain), c.final()])
  return Buffer.concat([MAGIC, iv, c.getAuthTag(), body])
}

function decrypt(blob: Buffer, key: Buffer, file: string, keyFile: string): GalleryDoc {
  const head = MAGIC.length + IV_BYTES + TAG_BYTES
  if (blob.length < head || !blob.subarray(0, MAGIC.length).equals(MAGIC)) throw galleryError(`${file} is not a store-edge gallery file (bad header)`)
  const iv = blob.subarray(MAGIC.length, MAGIC.length + IV_BYTES)
  const tag = blob.subarray(MAGIC.length + IV_BYTES, head)
  let plain: Buffer
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv)
    d.setAAD(MAGIC)
    d.setAuthTag(tag)
    plain = Buffer.concat([d.update(blob.subarray(head)), d.final()])
  } catch {
    throw galleryError(`${file} failed authentication: it was altered, is truncated, or was encrypted with another key than ${keyFile}`)
  }
  let doc: GalleryDoc
  try {
    doc = JSON.parse(plain.toString('utf8')) as GalleryDoc
  } catch {
    throw galleryError(`${file} decrypted but is not JSON`)
  }
  if (doc?.v !== 1 || typeof doc.model !== 'string' || !Array.isArray(doc.members)) throw galleryError(`${file} decrypted but is not gallery format 1`)
  return doc
}
