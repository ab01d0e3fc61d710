/**
 * Coupons benchmark, the two halves of the path:
 *  - edge: presence events of 1,000 members through the geofence engine and the trigger engine
 *    (20 campaigns): edgeEventUs per presence event, triggerEvalUs per geofence event;
 *  - central: coupon requests (4 per member, caps and a budget that reject some) decided by the
 *    ledger of a real gateway, 32 at a time, on PostgreSQL and on PGlite; then every issued coupon
 *    pushed through the outbox to a local signed-webhook receiver. ledgerPerSec and p99, pushPerSec;
 *    afterwards the ledger is checked: capViolations and budgetOverrun must be 0. duplicatePushes
 *    counts deliveries of a key already delivered: delivery is at least once (a push that timed out
 *    on the gateway's side is retried with the same Idempotency-Key), and on PGlite, where the
 *    database, the gateway and this receiver share one event loop, a saturated loop turns some
 *    in-time answers into timeouts. `BENCH_LOG=debug` shows each retry.
 * Progress goes to stderr; the last stdout line is the JSON result.
 */
import { createHmac } from 'node:crypto'
import { createServer } from 'node:http'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { couponKey, localTime, type Campaign, type CouponRequest, type MembersConfigPayload, type PresenceEvent } from '../edge/contracts/index.ts'
import { GeofenceEngine } from '../edge/geofence/geofence.engine.ts'
import { MemberIndex } from '../edge/geofence/member-index.ts'
import { TriggerEngine, dwellThresholdsOf } from '../edge/triggers/trigger.engine.ts'
import { GatewayApp } from '../gateway/app.ts'
import { freshDatabase, gatewayTestConfig } from '../tests/support/gateway.ts'

const MEMBERS = Number(process.env.BENCH_MEMBERS ?? 1000)
const REQUESTS_PER_MEMBER = 4
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32)
const EDGE_EVENTS = Number(process.env.BENCH_EDGE_EVENTS ?? 200_000)
const log = (msg: string) => process.stderr.write(`[bench coupons] ${msg}\n`)
const quiet = pino({ level: process.env.BENCH_LOG ?? 'silent' }, pino.destination(2))
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d

const ZONES = ['entrance', 'cosmetics', 'apparel', 'cafe', 'kids']
const STORE = 'bench-store'
const TZ = 'Asia/Shanghai'

function campaignsFor(n: number): Campaign[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `c-${i}`,
    name: `campaign ${i}`,
    version: 1,
    enabled: true,
    stores: ['*'],
    event: (['enter', 'dwell', 'exit'] as const)[i % 3]!,
    zones: [ZONES[i % ZONES.length]!],
    ...(i % 3 === 1 ? { dwellS: 60 + i } : {}),
    audience: { membersOnly: true, ...(i % 4 === 0 ? { tiers: [1, 2] } : {}), ...(i % 5 === 0 ? { tagsAny: ['beauty'] } : {}) },
    schedule: i % 2 ? { quietHours: [{ start: '23:00', end: '07:00' }] } : {},
    caps: { perMemberPerDay: 1, cooldownS: 600 },
    holdoutPct: 10,
    priority: 100 + i,
    ...(i % 6 === 0 ? { exclusiveGroup: 'g' } : {}),
    lateAfterS: 900,
    coupon: { templateId: 'tpl', title: 'offer', body: '', valueCents: 500, validHours: 24 },
  }))
}

// ── edge half ────────────────────────────────────────────────────────────────────────────────
function edgeBench(): { edgeEventUs: number; triggerEvalUs: number; geofenceEvents: number; requests: number } {
  const members: MembersConfigPayload = {
    v: 1,
    version: 1,
    members: Array.from({ length: MEMBERS }, (_, i) => ({ ref: `m-${i}`, tier: 1 + (i % 3), tags: i % 2 ? ['beauty'] : [], beaconIds: [`ibeacon:bench:${i}`], plates: [], visits: i % 7 })),
  }
  const index = new MemberIndex(members)
  const campaigns = campaignsFor(20)
  const geo = new GeofenceEngine({ storeId: STORE })
  geo.setMembers(index)
  geo.setDwellThresholds(dwellThresholdsOf(campaigns, STORE))
  const trig = new TriggerEngine({ storeId: STORE, timeZone: TZ })
  trig.setMembers(index)
  trig.setTriggers({ campaigns })
  // A deterministic walk: each event moves one member to a zone (or out), a second apart.
  let t = Date.UTC(2026, 11, 2, 3, 0) // 11:00 in Shanghai
  let seed = 12345
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 0x1_0000_0000)
  const where = new Map<number, string>()
  let geofenceEvents = 0
  let requests = 0
  let trigNs = 0n
  const start = process.hrtime.bigint()
  for (let i = 0; i < EDGE_EVENTS; i++) {
    t += 50
    const m = Math.floor(rnd() * MEMBERS)
    const from = where.get(m)
    const to = rnd() < 0.15 ? undefined : ZONES[Math.floor(rnd() * ZONES.length)]!
    const base = { v: 1 as const, id: `ibeacon:bench:${m}`, source: 'ble' as const, ts: t, confidence: 0.9, randomAddress: false }
    const e: PresenceEvent | undefined =
      to === undefined ? (from ? { ...base, type: 'exit', zone: from } : undefined) : from ? (from === to ? undefined : { ...base, type: 'move', zone: to, fromZone: from }) : { ...base, type: 'enter', zone: to }
    if (!e) continue
    if (to === undefined) where.delete(m)
    else where.set(m, to)
    const out = geo.onPresence(e, t)
    if (i % 20 === 0) out.push(...geo.tick(t))
    for (const g of out) {
      geofenceEvents++
      const s = process.hrtime.bigint()
      requests += trig.evaluate(g, geo.visitOf(g.subject, g.ts), t).requests.length
      trigNs += process.hrtime.bigint() - s
    }
  }
  const totalNs = Number(process.hrtime.bigint() - start)
  return { edgeEventUs: round(totalNs / 1000 / EDGE_EVENTS, 2), triggerEvalUs: round(Number(trigNs) / 1000 / Math.max(1, geofenceEvents), 2), geofenceEvents, requests }
}

// ── central half ─────────────────────────────────────────────────────────────────────────────
async function sinkServer(secret: string) {
  const keys: string[] = []
  let bad = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const want = createHmac('sha256', secret).update(`${req.headers['x-storeedge-timestamp']}.${body}`).digest('hex')
      if (want !== req.headers['x-storeedge-signature']) {
        bad++
        return void res.writeHead(401).end()
      }
      keys.push(String(req.headers['idempotency-key']))
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/push`, keys, bad: () => bad, close: () => new Promise<void>((r) => server.close(() => r())) }
}

async function ledgerBench(engine: 'postgres' | 'pglite', dir: string) {
  const pg = engine === 'postgres' ? await freshDatabase('se_bench') : undefined
  const secret = 'bench-secret'
  const sink = await sinkServer(secret)
  const gw = await new GatewayApp({
    config: gatewayTestConfig(join(dir, `gw-${engine}`), {
      database: { url: pg?.url ?? '' },
      coupons: { webhook: { url: sink.url, secret }, push: { pollMs: 20, concurrency: 64 } },
    }),
    logger: quiet,
    defaultMetrics: false,
  }).start()
  try {
    await gw.data.stores.create({ id: STORE, name: STORE, timezone: TZ })
    const budget = Math.floor(MEMBERS * 1.5)
    const c: Campaign = { ...campaignsFor(1)[0]!, id: 'bench', event: 'enter', zones: ['entrance'], audience: { membersOnly: true }, caps: { perMemberPerDay: 2, budget }, holdoutPct: 10 }
    await gw.marketing.createCampaign(c, 'bench')
    for (let i = 0; i < MEMBERS; i += 100) {
      const values = Array.from({ length: Math.min(100, MEMBERS - i) }, (_, k) => `('m-${i + k}', '{"provider":"webhook"}'::jsonb)`).join(',')
      await gw.db.query(`insert into members (ref, push) values ${values}`)
    }
    const now = Date.now()
    const reqs: CouponRequest[] = []
    for (let r = 0; r < REQUESTS_PER_MEMBER; r++) {
      for (let m = 0; m < MEMBERS; m++) {
        const eventId = `ev-${m}-${r}`
        const ts = now - (REQUESTS_PER_MEMBER - r) * 1000
        reqs.push({
          v: 1,
          key: couponKey(STORE, c.id, `m-${m}`, eventId),
          storeId: STORE,
          campaignId: c.id,
          campaignVersion: 1,
          memberRef: `m-${m}`,
          event: { id: eventId, type: 'enter', zone: 'entrance', source: 'ble', ts },
          firedAt: ts,
          localDay: localTime(ts, TZ).date,
          holdout: false,
          priority: 100,
        })
      }
    }
    log(`${engine}: ${reqs.length} requests, ${CONCURRENCY} at a time`)
    const lat: number[] = []
    let next = 0
    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < reqs.length) {
          const r = reqs[next++]!
          const s = performance.now()
          await gw.coupons.ledger.requestCoupon(r)
          lat.push(performance.now() - s)
          if (lat.length % 1000 === 0) log(`${engine}: ${lat.length}/${reqs.length} decided`)
        }
      }),
    )
    const ledgerSec = (performance.now() - t0) / 1000
    const rows = await gw.db.query<{ member_ref: string; status: string; local_day: string }>(`select member_ref, status, local_day::text as local_day from coupons`)
    const issued = rows.filter((r) => r.status === 'issued').length
    const perDay = new Map<string, number>()
    for (const r of rows) if (r.status !== 'rejected') perDay.set(`${r.member_ref}|${r.local_day}`, (perDay.get(`${r.member_ref}|${r.local_day}`) ?? 0) + 1)
    const capViolations = [...perDay.values()].filter((n) => n > 2).length
    const t1 = performance.now()
    while (new Set(sink.keys).size < issued) {
      await new Promise((r) => setTimeout(r, 20))
      if (performance.now() - t1 > 300_000) throw new Error(`pushes stalled at ${new Set(sink.keys).size}/${issued}`)
    }
    const pushSec = Math.max((performance.now() - t0) / 1000, 0.001)
    loop.disable()
    const pushTailS = round(pushSec - ledgerSec, 2)
    return {
      ledgerPerSec: Math.round(reqs.length / ledgerSec),
      ledgerP50Ms: round(pct(lat, 50), 2),
      ledgerP99Ms: round(pct(lat, 99), 2),
      // Pushes run alongside the decisions: issued over the time from the first request to the last
      // push, and how long after the last decision the last push landed.
      pushPerSec: Math.round(issued / pushSec),
      pushTailS,
      // How long the event loop was blocked at worst (ms): pushes share the loop with the ledger.
      eventLoopMaxMs: Math.round(loop.max / 1e6),
      eventLoopP99Ms: Math.round(loop.percentile(99) / 1e6),
      requests: reqs.length,
      issued,
      holdout: rows.filter((r) => r.status === 'holdout').length,
      rejected: rows.filter((r) => r.status === 'rejected').length,
      capViolations,
      budgetOverrun: Math.max(0, issued - budget),
      duplicatePushes: sink.keys.length - new Set(sink.keys).size,
      pushRetries: Number((await gw.metrics.registry.getSingleMetricAsString('store_edge_gw_coupon_pushes_total')).split('\n').filter((l) => l.includes('result="retry"')).map((l) => Number(l.split(' ').at(-1))).reduce((a, b) => a + b, 0)),
      lastErrors: (await gw.db.query<{ e: string; n: number }>(`select last_error as e, count(*)::int as n from coupon_outbox where last_error is not null group by 1`)).map((r) => `${r.n}× ${r.e}`),
      badSignatures: sink.bad(),
    }
  } finally {
    await gw.stop()
    await sink.close()
    await pg?.drop()
  }
}

const dir = await mkdtemp(join(tmpdir(), 'store-edge-bench-coupons-'))
try {
  log(`edge: ${EDGE_EVENTS} presence events of ${MEMBERS} members, 20 campaigns`)
  const edge = edgeBench()
  log(`edge: ${JSON.stringify(edge)}`)
  const postgres = await ledgerBench('postgres', dir)
  log(`postgres: ${JSON.stringify(postgres)}`)
  const pglite = await ledgerBench('pglite', dir)
  log(`pglite: ${JSON.stringify(pglite)}`)
  process.stdout.write(
    JSON.stringify({
      bench: 'coupons',
      edgeEventUs: edge.edgeEventUs,
      triggerEvalUs: edge.triggerEvalUs,
      ledgerPerSec: { postgres: postgres.ledgerPerSec, pglite: pglite.ledgerPerSec },
      ledgerP99Ms: { postgres: postgres.ledgerP99Ms, pglite: pglite.ledgerP99Ms },
      pushPerSec: { postgres: postgres.pushPerSec, pglite: pglite.pushPerSec },
      pushTailS: { postgres: postgres.pushTailS, pglite: pglite.pushTailS },
      capViolations: postgres.capViolations + pglite.capViolations,
      budgetOverrun: postgres.budgetOverrun + pglite.budgetOverrun,
      duplicatePushes: { postgres: postgres.duplicatePushes, pglite: pglite.duplicatePushes },
      pushRetries: { postgres: postgres.pushRetries, pglite: pglite.pushRetries },
      eventLoopMaxMs: { postgres: postgres.eventLoopMaxMs, pglite: pglite.eventLoopMaxMs },
      requests: postgres.requests,
      issued: { postgres: postgres.issued, pglite: pglite.issued },
    }) + '\n',
  )
} finally {
  await rm(dir, { recursive: true, force: true })
}
