// The dashboard in a real browser: Debian's Chromium driven by playwright-core, run by `node --test`.
//
//   DASHBOARD_BASE_URL=http://127.0.0.1:3000 npm test   against a running `crypto-dashboard serve`
//                                                       (simulated ingestion done, API up)
//   DASHBOARD_FIXTURE=1 npm test                        starts tests/fixture-server.mjs itself
//
//   CHROMIUM_PATH   the browser (default /usr/bin/chromium)
//
// Every test here needs a working API. The error state, which needs a failing one, is in
// tests/e2e-error-state.mjs. Nothing is skipped: scripts/test-dashboard.sh fails a run that
// reports a skipped test or fewer tests than expected.
//
// Screenshots of every main view, at 1280 px and 390 px wide, land in tests/screenshots/.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  baseUrl, chartPoints, chartReady, COINS, FIXTURE, open, PHONE, DESKTOP, rows, shot, useBrowser, waitForPricesIn,
} from './harness.mjs';

useBrowser();

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

// The freshness badge in the header, for each state of the latest run the dashboard can meet
// (the succeeded state is checked with the simulated-data notice above). The run comes from a
// stubbed /api/ingestion/runs, built on the server's own latest run so that its shape is real.
const MINUTE = 60_000;
const FRESHNESS_STATES = [
  {
    name: 'partial', tone: 'warn', text: 'Partly updated 2 hours ago',
    run: (now) => ({ status: 'partial', startedAt: new Date(now - 121 * MINUTE), finishedAt: new Date(now - 120 * MINUTE) }),
  },
  {
    name: 'failed', tone: 'bad', text: 'Last update failed 30 minutes ago',
    run: (now) => ({ status: 'failed', startedAt: new Date(now - 31 * MINUTE), finishedAt: new Date(now - 30 * MINUTE) }),
  },
  {
    name: 'running', tone: 'warn', text: 'Update running, started 5 minutes ago',
    run: (now) => ({ status: 'running', startedAt: new Date(now - 5 * MINUTE), finishedAt: null }),
  },
];

for (const state of FRESHNESS_STATES) {
  test(`the freshness badge shows a ${state.name} latest run`, async (t) => {
    const latest = (await (await fetch(`${baseUrl}/api/ingestion/runs?limit=1`)).json()).data[0];
    assert.ok(latest, 'the server has a latest run to build the stub on');
    const { page, goto, assertClean } = await open(t);
    const { status, startedAt, finishedAt } = state.run(Date.now());
    const run = { ...latest, simulated: false, status, startedAt: startedAt.toISOString(), finishedAt: finishedAt?.toISOString() ?? null };
    let answered = 0;
    await page.route((url) => url.pathname === '/api/ingestion/runs', (route) => {
      answered += 1;
      return route.fulfill({ json: { success: true, data: [run] } });
    });
    await goto();
    const badge = page.locator('#freshness');
    await page.waitForFunction(() => !document.getElementById('freshness').textContent.includes('Checking'));
    assert.equal(answered, 1, 'the badge asked for the latest run once');
    assert.equal((await badge.textContent()).replace(/\s+/g, ' ').trim(), state.text);
    assert.equal(await badge.getAttribute('class'), `badge badge-${state.tone}`);
    if (finishedAt) {
      // The exact time is one hover away.
      assert.equal(await badge.locator('time').getAttribute('datetime'), finishedAt.toISOString());
    } else {
      assert.equal(await badge.locator('time').count(), 0);
    }
    assert.equal(await page.locator('#simulated-notice').isVisible(), false);
    assertClean();
  });
}

/**
 * Holds the answer to the first request matching `matches` until release() is called: the server
 * answers at once, the browser gets that answer only later. `settled` resolves once the request
 * has ended in the browser, delivered or cancelled by the page.
 */
async function holdFirstAnswer(page, matches) {
  let release;
  const released = new Promise((resolve) => { release = resolve; });
  let seen;
  const held = new Promise((resolve) => { seen = resolve; });
  let taken = false;
  await page.route(matches, async (route) => {
    if (taken) return route.fallback();
    taken = true;
    const request = route.request();
    const settled = new Promise((resolve) => {
      const done = (r) => { if (r === request) resolve(r.failure() ? 'cancelled' : 'delivered'); };
      page.on('requestfinished', done);
      page.on('requestfailed', done);
    });
    seen({ request, settled });
    const response = await route.fetch();
    await released;
    // A request the page has cancelled meanwhile has nothing left to answer.
    await route.fulfill({ response }).catch(() => {});
  });
  return { held, release };
}

/** Lets the page run what a just-ended request set off (its promise callbacks and a frame). */
const settle = (page) => page.evaluate(() => new Promise((resolve) => {
  requestAnimationFrame(() => setTimeout(() => requestAnimationFrame(() => setTimeout(resolve, 0)), 0));
}));

test('a slow older market answer never overwrites a newer one when the currency changes quickly', async (t) => {
  const { page, goto, assertClean } = await open(t);
  const usd = await holdFirstAnswer(page, (url) => url.pathname === '/api/market' && url.searchParams.get('currency') === 'usd');
  await goto();
  const { settled } = await usd.held; // the USD table is on its way, slowly
  await page.locator('#currency:enabled').waitFor();
  await page.selectOption('#currency', 'eur');
  await waitForPricesIn(page, '€');
  usd.release(); // the USD answer arrives after the EUR one
  const outcome = await settled;
  await settle(page);
  const prices = await page.locator('table.market td.price').allTextContents();
  assert.equal(prices.length, 11);
  for (const price of prices) assert.match(price, /^€\d/, `the table still shows EUR after the late USD answer (${outcome})`);
  assert.match(await page.locator('table.market caption').innerText(), /EUR/);
  assert.equal(await page.inputValue('#currency'), 'eur');
  assert.match(page.url(), /currency=eur/);
  assertClean();
});

test('a slow older chart answer never overwrites a newer one when the interval changes quickly', async (t) => {
  const { page, goto, assertClean } = await open(t);
  const daily = await holdFirstAnswer(page,
    (url) => url.pathname === '/api/coins/bitcoin/prices' && url.searchParams.get('interval') === 'daily');
  await goto('#/coin/bitcoin?currency=usd');
  const { settled } = await daily.held;
  const hourly = page.getByRole('button', { name: 'Hourly', exact: true });
  await hourly.click();
  await chartReady(page, 'hourly', 30);
  const points = await chartPoints(page);
  daily.release(); // the daily answer arrives after the hourly one
  const outcome = await settled;
  await settle(page);
  const area = page.locator('.chart-area');
  assert.equal(await area.getAttribute('data-interval'), 'hourly', `the chart still shows hourly prices after the late daily answer (${outcome})`);
  assert.equal(await area.getAttribute('data-state'), 'ready');
  assert.equal(await chartPoints(page), points);
  assert.equal(await hourly.getAttribute('aria-pressed'), 'true');
  assert.match(page.url(), /interval=hourly/);
  assertClean();
});
