// The dashboard's error state in a real browser, against an API that fails. Its own file (and its
// own run in scripts/test-dashboard.sh) because against the real server it needs a second server
// whose database is unreachable, where every other browser test needs a working one.
//
//   DASHBOARD_BASE_URL=http://127.0.0.1:3001 node --test tests/e2e-error-state.mjs   a server whose
//                                                                                    database is down
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { open, PHONE, shot, useBrowser } from './harness.mjs';

useBrowser();

test('error state: a failing API shows an error with a retry button', async (t) => {
  const { page, goto, assertClean } = await open(t);
  await goto();
  const alert = page.getByRole('alert');
  const retry = alert.getByRole('button', { name: 'Try again' });
  await retry.waitFor();
  assert.match(await alert.innerText(), /unavailable|server/i);
  // The health answer is a 503 too, whose data still says why: both freshness badges say so.
  const badges = page.locator('#freshness .badge');
  await page.locator('#freshness', { hasText: 'Database unreachable' }).waitFor();
  assert.deepEqual((await badges.allTextContents()).map((text) => text.trim()),
    ['History: Database unreachable', 'Live prices: Database unreachable']);
  await shot(page, 'error-desktop');
  await page.setViewportSize(PHONE);
  await shot(page, 'error-phone');

  const again = page.waitForResponse((r) => r.url().includes('/api/market'));
  await retry.click();
  await again; // asked again, and still failing: the error stays, with its button
  await page.getByRole('alert').getByRole('button', { name: 'Try again' }).waitFor();
  assertClean();
});
