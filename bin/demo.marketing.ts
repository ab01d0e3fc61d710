import { timingSafeEqual } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Campaign, Geofence } from '../edge/contracts/index.ts'
import type { Logger } from '../edge/core/logger.ts'
import { simulatedMembers } from '../edge/sim/members.ts'
import type { GatewayApp } from '../gateway/app.ts'
import { webhookSignature } from '../gateway/coupons/providers/webhook.provider.ts'

/**
 * What the demo chain needs for marketing to be visible at once: the simulated loyalty programme
 * as members (their app beacons and registered plates), a 2 km trade area around each store, a
 * handful of campaigns of every kind, and a member-app inbox that receives the signed pushes and
 * redeems some coupons at a till, so the issued → pushed → redeemed funnel moves. Seeded once:
 * what marketing edits in the dashboard afterwards is kept across restarts.
 */

/** Where the demo stores are (their trade areas are drawn around these). */
export const DEMO_LOCATIONS: Record<string, { lat: number; lng: number }> = {
  'sh-nanjing-rd': { lat: 31.2297, lng: 121.4553 },
  'bj-wangfujing': { lat: 39.9143, lng: 116.4103 },
  'gz-tianhe': { lat: 23.1339, lng: 113.3247 },
  'sz-futian': { lat: 22.5363, lng: 114.0541 },
  'cd-chunxi': { lat: 30.6553, lng: 104.0809 },
}

const coupon = (title: string, o: { valueCents?: number; percentOff?: number; validHours?: number }) => ({
  templateId: 'coupon-offer',
  title,
  body: '',
  validHours: o.validHours ?? 24,
  ...(o.valueCents !== undefined ? { valueCents: o.valueCents } : { percentOff: o.percentOff }),
})

/** The demo's campaigns: one of each kind the issue names. */
export function demoCampaigns(): Campaign[] {
  const common = { version: 1, enabled: true, stores: ['*'], schedule: {}, holdoutPct: 0, priority: 100, lateAfterS: 900 }
  return [
    {
      ...common,
      id: 'welcome-back',
      name: '欢迎回来 Welcome back (lapsed 30 days)',
      event: 'enter',
      zones: ['entrance'],
      audience: { membersOnly: true, lapsedDays: 30 },
      caps: { perMemberPerDay: 1, perMemberPerWeek: 2, budget: 20_000 },
      holdoutPct: 10,
      coupon: coupon('¥30 off today', { valueCents: 3000 }),
    },
    {
      ...common,
      id: 'first-visit',
      name: '首次到店 First visit',
      event: 'enter',
      zones: ['entrance'],
      audience: { membersOnly: true, firstVisit: true },
      caps: { perMemberPerCampaign: 1, budget: 20_000 },
      priority: 200,
      exclusiveGroup: 'arrival',
      coupon: coupon('Welcome gift at the service desk', { percentOff: 10 }),
    },
    {
      ...common,
      id: 'cosmetics-dwell',
      name: '美妆停留 Cosmetics browse 3 min',
      event: 'dwell',
      zones: ['cosmetics'],
      dwellS: 180,
      audience: { membersOnly: true, tagsAny: ['beauty'] },
      schedule: { quietHours: [{ start: '22:00', end: '08:00' }] },
      caps: { perMemberPerDay: 1, cooldownS: 3600, budget: 50_000 },
      coupon: coupon('15% off skincare', { percentOff: 15, validHours: 4 }),
    },
    {
      ...common,
      id: 'carpark-arrival',
      name: '停车场到达 Car-park arrival',
      event: 'enter',
      zones: ['carpark'],
      sources: ['plate'],
      audience: { membersOnly: true },
      caps: { perMemberPerDay: 1, budget: 50_000 },
      exclusiveGroup: 'arrival',
      coupon: coupon('1 hour free parking', { valueCents: 1000, validHours: 6 }),
    },
    {
      ...common,
      id: 'carpark-departure',
      name: '离场回馈 Departure after cosmetics',
      event: 'exit',
      zones: ['carpark'],
      sources: ['plate'],
      dwellS: 600,
      visitZones: ['cosmetics'],
      audience: { membersOnly: true },
      caps: { perMemberPerDay: 1, perMemberPerWeek: 3 },
      coupon: coupon('¥50 off your next beauty visit', { valueCents: 5000, validHours: 24 * 14 }),
    },
  ]
}

export function tradeArea(storeId: string, radiusM = 2000): Geofence {
  return { id: `ta-${storeId}`, name: `Trade area ${radiusM / 1000} km`, shape: { kind: 'circle', center: DEMO_LOCATIONS[storeId]!, radiusM }, bufferM: 100 }
}

/** Seed members, locations, trade areas and campaigns into an empty demo gateway. */
export async function seedDemoMarketing(gw: Pick<GatewayApp, 'data' | 'marketing'>, storeIds: string[], memberSeed: number, log: Logger): Promise<void> {
  const m = gw.marketing
  for (const id of storeIds) {
    const s = await gw.data.stores.get(id)
    if (s && !s.location && DEMO_LOCATIONS[id]) await gw.data.stores.update(id, { location: DEMO_LOCATIONS[id] })
    if (DEMO_LOCATIONS[id] && !(await m.geofences.get(`ta-${id}`))) await m.createGeofence(id, tradeArea(id))
  }
  if ((await m.members.list({ limit: 1, offset: 0 })).total === 0) {
    const members = simulatedMembers({ seed: memberSeed })
    log.info({ members: members.length }, 'seeding the simulated loyalty programme')
    for (const x of members) {
      await m.members.create({ ref: x.ref, displayName: `Member ${x.ref.slice(2)}`, tier: x.tier, tags: x.tags, plates: x.plates, beaconIds: x.beaconIds, push: { provider: 'webhook' }, optedIn: true }, Date.now())
    }
    // One config bump for the lot rather than one per member.
    for (const id of storeIds) await m.publisher.storeSeen(id)
  }
  if ((await m.campaigns.list()).length === 0) {
    for (const c of demoCampaigns()) await m.createCampaign(c, 'demo')
  }
}

/**
 * The member app's push endpoint for the demo: checks each push's HMAC signature and remembers it;
 * a simulated till redeems a share of the coupons a little later through the ledger.
 */
export class DemoInbox {
  readonly received = new Set<string>()
  badSignatures = 0
  redeemed = 0
  private server?: Server
  private timers = new Set<NodeJS.Timeout>()

  constructor(
    readonly secret: string,
    private readonly log: Logger,
    private readonly redeem?: (code: string, storeId: string) => Promise<unknown>,
    private readonly redeemShare = 0.35,
  ) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        const ts = String(req.headers['x-storeedge-timestamp'] ?? '')
        const sig = String(req.headers['x-storeedge-signature'] ?? '')
        const want = webhookSignature(this.secret, ts, body)
        if (sig.length !== want.length || !timingSafeEqual(Buffer.from(sig), Buffer.from(want))) {
          this.badSignatures++
          res.writeHead(401).end()
          return
        }
        const key = String(req.headers['idempotency-key'] ?? '')
        const first = !this.received.has(key)
        this.received.add(key)
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')
        if (first) this.maybeRedeem(body)
      })
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/push`
  }

  private maybeRedeem(body: string): void {
    if (!this.redeem || Math.random() >= this.redeemShare) return
    let msg: { coupon?: { code?: string; storeId?: string } }
    try {
      msg = JSON.parse(body)
    } catch {
      return
    }
    const code = msg.coupon?.code
    const storeId = msg.coupon?.storeId
    if (!code || !storeId) return
    const t = setTimeout(() => {
      this.timers.delete(t)
      this.redeem!(code, storeId).then(
        () => this.redeemed++,
        (err: Error) => this.log.debug({ err: err.message }, 'demo till could not redeem'),
      )
    }, 5_000 + Math.random() * 55_000)
    this.timers.add(t)
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t)
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}
