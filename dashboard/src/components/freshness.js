// Data freshness badge in the header and the "simulated data" notice, from the latest ingestion run.
import { apiGet } from '../api.js';
import { h } from '../dom.js';
import { formatDateTime, formatRelative, parseTime } from '../format.js';

const STATUS = {
  succeeded: { tone: 'ok', text: 'Updated' },
  partial: { tone: 'warn', text: 'Partly updated' },
  failed: { tone: 'bad', text: 'Last update failed' },
  skipped: { tone: 'muted', text: 'Update skipped' },
};

export function createFreshness(badge, notice) {
  let run; // undefined: not loaded; null: no run yet; 'error': could not load

  function render() {
    notice.hidden = !(run && run !== 'error' && run.simulated === true);
    let tone = 'muted';
    let parts;
    if (run === undefined) parts = ['Checking data…'];
    else if (run === 'error') parts = ['Freshness unknown'];
    else if (run === null) parts = ['No data yet'];
    else {
      const finished = parseTime(run.finishedAt);
      const started = parseTime(run.startedAt);
      const status = STATUS[run.status];
      if (!finished || !status) {
        tone = 'warn';
        parts = [started ? `Update running, started ${formatRelative(started)}` : 'Update running'];
      } else {
        tone = status.tone;
        parts = [`${status.text} `, h('time', { datetime: finished.toISOString(), title: formatDateTime(finished) }, formatRelative(finished))];
      }
    }
    badge.className = `badge badge-${tone}`;
    badge.replaceChildren(h('span', { class: 'dot', 'aria-hidden': 'true' }), ...parts);
  }

  async function refresh() {
    try {
      const runs = await apiGet('/api/ingestion/runs?limit=1');
      run = Array.isArray(runs) && runs.length > 0 ? runs[0] : null;
    } catch {
      run = 'error';
    }
    render();
  }

  render();
  setInterval(render, 60_000); // keep "5 minutes ago" true
  return { refresh };
}
