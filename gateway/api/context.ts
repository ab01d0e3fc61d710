import type { FastifyRequest } from 'fastify'
import { StoreEdgeError, type ErrorCode, type LocationReport } from '../../edge/contracts/index.ts'
import { can, inScope, type Permission, type Principal } from '../auth/roles.ts'
import type { LoginThrottle } from '../auth/login-throttle.ts'
import type { GatewayConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { GatewayMetrics } from '../core/metrics.ts'
import type { GatewayData } from '../db/index.ts'
import type { LiveHub } from '../live/live.hub.ts'
import type { TsdbQuery } from '../tsdb/tsdb.query.ts'
import type { CouponService } from '../coupons/coupons.service.ts'
import type { Marketing } from '../marketing/index.ts'

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal
  }
}

/** What the route plugins are given: adapters only, no module internals. */
export interface ApiContext {
  cfg: GatewayConfig
  data: GatewayData
  hub: LiveHub
  metrics: GatewayMetrics
  log: Logger
  logins: LoginThrottle
  /** Present when a TSDB query URL is configured. */
  tsdb?: TsdbQuery
  /** Publish a retained downlink config part to a store (QoS 1). */
  publishConfig(storeId: string, part: 'zones' | 'triggers' | 'members' | 'cameras', payload: unknown): Promise<void>
  /** Forward member-app location fixes to a store (QoS 1, not retained). */
  publishLocations(storeId: string, report: LocationReport): Promise<void>
  /** Campaigns, geofences, members and the trigger/member config they publish to the edges. */
  marketing: Marketing
  /** The coupon ledger's redemption, keys, listing and funnel. */
  coupons: CouponService
  /** Module states for /health. */
  status(): Record<string, unknown>
  now(): number
}

/**
 * A catalogue error whose body says more than the message: `extra` is merged into `error`
 * (e.g. `{ errors: string[] }` listing every problem of a rule).
 */
export function apiError(code: ErrorCode, detail: string, extra: Record<string, unknown>): StoreEdgeError {
  return Object.assign(new StoreEdgeError(code, detail), { extra })
}

/** preHandler: a principal with the permission, else 401/403. */
export function guard(perm: Permission) {
  return async (req: FastifyRequest) => {
    authorize(req, perm)
  }
}

export function authorize(req: FastifyRequest, perm: Permission, storeId?: string): Principal {
  const p = req.principal
  if (!p) throw new StoreEdgeError('STORE_EDGE_ERR_UNAUTHENTICATED')
  if (!can(p, perm)) throw new StoreEdgeError('STORE_EDGE_ERR_FORBIDDEN', `role ${p.role} lacks ${perm}`)
  if (storeId !== undefined && !inScope(p, storeId)) throw new StoreEdgeError('STORE_EDGE_ERR_FORBIDDEN', `store ${storeId} is outside your scope`)
  return p
}

/** Every change goes to the audit log, attributed to the principal that made it. */
export async function audit(ctx: ApiContext, req: FastifyRequest, action: string, e: { target?: string; storeId?: string; detail?: Record<string, unknown> } = {}): Promise<void> {
  const p = req.principal
  await ctx.data.audit.record({
    actor: p?.name ?? 'anonymous',
    actorKind: p?.kind ?? 'system',
    action,
    target: e.target,
    storeId: e.storeId,
    detail: e.detail,
    ip: req.ip,
  })
}
