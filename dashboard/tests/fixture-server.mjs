#!/usr/bin/env node
// A stand-in for `crypto-dashboard serve` during dashboard development: serves dist/ and answers the
// /api routes with deterministic synthetic data in the SPEC's shapes (11 coins, 4 currencies, 90 days
// of hourly prices, a simulated history run and live refresh). Every coin has a live quote from a
// few minutes ago except TRON, whose newest price is an hourly one 3 hours old: stale, without
// market cap or volume. Data answers carry an ETag and answer 304 to a matching If-None-Match,
// like the API.
//
//   node tests/fixture-server.mjs [--port 3000] [--fail] [--delay 400]
//     --fail    every /api route answers 503 SERVICE_UNAVAILABLE (as with the database stopped)
//     --delay   milliseconds to wait before each API answer, to look at the loading states
//
// Imported by the tests: startFixtureServer() returns { url, setFailing(bool), close() }.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const HISTORY_HOURS = 90 * 24;

const CURRENCIES = [
  { code: 'usd', name: 'US Dollar', rate: 1 },
  { code: 'eur', name: 'Euro', rate: 0.92 },
  { code: 'gbp', name: 'British Pound Sterling', rate: 0.79 },
  { code: 'jpy', name: 'Japanese Yen', rate: 151.7 },
];

// [id, symbol, name, USD price, volatility, colour, website]
const COINS = [
  ['bitcoin', 'btc', 'Bitcoin', 96_850, 0.06, '#f7931a', 'https://bitcoin.org'],
  ['ethereum', 'eth', 'Ethereum', 3_420, 0.08, '#627eea', 'https://ethereum.org'],
  ['tether', 'usdt', 'Tether', 1, 0.0008, '#26a17b', 'https://tether.to'],
  ['binancecoin', 'bnb', 'BNB', 612, 0.07, '#f3ba2f', 'https://www.bnbchain.org'],
  ['solana', 'sol', 'Solana', 187, 0.12, '#9945ff', 'https://solana.com'],
  ['ripple', 'xrp', 'XRP', 2.31, 0.1, '#23292f', 'https://xrpl.org'],
  ['usd-coin', 'usdc', 'USDC', 1, 0.0005, '#2775ca', 'https://www.circle.com/usdc'],
  ['cardano', 'ada', 'Cardano', 0.94, 0.11, '#0033ad', 'https://cardano.org'],
  ['dogecoin', 'doge', 'Dogecoin', 0.3821, 0.14, '#c2a633', 'https://dogecoin.com'],
  ['tron', 'trx', 'TRON', 0.2437, 0.06, '#eb0029', 'https://tron.network'],
  ['avalanche-2', 'avax', 'Avalanche', 38.4, 0.12, '#e84142', 'https://www.avax.network'],
].map(([id, symbol, name, usd, volatility, colour, websiteUrl], index) => ({
  id, symbol, name, usd, volatility, colour, websiteUrl, index,
  description: `${name} (${symbol.toUpperCase()}) is one of the tracked coins of this dashboard.\r\n` +
    `These words come from the development fixture server, not from CoinGecko.\r\n\r\n` +
    `Its prices here are made up: a smooth curve around ${usd} US dollars, the same on every run.` +
    (index === 0 ? '\r\n\r\nText such as <b>this</b> must appear literally: descriptions are plain text.' : ''),
}));

const round = (value) => Number(value.toPrecision(8));
// [market cap, 24h volume] in USD of the coins with a live quote (made up, roughly to scale).
const MARKET = {
  bitcoin: [1.92e12, 4.1e10], ethereum: [4.12e11, 2.2e10], tether: [1.4e11, 6.5e10], binancecoin: [8.9e10, 1.9e9],
  solana: [9.1e10, 4.4e9], ripple: [1.33e11, 7.2e9], 'usd-coin': [4.3e10, 6.1e9], cardano: [3.3e10, 1.1e9],
  dogecoin: [5.6e10, 3.3e9], 'avalanche-2': [1.58e10, 6.4e8],
};
const STALE_HOURS = 3; // TRON's newest price
const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** Deterministic hourly series ending at `now` (the current UTC hour), oldest first. */
function hourlySeries(coin, currency, now) {
  const phase = coin.index * 1.7 + 0.3;
  return Array.from({ length: HISTORY_HOURS + 1 }, (_, i) => {
    const t = i - HISTORY_HOURS; // hours from now, <= 0
    const wave = 0.55 * Math.sin(t / 97 + phase) + 0.3 * Math.sin(t / 23.3 + 2 * phase) +
      0.15 * Math.sin(t / 5.1 + 3 * phase) + 0.2 * (i / HISTORY_HOURS - 0.5) * Math.cos(phase);
    return { ts: now + t * HOUR, price: round(coin.usd * currency.rate * (1 + coin.volatility * wave)) };
  });
}

function dailySeries(hourly) {
  const days = new Map();
  for (const { ts, price } of hourly) {
    const date = iso(ts).slice(0, 10);
    const day = days.get(date) ?? { sum: 0, n: 0 };
    day.sum += price;
    day.n += 1;
    days.set(date, day);
  }
  return [...days].map(([date, { sum, n }]) => ({ date, price: round(sum / n) }));
}

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
const invalid = (message) => new HttpError(400, 'INVALID_PARAMETER', message);

function parseTime(value, name, endOfDay) {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const ms = Date.parse(`${value}T00:00:00Z`);
    if (Number.isFinite(ms)) return endOfDay ? ms + DAY - 1 : ms;
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return ms;
  }
  throw invalid(`${name} must be a date (YYYY-MM-DD) or an RFC 3339 timestamp`);
}

function createApi() {
  const now = Math.floor(Date.now() / HOUR) * HOUR;
  const cache = new Map();
  const hourly = (coin, currency) => {
    const key = `${coin.id}/${currency.code}`;
    if (!cache.has(key)) cache.set(key, hourlySeries(coin, currency, now));
    return cache.get(key);
  };
  const currencyOf = (query) => {
    const code = query.get('currency') ?? 'usd';
    const currency = CURRENCIES.find((c) => c.code === code);
    if (!currency) throw invalid(`currency must be one of ${CURRENCIES.map((c) => c.code).join(', ')}`);
    return currency;
  };
  const coinOf = (id) => {
    const coin = COINS.find((c) => c.id === id);
    if (!coin) throw new HttpError(404, 'NOT_FOUND', `unknown coin: ${id}`);
    return coin;
  };
  const imageUrl = (coin) => `/fixture-images/${coin.id}.svg`;
  // The quotes are 4 minutes old when the server starts (and keep that time).
  const quoteAt = Math.floor(Date.now() / 60_000) * 60_000 - 4 * 60_000;
  /** The newest price of a pair: a live quote, or TRON's stale hourly price. */
  const newest = (coin, currency) => {
    const series = hourly(coin, currency);
    const market = MARKET[coin.id];
    if (!market) {
      const last = series.at(-1 - STALE_HOURS);
      return { price: last.price, at: last.ts, stale: true, marketCap: null, volume24h: null };
    }
    return {
      price: series.at(-1).price, at: quoteAt, stale: false,
      marketCap: round(market[0] * currency.rate), volume24h: round(market[1] * currency.rate),
    };
  };
  const run = {
    runId: 'fixture-run-1', trigger: 'cli', mode: 'full', status: 'succeeded',
    startedAt: iso(now - 95 * 60_000), finishedAt: iso(now - 94 * 60_000), simulated: true,
    report: {
      durationMs: 61_234, apiCalls: 56, retries: 0, rateLimited: 0,
      pairs: { ok: 44, failed: 0, skipped: 0 }, rows: { hourly: 95_084, daily: 4_004, metadata: 11 }, failures: [],
    },
  };

  // The newest live refresh: when the quotes were fetched.
  const liveRun = {
    runId: 'fixture-run-2', trigger: 'schedule', mode: 'latest', status: 'succeeded',
    startedAt: iso(quoteAt - 2_000), finishedAt: iso(quoteAt), simulated: true,
  };
  const summary = ({ report, ...rest }) => ({ ...rest, stale: false });

  const routes = [
    [/^\/api\/health$/, () => ({
      status: 'ok', database: 'ok', lastIngestion: summary(run), lastLiveRefresh: summary(liveRun),
      liveEveryMinutes: 10, version: 'fixture',
    })],
    [/^\/api\/currencies$/, () => CURRENCIES.map(({ code, name }) => ({ code, name }))],
    [/^\/api\/coins$/, () => COINS.map((c) => ({ id: c.id, symbol: c.symbol, name: c.name, imageUrl: imageUrl(c) }))],
    [/^\/api\/ingestion\/runs$/, (query) => {
      const limit = Number(query.get('limit') ?? 20);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalid('limit must be an integer from 1 to 100');
      return [run].slice(0, limit);
    }],
    [/^\/api\/market$/, (query) => {
      const currency = currencyOf(query);
      return COINS.map((coin) => {
        const series = hourly(coin, currency);
        const quote = newest(coin, currency);
        const change = (hours) => round((quote.price / series[series.length - 1 - hours].price - 1) * 100);
        return {
          id: coin.id, symbol: coin.symbol, name: coin.name, imageUrl: imageUrl(coin),
          price: quote.price, updatedAt: iso(quote.at), stale: quote.stale,
          change24h: change(24), change7d: change(168), marketCap: quote.marketCap, volume24h: quote.volume24h,
          sparkline7d: series.slice(-169).map((p) => Number(p.price.toPrecision(5))),
        };
      });
    }],
    [/^\/api\/coins\/([^/]+)$/, (query, id) => {
      const coin = coinOf(id);
      const latest = Object.fromEntries(CURRENCIES.map((currency) => {
        const { price, at, stale } = newest(coin, currency);
        return [currency.code, { price, at: iso(at), stale }];
      }));
      return {
        id: coin.id, symbol: coin.symbol, name: coin.name, description: coin.description,
        imageUrl: imageUrl(coin), websiteUrl: coin.websiteUrl, latest,
      };
    }],
    [/^\/api\/coins\/([^/]+)\/prices$/, (query, id) => {
      const coin = coinOf(id);
      const currency = currencyOf(query);
      const interval = query.get('interval') ?? 'daily';
      if (interval !== 'daily' && interval !== 'hourly') throw invalid('interval must be daily or hourly');
      const to = query.has('to') ? parseTime(query.get('to'), 'to', true) : Date.now();
      const maxDays = interval === 'daily' ? 3660 : 90;
      const from = query.has('from') ? parseTime(query.get('from'), 'from', false) : to - (interval === 'daily' ? 30 : 7) * DAY;
      if (from > to) throw invalid('from must not be after to');
      if (to - from > maxDays * DAY) throw invalid(`${interval} ranges span at most ${maxDays} days`);
      const series = hourly(coin, currency);
      const points = interval === 'hourly'
        ? series.filter((p) => p.ts >= from && p.ts <= to).map((p) => ({ timestamp: iso(p.ts), price: p.price }))
        : dailySeries(series).filter((p) => {
          const ms = Date.parse(`${p.date}T00:00:00Z`);
          return ms >= Math.floor(from / DAY) * DAY && ms <= to;
        });
      return { coinId: coin.id, currency: currency.code, interval, from: iso(from), to: iso(to), points };
    }],
  ];

  return (pathname, query) => {
    for (const [pattern, handler] of routes) {
      const match = pattern.exec(pathname);
      if (match) return handler(query, ...match.slice(1).map(decodeURIComponent));
    }
    throw new HttpError(404, 'NOT_FOUND', `no route for ${pathname}`);
  };
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
};

function send(res, status, headers, body) {
  res.writeHead(status, { 'X-Content-Type-Options': 'nosniff', ...headers });
  res.end(body);
}

function sendJson(res, status, payload, cache = 'public, max-age=300') {
  send(res, status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': cache }, JSON.stringify(payload));
}

/** A data answer: cached 5 minutes with a strong ETag; 304 without a body when If-None-Match names it. */
function sendData(req, res, data) {
  const body = JSON.stringify({ success: true, data });
  const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
  const headers = { 'Cache-Control': 'public, max-age=300', ETag: etag };
  const named = (req.headers['if-none-match'] ?? '').split(',').map((tag) => tag.trim().replace(/^W\//, ''));
  if (named.includes(etag) || named.includes('*')) return send(res, 304, headers);
  send(res, 200, { 'Content-Type': 'application/json; charset=utf-8', ...headers }, body);
}

function coinSvg(coin) {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="32" fill="${coin.colour}"/>` +
    `<text x="32" y="41" font-family="sans-serif" font-size="26" font-weight="700" text-anchor="middle" fill="#fff">` +
    `${coin.symbol[0].toUpperCase()}</text></svg>`;
}

async function serveStatic(res, pathname) {
  const file = pathname === '/' ? 'index.html' : pathname.slice(1);
  const resolved = path.resolve(DIST, file);
  const ext = path.extname(resolved);
  if (!resolved.startsWith(DIST + path.sep) || !MIME[ext]) return send(res, 404, { 'Content-Type': 'text/plain' }, 'not found');
  try {
    const body = await readFile(resolved);
    const cache = file.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
    send(res, 200, { 'Content-Type': MIME[ext], 'Cache-Control': cache }, body);
  } catch {
    send(res, 404, { 'Content-Type': 'text/plain' }, pathname === '/' ? 'dist/index.html missing: run npm run build' : 'not found');
  }
}

export async function startFixtureServer({ port = 0, host = '127.0.0.1', failing = false, delayMs = 0 } = {}) {
  const api = createApi();
  const state = { failing };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://fixture');
    try {
      if (!url.pathname.startsWith('/api/')) {
        const image = /^\/fixture-images\/([a-z0-9-]+)\.svg$/.exec(url.pathname);
        const coin = image && COINS.find((c) => c.id === image[1]);
        if (coin) return send(res, 200, { 'Content-Type': MIME['.svg'], 'Cache-Control': 'public, max-age=86400' }, coinSvg(coin));
        return await serveStatic(res, url.pathname);
      }
      if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (state.failing) {
        // Health still says what it knows, as the API does.
        const data = url.pathname === '/api/health' ? {
          status: 'degraded', database: 'unreachable', lastIngestion: null, lastLiveRefresh: null,
          liveEveryMinutes: 10, version: 'fixture',
        } : undefined;
        return sendJson(res, 503, {
          success: false, error: { code: 'SERVICE_UNAVAILABLE', message: 'The database is unreachable. Try again shortly.' }, data,
        }, 'no-store');
      }
      if (req.method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'only GET is allowed here');
      const data = api(url.pathname, url.searchParams);
      // Health and runs are never cached, as in the API.
      if (/^\/api\/(health|ingestion\/)/.test(url.pathname)) sendJson(res, 200, { success: true, data }, 'no-store');
      else sendData(req, res, data);
    } catch (err) {
      const known = err instanceof HttpError;
      if (!known) console.error(err);
      sendJson(res, known ? err.status : 500, {
        success: false,
        error: known ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: 'internal error' },
      }, 'no-store');
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const { port: actualPort } = server.address();
  return {
    url: `http://${host}:${actualPort}`,
    setFailing(value) { state.failing = value; },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const server = await startFixtureServer({
    port: Number(option('--port', process.env.PORT ?? 3000)),
    failing: args.includes('--fail') || process.env.FIXTURE_FAIL === '1',
    delayMs: Number(option('--delay', 0)),
  });
  console.log(`fixture server on ${server.url}${args.includes('--fail') ? ' (API failing with 503)' : ''}`);
}
