import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import type { Browser, Route } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { topics, type MinuteAggregate } from '../edge/contracts/index.ts'
import { GatewayApp } from '../gateway/app.ts'
import { tempDir, testLogger, waitFor } from './helpers.ts'
import { launchChromium, loginUi, rolePage, statusFromPage, testIdsIn, text, type RolePage } from './support/browser.ts'
import { gatewayTestConfig, syntheticAggregate } from './support/gateway.ts'

/**
 * The dashboard in a real browser (Debian's Chromium) against a real gateway: embedded central
 * broker, PGlite, the HTTP API and its SSE stream. Data arrives the way edges send it, over MQTT.
 */
const MINUTE = 60_000
const ZONES = ['entrance', 'floor']
const POLL = { timeout: 15_000, interval: 50 }
const minuteNow = () => Math.floor(Date.now() / MINUTE) * MINUTE

/** A synthetic aggregate whose zones hold exactly these occupancies (the store's occupancy is their sum). */
function aggregate(storeId: string, minute: number, occupancy: [number, number]): MinuteAggregate {
  const a = syntheticAggregate(storeId, minute, ZONES)
  a.zones.forEach((z, i) => (z.occupancy = occupancy[i]!))
  return a
}

describe('dashboard in Chromium against a live gateway', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let app: GatewayApp
  let edge: MqttClient
  let browser: Browser
  const open: RolePage[] = []

  const publish = (topic: string, payload: unknown, retain = false) => edge.publishAsync(topic, JSON.stringify(payload), { qos: 1, retain })
  const session = async () => {
    const s = await rolePage(browser, app.url)
    open.push(s)
    return s
  }

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir('store-edge-browser-'))
    ;[app, browser] = await Promise.all([
      new GatewayApp({ config: gatewayTestConfig(dir, { auth: { demoUsers: true } }), logger: testLogger(), defaultMetrics: false }).start(),
      launchChromium(),
    ])
    await app.data.stores.create({ id: 'store-a', name: 'Alpha Market', timezone: 'UTC' })
    await app.data.stores.create({ id: 'store-b', name: 'Beta Market', timezone: 'UTC' })
    await app.data.users.create({ username: 'ops-a', displayName: 'Ops of Alpha', password: 'scoped-pass-1', role: 'ops', stores: ['store-a'] })
    edge = await mqtt.connectAsync(app.brokerUrl, { clientId: 'fake-edge', reconnectPeriod: 0 })
    // GatewayApp.start() resolves before its live consumer has subscribed (LiveConsumer.start does not
    // wait for the SUBACK), and a non-retained message before that is lost to the live window. The
    // retained health reaching the window proves the subscription is there.
    for (const id of ['store-a', 'store-b']) await publish(topics.storeHealth(id), { v: 1, storeId: id, status: 'online', ts: Date.now() }, true)
    await waitFor(() => app.hub.window.get('store-a')?.health && app.hub.window.get('store-b')?.health, 'the live consumer subscribed')
    // Eight minutes of history ending three minutes ago: store-a at 5 + 7 = 12 people, store-b at 8 + 12 = 20.
    const m = minuteNow()
    for (const [id, occ] of [['store-a', [5, 7]], ['store-b', [8, 12]]] as const) {
      for (let k = 10; k >= 3; k--) await publish(topics.storeAgg(id), aggregate(id, m - k * MINUTE, [...occ]))
    }
    await waitFor(() => ['store-a', 'store-b'].every((id) => app.hub.window.get(id)?.points.length === 8), 'history in the live window')
  })

  afterEach(async () => {
    for (const s of open.splice(0)) await s.context.close()
  })

  afterAll(async () => {
    await browser?.close()
    await edge?.endAsync()
    await app?.stop()
    await cleanup?.()
  })

  it('ops: login form → overview that updates live in place → store page with charts, live tile, presence feed and range', async () => {
    const { page, errors } = await session()
    await loginUi(page, 'ops', 'demo-ops')
    await page.waitForURL(/#\/overview$/)
    await expect.poll(text(page, 'user-role'), POLL).toBe('ops')
    await expect.poll(text(page, 'store-link-store-a'), POLL).toBe('Alpha Market')
    await expect.poll(text(page, 'store-link-store-b'), POLL).toBe('Beta Market')
    await expect.poll(text(page, 'store-occupancy-store-a'), POLL).toBe('12')
    await expect.poll(text(page, 'overview-total-occupancy'), POLL).toBe('32')
    await expect.poll(text(page, 'overview-stores-online'), POLL).toBe('2 / 2')
    expect(await page.getByTestId('store-status-store-a').getAttribute('data-status')).toBe('online')
    await page.locator('[data-testid="live-indicator"][data-state="connected"]').waitFor()
    expect(await text(page, 'live-indicator')()).toBe('Live: connected')

    // A new minute for store-a: 30 + 11 = 41 people. Row and total change in place, no reload, and
    // through the stream alone: the view's own re-fetch of /v1/overview is held until it is done.
    const url = page.url()
    await page.evaluate(() => void ((globalThis as { __marker?: string }).__marker = 'same-document'))
    const held: Route[] = []
    await page.route('**/v1/overview', (route) => void held.push(route))
    await publish(topics.storeAgg('store-a'), aggregate('store-a', minuteNow() - MINUTE, [30, 11]))
    await expect.poll(text(page, 'store-occupancy-store-a'), POLL).toBe('41')
    await expect.poll(text(page, 'overview-total-occupancy'), POLL).toBe('61')
    expect(await text(page, 'store-occupancy-store-b')()).toBe('20')
    expect(page.url()).toBe(url)
    expect(await page.evaluate(() => (globalThis as { __marker?: string }).__marker)).toBe('same-document')
    await page.unroute('**/v1/overview')
    for (const r of held) await r.continue()
    expect(Number(await page.getByTestId('last-update').getAttribute('data-ts'))).toBeGreaterThan(0)

    // The store page, reached from the table.
    await page.getByTestId('store-link-store-a').click()
    await page.waitForURL(/#\/stores\/store-a$/)
    await expect.poll(text(page, 'store-title'), POLL).toBe('Alpha Market')
    await expect.poll(text(page, 'store-live-occupancy'), POLL).toBe('41')
    await expect.poll(text(page, 'zone-occupancy-entrance'), POLL).toBe('30')
    for (const chart of ['chart-occupancy', 'chart-visits']) {
      const canvas = page.getByTestId(chart).locator('canvas')
      await canvas.waitFor()
      expect((await canvas.boundingBox())?.width, chart).toBeGreaterThan(300)
    }
    await page.locator('[data-testid="live-indicator"][data-state="connected"]').waitFor()

    await publish(topics.storeAgg('store-a'), aggregate('store-a', minuteNow(), [50, 3]))
    await expect.poll(text(page, 'store-live-occupancy'), POLL).toBe('53')
    await expect.poll(text(page, 'zone-occupancy-floor'), POLL).toBe('3')

    await publish(topics.storeEvents('store-a', 'presence'), { v: 1, type: 'enter', id: 'h:abc', source: 'ble', zone: 'fitting-rooms', ts: Date.now(), confidence: 0.9, randomAddress: false })
    const item = page.getByTestId('presence-feed').getByTestId('presence-item').filter({ hasText: 'fitting-rooms' })
    await item.waitFor()
    expect(await item.getAttribute('data-type')).toBe('enter')
    expect(await item.textContent()).not.toContain('h:abc') // no device identity reaches the browser

    await page.getByTestId('range-select').selectOption('6h')
    await page.locator('[data-testid="chart-occupancy"] [aria-label="Occupancy per zone, last 6 hours"] canvas').waitFor()
    await page.getByTestId('chart-visits').locator('canvas').waitFor()
    expect(await page.getByTestId('series-error').isHidden()).toBe(true)
    expect(await page.getByTestId('error-banner').count()).toBe(0)
    expect(errors).toEqual([])
  })

  it.each([
    ['marketing', 'demo-marketing', /#\/marketing$/],
    ['security', 'demo-security', /#\/security$/],
  ])('%s: nav follows the role, its landing page, forbidden overview in the UI and in the API', async (username, password, landing) => {
    const { page, errors } = await session()
    await loginUi(page, username, password)
    await page.waitForURL(landing)
    expect(await page.getByTestId('nav-marketing').count()).toBe(username === 'marketing' ? 1 : 0)
    await page.getByTestId('nav-home').click()
    await page.waitForURL(/#\/home$/)
    await page.getByTestId('home-store-store-a').waitFor()
    // Both roles have views of their own: no "later release" note.
    expect(await page.getByTestId('placeholder').count()).toBe(0)
    expect(await page.getByTestId('nav-security').count()).toBe(username === 'security' ? 1 : 0)
    expect(await page.getByTestId('nav-home').count()).toBe(1)
    expect(await page.getByTestId('nav-overview').count()).toBe(0)
    expect(await page.getByTestId('nav-admin').count()).toBe(0)

    await page.goto('/#/overview')
    await page.getByTestId('forbidden').waitFor()
    expect(await page.getByTestId('overview-table').count()).toBe(0)

    for (const path of ['/v1/overview', '/v1/stores/store-a/series', '/v1/users', '/v1/audit']) {
      expect(await statusFromPage(page, path), path).toBe(403)
    }
    expect(await statusFromPage(page, '/v1/stores')).toBe(200)
    expect(errors).toEqual([])
  })

  it('admin: creates a scoped user in the form, sees it and its audit entry; the new user logs in to its one store', async () => {
    const { page, errors } = await session()
    await loginUi(page, 'admin', 'demo-admin')
    await page.getByTestId('nav-overview').waitFor()
    await page.getByTestId('nav-admin').click()
    await page.waitForURL(/#\/admin$/)

    await page.getByTestId('user-username').fill('mkt-b')
    await page.getByTestId('user-displayname').fill('Marketing Beta')
    await page.getByTestId('user-password').fill('campaign-pass-1')
    await page.getByTestId('user-new-role').selectOption('marketing')
    await page.getByTestId('user-scope-selected').check()
    await page.getByTestId('user-store-store-b').check()
    await page.getByTestId('user-create-submit').click()

    const row = page.getByTestId('user-row-mkt-b')
    await row.waitFor()
    expect(await row.textContent()).toContain('Beta Market')
    expect(await page.getByTestId('user-set-role-mkt-b').inputValue()).toBe('marketing')
    expect(await page.getByTestId('user-form-error').isHidden()).toBe(true)
    const entry = page.getByTestId('audit-rows').locator('tr').filter({ hasText: 'user.create' }).filter({ hasText: 'mkt-b' })
    await entry.waitFor()
    expect(await entry.locator('td').allTextContents()).toEqual(expect.arrayContaining(['admin', 'user.create', 'mkt-b']))
    expect((await app.data.users.getByUsername('mkt-b'))?.stores).toEqual(['store-b'])

    const other = await session()
    await loginUi(other.page, 'mkt-b', 'campaign-pass-1')
    await other.page.waitForURL(/#\/marketing$/)
    await other.page.getByTestId('nav-home').click()
    await other.page.getByTestId('home-store-store-b').waitFor()
    expect((await testIdsIn(other.page, 'home-stores')).filter((t) => t.startsWith('home-store-'))).toEqual(['home-store-store-b'])
    expect(await text(other.page, 'user-role')()).toBe('marketing')
    expect([...errors, ...other.errors]).toEqual([])
  })

  it('store scope: ops scoped to store-a sees only store-a; store-b is forbidden in the UI and the API', async () => {
    const { page, errors } = await session()
    await loginUi(page, 'ops-a', 'scoped-pass-1')
    await page.getByTestId('store-row-store-a').waitFor()
    expect((await testIdsIn(page, 'overview-rows')).filter((t) => t.startsWith('store-row-'))).toEqual(['store-row-store-a'])
    expect(await text(page, 'overview-stores-online')()).toBe('1 / 1')

    await page.goto('/#/stores/store-b')
    await page.getByTestId('forbidden').waitFor()
    expect(await page.getByTestId('store-live-occupancy').count()).toBe(0)
    expect(await statusFromPage(page, '/v1/stores/store-b/series')).toBe(403)
    expect(await statusFromPage(page, '/v1/stores/store-a/series')).toBe(200)
    expect(errors).toEqual([])
  })

  it('logout ends the session on the gateway; a wrong password shows the login error', async () => {
    const { page, errors } = await session()
    await loginUi(page, 'ops', 'demo-ops')
    expect(await statusFromPage(page, '/v1/auth/me')).toBe(200)
    await page.getByTestId('logout').click()
    await page.getByTestId('login-form').waitFor()
    expect(await statusFromPage(page, '/v1/auth/me')).toBe(401)
    expect(await page.getByTestId('nav').isHidden()).toBe(true)
    await page.goto('/#/overview')
    await page.waitForURL(/#\/login$/)

    await page.getByTestId('login-username').fill('ops')
    await page.getByTestId('login-password').fill('not-the-password')
    await page.getByTestId('login-submit').click()
    await page.getByTestId('login-error').waitFor()
    expect(await text(page, 'login-error')()).not.toBe('')
    expect(await statusFromPage(page, '/v1/auth/me')).toBe(401)
    expect(errors).toEqual([])
  })

  it('renders the overview and the store page without overflow (screenshots for a human look)', async () => {
    const { page, errors } = await session()
    await loginUi(page, 'ops', 'demo-ops')
    await expect.poll(text(page, 'store-occupancy-store-b'), POLL).toBe('20')
    const noOverflow = 'document.documentElement.scrollWidth <= document.documentElement.clientWidth'
    expect(await page.evaluate<boolean>(noOverflow)).toBe(true)
    // Overwritten on each run; DASHBOARD_SHOTS puts them elsewhere.
    const shots = process.env.DASHBOARD_SHOTS ?? join(tmpdir(), 'store-edge-dashboard-shots')
    await page.screenshot({ path: join(shots, 'overview.png'), fullPage: true, animations: 'disabled' })

    await page.goto('/#/stores/store-b')
    await expect.poll(text(page, 'store-live-occupancy'), POLL).toBe('20')
    await page.getByTestId('chart-visits').locator('canvas').waitFor()
    expect(await page.evaluate<boolean>(noOverflow)).toBe(true)
    await page.screenshot({ path: join(shots, 'store.png'), fullPage: true, animations: 'disabled' })

    // The OS turns dark with the page open: the "All zones" line (drawn in the text colour) follows.
    const allZones = page.getByTestId('chart-occupancy').locator('.u-series', { hasText: 'All zones' }).locator('.u-marker')
    const lightBorder = await allZones.evaluate((el) => String(el.style.border))
    await page.emulateMedia({ colorScheme: 'dark' })
    await expect.poll(() => allZones.evaluate((el) => String(el.style.border)), POLL).not.toBe(lightBorder)
    await page.screenshot({ path: join(shots, 'store-dark.png'), fullPage: true, animations: 'disabled' })
    await page.emulateMedia({ colorScheme: 'light' })

    await page.setViewportSize({ width: 390, height: 844 }) // a phone
    await expect.poll(() => page.evaluate<boolean>(noOverflow), POLL).toBe(true)
    await page.screenshot({ path: join(shots, 'store-phone.png'), fullPage: true, animations: 'disabled' })
    expect(errors).toEqual([])
  })
})
