// Unit tests of formatting (en-US, as in the browser tests) and of the prices query's range start.
//
// Numbers are formatted in the default locale, which Node takes from LC_ALL / LANG: run these
// tests with LC_ALL=en_US.UTF-8 (npm test and scripts/test-dashboard.sh do). Under any other
// locale they fail, saying so; they are never skipped.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { rangeStart } from '../src/api.js';
import { describeChange, formatAxisPrice, formatCompactMoney, formatPrice } from '../src/format.js';

function assertEnglishLocale() {
  const locale = new Intl.NumberFormat().resolvedOptions().locale;
  assert.equal(locale, 'en-US', `these expectations are en-US formats: run with LC_ALL=en_US.UTF-8 (the default locale is ${locale})`);
}

test('prices get the precision their size needs', () => {
  assertEnglishLocale();
  assert.equal(formatPrice(0.00001234, 'usd'), '$0.00001234');
  assert.equal(formatPrice(0.99984, 'usd'), '$0.9998');
  assert.equal(formatPrice(0.5, 'eur'), '€0.50');
  assert.equal(formatPrice(2.34567, 'usd'), '$2.346');
  assert.equal(formatPrice(2.5, 'usd'), '$2.50');
  assert.equal(formatPrice(96850.123, 'usd'), '$96,850.12');
  assert.equal(formatPrice(14_692_145.6, 'jpy'), '¥14,692,146');
  assert.equal(formatPrice(25.344, 'jpy'), '¥25.34');
  assert.equal(formatPrice(151.7, 'jpy'), '¥151.7');
  assert.equal(formatPrice(1234.5, 'gbp'), '£1,234.50');
  assert.equal(formatPrice(null, 'usd'), '—');
});

test('axis labels use the decimals of the tick spacing', () => {
  assertEnglishLocale();
  assert.equal(formatAxisPrice(97000, 'usd', 500), '$97,000');
  assert.equal(formatAxisPrice(0.9995, 'usd', 0.0005), '$0.9995');
  assert.equal(formatAxisPrice(2.5, 'usd', 0.1), '$2.5');
});

test('changes carry a sign and a spoken label, not colour alone', () => {
  assertEnglishLocale();
  assert.deepEqual(describeChange(2.345), { text: '+2.35%', label: 'up 2.35%', trend: 'up' });
  assert.deepEqual(describeChange(-1.2), { text: '\u22121.20%', label: 'down 1.20%', trend: 'down' });
  assert.deepEqual(describeChange(0.001), { text: '0.00%', label: 'unchanged, 0.00%', trend: 'flat' });
  assert.deepEqual(describeChange(null), { text: '—', label: 'no data', trend: 'none' });
});

test('range starts stay within the API limits', () => {
  const now = Date.parse('2025-03-12T14:35:10Z');
  assert.equal(rangeStart('daily', 30, now), '2025-02-10');
  assert.equal(rangeStart('hourly', 7, now), '2025-03-05T15:00:00Z');
  const from = Date.parse(rangeStart('hourly', 90, now));
  assert.ok(now - from <= 90 * 86_400_000 && now - from > 89.9 * 86_400_000);
});

test('market cap and volume are compact, with a dash when absent', () => {
  assertEnglishLocale();
  assert.equal(formatCompactMoney(1.92e12, 'usd'), '$1.9T');
  assert.equal(formatCompactMoney(845_312_000_000, 'eur'), '€845.3B');
  assert.equal(formatCompactMoney(4.1e10, 'usd'), '$41B');
  assert.equal(formatCompactMoney(12_000_000, 'gbp'), '£12M');
  assert.equal(formatCompactMoney(999, 'usd'), '$999');
  assert.equal(formatCompactMoney(null, 'usd'), '—');
});
