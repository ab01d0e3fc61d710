import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

/** The coupon ledger's and push worker's Prometheus metrics, in the app's registry. */
export function createCouponMetrics(registry: Registry) {
  const r = [registry]
  return {
    decisions: new Counter({ name: 'store_edge_gw_coupon_decisions_total', help: 'Coupon requests decided by the ledger, by status and reason.', labelNames: ['status', 'reason'] as const, registers: r }),
    duplicates: new Counter({ name: 'store_edge_gw_coupon_duplicate_requests_total', help: 'Coupon requests whose key was already decided (answered with the first outcome).', registers: r }),
    ledgerSeconds: new Histogram({ name: 'store_edge_gw_coupon_ledger_seconds', help: 'Ledger transaction duration.', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: r }),
    pushes: new Counter({ name: 'store_edge_gw_coupon_pushes_total', help: 'Push attempts, by provider and result (ok, retry, dead).', labelNames: ['provider', 'result'] as const, registers: r }),
    pushSeconds: new Histogram({ name: 'store_edge_gw_coupon_push_seconds', help: 'From the ledger decision to the provider accepting the push.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300], registers: r }),
    pushInflight: new Gauge({ name: 'store_edge_gw_coupon_push_inflight', help: 'Pushes in flight on this replica.', registers: r }),
    redemptions: new Counter({ name: 'store_edge_gw_coupon_redemptions_total', help: 'Redemption attempts, by result (ok, invalid, expired, redeemed).', labelNames: ['result'] as const, registers: r }),
  }
}
export type CouponMetrics = ReturnType<typeof createCouponMetrics>
