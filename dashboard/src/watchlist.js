// The watchlist: the ids of the coins a visitor starred, kept in this browser (localStorage), at
// most as many as one /api/market request takes (`ids`, 250).
const KEY = 'crypto-dashboard.watchlist';
export const WATCHLIST_MAX = 250;
const ID = /^[a-z0-9-]{1,100}$/;

/** The starred ids, oldest first; an unreadable store is an empty list. */
export function watchlist() {
  try {
    const ids = JSON.parse(localStorage.getItem(KEY) ?? '[]');
    return Array.isArray(ids) ? ids.filter((id) => typeof id === 'string' && ID.test(id)).slice(0, WATCHLIST_MAX) : [];
  } catch {
    return [];
  }
}

/** Stars or unstars `id`; returns whether it is starred now (false when the list is full). */
export function toggleWatched(id) {
  const ids = watchlist();
  const at = ids.indexOf(id);
  if (at >= 0) ids.splice(at, 1);
  else if (ids.length < WATCHLIST_MAX) ids.push(id);
  try {
    localStorage.setItem(KEY, JSON.stringify(ids));
  } catch { /* private mode: not kept; the star lasts until the table is drawn again */ }
  return ids.includes(id);
}
