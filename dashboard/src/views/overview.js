// Overview: the tracked coins a page of 100 at a time, with rank, price (and its own time), 1h, 24h
// and 7d change, market cap and 24h volume (wide screens), and a 7-day sparkline, from
// GET /api/market. A column header sorts (again: the other way), the search box asks the server
// (`q`), and sort, order, page and search live in the URL. While the tab is visible the page shown
// refreshes itself every minute with a conditional request: a 304 keeps what is shown.
import { apiFetch, apiPath } from '../api.js';
import { coinImage, h, srOnly } from '../dom.js';
import { describeChange, formatCompactMoney, formatDateTime, formatPrice, parseTime } from '../format.js';
import { asOf, refreshRelativeTimes } from '../components/as-of.js';
import { sparkline } from '../components/sparkline.js';
import { emptyState, errorState, loadingState } from '../components/states.js';
import { toggleWatched, watchlist } from '../watchlist.js';

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

/** The sorts of /api/market, each with the order its first click gives. */
export const SORT_ORDERS = new Map([
  ['rank', 'asc'], ['name', 'asc'], ['price', 'desc'], ['change1h', 'desc'], ['change24h', 'desc'],
  ['change7d', 'desc'], ['marketCap', 'desc'], ['volume24h', 'desc'],
]);
/**
 * Every sort in both orders, as the sort menu offers them where the table hides some columns
 * (phones and narrow windows): "sort order" and its label.
 */
const SORT_CHOICES = [
  ['rank asc', 'Rank'], ['rank desc', 'Rank, last first'],
  ['name asc', 'Name, A to Z'], ['name desc', 'Name, Z to A'],
  ['price desc', 'Price, highest first'], ['price asc', 'Price, lowest first'],
  ['change1h desc', '1h change, biggest rise first'], ['change1h asc', '1h change, biggest fall first'],
  ['change24h desc', '24h change, biggest rise first'], ['change24h asc', '24h change, biggest fall first'],
  ['change7d desc', '7d change, biggest rise first'], ['change7d asc', '7d change, biggest fall first'],
  ['marketCap desc', 'Market cap, largest first'], ['marketCap asc', 'Market cap, smallest first'],
  ['volume24h desc', 'Volume (24h), largest first'], ['volume24h asc', 'Volume (24h), smallest first'],
];
/** Coins on a page. */
export const PER_PAGE = 100;
/** Rows whose logos load at once: the first screen of a tall desktop window. */
const EAGER_ROWS = 12;

/** The star that puts a coin on the watchlist (a toggle button named after the coin). */
function star(coin, watched, onToggle) {
  const button = h('button', {
    type: 'button', class: 'star', 'aria-pressed': String(watched), 'aria-label': `Watch ${coin.name}`,
    title: 'Add to or remove from your watchlist',
  }, h('span', { 'aria-hidden': 'true' }, watched ? '★' : '☆'));
  button.addEventListener('click', () => {
    const now = toggleWatched(coin.id);
    button.setAttribute('aria-pressed', String(now));
    button.firstChild.textContent = now ? '★' : '☆';
    onToggle();
  });
  return button;
}

function coinRow(coin, index, currency, watched, onToggle) {
  const href = `#/coin/${encodeURIComponent(coin.id)}?currency=${currency}`;
  const trend = describeChange(coin.change7d);
  return h('tr', { 'data-coin': coin.id },
    h('td', { class: 'col-star' }, star(coin, watched.has(coin.id), onToggle)),
    h('td', { class: 'col-rank num' },
      coin.rank == null ? [h('span', { 'aria-hidden': 'true' }, '—'), srOnly('unranked')] : String(coin.rank)),
    h('th', { scope: 'row', class: 'col-coin' },
      h('a', { class: 'coin-link', href },
        coinImage(coin, 28, { lazy: index >= EAGER_ROWS }),
        h('span', { class: 'coin-names' },
          h('span', { class: 'coin-name' }, coin.name),
          h('span', { class: 'coin-symbol' }, String(coin.symbol ?? '').toUpperCase())))),
    h('td', { class: 'num price' },
      coin.price == null ? [h('span', { 'aria-hidden': 'true' }, '—'), srOnly('no price yet')] : formatPrice(coin.price, currency),
      coin.price == null ? null : asOf(parseTime(coin.updatedAt), coin.stale === true, 'short'),
      // Phones have no room for the 24h column: its change goes under the price instead.
      h('span', { class: 'change-under' }, change(coin.change24h))),
    h('td', { class: 'num col-1h' }, change(coin.change1h)),
    h('td', { class: 'num col-24h' }, change(coin.change24h)),
    h('td', { class: 'num col-7d' }, change(coin.change7d)),
    h('td', { class: 'num col-mcap' }, compact(coin.marketCap, currency)),
    h('td', { class: 'num col-vol' }, compact(coin.volume24h, currency)),
    h('td', { class: 'col-spark' }, sparkline(coin.sparkline7d, `Last 7 days: ${trend.label}`)));
}

/** A column header that sorts: a button inside the th, and aria-sort on the sorted column. */
function sortHeader(key, label, className, state, onSort) {
  const sorted = state.sort === key;
  const ascending = state.order === 'asc';
  return h('th', {
    scope: 'col', class: className, 'aria-sort': sorted ? (ascending ? 'ascending' : 'descending') : null,
  }, h('button', { type: 'button', class: 'sort-button', 'data-sort': key, onClick: () => onSort(key) },
    label, h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, sorted ? (ascending ? '▲' : '▼') : '')));
}

/** Previous / page N of M / Next, when there is more than one page. */
function pager(meta, onPage) {
  const pages = Math.max(1, Math.ceil(meta.total / meta.perPage));
  if (pages <= 1 && meta.page <= 1) return null;
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', class: 'button', 'data-page': 'previous', disabled: meta.page <= 1, onClick: () => onPage(meta.page - 1) }, 'Previous'),
    h('span', { class: 'pager-at' }, `Page ${meta.page} of ${pages}`),
    h('button', { type: 'button', class: 'button', 'data-page': 'next', disabled: meta.page >= pages, onClick: () => onPage(meta.page + 1) }, 'Next'));
}

function marketTable(coins, state, onSort, onToggle) {
  const { currency } = state;
  const watched = new Set(watchlist());
  const rows = coins.map((coin, index) => coinRow(coin, index, currency, watched, onToggle));
  const sortable = (key, label, className) => sortHeader(key, label, className, state, onSort);
  const tbody = h('tbody', {
    // The whole row is a click target; the link inside it is the keyboard target.
    onClick: (event) => {
      if (event.target.closest('a, button')) return;
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
          h('th', { scope: 'col', class: 'col-star' }, srOnly('Watchlist')),
          sortable('rank', '#', 'col-rank num'),
          sortable('name', 'Coin', 'col-coin'),
          sortable('price', 'Price', 'num col-price'),
          sortable('change1h', '1h', 'num col-1h'),
          sortable('change24h', '24h', 'num col-24h'),
          sortable('change7d', '7d', 'num col-7d'),
          sortable('marketCap', 'Market cap', 'num col-mcap'),
          sortable('volume24h', 'Volume (24h)', 'num col-vol'),
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
/** How long the search waits after the last key before it asks. */
const SEARCH_DEBOUNCE_MS = 300;

export function createOverview(root, app) {
  let controller;
  let params;
  let timer = null;
  let lastLoad = 0;
  let shown = null; // { path, etag } of the table on screen
  const heading = h('h1', { tabindex: '-1' }, 'Market overview');
  const lede = h('p', { class: 'lede' }, 'Prices, changes and 7-day trends of the tracked coins.');
  // The server searches (`q`): asked once typing pauses, kept in the URL without a history entry each key.
  const search = h('input', {
    type: 'search', id: 'market-search', autocomplete: 'off', spellcheck: 'false', maxlength: 50,
    placeholder: 'Name, symbol or id',
  });
  let typing = null;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => app.setParams({ q: search.value.trim(), page: null }), SEARCH_DEBOUNCE_MS);
  });
  // All tracked coins, or the starred ones (`view=watchlist`, asked for with `ids`).
  const viewButtons = [['all', 'All coins'], ['watchlist', 'Watchlist']].map(([view, text]) => h('button', {
    type: 'button', 'aria-pressed': 'false', 'data-view': view, onClick: () => view !== params.view && app.navigate({ view: view === 'all' ? null : view, page: null }),
  }, text));
  // Where columns are hidden their headers cannot be clicked: the same sorts as a menu.
  const sortMenu = h('select', { id: 'market-sort' },
    SORT_CHOICES.map(([value, label]) => h('option', { value }, label)));
  sortMenu.addEventListener('change', () => {
    const [sort, order] = sortMenu.value.split(' ');
    app.navigate({ sort, order, page: null });
  });
  const tools = h('div', { class: 'market-tools' },
    h('div', { class: 'segmented', role: 'group', 'aria-label': 'Coins shown' }, viewButtons),
    h('div', { class: 'field search-field' }, h('label', { for: 'market-search' }, 'Search coins'), search),
    h('div', { class: 'field sort-field' }, h('label', { for: 'market-sort' }, 'Sort by'), sortMenu));
  const body = h('div', { class: 'view-body' });
  root.replaceChildren(h('div', { class: 'view-head' }, heading, lede), tools, body);

  const onSort = (key) => app.navigate({
    sort: key,
    order: key === params.sort ? (params.order === 'asc' ? 'desc' : 'asc') : SORT_ORDERS.get(key),
    page: null,
  });
  // A new page is read from its top; the keyboard stays on the pager button.
  let pageTurned = false;
  const onPage = (page) => {
    pageTurned = true;
    app.navigate({ page });
  };
  // Unstarring on the watchlist takes the coin off the page at once.
  const onToggle = () => { if (params.view === 'watchlist') load(params); };

  function render(coins, meta) {
    // A re-render keeps the keyboard where it was: on the same header or pager button.
    const focused = document.activeElement;
    const again = focused?.dataset?.sort ? `[data-sort="${focused.dataset.sort}"]`
      : focused?.dataset?.page ? `[data-page="${focused.dataset.page}"]` : null;
    const none = !Array.isArray(coins) || coins.length === 0;
    meta = meta ?? { total: none ? 0 : coins.length, page: 1, perPage: PER_PAGE };
    if (params.view === 'watchlist' && none && !params.q) {
      body.replaceChildren(emptyState('Your watchlist is empty',
        ['Star a coin (☆) in ', h('a', { href: '#/', onClick: (event) => { event.preventDefault(); app.navigate({ view: null, page: null }); } }, 'All coins'),
          ' to keep it here. The list stays in this browser.']));
    } else if (none && params.q) {
      body.replaceChildren(emptyState('No coin matches', [`No tracked coin has “${params.q}” in its name, symbol or id.`]));
    } else if (none && meta.total > 0) {
      body.replaceChildren(emptyState(`No page ${meta.page}`, [`There are ${meta.total} coins: `,
        h('a', { href: '#', onClick: (event) => { event.preventDefault(); onPage(null); } }, 'go to the first page'), '.']));
    } else if (none) {
      body.replaceChildren(emptyState('No coins are tracked',
        ['The server tracks no coins. Set ', h('code', {}, 'TRACKED_COINS'), ' and run an ingestion.']));
    } else if (coins.every((coin) => coin.price == null) && meta.page === 1 && !params.q) {
      body.replaceChildren(emptyState('No prices yet', ingestHint()));
    } else {
      body.replaceChildren(...marketTable(coins, params, onSort, onToggle), pager(meta, onPage) ?? []);
    }
    const target = (again && body.querySelector(`${again}:not([disabled])`))
      || (focused?.dataset?.page ? body.querySelector('[data-page]:not([disabled])') : null);
    target?.focus({ preventScroll: pageTurned });
    if (pageTurned) tools.scrollIntoView({ block: 'start' });
    pageTurned = false;
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
        render(result.data, result.meta);
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
    if (search.value.trim() !== params.q) search.value = params.q; // a link, a reload or Back
    sortMenu.value = `${params.sort} ${params.order}`;
    viewButtons.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.view === params.view)));
    const ids = params.view === 'watchlist' ? watchlist() : null;
    if (ids?.length === 0) {
      shown = null;
      render([], null);
      body.removeAttribute('aria-busy');
      body.classList.remove('is-updating');
      return;
    }
    const path = apiPath('/api/market', {
      currency, sort: params.sort, order: params.order, page: params.page, perPage: PER_PAGE, q: params.q || null,
      ids: ids?.join(',') ?? null,
    });
    try {
      const { data, meta, etag } = await apiFetch(path, { signal });
      render(data, meta);
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
      clearTimeout(typing);
      document.removeEventListener('visibilitychange', onVisibility);
    },
  };
}
