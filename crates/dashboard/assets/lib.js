// Shared helpers of the dashboard: API access (same origin, Graph error bodies), the hash route, DOM
// building, formatting.

/** An API failure, with Graph's error code and message when the body has one. */
export class ApiFailure extends Error {
  constructor(status, code, message) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

// The signed-in session's CSRF token (from /auth/me): every write with the session cookie must send it.
let csrfToken = null;
const SIGN_IN_AT = 'callrecords.signInAt';

/** Who is signed in: `/auth/me`'s answer (`{ signedIn: false, canSignIn: false }` under `--auth none`),
 * `{ signedIn: false, canSignIn }` without a session, or null when it cannot be told. */
export async function whoami() {
  const res = await fetch('/auth/me', { headers: { accept: 'application/json' } });
  if (res.ok) {
    const me = await res.json();
    csrfToken = me.csrfToken || null;
    return me;
  }
  if (res.status === 401) return { signedIn: false, canSignIn: await signInAvailable() };
  return null;
}

/** Whether this server offers the sign-in (its /auth/login redirects rather than answering 404). */
async function signInAvailable() {
  try {
    const res = await fetch('/auth/login?return=/', { redirect: 'manual' });
    return res.type === 'opaqueredirect' || (res.status >= 300 && res.status < 400);
  } catch { return false; }
}

/** Goes to the sign-in, coming back to this page; false (and nothing happens) if a sign-in was already
 * tried in the last 30 s, so that a browser refusing the cookie does not loop. */
export function signIn() {
  const last = Number(sessionStorage.getItem(SIGN_IN_AT) || 0);
  if (Date.now() - last < 30000) return false;
  sessionStorage.setItem(SIGN_IN_AT, String(Date.now()));
  const back = location.pathname + location.search + location.hash;
  location.assign(`/auth/login?return=${encodeURIComponent(back)}`);
  return true;
}

/** Ends the session. */
export async function signOut() {
  await fetch('/auth/logout', { method: 'POST', headers: csrfToken ? { 'x-csrf-token': csrfToken } : {} });
  csrfToken = null;
}

/** A JSON document of this server's public APIs (GET by default; writes carry the CSRF token). */
export async function api(path, init = {}) {
  const headers = { accept: 'application/json', ...(init.headers || {}) };
  const method = (init.method || 'GET').toUpperCase();
  if (csrfToken && !['GET', 'HEAD'].includes(method)) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, { ...init, headers });
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (res.status === 401 && (await signInAvailable()) && signIn()) {
    // The page is being left for the sign-in.
    await new Promise(() => {});
  }
  if (!res.ok) {
    const e = body && body.error;
    throw new ApiFailure(res.status, e ? e.code : 'error', e ? e.message : text.slice(0, 200));
  }
  return body;
}

const NEWEST = '/analytics/v1/calls?$top=1&orderBy=start%20desc';
let newestEarly = null;

/** Starts the overview's first request (the newest call, which its window needs) while its module is
 * still loading; the page takes it with {@link newestCall}. */
export function prefetchNewest() {
  newestEarly = api(NEWEST);
  newestEarly.catch(() => null);
}

/** The newest call of the store (the one prefetched for this page load, if any, else a new request). */
export function newestCall() {
  const p = newestEarly || api(NEWEST);
  newestEarly = null;
  return p;
}

/** GET text (CSV, raw JSON). */
export async function apiText(path) {
  const res = await fetch(path);
  if (res.status === 401 && (await signInAvailable()) && signIn()) await new Promise(() => {});
  const text = await res.text();
  if (!res.ok) {
    let msg = text;
    try { msg = JSON.parse(text).error.message; } catch { /* not a Graph error */ }
    throw new ApiFailure(res.status, 'error', msg);
  }
  return text;
}

/** The route in the URL's fragment: `#/page/arg?k=v`. */
export function route() {
  const h = location.hash.replace(/^#\/?/, '');
  const [path, qs] = h.split('?', 2);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || 'overview', arg: parts[1], params: new URLSearchParams(qs || '') };
}

/** A fragment link for a page, its argument and its parameters (empty values dropped). */
export function href(page, arg, params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '' && v !== false) p.set(k, String(v));
  }
  const qs = p.toString();
  return `#/${page}${arg ? '/' + encodeURIComponent(arg) : ''}${qs ? '?' + qs : ''}`;
}

/** Replace the fragment without a new history entry when only filters changed. */
export function setRoute(page, arg, params, push = true) {
  const h = href(page, arg, params);
  if (location.hash === h) return false;
  if (push) location.hash = h; else history.replaceState(null, '', h);
  return true;
}

/** `el('div', {class: 'x', onclick}, child, 'text', ...)`. */
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'style' && typeof v === 'object') Object.assign(e.style, v);
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export const pct = (r, digits = 2) => (r === null || r === undefined ? '—' : `${(r * 100).toFixed(digits)} %`);
/** Bytes in binary units: `1.5 MiB (1,572,864 bytes)`. */
export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n), i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${num(n)} bytes` : `${v.toFixed(1)} ${units[i]} (${num(n)} bytes)`;
}

export const num = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'));

export function dur(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}h ${String(m).padStart(2, '0')}m` : m ? `${m}m ${String(r).padStart(2, '0')}s` : `${r}s`;
}

/** `2026-01-05 09:00` in UTC (what the API and Graph speak). */
export function when(iso) {
  if (!iso) return '—';
  return iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, '').replace(/(\.\d+)?Z$/, '');
}

/** A day `YYYY-MM-DD` plus n days. */
export function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** A table: head labels and rows of cells (nodes or text). */
export function table(caption, heads, rows, attrs, scroll) {
  return el('div', { class: `tablewrap${scroll ? ' scroll' : ''}`, tabindex: '0', role: 'region', 'aria-label': caption },
    el('table', attrs || {},
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, heads.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows.map((r) => el('tr', r.attrs || {}, (r.cells || r).map((c) => el('td', {}, c)))))));
}

/** A card with a title. */
export const card = (title, ...body) => el('section', { class: 'card' }, el('h2', {}, title), ...body);

/** The error box of a failed load. */
export const failure = (what, e) => el('p', { class: 'error', role: 'alert' }, `${what}: ${e.message}`);

/** The colour of a CSS custom property (for the charts). */
export const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
