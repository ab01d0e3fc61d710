import type { FastifyInstance } from 'fastify'
import { Type, type TSchema } from '@sinclair/typebox'
import { StoreEdgeError } from '../../../edge/contracts/index.ts'
import { rawPublicKey } from '../../coupons/codes.ts'
import { apiError, audit, authorize, guard, type ApiContext } from '../context.ts'
import { errors } from '../schemas.ts'

const StoreId = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' })
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])

const RedeemedOut = Type.Object({
  id: Type.String(),
  campaignId: Type.String(),
  memberRef: Type.String(),
  title: Type.String(),
  valueCents: Type.Optional(Type.Integer()),
  percentOff: Type.Optional(Type.Integer()),
  issuedAt: Type.Number(),
  expiresAt: Type.Number(),
  redeemedAt: Type.Number(),
})

const KeyOut = Type.Object({ kid: Type.String(), publicKeyPem: Type.String(), publicKeyB64: Type.String() })

const CouponOut = Type.Object({
  key: Type.String(),
  id: Type.String(),
  storeId: Type.String(),
  campaignId: Type.String(),
  campaignVersion: Type.Integer(),
  memberRef: Type.String(),
  eventId: Type.String(),
  eventType: Type.String(),
  zone: Type.String(),
  source: Type.String(),
  status: Type.String(),
  reason: Type.Union([Type.String(), Type.Null()]),
  code: Type.Union([Type.String(), Type.Null()], { description: 'Masked: enough to recognise, not to redeem.' }),
  expiresAt: Nullable(Type.Number()),
  firedAt: Type.Number(),
  receivedAt: Type.Number(),
  pushStatus: Type.Union([Type.String(), Type.Null()]),
  pushedAt: Nullable(Type.Number()),
  redeemedAt: Nullable(Type.Number()),
  redeemedStore: Type.Union([Type.String(), Type.Null()]),
})

const FunnelOut = Type.Object({
  campaignId: Type.String(),
  name: Type.String(),
  requested: Type.Integer(),
  issued: Type.Integer(),
  holdout: Type.Integer(),
  rejected: Type.Record(Type.String(), Type.Integer()),
  pushed: Type.Integer(),
  dead: Type.Integer(),
  redeemed: Type.Integer(),
  budget: Nullable(Type.Integer()),
  budgetLeft: Nullable(Type.Integer()),
})

/** The coupon ledger's API: redemption at the till, the public key tills verify with, the ledger and its funnel. */
export function couponsRoutes(ctx: ApiContext) {
  return async (app: FastifyInstance) => {
    const svc = ctx.coupons

    app.post(
      '/coupons/redeem',
      {
        schema: {
          tags: ['coupons'],
          summary: 'Redeem a coupon code at a till (once, whatever the number of tills or replicas)',
          body: Type.Object({ code: Type.String({ minLength: 1, maxLength: 400 }), storeId: StoreId, till: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ coupon: RedeemedOut }), ...errors(400, 401, 403, 409, 410) },
        },
      },
      async (req) => {
        const body = req.body as { code: string; storeId: string; till?: string }
        const p = authorize(req, 'coupons:redeem', body.storeId)
        const by = body.till ? `${p.name}/${body.till}` : p.name
        const r = await svc.redeem(body.code, body.storeId, by)
        if (r.ok) {
          await audit(ctx, req, 'coupon.redeem', { target: `coupon:${r.coupon.id}`, storeId: body.storeId, detail: { campaignId: r.coupon.campaignId, till: body.till } })
          return { coupon: r.coupon }
        }
        if (r.reason === 'invalid') throw new StoreEdgeError('STORE_EDGE_ERR_COUPON_INVALID', r.detail)
        if (r.reason === 'expired') throw apiError('STORE_EDGE_ERR_COUPON_EXPIRED', `expired at ${new Date(r.expiresAt).toISOString()}`, { expiresAt: r.expiresAt })
        throw apiError('STORE_EDGE_ERR_COUPON_REDEEMED', `at ${new Date(r.redeemedAt).toISOString()} in store ${r.redeemedStore}`, {
          redeemedAt: r.redeemedAt,
          redeemedStore: r.redeemedStore,
          redeemedBy: r.redeemedBy,
        })
      },
    )

    app.get(
      '/coupons/public-key',
      {
        schema: {
          tags: ['coupons'],
          summary: 'The Ed25519 public keys tills verify coupon codes with (no authentication)',
          security: [],
          response: {
            200: Type.Object({
              alg: Type.Literal('Ed25519'),
              kid: Type.String({ description: 'The key this replica signs with.' }),
              publicKeyPem: Type.String(),
              publicKeyB64: Type.String({ description: 'Raw 32-byte public key, base64.' }),
              keys: Type.Array(KeyOut, { description: 'Every key in use by any replica: a till should trust all of them.' }),
            }),
          },
        },
      },
      async () => {
        const k = svc.signingKey
        const all = await svc.publicKeys(true)
        return {
          alg: 'Ed25519' as const,
          kid: k.kid,
          publicKeyPem: k.publicKeyPem,
          publicKeyB64: k.publicKeyB64,
          keys: all.map((x) => ({ kid: x.kid, publicKeyPem: x.publicKeyPem, publicKeyB64: rawPublicKey(x.key).toString('base64') })),
        }
      },
    )

    app.get(
      '/coupons',
      {
        schema: {
          tags: ['coupons'],
          summary: 'Ledger rows, newest first (codes masked)',
          querystring: Type.Object({
            campaign: Type.Optional(Type.String({ maxLength: 64 })),
            store: Type.Optional(StoreId),
            status: Type.Optional(Type.Union(['issued', 'holdout', 'rejected', 'pending', 'pushed', 'dead', 'redeemed'].map((s) => Type.Literal(s)))),
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          }),
          response: { 200: Type.Object({ coupons: Type.Array(CouponOut) }), ...errors(400, 401, 403) },
        },
        preHandler: guard('coupons:read'),
      },
      async (req) => {
        const q = req.query as { campaign?: string; store?: string; status?: string; limit: number }
        if (q.store) authorize(req, 'coupons:read', q.store)
        const p = req.principal!
        return { coupons: await svc.list({ ...q, stores: p.stores.includes('*') ? undefined : p.stores }) }
      },
    )

    app.get(
      '/coupons/funnel',
      {
        schema: {
          tags: ['coupons'],
          summary: 'Per campaign: requested → issued → pushed → redeemed, holdout, rejections by reason, budget left',
          querystring: Type.Object({
            from: Type.Optional(Type.Integer({ minimum: 0, description: 'ms since the epoch (default: 7 days ago)' })),
            to: Type.Optional(Type.Integer({ minimum: 0, description: 'ms since the epoch (default: now)' })),
          }),
          response: { 200: Type.Object({ from: Type.Number(), to: Type.Number(), campaigns: Type.Array(FunnelOut) }), ...errors(400, 401, 403) },
        },
        preHandler: guard('coupons:read'),
      },
      async (req) => {
        const q = req.query as { from?: number; to?: number }
        const to = q.to ?? ctx.now() + 1
        const from = q.from ?? to - 7 * 86_400_000
        if (from >= to) throw new StoreEdgeError('STORE_EDGE_ERR_VALIDATION', 'from must be before to')
        const p = req.principal!
        return { from, to, campaigns: await svc.funnel(from, to, p.stores.includes('*') ? undefined : p.stores) }
      },
    )
  }
}
