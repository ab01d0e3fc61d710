import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { StoreEdgeError } from '../../../edge/contracts/index.ts'
import { FACE_MAX_DIMS, FACE_MAX_EMBEDDINGS, FACE_MIN_DIMS, FaceEnrolRefused, checkFaceEmbeddings, type FaceInput } from '../../marketing/index.ts'
import { apiError, audit, guard, type ApiContext } from '../context.ts'
import { errors } from '../schemas.ts'

const REF = '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'
const RefParam = Type.Object({ ref: Type.String({ pattern: REF }) })
const FaceBody = Type.Object(
  {
    model: Type.String({ pattern: REF, description: 'Embedding model that produced the vectors (a registry name, e.g. faceres-int8); an edge uses only faces of the model it runs.' }),
    // Loose bounds here; checkFaceEmbeddings names each problem with its path.
    embeddings: Type.Array(Type.String({ maxLength: 16_384 }), {
      maxItems: 64,
      description: `1..${FACE_MAX_EMBEDDINGS} vectors, each base64 of float32 little-endian, ${FACE_MIN_DIMS}..${FACE_MAX_DIMS} dimensions, all of one length, L2-normalised (norm 1 ± 0.01).`,
    }),
  },
  { additionalProperties: false },
)
const FaceOut = Type.Union([
  Type.Object({ enrolled: Type.Literal(true), model: Type.String(), count: Type.Integer(), enrolledAt: Type.Number() }),
  Type.Object({ enrolled: Type.Literal(false) }),
])

function refused(err: unknown): never {
  if (err instanceof FaceEnrolRefused) {
    if (err.reason === 'not-found') throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', err.message)
    throw apiError('STORE_EDGE_ERR_VALIDATION', err.message, { errors: [`/optedIn: ${err.message}`] })
  }
  throw err
}

/**
 * A member's face (opt-in recognition at the stores' cameras). The embeddings go in and out to the
 * edges only: no response and no audit entry carries them. Enrolling and revoking republish the
 * members config to every store at once, under a new version, so an edge drops a revoked face
 * with that sync.
 */
export function memberFacesRoutes(ctx: ApiContext) {
  const m = ctx.marketing
  return async (app: FastifyInstance) => {
    app.get(
      '/members/:ref/face',
      { schema: { tags: ['members'], summary: 'Whether a member has an enrolled face (model, count, when; never the embeddings)', params: RefParam, response: { 200: FaceOut, ...errors(401, 403, 404) } }, preHandler: guard('members:read') },
      async (req) => {
        const { ref } = req.params as { ref: string }
        const face = await m.faces.summary(ref)
        if (face) return face
        if (!(await m.members.get(ref))) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `member ${ref}`)
        return { enrolled: false as const }
      },
    )

    app.put(
      '/members/:ref/face',
      {
        schema: {
          tags: ['members'],
          summary: 'Enrol (or replace) the face of an opted-in member; pushed to every store at once',
          params: RefParam,
          body: FaceBody,
          response: { 200: FaceOut, ...errors(400, 401, 403, 404) },
        },
        preHandler: guard('members:write'),
      },
      async (req) => {
        const { ref } = req.params as { ref: string }
        const body = req.body as FaceInput
        const { errors: bad, dims } = checkFaceEmbeddings(body.embeddings)
        if (bad.length) throw apiError('STORE_EDGE_ERR_VALIDATION', bad.join('; '), { errors: bad })
        const face = await m.enrolFace(ref, { model: body.model, embeddings: body.embeddings }, dims, req.principal!.name).catch(refused)
        await audit(ctx, req, 'member.face.enrol', { target: `member:${ref}`, detail: { model: face.model, count: face.count, dims } })
        return face
      },
    )

    app.delete(
      '/members/:ref/face',
      { schema: { tags: ['members'], summary: 'Revoke a member’s face: deleted here and dropped by every store at once (idempotent)', params: RefParam, response: { 204: Type.Null(), ...errors(401, 403, 404) } }, preHandler: guard('members:write') },
      async (req, reply) => {
        const { ref } = req.params as { ref: string }
        if (!(await m.members.get(ref))) throw new StoreEdgeError('STORE_EDGE_ERR_NOT_FOUND', `member ${ref}`)
        const gone = await m.revokeFace(ref)
        // Nothing enrolled: nothing to push or audit; a retried revoke still answers 204.
        if (gone) await audit(ctx, req, 'member.face.revoke', { target: `member:${ref}`, detail: { model: gone.model, count: gone.count } })
        return reply.status(204).send()
      },
    )
  }
}
