// The coin page's price chart: uPlot on a canvas, a hover tooltip, and arrow-key reading of points.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from '../dom.js';
import { TEXT_LOCALE, formatAxisPrice, formatDate, formatDateTime, formatPrice } from '../format.js';

const DAY = 86400;
const dayLabel = new Intl.DateTimeFormat(TEXT_LOCALE, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const hourLabel = new Intl.DateTimeFormat(TEXT_LOCALE, { hour: 'numeric', minute: '2-digit', timeZone: 'UTC' });

/** Colours come from the stylesheet's custom properties, so the chart follows light and dark mode. */
function themeColours(el) {
  const style = getComputedStyle(el);
  const read = (name) => style.getPropertyValue(name).trim();
  return { line: read('--chart-line'), fill: read('--chart-fill'), grid: read('--chart-grid'), text: read('--chart-text') };
}

/** Axis width that fits its longest label (uPlot's documented auto-size recipe). */
function axisSize(u, values, axisIndex, cycle) {
  const axis = u.axes[axisIndex];
  if (cycle > 1) return axis._size;
  let size = axis.ticks.size + axis.gap;
  const longest = (values ?? []).reduce((a, b) => (b.length > a.length ? b : a), '');
  if (longest) {
    u.ctx.font = axis.font[0];
    size += u.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size);
}

function timeTicks(u, splits, axisIndex, space, increment) {
  return splits.map((ts) => {
    const date = new Date(ts * 1000);
    return increment < DAY && date.getUTCHours() !== 0 ? hourLabel.format(date) : dayLabel.format(date);
  });
}

/** Tooltip with the time and price under the cursor; also announced when read with the keyboard. */
function tooltipPlugin({ currency, interval, live }) {
  let tip;
  const when = (ts) => (interval === 'hourly' ? formatDateTime(new Date(ts * 1000)) : formatDate(new Date(ts * 1000)));
  return {
    hooks: {
      init(u) {
        tip = h('div', { class: 'chart-tip', hidden: true });
        u.over.append(tip);
      },
      setCursor(u) {
        const i = u.cursor.idx;
        const price = i == null ? null : u.data[1][i];
        if (price == null || u.cursor.left < 0) {
          tip.hidden = true;
          return;
        }
        const x = u.valToPos(u.data[0][i], 'x');
        const y = u.valToPos(price, 'y');
        tip.replaceChildren(
          h('strong', { class: 'chart-tip-price' }, formatPrice(price, currency)),
          h('span', { class: 'chart-tip-time' }, when(u.data[0][i])));
        tip.hidden = false;
        const flip = x > u.over.clientWidth / 2;
        tip.style.transform = `translate(${flip ? `calc(${x}px - 100% - 12px)` : `${x + 12}px`}, ${Math.max(0, y - 48)}px)`;
        if (live.dataset.active) live.textContent = `${when(u.data[0][i])}: ${formatPrice(price, currency)}`;
      },
    },
  };
}

/**
 * Draw a price chart into `container`, replacing what was there.
 * @param {{x: number[], y: number[], currency: string, interval: 'daily'|'hourly', label: string}} options
 *   x: unix seconds, oldest first; label: the chart's text summary for screen readers.
 * @returns {{destroy(): void}}
 */
export function createPriceChart(container, { x, y, currency, interval, label }) {
  const live = h('p', { class: 'visually-hidden', 'aria-live': 'polite' });
  const frame = h('div', {
    class: 'chart-frame', tabindex: '0', role: 'img', 'aria-label': label,
  });
  container.replaceChildren(frame, live);

  let plot;
  const build = () => {
    plot?.destroy();
    const colours = themeColours(frame);
    const axis = { stroke: colours.text, grid: { stroke: colours.grid, width: 1 }, ticks: { stroke: colours.grid, width: 1, size: 4 } };
    plot = new uPlot({
      width: frame.clientWidth,
      height: frame.clientWidth < 600 ? 240 : 320,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      legend: { show: false },
      cursor: { y: false, drag: { x: false, y: false, setScale: false }, points: { size: 8, fill: colours.line } },
      scales: { y: { range: (u, min, max) => uPlot.rangeNum(min, max, 0.1, true) } },
      axes: [
        { ...axis, values: timeTicks, space: 60, size: 32 },
        { ...axis, values: (u, splits, i, space, incr) => splits.map((v) => formatAxisPrice(v, currency, incr)), size: axisSize },
      ],
      series: [{}, { label: 'Price', stroke: colours.line, fill: colours.fill, width: 2, spanGaps: false }],
      plugins: [tooltipPlugin({ currency, interval, live })],
    }, [x, y], frame);
  };
  build();

  // Keyboard: arrows step through points, Home/End jump to the ends.
  let index = x.length - 1;
  frame.addEventListener('keydown', (event) => {
    const step = { ArrowLeft: -1, ArrowRight: 1, PageDown: -10, PageUp: 10 }[event.key];
    if (step === undefined && event.key !== 'Home' && event.key !== 'End') return;
    event.preventDefault();
    if (event.key === 'Home') index = 0;
    else if (event.key === 'End') index = x.length - 1;
    else index = Math.min(x.length - 1, Math.max(0, index + step));
    live.dataset.active = '1';
    plot.setCursor({ left: plot.valToPos(x[index], 'x'), top: plot.valToPos(y[index] ?? 0, 'y') });
  });
  frame.addEventListener('blur', () => {
    delete live.dataset.active;
    plot.setCursor({ left: -10, top: -10 });
  });

  let width = frame.clientWidth;
  const resize = new ResizeObserver(() => {
    if (frame.clientWidth === width || frame.clientWidth === 0) return;
    width = frame.clientWidth;
    plot.setSize({ width, height: width < 600 ? 240 : 320 });
  });
  resize.observe(frame);
  const scheme = matchMedia('(prefers-color-scheme: dark)');
  scheme.addEventListener('change', build);

  return {
    destroy() {
      resize.disconnect();
      scheme.removeEventListener('change', build);
      plot.destroy();
    },
  };
}
