// Operations: the store's size (records and version counts from the Graph list's @odata.count), the
// change-notification subscriptions with their delivery state, and (when the server has it) sync status.
import { api, el, card, num, when, table, failure } from '../lib.js';

/**
 * HOOK (sync status): `/admin/sync` does not exist yet (another issue adds it). When it does, fetch it here
 * and return a table of its tenants (last sync, cursor, errors). Until then nothing is requested, so the
 * page makes no failing request.
 */
async function syncStatus() {
  return el('p', { class: 'muted', id: 'sync-status' }, 'Sync status is not reported by this server yet (no /admin/sync).');
}

export async function render(view, r, alive) {
  view.append(el('h1', {}, 'Operations'));
  const storeCard = card('Store');
  const subsCard = card('Subscriptions and deliveries');
  const syncCard = card('Sync');
  view.append(storeCard, subsCard, syncCard);
  const [records, subs, sync] = await Promise.allSettled([
    api('/v1.0/communications/callRecords?$count=true&$top=1&$select=id'),
    api('/v1.0/subscriptions'),
    syncStatus(),
  ]);
  if (!alive()) return;
  if (records.status === 'fulfilled') {
    storeCard.append(el('dl', { class: 'kv' }, el('dt', {}, 'Call records served'), el('dd', { id: 'record-count' }, num(records.value['@odata.count']))));
  } else storeCard.append(failure('The record count could not be read', records.reason));
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
