// The public API under /api/v1: the session (a short-lived bearer token and the
// refresh token that renews it, kept in sessionStorage), requests, and problems
// turned into plain French.

const BASE = '/api/v1';
const SESSION_KEY = 'passnum.session';

/** A problem+json answer, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || messageFor(status));
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem || {};
    this.code = this.problem.code || (status === 0 ? 'network' : 'error');
  }
}

/** Thrown after a 401: the page is being sent to the login page. */
export class SessionExpired extends Error {
  constructor() {
    super('Votre session a expiré : reconnectez-vous.');
    this.name = 'SessionExpired';
  }
}

function messageFor(status) {
  if (status === 0) return 'Le serveur ne répond pas : vérifiez la connexion et réessayez.';
  if (status >= 500) return 'Une erreur est survenue sur le serveur. Réessayez dans un instant.';
  if (status === 404) return 'Introuvable : cet élément n’existe pas ou ne vous est pas accessible.';
  if (status === 403) return 'Vous n’avez pas le droit de faire cela.';
  return 'La demande n’a pas abouti.';
}

/** Plain French for the codes people meet most; otherwise the API's own detail. */
const PLAIN = {
  invalid_credentials: 'E-mail ou mot de passe incorrect.',
  unauthenticated: 'Votre session a expiré : reconnectez-vous.',
  forbidden: 'Vous n’avez pas le droit de faire cela.',
  allocation_exhausted: 'Votre dotation pour ce dispositif est épuisée : demandez des chéquiers supplémentaires à l’opérateur.',
  budget_exhausted: 'Le budget de ce dispositif est épuisé.',
  funds_not_received: 'Les fonds de ce dispositif ne sont pas encore versés : aucun chéquier ne peut être émis pour l’instant.',
};

export function plainMessage(err) {
  if (!err) return '';
  if (err.code && PLAIN[err.code] && !['validation_failed'].includes(err.code)) {
    const detail = err.problem?.detail;
    // The API's detail is already French and often more precise (amounts, dates).
    return detail && !['invalid_credentials', 'unauthenticated'].includes(err.code) ? detail : PLAIN[err.code];
  }
  return err.message;
}

/**
 * The session, kept in sessionStorage: `{token, expires_at, lifetime, refresh_token, me}`.
 * The access token lives `expires_in` seconds (15 minutes by default); the refresh
 * token of the login buys a new pair before that (a timer while a page is open), or
 * after a 401, once: a site agent scans all day without logging in again. The server
 * ends the session after two idle hours or twelve hours in all (a refresh answered
 * 401 `session_revoked`), and the person goes to the login page.
 */
export function session() {
  const s = lastSession();
  if (s && s.token && (s.expires_at > Date.now() || s.refresh_token)) return s;
  return null;
}

/** The stored session even past its lifetime (offline scanning only: see main.js). */
export function lastSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    return null;
  }
}

function saveSession(s) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
}

/** Stores a login's or a refresh's answer; `me` is kept from before when not given. */
function saveTokens(answer, me) {
  const lifetime = Number(answer.expires_in) || 900;
  // A little before the server's end, so that a request is never sent with a token
  // about to die on the way.
  const margin = Math.min(10, lifetime / 5);
  saveSession({
    token: answer.access_token,
    expires_at: Date.now() + (lifetime - margin) * 1000,
    lifetime,
    refresh_token: answer.refresh_token || null,
    me: me === undefined ? lastSession()?.me : me,
    tab: tabName(),
  });
  scheduleRefresh();
}

/** Forgets the tokens of this tab (the device's queue of scans stays). */
export function forget() {
  clearTimeout(refreshTimer);
  refreshTimer = null;
  sessionStorage.removeItem(SESSION_KEY);
}

/** "Se déconnecter": ends the session on the server (`POST /auth/logout`), then forgets it. */
export async function logout() {
  const s = lastSession();
  clearTimeout(refreshTimer);
  if (s?.refresh_token) {
    const headers = { Accept: 'application/json', 'Content-Type': 'application/json' };
    if (s.token && s.expires_at > Date.now()) headers.Authorization = `Bearer ${s.token}`;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 5000);
    try {
      // Whatever the answer (no network, a session already over), the device forgets it.
      await fetch(`${BASE}/auth/logout`, { method: 'POST', headers, body: JSON.stringify({ refresh_token: s.refresh_token }), signal: controller.signal, credentials: 'omit' });
    } catch {
      /* forgotten below all the same */
    } finally {
      clearTimeout(timer);
    }
  }
  forget();
}

let refreshing = null;
let refreshTimer = null;

/**
 * A new access token from the refresh token. One refresh at a time: requests that get
 * a 401 together wait for the same one (a refresh token works once; presenting it twice
 * would end the session). Resolves true (new tokens stored) or false (the session is
 * over: no refresh token, or the server refused it); rejects with ApiError when the
 * server could not be asked (offline: the session is kept for later).
 */
export function refreshSession() {
  if (!refreshing) {
    refreshing = refreshOnce().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function refreshOnce() {
  const s = lastSession();
  if (!s?.refresh_token) return false;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 20000);
  let res;
  try {
    res = await fetch(`${BASE}/auth/refresh`, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: s.refresh_token }),
      signal: controller.signal,
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, null);
  } finally {
    clearTimeout(timer);
  }
  if (res.ok) {
    const answer = await res.json();
    // Logged out (or in as someone else) while the refresh was on its way: not ours.
    if (lastSession()?.refresh_token !== s.refresh_token) return Boolean(session());
    saveTokens(answer);
    return true;
  }
  if (res.status === 401 || res.status === 400 || res.status === 403 || res.status === 422) return false;
  throw new ApiError(res.status, null);
}

/** Refreshes a little before the access token ends, while a page of the app is open. */
function scheduleRefresh(delay) {
  clearTimeout(refreshTimer);
  const s = lastSession();
  if (!s?.refresh_token) return;
  const lead = Math.min(60, (s.lifetime || 900) / 3) * 1000;
  const wait = delay ?? Math.max(1000, s.expires_at - lead - Date.now());
  refreshTimer = setTimeout(async () => {
    try {
      if (!(await refreshSession())) toLogin(true);
    } catch {
      // No network (a site agent scanning offline): try again later; the scans wait
      // in the device's queue meanwhile.
      scheduleRefresh(Math.min(30000, Math.max(2000, ((s.lifetime || 900) * 1000) / 2)));
    }
  }, wait);
}

/** Where to come back after logging in: the current page. */
export function currentPlace() {
  return location.pathname + location.search;
}

/** Sends the person to the login page, to come back here afterwards. */
export function toLogin(expired) {
  // Several requests may fail at once: the first one decides where to come back.
  if (location.pathname === '/connexion') return;
  const back = currentPlace();
  const params = new URLSearchParams();
  if (!back.startsWith('/connexion')) params.set('retour', back);
  if (expired) params.set('expiree', '1');
  forget();
  window.dispatchEvent(new CustomEvent('passnum:navigate', { detail: `/connexion?${params}` }));
}

/** The access token to send, refreshed first when it is past its lifetime. */
async function accessToken() {
  let s = lastSession();
  if (!s?.token) {
    toLogin(Boolean(s));
    throw new SessionExpired();
  }
  if (s.expires_at <= Date.now()) {
    if (!(await refreshSession())) {
      toLogin(true);
      throw new SessionExpired();
    }
    s = lastSession();
  }
  return s.token;
}

/**
 * A request to the API. opts: {body, headers, auth (default true), raw (return the
 * Response), timeout (ms)}. Resolves with the JSON (or null), rejects with ApiError or
 * SessionExpired. A 401 (token refused) refreshes the session once and sends the
 * request again; a second 401, or a refresh refused, goes to the login page.
 */
export async function api(method, path, opts = {}) {
  const headers = { Accept: 'application/json', ...(opts.headers || {}) };
  const auth = opts.auth !== false;
  let sent = null;
  if (auth) {
    sent = await accessToken();
    headers.Authorization = `Bearer ${sent}`;
  }
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeout || 20000);
  let res;
  try {
    res = await fetch(BASE + path, { method, headers, body, signal: controller.signal, credentials: 'omit' });
  } catch {
    throw new ApiError(0, null);
  } finally {
    clearTimeout(timer);
  }
  const type = res.headers.get('content-type') || '';
  if (opts.raw && res.ok) return res;
  let data = null;
  if (type.includes('json')) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  // A wrong current password (POST /auth/password) is the person's mistake, not the session's.
  if (res.status === 401 && auth && data?.code !== 'invalid_credentials') {
    if (!opts.retried) {
      const now = lastSession();
      // Another request refreshed meanwhile: send again with the new token.
      if (now?.token && now.token !== sent) return api(method, path, { ...opts, retried: true });
      if (now?.refresh_token && (await refreshSession())) return api(method, path, { ...opts, retried: true });
    }
    toLogin(true);
    throw new SessionExpired();
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const get = (path, opts) => api('GET', path, opts);
export const post = (path, body, opts = {}) => api('POST', path, { ...opts, body });
export const patch = (path, body, opts = {}) => api('PATCH', path, { ...opts, body });

/** Every page of a list endpoint (bounded). */
export async function all(path, max = 20) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < max; i += 1) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

export async function login(email, password) {
  const answer = await api('POST', '/auth/login', { auth: false, body: { email, password } });
  forget();
  saveTokens(answer, null);
  const me = await get('/me');
  saveSession({ ...lastSession(), me });
  return me;
}

/** This tab's name for its session (kept by the tab across reloads, empty in a new tab). */
function tabName() {
  if (!window.name.startsWith('passnum-')) window.name = `passnum-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  return window.name;
}

// A tab opened from another one ("open in a new tab") starts with a copy of its
// sessionStorage, refresh token included. Two tabs refreshing with one token would end
// the session for both (a refresh token presented twice is taken for a stolen one), so
// the copy keeps the access token but drops the refresh token: that tab asks to log in
// when its token ends, and the first tab goes on.
(function claimSession() {
  const s = lastSession();
  if (!s) return;
  const mine = tabName();
  if (s.tab === mine) return;
  if (s.tab) delete s.refresh_token;
  saveSession({ ...s, tab: mine });
}());

// A page reloaded (or a tab reopened) keeps refreshing its session.
scheduleRefresh();

/** Downloads a file of the API (PDF, CSV) with the token, under `filename` (null:
 * the name the server gives in Content-Disposition). */
export async function download(path, filename) {
  const res = await api('GET', path, { raw: true, headers: { Accept: '*/*' }, timeout: 60000 });
  if (!filename) {
    const given = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '');
    filename = given ? given[1] : path.split('/').pop();
  }
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/** Opens a PDF of the API in a new tab (to print it). */
export async function openPdf(path) {
  const tab = window.open('', '_blank');
  try {
    const res = await api('GET', path, { raw: true, headers: { Accept: 'application/pdf' }, timeout: 60000 });
    const url = URL.createObjectURL(await res.blob());
    if (tab) tab.location.href = url;
    else location.href = url;
    setTimeout(() => URL.revokeObjectURL(url), 300000);
  } catch (err) {
    tab?.close();
    throw err;
  }
}
