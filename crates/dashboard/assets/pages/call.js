// Call: the record's sessions as a timeline (paged, 100 sessions a page), the streams of those sessions
// coloured by CQD class with the thresholds they exceeded, their endpoints, the raw JSON of the served
// version and the version history with a diff of two versions.
import { api, apiText, el, card, num, dur, when, href, table, failure } from '../lib.js';

export const SESSIONS_PER_PAGE = 100;
let loaded = null;

/** The record with every session (following `sessions@odata.nextLink`, same origin). */
async function fullRecord(id) {
  const rec = await api(`/v1.0/communications/callRecords/${encodeURIComponent(id)}?$expand=sessions($expand=segments)`);
  let next = rec['sessions@odata.nextLink'];
  while (next) {
    const u = new URL(next, location.href);
    const page = await api(u.pathname + u.search);
    rec.sessions.push(...page.value);
    next = page['@odata.nextLink'];
  }
  delete rec['sessions@odata.nextLink'];
  return rec;
}

const t = (iso) => (iso ? Date.parse(iso) : NaN);

function who(ep) {
  if (!ep) return '?';
  const a = ep.associatedIdentity;
  if (a && (a.displayName || a.userPrincipalName)) return a.displayName || a.userPrincipalName;
  const idset = ep.identity || {};
  for (const k of ['user', 'guest', 'phone', 'application', 'applicationInstance', 'device', 'acsUser', 'spoolUser', 'onPremises']) {
    if (idset[k] && (idset[k].displayName || idset[k].id)) return idset[k].displayName || idset[k].id;
  }
  const role = ep.userAgent && ep.userAgent.role;
  if (role) return role.replace(/^skypeForBusiness/, '').replace(/([a-z])([A-Z])/g, '$1 $2');
  return ep.name || 'unknown';
}

const MODS = { audio: ['A', 'audio'], video: ['V', 'video'], screenSharing: ['S', 'screen sharing'], videoBasedScreenSharing: ['S', 'screen sharing'], data: ['D', 'data'] };
const modBadges = (mods) => (mods || []).map((m) => { const [l, n] = MODS[m] || ['?', m]; return el('span', { class: 'mod', title: n, 'aria-label': n }, l); });

function failureOf(s) {
  if (s.failureInfo && s.failureInfo.stage) return { stage: s.failureInfo.stage, reason: s.failureInfo.reason, at: s };
  for (const g of s.segments || []) if (g.failureInfo && g.failureInfo.stage) return { stage: g.failureInfo.stage, reason: g.failureInfo.reason, at: g };
  return null;
}

function timeline(rec, sessions, first, poorSessions) {
  let t0 = t(rec.startDateTime), t1 = t(rec.endDateTime);
  for (const s of rec.sessions) {
    if (!(t0 <= t(s.startDateTime))) t0 = Math.min(t0 || Infinity, t(s.startDateTime));
    if (!(t1 >= t(s.endDateTime))) t1 = Math.max(t1 || -Infinity, t(s.endDateTime));
  }
  const span = Math.max(1, t1 - t0);
  const x = (iso) => `${Math.max(0, Math.min(100, ((t(iso) - t0) / span) * 100)).toFixed(3)}%`;
  const w = (a, b) => `${Math.max(0.15, ((t(b) - t(a)) / span) * 100).toFixed(3)}%`;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => el('span', { style: { left: `${f * 100}%` } }, new Date(t0 + f * span).toISOString().slice(11, 19)));
  const rows = sessions.map((s, i) => {
    const n = first + i;
    const f = failureOf(s);
    const label = `${who(s.caller)} → ${who(s.callee)}`;
    const desc = `Session ${n + 1}: ${label}, ${when(s.startDateTime)} to ${when(s.endDateTime)}${f ? `, failed at ${f.stage}${f.reason ? ` (${f.reason})` : ''}` : ''}`;
    return el('div', { class: 'tl-row' },
      el('div', { class: 'tl-label', title: label }, el('span', { class: 'muted' }, `${n + 1}. `), modBadges(s.modalities), ' ', label),
      el('div', { class: 'tl-track' },
        el('div', { class: `tl-bar${poorSessions.has(n) ? ' poor' : ''}`, 'data-session': String(n), role: 'img', 'aria-label': desc, title: desc,
          style: { left: x(s.startDateTime), width: w(s.startDateTime, s.endDateTime) } },
          (s.segments || []).map((g) => {
            const a = (t(g.startDateTime) - t(s.startDateTime)) / Math.max(1, t(s.endDateTime) - t(s.startDateTime));
            const b = (t(g.endDateTime) - t(s.startDateTime)) / Math.max(1, t(s.endDateTime) - t(s.startDateTime));
            return el('div', { class: 'tl-seg', style: { left: `${Math.max(0, a * 100)}%`, width: `${Math.max(1, (b - a) * 100)}%` } });
          })),
        f ? el('div', { class: 'tl-fail', title: `failed: ${f.stage}`, style: { left: f.stage === 'callSetup' ? x(f.at.startDateTime) : x(f.at.endDateTime || s.endDateTime) } }) : null));
  });
  return el('div', { class: 'tl', id: 'timeline' },
    el('div', { class: 'tl-axis', 'aria-hidden': 'true' }, el('div', {}, 'caller → callee (UTC)'), el('div', { class: 'tl-ticks' }, ticks)),
    rows);
}

const fmt = (v, unit, d = 0) => (v === null || v === undefined ? '—' : `${Number(v).toFixed(d)}${unit}`);

function streamsTable(streams) {
  const rows = streams.map((s) => {
    const c = s.classification || {};
    const m = s.metrics || {};
    const due = c.poorDueTo ? c.poorDueTo.join(', ') : c.reason || '';
    const video = s.kind !== 'audio';
    return { attrs: { class: 'stream-row', 'data-class': c.class }, cells: [
      String(s.key.sessionOrdinal + 1), s.key.mediaLabel || '—', s.key.direction || '—', s.kind,
      el('span', { class: `badge class-${c.class}` }, c.class), due,
      fmt(m.averageJitterMs, ' ms'), m.averagePacketLossRate == null ? '—' : `${(m.averagePacketLossRate * 100).toFixed(2)} %`,
      fmt(m.averageRoundTripTimeMs, ' ms'), video ? fmt(m.averageVideoFrameRate, ' fps', 1) : fmt(m.averageAudioDegradation, '', 2),
      (s.endpoint && s.endpoint.subnet) || '—'] };
  });
  return table('Streams of these sessions', ['Session', 'Media', 'Direction', 'Kind', 'Class', 'Poor due to', 'Jitter', 'Loss', 'RTT', 'Degradation / fps', 'Subnet'], rows, { id: 'streams-table' });
}

function endpointsTable(streams) {
  const seen = new Map();
  for (const s of streams) {
    const e = s.endpoint || {};
    const p = e.side === 'callee' ? s.callee : s.caller;
    const key = [p && (p.upn || p.id || p.serviceRole), e.subnet, e.captureDevice, e.clientVersion].join('|');
    if (!seen.has(key)) seen.set(key, { p, e });
  }
  const rows = [...seen.values()].map(({ p, e }) => [
    (p && (p.displayName || p.upn || p.id || p.serviceRole)) || '—',
    [e.productFamily, e.platform, e.clientVersion].filter(Boolean).join(' · ') || '—',
    e.captureDevice || '—',
    [e.connectionType, e.wifiBand].filter(Boolean).join(' / ') || '—',
    e.subnet || e.ipAddress || '—',
    (e.building && e.building.buildingName) || '—',
    e.corp || '—', e.vpn === null || e.vpn === undefined ? '—' : e.vpn ? 'yes' : 'no',
    e.feedbackRating || '—']);
  return table('Endpoints of these sessions', ['User / service', 'Client', 'Device', 'Network', 'Subnet', 'Building', 'Corp', 'VPN', 'Feedback'], rows, { id: 'endpoints-table' });
}

/** Paths whose values differ between two JSON values (added, removed, changed), at most `max`. */
export function diff(a, b, path = '', out = [], max = 500) {
  if (out.length >= max) return out;
  const isObj = (v) => v && typeof v === 'object';
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const p = Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k;
      if (!(k in a)) out.push(['+', p, undefined, b[k]]);
      else if (!(k in b)) out.push(['-', p, a[k], undefined]);
      else diff(a[k], b[k], p, out, max);
      if (out.length >= max) break;
    }
  } else if (JSON.stringify(a) !== JSON.stringify(b)) out.push(['~', path || '(root)', a, b]);
  return out;
}

const short = (v) => { const s = JSON.stringify(v); return s === undefined ? '' : s.length > 120 ? `${s.slice(0, 117)}…` : s; };

function versionsCard(id, versions) {
  const base = `/admin/callRecords/${encodeURIComponent(id)}/versions`;
  const rows = versions.map((v) => [String(v.version), when(v.receivedDateTime), v.outcome, v.served ? 'served' : '', String(v.revision ?? '')]);
  const opts = (sel) => versions.map((v, i) => el('option', { value: String(v.version), selected: i === sel }, `version ${v.version} (${v.outcome})`));
  const a = el('select', { 'aria-label': 'First version' }, opts(Math.max(0, versions.length - 2)));
  const b = el('select', { 'aria-label': 'Second version' }, opts(versions.length - 1));
  const out = el('div', { id: 'diff' });
  const compare = async () => {
    out.replaceChildren(el('p', { class: 'muted' }, 'Comparing…'));
    try {
      const [x, y] = await Promise.all([apiText(`${base}/${a.value}`), apiText(`${base}/${b.value}`)]);
      const d = diff(JSON.parse(x), JSON.parse(y));
      out.replaceChildren(d.length ? el('ul', { class: 'diff' }, d.map(([k, p, o, n]) => el('li', { class: k === '+' ? 'diff-add' : k === '-' ? 'diff-del' : '' },
        el('code', {}, p), ': ', k === '+' ? `added ${short(n)}` : k === '-' ? `removed ${short(o)}` : `${short(o)} → ${short(n)}`)))
        : el('p', {}, 'No difference.'));
    } catch (e) { out.replaceChildren(failure('Could not compare', e)); }
  };
  return card('Version history', table('Versions', ['Version', 'Received (UTC)', 'Outcome', '', 'Revision'], rows, { id: 'versions-table' }),
    versions.length > 1 ? el('div', { class: 'filters' }, el('label', {}, 'Compare ', a), el('label', {}, 'with ', b), el('button', { type: 'button', onclick: compare }, 'Show changes')) : el('p', { class: 'muted' }, 'One version only.'),
    out);
}

function rawCard(id, version) {
  const pre = el('pre', { class: 'raw', tabindex: '0', 'aria-label': 'Raw JSON' });
  const det = el('details', {}, el('summary', {}, `Raw JSON of the served version (${version}), exactly as received`), pre);
  det.addEventListener('toggle', async () => {
    if (!det.open || pre.textContent) return;
    pre.textContent = 'Loading…';
    try { pre.textContent = await apiText(`/admin/callRecords/${encodeURIComponent(id)}/versions/${version}`); } catch (e) { pre.textContent = e.message; }
  }, { once: false });
  return card('Raw JSON', det);
}

export async function render(view, r, alive) {
  const id = r.arg;
  if (!id) { view.append(el('h1', {}, 'Call'), el('p', {}, 'No call id in the link.')); return; }
  let rec, quality, versions, listed;
  try {
    // Paging the timeline re-renders the page: what was read for this call in the last 30 s is reused.
    if (!loaded || loaded.id !== id || Date.now() - loaded.at > 30_000) {
      // Graph's GET does not inline participants_v2: its count comes from the collection's @odata.count.
      const all = await Promise.all([fullRecord(id), api(`/analytics/v1/calls/${encodeURIComponent(id)}`),
        api(`/admin/callRecords/${encodeURIComponent(id)}/versions`),
        api(`/v1.0/communications/callRecords/${encodeURIComponent(id)}/participants_v2?$count=true&$top=1&$select=id`)]);
      loaded = { id, at: Date.now(), all };
    }
    [rec, quality, versions, listed] = loaded.all;
  } catch (e) { view.append(el('h1', {}, 'Call'), failure(`Call ${id} could not be read`, e)); return; }
  if (!alive()) return;
  const sessions = rec.sessions || [];
  const pages = Math.max(1, Math.ceil(sessions.length / SESSIONS_PER_PAGE));
  const pageNo = Math.min(pages - 1, Math.max(0, parseInt(r.params.get('tpage'), 10) || 0));
  const first = pageNo * SESSIONS_PER_PAGE;
  const shown = sessions.slice(first, first + SESSIONS_PER_PAGE);
  const streams = quality.streams || [];
  const poorSessions = new Set(streams.filter((s) => s.classification && s.classification.class === 'poor').map((s) => s.key.sessionOrdinal));
  const pageStreams = streams.filter((s) => s.key.sessionOrdinal >= first && s.key.sessionOrdinal < first + shown.length);
  const failed = sessions.filter(failureOf).length;
  const organizer = rec.organizer_v2 && rec.organizer_v2.identity ? who({ identity: rec.organizer_v2.identity }) : '—';
  const durS = (t(rec.endDateTime) - t(rec.startDateTime)) / 1000;
  view.append(el('h1', {}, `Call ${when(rec.startDateTime)}`),
    card('Call', el('dl', { class: 'kv' },
      el('dt', {}, 'Id'), el('dd', {}, el('code', {}, rec.id)),
      el('dt', {}, 'Type'), el('dd', {}, rec.type || '—', ' ', modBadges(rec.modalities)),
      el('dt', {}, 'Start – end (UTC)'), el('dd', {}, `${when(rec.startDateTime)} – ${when(rec.endDateTime)} (${dur(Number.isFinite(durS) ? durS : null)})`),
      el('dt', {}, 'Organizer'), el('dd', {}, organizer),
      el('dt', {}, 'Sessions · participants'), el('dd', { id: 'session-count', 'data-sessions': String(sessions.length) }, `${num(sessions.length)} sessions · ${num(listed['@odata.count'])} participants`),
      el('dt', {}, 'Streams'), el('dd', { id: 'stream-count', 'data-streams': String(streams.length) }, `${num(streams.length)} streams, ${num(streams.filter((s) => s.classification && s.classification.class === 'poor').length)} poor; ${num(failed)} failed sessions`),
      el('dt', {}, 'Version'), el('dd', {}, String(rec.version)),
      rec.joinWebUrl ? [el('dt', {}, 'Meeting'), el('dd', {}, el('code', {}, rec.joinWebUrl))] : null)));
  const pager = pages > 1 ? el('nav', { class: 'pager', 'aria-label': 'Pages of sessions' },
    el('a', { class: 'button-link', id: 'tl-prev', hidden: pageNo === 0, href: href('call', id, { tpage: pageNo - 1 || '' }) }, '← Previous sessions'),
    el('span', { id: 'tl-page' }, `Sessions ${num(first + 1)}–${num(first + shown.length)} of ${num(sessions.length)}`),
    el('a', { class: 'button-link', id: 'tl-next', hidden: pageNo >= pages - 1, href: href('call', id, { tpage: pageNo + 1 }) }, 'Next sessions →')) : null;
  view.append(card('Timeline', pager, el('div', { class: 'tablewrap', tabindex: '0', role: 'region', 'aria-label': 'Timeline of sessions' }, timeline(rec, shown, first, poorSessions))));
  view.append(card('Streams', el('p', { class: 'muted' }, 'CQD classes: audio is poor when any of degradation, RTT, packet loss, jitter or concealed ratio exceeds its threshold; video and screen sharing by frame loss, frame rate, post-FEC loss.'),
    streamsTable(pageStreams)));
  view.append(card('Endpoints', endpointsTable(pageStreams)));
  view.append(rawCard(id, rec.version), versionsCard(id, versions.value || []));
}
