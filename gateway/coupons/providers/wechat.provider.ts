import { errorText, type PushMessage, type PushProvider, type PushResult } from './provider.ts'

export interface WechatProviderOptions {
  /** https://api.weixin.qq.com, or a gateway / test server speaking the same API. */
  baseUrl: string
  appId: string
  appSecret: string
  timeoutMs: number
  now?: () => number
}

interface TokenAnswer {
  access_token?: string
  expires_in?: number
  errcode?: number
  errmsg?: string
}

/** access_token no longer valid (invalid credential, expired, invalid token): refresh and retry. */
const TOKEN_ERRORS = new Set([40001, 40014, 42001])
/** Busy or over quota: try again later. */
const RETRY_ERRORS = new Set([-1, 45009, 45011, 45047])
/** Renew the token this long before WeChat says it expires. */
const TOKEN_MARGIN_MS = 120_000

const discount = (m: PushMessage) => (m.percentOff !== undefined ? `${m.percentOff}% off` : m.valueCents !== undefined ? `${(m.valueCents / 100).toFixed(2)} off` : '')

/**
 * A WeChat Official Account template message (模板消息): an access_token from
 * `GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…`, cached until shortly before
 * its `expires_in`, then `POST /cgi-bin/message/template/send?access_token=…` with
 * `{ touser: openId, template_id, data: { first, keyword1…, remark } }`.
 *
 * errcode 0: sent. 40001 / 40014 / 42001 (token invalid or expired, e.g. another server refreshed
 * it): the token is fetched again and the message retried once at once. -1 (system busy), 45009 /
 * 45011 / 45047 (quota, frequency): retried later. Any other errcode (40003 invalid openid,
 * 40037 bad template, 43004 not subscribed, 43101 user refused, …) will not change: dead letter.
 * HTTP and network failures, and token failures (a fixable configuration), are retried.
 */
export class WechatProvider implements PushProvider {
  readonly name = 'wechat'
  private token?: { value: string; until: number }
  private fetching?: Promise<string>
  private readonly now: () => number
  /** Tokens fetched (for tests and metrics). */
  tokenFetches = 0

  constructor(private readonly opts: WechatProviderOptions) {
    this.now = opts.now ?? Date.now
  }

  async send(msg: PushMessage): Promise<PushResult> {
    if (!msg.openId) return { ok: false, permanent: true, error: 'member has no WeChat openId' }
    for (let round = 0; round < 2; round++) {
      let token: string
      try {
        token = await this.accessToken()
      } catch (err) {
        return { ok: false, permanent: false, error: `access_token: ${errorText(err)}` }
      }
      let answer: { errcode?: number; errmsg?: string }
      try {
        const res = await fetch(`${this.opts.baseUrl}/cgi-bin/message/template/send?access_token=${encodeURIComponent(token)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            touser: msg.openId,
            template_id: msg.templateId,
            data: {
              first: { value: msg.title },
              keyword1: { value: discount(msg) },
              keyword2: { value: msg.code },
              keyword3: { value: new Date(msg.expiresAt).toISOString() },
              remark: { value: msg.body },
            },
          }),
          signal: AbortSignal.timeout(this.opts.timeoutMs),
        })
        if (!res.ok) {
          await res.arrayBuffer().catch(() => undefined)
          return { ok: false, permanent: false, error: `HTTP ${res.status}` }
        }
        answer = (await res.json()) as { errcode?: number; errmsg?: string }
      } catch (err) {
        return { ok: false, permanent: false, error: errorText(err) }
      }
      const code = answer.errcode ?? 0
      if (code === 0) return { ok: true }
      const error = `errcode ${code}: ${String(answer.errmsg ?? '').slice(0, 200)}`
      if (TOKEN_ERRORS.has(code)) {
        if (this.token?.value === token) this.token = undefined
        if (round === 0) continue
        return { ok: false, permanent: false, error }
      }
      return { ok: false, permanent: !RETRY_ERRORS.has(code), error }
    }
    return { ok: false, permanent: false, error: 'unreachable' }
  }

  /** The cached token, or one fetched now (one fetch at a time however many sends wait for it). */
  private accessToken(): Promise<string> {
    if (this.token && this.now() < this.token.until) return Promise.resolve(this.token.value)
    this.fetching ??= this.fetchToken().finally(() => (this.fetching = undefined))
    return this.fetching
  }

  private async fetchToken(): Promise<string> {
    const o = this.opts
    const url = `${o.baseUrl}/cgi-bin/token?grant_type=client_credential&appid=${encodeURIComponent(o.appId)}&secret=${encodeURIComponent(o.appSecret)}`
    this.tokenFetches++
    const res = await fetch(url, { signal: AbortSignal.timeout(o.timeoutMs) })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    const t = (await res.json()) as TokenAnswer
    if (!t.access_token) throw new Error(`errcode ${t.errcode}: ${String(t.errmsg ?? '').slice(0, 200)}`)
    const ttlMs = (t.expires_in ?? 7200) * 1000
    this.token = { value: t.access_token, until: this.now() + Math.max(ttlMs - TOKEN_MARGIN_MS, ttlMs / 2) }
    return t.access_token
  }
}
