// A 7-day sparkline as an inline SVG polyline: no axes, no interaction, up to 100 of them on a page,
// so a charting library instance per row would cost more than it gives.
import { h, svg, srOnly } from '../dom.js';

const WIDTH = 120;
const HEIGHT = 36;
const PAD = 2;

/**
 * @param {Array<number|null>} values  oldest first; gaps (null) are skipped
 * @param {string} label  what a screen reader says instead of the drawing
 */
export function sparkline(values, label) {
  const points = (Array.isArray(values) ? values : [])
    .map((value, index) => [index, value])
    .filter(([, value]) => Number.isFinite(value));
  if (points.length < 2) {
    return h('span', { class: 'spark-empty' }, h('span', { 'aria-hidden': 'true' }, '—'), srOnly('no 7-day data'));
  }
  const ys = points.map(([, value]) => value);
  const min = Math.min(...ys);
  const span = Math.max(...ys) - min || 1;
  const lastIndex = points[points.length - 1][0] || 1;
  const coords = points.map(([index, value]) => [
    (index / lastIndex) * WIDTH,
    PAD + (1 - (value - min) / span) * (HEIGHT - 2 * PAD),
  ]);
  const line = coords.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
  const area = `${coords[0][0].toFixed(1)},${HEIGHT} ${line} ${coords[coords.length - 1][0].toFixed(1)},${HEIGHT}`;
  const trend = ys[ys.length - 1] >= ys[0] ? 'up' : 'down';
  return svg('svg', {
    class: `spark ${trend}`, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: 'none',
    role: 'img', 'aria-label': label,
  },
  svg('polygon', { class: 'spark-area', points: area }),
  svg('polyline', { class: 'spark-line', points: line, 'vector-effect': 'non-scaling-stroke' }));
}
