import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TriggersConfigPayload } from '../edge/contracts/index.ts'
import { openGatewayData, type Db } from '../gateway/db/index.ts'
import { ConfigPublisher, bumpConfigVersions, type MarketingPart } from '../gateway/marketing/index.ts'
import { testLogger, waitFor } from './helpers.ts'
import { freshDatabase } from './support/gateway.ts'

/**
 * The config publisher's ordering on the machine's PostgreSQL, with a publish adapter the test
 * holds: a publish in flight keeps the store's config_pushes row locked, so a change commits (and
 * its own publish runs) only after it. Without that lock the late, older publish would land last
 * and stay retained.
 */
describe('config publisher on PostgreSQL', () => {
  let db: Db
  let fresh: { url: string; drop: () => Promise<void> }
  const log = testLogger()

  beforeAll(async () => {
    fresh = await freshDatabase('se_mkt_pub')
    db = (await openGatewayData({ url: fresh.url, log })).db
    await db.query("insert into stores (id, name) values ('p-1', 'P1'), ('p-2', 'P2')")
  })
  afterAll(async () => {
    await db?.close()
    await fresh?.drop()
  })

  const campaign = (id: string) => ({ id, name: id, version: 1, enabled: true, stores: ['p-1'], event: 'enter', zones: ['carpark'], audience: { membersOnly: true }, schedule: {}, caps: {}, holdoutPct: 0, priority: 100, lateAfterS: 900, coupon: { templateId: 't', title: 'T', body: '', validHours: 24, valueCents: 1 } })
  /** A change as the app makes one: the rows and the version bump in one transaction. */
  const addCampaign = (id: string) =>
    db.tx(async (q) => {
      await q.query('insert into campaigns (id, name, current_version, body) values ($1, $1, 1, $2::jsonb)', [id, JSON.stringify(campaign(id))])
      await bumpConfigVersions(q, ['p-1'], 'triggers', Date.now())
    })

  it('a change waits for the publish in flight; the newest state under the newest version is published last', async () => {
    const sent: Array<{ storeId: string; part: MarketingPart; payload: TriggersConfigPayload }> = []
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let held = false
    const publisher = new ConfigPublisher(db, async (storeId, part, payload) => {
      // The first publish is held until the test lets it go.
      if (!held) {
        held = true
        await gate
      }
      sent.push({ storeId, part, payload: payload as TriggersConfigPayload })
    }, log)
    await addCampaign('first')
    const inFlight = publisher.publishOne('p-1', 'triggers')
    await waitFor(() => held, 'first publish in flight')
    const change = addCampaign('second')
    // The change is blocked on the row the publish holds (seen by the server, not guessed by a timer).
    await waitFor(
      async () => (await db.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"))[0]!.n > 0,
      'the change waits for the config_pushes row',
    )
    release()
    const v1 = await inFlight
    await change
    const v2 = await publisher.publishOne('p-1', 'triggers')
    expect(v2).toBeGreaterThan(v1)
    expect(sent.map((s) => [s.payload.version, s.payload.campaigns.map((c) => c.id)])).toEqual([
      [v1, ['first']],
      [v2, ['first', 'second']],
    ])
  })

  it('a failed publish is kept for a retry and leaves the version alone', async () => {
    let up = false
    const sent: number[] = []
    const publisher = new ConfigPublisher(db, async (_s, _p, payload) => {
      if (!up) throw new Error('broker away')
      sent.push((payload as TriggersConfigPayload).version)
    }, log)
    const before = Number((await db.query<{ version: number }>("select version from config_pushes where store_id = 'p-2' and part = 'members'"))[0]?.version ?? 0)
    const r = await publisher.publishMany(['p-2'], 'members')
    expect(r.failed).toEqual(['p-2'])
    expect(publisher.pending).toEqual(['p-2\u0000members'])
    up = true
    const v = await publisher.publishOne('p-2', 'members')
    expect(v).toBeGreaterThan(before)
    expect(sent).toEqual([v])
    expect(publisher.pending).toEqual([])
    // Publishing again without a change sends the same version (an edge ignores it).
    expect(await publisher.publishOne('p-2', 'members')).toBe(v)
  })
})
