import { Member } from '../../edge/contracts/index.ts'
import { toMs, type Queryable } from '../db/index.ts'

/**
 * The member face gallery on central: the embeddings of members who opted in to recognition by
 * face, enrolled through the API and sent to every edge inside the members config (Member.face).
 *
 * They are biometric data. Nothing here logs them, no read returns them except the one that builds
 * the downlink (attachFaces), and errors name the embedding by its index, never by its content.
 */

/** What a client enrols: the model that produced the vectors and 1..10 of them. */
export interface FaceInput {
  model: string
  /** Base64 of float32 little-endian vectors, L2-normalised, all of one length. */
  embeddings: string[]
}

/** All that the API ever says about an enrolled face. */
export interface FaceSummary {
  enrolled: true
  model: string
  count: number
  enrolledAt: number
}

export const FACE_MIN_DIMS = 64
/**
 * 2048 dimensions at most, and never more than the Member contract lets one base64 vector be
 * (8192 characters: 1536 float32). A longer one would make the edge reject the members config of
 * every member, not just this one.
 */
export const FACE_MAX_DIMS = Math.min(2048, Math.floor((Member.properties.face.properties.embeddings.items.maxLength ?? Infinity) / 4) * 3 / 4)
export const FACE_MAX_EMBEDDINGS = Member.properties.face.properties.embeddings.maxItems ?? 10
export const FACE_NORM_TOLERANCE = 0.01

// RFC 4648 §4, padded, no whitespace: Buffer.from(…, 'base64') alone would skip junk silently.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Problems of a set of embeddings, one `/embeddings/<i>: reason` each (empty: valid), and their
 * common length. Pure. Reasons name sizes and norms, never values.
 */
export function checkFaceEmbeddings(embeddings: readonly string[]): { errors: string[]; dims: number } {
  const errors: string[] = []
  if (embeddings.length < 1 || embeddings.length > FACE_MAX_EMBEDDINGS) errors.push(`/embeddings: ${embeddings.length} embeddings, expected 1..${FACE_MAX_EMBEDDINGS}`)
  const lengths = new Set<number>()
  embeddings.forEach((b64, i) => {
    const at = `/embeddings/${i}`
    if (b64.length === 0 || !BASE64.test(b64)) return void errors.push(`${at}: not base64 (RFC 4648, padded)`)
    const buf = Buffer.from(b64, 'base64')
    if (buf.length % 4 !== 0) return void errors.push(`${at}: ${buf.length} bytes is not a whole number of float32 values`)
    const dims = buf.length / 4
    lengths.add(dims)
    if (dims < FACE_MIN_DIMS || dims > FACE_MAX_DIMS) return void errors.push(`${at}: ${dims} dimensions, expected ${FACE_MIN_DIMS}..${FACE_MAX_DIMS}`)
    let sq = 0
    for (let k = 0; k < dims; k++) {
      const x = buf.readFloatLE(k * 4)
      if (!Number.isFinite(x)) return void errors.push(`${at}: value ${k} is not a finite number`)
      sq += x * x
    }
    const norm = Math.sqrt(sq)
    if (Math.abs(norm - 1) > FACE_NORM_TOLERANCE) errors.push(`${at}: L2 norm ${norm.toFixed(4)} is not within 1 ± ${FACE_NORM_TOLERANCE} (send L2-normalised vectors)`)
  })
  if (lengths.size > 1) errors.push(`/embeddings: vectors of different lengths (${[...lengths].sort((a, b) => a - b).join(', ')} dimensions); all must have the same`)
  return { errors, dims: lengths.size === 1 ? [...lengths][0]! : 0 }
}

/** The member cannot be enrolled: unknown, or not opted in. Thrown inside the transaction (rolls back). */
export class FaceEnrolRefused extends Error {
  constructor(
    readonly reason: 'not-found' | 'not-opted-in',
    readonly ref: string,
  ) {
    super(reason === 'not-found' ? `member ${ref}` : `member ${ref} has not opted in (optedIn is false): only opted-in members can be enrolled`)
  }
}

interface SummaryRow {
  model: string
  n: number
  enrolled_at: Date
}

const toSummary = (r: SummaryRow): FaceSummary => ({ enrolled: true, model: r.model, count: Number(r.n), enrolledAt: toMs(r.enrolled_at)! })

export class MemberFacesRepo {
  constructor(private readonly q: Queryable) {}

  /** The face of a member without its embeddings; undefined when none is enrolled. */
  async summary(ref: string): Promise<FaceSummary | undefined> {
    const rows = await this.q.query<SummaryRow>('select model, jsonb_array_length(embeddings) as n, enrolled_at from member_faces where member_ref = $1', [ref])
    return rows[0] && toSummary(rows[0])
  }

  /**
   * Enrols (or replaces) a member's face; `face` already checked (checkFaceEmbeddings). Run it in a
   * transaction: it locks the member's row, so an opt-out committing at the same time either waits
   * for it (and then deletes the face) or is seen here (and refused). Throws FaceEnrolRefused.
   */
  async enrol(ref: string, face: FaceInput, dims: number, by: string, now: number): Promise<FaceSummary> {
    const m = (await this.q.query<{ opted_in: boolean }>('select opted_in from members where ref = $1 for update', [ref]))[0]
    if (!m) throw new FaceEnrolRefused('not-found', ref)
    if (!m.opted_in) throw new FaceEnrolRefused('not-opted-in', ref)
    const rows = await this.q.query<SummaryRow>(
      `insert into member_faces (member_ref, model, dims, embeddings, enrolled_at, updated_by) values ($1, $2, $3, $4::jsonb, $5, $6)
       on conflict (member_ref) do update set model = excluded.model, dims = excluded.dims, embeddings = excluded.embeddings,
         enrolled_at = excluded.enrolled_at, updated_by = excluded.updated_by
       returning model, jsonb_array_length(embeddings) as n, enrolled_at`,
      [ref, face.model, dims, JSON.stringify(face.embeddings), new Date(now), by],
    )
    return toSummary(rows[0]!)
  }

  /** Deletes a member's face; the summary of what was deleted, undefined when there was none. */
  async revoke(ref: string): Promise<FaceSummary | undefined> {
    const rows = await this.q.query<SummaryRow>('delete from member_faces where member_ref = $1 returning model, jsonb_array_length(embeddings) as n, enrolled_at', [ref])
    return rows[0] && toSummary(rows[0])
  }
}

/**
 * Sets `face` on the members of a members config being built (the only read of embeddings). Only
 * members in the list get one, and the list holds opted-in members only.
 */
export async function attachFaces(q: Queryable, members: Member[]): Promise<void> {
  if (members.length === 0) return
  const rows = await q.query<{ member_ref: string; model: string; embeddings: string[] }>('select member_ref, model, embeddings from member_faces where member_ref = any($1::text[])', [members.map((m) => m.ref)])
  const byRef = new Map(rows.map((r) => [r.member_ref, r]))
  for (const m of members) {
    const f = byRef.get(m.ref)
    if (f) m.face = { model: f.model, embeddings: f.embeddings }
  }
}
