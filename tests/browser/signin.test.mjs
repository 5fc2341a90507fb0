// The dashboard's sign-in in a real browser (Debian's chromium via playwright-core), against
// `serve --fake --oidc-client-id …`, which is its own identity provider: the first data call's 401 sends the
// page through /auth/login, the fake's /authorize and /auth/callback, and back to the page it started on;
// the session cookie is HttpOnly and SameSite=Lax; the page's data calls then succeed; a write without the
// CSRF header is refused; signing out ends the session. Started by run.sh (SIGNIN_URL, TENANT).
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

// The same flags as dashboard.test.mjs (importing it would run that suite).
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];
const BASE = process.env.SIGNIN_URL;
const TENANT = process.env.TENANT;
assert.ok(BASE && TENANT, 'SIGNIN_URL and TENANT are set by run.sh');
let checks = 0;
const ok = (name) => { checks += 1; console.log(`ok ${checks} - signin: ${name}`); };

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const visited = [];
  // Every document request of the page, redirects included.
  page.on('request', (r) => { if (r.isNavigationRequest() && r.frame() === page.mainFrame()) visited.push(r.url()); });

  await page.goto(`${BASE}/#/calls`);
  // Signed in and back on the page it started from.
  await page.locator('#account .user').waitFor({ timeout: 30000 });
  await page.locator('.page[data-complete="true"]').waitFor({ timeout: 30000 });
  assert.ok(visited.some((u) => u.startsWith(`${BASE}/${TENANT}/oauth2/v2.0/authorize?`)), visited.join('\n'));
  assert.ok(visited.some((u) => u.startsWith(`${BASE}/auth/callback?code=`)), visited.join('\n'));
  assert.equal(page.url(), `${BASE}/#/calls`);
  const authorize = new URL(visited.find((u) => u.includes('/oauth2/v2.0/authorize?')));
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(authorize.searchParams.get('state') && authorize.searchParams.get('nonce'));
  ok('a data call without a session goes through the code flow with PKCE and comes back to #/calls');
  assert.equal(await page.locator('#main .error').count(), 0, 'the page shows no failure');
  assert.ok((await page.locator('#account .user').textContent()).trim().length > 0);
  ok('the calls page loaded its data and the header names the user');

  const cookies = await context.cookies(BASE);
  const session = cookies.find((c) => c.name === 'callrecords_session');
  assert.ok(session, JSON.stringify(cookies));
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');
  assert.ok(!cookies.some((c) => c.name === 'callrecords_login'), 'the sign-in cookie is spent');
  assert.ok(!(await page.evaluate(() => document.cookie)).includes('callrecords_session'), 'scripts cannot read it');
  ok('the session cookie is HttpOnly and SameSite=Lax, out of reach of scripts');

  const status = (init) => page.evaluate(async (i) => (await fetch('/analytics/v1/buildings', i)).status, init);
  assert.equal(await status({ method: 'PUT', body: 'x', headers: { 'content-type': 'text/csv' } }), 403);
  const csrf = await page.evaluate(async () => (await (await fetch('/auth/me')).json()).csrfToken);
  assert.ok(csrf);
  const withToken = await status({ method: 'PUT', body: 'x', headers: { 'content-type': 'text/csv', 'x-csrf-token': csrf } });
  assert.ok(withToken !== 403 && withToken !== 401, `with the session's CSRF token: ${withToken}`);
  ok(`a write with the cookie and without the CSRF header is refused (403); with it, it reaches the handler (${withToken})`);

  await page.locator('#account .sign-out').click();
  await page.getByRole('heading', { name: 'Signed out' }).waitFor({ timeout: 10000 });
  assert.equal(await page.evaluate(async () => (await fetch('/analytics/v1/calls')).status), 401);
  ok('signing out ends the session: data calls answer 401 again');
  assert.deepEqual(errors, []);
  ok('no script error');
} finally {
  await browser.close();
}
console.log(`signin: ${checks} checks passed`);
