// The dashboard in a real browser (Debian's chromium via playwright-core): every page loads with no console
// error and no failed request, shows the API's numbers, the calls filters narrow the list, the call page has
// one timeline bar per session and one stream row per stream, axe-core finds no serious or critical
// violation, every control is reachable with Tab; screenshots of each page in light / dark × desktop / phone.
// Started by run.sh (which starts the server); `node dashboard.test.mjs --shots-only` skips nothing but is
// kept for symmetry with the benchmark.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
const BASE = process.env.CALLRECORDS_URL;
const SHOTS = process.env.SCREENSHOTS;
const BUILDINGS = process.env.BUILDINGS;
assert.ok(BASE && SHOTS && BUILDINGS, 'CALLRECORDS_URL, SCREENSHOTS and BUILDINGS are set by run.sh');
export const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];

const get = async (p) => {
  const r = await fetch(BASE + p);
  assert.equal(r.status, 200, `${p}: ${r.status}`);
  return r.json();
};
const fmtNum = (n) => Number(n).toLocaleString('en-US');
const pct = (r) => `${(r * 100).toFixed(2)} %`;
let checks = 0;
const ok = (name) => { checks += 1; console.log(`ok ${checks} - ${name}`); };

// The records the call page is checked on: the 300-session meeting (the smallest with ≥ 300 sessions), the
// biggest one, and a peer-to-peer call.
const bySessions = await get('/analytics/v1/calls?orderBy=participants%20desc&$top=1000');
const all = bySessions.value;
const meeting300 = all.filter((c) => c.sessions >= 300).sort((a, b) => a.sessions - b.sessions)[0];
const biggest = [...all].sort((a, b) => b.sessions - a.sessions)[0];
const p2p = all.find((c) => c.type === 'peerToPeer' && c.streams > 0);
assert.ok(meeting300 && meeting300.sessions < 500, 'a ~300-session meeting is in the data');
assert.ok(biggest.sessions > 1000, 'a meeting of more than 1,000 sessions is in the data');

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ARGS });

/** Problems seen by a page: console errors, uncaught exceptions, failed requests, HTTP errors. */
function watch(page) {
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  page.on('request', (r) => { if (!r.url().startsWith(BASE) && !r.url().startsWith('data:')) problems.push(`left the origin: ${r.url()}`); });
  return problems;
}

async function open(page, hash, ready) {
  await page.goto(`${BASE}/${hash}`);
  await page.waitForSelector(ready, { timeout: 60_000 });
  await page.waitForSelector('.page[data-complete="true"]', { timeout: 120_000 });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

async function axe(page, name) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.addScriptTag({ path: AXE });
  const res = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`), [], `axe on ${name}`);
}

/** Every visible control (links, buttons, inputs, selects, summaries, tabindex=0 regions) gets the focus
 * with Tab alone. */
async function keyboard(page, name) {
  const n = await page.evaluate(() => {
    const sel = 'a[href], button, input, select, summary, [tabindex="0"]';
    const els = [...document.querySelectorAll(sel)].filter((e) => e.checkVisibility() && !e.disabled);
    els.forEach((e, i) => e.setAttribute('data-kb', String(i)));
    document.activeElement && document.activeElement.blur();
    window.__kb = new Set();
    document.addEventListener('focusin', (ev) => { const k = ev.target.getAttribute && ev.target.getAttribute('data-kb'); if (k !== null) window.__kb.add(k); });
    return els.length;
  });
  // Tab from wherever the focus is, through the page (and past the end, back from the top) until every
  // control was focused once, or twice the controls' count of presses.
  for (let i = 0; i < 2 * n + 10; i++) {
    await page.keyboard.press('Tab');
    if (i >= n && (await page.evaluate((c) => window.__kb.size === c, n))) break;
  }
  const missed = await page.evaluate((count) => {
    const out = [];
    for (let i = 0; i < count; i++) if (!window.__kb.has(String(i))) { const e = document.querySelector(`[data-kb="${i}"]`); out.push(e ? e.outerHTML.slice(0, 120) : i); }
    return out;
  }, n);
  assert.deepEqual(missed, [], `controls of ${name} not reached by Tab`);
}

const combos = [
  { name: 'light-desktop', colorScheme: 'light', viewport: { width: 1280, height: 800 } },
  { name: 'dark-desktop', colorScheme: 'dark', viewport: { width: 1280, height: 800 } },
  { name: 'light-phone', colorScheme: 'light', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
  { name: 'dark-phone', colorScheme: 'dark', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
];

const pages = [
  { name: 'overview', hash: '#/overview', ready: '#tile-audio' },
  { name: 'calls', hash: '#/calls', ready: '#calls-table' },
  { name: 'call', hash: `#/call/${meeting300.id}`, ready: '#timeline', clip: 2400 },
  { name: 'call-p2p', hash: `#/call/${p2p.id}`, ready: '#timeline' },
  { name: 'buildings', hash: '#/buildings', ready: '#missing-table' },
  { name: 'operations', hash: '#/operations', ready: '#sync-status' },
];

for (const combo of combos) {
  const ctx = await browser.newContext({ colorScheme: combo.colorScheme, viewport: combo.viewport, isMobile: combo.isMobile, hasTouch: combo.hasTouch, bypassCSP: true, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  page.setDefaultTimeout(120_000);
  const problems = watch(page);
  for (const p of pages) {
    await open(page, p.hash, p.ready);
    const path = `${SHOTS}/${p.name}-${combo.name}.png`;
    if (p.clip) {
      const h = await page.evaluate(() => document.documentElement.scrollHeight);
      await page.screenshot({ path, fullPage: true, clip: { x: 0, y: 0, width: combo.viewport.width, height: Math.min(h, p.clip) } });
    } else await page.screenshot({ path, fullPage: true });
    // No value leaks through unformatted.
    assert.doesNotMatch(await page.innerText('main'), /\b(undefined|NaN|null|\[object Object\])\b|Invalid Date/, `${p.name} text`);
    await axe(page, `${p.name} (${combo.name})`);
    if (combo.name === 'light-desktop') await keyboard(page, p.name);
    assert.deepEqual(problems, [], `${p.name} (${combo.name})`);
    ok(`${p.name} ${combo.name}: loads cleanly, axe, screenshot${combo.name === 'light-desktop' ? ', keyboard' : ''}`);
  }
  await ctx.close();
}

// The numbers, the filters and the timeline (desktop, light).
const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await ctx.newPage();
page.setDefaultTimeout(120_000);
const problems = watch(page);

// Overview: the tiles equal /analytics/v1/summary of the page's own window.
for (const hash of ['#/overview', '#/overview?range=7', '#/overview?range=all', '#/overview?range=custom&from=2026-01-06&until=2026-01-08']) {
  await page.goto('about:blank');
  await open(page, hash, '#tile-audio');
  const [from, until] = await page.evaluate(() => [document.querySelector('#from').value, document.querySelector('#until').value]);
  const qs = new URLSearchParams();
  if (from) qs.set('from', from);
  if (until) qs.set('until', until);
  const s = await get(`/analytics/v1/summary${qs.size ? '?' + qs : ''}`);
  const tile = async (id) => page.evaluate((i) => { const t = document.getElementById(i); return [t.dataset.value, t.querySelector('.tile-value').textContent]; }, id);
  for (const [id, rate] of [['tile-audio', s.streams.audio.poorRate], ['tile-setup', s.sessions.setupFailureRate], ['tile-drop', s.sessions.dropFailureRate]]) {
    assert.deepEqual(await tile(id), [String(rate), pct(rate)], `${id} of ${hash}`);
  }
  assert.ok((await page.locator('.chart canvas').count()) >= 2, 'the trend charts are drawn');
  // The feedback ratings table: one row per group of groupBy=feedback, sessions as the API says.
  const fb = await get(`/analytics/v1/summary?${new URLSearchParams([...qs, ['groupBy', 'feedback']])}`);
  await page.waitForSelector('.page[data-complete="true"]');
  if (fb.groups.length) {
    assert.equal(await page.locator('#feedback-table tbody tr').count(), fb.groups.length, `feedback rows of ${hash}`);
    for (const g of fb.groups) {
      const cells = await page.locator(`#feedback-table tbody tr[data-key="${g.key ?? ''}"] td`).allTextContents();
      assert.equal(cells[1], fmtNum(g.sessions.total), `feedback ${g.key} sessions of ${hash}`);
    }
  }
  if (hash.includes('custom')) assert.deepEqual([from, until], ['2026-01-06', '2026-01-08']);
  if (hash.includes('all')) assert.deepEqual([from, until], ['', '']);
  ok(`overview ${hash}: audio poor ${pct(s.streams.audio.poorRate)}, setup and drop rates equal the summary's; ${fb.groups.length} feedback ratings as groupBy=feedback`);
}

// Calls: the count is the API's; each filter narrows it to the API's count for the same filter.
const countOf = async () => Number(await page.getAttribute('#calls-count', 'data-total'));
const apiCount = async (q) => (await get(`/analytics/v1/calls?$top=1${q ? '&' + q : ''}`))['@odata.count'];
await open(page, '#/calls', '#calls-table');
const total = await countOf();
assert.equal(total, await apiCount(''));
assert.equal(await page.locator('#calls-table tbody tr').count(), Math.min(50, total));
const waitCount = async (prev) => page.waitForFunction((p) => { const e = document.querySelector('#calls-count'); return e && e.dataset.total !== String(p); }, prev);
await page.check('input[name=poorOnly]');
await waitCount(total);
const poor = await countOf();
assert.ok(poor > 0 && poor < total, `poor only narrows: ${poor} of ${total}`);
assert.equal(poor, await apiCount('poorOnly=true'));
assert.ok(page.url().includes('poorOnly=true'), 'the filter is in the URL');
await page.check('input[name=failedOnly]');
await waitCount(poor);
const poorFailed = await countOf();
assert.equal(poorFailed, await apiCount('poorOnly=true&failedOnly=true'));
assert.ok(poorFailed < poor);
ok(`calls: ${total} calls, poor only ${poor}, poor and failed ${poorFailed} (the API's counts, filters in the URL)`);
await open(page, '#/calls', '#calls-table');
await page.selectOption('select[name=type]', 'peerToPeer');
await waitCount(total);
assert.equal(await countOf(), await apiCount('type=peerToPeer'));
await page.fill('input[name=search]', meeting300.id);
await page.press('input[name=search]', 'Enter');
await page.waitForFunction(() => { const e = document.querySelector('#calls-count'); return e && e.dataset.total === '0'; });
await page.selectOption('select[name=type]', '');
await page.waitForFunction(() => { const e = document.querySelector('#calls-count'); return e && e.dataset.total === '1'; });
assert.equal(await page.getAttribute('#calls-table tbody tr', 'data-id'), meeting300.id);
ok('calls: type and search narrow the list (search by id finds the meeting)');
// Sorting by a column header puts the API's first row first; a deep link reproduces the page.
await open(page, '#/calls', '#calls-table');
await page.click('button.sort:has-text("Duration")');
await page.waitForFunction(() => location.hash.includes('orderBy=duration'));
await page.waitForSelector('th[aria-sort=descending] >> text=Duration');
const longest = (await get('/analytics/v1/calls?$top=1&orderBy=duration%20desc')).value[0].id;
assert.equal(await page.getAttribute('#calls-table tbody tr', 'data-id'), longest);
await page.click('#next-page');
await page.waitForFunction(() => location.hash.includes('page=1'));
await page.waitForFunction(() => { const e = document.querySelector('#calls-count'); return e && e.textContent.startsWith('51'); });
const second = (await get('/analytics/v1/calls?$top=1&$skip=50&orderBy=duration%20desc')).value[0].id;
assert.equal(await page.getAttribute('#calls-table tbody tr', 'data-id'), second);
ok('calls: sorting by duration and paging match the API');

// Call: one bar per session over every timeline page, one stream row per stream.
for (const c of [meeting300, biggest, p2p]) {
  const expectStreams = (await get(`/analytics/v1/calls/${c.id}`)).streams.length;
  await page.goto('about:blank');
  await open(page, `#/call/${c.id}`, '#timeline');
  const seen = new Set();
  let streams = 0;
  for (;;) {
    const bars = await page.$$eval('.tl-bar', (els) => els.map((e) => e.dataset.session));
    for (const b of bars) seen.add(b);
    streams += await page.locator('#streams-table tbody tr').count();
    const next = page.locator('#tl-next');
    if (!(await next.count()) || !(await next.isVisible())) break;
    const label = await page.textContent('#tl-page');
    await next.click();
    await page.waitForFunction((l) => { const e = document.querySelector('#tl-page'); return e && e.textContent !== l; }, label);
  }
  assert.equal(seen.size, c.sessions, `timeline bars of ${c.id}`);
  assert.equal(Number(await page.getAttribute('#session-count', 'data-sessions')), c.sessions);
  assert.equal(streams, expectStreams, `stream rows of ${c.id}`);
  ok(`call ${c.id}: ${seen.size} timeline bars = ${c.sessions} sessions, ${streams} stream rows = streams`);
}
// The version history and the raw JSON of the served version.
await open(page, `#/call/${meeting300.id}`, '#versions-table');
const versions = await get(`/admin/callRecords/${meeting300.id}/versions`);
assert.equal(await page.locator('#versions-table tbody tr').count(), versions.value.length);
await page.click('summary:has-text("Raw JSON")');
await page.waitForFunction(() => { const e = document.querySelector('pre.raw'); return e && e.textContent.startsWith('{'); });
const raw = await page.textContent('pre.raw');
assert.equal(JSON.parse(raw).id, meeting300.id);
const updated = all.find((c) => c.version >= 2 && c.sessions < 50);
assert.ok(updated, 'a record with a later version is in the data');
await page.goto('about:blank');
await open(page, `#/call/${updated.id}`, '#versions-table');
await page.click('button:has-text("Show changes")');
await page.waitForSelector('#diff ul.diff li');
assert.ok((await page.locator('#diff li').count()) > 0);
ok('call: version history rows, the raw JSON of the served version, the changes between two versions');

// Buildings: the file's rows and the Missing Subnet report.
await open(page, '#/buildings', '#missing-table');
const lines = readFileSync(BUILDINGS, 'utf8').split('\n').filter((l) => l.trim()).length;
assert.equal(await page.locator('#buildings-table tbody tr').count(), lines);
assert.equal(await page.locator('#missing-table tbody tr').count(), (await get('/analytics/v1/missingSubnets')).value.length);
ok('buildings: the uploaded file and the missing subnets as the API says');

// Operations: the record count.
await open(page, '#/operations', '#record-count');
const records = (await get('/v1.0/communications/callRecords?$count=true&$top=1'))['@odata.count'];
assert.equal(await page.textContent('#record-count'), fmtNum(records));
// The store size in bytes is /admin/storage's (plain serve: every tenant, so the database's size).
const storage = await get('/admin/storage');
assert.ok(storage.databaseBytes > 0 && storage.rawBytes > 0, JSON.stringify(storage));
assert.equal(Number(await page.getAttribute('#store-bytes', 'data-bytes')), storage.databaseBytes);
assert.ok((await page.textContent('#store-bytes')).includes(fmtNum(storage.databaseBytes)));
assert.equal(await page.textContent('#version-count'), fmtNum(storage.versions));
const subs = (await get('/v1.0/subscriptions')).value;
assert.equal(subs.length, 1);
const deliveries = await get(`/admin/subscriptions/${subs[0].id}/deliveries`);
assert.ok(deliveries.value.length > 0, 'the suite\'s ingest queued notifications');
assert.equal(await page.locator('#subs-table tbody tr').count(), 1);
assert.ok((await page.textContent('#subs-table tbody tr')).includes(subs[0].id));
ok('operations: the record count is Graph\'s @odata.count, the store size /admin/storage\'s bytes; the subscription and its deliveries are listed');
assert.deepEqual(problems, [], 'no console error and no failed request');

await browser.close();
console.log(`all ${checks} checks passed; screenshots in ${SHOTS}`);
