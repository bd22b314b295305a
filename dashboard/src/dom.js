// Tiny DOM helpers. Text always enters the page as text nodes, never as HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Create an HTML element: h('a', { href, class: 'x', onClick }, 'text', child). */
export function h(tag, props, ...children) {
  return build(document.createElement(tag), props, children);
}

/** Create an SVG element, same signature as h(). */
export function svg(tag, props, ...children) {
  return build(document.createElementNS(SVG_NS, tag), props, children);
}

function build(el, props = {}, children) {
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2).toLowerCase(), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...children.flat(Infinity).filter((c) => c != null && c !== false));
  return el;
}

/** Text only screen readers announce. */
export const srOnly = (text) => h('span', { class: 'visually-hidden' }, text);

/**
 * The URL if it is an absolute http(s) URL or a same-origin path, else null:
 * keeps `javascript:` and other schemes out of href and src attributes.
 */
export function safeUrl(value) {
  if (typeof value !== 'string' || value.trim() === '') return null;
  try {
    const url = new URL(value, location.origin);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * A coin's logo, or a lettered disc when it has none or it fails to load. Sized before it
 * loads; `lazy` (the default) waits until it is scrolled near, for logos below the first screen.
 */
export function coinImage(coin, size, { lazy = true } = {}) {
  const fallback = () =>
    h('span', { class: 'coin-img coin-img-fallback', 'aria-hidden': 'true' },
      (coin.symbol || coin.name || '?').slice(0, 1).toUpperCase());
  const src = safeUrl(coin.imageUrl);
  if (!src) return fallback();
  const img = h('img', {
    class: 'coin-img', src, alt: '', width: size, height: size,
    loading: lazy ? 'lazy' : 'eager', decoding: 'async', referrerpolicy: 'no-referrer',
  });
  img.addEventListener('error', () => img.replaceWith(fallback()), { once: true });
  return img;
}
