// Overview: every tracked coin with price (and its own time), 24h and 7d change, market cap and
// 24h volume (wide screens), and a 7-day sparkline, from GET /api/market. While the tab is visible
// the table refreshes itself every minute with a conditional request: a 304 keeps what is shown.
import { apiFetch, apiPath } from '../api.js';
import { coinImage, h, srOnly } from '../dom.js';
import { describeChange, formatCompactMoney, formatDateTime, formatPrice, parseTime } from '../format.js';
import { asOf, refreshRelativeTimes } from '../components/as-of.js';
import { sparkline } from '../components/sparkline.js';
import { emptyState, errorState, loadingState } from '../components/states.js';

/** A signed, coloured change with an arrow, and the same in words for screen readers. */
function change(percent) {
  const { text, label, trend } = describeChange(percent);
  return [
    h('span', { class: `change ${trend}`, 'aria-hidden': 'true' }, trend === 'up' ? '▲ ' : trend === 'down' ? '▼ ' : '', text),
    srOnly(label),
  ];
}

/** A compact amount, or an em dash that screen readers hear as "no data". */
function compact(value, currency) {
  return value == null || !Number.isFinite(value)
    ? [h('span', { 'aria-hidden': 'true' }, '—'), srOnly('no data')]
    : formatCompactMoney(value, currency);
}

function coinRow(coin, rank, currency) {
  const href = `#/coin/${encodeURIComponent(coin.id)}?currency=${currency}`;
  const trend = describeChange(coin.change7d);
  return h('tr', { 'data-coin': coin.id },
    h('td', { class: 'col-rank num' }, String(rank)),
    h('th', { scope: 'row', class: 'col-coin' },
      h('a', { class: 'coin-link', href },
        coinImage(coin, 28),
        h('span', { class: 'coin-names' },
          h('span', { class: 'coin-name' }, coin.name),
          h('span', { class: 'coin-symbol' }, String(coin.symbol ?? '').toUpperCase())))),
    h('td', { class: 'num price' },
      coin.price == null ? [h('span', { 'aria-hidden': 'true' }, '—'), srOnly('no price yet')] : formatPrice(coin.price, currency),
      coin.price == null ? null : asOf(parseTime(coin.updatedAt), coin.stale === true, 'short'),
      // Phones have no room for the 24h column: its change goes under the price instead.
      h('span', { class: 'change-under' }, change(coin.change24h))),
    h('td', { class: 'num col-24h' }, change(coin.change24h)),
    h('td', { class: 'num col-7d' }, change(coin.change7d)),
    h('td', { class: 'num col-mcap' }, compact(coin.marketCap, currency)),
    h('td', { class: 'num col-vol' }, compact(coin.volume24h, currency)),
    h('td', { class: 'col-spark' }, sparkline(coin.sparkline7d, `Last 7 days: ${trend.label}`)));
}

function marketTable(coins, currency) {
  const rows = coins.map((coin, i) => coinRow(coin, i + 1, currency));
  const tbody = h('tbody', {
    // The whole row is a click target; the link inside it is the keyboard target.
    onClick: (event) => {
      if (event.target.closest('a')) return;
      const link = event.target.closest('tr')?.querySelector('a.coin-link');
      if (link) location.hash = link.hash;
    },
  }, rows);
  const latest = coins.map((c) => parseTime(c.updatedAt)).filter(Boolean).sort((a, b) => b - a)[0];
  return [
    h('div', { class: 'card table-card' },
      h('table', { class: 'market' },
        h('caption', { class: 'visually-hidden' }, `Tracked coins, prices in ${currency.toUpperCase()}`),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col', class: 'col-rank num' }, '#'),
          h('th', { scope: 'col', class: 'col-coin' }, 'Coin'),
          h('th', { scope: 'col', class: 'num' }, 'Price'),
          h('th', { scope: 'col', class: 'num col-24h' }, '24h'),
          h('th', { scope: 'col', class: 'num col-7d' }, '7d'),
          h('th', { scope: 'col', class: 'num col-mcap' }, 'Market cap'),
          h('th', { scope: 'col', class: 'num col-vol' }, 'Volume (24h)'),
          h('th', { scope: 'col', class: 'col-spark' }, 'Last 7 days'))),
        tbody)),
    h('p', { class: 'footnote' },
      latest ? `Latest prices from ${formatDateTime(latest)}. ` : '',
      'Select a coin for its price history.'),
  ];
}

function skeletonTable() {
  const row = () => h('div', { class: 'skeleton-row' },
    h('span', { class: 'skeleton skeleton-circle' }), h('span', { class: 'skeleton skeleton-text' }),
    h('span', { class: 'skeleton skeleton-num' }), h('span', { class: 'skeleton skeleton-spark' }));
  return loadingState('Loading prices…', h('div', { class: 'card skeleton-card', 'aria-hidden': 'true' },
    Array.from({ length: 8 }, row)));
}

const ingestHint = () => [
  'Prices appear after the first ingestion run. Run ',
  h('code', {}, 'make dev'), ' or ', h('code', {}, 'crypto-dashboard ingest'), ', then reload.',
];

/** How often the overview asks for new prices while the tab is visible. */
export const REFRESH_MS = 60_000;

export function createOverview(root, app) {
  let controller;
  let params;
  let timer = null;
  let lastLoad = 0;
  let shown = null; // { path, etag } of the table on screen
  const heading = h('h1', { tabindex: '-1' }, 'Market overview');
  const lede = h('p', { class: 'lede' }, 'Prices, changes and 7-day trends of the tracked coins.');
  const body = h('div', { class: 'view-body' });
  root.replaceChildren(h('div', { class: 'view-head' }, heading, lede), body);

  function render(coins, currency) {
    if (!Array.isArray(coins) || coins.length === 0) {
      body.replaceChildren(emptyState('No coins are tracked',
        ['The server tracks no coins. Set ', h('code', {}, 'TRACKED_COINS'), ' and run an ingestion.']));
    } else if (coins.every((coin) => coin.price == null)) {
      body.replaceChildren(emptyState('No prices yet', ingestHint()));
    } else {
      body.replaceChildren(...marketTable(coins, currency));
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(tick, REFRESH_MS);
  }

  /** The timer's work: nothing while the tab is hidden (it catches up when shown again). */
  function tick() {
    if (document.hidden) return;
    refresh();
  }

  function onVisibility() {
    if (document.hidden) clearTimeout(timer);
    else if (Date.now() - lastLoad >= REFRESH_MS) refresh();
    else schedule();
  }
  document.addEventListener('visibilitychange', onVisibility);

  /** A quiet reload of what is shown: conditional, no loading state, and a failure keeps the table. */
  async function refresh() {
    if (!shown) return load(params);
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;
    const { path, etag } = shown;
    lastLoad = Date.now();
    schedule();
    try {
      const result = await apiFetch(path, { signal, etag });
      if (signal.aborted) return;
      if (result.notModified) {
        refreshRelativeTimes(body);
      } else {
        shown = { path, etag: result.etag };
        render(result.data, params.currency);
      }
    } catch (error) {
      if (signal.aborted) return;
      refreshRelativeTimes(body); // keep the table; the next tick tries again
    }
  }

  async function load(next) {
    params = next;
    const { currency } = params;
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;
    document.title = 'Market overview · Crypto Dashboard';
    shown = null;
    lastLoad = Date.now();
    schedule();
    if (body.querySelector('table')) body.classList.add('is-updating');
    else body.replaceChildren(skeletonTable());
    body.setAttribute('aria-busy', 'true');
    const path = apiPath('/api/market', { currency });
    try {
      const { data, etag } = await apiFetch(path, { signal });
      render(data, currency);
      shown = { path, etag };
    } catch (error) {
      if (signal.aborted) return;
      body.replaceChildren(errorState(error, app.retry, { what: 'prices' }));
    } finally {
      if (!signal.aborted) {
        body.classList.remove('is-updating');
        body.removeAttribute('aria-busy');
      }
    }
  }

  return {
    heading,
    update: load,
    destroy() {
      controller?.abort();
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    },
  };
}
