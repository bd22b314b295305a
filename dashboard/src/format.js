// Number and date formatting. Time zone: UTC, as the data is bucketed in UTC hours and days.
// Numbers follow the browser's locale (its separators are what the user reads fastest); dates and
// "3 hours ago" sit inside English sentences, so they use the user's preferred English variant.
export const TEXT_LOCALE = globalThis.navigator?.languages?.find((l) => /^en(-|$)/i.test(l)) ?? 'en';

const formats = new Map();

function numberFormat(options) {
  const key = JSON.stringify(options);
  let format = formats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(undefined, options);
    formats.set(key, format);
  }
  return format;
}

/** The currency's usual number of decimals: 2 for USD, 0 for JPY. */
function currencyDigits(currency) {
  return numberFormat({ style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
}

/**
 * A price with the precision its size needs: at least 4 significant digits below 1,000
 * ($0.00001234, $0.9998, ¥25.34, $2.346), the currency's usual decimals above ($97,123.45, ¥14,523,456).
 */
export function formatPrice(value, currency) {
  if (value == null || !Number.isFinite(value)) return '—';
  const code = currency.toUpperCase();
  const abs = Math.abs(value);
  if (abs > 0 && abs < 1) {
    return numberFormat({ style: 'currency', currency: code, minimumSignificantDigits: 2, maximumSignificantDigits: 4 }).format(value);
  }
  const digits = currencyDigits(code);
  const integerDigits = abs < 1 ? 1 : Math.floor(Math.log10(abs)) + 1;
  return numberFormat({
    style: 'currency', currency: code,
    minimumFractionDigits: digits,
    maximumFractionDigits: Math.max(digits, 4 - integerDigits),
  }).format(value);
}

/** Large amounts, compactly: $1.2T, €845.3B, $12M; an em dash when absent. */
export function formatCompactMoney(value, currency) {
  if (value == null || !Number.isFinite(value)) return '—';
  return numberFormat({
    style: 'currency', currency: currency.toUpperCase(), notation: 'compact',
    minimumFractionDigits: 0, maximumFractionDigits: Math.abs(value) >= 1000 ? 1 : 0,
  }).format(value);
}

/** Axis tick labels: as many decimals as the tick spacing needs, no more. */
export function formatAxisPrice(value, currency, increment) {
  const decimals = increment > 0 ? Math.min(10, Math.max(0, Math.ceil(-Math.log10(increment) - 1e-9))) : 2;
  return numberFormat({
    style: 'currency', currency: currency.toUpperCase(),
    minimumFractionDigits: decimals, maximumFractionDigits: decimals,
  }).format(value);
}

/**
 * A percentage change, for display and for screen readers.
 * @returns {{text: string, label: string, trend: 'up'|'down'|'flat'|'none'}}
 */
export function describeChange(percent) {
  if (percent == null || !Number.isFinite(percent)) return { text: '—', label: 'no data', trend: 'none' };
  const magnitude = numberFormat({ style: 'percent', minimumFractionDigits: 2, maximumFractionDigits: 2 })
    .format(Math.abs(percent) / 100);
  const rounded = Math.round(percent * 100);
  if (rounded > 0) return { text: `+${magnitude}`, label: `up ${magnitude}`, trend: 'up' };
  if (rounded < 0) return { text: `\u2212${magnitude}`, label: `down ${magnitude}`, trend: 'down' };
  return { text: magnitude, label: `unchanged, ${magnitude}`, trend: 'flat' };
}

const dateFormat = new Intl.DateTimeFormat(TEXT_LOCALE, { dateStyle: 'medium', timeZone: 'UTC' });
const dateTimeFormat = new Intl.DateTimeFormat(TEXT_LOCALE, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });

/** "12 Mar 2025" (UTC). */
export const formatDate = (date) => dateFormat.format(date);

/** "12 Mar 2025, 14:00 UTC". */
export const formatDateTime = (date) => `${dateTimeFormat.format(date)} UTC`;

const relativeFormats = {
  long: new Intl.RelativeTimeFormat(TEXT_LOCALE, { numeric: 'auto' }),
  short: new Intl.RelativeTimeFormat(TEXT_LOCALE, { numeric: 'auto', style: 'short' }),
};
const UNITS = [['day', 86400], ['hour', 3600], ['minute', 60]];

/** "5 minutes ago", "yesterday", "just now"; with style 'short': "5 min. ago". */
export function formatRelative(date, now = Date.now(), style = 'long') {
  const seconds = (date.getTime() - now) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return relativeFormats[style].format(Math.round(seconds / size), unit);
  }
  return 'just now';
}

/** Parse an RFC 3339 timestamp; null when absent or malformed. */
export function parseTime(value) {
  if (typeof value !== 'string') return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}
