/**
 * Push providers behind one interface: the outbox worker hands each a coupon message and learns
 * whether it was delivered, should be retried, or can never be delivered (dead letter).
 * Delivery is at least once: a provider may see a message again after a crash or a lost answer,
 * always with the same `key` (the ledger's idempotency key), which receivers use to de-duplicate.
 */
export interface PushMessage {
  /** The ledger's idempotency key: the same for every attempt of this coupon. */
  key: string
  couponId: string
  campaignId: string
  campaignName: string
  storeId: string
  memberRef: string
  /** The member's id at the provider (WeChat openId), when they have one. */
  openId?: string
  templateId: string
  title: string
  body: string
  valueCents?: number
  percentOff?: number
  /** The signed code (QR content) the till redeems. */
  code: string
  issuedAt: number
  expiresAt: number
  /** 1 for the first try. */
  attempt: number
}

export type PushResult =
  | { ok: true }
  /** permanent: retrying cannot help (bad address, refused, unsubscribed) → dead letter now. */
  | { ok: false; permanent: boolean; error: string; retryAfterMs?: number }

export interface PushProvider {
  readonly name: string
  send(msg: PushMessage): Promise<PushResult>
}

/** An error's message, bounded, for last_error and logs. */
export const errorText = (err: unknown): string => {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } }
  const base = e?.name === 'TimeoutError' ? 'timeout' : (e?.message ?? String(err))
  const cause = e?.cause?.code ?? e?.cause?.message
  return (cause ? `${base} (${cause})` : base).slice(0, 500)
}

/** Retry-After in ms (seconds or an HTTP date), bounded; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined
  const s = Number(header)
  const ms = Number.isFinite(s) ? s * 1000 : Date.parse(header) - now
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, 3_600_000) : undefined
}
