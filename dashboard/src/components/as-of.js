// A price's own time ("5 minutes ago", the exact UTC time on hover) and, when the API marks the
// price stale, a visible "Stale" mark in words, so it never depends on colour alone.
import { h } from '../dom.js';
import { formatDateTime, formatRelative } from '../format.js';

const STALE_TITLE = 'This price has not been updated recently';

/** The relative time of `date` in a <time> that refreshRelativeTimes() can bring up to date. */
export function relativeTime(date, style = 'long') {
  return h('time', { datetime: date.toISOString(), title: formatDateTime(date), 'data-relative': style },
    formatRelative(date, Date.now(), style));
}

/** Re-reads every relative time under `root` against the current clock. */
export function refreshRelativeTimes(root) {
  for (const time of root.querySelectorAll('time[data-relative]')) {
    const date = new Date(time.getAttribute('datetime'));
    if (!Number.isNaN(date.getTime())) time.textContent = formatRelative(date, Date.now(), time.dataset.relative || 'long');
  }
}

/** The visible stale mark. */
export const staleMark = (title = STALE_TITLE) => h('span', { class: 'stale-mark', title },
  h('span', { 'aria-hidden': 'true' }, '⚠ '), 'Stale');

/**
 * "5 minutes ago" (exact time on hover), plus the stale mark when `stale` is true; null without a time.
 * @param {Date|null} at
 * @param {boolean} stale
 * @param {'long'|'short'} style  "5 minutes ago" or "5 min. ago" (the exact time is the title either way)
 */
export function asOf(at, stale, style = 'long') {
  if (!at) return stale ? h('span', { class: 'as-of' }, staleMark()) : null;
  return h('span', { class: 'as-of' }, relativeTime(at, style), stale ? [' ', staleMark()] : null);
}
