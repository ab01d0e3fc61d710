import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

/** Debian's Chromium: no browser download, the same binary the CI image has. */
export const CHROMIUM = '/usr/bin/chromium'

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
}

/** One role's browser session: its own context (cookie jar), one page, and what went wrong in it. */
export interface RolePage {
  context: BrowserContext
  page: Page
  /** Uncaught exceptions and console errors of the page; a test ends by expecting this empty. */
  errors: string[]
}

/** A fresh context per role: a fixed locale and zone, so numbers and times render the same everywhere. */
export async function rolePage(browser: Browser, baseURL: string): Promise<RolePage> {
  const context = await browser.newContext({ baseURL, locale: 'en-US', timezoneId: 'UTC', viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`))
  page.on('console', (m) => {
    // The browser logs every non-2xx fetch as a console error; the 401/403s are what some tests ask for.
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 40[13]/.test(m.text())) errors.push(`console: ${m.text()}`)
  })
  return { context, page, errors }
}

/** Log in through the form, the way a person does, and wait for the app to leave the login page. */
export async function loginUi(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/')
  await page.getByTestId('login-username').fill(username)
  await page.getByTestId('login-password').fill(password)
  await page.getByTestId('login-submit').click()
  await page.getByTestId('nav').waitFor({ state: 'visible' })
}

/** Text of a test id, trimmed ('' while absent): for `expect.poll`. */
export const text = (page: Page, testid: string) => () =>
  page
    .getByTestId(testid)
    .first()
    .textContent({ timeout: 500 })
    .then((t) => (t ?? '').trim())
    .catch(() => '')

/** HTTP status of a same-origin GET made from the page (with its session cookie), as the app's own fetches are. */
export const statusFromPage = (page: Page, path: string) => page.evaluate((p) => fetch(p, { credentials: 'same-origin' }).then((r) => r.status), path)

/** Test ids present under a container, e.g. the rows of a table. */
export const testIdsIn = (page: Page, container: string) =>
  page.getByTestId(container).locator('[data-testid]').evaluateAll((els) => els.map((e) => e.getAttribute('data-testid') ?? ''))
