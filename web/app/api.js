// The public API under /api/v1: the session (a 15-minute bearer token kept in
// sessionStorage), requests, and problems turned into plain French.

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

export function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    if (s && s.token && s.expires_at > Date.now()) return s;
  } catch {
    /* a damaged session is no session */
  }
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

export function logout() {
  sessionStorage.removeItem(SESSION_KEY);
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
  logout();
  window.dispatchEvent(new CustomEvent('passnum:navigate', { detail: `/connexion?${params}` }));
}

/**
 * A request to the API. opts: {body, headers, auth (default true), raw (return the
 * Response), timeout (ms)}. Resolves with the JSON (or null), rejects with ApiError or
 * SessionExpired.
 */
export async function api(method, path, opts = {}) {
  const headers = { Accept: 'application/json', ...(opts.headers || {}) };
  const auth = opts.auth !== false;
  if (auth) {
    const s = session();
    if (!s) {
      toLogin(Boolean(sessionStorage.getItem(SESSION_KEY)));
      throw new SessionExpired();
    }
    headers.Authorization = `Bearer ${s.token}`;
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
  if (res.status === 401 && auth) {
    toLogin(true);
    throw new SessionExpired();
  }
  if (opts.raw && res.ok) return res;
  const type = res.headers.get('content-type') || '';
  let data = null;
  if (type.includes('json')) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const get = (path, opts) => api('GET', path, opts);
export const post = (path, body, opts = {}) => api('POST', path, { ...opts, body });

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
  const token = await api('POST', '/auth/login', { auth: false, body: { email, password } });
  saveSession({ token: token.access_token, expires_at: Date.now() + (token.expires_in - 10) * 1000 });
  const me = await get('/me');
  saveSession({ token: token.access_token, expires_at: Date.now() + (token.expires_in - 10) * 1000, me });
  return me;
}

/** Downloads a file of the API (PDF, CSV) with the token, under `filename`. */
export async function download(path, filename) {
  const res = await api('GET', path, { raw: true, headers: { Accept: '*/*' }, timeout: 60000 });
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
