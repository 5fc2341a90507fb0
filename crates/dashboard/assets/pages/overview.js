// Overview: CQD's tiles against Microsoft's targets, the daily trend per stream kind, the network split,
// worst buildings and subnets, client versions and platforms, user feedback ratings — all from
// /analytics/v1/summary.
import { api, el, card, pct, num, table, href, setRoute, addDays, failure, cssVar, newestCall } from '../lib.js';

/** Microsoft's suggested targets (QER guide): audio poor ≤ 3 %, setup failure ≤ 1 %, drop failure ≤ 3 %. */
export const TARGETS = { audio: 0.03, setup: 0.01, drop: 0.03 };
const RANGES = ['7', '30', '90', 'all', 'custom'];

/** The window of the page: presets end at the day after the newest call the store has (so a store of
 * old data shows its data), custom is what the URL says. */
async function windowOf(params) {
  const range = RANGES.includes(params.get('range')) ? params.get('range') : '30';
  if (range === 'custom') return { range, from: params.get('from') || '', until: params.get('until') || '' };
  if (range === 'all') return { range, from: '', until: '' };
  const newest = await newestCall();
  const start = newest.value[0] && newest.value[0].startDateTime;
  if (!start) return { range, from: '', until: '' };
  const until = addDays(start.slice(0, 10), 1);
  return { range, from: addDays(until, -Number(range)), until };
}

const q = (w, extra) => {
  const p = new URLSearchParams();
  if (w.from) p.set('from', w.from);
  if (w.until) p.set('until', w.until);
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  const s = p.toString();
  return `/analytics/v1/summary${s ? '?' + s : ''}`;
};

function tile(id, label, rate, target, detail) {
  const ok = rate === null || rate === undefined ? null : rate <= target;
  return el('div', { class: `tile ${ok === null ? '' : ok ? 'good' : 'bad'}`, id, 'data-value': rate === null ? '' : String(rate) },
    el('div', { class: 'tile-label' }, label),
    el('div', { class: 'tile-value' }, pct(rate)),
    el('div', { class: 'tile-target' }, `target ≤ ${pct(target, 1)} · `, ok === null ? 'no data' : ok ? 'meets target' : 'above target'),
    el('div', { class: 'tile-detail' }, detail));
}

function rangeForm(w, onChange) {
  const sel = el('select', { id: 'range', 'aria-label': 'Range' },
    [['7', 'Last 7 days'], ['30', 'Last 30 days'], ['90', 'Last 90 days'], ['all', 'Everything'], ['custom', 'Custom']]
      .map(([v, t]) => el('option', { value: v, selected: v === w.range }, t)));
  const from = el('input', { type: 'date', id: 'from', value: w.from, 'aria-label': 'From (UTC day)' });
  const until = el('input', { type: 'date', id: 'until', value: w.until, 'aria-label': 'Until (UTC day, exclusive)' });
  const apply = () => onChange({ range: sel.value, from: from.value, until: until.value });
  sel.addEventListener('change', () => onChange({ range: sel.value, from: from.value, until: until.value }));
  from.addEventListener('change', () => { sel.value = 'custom'; apply(); });
  until.addEventListener('change', () => { sel.value = 'custom'; apply(); });
  return el('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); apply(); } },
    el('label', {}, 'Range ', sel), el('label', {}, 'From ', from), el('label', {}, 'Until ', until),
    el('span', { class: 'muted' }, w.from || w.until ? `${w.from || '…'} → ${w.until || '…'} (UTC, start of call)` : 'all records'));
}

function daysBetween(groups, w) {
  const keys = groups.map((g) => g.key).filter(Boolean).sort();
  let first = w.from || keys[0], end = w.until || (keys.length ? addDays(keys[keys.length - 1], 1) : null);
  const days = [];
  if (!first || !end) return days;
  for (let d = first; d < end && days.length < 400; d = addDays(d, 1)) days.push(d);
  return days;
}

// uPlot is imported when the first chart is drawn, after the tiles (it is the biggest file).
async function chart(target, title, days, series, yLabel, fmt) {
  const { default: uPlot } = await import('../vendor/uPlot.esm.js');
  const width = Math.max(280, Math.min(target.clientWidth || 600, 1200) - 8);
  const axis = { stroke: cssVar('--fg'), grid: { stroke: cssVar('--grid') }, ticks: { stroke: cssVar('--grid') } };
  const xs = days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
  const opts = {
    title, width, height: 220, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
    series: [{ label: 'day' }, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: days.length < 40 }, value: (u, v) => (v === null ? '—' : fmt(v)) }))],
    axes: [axis, { ...axis, label: yLabel, values: (u, vals) => vals.map(fmt), size: 60 }],
    scales: { x: { time: true } },
    legend: { live: false },
  };
  const wrap = el('figure', { class: 'chart', 'aria-label': `${title}: ${series.map((s) => s.label).join(', ')} per day` });
  target.append(wrap);
  new uPlot(opts, [xs, ...series.map((s) => s.data)], wrap);
  // uPlot's legend toggles a series on click: make each entry a keyboard-reachable toggle button too.
  wrap.querySelectorAll('.u-legend .u-series').forEach((row) => {
    row.setAttribute('tabindex', '0');
    row.setAttribute('role', 'button');
    const sync = () => row.setAttribute('aria-pressed', String(!row.classList.contains('u-off')));
    sync();
    row.addEventListener('click', () => setTimeout(sync));
    row.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); row.click(); } });
  });
}

function worst(groups, n, minStreams) {
  return groups
    .filter((g) => g.streams.audio.good + g.streams.audio.poor >= minStreams)
    .sort((a, b) => (b.streams.audio.poorRate ?? -1) - (a.streams.audio.poorRate ?? -1) || (b.streams.audio.total - a.streams.audio.total))
    .slice(0, n);
}

const groupRows = (groups, none) => groups.map((g) => [g.key ?? none, num(g.streams.audio.total), num(g.streams.audio.poor), pct(g.streams.audio.poorRate), pct(g.sessions.setupFailureRate), pct(g.sessions.dropFailureRate)]);
const groupHeads = (k) => [k, 'Audio streams', 'Poor', 'Poor rate', 'Setup fail.', 'Drops'];

/** Graph's `userFeedbackRating` members, best first; other values (and none) follow. */
const RATINGS = ['excellent', 'good', 'fair', 'poor', 'bad', 'notRated'];
const ratingOrder = (k) => (k === null ? RATINGS.length + 1 : RATINGS.includes(k) ? RATINGS.indexOf(k) : RATINGS.length);

/** User feedback ratings (`groupBy=feedback`): sessions and calls per rating given at the stream's
 * endpoint, with the audio poor rate of those streams. */
async function feedbackCard(target, p, alive) {
  const title = 'User feedback ratings';
  try {
    const g = await p;
    if (!alive()) return;
    const rows = [...g.groups].sort((a, b) => ratingOrder(a.key) - ratingOrder(b.key) || String(a.key).localeCompare(String(b.key)));
    target.append(card(title, rows.length
      ? table(title, ['Rating', 'Sessions', 'Calls', 'Audio streams', 'Audio poor rate'],
        rows.map((r) => ({ attrs: { 'data-key': r.key ?? '' }, cells: [r.key ?? '(no rating)', num(r.sessions.total), num(r.calls.total), num(r.streams.audio.total), pct(r.streams.audio.poorRate)] })),
        { id: 'feedback-table' })
      : el('p', { class: 'muted' }, 'No data in this range.')));
  } catch (e) { target.append(card(title, failure('Could not be read', e))); }
}

export async function render(view, r, alive) {
  let w;
  try { w = await windowOf(r.params); } catch (e) { view.append(failure('The newest call could not be read', e)); return; }
  if (!alive()) return;
  view.append(el('h1', {}, 'Overview'), rangeForm(w, (nw) => {
    setRoute('overview', null, nw.range === 'custom' ? nw : { range: nw.range });
  }));
  const tiles = el('div', { class: 'tiles', 'aria-label': 'Quality against targets' });
  const trends = el('div', { class: 'grid2' });
  const split = el('div', { class: 'grid2' });
  const clients = el('div', { class: 'grid2' });
  const feedback = el('div', { class: 'grid2' });
  view.append(tiles, trends, split, clients, feedback);

  // The tiles' summary first and alone (the first meaningful paint), then the grouped ones together.
  const overall = api(q(w));
  await overall.catch(() => null);
  const byDay = api(q(w, { groupBy: 'day' }));
  const byNetwork = api(q(w, { groupBy: 'network' }));
  const byBuilding = api(q(w, { groupBy: 'building' }));
  const bySubnet = api(q(w, { groupBy: 'subnet' }));
  const byVersion = api(q(w, { groupBy: 'clientVersion' }));
  const byPlatform = api(q(w, { groupBy: 'platform' }));
  const byFeedback = api(q(w, { groupBy: 'feedback' }));
  // Rejections are handled where each one is awaited; none may go unobserved meanwhile.
  for (const p of [byDay, byNetwork, byBuilding, bySubnet, byVersion, byPlatform, byFeedback]) p.catch(() => null);

  try {
    const s = await overall;
    if (!alive()) return;
    const a = s.streams.audio, ss = s.sessions;
    tiles.append(
      tile('tile-audio', 'Audio poor-stream rate', a.poorRate, TARGETS.audio, `${num(a.poor)} poor of ${num(a.good + a.poor)} classified audio streams`),
      tile('tile-setup', 'Setup failure rate', ss.setupFailureRate, TARGETS.setup, `${num(ss.setupFailures)} of ${num(ss.total)} sessions`),
      tile('tile-drop', 'Drop failure rate', ss.dropFailureRate, TARGETS.drop, `${num(ss.dropFailures)} of ${num(ss.total - ss.setupFailures)} set-up sessions`),
      el('div', { class: 'tile info', id: 'tile-calls' }, el('div', { class: 'tile-label' }, 'Calls'), el('div', { class: 'tile-value' }, num(s.calls.total)),
        el('div', { class: 'tile-target' }, `${pct(s.calls.poorRate)} with a poor leg`),
        el('div', { class: 'tile-detail' }, el('a', { href: href('calls', null, { from: w.from, until: w.until, poorOnly: true }) }, 'Poor calls →'))));
    // First meaningful paint: the tiles are on screen (bench/dashboard-paint.js reads this mark).
    requestAnimationFrame(() => performance.mark('callrecords:overview-tiles'));
  } catch (e) { tiles.append(failure('The summary could not be read', e)); }

  try {
    const d = await byDay;
    if (!alive()) return;
    const days = daysBetween(d.groups, w);
    const at = new Map(d.groups.map((g) => [g.key, g]));
    const kinds = [['audio', 'Audio', '--c-audio'], ['video', 'Video', '--c-video'], ['vbss', 'Screen sharing (VBSS)', '--c-vbss']];
    const counts = kinds.map(([k, label, c]) => ({ label, color: cssVar(c), data: days.map((day) => (at.get(day) ? at.get(day).streams[k].total : null)) }));
    const rates = kinds.map(([k, label, c]) => ({ label, color: cssVar(c), data: days.map((day) => { const g = at.get(day); return g && g.streams[k].poorRate !== null ? g.streams[k].poorRate * 100 : null; }) }));
    const c1 = card('Streams per day'), c2 = card('Poor streams per day (%)');
    trends.append(c1, c2);
    await chart(c1, 'Streams per day', days, counts, 'streams', (v) => num(Math.round(v)));
    await chart(c2, 'Poor % per day', days, rates, '% poor', (v) => `${v.toFixed(1)}`);
  } catch (e) { trends.append(failure('The daily trend could not be read', e)); }

  const groupCard = async (target, title, p, key, none, pick) => {
    try {
      const g = await p;
      if (!alive()) return;
      const rows = pick(g.groups);
      target.append(card(title, rows.length ? table(title, groupHeads(key), groupRows(rows, none)) : el('p', { class: 'muted' }, 'No data in this range.')));
    } catch (e) { target.append(card(title, failure('Could not be read', e))); }
  };
  await Promise.all([
    groupCard(split, 'Wired / Wi-Fi × inside / outside', byNetwork, 'Network', '(unknown)', (g) => g.sort((a, b) => b.streams.audio.total - a.streams.audio.total)),
    groupCard(split, 'Worst buildings (≥ 10 classified audio streams)', byBuilding, 'Building', '(no building)', (g) => worst(g, 10, 10)),
    groupCard(clients, 'Worst subnets (≥ 10 classified audio streams)', bySubnet, 'Subnet', '(none)', (g) => worst(g, 10, 10)),
    groupCard(clients, 'Platforms', byPlatform, 'Platform', '(unknown)', (g) => g.sort((a, b) => b.streams.audio.total - a.streams.audio.total)),
    groupCard(clients, 'Client versions (most streams)', byVersion, 'Client', '(unknown)', (g) => g.sort((a, b) => b.streams.audio.total - a.streams.audio.total).slice(0, 15)),
    feedbackCard(feedback, byFeedback, alive),
  ]);
}
