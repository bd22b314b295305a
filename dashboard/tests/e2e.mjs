// The dashboard in a real browser: Debian's Chromium driven by playwright-core, run by `node --test`.
//
//   DASHBOARD_BASE_URL=http://127.0.0.1:3000 npm test   against a running `crypto-dashboard serve`
//                                                       (simulated ingestion done, API up)
//
//   CHROMIUM_PATH   the browser (default /usr/bin/chromium)
//
// Every test here needs a working API. The error state, which needs a failing one, is in
// tests/e2e-error-state.mjs. Nothing is skipped: scripts/test.sh fails a run that reports a
// skipped, todo or cancelled test, or none.
//
// Screenshots of every main view, at 1280 px and 390 px wide, land in tests/screenshots/.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import {
  baseUrl, chartPoints, chartReady, COINS, freshnessLoaded, market, open, PER_PAGE, PHONE, DESKTOP, rows, showing, shot, shownOrder,
  useBrowser, waitForPricesIn,
} from './harness.mjs';

useBrowser();

test('overview shows the first 100 of a few hundred coins by rank, with prices, signed changes and sparklines', async (t) => {
  const { meta, data } = await market({ currency: 'usd' });
  assert.ok(meta.total > 2 * PER_PAGE, `the suite tracks a few hundred coins (${meta.total})`);
  assert.equal(data.length, PER_PAGE);
  for (const id of COINS) assert.ok((await market({ currency: 'usd', q: id })).data.some((c) => c.id === id), `${id} is tracked`);
  const { page, goto, assertClean } = await open(t);
  await goto();
  await rows(page).first().waitFor();
  assert.deepEqual(await shownOrder(page), data.map((coin) => coin.id));
  const ranks = await page.locator('table.market td.col-rank').allTextContents();
  assert.deepEqual(ranks, data.map((coin) => (coin.rank == null ? '—unranked' : String(coin.rank))));
  for (const price of await page.locator('table.market td.price').allTextContents()) assert.match(price, /^\$\d/);
  const drawn = data.filter((coin) => coin.sparkline7d.length > 1).length;
  assert.ok(drawn > PER_PAGE * 0.9, `most rows have a week of prices (${drawn})`);
  assert.equal(await page.locator('table.market svg.spark polyline').count(), drawn);
  assert.equal(await page.locator('table.market svg.spark[role="img"][aria-label^="Last 7 days"]').count(), drawn);
  for (const change of await page.locator('table.market td.num .change').allTextContents()) {
    assert.match(change, /^(▲ \+|▼ \u2212|)\d+\.\d\d%$|^—$/, `a change shows its sign: ${change}`);
  }
  for (const label of await page.locator('table.market td.num:not(.col-rank) .visually-hidden').allTextContents()) {
    assert.match(label, /^(up|down|unchanged|no data)/);
  }
  // A row's link is what keyboard and screen reader users reach.
  assert.equal(await page.locator('table.market a.coin-link').count(), PER_PAGE);
  assert.equal(await page.locator('.pager-at').innerText(), `Page 1 of ${Math.ceil(meta.total / PER_PAGE)}`);
  await freshnessLoaded(page);
  await shot(page, 'overview-desktop');

  await page.setViewportSize(PHONE);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling at 390 px');
  await shot(page, 'overview-phone');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shot(page, 'overview-phone-dark');
  assertClean();
});

/** The coins of the API's answer for the same query. */
async function apiOrder(query, currency = 'usd') {
  return (await market(`currency=${currency}&${query}`)).data.map((coin) => coin.id);
}
/** Waits until the table is sorted by `sort` in `order` (aria-sort on its header) and shows the API's order. */
async function sortedBy(page, sort, order) {
  const aria = order === 'asc' ? 'ascending' : 'descending';
  await page.locator(`th[aria-sort="${aria}"] button[data-sort="${sort}"]`).waitFor();
  await showing(page, await apiOrder(`sort=${sort}&order=${order}`));
  assert.equal(await page.locator('th[aria-sort]').count(), 1, 'one sorted column');
}

test('a column header sorts, a second click flips the order, and Back and a reload restore it', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await goto();
  await rows(page).first().waitFor();
  await sortedBy(page, 'rank', 'asc');
  const click = (name) => page.getByRole('button', { name, exact: true }).click();

  await click('Price');
  await sortedBy(page, 'price', 'desc');
  assert.match(page.url(), /#\/\?currency=usd&sort=price$/);
  await click('Price');
  await sortedBy(page, 'price', 'asc');
  assert.match(page.url(), /sort=price&order=asc$/);
  await click('Coin');
  await sortedBy(page, 'name', 'asc');
  const names = (await page.locator('table.market .coin-name').allTextContents()).map((n) => n.toLowerCase());
  assert.deepEqual(names, [...names].sort(), 'A to Z');
  assert.equal((await shownOrder(page)).length, PER_PAGE);
  await shot(page, 'overview-by-name-desktop');

  await page.goBack();
  await sortedBy(page, 'price', 'asc');
  await page.goBack();
  await sortedBy(page, 'price', 'desc');
  await page.reload();
  await sortedBy(page, 'price', 'desc');
  await page.goBack();
  await sortedBy(page, 'rank', 'asc');
  assertClean();
});

test('on a phone, where columns are hidden, a sort menu offers every sort', async (t) => {
  const { page, goto, assertClean } = await open(t, { viewport: PHONE });
  await goto();
  await rows(page).first().waitFor();
  const menu = page.getByRole('combobox', { name: 'Sort by' });
  assert.equal(await menu.inputValue(), 'rank asc');
  assert.equal(await page.getByRole('columnheader', { name: '24h' }).isVisible(), false, 'no 24h column on a phone');
  assert.equal(await menu.locator('option').count(), 16, 'eight sorts, each both ways');
  await menu.selectOption({ label: '24h change, biggest fall first' });
  await showing(page, await apiOrder('sort=change24h&order=asc'));
  assert.match(page.url(), /#\/\?currency=usd&sort=change24h&order=asc$/);
  await shot(page, 'overview-by-24h-phone');
  await menu.selectOption({ label: 'Volume (24h), largest first' });
  await showing(page, await apiOrder('sort=volume24h&order=desc'));
  await page.goBack();
  await showing(page, await apiOrder('sort=change24h&order=asc'));
  assert.equal(await menu.inputValue(), 'change24h asc', 'Back sets the menu too');
  // A header sort shows in the menu; on a wide screen the headers do it and the menu is gone.
  await page.getByRole('button', { name: 'Price', exact: true }).click();
  await showing(page, await apiOrder('sort=price&order=desc'));
  assert.equal(await menu.inputValue(), 'price desc');
  await page.setViewportSize(DESKTOP);
  assert.equal(await menu.isVisible(), false);
  assertClean();
});

test('keyboard: Tab reaches a column header, Enter sorts by it and focus stays on it', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await goto();
  await rows(page).first().waitFor();
  await page.locator('#market-search').focus();
  for (let i = 0; i < 10; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement?.dataset.sort === 'change24h')) break;
  }
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.sort), 'change24h');
  await page.keyboard.press('Enter');
  await sortedBy(page, 'change24h', 'desc');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.sort), 'change24h', 'focus stays');
  await page.keyboard.press('Enter');
  await sortedBy(page, 'change24h', 'asc');
  assertClean();
});

test('the search box asks the server, says when no coin matches, and lives in the URL', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await goto();
  await rows(page).first().waitFor();
  const search = page.getByRole('searchbox', { name: 'Search coins' });
  const asked = page.waitForRequest((r) => new URL(r.url()).searchParams.get('q') === 'bit');
  await search.fill('bit');
  await asked;
  const want = await apiOrder('q=bit');
  assert.ok(want.includes('bitcoin') && want.length < 10, JSON.stringify(want));
  await showing(page, want);
  assert.equal(await page.locator('.pager').count(), 0, 'one page: no pager');
  assert.match(page.url(), /[?&]q=bit$/);

  await search.fill('no-such-coin-here');
  await page.getByText('No coin matches', { exact: true }).waitFor();
  assert.equal(await rows(page).count(), 0);
  await page.reload();
  await page.getByText('No coin matches', { exact: true }).waitFor();
  assert.equal(await search.inputValue(), 'no-such-coin-here', 'a reload keeps the search');

  await search.fill('');
  await showing(page, await apiOrder(''));
  assert.doesNotMatch(page.url(), /q=/);
  assertClean();
});

test('Next and Previous page through the coins, a sort starts again at page 1, and Back and a reload restore the page', async (t) => {
  const { meta } = await market({ currency: 'usd' });
  const pages = Math.ceil(meta.total / PER_PAGE);
  const { page, goto, assertClean } = await open(t);
  await goto();
  await showing(page, await apiOrder(''));
  const pager = page.getByRole('navigation', { name: 'Pages' });
  const button = (name) => pager.getByRole('button', { name, exact: true });
  assert.equal(await button('Previous').isDisabled(), true, 'no page before the first');
  const onPage = async (n) => {
    await showing(page, await apiOrder(n === 1 ? '' : `page=${n}`));
    assert.equal(await pager.locator('.pager-at').innerText(), `Page ${n} of ${pages}`);
  };

  const asked = page.waitForRequest((r) => new URL(r.url()).searchParams.get('page') === '2');
  await button('Next').click();
  assert.equal(new URL((await asked).url()).searchParams.get('perPage'), String(PER_PAGE));
  await onPage(2);
  assert.match(page.url(), /#\/\?currency=usd&page=2$/);
  assert.ok(await page.evaluate(() => document.querySelector('.table-card').getBoundingClientRect().top >= -1),
    'the new page is shown from its top');
  await shot(page, 'overview-page-2-desktop');
  for (let n = 3; n <= pages; n += 1) {
    await button('Next').click();
    await onPage(n);
  }
  assert.equal(await rows(page).count(), meta.total - (pages - 1) * PER_PAGE, 'the last page holds the rest');
  assert.equal(await button('Next').isDisabled(), true, 'no page after the last');
  await button('Previous').click();
  await onPage(pages - 1);

  await page.goBack();
  await onPage(pages);
  for (let n = pages - 1; n >= 1; n -= 1) {
    await page.goBack();
    await onPage(n);
  }
  assert.match(page.url(), /#\/\?currency=usd$/, 'page 1 is the address without a page');

  await page.goForward();
  await onPage(2);
  await page.reload();
  await onPage(2);
  // A new sort or search starts again at the top.
  await page.getByRole('button', { name: 'Price', exact: true }).click();
  await sortedBy(page, 'price', 'desc');
  assert.match(page.url(), /#\/\?currency=usd&sort=price$/);
  await page.goBack();
  await onPage(2);
  assertClean();
});

test('stars keep a watchlist in this browser: shown with ids=, kept over a reload, emptied again', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await goto();
  await rows(page).first().waitFor();
  const view = (name) => page.getByRole('button', { name, exact: true });
  await view('Watchlist').click();
  await page.getByText('Your watchlist is empty', { exact: true }).waitFor();
  assert.match(page.url(), /[?&]view=watchlist$/);
  assert.equal(await view('Watchlist').getAttribute('aria-pressed'), 'true');
  await view('All coins').click();
  await rows(page).nth(PER_PAGE - 1).waitFor();

  const starOf = (name) => page.getByRole('button', { name: `Watch ${name}`, exact: true });
  await starOf('Tether').click();
  assert.equal(await starOf('Tether').getAttribute('aria-pressed'), 'true');
  await starOf('Bitcoin').focus();
  await page.keyboard.press('Space');
  assert.equal(await starOf('Bitcoin').getAttribute('aria-pressed'), 'true', 'Space stars');
  assert.match(page.url(), /#\/\?currency=usd$/, 'a star opens no coin');

  const asked = page.waitForRequest((r) => new URL(r.url()).searchParams.has('ids'));
  await view('Watchlist').click();
  assert.deepEqual(new URL((await asked).url()).searchParams.get('ids').split(',').sort(), ['bitcoin', 'tether']);
  await page.waitForFunction(() => document.querySelectorAll('table.market tbody tr').length === 2);
  assert.deepEqual((await shownOrder(page)).sort(), ['bitcoin', 'tether']);
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll('table.market tbody tr').length === 2);
  await shot(page, 'overview-watchlist-desktop');

  await starOf('Tether').click();
  await page.waitForFunction(() => document.querySelectorAll('table.market tbody tr').length === 1);
  await starOf('Bitcoin').click();
  await page.getByText('Your watchlist is empty', { exact: true }).waitFor();
  await page.goBack();
  await rows(page).nth(PER_PAGE - 1).waitFor();
  assert.equal(await view('All coins').getAttribute('aria-pressed'), 'true');
  assert.equal(await page.locator('.star[aria-pressed="true"]').count(), 0);
  assertClean();
});

test('the currency switch keeps the sort, the search and the view', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await goto('#/?currency=usd&sort=price&order=asc&q=coin');
  await showing(page, await apiOrder('sort=price&order=asc&q=coin'));
  const asked = page.waitForRequest((r) => new URL(r.url()).searchParams.get('currency') === 'eur');
  await page.selectOption('#currency', 'eur');
  const query = new URL((await asked).url()).searchParams;
  assert.deepEqual([query.get('sort'), query.get('order'), query.get('q')], ['price', 'asc', 'coin']);
  await showing(page, await apiOrder('sort=price&order=asc&q=coin', 'eur'));
  await waitForPricesIn(page, '€', null);
  assert.match(page.url(), /#\/\?currency=eur&sort=price&order=asc&q=coin$/);
  assert.equal(await page.getByRole('searchbox', { name: 'Search coins' }).inputValue(), 'coin');
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
  // The server's answer with markup added to the description: the page must show it as text.
  await page.route((url) => url.pathname === '/api/coins/bitcoin', async (route) => {
    const response = await route.fetch();
    const json = await response.json();
    json.data.description += '\n\nText such as <b>this</b> must appear literally.';
    await route.fulfill({ response, json });
  });
  await goto();
  await page.getByRole('link', { name: /^Bitcoin BTC$/ }).click();
  await page.waitForURL(/#\/coin\/bitcoin\?currency=usd$/);
  await page.getByRole('heading', { level: 1, name: 'Bitcoin' }).waitFor();
  assert.ok(await page.evaluate(() => document.activeElement?.tagName === 'H1'), 'focus moves to the new page heading');
  await chartReady(page, 'daily', 30);
  const description = await page.locator('#coin-description').innerText();
  assert.ok(description.trim().length > 20, 'the description is shown');
  assert.match(description, /<b>this<\/b>/, 'the description is text, not HTML');
  assert.equal(await page.locator('#coin-description b').count(), 0);
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
  // Past the search box and the column headers' sort buttons.
  for (let i = 0; i < 25; i += 1) {
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

test('Download CSV gives the prices the chart shows, as the route writes them', async (t) => {
  const { page, goto, assertClean } = await open(t);
  const chartRequest = page.waitForRequest((r) => r.url().includes('/api/coins/bitcoin/prices?'));
  await goto('#/coin/bitcoin?currency=usd&interval=hourly&range=7d');
  const chartQuery = new URL((await chartRequest).url()).searchParams;
  await chartReady(page, 'hourly', 7);
  const link = page.getByRole('link', { name: /^Download CSV of the / });
  await page.getByRole('link', { name: 'Download CSV of the hourly prices in USD, last 7 days', exact: true }).waitFor();

  async function downloaded(interval, header) {
    const url = new URL(await link.getAttribute('href'), baseUrl);
    assert.equal(url.pathname, '/api/coins/bitcoin/prices');
    assert.equal(url.searchParams.get('format'), 'csv');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    assert.match(download.suggestedFilename(), new RegExp(`^bitcoin-usd-${interval}-.+\\.csv$`));
    const lines = (await readFile(await download.path(), 'utf8')).split('\r\n').filter(Boolean);
    assert.equal(lines[0], header);
    // The same range as JSON: one row per point, every digit of each price.
    url.searchParams.delete('format');
    const { data } = await (await page.request.get(url.href)).json();
    assert.ok(data.points.length > 0);
    const rowsOf = lines.slice(1).map((line) => line.split(',')).map(([at, price]) => [at, Number(price)]);
    assert.deepEqual(rowsOf, data.points.map((p) => [p.timestamp ?? p.date, p.price]));
    return url.searchParams;
  }

  const hourly = await downloaded('hourly', 'timestamp,price');
  for (const key of ['currency', 'interval', 'from']) assert.equal(hourly.get(key), chartQuery.get(key), key);
  await page.getByRole('button', { name: 'Daily', exact: true }).click();
  await chartReady(page, 'daily', 7);
  await page.getByRole('link', { name: 'Download CSV of the daily prices in USD, last 7 days', exact: true }).waitFor();
  const daily = await downloaded('daily', 'date,price');
  assert.match(daily.get('from'), /^\d{4}-\d\d-\d\d$/);
  assertClean();
});

test('the coin page shows the rank the API gives, and none for an unranked coin', async (t) => {
  const { page, goto, assertClean } = await open(t);
  const { data: [last] } = await market({ currency: 'usd', sort: 'rank', order: 'desc', perPage: 1 });
  assert.ok(last.rank > PER_PAGE, `a coin far down the ranking (${last.id}, #${last.rank})`);
  await goto(`#/coin/${last.id}?currency=usd`);
  await page.getByRole('heading', { level: 1, name: last.name }).waitFor();
  assert.equal(await page.locator('.rank-chip').innerText(), `Rank #${last.rank}`);
  // An unranked coin (a pinned coin outside the top N): the same answer without a rank.
  await page.route(`${baseUrl}/api/coins/ethereum`, async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    await route.fulfill({ response, json: { ...body, data: { ...body.data, rank: null } } });
  });
  await goto('#/coin/ethereum?currency=usd');
  await page.getByRole('heading', { level: 1, name: 'Ethereum' }).waitFor();
  assert.equal(await page.locator('.rank-chip').isHidden(), true);
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

// The freshness badges in the header: the newest history run and the newest live refresh, each
// with its own state, from one GET /api/health per refresh. The health data is stubbed, with
// runs built on the server's own history run so that their shape is real. (The simulated-data
// notice test below covers two succeeded parts.)
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const HEALTH_OK = { status: 'ok', database: 'ok', liveEveryMinutes: 10, version: 'test' };

/** GET /api/health of the server under test: its data, also from a 503. */
async function serverHealth() {
  const body = await (await fetch(`${baseUrl}/api/health`)).json();
  assert.ok(body.data, 'the health answer carries data');
  return body.data;
}

/** A run summary in the API's shape, built on `base` (a run of the server's). */
function run(base, { mode = 'full', status, startedAt, finishedAt = null, stale = false }) {
  assert.ok(base, 'the server has a history run to build the stubs on');
  return {
    ...base, mode, status, simulated: false, stale,
    startedAt: startedAt.toISOString(), finishedAt: finishedAt?.toISOString() ?? null,
  };
}


/** Each part as shown: its text (spaces collapsed), tone, times and whether it has a stale mark. */
const readParts = (page) => page.locator('#freshness .badge').evaluateAll((badges) => badges.map((badge) => ({
  part: badge.dataset.part,
  text: badge.textContent.replace(/\s+/g, ' ').trim(),
  tone: badge.className,
  times: [...badge.querySelectorAll('time')].map((time) => time.getAttribute('datetime')),
  staleMark: badge.querySelector('.stale-mark')?.checkVisibility() === true,
})));

test('the simulated-data notice follows the newest history run and live refresh', async (t) => {
  const health = await serverHealth();
  const simulated = health.lastIngestion?.simulated === true || health.lastLiveRefresh?.simulated === true;
  const { page, goto, assertClean } = await open(t);
  await goto();
  await freshnessLoaded(page);
  const notice = page.locator('#simulated-notice');
  assert.equal(await notice.isVisible(), simulated);
  if (simulated) assert.match(await notice.innerText(), /Simulated data/);

  // Live data in both parts: no notice. Only the live refresh simulated: the notice.
  const now = Date.now();
  const history = run(health.lastIngestion, { mode: 'incremental', status: 'succeeded', startedAt: new Date(now - 61 * MINUTE), finishedAt: new Date(now - 60 * MINUTE) });
  const live = run(health.lastIngestion, { mode: 'latest', status: 'succeeded', startedAt: new Date(now - 4 * MINUTE), finishedAt: new Date(now - 4 * MINUTE) });
  let data = { ...HEALTH_OK, lastIngestion: history, lastLiveRefresh: live };
  await page.route((url) => url.pathname === '/api/health', (route) => route.fulfill({ json: { success: true, data } }));
  await page.reload();
  await page.locator('#freshness', { hasText: 'Updated' }).waitFor();
  assert.equal(await notice.isVisible(), false);

  data = { ...data, lastLiveRefresh: { ...live, simulated: true } };
  await page.reload();
  await page.locator('#freshness', { hasText: 'Updated' }).waitFor();
  assert.equal(await notice.isVisible(), true);
  assertClean();
});

// Each state: the health answer (`answer(now, base)` gives {status, data}, or 'abort' for a
// request that fails), and the two parts it must show. `time` is when the part's <time> says.
const green = (now, base) => run(base, { mode: 'latest', status: 'succeeded', startedAt: new Date(now - 4 * MINUTE), finishedAt: new Date(now - 4 * MINUTE) });
const LIVE_OK = { text: 'Live prices: Updated 4 minutes ago', tone: 'ok', time: (now) => now - 4 * MINUTE };
const FRESHNESS_STATES = [
  {
    name: 'failed history run while the live refresh works (not fine)',
    answer: (now, base) => ({ status: 200, data: { ...HEALTH_OK, status: 'degraded',
      lastIngestion: run(base, { status: 'failed', startedAt: new Date(now - 31 * MINUTE), finishedAt: new Date(now - 30 * MINUTE) }),
      lastLiveRefresh: green(now, base) } }),
    history: { text: 'History: Update failed 30 minutes ago', tone: 'bad', time: (now) => now - 30 * MINUTE },
    live: LIVE_OK,
  },
  {
    name: 'stale history run',
    answer: (now, base) => ({ status: 200, data: { ...HEALTH_OK, status: 'degraded',
      lastIngestion: run(base, { status: 'succeeded', startedAt: new Date(now - 48 * HOUR - MINUTE), finishedAt: new Date(now - 48 * HOUR), stale: true }),
      lastLiveRefresh: green(now, base) } }),
    history: { text: 'History: Updated 2 days ago ⚠ Stale', tone: 'warn', time: (now) => now - 48 * HOUR, stale: true },
    live: LIVE_OK,
  },
  {
    name: 'stale live refresh',
    answer: (now, base) => ({ status: 200, data: { ...HEALTH_OK, status: 'degraded',
      lastIngestion: run(base, { status: 'succeeded', startedAt: new Date(now - 3 * HOUR - MINUTE), finishedAt: new Date(now - 3 * HOUR) }),
      lastLiveRefresh: run(base, { mode: 'latest', status: 'succeeded', startedAt: new Date(now - 40 * MINUTE), finishedAt: new Date(now - 40 * MINUTE), stale: true }) } }),
    history: { text: 'History: Updated 3 hours ago', tone: 'ok', time: (now) => now - 3 * HOUR },
    live: { text: 'Live prices: Updated 40 minutes ago ⚠ Stale', tone: 'warn', time: (now) => now - 40 * MINUTE, stale: true },
  },
  {
    name: 'live refresh turned off',
    answer: (now, base) => ({ status: 200, data: { ...HEALTH_OK, liveEveryMinutes: null,
      lastIngestion: run(base, { status: 'succeeded', startedAt: new Date(now - 3 * HOUR - MINUTE), finishedAt: new Date(now - 3 * HOUR) }),
      lastLiveRefresh: null } }),
    history: { text: 'History: Updated 3 hours ago', tone: 'ok', time: (now) => now - 3 * HOUR },
    live: { text: 'Live prices: Off', tone: 'muted' },
  },
  {
    name: 'history run still running',
    answer: (now, base) => ({ status: 200, data: { ...HEALTH_OK,
      lastIngestion: run(base, { status: 'running', startedAt: new Date(now - 5 * MINUTE) }),
      lastLiveRefresh: green(now, base) } }),
    history: { text: 'History: Running, started 5 minutes ago', tone: 'warn', time: (now) => now - 5 * MINUTE },
    live: LIVE_OK,
  },
  {
    name: 'partial history run',
    answer: (now, base) => ({ status: 200, data: { ...HEALTH_OK,
      lastIngestion: run(base, { status: 'partial', startedAt: new Date(now - 121 * MINUTE), finishedAt: new Date(now - 120 * MINUTE) }),
      lastLiveRefresh: green(now, base) } }),
    history: { text: 'History: Partly updated 2 hours ago', tone: 'warn', time: (now) => now - 120 * MINUTE },
    live: LIVE_OK,
  },
  {
    name: 'server without any run yet',
    answer: () => ({ status: 200, data: { ...HEALTH_OK, status: 'degraded', lastIngestion: null, lastLiveRefresh: null } }),
    history: { text: 'History: No data yet', tone: 'muted' },
    live: { text: 'Live prices: No data yet', tone: 'muted' },
  },
  {
    name: 'database unreachable (503 with the health data)',
    answer: () => ({ status: 503, data: { ...HEALTH_OK, status: 'degraded', database: 'unreachable', lastIngestion: null, lastLiveRefresh: null } }),
    history: { text: 'History: Database unreachable', tone: 'bad' },
    live: { text: 'Live prices: Database unreachable', tone: 'bad' },
  },
  {
    name: 'health request that fails',
    answer: () => 'abort',
    history: { text: 'History: Unknown', tone: 'muted' },
    live: { text: 'Live prices: Unknown', tone: 'muted' },
  },
];

for (const state of FRESHNESS_STATES) {
  test(`the freshness badges show a ${state.name}`, async (t) => {
    const base = (await serverHealth()).lastIngestion;
    const { page, goto, assertClean } = await open(t);
    const now = Date.now();
    const answer = state.answer(now, base);
    let answered = 0;
    await page.route((url) => url.pathname === '/api/health', (route) => {
      answered += 1;
      if (answer === 'abort') return route.abort('connectionrefused');
      const { status, data } = answer;
      return route.fulfill({
        status,
        json: status === 200 ? { success: true, data }
          : { success: false, error: { code: 'SERVICE_UNAVAILABLE', message: 'the database is unavailable; try again shortly' }, data },
      });
    });
    const runsAsked = [];
    page.on('request', (request) => { if (new URL(request.url()).pathname.startsWith('/api/ingestion/')) runsAsked.push(request.url()); });
    await goto();
    await freshnessLoaded(page);
    assert.equal(answered, 1, 'the badges asked for the health once');
    assert.deepEqual(runsAsked, [], 'and for no run list');
    const expected = [['history', state.history], ['live', state.live]].map(([part, { text, tone, time, stale = false }]) => ({
      part, text, tone: `badge badge-${tone}`, times: time ? [new Date(time(now)).toISOString()] : [], staleMark: stale,
    }));
    assert.deepEqual(await readParts(page), expected);
    assert.equal(await page.locator('#simulated-notice').isVisible(), false);
    assertClean();
  });
}

test('the freshness badges keep the header still while they load, at 1280 px and at 390 px', async (t) => {
  const base = (await serverHealth()).lastIngestion;
  for (const viewport of [DESKTOP, PHONE]) {
    const { page, goto, assertClean } = await open(t, { viewport });
    const now = Date.now();
    // The longest texts there are: both parts stale, one failed, the other stuck running.
    const data = { ...HEALTH_OK, status: 'degraded',
      lastIngestion: run(base, { status: 'failed', startedAt: new Date(now - 31 * MINUTE), finishedAt: new Date(now - 30 * MINUTE), stale: true }),
      lastLiveRefresh: run(base, { mode: 'latest', status: 'running', startedAt: new Date(now - 45 * MINUTE), stale: true }) };
    let release;
    const released = new Promise((resolve) => { release = resolve; });
    await page.route((url) => url.pathname === '/api/health', async (route) => {
      await released;
      await route.fulfill({ json: { success: true, data } });
    });
    await goto();
    await rows(page).first().waitFor();
    const boxes = () => page.evaluate(() => [
      '.site-header', '#main', '#freshness [data-part="history"]', '#freshness [data-part="live"]',
    ].map((selector) => {
      const { top, height } = document.querySelector(selector).getBoundingClientRect();
      return { selector, top, height };
    }));
    const before = await boxes();
    assert.match(await page.locator('#freshness').textContent(), /Checking/);
    release();
    await freshnessLoaded(page);
    assert.deepEqual(await boxes(), before, `nothing moved up or down at ${viewport.width} px`);
    // Cut short where there is no room, but the stale marks stay in full.
    assert.equal(await page.locator('#freshness .stale-mark').filter({ hasText: 'Stale' }).count(), 2);
    for (const mark of await page.locator('#freshness .stale-mark').all()) {
      assert.ok(await mark.evaluate((el) => {
        const inner = el.getBoundingClientRect();
        const badge = el.closest('.badge').getBoundingClientRect();
        return inner.left >= badge.left && inner.right <= badge.right && el.scrollWidth <= el.clientWidth;
      }), 'a whole stale mark inside its badge');
    }
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
    await shot(page, `freshness-stale-${viewport === PHONE ? 'phone' : 'desktop'}`);
    assertClean();
  }
});

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
  assert.equal(prices.length, PER_PAGE);
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

// ---- Each price's own time and stale mark, market cap and volume, long ranges, self-refresh ----

const DAY_MS = 86_400_000;

/**
 * Serves the server's own /api/market answer with `change(rows, now)` applied, so the shapes stay
 * real while the values under test are fixed (times, stale flags, market cap and volume).
 */
async function stubMarket(page, change) {
  await page.route((url) => url.pathname === '/api/market', async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    change(body.data, Date.now());
    await route.fulfill({ json: body });
  });
}

const cell = (page, id, column) => page.locator(`table.market tr[data-coin="${id}"] td.${column}`);

test('each price shows its own time, and a stale price carries a visible Stale mark', async (t) => {
  const { page, goto, assertClean } = await open(t);
  const times = {};
  await stubMarket(page, (data, now) => {
    for (const row of data) {
      const stale = row.id === 'ethereum';
      row.updatedAt = new Date(now - (stale ? 3 * 60 : 5) * 60_000).toISOString();
      row.stale = stale;
      times[row.id] = row.updatedAt;
    }
  });
  await page.route((url) => url.pathname === '/api/coins/ethereum', async (route) => {
    const body = await (await route.fetch()).json();
    body.data.latest.usd = { ...body.data.latest.usd, at: new Date(Date.now() - 3 * 3_600_000).toISOString(), stale: true };
    body.data.latest.eur = { ...body.data.latest.eur, at: new Date(Date.now() - 5 * 60_000).toISOString(), stale: false };
    await route.fulfill({ json: body });
  });
  await goto();
  await rows(page).first().waitFor();

  for (const viewport of [DESKTOP, PHONE]) {
    await page.setViewportSize(viewport);
    const fresh = cell(page, 'bitcoin', 'price');
    const time = fresh.locator('.as-of time');
    assert.ok(await time.isVisible(), `the time is shown at ${viewport.width} px`);
    assert.equal(await time.innerText(), '5 min. ago');
    assert.equal(new Date(await time.getAttribute('datetime')).toISOString(), times.bitcoin);
    assert.match(await time.getAttribute('title'), /^\w{3} \d+, \d{4}, \d+:\d\d [AP]M UTC$/, 'the exact time on hover');
    assert.equal(await fresh.locator('.stale-mark').count(), 0);

    const stale = cell(page, 'ethereum', 'price');
    assert.equal(await stale.locator('.as-of time').innerText(), '3 hr. ago');
    const mark = stale.locator('.stale-mark');
    assert.ok(await mark.isVisible(), `the stale mark is shown at ${viewport.width} px`);
    assert.equal(await mark.innerText(), '⚠ Stale', 'the mark is words, not only a colour');
    assert.equal(await mark.getAttribute('title'), 'This price has not been updated recently');
    assert.equal(await page.locator('table.market .stale-mark').count(), 1, 'only the stale price is marked');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
    const card = await page.evaluate(() => {
      const { scrollWidth, clientWidth } = document.querySelector('.table-card');
      const columns = [...document.querySelectorAll('table.market thead th')]
        .map((th) => `${th.className} ${th.getBoundingClientRect().width.toFixed(0)}`).join(', ');
      return { scrollWidth, clientWidth, columns };
    });
    assert.ok(card.scrollWidth <= card.clientWidth,
      `the table fits its card at ${viewport.width} px: ${card.scrollWidth} > ${card.clientWidth}: ${card.columns}`);
  }
  await shot(page, 'overview-stale-phone');

  // The coin page: the stale USD price is marked, the fresh EUR one is not.
  await page.setViewportSize(DESKTOP);
  await page.getByRole('link', { name: /^Ethereum ETH$/ }).click();
  await page.getByRole('heading', { level: 1, name: 'Ethereum' }).waitFor();
  assert.match(await page.locator('.price-at').innerText(), /^as of \w{3} \d+, \d{4}, \d+:\d\d [AP]M UTC ⚠ Stale$/);
  const usd = page.locator('.latest-list div', { has: page.locator('dt', { hasText: 'USD' }) });
  const eur = page.locator('.latest-list div', { has: page.locator('dt', { hasText: 'EUR' }) });
  assert.match(await usd.locator('dd').innerText(), /^\$[\d,.]+\s+3 hours ago ⚠ Stale$/);
  assert.match(await eur.locator('dd').innerText(), /^€[\d,.]+\s+5 minutes ago$/);
  assert.equal(await page.locator('main .stale-mark').count(), 2);
  assertClean();
});

test('market cap and 24h volume are shown on wide screens only, compactly', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await stubMarket(page, (data) => {
    for (const row of data) {
      const noQuote = row.id === 'tron';
      row.marketCap = noQuote ? null : row.id === 'bitcoin' ? 1.92e12 : 5e9;
      row.volume24h = noQuote ? null : row.id === 'bitcoin' ? 4.1e10 : 2.5e8;
    }
  });
  await goto();
  await rows(page).first().waitFor();
  const header = (name) => page.getByRole('columnheader', { name, exact: true });
  assert.ok(await header('Market cap').isVisible());
  assert.ok(await header('Volume (24h)').isVisible());
  assert.equal(await cell(page, 'bitcoin', 'col-mcap').innerText(), '$1.9T');
  assert.equal(await cell(page, 'bitcoin', 'col-vol').innerText(), '$41B');
  assert.equal(await cell(page, 'ethereum', 'col-mcap').innerText(), '$5B');
  assert.equal(await cell(page, 'ethereum', 'col-vol').innerText(), '$250M');
  assert.equal((await cell(page, 'tron', 'col-mcap').textContent()).trim(), '—no data', 'null: a dash, "no data" when read');
  assert.equal(await cell(page, 'tron', 'col-vol').locator('[aria-hidden="true"]').innerText(), '—');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling at 1280 px');

  await page.setViewportSize(PHONE);
  assert.equal(await header('Market cap').isVisible(), false, 'no market cap column on a phone');
  assert.equal(await header('Volume (24h)').isVisible(), false, 'no volume column on a phone');
  assert.equal(await cell(page, 'bitcoin', 'col-mcap').isVisible(), false);
  assert.equal(await cell(page, 'bitcoin', 'col-vol').isVisible(), false);
  assert.ok(await cell(page, 'bitcoin', 'price').isVisible());
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling at 390 px');
  assertClean();
});

test('a name too long for a small phone scrolls the table inside its card, with the coin kept in view', async (t) => {
  const { page, goto, assertClean } = await open(t, { viewport: { width: 320, height: 640 } });
  const long = 'Wrapped-Liquid-Restaked-Governance-Ether-Receipt';
  await stubMarket(page, (data) => {
    data.find((row) => row.id === 'bitcoin').name = long;
  });
  await goto();
  await rows(page).first().waitFor();
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the page does not scroll sideways');
  const card = page.locator('.table-card');
  assert.ok(await card.evaluate((el) => el.scrollWidth > el.clientWidth), 'the table scrolls inside its card');
  const place = () => page.evaluate(() => {
    const card = document.querySelector('.table-card').getBoundingClientRect();
    const coin = document.querySelector('tr[data-coin="bitcoin"] .col-coin').getBoundingClientRect();
    const star = document.querySelector('tr[data-coin="bitcoin"] .col-star').getBoundingClientRect();
    return { star: Math.round(star.left - card.left), coin: Math.round(coin.left - card.left) };
  });
  const before = await place();
  await card.evaluate((el) => { el.scrollLeft = el.scrollWidth; });
  assert.ok(await card.evaluate((el) => el.scrollLeft > 0), 'scrolled');
  assert.deepEqual(await place(), before, 'the star and the coin stay where they were');
  assert.ok(await page.locator('tr[data-coin="bitcoin"] td.price').isVisible());
  await shot(page, 'overview-long-name-320');
  assertClean();
});

test('the 1Y and All ranges ask for daily prices from a year and ten years back, without moving the chart', async (t) => {
  for (const viewport of [DESKTOP, PHONE]) {
    const { page, goto, assertClean } = await open(t, { viewport });
    await goto('#/coin/bitcoin?currency=usd&interval=hourly&range=7d');
    await chartReady(page, 'hourly', 7);
    const top = async () => (await page.locator('.chart-area').boundingBox()).y;
    const before = await top();

    async function press(name, days) {
      const earliest = new Date(Date.now() - days * DAY_MS).toISOString().slice(0, 10);
      const response = page.waitForResponse((r) => r.url().includes('/api/coins/bitcoin/prices?'));
      await page.getByRole('button', { name, exact: true }).click();
      const res = await response;
      const latest = new Date(Date.now() - days * DAY_MS).toISOString().slice(0, 10);
      assert.equal(res.status(), 200, `prices request ${res.url()}: ${await res.text()}`);
      const query = new URL(res.url()).searchParams;
      assert.equal(query.get('interval'), 'daily', `${name} shows daily prices`);
      assert.ok([earliest, latest].includes(query.get('from')), `${name}: from=${query.get('from')}, expected ${latest}`);
      await chartReady(page, 'daily', days);
      assert.equal(await page.getByRole('button', { name, exact: true }).getAttribute('aria-pressed'), 'true');
      assert.equal(await page.getByRole('button', { name: 'Daily', exact: true }).getAttribute('aria-pressed'), 'true');
      assert.equal(await top(), before, `the chart stays in place at ${viewport.width} px (${name})`);
    }

    await press('1Y', 365);
    assert.match(page.url(), /range=1y$/);
    assert.doesNotMatch(page.url(), /interval=/);
    await press('All', 3650);
    assert.match(page.url(), /range=all$/);
    assert.ok((await chartPoints(page)) > 20);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
    await shot(page, `coin-all-${viewport.width}`);
    await page.reload();
    await chartReady(page, 'daily', 3650);
    assert.equal(await page.getByRole('button', { name: 'All', exact: true }).getAttribute('aria-pressed'), 'true');

    // Hourly prices reach back 90 days: Hourly on All shows the last 90 days.
    const hourly = page.waitForResponse((r) => r.url().includes('/api/coins/bitcoin/prices?'));
    await page.getByRole('button', { name: 'Hourly', exact: true }).click();
    assert.equal((await hourly).status(), 200);
    await chartReady(page, 'hourly', 90);
    assert.equal(await page.getByRole('button', { name: '90D', exact: true }).getAttribute('aria-pressed'), 'true');
    assert.equal(await top(), before);
    assertClean();
  }
});

test('the freshness badges ask for health again every 5 minutes while the page is visible', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await page.clock.install();
  const healthAsked = [];
  page.on('request', (request) => { if (new URL(request.url()).pathname === '/api/health') healthAsked.push(request); });
  await goto();
  await freshnessLoaded(page);
  assert.equal(healthAsked.length, 1);
  await page.clock.fastForward(4 * 60_000);
  await settle(page);
  assert.equal(healthAsked.length, 1, 'not before 5 minutes');
  const again = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/health');
  await page.clock.fastForward(60_000);
  assert.equal((await again).status(), 200);
  assert.equal(healthAsked.length, 2);
  // A hidden tab asks nothing.
  await page.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await page.clock.fastForward(10 * 60_000);
  await settle(page);
  assert.equal(healthAsked.length, 2, 'no health request while the tab is hidden');
  assertClean();
});

test('the overview refreshes the page shown while visible, conditionally, and a 304 keeps the table', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await page.clock.install();
  const isMarket = (r) => new URL(r.url()).pathname === '/api/market';
  const market = [];
  page.on('request', (request) => { if (isMarket(request)) market.push(request); });
  const first = page.waitForResponse(isMarket);
  await goto('#/?currency=usd&page=2');
  const firstResponse = await first;
  assert.equal(firstResponse.status(), 200);
  const etag = await firstResponse.headerValue('etag');
  assert.ok(etag, 'the market answer has an ETag');
  await waitForPricesIn(page, '$');
  // The prices without their relative times ("just now" becomes "1 min. ago" as the clock moves).
  const priceTexts = () => page.locator('table.market td.price').evaluateAll((cells) => cells.map((cell) => {
    const copy = cell.cloneNode(true);
    for (const time of copy.querySelectorAll('time')) time.remove();
    return copy.textContent;
  }));
  const prices = await priceTexts();
  assert.equal(market.length, 1);

  // A minute later: the same request, conditional; the server answers 304 and the table stays.
  const again = page.waitForResponse(isMarket);
  await page.clock.fastForward(60_000);
  const refreshed = await again;
  assert.equal(await refreshed.request().headerValue('if-none-match'), etag, 'the refresh names the last ETag');
  assert.equal(refreshed.status(), 304);
  const asked = new URL(refreshed.url()).searchParams;
  assert.deepEqual([asked.get('currency'), asked.get('page')], ['usd', '2'], 'the page shown, not page 1');
  await settle(page);
  assert.equal(await rows(page).count(), PER_PAGE, 'the table is still there after the 304');
  assert.equal(await page.getByRole('alert').count(), 0, 'no error state');
  assert.equal(await page.locator('.view-body[aria-busy], .view-body.is-updating').count(), 0, 'no loading state');
  assert.deepEqual(await priceTexts(), prices);

  // A hidden tab asks nothing; shown again, it catches up at once.
  await page.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  const before = market.length;
  await page.clock.fastForward(180_000);
  await settle(page);
  assert.equal(market.length, before, 'no requests while the tab is hidden');
  const shown = page.waitForResponse(isMarket);
  await page.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  const caughtUp = await shown;
  assert.equal(await caughtUp.request().headerValue('if-none-match'), etag);
  assert.equal(caughtUp.status(), 304);
  await settle(page);
  assert.equal(await rows(page).count(), PER_PAGE);
  assertClean();
});
