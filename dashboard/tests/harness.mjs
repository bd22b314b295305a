// What the browser test files share: the server under test, one headless Chromium per test file,
// a fresh browser context per test, and small helpers for the dashboard's markup.
//
// A test file calls useBrowser() once at its top; its before/after hooks start and stop the
// browser. See tests/e2e.mjs for the variables.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { PHONE_SCREEN } from './phone.mjs';

const SCREENSHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = PHONE_SCREEN.viewport;
/** The original's eleven coins: pinned in the suite's tracked set, beside the simulator's top 300. */
export const COINS = ['bitcoin', 'ethereum', 'tether', 'binancecoin', 'solana', 'ripple', 'usd-coin', 'cardano',
  'dogecoin', 'tron', 'avalanche-2'];

/** Coins on a page of the overview (and of /api/market as the dashboard asks for it). */
export const PER_PAGE = 100;

/** The server under test (no trailing slash); set once the before hook has run. */
export let baseUrl;
let browser;

/** Registers the hooks: wait for the server and start the browser before the file's tests, close both after. */
export function useBrowser() {
  before(async () => {
    baseUrl = process.env.DASHBOARD_BASE_URL?.replace(/\/+$/, '');
    if (!baseUrl) throw new Error('Set DASHBOARD_BASE_URL=http://127.0.0.1:3000 (a running crypto-dashboard serve)');
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

  after(async () => {
    await browser?.close();
  });
}

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

/**
 * A fresh browser context (own storage) and page. Requests to any other origin are blocked and
 * recorded; page errors and console errors are collected (resource load failures excepted: the
 * 404 and 503 tests cause them on purpose). assertClean() checks both at the end of a test.
 */
export async function open(t, { viewport = DESKTOP, colorScheme = 'light', phone = false } = {}) {
  const context = await browser.newContext({
    viewport, locale: 'en-US', timezoneId: 'UTC', colorScheme,
    ...(phone ? PHONE_SCREEN : {}),
  });
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
      const offending = external.filter((r) => r.resourceType() !== 'image').map((r) => r.url());
      assert.deepEqual(offending, [], 'no requests to other origins');
    },
  };
}

export const shot = (page, name) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
export const rows = (page) => page.locator('table.market tbody tr');
export const chartReady = (page, interval, range) =>
  page.locator(`.chart-area[data-state="ready"][data-interval="${interval}"][data-range="${range}"] .uplot canvas`).waitFor();
/** Waits until the header's freshness badges have their answer (no "Checking…" left). */
export const freshnessLoaded = (page, options) =>
  page.waitForFunction(() => !document.getElementById('freshness').textContent.includes('Checking'), null, options);
/** The coins of the table, top to bottom. */
export const shownOrder = (page) => rows(page).evaluateAll((trs) => trs.map((tr) => tr.dataset.coin));
/** Waits until the table shows exactly these coins, in this order. */
export const showing = (page, ids) => page.waitForFunction((want) => [...document.querySelectorAll('table.market tbody tr')]
  .map((tr) => tr.dataset.coin).join() === want.join(), ids);
/** GET /api/market of the server under test with `query` (a string or an object): its body. */
export async function market(query) {
  const response = await fetch(`${baseUrl}/api/market?${new URLSearchParams(query)}`);
  assert.equal(response.status, 200, `/api/market?${new URLSearchParams(query)}`);
  return response.json();
}
export const chartPoints = async (page) => Number(await page.locator('.chart-area').getAttribute('data-points'));

/** Waits until the table's `count` prices (any number but none when null) all show `symbol`. */
export async function waitForPricesIn(page, symbol, count = PER_PAGE) {
  await page.waitForFunction(([s, n]) => {
    const cells = [...document.querySelectorAll('table.market td.price')];
    return (n == null ? cells.length > 0 : cells.length === n) && cells.every((td) => td.textContent.includes(s));
  }, [symbol, count]);
}
