// The dashboard's router: the URL fragment names the page (`#/calls?…`); each page is a module with
// `render(main, route)` that reads only the public APIs.
import { route, el, failure, prefetchNewest, whoami, signIn, signOut } from './lib.js';

const pages = {
  overview: () => import('./pages/overview.js'),
  calls: () => import('./pages/calls.js'),
  call: () => import('./pages/call.js'),
  buildings: () => import('./pages/buildings.js'),
  operations: () => import('./pages/operations.js'),
};

const titles = { overview: 'Overview', calls: 'Calls', call: 'Call', buildings: 'Buildings', operations: 'Operations' };
let generation = 0;
let lastPage = null;

async function show() {
  const r = route();
  const main = document.getElementById('main');
  const gen = ++generation;
  for (const a of document.querySelectorAll('nav a')) {
    const on = a.dataset.page === r.page || (r.page === 'call' && a.dataset.page === 'calls');
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.title = `${titles[r.page] || 'Not found'} · callrecords`;
  const load = pages[r.page];
  // The overview's window starts from the newest call: ask for it while the page module loads.
  if (r.page === 'overview' && !['custom', 'all'].includes(r.params.get('range'))) prefetchNewest();
  if (!load) {
    main.replaceChildren(el('h1', {}, 'Not found'), el('p', {}, `No page '${r.page}'.`));
    return;
  }
  try {
    const mod = await load();
    if (gen !== generation) return;
    const view = el('div', { class: 'page', 'data-page': r.page });
    main.replaceChildren(view);
    // Moving to another page puts the focus at its start (filters changing on one page keep it).
    if (lastPage !== r.page) main.focus({ preventScroll: true });
    lastPage = r.page;
    await mod.render(view, r, () => gen === generation);
    // Every request of the page has been answered (the browser suite waits for this).
    if (gen === generation) view.dataset.complete = 'true';
  } catch (e) {
    if (gen === generation) main.replaceChildren(failure('This page could not be shown', e));
  }
}

/** The signed-in user and a sign-out button in the header (when the server has sign-in). */
async function account() {
  const me = await whoami().catch(() => null);
  const box = document.getElementById('account');
  if (!me || !box) return;
  if (me.signedIn) {
    sessionStorage.removeItem('callrecords.signInAt');
    const who = (me.user && (me.user.name || me.user.username)) || me.tenantId;
    const out = el('button', { type: 'button', class: 'sign-out' }, 'Sign out');
    out.addEventListener('click', async () => {
      await signOut();
      box.replaceChildren();
      const again = el('a', { href: '/auth/login?return=/' }, 'Sign in again');
      document.getElementById('main').replaceChildren(el('h1', {}, 'Signed out'), el('p', {}, again));
    });
    box.replaceChildren(el('span', { class: 'user', title: me.user && me.user.username || '' }, who), out);
  } else if (me.canSignIn) {
    const b = el('button', { type: 'button' }, 'Sign in');
    b.addEventListener('click', () => { sessionStorage.removeItem('callrecords.signInAt'); signIn(); });
    box.replaceChildren(b);
  }
}

window.addEventListener('hashchange', show);
account();
// The charts follow the system's theme: re-render when it changes.
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', show);
show();
