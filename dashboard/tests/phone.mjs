// A slow phone for the browser tests and `make bench`: Chrome DevTools' throttling (the CPU
// four times slower, Lighthouse's "slow 4G": 150 ms round trips, 1.6 Mbit/s down) and layout
// shifts read with a PerformanceObserver, scored as Chrome scores Cumulative Layout Shift: the
// largest session window (shifts less than 1 s apart, 5 s at most), leaving out shifts right
// after input.

/** A phone's screen, as a browser context's options: 390 x 844, dense pixels, touch, the mobile viewport rules. */
export const PHONE_SCREEN = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true };

/** Chrome DevTools' throttling of a mid-range phone on a slow mobile network. */
async function throttle(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 150, downloadThroughput: 1.6e6 / 8, uploadThroughput: 750e3 / 8,
  });
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
}

/** Records every layout shift of the page, with the elements that moved, from its first frame. */
function recordLayoutShifts(page) {
  return page.addInitScript(() => {
    const describe = (node) => (node?.nodeType === 1
      ? `${node.localName}${node.id ? `#${node.id}` : ''}${[...node.classList].map((c) => `.${c}`).join('')}`
      : String(node?.nodeName));
    window.layoutShifts = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        window.layoutShifts.push({
          at: entry.startTime, value: entry.value, afterInput: entry.hadRecentInput,
          moved: entry.sources.map((s) => `${describe(s.node)} from y ${Math.round(s.previousRect.y)} to ${Math.round(s.currentRect.y)}`),
        });
      }
    }).observe({ type: 'layout-shift', buffered: true });
  });
}

/** Cumulative Layout Shift as Chrome reports it: the largest session window's sum. */
export function sessionWindowCls(shifts) {
  let largest = 0;
  let sum = 0;
  let first = -Infinity;
  let last = -Infinity;
  for (const { at, value, afterInput } of shifts) {
    if (afterInput) continue;
    if (at - last >= 1000 || at - first >= 5000) {
      sum = 0;
      first = at;
    }
    sum += value;
    last = at;
    largest = Math.max(largest, sum);
  }
  return largest;
}

/**
 * Loads `url` in `page` on the slow phone, every layout shift recorded: `ready(page)` says when
 * what matters is drawn; then the page's requests end (the freshness badges' included) and 1.5 s
 * pass, longer than a session window's gap. Returns the time to ready, the shifts and their CLS.
 */
export async function loadThrottled(page, url, ready) {
  await recordLayoutShifts(page);
  await throttle(page);
  const started = Date.now();
  await page.goto(url);
  await ready(page);
  const readyMs = Date.now() - started;
  await page.waitForLoadState('networkidle');
  await page.waitForTimeout(1_500);
  const shifts = await page.evaluate(() => window.layoutShifts);
  return { readyMs, shifts, cls: sessionWindowCls(shifts) };
}
