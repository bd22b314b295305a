// The same-origin API client. Every response is the envelope
// {"success": true, "data": ...} or {"success": false, "error": {"code", "message"}}.

export class ApiError extends Error {
  /**
   * @param {string} message  shown to the user
   * @param {{status?: number, code: string, data?: unknown}} details  status is absent for
   *   network errors; data is the error envelope's `data`, which a few routes send (health's 503)
   */
  constructor(message, { status, code, data }) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.data = data;
  }

  get isNetwork() { return this.code === 'NETWORK'; }
  get isNotFound() { return this.status === 404; }
}

/** GET an API path and return the envelope's data, or throw an ApiError. */
export async function apiGet(path, { signal } = {}) {
  return (await apiFetch(path, { signal })).data;
}

/**
 * GET an API path, conditionally when `etag` is given: the request carries `If-None-Match` and
 * bypasses the browser cache, so the server's 304 reaches this code. Returns
 * `{ notModified: true, etag }` for a 304, otherwise `{ notModified: false, data, meta, etag }`
 * (meta: the envelope's, on paged routes; etag: the response's ETag header, or null). Throws an
 * ApiError like apiGet.
 */
export async function apiFetch(path, { signal, etag } = {}) {
  const headers = { Accept: 'application/json' };
  if (etag) headers['If-None-Match'] = etag;
  let response;
  try {
    response = await fetch(path, { signal, headers, ...(etag ? { cache: 'no-store' } : {}) });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError('The server could not be reached.', { code: 'NETWORK' });
  }
  const responseEtag = response.headers.get('ETag');
  if (response.status === 304) return { notModified: true, etag: responseEtag ?? etag };
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    if (signal?.aborted) throw err;
  }
  if (response.ok && body?.success === true) return { notModified: false, data: body.data, meta: body.meta, etag: responseEtag };
  const error = body?.error;
  throw new ApiError(
    typeof error?.message === 'string' ? error.message : `The server answered ${response.status}.`,
    { status: response.status, code: typeof error?.code === 'string' ? error.code : 'HTTP_ERROR', data: body?.data },
  );
}

/** Build "/api/...?a=1&b=2", skipping null parameters. */
export function apiPath(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value != null) query.set(key, value);
  const qs = query.toString();
  return qs ? `${path}?${qs}` : path;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/**
 * The `from` of a prices query for the last `days` days. Daily: the UTC date `days` days ago.
 * Hourly: an RFC 3339 hour chosen so the window up to now never exceeds `days` (the API allows
 * at most 90 days of hourly and 3,660 of daily prices).
 */
export function rangeStart(interval, days, now = Date.now()) {
  if (interval === 'daily') return new Date(now - days * DAY_MS).toISOString().slice(0, 10);
  const start = Math.floor(now / HOUR_MS) * HOUR_MS - days * DAY_MS + HOUR_MS;
  return new Date(start).toISOString().replace('.000Z', 'Z');
}
