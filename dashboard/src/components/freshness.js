// Data freshness in the header, from GET /api/health: the newest history run (hourly and daily
// prices) and the newest live refresh (the quotes), each with its own state and age, so working
// live refreshes never hide a history that has stopped moving. Also the "simulated data" notice.
import { apiGet } from '../api.js';
import { h } from '../dom.js';
import { parseTime } from '../format.js';
import { refreshRelativeTimes, relativeTime, staleMark } from './as-of.js';

const STATUS = {
  succeeded: { tone: 'ok', text: 'Updated' },
  partial: { tone: 'warn', text: 'Partly updated' },
  failed: { tone: 'bad', text: 'Update failed' },
  skipped: { tone: 'muted', text: 'Skipped' },
};

/** How often an open, visible page asks for health again. */
const HEALTH_EVERY_MS = 5 * 60_000;

const STALE_TITLE = 'Older than expected: updates have not been arriving';

/** The two parts, in the order shown; each fills one badge of #freshness. */
const PARTS = [
  { key: 'lastIngestion', name: 'history', label: 'History' },
  { key: 'lastLiveRefresh', name: 'live', label: 'Live prices', off: (health) => health.liveEveryMinutes === null },
];

/** { tone, text, stale } of a part whose run is known. */
function describeRun(run) {
  const finished = parseTime(run.finishedAt);
  const started = parseTime(run.startedAt);
  const status = STATUS[run.status];
  const stale = run.stale === true;
  if (!finished || !status) {
    return { tone: 'warn', stale, text: started ? ['Running, started ', relativeTime(started)] : ['Running'] };
  }
  // A stale run is never shown as fine.
  return { tone: stale && status.tone !== 'bad' ? 'warn' : status.tone, stale, text: [`${status.text} `, relativeTime(finished)] };
}

/**
 * @param {HTMLElement} root  #freshness, holding one .badge[data-part] per part
 * @param {HTMLElement} notice  the simulated-data notice
 */
export function createFreshness(root, notice) {
  // undefined: not loaded; null: could not load; else the health data (also a 503's data).
  let health;

  function describe(part) {
    const run = health?.[part.key];
    const muted = (text) => ({ tone: 'muted', text: [text] });
    if (health === undefined) return muted('Checking…');
    if (run) return describeRun(run);
    if (health === null) return muted('Unknown');
    if (health.database === 'unreachable') return { tone: 'bad', text: ['Database unreachable'] };
    if (run === undefined) return muted('Unknown'); // a server that does not report this part
    if (part.off?.(health)) return muted('Off');
    return muted('No data yet');
  }

  function render() {
    notice.hidden = !PARTS.some((part) => health?.[part.key]?.simulated === true);
    for (const part of PARTS) {
      const { tone, text, stale } = describe(part);
      const badge = root.querySelector(`[data-part="${part.name}"]`);
      badge.className = `badge badge-${tone}`;
      // The text may be cut short on a narrow screen (never wrapped: the header keeps its
      // height); the stale mark never is.
      badge.replaceChildren(h('span', { class: 'dot', 'aria-hidden': 'true' }),
        h('span', { class: 'badge-text' }, `${part.label}: `, ...text), ...(stale ? [' ', staleMark(STALE_TITLE)] : []));
    }
  }

  async function refresh() {
    try {
      health = await apiGet('/api/health');
    } catch (err) {
      // A 503 still says what is known (the database is unreachable); a network error says nothing.
      health = err?.data && typeof err.data === 'object' ? err.data : null;
    }
    if (!health || typeof health !== 'object') health = null;
    render();
  }

  render();
  setInterval(() => refreshRelativeTimes(root), 60_000); // keep "5 minutes ago" true
  // Ask again while the page is watched, so a tab left open learns of a failure or a stale
  // part (the server judges staleness) instead of counting minutes on an old answer.
  setInterval(() => { if (!document.hidden) refresh(); }, HEALTH_EVERY_MS);
  return { refresh };
}
