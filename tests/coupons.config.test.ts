import { describe, expect, it } from 'vitest'
import { resolveGatewayConfig } from '../gateway/core/config.ts'
import { pushProviders } from '../gateway/coupons/index.ts'

describe('coupon configuration', () => {
  it('defaults: push on, webhook default provider, no provider until configured', () => {
    const c = resolveGatewayConfig({}, {}).coupons
    expect(c).toMatchObject({ defaultProvider: 'webhook', signingKeyFile: '', push: { enabled: true, maxAttempts: 8, leaseMs: 60_000, timeoutMs: 10_000 } })
    expect([...pushProviders(c).keys()]).toEqual([])
  })

  it('environment overrides reach every field, secrets included', () => {
    const c = resolveGatewayConfig({}, {
      STORE_EDGE_GW_COUPONS_PUSH_ENABLED: 'false',
      STORE_EDGE_GW_COUPONS_WEBHOOK_URL: 'https://crm.example/hooks/coupons',
      STORE_EDGE_GW_COUPONS_WEBHOOK_SECRET: 's3cret',
      STORE_EDGE_GW_COUPONS_WECHAT_APP_ID: 'wx123',
      STORE_EDGE_GW_COUPONS_WECHAT_APP_SECRET: 'wxsecret',
    }).coupons
    expect(c.push.enabled).toBe(false)
    expect(c.webhook).toEqual({ url: 'https://crm.example/hooks/coupons', secret: 's3cret' })
    expect([...pushProviders(c).keys()].sort()).toEqual(['webhook', 'wechat'])
  })

  it('refuses a webhook without a secret, a lease shorter than the timeout, a bad URL, an unknown provider', () => {
    expect(() => resolveGatewayConfig({ coupons: { webhook: { url: 'https://x.example/h' } } }, {})).toThrow(/coupons\/webhook\/secret/)
    expect(() => resolveGatewayConfig({ coupons: { push: { leaseMs: 5000, timeoutMs: 5000 } } }, {})).toThrow(/leaseMs/)
    expect(() => resolveGatewayConfig({ coupons: { webhook: { url: 'ftp://x', secret: 's' } } }, {})).toThrow(/webhook\/url/)
    expect(() => resolveGatewayConfig({ coupons: { defaultProvider: 'sms' } }, {})).toThrow(/defaultProvider/)
    expect(() => resolveGatewayConfig({ coupons: { wechat: { appId: 'wx' } } }, {})).toThrow(/appSecret/)
  })
})
