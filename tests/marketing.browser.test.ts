import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { couponKey, geofenceEventId, localTime, topics, type Campaign, type CouponRequest, type GeofenceEvent } from '../edge/contracts/index.ts'
import { distanceM } from '../edge/contracts/geo.ts'
import { GatewayApp } from '../gateway/app.ts'
import { tempDir, testLogger, waitFor } from './helpers.ts'
import { launchChromium, loginUi, rolePage, statusFromPage, text, type RolePage } from './support/browser.ts'
import { gatewayTestConfig } from './support/gateway.ts'

/**
 * The marketing view in a real browser (Debian's Chromium) against a real gateway (embedded
 * central broker, PGlite, HTTP API, SSE): a marketer builds a campaign in the rule editor (and is
 * told what is wrong with a bad one), draws a trade area, previews the rule over recorded events,
 * meets a version conflict, and watches a coupon an edge asked for arrive in the live feed and
 * the funnel. Ops and security get no marketing view and a 403 from the API.
 */
const POLL = { timeout: 30_000, interval: 50 }
const TZ = 'Asia/Shanghai'
const ORIGIN = { lat: 31.2304, lng: 121.4737 }

/** A same-origin JSON request made from the page with its session cookie, as the app makes them. */
async function fromPage(page: Page, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return page.evaluate(
    async ([m, p, b]) => {
      const res = await fetch(p as string, {
        method: m as string,
        credentials: 'same-origin',
        headers: b === undefined ? {} : { 'content-type': 'application/json' },
        body: b === undefined ? undefined : JSON.stringify(b),
      })
      const t = await res.text()
      return { status: res.status, body: t ? JSON.parse(t) : null }
    },
    [method, path, body] as const,
  )
}

/** A complete, valid campaign as the API takes it (no version). */
function campaign(id: string, patch: Partial<Campaign> = {}): Omit<Campaign, 'version'> {
  return {
    id,
    name: `Campaign ${id}`,
    enabled: true,
    stores: ['store-a'],
    event: 'enter',
    zones: ['entrance'],
    audience: { membersOnly: true },
    schedule: {},
    caps: { perMemberPerDay: 1, budget: 50 },
    holdoutPct: 0,
    priority: 100,
    lateAfterS: 900,
    coupon: { templateId: 'welcome', title: 'Welcome', body: '', valueCents: 500, validHours: 24 },
    ...patch,
  }
}

describe('marketing view in Chromium against a live gateway', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let app: GatewayApp
  let edge: MqttClient
  let browser: Browser
  /** The push provider: a local webhook sink that accepts every coupon. */
  let sink: Server
  const pushed: Array<{ key?: string; memberRef?: string }> = []
  const open: RolePage[] = []

  const publish = (topic: string, payload: unknown, retain = false) => edge.publishAsync(topic, JSON.stringify(payload), { qos: 1, retain })
  const session = async () => {
    const s = await rolePage(browser, app.url)
    // Name the request behind a server error (the console only says "500").
    s.page.on('response', (r) => {
      if (r.status() >= 500) s.errors.push(`HTTP ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`)
    })
    open.push(s)
    return s
  }
  /** A geofence event as an edge sends it (`stores/{id}/events/geofence`). */
  const geofenceEvent = (memberRef: string | undefined, zone: string, type: GeofenceEvent['type'], ts: number, dwellS?: number): GeofenceEvent => {
    const subject = memberRef ? `member:${memberRef}` : `h:${zone}-${ts}`
    const enteredAt = ts - (dwellS ?? 0) * 1000
    return { v: 1, id: geofenceEventId('store-a', subject, zone, type, enteredAt, dwellS), type, storeId: 'store-a', zone, zoneKind: 'indoor', source: 'ble', subject, memberRef, confidence: 0.9, enteredAt, ts, dwellS }
  }

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('store-edge-mkt-browser-'))
    sink = createServer((req, res) => {
      let body = ''
      req.on('data', (c) => (body += c))
      req.on('end', () => {
        try {
          pushed.push(JSON.parse(body))
        } catch {
          pushed.push({})
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r))
    const webhook = { url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/push`, secret: 'marketing-browser-test-secret' }
    ;[app, browser] = await Promise.all([
      new GatewayApp({ config: gatewayTestConfig(dir, { auth: { demoUsers: true }, coupons: { webhook } }), logger: testLogger(), defaultMetrics: false }).start(),
      launchChromium(),
    ])
    await app.data.stores.create({ id: 'store-a', name: 'Alpha Market', timezone: TZ })
    await app.data.stores.create({ id: 'store-b', name: 'Beta Market', timezone: 'UTC' })
    await app.data.stores.update('store-a', { location: ORIGIN })
    await app.data.stores.setLayout('store-a', {
      zones: [
        { id: 'entrance', name: 'Entrance', floor: 0 },
        { id: 'cosmetics', name: 'Cosmetics', floor: 1 },
      ],
      sensors: [],
    })
    edge = await mqtt.connectAsync(app.brokerUrl, { clientId: 'fake-edge-a', reconnectPeriod: 0 })
    // The live consumer subscribes after start() resolves; the retained health reaching the window proves it has.
    await publish(topics.storeHealth('store-a'), { v: 1, storeId: 'store-a', status: 'online', ts: Date.now() }, true)
    await waitFor(() => app.hub.window.get('store-a')?.health, 'the live consumer subscribed')
  })

  afterEach(async () => {
    for (const s of open.splice(0)) await s.context.close()
  })

  afterAll(async () => {
    await browser?.close()
    await edge?.endAsync()
    await app?.stop()
    await new Promise((r) => sink?.close(r))
    await cleanup?.()
  })

  it('marketing: builds a campaign in the editor (a bad rule shows its errors beside the form), previews it over the last 7 days, meets a version conflict, sees the audit trail and archives it', async () => {
    // Members and a week of recorded geofence events for the preview: m-1 dwelt 10 min in
    // cosmetics three days ago and yesterday, m-2 only 2 min, a non-member 10 min.
    const { page, errors } = await session()
    await loginUi(page, 'marketing', 'demo-marketing')
    for (const [ref, tier] of [['m-1', 2], ['m-2', 1]] as const) {
      const r = await fromPage(page, 'POST', '/v1/members', { ref, displayName: `Member ${ref}`, tier, tags: [], plates: [], beaconIds: [], push: { provider: 'webhook' } })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
    }
    // Shanghai is UTC+8 all year: 15:00 there is 07:00 UTC. `daysAgo` local days before today there.
    const today = localTime(Date.now(), TZ).date
    const at = (daysAgo: number, hhmm: string) => Date.parse(`${today}T${hhmm}:00+08:00`) - daysAgo * 86_400_000
    const events = [
      geofenceEvent('m-1', 'cosmetics', 'dwell', at(3, '15:00'), 600),
      geofenceEvent('m-1', 'cosmetics', 'dwell', at(1, '15:00'), 600),
      geofenceEvent('m-1', 'cosmetics', 'dwell', at(2, '23:00'), 600), // outside 10:00–22:00
      geofenceEvent('m-2', 'cosmetics', 'dwell', at(2, '15:00'), 120), // too short a dwell
      geofenceEvent(undefined, 'cosmetics', 'dwell', at(2, '15:05'), 600), // not a member
    ]
    for (const e of events) await publish(topics.storeEvents('store-a', 'geofence'), e)
    await waitFor(async () => (await app.data.db.query<{ n: string }>('select count(*)::text as n from geofence_events'))[0]?.n === String(events.length), 'geofence events recorded', 60_000)

    await page.getByTestId('nav-marketing').click()
    await page.waitForURL(/#\/marketing$/)
    await page.getByTestId('campaigns-empty').waitFor()
    await page.getByTestId('campaign-new').click()
    await page.waitForURL(/#\/marketing\/campaigns\/new$/)

    // A dwell trigger without a dwell time: the gateway's check names the problem next to the field.
    await page.getByTestId('cf-name').fill('Cosmetics dwell')
    expect(await page.getByTestId('cf-id').inputValue()).toBe('cosmetics-dwell')
    await page.getByTestId('cf-store-store-a').check()
    await page.getByTestId('cf-zone-cosmetics').check() // offered from the store's layout
    expect(await page.getByTestId('cf-zone-carpark').count()).toBe(1)
    await page.getByTestId('cf-event').selectOption('dwell')
    await page.getByTestId('cf-title').fill('10 % off skincare')
    await page.getByTestId('cf-value-kind').selectOption('percent')
    await page.getByTestId('cf-value').fill('10')
    await page.getByTestId('cf-budget').fill('100')
    await page.getByTestId('cf-start').fill('10:00')
    await page.getByTestId('cf-end').fill('22:00')
    const dwellError = page.getByTestId('campaign-errors').getByTestId('campaign-error').filter({ hasText: 'dwellS' })
    await dwellError.waitFor()
    await page.getByTestId('field-error-dwellS').waitFor()
    await expect.poll(() => page.getByTestId('campaign-validity').getAttribute('data-state'), POLL).toBe('invalid')
    // Saving anyway is refused by the gateway, and nothing is created.
    await page.getByTestId('campaign-save').click()
    await dwellError.waitFor()
    expect(page.url()).toMatch(/#\/marketing\/campaigns\/new$/)
    expect((await fromPage(page, 'GET', '/v1/campaigns')).body.campaigns).toEqual([])
    // Two problems at once: an unknown geofence cannot be named, per-day cap above per-week.
    await page.getByTestId('cf-cap-day').fill('3')
    await page.getByTestId('cf-cap-week').fill('2')
    await page.getByTestId('campaign-errors').getByTestId('campaign-error').filter({ hasText: 'perMemberPerWeek' }).waitFor()
    expect(await page.getByTestId('campaign-errors').getByTestId('campaign-error').count()).toBeGreaterThanOrEqual(2)
    await page.getByTestId('field-error-caps').waitFor()
    await page.screenshot({ path: join(process.env.DASHBOARD_SHOTS ?? join(tmpdir(), 'store-edge-dashboard-shots'), 'campaign-errors.png'), fullPage: true, animations: 'disabled' })

    // Fixed: 5 minutes of dwell, caps in order. The check turns valid, the save creates version 1.
    await page.getByTestId('cf-dwell-min').fill('5')
    await page.getByTestId('cf-cap-day').fill('1')
    await expect.poll(() => page.getByTestId('campaign-validity').getAttribute('data-state'), POLL).toBe('valid')
    expect(await page.getByTestId('campaign-error').count()).toBe(0)
    expect(await text(page, 'schedule-local-note')()).toContain(TZ)
    await page.getByTestId('campaign-save').click()
    await page.waitForURL(/#\/marketing\/campaigns\/cosmetics-dwell$/)
    await expect.poll(() => page.getByTestId('campaign-meta').getAttribute('data-version'), POLL).toBe('1')
    const saved = (await fromPage(page, 'GET', '/v1/campaigns/cosmetics-dwell')).body.campaign as Campaign
    expect(saved).toMatchObject({ event: 'dwell', dwellS: 300, zones: ['cosmetics'], stores: ['store-a'], caps: { perMemberPerDay: 1, perMemberPerWeek: 2, budget: 100 }, schedule: { start: '10:00', end: '22:00' } })
    expect(saved.coupon).toMatchObject({ title: '10 % off skincare', percentOff: 10 })
    expect(saved.coupon.valueCents).toBeUndefined()

    // Preview over the recorded week: m-1 on two local days; the 23:00 visit and the stranger are
    // suppressed (schedule, audience); m-2 dwelt too briefly to meet the trigger at all.
    await page.getByTestId('preview-run').click()
    await page.getByTestId('preview-result').waitFor()
    const { archived: _a, updatedAt: _u, ...draft } = saved as Campaign & { archived?: boolean; updatedAt?: number }
    const answer = await fromPage(page, 'POST', '/v1/campaigns/preview', { campaign: draft, days: 7 })
    expect(answer.status, JSON.stringify(answer.body)).toBe(200)
    const expected = answer.body
    expect(expected).toMatchObject({ matched: 2, members: 1 })
    expect(expected.matches.map((m: { memberRef: string }) => m.memberRef)).toEqual(['m-1', 'm-1'])
    await expect.poll(text(page, 'preview-matches'), POLL).toBe('2')
    expect(await text(page, 'preview-members')()).toBe('1')
    expect(await text(page, 'preview-events')()).toBe(String(expected.events))
    expect(expected.events).toBeGreaterThanOrEqual(events.length)
    expect(await page.getByTestId('preview-row').count()).toBe(2)
    const suppressed = Object.entries(expected.suppressed as Record<string, number>)
    expect(suppressed.reduce((a, [, n]) => a + n, 0)).toBe(2)
    for (const [reason, n] of suppressed) expect(await text(page, `preview-suppressed-${reason}`)()).toBe(String(n))

    // The audit trail and the version list show the creation.
    await page.getByTestId('campaign-audit-rows').getByTestId('campaign-audit-row').first().waitFor()
    expect(await page.getByTestId('campaign-audit-row').first().getAttribute('data-action')).toMatch(/campaign\.create/)
    await page.getByTestId('campaign-version-1').waitFor()

    // Someone else saves version 2 while this editor still holds version 1: saving is a conflict,
    // said clearly, and the reload brings their version in.
    const theirs = { ...draft, name: 'Cosmetics dwell (theirs)' }
    expect((await fromPage(page, 'PUT', '/v1/campaigns/cosmetics-dwell', theirs)).status).toBe(200)
    await page.getByTestId('cf-budget').fill('200')
    await page.getByTestId('campaign-save').click()
    await page.getByTestId('campaign-conflict').waitFor()
    expect(await text(page, 'campaign-conflict-text')()).toContain('version 1')
    await page.getByTestId('campaign-conflict-reload').click()
    await expect.poll(() => page.getByTestId('campaign-meta').getAttribute('data-version'), POLL).toBe('2')
    expect(await page.getByTestId('cf-name').inputValue()).toBe('Cosmetics dwell (theirs)')
    expect(await page.getByTestId('cf-budget').inputValue()).toBe('100')
    // Now the edit goes through as version 3 and the audit trail grows.
    await page.getByTestId('cf-budget').fill('200')
    await page.getByTestId('campaign-save').click()
    await expect.poll(() => page.getByTestId('campaign-meta').getAttribute('data-version'), POLL).toBe('3')
    await page.getByTestId('campaign-version-3').waitFor()
    await expect.poll(() => page.getByTestId('campaign-audit-row').count(), POLL).toBeGreaterThanOrEqual(3)
    expect(((await fromPage(page, 'GET', '/v1/campaigns/cosmetics-dwell')).body.campaign as Campaign).caps.budget).toBe(200)

    // Back on the list: status, trigger and budget.
    await page.getByTestId('nav-marketing').click()
    await page.getByTestId('campaign-row-cosmetics-dwell').waitFor()
    expect(await page.getByTestId('campaign-status-cosmetics-dwell').getAttribute('data-status')).toBe('enabled')
    expect(await text(page, 'campaign-trigger-cosmetics-dwell')()).toContain('cosmetics')
    await expect.poll(text(page, 'campaign-budget-cosmetics-dwell'), POLL).toBe('200 of 200')

    // Archived (confirmed inline): gone from the list until "Show archived", where it says so.
    await page.getByTestId('campaign-link-cosmetics-dwell').click()
    await page.getByTestId('campaign-archive').click()
    await page.getByTestId('campaign-archive-confirm').click()
    await page.waitForURL(/#\/marketing$/)
    await page.getByTestId('campaigns-empty').waitFor()
    await page.getByTestId('campaigns-show-archived').check()
    expect(await page.getByTestId('campaign-status-cosmetics-dwell').getAttribute('data-status')).toBe('archived')
    expect(((await fromPage(page, 'GET', '/v1/campaigns')).body.campaigns as Array<{ archived: boolean }>).map((c) => c.archived)).toEqual([true])
    // The browser logs the two refusals this test provoked (the bad rule's save, the stale save); nothing else.
    const refused = (code: number) => `console: Failed to load resource: the server responded with a status of ${code} (${code === 400 ? 'Bad Request' : 'Conflict'})`
    expect(errors).toEqual([refused(400), refused(409)])
  })

  it('marketing: draws a circle trade area on the map (click the centre, drag the radius), saves it, is offered it as a zone, and deletes it', async () => {
    const { page, errors } = await session()
    await loginUi(page, 'marketing', 'demo-marketing')
    await page.goto('/#/marketing/geofences')
    await page.getByTestId('geofence-store').selectOption('store-a')
    const map = page.getByTestId('geofence-map')
    await map.waitFor()
    await page.getByTestId('geofence-scale').waitFor()
    await page.getByTestId('geofence-store-marker').waitFor()
    await page.getByTestId('geofence-empty').waitFor()

    // The map spans 10 km: the centre 1 km east of the store, then drag 2 km further east.
    const box = (await map.boundingBox())!
    const px = (m: number) => (m / 10_000) * box.width
    const cx = box.x + box.width / 2 + px(1000)
    const cy = box.y + box.height / 2
    await page.getByTestId('geofence-tool-circle').click()
    await page.mouse.move(cx, cy)
    await page.mouse.down()
    await page.mouse.move(cx + px(1000), cy, { steps: 5 })
    await page.mouse.move(cx + px(2000), cy, { steps: 5 })
    await page.mouse.up()
    const radius = Number(await page.getByTestId('geofence-draft-circle').getAttribute('data-radius'))
    expect(radius).toBeGreaterThan(1900)
    expect(radius).toBeLessThan(2100)
    expect(Math.abs(Number(await page.getByTestId('geofence-center-east').inputValue()) - 1000)).toBeLessThan(60)
    expect(Math.abs(Number(await page.getByTestId('geofence-center-north').inputValue()))).toBeLessThan(60)
    // Typed radius wins, and is held to the 1–3 km of a trade area.
    await page.getByTestId('geofence-radius').fill('2500')
    await page.getByTestId('geofence-radius').press('Enter')
    await expect.poll(() => page.getByTestId('geofence-draft-circle').getAttribute('data-radius'), POLL).toBe('2500')
    await page.getByTestId('geofence-name').fill('East trade area')
    expect(await page.getByTestId('geofence-id').inputValue()).toBe('east-trade-area')
    await page.getByTestId('geofence-save').click()
    await page.getByTestId('geofence-row-east-trade-area').waitFor()
    await page.getByTestId('geofence-shape-east-trade-area').waitFor()
    const { geofences } = (await fromPage(page, 'GET', '/v1/stores/store-a/geofences')).body
    expect(geofences).toHaveLength(1)
    expect(geofences[0].shape.kind).toBe('circle')
    expect(geofences[0].shape.radiusM).toBe(2500)
    // Its centre is about 1 km east of the store on the ground.
    expect(Math.abs(distanceM(ORIGIN, geofences[0].shape.center) - 1000), JSON.stringify(geofences[0])).toBeLessThan(60)
    expect(geofences[0].shape.center.lng).toBeGreaterThan(ORIGIN.lng)

    // A polygon: three clicks and a double-click to close.
    await page.getByTestId('geofence-tool-polygon').click()
    for (const [dx, dy] of [[-2000, 1000], [-1000, 2500], [-3000, 2500]] as const) await page.mouse.click(box.x + box.width / 2 + px(dx), box.y + box.height / 2 - px(dy))
    await page.mouse.dblclick(box.x + box.width / 2 + px(-3000), box.y + box.height / 2 - px(1500))
    await page.getByTestId('geofence-draft-polygon').waitFor()
    expect(await page.getByTestId('geofence-draft-polygon').getAttribute('data-points')).toBe('4')
    await page.getByTestId('geofence-name').fill('North west')
    await page.getByTestId('geofence-save').click()
    await page.getByTestId('geofence-row-north-west').waitFor()

    // A campaign can name them now.
    await page.goto('/#/marketing/campaigns/new')
    await page.getByTestId('cf-store-store-a').check()
    await page.getByTestId('cf-zone-east-trade-area').waitFor()
    await page.getByTestId('cf-zone-north-west').waitFor()

    await page.goto('/#/marketing/geofences')
    await page.getByTestId('geofence-delete-east-trade-area').click()
    await page.getByTestId('geofence-delete-confirm-east-trade-area').click()
    await page.getByTestId('geofence-row-east-trade-area').waitFor({ state: 'detached' })
    expect((await fromPage(page, 'GET', '/v1/stores/store-a/geofences')).body.geofences.map((g: { id: string }) => g.id)).toEqual(['north-west'])
    expect(errors).toEqual([])
  })

  it('marketing: a coupon request an edge publishes appears in the live feed and the funnel without a reload, then turns pushed', async () => {
    const { page, errors } = await session()
    await loginUi(page, 'marketing', 'demo-marketing')
    // Marketing lands on the campaign list, loaded before this campaign existed: reload it.
    await page.waitForURL(/#\/marketing$/)
    expect((await fromPage(page, 'POST', '/v1/campaigns', campaign('welcome-a', { name: 'Welcome at Alpha' }))).status).toBe(201)
    await page.reload()
    await page.getByTestId('campaign-row-welcome-a').waitFor()
    await page.locator('[data-testid="live-indicator"][data-state="connected"]').waitFor()
    await expect.poll(text(page, 'funnel-issued-welcome-a'), POLL).toBe('0')
    expect(await text(page, 'campaign-budget-welcome-a')()).toBe('50 of 50')
    await page.evaluate(() => void ((globalThis as { __marker?: string }).__marker = 'same-document'))

    const ts = Date.now()
    const event = { id: `ev-${ts}`, type: 'enter' as const, zone: 'entrance', source: 'ble' as const, ts }
    const req: CouponRequest = {
      v: 1,
      key: couponKey('store-a', 'welcome-a', 'm-7', event.id),
      storeId: 'store-a',
      campaignId: 'welcome-a',
      campaignVersion: 1,
      memberRef: 'm-7',
      event,
      firedAt: ts,
      localDay: localTime(ts, TZ).date,
      holdout: false,
      priority: 100,
    }
    await publish(topics.storeCouponRequests('store-a'), req)

    const item = page.getByTestId('coupon-feed').locator(`[data-key="${req.key}"]`)
    await item.waitFor()
    expect(await item.getAttribute('data-status')).toBe('issued')
    expect(await item.getByTestId('coupon-item-campaign').textContent()).toBe('Welcome at Alpha')
    expect(await item.getByTestId('coupon-item-member').textContent()).toBe('m-7')
    expect(await item.getByTestId('coupon-item-store').textContent()).toBe('Alpha Market')
    await expect.poll(text(page, 'funnel-issued-welcome-a'), POLL).toBe('1')
    await expect.poll(text(page, 'campaign-budget-welcome-a'), POLL).toBe('49 of 50')
    // The outbox pushes it to the webhook; the same line turns "Pushed" and the funnel follows.
    await page.getByTestId('coupon-feed').locator(`[data-key="${req.key}"][data-push="pushed"]`).waitFor()
    expect(await page.getByTestId('coupon-feed').locator(`[data-key="${req.key}"]`).count()).toBe(1)
    expect(pushed.filter((b) => JSON.stringify(b).includes('m-7'))).toHaveLength(1)
    await expect.poll(text(page, 'funnel-pushed-welcome-a'), POLL).toBe('1')

    // What triggered it, in the zone feed beside: the member's arrival, without the member's identity.
    const arrival = { ...geofenceEvent('m-7', 'entrance', 'enter', Date.now()), zoneKind: 'indoor' as const }
    await publish(topics.storeEvents('store-a', 'geofence'), arrival)
    const zoneItem = page.getByTestId('geofence-feed').locator('[data-zone="entrance"][data-type="enter"]')
    await zoneItem.waitFor()
    expect(await zoneItem.getAttribute('data-member')).toBe('true')
    expect(await zoneItem.textContent()).not.toContain('m-7')

    // The same member again the same local day: the ledger rejects it on the day cap, and the feed says why.
    const event2 = { ...event, id: `ev-${ts}-2`, ts: ts + 1000 }
    const req2 = { ...req, key: couponKey('store-a', 'welcome-a', 'm-7', event2.id), event: event2, firedAt: ts + 1000 }
    await publish(topics.storeCouponRequests('store-a'), req2)
    const item2 = page.getByTestId('coupon-feed').locator(`[data-key="${req2.key}"]`)
    await item2.waitFor()
    expect(await item2.getAttribute('data-status')).toBe('rejected')
    expect(await item2.getByTestId('coupon-item-reason').textContent()).toContain('cap-day')
    // Newest first.
    expect(await page.getByTestId('coupon-item').first().getAttribute('data-key')).toBe(req2.key)
    await expect.poll(() => page.getByTestId('funnel-rejected-welcome-a').textContent(), POLL).toBe('1')
    expect(await page.evaluate(() => (globalThis as { __marker?: string }).__marker)).toBe('same-document')

    // A fresh page starts the feed from the ledger (GET /v1/coupons): both decisions, as they stand now.
    await page.reload()
    await page.getByTestId('coupon-feed').locator(`[data-key="${req.key}"][data-status="issued"][data-push="pushed"]`).waitFor()
    await page.getByTestId('coupon-feed').locator(`[data-key="${req2.key}"][data-status="rejected"]`).waitFor()
    expect(await page.getByTestId('coupon-feed').locator(`[data-key="${req2.key}"]`).getByTestId('coupon-item-reason').textContent()).toContain('cap-day')
    expect(errors).toEqual([])
  })

  it.each([
    ['ops', 'demo-ops'],
    ['security', 'demo-security'],
  ])('%s: no Marketing navigation, the marketing pages are forbidden, and the API refuses campaigns:write', async (username, password) => {
    const { page, errors } = await session()
    await loginUi(page, username, password)
    expect(await page.getByTestId('nav-marketing').count()).toBe(0)
    for (const route of ['/#/marketing', '/#/marketing/campaigns/new', '/#/marketing/geofences']) {
      await page.goto(route)
      await page.getByTestId('forbidden').waitFor()
      expect(await page.getByTestId('campaigns-table').count()).toBe(0)
    }
    expect((await fromPage(page, 'POST', '/v1/campaigns', campaign('nope'))).status).toBe(403)
    expect((await fromPage(page, 'POST', '/v1/campaigns/validate', campaign('nope'))).status).toBe(403)
    expect((await fromPage(page, 'POST', '/v1/stores/store-a/geofences', { id: 'nope', name: 'x', shape: { kind: 'circle', center: ORIGIN, radiusM: 1000 } })).status).toBe(403)
    expect(await statusFromPage(page, '/v1/campaigns')).toBe(403)
    expect(errors).toEqual([])
  })

  it('renders the marketing pages without overflow, light and dark, desktop and phone (screenshots for a human look)', async () => {
    const { page, errors } = await session()
    await loginUi(page, 'admin', 'demo-admin')
    await page.getByTestId('nav-marketing').click()
    await page.getByTestId('campaigns-table').waitFor()
    const noOverflow = 'document.documentElement.scrollWidth <= document.documentElement.clientWidth'
    const shots = process.env.DASHBOARD_SHOTS ?? join(tmpdir(), 'store-edge-dashboard-shots')
    for (const [name, route, ready] of [
      ['marketing', '/#/marketing', 'coupon-feed'],
      ['campaign', '/#/marketing/campaigns/new', 'campaign-form'],
      ['geofences', '/#/marketing/geofences', 'geofence-map'],
    ] as const) {
      await page.setViewportSize({ width: 1280, height: 900 })
      await page.goto(route)
      await page.getByTestId(ready).waitFor()
      expect(await page.evaluate<boolean>(noOverflow), name).toBe(true)
      await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true, animations: 'disabled' })
      await page.emulateMedia({ colorScheme: 'dark' })
      await page.screenshot({ path: join(shots, `${name}-dark.png`), fullPage: true, animations: 'disabled' })
      await page.emulateMedia({ colorScheme: 'light' })
      await page.setViewportSize({ width: 390, height: 844 })
      await expect.poll(() => page.evaluate<boolean>(noOverflow), POLL).toBe(true)
      await page.screenshot({ path: join(shots, `${name}-phone.png`), fullPage: true, animations: 'disabled' })
    }
    expect(errors).toEqual([])
  })
})
