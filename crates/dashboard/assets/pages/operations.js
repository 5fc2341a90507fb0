// Operations: the store's size (served records from the Graph list's @odata.count, versions and bytes
// from /admin/storage), the change-notification subscriptions with their delivery state, and sync status
// per tenant (/admin/sync).
import { api, el, card, num, bytes, when, dur, table, failure } from '../lib.js';

/** Sync status per tenant from `GET /admin/sync` (what `callrecords sync` saved in the store). */
async function syncStatus() {
  const rows = (await api('/admin/sync')).value || [];
  if (!rows.length) return el('p', { class: 'muted', id: 'sync-status' }, 'No tenant has been synced into this store.');
  return table('Sync status per tenant', ['Tenant', 'Cursor (UTC)', 'Lag', 'Last sweep finished', 'Stored', 'Throttled', 'Pending', 'Gave up', 'Errors'],
    rows.map((r) => {
      const st = r.state || {};
      const last = st.lastSweep || {};
      return [el('code', {}, r.tenant), when(st.cursor), r.lagSeconds == null ? '—' : dur(r.lagSeconds), when(last.finished),
        num(last.stored ?? 0), num(last.throttled ?? 0), num((st.pending || []).length), num((st.gaveUp || []).length),
        (last.errors || []).length ? last.errors.join('; ') : 'none'];
    }), { id: 'sync-status' });
}

export async function render(view, r, alive) {
  view.append(el('h1', {}, 'Operations'));
  const storeCard = card('Store');
  const subsCard = card('Subscriptions and deliveries');
  const syncCard = card('Sync');
  view.append(storeCard, subsCard, syncCard);
  const [records, storage, subs, sync] = await Promise.allSettled([
    api('/v1.0/communications/callRecords?$count=true&$top=1&$select=id'),
    api('/admin/storage'),
    api('/v1.0/subscriptions'),
    syncStatus(),
  ]);
  if (!alive()) return;
  // One list, so the terms line up.
  const kv = el('dl', { class: 'kv' });
  storeCard.append(kv);
  if (records.status === 'fulfilled') {
    kv.append(el('dt', {}, 'Call records served'), el('dd', { id: 'record-count' }, num(records.value['@odata.count'])));
  } else storeCard.append(failure('The record count could not be read', records.reason));
  if (storage.status === 'fulfilled') {
    const s = storage.value;
    kv.append(
      el('dt', {}, 'Versions stored'), el('dd', { id: 'version-count' }, num(s.versions)),
      el('dt', {}, 'Received JSON as stored'), el('dd', { id: 'raw-bytes', 'data-bytes': String(s.rawBytes) }, bytes(s.rawBytes)),
      el('dt', {}, 'Store size'), s.databaseBytes === null
        ? el('dd', { id: 'store-bytes', 'data-bytes': '' }, 'not shown to one tenant')
        : el('dd', { id: 'store-bytes', 'data-bytes': String(s.databaseBytes) }, bytes(s.databaseBytes)));
  } else storeCard.append(failure('The store size could not be read', storage.reason));
  if (subs.status === 'fulfilled') {
    const list = subs.value.value || [];
    if (!list.length) subsCard.append(el('p', { id: 'subs-none' }, 'No subscription.'));
    else {
      const deliveries = await Promise.allSettled(list.map((s) => api(`/admin/subscriptions/${encodeURIComponent(s.id)}/deliveries`)));
      if (!alive()) return;
      subsCard.append(table('Subscriptions', ['Id', 'Resource', 'Change types', 'Notification URL', 'Expires (UTC)', 'Pending', 'Delivered', 'Dropped', 'Last result'],
        list.map((s, i) => {
          const d = deliveries[i].status === 'fulfilled' ? deliveries[i].value : null;
          const last = d && d.value && d.value[0];
          return [el('code', {}, s.id), s.resource, s.changeType, s.notificationUrl, when(s.expirationDateTime),
            d ? num(d.pending) : '—', d ? num(d.delivered) : '—', d ? num(d.dropped) : '—',
            last ? `${last.state}${last.lastResult ? ` (${last.lastResult})` : ''}` : '—'];
        }), { id: 'subs-table' }));
    }
  } else subsCard.append(failure('The subscriptions could not be read', subs.reason));
  syncCard.append(sync.status === 'fulfilled' ? sync.value : failure('Sync status could not be read', sync.reason));
}
