// First meaningful paint of the dashboard's overview (the tiles on screen: the performance mark
// `callrecords:overview-tiles`), first contentful paint, and the DOMContentLoaded of the page, over REPS fresh
// browser contexts (no cache); the baseline is the same page's own two API calls timed by `fetch` inside the
// same browser (what the tiles wait for at the least), interleaved. Prints medians and the ratio as JSON.
// Used by bench/dashboard.sh.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { chromium } = require('../tests/browser/node_modules/playwright-core');

const BASE = process.env.CALLRECORDS_URL;
const REPS = Number(process.env.REPS || 7);
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
const fmp = [], fcp = [], dcl = [], base = [];
for (let i = 0; i < REPS; i++) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  await page.goto(`${BASE}/#/overview`);
  await page.waitForFunction(() => performance.getEntriesByName('callrecords:overview-tiles').length > 0, null, { timeout: 60_000 });
  const t = await page.evaluate(() => ({
    fmp: performance.getEntriesByName('callrecords:overview-tiles')[0].startTime,
    fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
    dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
  }));
  fmp.push(t.fmp); fcp.push(t.fcp); dcl.push(t.dcl);
  // The rest of the page (grouped summaries) finishes before the baseline and the next load start.
  await page.waitForSelector('.page[data-complete="true"]', { timeout: 300_000 });
  // Baseline: the tiles' two requests (newest call, then the window's summary), timed in the page.
  const b = await page.evaluate(async () => {
    const t0 = performance.now();
    const n = await (await fetch('/analytics/v1/calls?$top=1&orderBy=start%20desc')).json();
    const until = new Date(Date.parse(n.value[0].startDateTime.slice(0, 10) + 'T00:00:00Z') + 86400e3);
    const from = new Date(until.getTime() - 30 * 86400e3);
    await (await fetch(`/analytics/v1/summary?from=${from.toISOString().slice(0, 10)}&until=${until.toISOString().slice(0, 10)}`)).json();
    return performance.now() - t0;
  });
  base.push(b);
  await ctx.close();
}
await browser.close();
const out = { reps: REPS, fmp_ms: median(fmp), fcp_ms: median(fcp), dcl_ms: median(dcl), api_floor_ms: median(base), fmp_over_api_floor: median(fmp) / median(base), all_fmp_ms: fmp.map((x) => Math.round(x)) };
console.log(JSON.stringify(out));
