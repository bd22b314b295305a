// `make bench`: the dashboard loaded on a slow phone (tests/phone.mjs), RUNS times each, in a
// fresh browser context every time (no cache). Prints JSON: for the overview, the time from
// navigation to its 100th row drawn; for a coin page, to its chart drawn; and each load's CLS.
//
//   node bench/phone-load.mjs http://127.0.0.1:3000 5
import { chromium } from 'playwright-core';
import { loadThrottled, PHONE_SCREEN } from '../tests/phone.mjs';

const [base, runs = '5'] = process.argv.slice(2);
if (!base) throw new Error('usage: node bench/phone-load.mjs BASE_URL [RUNS]');

const PAGES = {
  overview: { hash: '#/', drawn: 'table.market tbody tr:nth-child(100)' },
  coin: { hash: '#/coin/bitcoin?currency=usd', drawn: '.chart-area[data-state="ready"] .uplot canvas' },
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const result = {};
try {
  for (const [name, { hash, drawn }] of Object.entries(PAGES)) {
    result[name] = [];
    for (let run = 0; run < Number(runs); run += 1) {
      const context = await browser.newContext({ ...PHONE_SCREEN, locale: 'en-US', timezoneId: 'UTC' });
      const page = await context.newPage();
      const { readyMs, cls } = await loadThrottled(page, `${base.replace(/\/+$/, '')}/${hash}`,
        (p) => p.locator(drawn).waitFor({ timeout: 60_000 }));
      result[name].push({ drawnMs: readyMs, cls });
      await context.close();
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
