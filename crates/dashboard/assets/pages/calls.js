// Calls: the paged, filterable, sortable list of GET /analytics/v1/calls; every filter is in the URL.
import { api, el, num, dur, when, href, setRoute, failure } from '../lib.js';

export const PAGE = 50;
const ORDERS = [['start', 'Start'], ['duration', 'Duration'], ['participants', 'Participants'], ['poorStreams', 'Poor streams']];
const TYPES = [['', 'Any type'], ['groupCall', 'Group call'], ['peerToPeer', 'Peer to peer'], ['unknown', 'Unknown']];
const KEYS = ['from', 'until', 'search', 'type', 'poorOnly', 'failedOnly', 'orderBy', 'dir', 'page'];

function state(params) {
  const s = {};
  for (const k of KEYS) s[k] = params.get(k) || '';
  s.poorOnly = s.poorOnly === 'true';
  s.failedOnly = s.failedOnly === 'true';
  s.orderBy = ORDERS.some(([o]) => o === s.orderBy) ? s.orderBy : 'start';
  s.dir = s.dir === 'asc' ? 'asc' : 'desc';
  s.page = Math.max(0, parseInt(s.page, 10) || 0);
  return s;
}

function query(s) {
  const p = new URLSearchParams();
  for (const k of ['from', 'until', 'search', 'type']) if (s[k]) p.set(k, s[k]);
  if (s.poorOnly) p.set('poorOnly', 'true');
  if (s.failedOnly) p.set('failedOnly', 'true');
  p.set('orderBy', `${s.orderBy} ${s.dir}`);
  p.set('$top', String(PAGE));
  p.set('$skip', String(s.page * PAGE));
  return `/analytics/v1/calls?${p}`;
}

const go = (s) => setRoute('calls', null, { ...s, page: s.page || '', orderBy: s.orderBy === 'start' ? '' : s.orderBy, dir: s.dir === 'desc' ? '' : s.dir });

function form(s) {
  const f = {
    from: el('input', { type: 'date', name: 'from', value: s.from }),
    until: el('input', { type: 'date', name: 'until', value: s.until }),
    search: el('input', { type: 'search', name: 'search', value: s.search, placeholder: 'user, UPN, meeting URL, id', size: '28' }),
    type: el('select', { name: 'type' }, TYPES.map(([v, t]) => el('option', { value: v, selected: v === s.type }, t))),
    poorOnly: el('input', { type: 'checkbox', name: 'poorOnly', checked: s.poorOnly }),
    failedOnly: el('input', { type: 'checkbox', name: 'failedOnly', checked: s.failedOnly }),
  };
  const read = () => ({ ...s, from: f.from.value, until: f.until.value, search: f.search.value.trim(), type: f.type.value, poorOnly: f.poorOnly.checked, failedOnly: f.failedOnly.checked, page: 0 });
  for (const k of ['from', 'until', 'type', 'poorOnly', 'failedOnly']) f[k].addEventListener('change', () => go(read()));
  return el('form', { class: 'filters', role: 'search', 'aria-label': 'Filter calls', onsubmit: (e) => { e.preventDefault(); go(read()); } },
    el('label', {}, 'From ', f.from), el('label', {}, 'Until ', f.until),
    el('label', {}, 'Search ', f.search), el('label', {}, 'Type ', f.type),
    el('label', { class: 'check' }, f.poorOnly, ' Poor only'), el('label', { class: 'check' }, f.failedOnly, ' Failed only'),
    el('button', { type: 'submit' }, 'Apply'),
    el('a', { href: href('calls'), class: 'button-link' }, 'Reset'));
}

function sortHeader(s, key, label) {
  const active = s.orderBy === key;
  const next = active && s.dir === 'desc' ? 'asc' : 'desc';
  return el('th', { scope: 'col', 'aria-sort': active ? (s.dir === 'asc' ? 'ascending' : 'descending') : 'none' },
    el('button', { type: 'button', class: 'sort', onclick: () => go({ ...s, orderBy: key, dir: next, page: 0 }) },
      label, active ? (s.dir === 'asc' ? ' ▲' : ' ▼') : ''));
}

export async function render(view, r, alive) {
  const s = state(r.params);
  view.append(el('h1', {}, 'Calls'), form(s));
  let page;
  try { page = await api(query(s)); } catch (e) { view.append(failure('The calls could not be read', e)); return; }
  if (!alive()) return;
  const total = page['@odata.count'];
  const first = s.page * PAGE;
  view.append(el('p', { id: 'calls-count', 'data-total': String(total), class: 'muted' },
    total ? `${num(first + 1)}–${num(first + page.value.length)} of ${num(total)} calls` : 'No call matches.'));
  const rows = page.value.map((c) => el('tr', { 'data-id': c.id },
    el('td', {}, el('a', { href: href('call', c.id) }, when(c.startDateTime))),
    el('td', { class: 'n' }, dur(c.durationSeconds)),
    el('td', {}, c.type || '—'),
    el('td', {}, (c.modalities || []).join(', ')),
    el('td', { class: 'n' }, num(c.participants)),
    el('td', { class: 'n' }, num(c.sessions)),
    el('td', { class: `n ${c.poorStreams ? 'poor-text' : ''}` }, `${num(c.poorStreams)} / ${num(c.streams)}`),
    el('td', { class: `n ${c.failedSessions ? 'poor-text' : ''}` }, num(c.failedSessions))));
  view.append(el('div', { class: 'tablewrap', tabindex: '0', role: 'region', 'aria-label': 'Calls' },
    el('table', { id: 'calls-table' },
      el('caption', { class: 'sr-only' }, 'Calls, sortable by start, duration, participants and poor streams'),
      el('thead', {}, el('tr', {}, sortHeader(s, 'start', 'Start (UTC)'), sortHeader(s, 'duration', 'Duration'),
        el('th', { scope: 'col' }, 'Type'), el('th', { scope: 'col' }, 'Modalities'), sortHeader(s, 'participants', 'Participants'),
        el('th', { scope: 'col' }, 'Sessions'), sortHeader(s, 'poorStreams', 'Poor streams'), el('th', { scope: 'col' }, 'Failed sessions'))),
      el('tbody', {}, rows))));
  const pages = Math.max(1, Math.ceil(total / PAGE));
  view.append(el('nav', { class: 'pager', 'aria-label': 'Pages of calls' },
    el('a', { href: href('calls', null, { ...s, page: s.page - 1 || '' }), class: 'button-link', 'aria-disabled': s.page === 0 ? 'true' : null, hidden: s.page === 0 }, '← Previous'),
    el('span', {}, `Page ${s.page + 1} of ${pages}`),
    el('a', { href: href('calls', null, { ...s, page: s.page + 1 }), class: 'button-link', id: 'next-page', hidden: !page['@odata.nextLink'] }, 'Next →')));
}
