// Calls to infotrack's JSON API with the console's session cookie. State-changing calls echo
// the CSRF token (the readable `infotrack_csrf` cookie) in `X-CSRF-Token`.
import { t } from './i18n.js';

/** An API refusal: HTTP status, stable code and the server's message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)infotrack_csrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : '';
}

/** A URL under the console's base (works under INFOTRACK_ROOT_PATH). */
export function apiUrl(path, query) {
  const url = new URL(path, document.baseURI);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
  }
  return url;
}

/** `fetch` with the console's conventions; raises ApiError for any refusal. */
export async function send(path, { method = 'GET', query, body } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken();
  let response;
  try {
    response = await fetch(apiUrl(path, query), {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network_error', t('error.network'));
  }
  return response;
}

/** The JSON answer of a call; raises ApiError unless it succeeded. */
export async function api(path, options) {
  const response = await send(path, options);
  return readJson(response);
}

/** The JSON of a response; raises ApiError for a refusal. */
export async function readJson(response) {
  let data = null;
  try {
    data = await response.json();
  } catch {
    // Not JSON (a proxy's error page, say): reported by status below.
  }
  if (!response.ok || !data || data.success === false) {
    throw new ApiError(
      response.status,
      (data && data.code) || `http_${response.status}`,
      (data && data.message) || t('error.http', { status: response.status }),
    );
  }
  return data;
}
