// Entry point: hash router, currency switcher and the header's freshness badges.
// Routes: #/?currency=eur&sort=price&order=asc&page=2&q=bit&view=watchlist (overview; rank
// ascending, page 1, no search and all coins are left out) and #/coin/<id>?currency=eur&interval=hourly&range=7d (coin page; range
// is 7d, 30d, 90d, 1y or all, and 1y and all are daily only).
import './styles.css';
import { apiGet } from './api.js';
import { h } from './dom.js';
import { createFreshness } from './components/freshness.js';
import { loadingState } from './components/states.js';
import { createCoinView, HOURLY_MAX_DAYS, INTERVALS, rangeFromKey, rangeKey } from './views/coin.js';
import { createOverview, SORT_ORDERS } from './views/overview.js';

const STORAGE_KEY = 'crypto-dashboard.currency';
const main = document.getElementById('main');
const select = document.getElementById('currency');
const freshness = createFreshness(document.getElementById('freshness'), document.getElementById('simulated-notice'));

const storage = {
  get() { try { return localStorage.getItem(STORAGE_KEY); } catch { return null; } },
  set(value) { try { localStorage.setItem(STORAGE_KEY, value); } catch { /* private mode: not remembered */ } },
};

const app = {
  /** [{code, name}] from GET /api/currencies; null until loaded. */
  currencies: null,
  currency: storage.get() ?? 'usd',
  /** Change query parameters of the current route and re-render, in place (no history entry); null or '' removes one. */
  setParams(changes) {
    history.replaceState(null, '', withParams(changes));
    render();
  },
  /** The same as a step Back can undo (sort, order, page): a new history entry. */
  navigate(changes) {
    location.hash = withParams(changes); // hashchange renders
  },
  /** The retry buttons: reload whatever failed. */
  async retry() {
    freshness.refresh();
    if (!app.currencies) await loadCurrencies();
    render();
  },
};

function splitHash() {
  const raw = location.hash.slice(1);
  const at = raw.indexOf('?');
  return {
    path: (at < 0 ? raw : raw.slice(0, at)) || '/',
    query: new URLSearchParams(at < 0 ? '' : raw.slice(at + 1)),
  };
}

/** The current address with query parameters changed. */
function withParams(changes) {
  const { path, query } = splitHash();
  for (const [key, value] of Object.entries(changes)) {
    if (value == null || value === '') query.delete(key);
    else query.set(key, value);
  }
  return `#${path}?${query}`;
}

/** The overview's sort, order, page, search and view from the address (anything invalid: the default). */
function marketParams(query) {
  const sort = SORT_ORDERS.has(query.get('sort')) ? query.get('sort') : 'rank';
  const order = ['asc', 'desc'].includes(query.get('order')) ? query.get('order') : SORT_ORDERS.get(sort);
  const page = Number(query.get('page'));
  return {
    sort,
    order,
    page: Number.isSafeInteger(page) && page > 1 ? page : 1,
    q: (query.get('q') ?? '').trim().slice(0, 50),
    view: query.get('view') === 'watchlist' ? 'watchlist' : 'all',
  };
}

function parseRoute() {
  const { path, query } = splitHash();
  let segments;
  try {
    segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return { name: 'missing', query };
  }
  if (segments.length === 0) return { name: 'overview', query };
  if (segments[0] === 'coin' && segments.length === 2) return { name: 'coin', id: segments[1], query };
  return { name: 'missing', query };
}

function resolveCurrency(requested) {
  const known = app.currencies?.map((c) => c.code);
  const valid = (code) => typeof code === 'string' && (known ? known.includes(code) : /^[a-z]{3}$/.test(code));
  if (valid(requested)) return requested;
  if (valid(app.currency)) return app.currency;
  return known?.[0] ?? 'usd';
}

/** The URL a view is shown under: every deep link carries its currency, and non-default chart settings. */
function canonicalHash(route, params) {
  const query = new URLSearchParams({ currency: params.currency });
  if (route.name === 'overview') {
    if (params.sort !== 'rank') query.set('sort', params.sort);
    if (params.order !== SORT_ORDERS.get(params.sort)) query.set('order', params.order);
    if (params.page > 1) query.set('page', String(params.page));
    if (params.q) query.set('q', params.q);
    if (params.view === 'watchlist') query.set('view', 'watchlist');
    return `#/?${query}`;
  }
  if (route.name !== 'coin') return location.hash;
  if (params.interval !== 'daily') query.set('interval', params.interval);
  if (params.range !== 30) query.set('range', rangeKey(params.range));
  return `#/coin/${encodeURIComponent(route.id)}?${query}`;
}

function createMissingView(root) {
  const heading = h('h1', { tabindex: '-1' }, 'Page not found');
  root.replaceChildren(h('div', { class: 'view-head' }, heading),
    h('div', { class: 'state' },
      h('p', {}, 'This address does not match any page of the dashboard.'),
      h('a', { class: 'button button-primary', href: '#/' }, 'Go to the overview')));
  return { heading, update() { document.title = 'Page not found · Crypto Dashboard'; }, destroy() {} };
}

let current = null; // { key, view }

function render({ navigated = false } = {}) {
  const route = parseRoute();
  const currency = resolveCurrency(route.query.get('currency')?.toLowerCase());
  const range = rangeFromKey(route.query.get('range')) ?? 30;
  const params = {
    currency,
    // Hourly prices reach back 90 days at most: longer ranges are daily.
    interval: INTERVALS.includes(route.query.get('interval')) && range <= HOURLY_MAX_DAYS ? route.query.get('interval') : 'daily',
    range,
    ...(route.name === 'overview' ? marketParams(route.query) : {}),
  };
  app.currency = currency;
  storage.set(currency);
  if (![...select.options].some((o) => o.value === currency)) select.append(h('option', { value: currency }, currency.toUpperCase()));
  select.value = currency;
  const hash = canonicalHash(route, params);
  if (hash !== location.hash) history.replaceState(null, '', hash);

  const key = route.name === 'coin' ? `coin:${route.id}` : route.name;
  if (current?.key !== key) {
    current?.view.destroy();
    const view = route.name === 'overview' ? createOverview(main, app)
      : route.name === 'coin' ? createCoinView(main, app, route.id)
        : createMissingView(main);
    current = { key, view };
    if (navigated) {
      window.scrollTo(0, 0);
      view.heading.focus();
    }
  }
  current.view.update(params);
}

async function loadCurrencies() {
  try {
    const list = await apiGet('/api/currencies');
    if (!Array.isArray(list) || list.length === 0) throw new Error('no currencies');
    app.currencies = list.map((c) => ({ code: String(c.code).toLowerCase(), name: String(c.name ?? c.code) }));
    select.replaceChildren(...app.currencies.map((c) => h('option', { value: c.code, title: c.name }, c.code.toUpperCase())));
    select.disabled = false;
  } catch {
    select.disabled = true; // the view shows the error and a retry button
  }
}

select.addEventListener('change', () => app.setParams({ currency: select.value }));
window.addEventListener('hashchange', () => render({ navigated: true }));
document.querySelector('.skip-link').addEventListener('click', (event) => {
  event.preventDefault(); // the hash is the router's
  main.focus();
});

main.replaceChildren(loadingState('Loading…'));
freshness.refresh();
loadCurrencies().then(() => render());
