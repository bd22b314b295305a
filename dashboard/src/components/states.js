// Loading, empty and error states shared by the views.
import { h } from '../dom.js';

/** A polite "loading" message for screen readers next to a visual placeholder. */
export function loadingState(message, placeholder) {
  return h('div', { class: 'loading', role: 'status' },
    h('span', { class: 'visually-hidden' }, message),
    placeholder ?? h('div', { class: 'spinner', 'aria-hidden': 'true' }));
}

/** Nothing to show yet, and what to do about it. Each paragraph: a string, a node or an array of them. */
export function emptyState(title, ...paragraphs) {
  return h('div', { class: 'state state-empty' },
    h('h2', { class: 'state-title' }, title),
    paragraphs.map((paragraph) => h('p', {}, paragraph)));
}

/** What went wrong, in words a user can act on, and a retry button. */
export function errorState(error, onRetry, { what = 'the data' } = {}) {
  let title;
  let detail;
  if (error?.isNetwork) {
    title = 'Cannot reach the server';
    detail = 'Check your connection, or that the dashboard server is running, then try again.';
  } else if (error?.status === 503) {
    title = 'Service temporarily unavailable';
    detail = `The server is up but could not load ${what} (its database may be down). Try again in a moment.`;
  } else if (error?.status >= 500) {
    title = 'Something went wrong on the server';
    detail = `The server failed to load ${what}. Try again; if it keeps failing, check the server logs.`;
  } else {
    title = `Could not load ${what}`;
    detail = error?.message ?? 'An unexpected error occurred.';
  }
  return h('div', { class: 'state state-error', role: 'alert' },
    h('h2', { class: 'state-title' }, title),
    h('p', {}, detail),
    error?.status ? h('p', { class: 'state-code' }, `Details: ${error.status} ${error.code} — ${error.message}`) : null,
    h('button', { type: 'button', class: 'button button-primary', onClick: onRetry }, 'Try again'));
}
