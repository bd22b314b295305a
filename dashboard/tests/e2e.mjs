// The dashboard in a real browser: Debian's Chromium driven by playwright-core, run by `node --test`.
//
//   DASHBOARD_BASE_URL=http://127.0.0.1:3000 npm test   against a running `crypto-dashboard serve`
//                                                       (simulated ingestion done, API up)
//   DASHBOARD_FIXTURE=1 npm test                        starts tests/fixture-server.mjs itself
//
//   DASHBOARD_SKIP_ERROR_TEST=1   skip the test that needs the API to be failing. Against the real
//                                 server, run it on its own with the database stopped:
//                                 node --test --test-name-pattern="failing API" tests/e2e.mjs
//   CHROMIUM_PATH                 the browser (default /usr/bin/chromium)
//
// Screenshots of every main view, at 1280 px and 390 px wide, land in tests/screenshots/.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startFixtureServer } from './fixture-server.mjs';

const SCREENSHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');
const FIXTURE = process.env.DASHBOARD_FIXTURE === '1';
const SKIP_ERROR_TEST = process.env.DASHBOARD_SKIP_ERROR_TEST === '1';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const COINS = ['bitcoin', 'ethereum', 'tether', 'binancecoin', 'solana', 'ripple', 'usd-coin', 'cardano',
  'dogecoin', 'tron', 'avalanche-2'];

let baseUrl;
let fixture;
let browser;

before(async () => {
  if (FIXTURE) {
    fixture = await startFixtureServer();
    baseUrl = fixture.url;
  } else {
    baseUrl = process.env.DASHBOARD_BASE_URL?.replace(/\/+$/, '');
    if (!baseUrl) {
      throw new Error('Set DASHBOARD_BASE_URL=http://127.0.0.1:3000 (a running crypto-dashboard serve) ' +
        'or DASHBOARD_FIXTURE=1 (start the fixture server)');
    }
  }
  await waitForServer(`${baseUrl}/`);
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  await mkdir(SCREENSHOTS, { recursive: true });
  // launch() gives the browser a fresh temporary --user-data-dir and deletes it on close.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

/** The page must answer before any test starts (bounded: 20 s). */
async function waitForServer(url, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      throw new Error(`${url} did not answer 200 within ${timeoutMs / 1000} s: is the server running, and dashboard/dist built?`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

after(async () => {
  await browser?.close();
  await fixture?.close();
});

/**
 * A fresh browser context (own storage) and page. Requests to any other origin are blocked and
 * recorded; page errors and console errors are collected (resource load failures excepted: the
 * 404 and 503 tests cause them on purpose). assertClean() checks both at the end of a test.
 */
async function open(t, { viewport = DESKTOP } = {}) {
  const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: 'UTC', colorScheme: 'light' });
  context.setDefaultTimeout(15_000);
  t.after(() => context.close());
  const origin = new URL(baseUrl).origin;
  const external = [];
  await context.route((url) => url.origin !== origin, (route) => {
    external.push(route.request());
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
  });
  return {
    page,
    goto: (hash = '') => page.goto(`${baseUrl}/${hash}`),
    assertClean() {
      assert.deepEqual(problems, [], 'no page or console errors');
      // Coin logos may point at CoinGecko's image host; nothing else may leave the origin.
      const offending = external.filter((r) => !(r.resourceType() === 'image' && !FIXTURE)).map((r) => r.url());
      assert.deepEqual(offending, [], 'no requests to other origins');
    },
  };
}

const shot = (page, name) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
const rows = (page) => page.locator('table.market tbody tr');
const chartReady = (page, interval, range) =>
  page.locator(`.chart-area[data-state="ready"][data-interval="${interval}"][data-range="${range}"] .uplot canvas`).waitFor();
const chartPoints = async (page) => Number(await page.locator('.chart-area').getAttribute('data-points'));

async function waitForPricesIn(page, symbol) {
  await page.waitForFunction((s) => {
    const cells = [...document.querySelectorAll('table.market td.price')];
    return cells.length === 11 && cells.every((td) => td.textContent.includes(s));
  }, symbol);
}

test('overview lists the 11 coins with prices, signed changes and sparklines', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await goto();
  await rows(page).first().waitFor();
  assert.deepEqual(await rows(page).evaluateAll((trs) => trs.map((tr) => tr.dataset.coin)), COINS);
  for (const price of await page.locator('table.market td.price').allTextContents()) assert.match(price, /^\$\d/);
  assert.equal(await page.locator('table.market svg.spark polyline').count(), 11);
  assert.equal(await page.locator('table.market svg.spark[role="img"][aria-label^="Last 7 days"]').count(), 11);
  for (const change of await page.locator('table.market td.num .change').allTextContents()) {
    assert.match(change, /^(▲ \+|▼ \u2212|)\d+\.\d\d%$|^—$/, `a change shows its sign: ${change}`);
  }
  for (const label of await page.locator('table.market td.num .visually-hidden').allTextContents()) {
    assert.match(label, /^(up|down|unchanged|no data)/);
  }
  // A row's link is what keyboard and screen reader users reach.
  assert.equal(await page.locator('table.market a.coin-link').count(), 11);
  await page.waitForFunction(() => !document.getElementById('freshness').textContent.includes('Checking'));
  await shot(page, 'overview-desktop');

  await page.setViewportSize(PHONE);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling at 390 px');
  await shot(page, 'overview-phone');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shot(page, 'overview-phone-dark');
  assertClean();
});

test('switching the currency to EUR re-renders in euros and is remembered after a reload', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await goto();
  await waitForPricesIn(page, '$');
  const market = page.waitForResponse((r) => r.url().includes('/api/market?currency=eur'));
  await page.selectOption('#currency', 'eur');
  assert.equal((await market).status(), 200);
  await waitForPricesIn(page, '€');
  assert.match(page.url(), /currency=eur/);

  await page.goto(`${baseUrl}/`); // no currency in the address: it comes from localStorage
  await waitForPricesIn(page, '€');
  assert.equal(await page.inputValue('#currency'), 'eur');
  await page.reload();
  await waitForPricesIn(page, '€');
  await shot(page, 'overview-eur-desktop');
  assertClean();
});

test('clicking a coin opens its page with description, metadata and a chart', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await goto();
  await page.getByRole('link', { name: /^Bitcoin/ }).click();
  await page.waitForURL(/#\/coin\/bitcoin\?currency=usd$/);
  await page.getByRole('heading', { level: 1, name: 'Bitcoin' }).waitFor();
  assert.ok(await page.evaluate(() => document.activeElement?.tagName === 'H1'), 'focus moves to the new page heading');
  await chartReady(page, 'daily', 30);
  const description = await page.locator('#coin-description').innerText();
  assert.ok(description.trim().length > 20, 'the description is shown');
  if (FIXTURE) {
    assert.match(description, /<b>this<\/b>/, 'the description is text, not HTML');
    assert.equal(await page.locator('#coin-description b').count(), 0);
  }
  const website = page.locator('.website a');
  if (await website.count()) {
    const rel = (await website.getAttribute('rel')).split(' ');
    assert.ok(rel.includes('noopener') && rel.includes('noreferrer'), 'homepage link: rel="noopener noreferrer"');
  }
  assert.match(await page.locator('.price-now').innerText(), /^\$\d/);
  assert.equal(await page.locator('.latest-list dt').count(), 4);
  assert.ok((await chartPoints(page)) > 20);
  await shot(page, 'coin-desktop');

  await page.setViewportSize(PHONE);
  await page.waitForFunction(() => document.querySelector('.chart-frame canvas')?.getBoundingClientRect().width < 390);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling at 390 px');
  await shot(page, 'coin-phone');
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize(DESKTOP);
  await shot(page, 'coin-desktop-dark');
  assertClean();
});

test('keyboard: Tab reaches the coin links, Enter opens one, chart toggles are pressed buttons', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await goto();
  await rows(page).first().waitFor();
  for (let i = 0; i < 10; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement?.classList.contains('coin-link'))) break;
  }
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('href')), '#/coin/bitcoin?currency=usd');
  await page.keyboard.press('Enter');
  await chartReady(page, 'daily', 30);
  const hourly = page.getByRole('button', { name: 'Hourly', exact: true });
  assert.equal(await hourly.getAttribute('aria-pressed'), 'false');
  await hourly.focus();
  await page.keyboard.press('Enter');
  await chartReady(page, 'hourly', 30);
  assert.equal(await hourly.getAttribute('aria-pressed'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Hourly', 'focus stays on the toggle');
  assert.equal(await page.getByRole('button', { name: 'Daily', exact: true }).getAttribute('aria-pressed'), 'false');
  // Arrow keys read the chart's points.
  await page.locator('.chart-frame').focus();
  await page.keyboard.press('End');
  await page.locator('.chart-tip').waitFor({ state: 'visible' });
  assert.match(await page.locator('.chart-frame + [aria-live]').innerText(), /UTC: \$\d/);
  assertClean();
});

test('interval and range toggles change the request and the chart', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await goto('#/coin/bitcoin?currency=usd');
  await chartReady(page, 'daily', 30);
  const seen = { 'daily 30': await chartPoints(page) };

  async function press(name, interval, range) {
    const response = page.waitForResponse((r) => r.url().includes('/api/coins/bitcoin/prices?'));
    await page.getByRole('button', { name, exact: true }).click();
    const res = await response;
    assert.equal(res.status(), 200, `prices request ${res.url()}: ${await res.text()}`);
    const query = new URL(res.url()).searchParams;
    assert.equal(query.get('interval'), interval);
    assert.equal(query.get('currency'), 'usd');
    await chartReady(page, interval, range);
    assert.equal(await page.getByRole('button', { name, exact: true }).getAttribute('aria-pressed'), 'true');
    seen[`${interval} ${range}`] = await chartPoints(page);
    return query.get('from');
  }

  const from30 = await press('Hourly', 'hourly', 30);
  assert.match(from30, /^\d{4}-\d\d-\d\dT\d\d:00:00Z$/);
  const from7 = await press('7D', 'hourly', 7);
  const from90 = await press('90D', 'hourly', 90);
  assert.ok(from90 < from30 && from30 < from7, 'a longer range starts earlier');
  assert.ok(Date.now() - Date.parse(from90) <= 90 * 86_400_000, 'hourly ranges stay within the API limit of 90 days');
  assert.ok(seen['hourly 7'] < seen['hourly 30'] && seen['hourly 30'] < seen['hourly 90'], JSON.stringify(seen));
  assert.ok(seen['hourly 30'] > seen['daily 30'], JSON.stringify(seen));

  // Hover: tooltip with time and price.
  const over = await page.locator('.chart-frame .u-over').boundingBox();
  await page.mouse.move(over.x + over.width * 0.6, over.y + over.height / 2);
  const tip = page.locator('.chart-tip');
  await tip.waitFor({ state: 'visible' });
  assert.match(await tip.innerText(), /^\$[\d,.]+\n\w{3} \d+, \d{4}, \d+:00 [AP]M UTC$/);
  await shot(page, 'coin-hourly-90d-tooltip-desktop');
  await page.mouse.move(0, 0);
  await tip.waitFor({ state: 'hidden' });

  const fromDaily = await press('Daily', 'daily', 90);
  assert.match(fromDaily, /^\d{4}-\d\d-\d\d$/);
  assert.ok(seen['daily 90'] > seen['daily 30'] && seen['daily 90'] <= 92, JSON.stringify(seen));

  // The choice is part of the address, so it survives a reload.
  await press('Hourly', 'hourly', 90);
  await press('7D', 'hourly', 7);
  assert.match(page.url(), /interval=hourly/);
  assert.match(page.url(), /range=7d/);
  await page.reload();
  await chartReady(page, 'hourly', 7);
  assert.equal(await page.getByRole('button', { name: '7D', exact: true }).getAttribute('aria-pressed'), 'true');
  await shot(page, 'coin-hourly-7d-desktop');
  assertClean();
});

test('a deep link to a coin in GBP survives a reload', async (t) => {
  const { page, goto, assertClean } = await open(t, { viewport: PHONE });
  await goto('#/coin/ethereum?currency=gbp');
  for (let i = 0; i < 2; i += 1) {
    await page.getByRole('heading', { level: 1, name: 'Ethereum' }).waitFor();
    await chartReady(page, 'daily', 30);
    assert.match(await page.locator('.price-now').innerText(), /^£\d/);
    assert.match(await page.locator('#chart-title').innerText(), /GBP/);
    assert.equal(await page.inputValue('#currency'), 'gbp');
    assert.match(page.url(), /#\/coin\/ethereum\?currency=gbp$/);
    if (i === 0) await page.reload();
  }
  await shot(page, 'coin-gbp-phone');
  assertClean();
});

test('an unknown coin shows a not-found state with a way back', async (t) => {
  const { page, goto, assertClean } = await open(t);
  const response = page.waitForResponse((r) => r.url().endsWith('/api/coins/not-a-coin'));
  await goto('#/coin/not-a-coin?currency=eur');
  const res = await response;
  assert.equal(res.status(), 404);
  assert.equal((await res.json()).error.code, 'NOT_FOUND');
  await page.getByRole('heading', { level: 1, name: 'Unknown coin' }).waitFor();
  assert.match(await page.locator('main').innerText(), /no coin “not-a-coin”/);
  await shot(page, 'unknown-coin-desktop');
  await page.getByRole('link', { name: 'Back to all coins' }).click();
  await waitForPricesIn(page, '€');
  assertClean();
});

test('the simulated-data notice follows the latest ingestion run', async (t) => {
  const latest = (await (await fetch(`${baseUrl}/api/ingestion/runs?limit=1`)).json()).data[0];
  if (FIXTURE) assert.equal(latest.simulated, true);
  const { page, goto, assertClean } = await open(t);
  await goto();
  await page.waitForFunction(() => !document.getElementById('freshness').textContent.includes('Checking'));
  const notice = page.locator('#simulated-notice');
  assert.equal(await notice.isVisible(), latest?.simulated === true);
  if (latest?.simulated) assert.match(await notice.innerText(), /Simulated data/);

  // Live data: no notice.
  await page.route((url) => url.pathname === '/api/ingestion/runs', (route) => route.fulfill({
    json: { success: true, data: [{ ...latest, simulated: false, status: 'succeeded', finishedAt: new Date().toISOString() }] },
  }));
  await page.reload();
  await page.locator('#freshness', { hasText: 'Updated' }).waitFor();
  assert.equal(await notice.isVisible(), false);
  assertClean();
});

test('empty states: no coins, and coins without prices yet', async (t) => {
  const { page, goto, assertClean } = await open(t);
  let data = [];
  await page.route((url) => url.pathname === '/api/market', (route) => route.fulfill({ json: { success: true, data } }));
  await goto();
  await page.getByRole('heading', { name: 'No coins are tracked' }).waitFor();

  data = COINS.map((id) => ({
    id, symbol: id.slice(0, 3), name: id, imageUrl: null,
    price: null, change24h: null, change7d: null, sparkline7d: [], updatedAt: null,
  }));
  await page.reload();
  await page.getByRole('heading', { name: 'No prices yet' }).waitFor();
  assert.match(await page.locator('main').innerText(), /crypto-dashboard ingest/);
  await shot(page, 'empty-desktop');
  assertClean();
});

test('a network error shows the error state, and retry recovers', async (t) => {
  const { page, goto, assertClean } = await open(t);
  const isMarket = (url) => url.pathname === '/api/market';
  await page.route(isMarket, (route) => route.abort('connectionrefused'));
  await goto();
  const alert = page.getByRole('alert');
  await alert.getByRole('heading', { name: 'Cannot reach the server' }).waitFor();
  await page.unroute(isMarket);
  await alert.getByRole('button', { name: 'Try again' }).click();
  await waitForPricesIn(page, '$');
  assertClean();
});

test('error state: a failing API shows an error with a retry button', { skip: SKIP_ERROR_TEST && 'DASHBOARD_SKIP_ERROR_TEST=1' }, async (t) => {
  // Fixture: the fixture answers 503. Real server: run with the database stopped.
  fixture?.setFailing(true);
  t.after(() => fixture?.setFailing(false));
  const { page, goto, assertClean } = await open(t);
  await goto();
  const alert = page.getByRole('alert');
  const retry = alert.getByRole('button', { name: 'Try again' });
  await retry.waitFor();
  assert.match(await alert.innerText(), /unavailable|server/i);
  await shot(page, 'error-desktop');
  await page.setViewportSize(PHONE);
  await shot(page, 'error-phone');

  const again = page.waitForResponse((r) => r.url().includes('/api/market'));
  fixture?.setFailing(false);
  await retry.click();
  await again;
  if (fixture) await waitForPricesIn(page, '$');
  else await page.getByRole('alert').getByRole('button', { name: 'Try again' }).waitFor();
  assertClean();
});
