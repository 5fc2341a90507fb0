// Buildings: upload CQD's building file (PUT /analytics/v1/buildings), see its rows, and the Missing Subnet
// report (subnets with ≥ 10 audio streams that no building row covers).
import { api, apiText, el, card, num, table, failure } from '../lib.js';

/** Rows of a CSV / TSV building file (no quoting in CQD's format). */
function rows(text) {
  return text.split(/\r?\n/).filter((l) => l.trim()).map((l) => l.split(l.includes('\t') ? '\t' : ','));
}

const HEADS = ['Network IP', 'Network name', 'Network range', 'Building name', 'Owner', 'Building type', 'Building office type', 'City', 'Zip code', 'Country', 'State', 'Region', 'InsideCorp', 'ExpressRoute', 'VPN'];

export async function render(view, r, alive) {
  view.append(el('h1', {}, 'Buildings'));
  const status = el('p', { id: 'upload-status', role: 'status' });
  const input = el('input', { type: 'file', id: 'building-file', accept: '.csv,.tsv,.txt,text/csv,text/tab-separated-values' });
  const upload = async () => {
    const f = input.files && input.files[0];
    if (!f) { status.textContent = 'Choose a file first.'; return; }
    status.textContent = 'Uploading…';
    try {
      const res = await api('/analytics/v1/buildings', { method: 'PUT', body: await f.text(), headers: { 'content-type': 'text/csv' } });
      status.textContent = `Uploaded: ${num(res.buildings)} buildings. Quality data is being re-derived.`;
      setTimeout(() => window.dispatchEvent(new HashChangeEvent('hashchange')), 300);
    } catch (e) { status.textContent = `Refused: ${e.message}`; }
  };
  view.append(card('Upload a building file',
    el('p', { class: 'muted' }, "CQD's format: CSV or TSV, 14 or 15 columns, no header; overlapping rows are refused with their line numbers."),
    el('div', { class: 'filters' }, el('label', {}, 'Building file ', input), el('button', { type: 'button', onclick: upload }, 'Upload')), status));
  const fileCard = card('Current building file');
  const missingCard = card('Missing subnets (≥ 10 audio streams, no building)');
  view.append(fileCard, missingCard);
  const [file, missing] = await Promise.allSettled([apiText('/analytics/v1/buildings'), api('/analytics/v1/missingSubnets')]);
  if (!alive()) return;
  if (file.status === 'fulfilled' && file.value.trim() === '') {
    fileCard.append(el('p', {}, 'No building file was uploaded yet.'));
  } else if (file.status === 'fulfilled') {
    const rs = rows(file.value);
    fileCard.append(el('p', { class: 'muted', id: 'building-count' }, `${num(rs.length)} rows`),
      table('Building file rows', HEADS.slice(0, Math.max(14, ...rs.map((x) => x.length))), rs.slice(0, 500), { id: 'buildings-table' }, true),
      rs.length > 500 ? el('p', { class: 'muted' }, `First 500 of ${num(rs.length)} rows.`) : '');
  } else fileCard.append(failure('The building file could not be read', file.reason));
  if (missing.status === 'fulfilled') {
    const v = missing.value.value;
    missingCard.append(el('p', { class: 'muted' }, `${num(v.length)} subnets`), v.length ? table('Missing subnets', ['Subnet', 'Audio streams'], v.map((m) => [m.subnet, num(m.audioStreams)]), { id: 'missing-table' }, true) : el('p', {}, 'None: every subnet with 10 or more audio streams is covered.'));
  } else missingCard.append(failure('The missing-subnets report could not be read', missing.reason));
}
