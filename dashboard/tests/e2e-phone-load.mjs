// Loading on a slow phone (tests/phone.mjs: a 390 px touch screen, the CPU four times slower,
// Lighthouse's "slow 4G"), with every layout shift recorded from the first frame and scored as
// Chrome scores Cumulative Layout Shift.
//
// The time until 100 rows are drawn is printed, not asserted: `make bench` records it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseUrl, chartReady, freshnessLoaded, open, PER_PAGE, PHONE, rows, shot, useBrowser } from './harness.mjs';
import { loadThrottled, sessionWindowCls } from './phone.mjs';

useBrowser();

test('session windows: shifts less than a second apart add up, a pause or 5 s starts a new window', () => {
  const at = (ms, value, afterInput = false) => ({ at: ms, value, afterInput });
  const cls = (shifts) => Number(sessionWindowCls(shifts).toFixed(6));
  assert.equal(cls([]), 0);
  assert.equal(cls([at(0, 0.05), at(900, 0.04), at(2000, 0.06)]), 0.09);
  assert.equal(cls([at(0, 0.05), at(1000, 0.04)]), 0.05, 'a full second apart: two windows');
  assert.equal(cls([at(0, 0.03), at(900, 0.03), at(1800, 0.03), at(2700, 0.03), at(3600, 0.03), at(4500, 0.03), at(5000, 0.03)]),
    0.18, 'five seconds after its first shift a window ends');
  assert.equal(cls([at(0, 0.3, true), at(100, 0.01)]), 0.01, 'shifts after input do not count');
});

/**
 * Logos as CoinGecko serves them, from an image host (the simulator's are inline data, which
 * the dashboard does not show): the market answer points at one, which this page answers.
 */
async function logosFromAnImageHost(page) {
  const host = 'https://coin-images.test';
  await page.route((url) => url.origin === host, (route) => route.fulfill({
    contentType: 'image/svg+xml',
    body: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="30" fill="#f7931a"/></svg>',
  }));
  await page.route((url) => url.pathname === '/api/market', async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    for (const coin of body.data) coin.imageUrl = `${host}/coins/images/${coin.id}/small.svg`;
    await route.fulfill({ response, json: body });
  });
}

/** Loads `hash` on the throttled phone (tests/phone.mjs) until `ready` holds and the page has settled. */
async function loadOnSlowPhone(t, hash, ready) {
  const { page, assertClean } = await open(t, { viewport: PHONE, phone: true });
  await logosFromAnImageHost(page);
  const { readyMs, shifts, cls } = await loadThrottled(page, `${baseUrl}/${hash}`, ready);
  await freshnessLoaded(page);
  return { page, assertClean, shifts, cls, readyAfter: readyMs };
}

const report = (shifts) => shifts.map((s) => `${s.value.toFixed(4)} at ${Math.round(s.at)} ms: ${s.moved.join(', ')}`).join('\n');

test('the overview of 100 coins loads on a slow phone without a layout shift of 0.1 or more', async (t) => {
  const { page, assertClean, shifts, cls, readyAfter } = await loadOnSlowPhone(t, '#/', async (p) => {
    await rows(p).nth(PER_PAGE - 1).waitFor({ timeout: 60_000 });
  });
  t.diagnostic(`100 rows drawn ${readyAfter} ms after navigation; CLS ${cls.toFixed(4)} over ${shifts.length} shifts`);
  assert.ok(cls < 0.1, `CLS ${cls.toFixed(4)}:\n${report(shifts)}`);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
  // The logos of the first rows load at once, the others when scrolled near.
  const logos = await page.locator('table.market img.coin-img').evaluateAll((imgs) => imgs.map((img) => ({
    lazy: img.loading === 'lazy', top: img.getBoundingClientRect().top, sized: img.getAttribute('width') && img.getAttribute('height'),
  })));
  assert.equal(logos.length, PER_PAGE, 'every row has a logo');
  assert.ok(logos.every((img) => img.sized), 'every logo has its width and height');
  const screen = PHONE.height;
  assert.ok(logos.filter((img) => img.top < screen).every((img) => !img.lazy), 'no logo on the first screen is lazy');
  assert.ok(logos.filter((img) => img.top > 2 * screen).every((img) => img.lazy), 'every logo further down is lazy');
  await shot(page, 'overview-slow-phone');
  assertClean();
});

test('a coin page loads on a slow phone without a layout shift of 0.1 or more', async (t) => {
  const { page, assertClean, shifts, cls, readyAfter } = await loadOnSlowPhone(t, '#/coin/bitcoin?currency=usd', async (p) => {
    await chartReady(p, 'daily', 30);
  });
  t.diagnostic(`chart drawn ${readyAfter} ms after navigation; CLS ${cls.toFixed(4)} over ${shifts.length} shifts`);
  assert.ok(cls < 0.1, `CLS ${cls.toFixed(4)}:\n${report(shifts)}`);
  await shot(page, 'coin-slow-phone');
  assertClean();
});
