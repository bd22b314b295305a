// axe-core over the dashboard's views, in light and in dark: the market table, the watchlist
// (with stars and empty), a coin page and the phone layout. Every WCAG 2.x A and AA rule and
// axe's best practices run; any violation fails, with its rule, its elements and axe's advice.
//
// axe runs inside the page. It is evaluated through the DevTools protocol, which the page's
// Content-Security-Policy (script-src 'self') does not apply to, so the policy stays as served.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { chartReady, DESKTOP, freshnessLoaded, open, PER_PAGE, PHONE, rows, useBrowser } from './harness.mjs';

useBrowser();

const AXE_SOURCE = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

/** axe's violations on the page as it is now, one line per element. */
async function violations(page) {
  await page.evaluate(AXE_SOURCE);
  const found = await page.evaluate((tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags } })
    .then((result) => result.violations.map((v) => ({
      rule: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`),
    }))), TAGS);
  return found.flatMap((v) => v.nodes.map((node) => `${v.rule} (${v.impact}, ${v.help}) ${node}`));
}

async function assertAccessible(page, what) {
  const found = await violations(page);
  assert.deepEqual(found, [], `axe finds nothing on ${what}`);
}

for (const colorScheme of ['light', 'dark']) {
  test(`axe: the market table, sorted and searched, at 1280 and 390 px (${colorScheme})`, async (t) => {
    const { page, goto, assertClean } = await open(t, { colorScheme });
    await goto();
    await rows(page).nth(PER_PAGE - 1).waitFor();
    await freshnessLoaded(page);
    await assertAccessible(page, `the overview (${colorScheme}, 1280 px)`);
    await page.getByRole('button', { name: '24h', exact: true }).click();
    await page.locator('th[aria-sort="descending"] [data-sort="change24h"]').waitFor();
    await rows(page).first().locator('.star').click();
    await page.locator('.star[aria-pressed="true"]').waitFor();
    await assertAccessible(page, `the overview sorted by 24h, one coin starred (${colorScheme})`);
    await page.setViewportSize(PHONE);
    await assertAccessible(page, `the overview at 390 px (${colorScheme})`);
    await page.getByRole('searchbox', { name: 'Search coins' }).fill('no-such-coin');
    await page.getByText('No coin matches', { exact: true }).waitFor();
    await assertAccessible(page, `no coin matches (${colorScheme})`);
    assertClean();
  });

  test(`axe: the watchlist, empty and with coins (${colorScheme})`, async (t) => {
    const { page, goto, assertClean } = await open(t, { colorScheme });
    await goto('#/?currency=usd&view=watchlist');
    await page.getByText('Your watchlist is empty', { exact: true }).waitFor();
    await assertAccessible(page, `the empty watchlist (${colorScheme})`);
    await page.getByRole('link', { name: 'All coins', exact: true }).click();
    await rows(page).first().waitFor();
    for (const name of ['Bitcoin', 'Tether', 'Solana']) await page.getByRole('button', { name: `Watch ${name}`, exact: true }).click();
    await page.getByRole('button', { name: 'Watchlist', exact: true }).click();
    await page.waitForFunction(() => document.querySelectorAll('table.market tbody tr').length === 3);
    await assertAccessible(page, `the watchlist of three coins (${colorScheme})`);
    assertClean();
  });

  test(`axe: a coin page with its chart, toggles and Download CSV (${colorScheme})`, async (t) => {
    const { page, goto, assertClean } = await open(t, { colorScheme });
    await goto('#/coin/bitcoin?currency=usd&interval=hourly&range=7d');
    await chartReady(page, 'hourly', 7);
    await page.getByRole('link', { name: /^Download CSV/ }).waitFor();
    await assertAccessible(page, `the coin page (${colorScheme}, 1280 px)`);
    await page.setViewportSize(PHONE);
    await assertAccessible(page, `the coin page at 390 px (${colorScheme})`);
    await page.setViewportSize(DESKTOP);
    assertClean();
  });
}
