// Coin page: metadata from GET /api/coins/{id}, price chart from GET /api/coins/{id}/prices, and a
// link to the same prices as CSV (the route's own, format=csv).
import { apiGet, apiPath, rangeStart } from '../api.js';
import { coinImage, h, safeUrl, srOnly } from '../dom.js';
import { describeChange, formatDate, formatDateTime, formatPrice, parseTime } from '../format.js';
import { createPriceChart } from '../components/price-chart.js';
import { asOf, staleMark } from '../components/as-of.js';
import { emptyState, errorState, loadingState } from '../components/states.js';

export const INTERVALS = ['daily', 'hourly'];
// [days, URL value, button, its title, summary text]. The API allows up to 3,660 days of daily and
// 90 of hourly prices: 1Y and All are daily only, and All reaches back as far as the API allows.
const RANGE_TABLE = [
  [7, '7d', '7D', 'Last 7 days', 'last 7 days'],
  [30, '30d', '30D', 'Last 30 days', 'last 30 days'],
  [90, '90d', '90D', 'Last 90 days', 'last 90 days'],
  [365, '1y', '1Y', 'Last year', 'last year'],
  [3650, 'all', 'All', 'All stored prices (up to 10 years)', 'all stored days'],
];
export const RANGES = RANGE_TABLE.map(([days]) => days);
export const HOURLY_MAX_DAYS = 90;
/** The range's URL value: 30 → "30d", 365 → "1y". */
export const rangeKey = (days) => RANGE_TABLE.find(([d]) => d === days)?.[1] ?? `${days}d`;
/** The range of a URL value ("1y", "all", "30d"), or null. */
export const rangeFromKey = (key) => RANGE_TABLE.find(([, k]) => k === String(key ?? '').toLowerCase())?.[0] ?? null;
const rangeText = (days) => RANGE_TABLE.find(([d]) => d === days)?.[4] ?? `last ${days} days`;

/** Metadata barely changes: keep each coin's for the session (5 minutes, like the API's cache). */
const details = new Map();
async function coinDetail(id, signal) {
  const cached = details.get(id);
  if (cached && Date.now() - cached.at < 300_000) return cached.data;
  const data = await apiGet(`/api/coins/${encodeURIComponent(id)}`, { signal });
  details.set(id, { data, at: Date.now() });
  return data;
}

function toSeries(points, interval) {
  const x = [];
  const y = [];
  for (const point of Array.isArray(points) ? points : []) {
    const ms = Date.parse(interval === 'daily' ? `${point.date}T00:00:00Z` : point.timestamp);
    if (Number.isFinite(ms) && Number.isFinite(point.price)) {
      x.push(ms / 1000);
      y.push(point.price);
    }
  }
  return { x, y };
}

function description(text) {
  const paragraphs = (text ?? '').split(/\r?\n\s*\r?\n/).map((p) => p.trim()).filter(Boolean);
  if (paragraphs.length === 0) return h('p', { class: 'muted' }, 'No description available.');
  const content = h('div', { class: 'description', id: 'coin-description' }, paragraphs.map((p) => h('p', {}, p)));
  if (text.length < 600 && paragraphs.length <= 2) return content;
  content.classList.add('is-collapsed');
  const toggle = h('button', {
    type: 'button', class: 'link-button', 'aria-expanded': 'false', 'aria-controls': 'coin-description',
  }, 'Read more');
  toggle.addEventListener('click', () => {
    const expanded = !content.classList.toggle('is-collapsed');
    toggle.setAttribute('aria-expanded', String(expanded));
    toggle.textContent = expanded ? 'Show less' : 'Read more';
  });
  return [content, toggle];
}

/** A row of toggle buttons, one pressed; `select(value)` presses another without rebuilding (focus stays). */
function segmented(label, options, onPick) {
  const buttons = options.map(([value, text, title]) => h('button', {
    type: 'button', 'aria-pressed': 'false', title, onClick: () => onPick(value),
  }, text));
  return {
    element: h('div', { class: 'segmented', role: 'group', 'aria-label': label }, buttons),
    select: (selected) => options.forEach(([value], i) => buttons[i].setAttribute('aria-pressed', String(value === selected))),
  };
}

export function createCoinView(root, app, id) {
  let detail = null;
  let params;
  let controller;
  let chart = null;

  const heading = h('h1', { tabindex: '-1' }, 'Loading coin…');
  // The logo's and the price's places are held while the coin loads, so nothing below them moves.
  const logo = h('span', { class: 'coin-logo' }, h('span', { class: 'coin-img skeleton' }));
  const symbol = h('span', { class: 'symbol-chip', hidden: true });
  const rank = h('span', { class: 'symbol-chip rank-chip', hidden: true });
  const price = h('div', { class: 'coin-price' });
  const body = h('div', { class: 'view-body' });
  const back = h('a', { class: 'back-link', href: '#/' }, h('span', { 'aria-hidden': 'true' }, '← '), 'All coins');
  root.replaceChildren(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, back),
    h('header', { class: 'coin-head' }, logo, h('div', { class: 'coin-heading' }, heading, symbol, rank), price),
    body);

  // Built once the metadata is in; updated on every change of currency, interval or range.
  const chartTitle = h('h2', { id: 'chart-title' }, 'Price history');
  // Hourly prices reach back 90 days: Hourly on a longer range shows 90 days, and a longer range
  // switches to daily prices.
  const intervalGroup = segmented('Interval',
    [['daily', 'Daily'], ['hourly', 'Hourly', `Hourly prices, up to ${HOURLY_MAX_DAYS} days`]],
    (interval) => interval !== params.interval && app.setParams(
      interval === 'hourly' && params.range > HOURLY_MAX_DAYS ? { interval, range: rangeKey(HOURLY_MAX_DAYS) } : { interval }));
  const rangeGroup = segmented('Range', RANGE_TABLE.map(([days, , text, title]) => [days, text, title]),
    (days) => days !== params.range && app.setParams(
      days > HOURLY_MAX_DAYS ? { range: rangeKey(days), interval: 'daily' } : { range: rangeKey(days) }));
  const stats = h('dl', { class: 'chart-stats' });
  const chartArea = h('div', { class: 'chart-area', 'data-state': 'loading' });
  // The prices the chart shows, as the route's CSV (a file named after coin, currency, interval and dates).
  const csvWhat = srOnly('');
  const download = h('a', { class: 'download-link', download: '' }, 'Download CSV', csvWhat);
  const chartCard = h('section', { class: 'card chart-card', 'aria-labelledby': 'chart-title' },
    h('div', { class: 'chart-head' }, chartTitle, h('div', { class: 'chart-controls' }, intervalGroup.element, rangeGroup.element)),
    stats, chartArea,
    h('p', { class: 'chart-foot' }, download),
    h('p', { class: 'footnote' }, 'Times in UTC; a daily price is the average of that day’s hourly prices, or, before the ' +
      'hourly history, CoinGecko’s price at 00:00 UTC. ' +
      'To read prices, hover over the chart, or focus it and use the arrow keys.'));
  const latestList = h('dl', { class: 'latest-list' });

  function renderNotFound() {
    document.title = 'Unknown coin · Crypto Dashboard';
    heading.textContent = 'Unknown coin';
    price.hidden = true;
    logo.replaceChildren();
    body.replaceChildren(h('div', { class: 'state state-notfound' },
      h('p', {}, 'There is no coin “', h('strong', {}, id), '” on this dashboard. It may not be tracked, or the link may be mistyped.'),
      h('a', { class: 'button button-primary', href: `#/?currency=${params.currency}` }, 'Back to all coins')));
  }

  function renderStatic() {
    document.title = `${detail.name} · Crypto Dashboard`;
    heading.textContent = detail.name;
    logo.replaceChildren(coinImage(detail, 48, { lazy: false }));
    symbol.textContent = String(detail.symbol ?? '').toUpperCase();
    symbol.hidden = !symbol.textContent;
    rank.textContent = detail.rank == null ? '' : `Rank #${detail.rank}`;
    rank.hidden = detail.rank == null;
    const website = safeUrl(detail.websiteUrl);
    body.replaceChildren(
      chartCard,
      h('div', { class: 'coin-grid' },
        h('section', { class: 'card about', 'aria-labelledby': 'about-title' },
          h('h2', { id: 'about-title' }, `About ${detail.name}`),
          description(detail.description),
          website && h('p', { class: 'website' },
            h('a', { href: website, target: '_blank', rel: 'noopener noreferrer' },
              'Website: ', new URL(website).hostname, srOnly(' (opens in a new tab)')))),
        h('section', { class: 'card', 'aria-labelledby': 'latest-title' },
          h('h2', { id: 'latest-title' }, 'Latest prices'), latestList)));
  }

  function renderPrices() {
    const { currency } = params;
    const latest = detail.latest?.[currency];
    const at = parseTime(latest?.at);
    price.replaceChildren(
      h('span', { class: 'price-now' }, latest?.price == null ? 'No price yet' : formatPrice(latest.price, currency)),
      at || latest?.stale ? h('span', { class: 'price-at' },
        at ? ['as of ', h('time', { datetime: at.toISOString() }, formatDateTime(at))] : null,
        latest?.stale ? [' ', staleMark()] : null) : null);
    const codes = app.currencies?.map((c) => c.code) ?? Object.keys(detail.latest ?? {});
    latestList.replaceChildren(...codes.map((code) => {
      const entry = detail.latest?.[code];
      return h('div', { class: code === currency ? 'is-current' : '' },
        h('dt', {}, code.toUpperCase()),
        h('dd', {}, formatPrice(entry?.price, code),
          entry?.price == null ? null : asOf(parseTime(entry.at), entry.stale === true)));
    }));
    chartTitle.textContent = `Price history in ${currency.toUpperCase()}`;
    intervalGroup.select(params.interval);
    rangeGroup.select(params.range);
  }

  function renderStats(series) {
    const { currency, interval, range } = params;
    const { x, y } = series;
    const low = Math.min(...y);
    const high = Math.max(...y);
    const change = describeChange((y[y.length - 1] / y[0] - 1) * 100);
    stats.replaceChildren(
      h('div', {}, h('dt', {}, range === 3650 ? 'Change' : range === 365 ? '1-year change' : `${range}-day change`),
        h('dd', { class: `change ${change.trend}` }, h('span', { 'aria-hidden': 'true' }, change.text), srOnly(change.label))),
      h('div', {}, h('dt', {}, 'Low'), h('dd', {}, formatPrice(low, currency))),
      h('div', {}, h('dt', {}, 'High'), h('dd', {}, formatPrice(high, currency))));
    const when = (ts) => (interval === 'daily' ? formatDate : formatDateTime)(new Date(ts * 1000));
    return `${detail.name} price in ${currency.toUpperCase()}, ${interval}, ${rangeText(range)}: ` +
      `${formatPrice(y[0], currency)} on ${when(x[0])} to ${formatPrice(y[y.length - 1], currency)} on ${when(x[x.length - 1])}, ` +
      `${change.label}. Low ${formatPrice(low, currency)}, high ${formatPrice(high, currency)}.`;
  }

  async function loadChart(pricesPromise, signal) {
    const { interval, range } = params;
    chartArea.dataset.state = 'loading';
    chartCard.setAttribute('aria-busy', 'true');
    if (!chart) chartArea.replaceChildren(loadingState('Loading chart…'));
    let data;
    try {
      data = await pricesPromise;
    } catch (error) {
      if (signal.aborted) return;
      chart?.destroy();
      chart = null;
      stats.replaceChildren();
      chartArea.replaceChildren(errorState(error, () => update(params), { what: 'the price history' }));
      chartArea.dataset.state = 'error';
      return;
    } finally {
      if (!signal.aborted) chartCard.removeAttribute('aria-busy');
    }
    const series = toSeries(data.points, interval);
    chart?.destroy();
    chart = null;
    // What is on screen, for tests and debugging: <div data-state="ready" data-interval="hourly" data-range="7" data-points="168">
    Object.assign(chartArea.dataset, { interval, range: String(range), points: String(series.x.length) });
    if (series.x.length === 0) {
      stats.replaceChildren();
      chartArea.replaceChildren(emptyState(`No ${interval} prices in the ${rangeText(range)}`,
        ['Prices appear after an ingestion run: run ', h('code', {}, 'crypto-dashboard ingest'), ' or ', h('code', {}, 'make dev'), '.']));
      chartArea.dataset.state = 'empty';
      return;
    }
    const label = renderStats(series);
    chart = createPriceChart(chartArea, { ...series, currency: params.currency, interval, label });
    chartArea.dataset.state = 'ready';
  }

  async function update(next) {
    params = next;
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;
    back.href = `#/?currency=${params.currency}`;
    const path = `/api/coins/${encodeURIComponent(id)}/prices`;
    const query = { currency: params.currency, interval: params.interval, from: rangeStart(params.interval, params.range) };
    const prices = apiGet(apiPath(path, query), { signal });
    download.href = apiPath(path, { ...query, format: 'csv' });
    csvWhat.textContent = ` of the ${params.interval} prices in ${params.currency.toUpperCase()}, ${rangeText(params.range)}`;
    prices.catch(() => {}); // handled in loadChart; metadata errors take precedence
    if (!detail) {
      body.replaceChildren(loadingState('Loading coin…'));
      try {
        detail = await coinDetail(id, signal);
      } catch (error) {
        if (signal.aborted) return;
        if (error.isNotFound) return renderNotFound();
        document.title = 'Error · Crypto Dashboard';
        heading.textContent = id;
        body.replaceChildren(errorState(error, app.retry, { what: 'this coin' }));
        return;
      }
      renderStatic();
    }
    renderPrices();
    await loadChart(prices, signal);
  }

  return {
    heading,
    update,
    destroy() {
      controller?.abort();
      chart?.destroy();
    },
  };
}
