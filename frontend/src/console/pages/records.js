// 操作记录: the history table with its filters and keyset paging, and a customer's timeline.
import { api } from '../api.js';
import { h, notice, replace, wallClock } from '../dom.js';
import { filterForm, filterQuery, filtersFrom } from '../filters.js';
import { eventLabel, sourceLabel, t } from '../i18n.js';

const PAGE_SIZES = ['20', '50', '100', '200'];

/** The history page: filters, table, 上一页 / 下一页. */
export function recordsPage(view, ctx) {
  const filters = filtersFrom(ctx.params);
  const size = PAGE_SIZES.includes(ctx.params.get('limit')) ? ctx.params.get('limit') : '50';
  const cursors = [null]; // the cursor that opened each page seen so far
  let index = 0;
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const query = filterQuery(filters);
  const sizeSelect = h('select', {
    name: 'limit',
    onChange: (event) => ctx.go('/records', { ...filters, limit: event.target.value }),
  }, PAGE_SIZES.map((n) => h('option', { value: n, selected: n === size }, n)));

  replace(view,
    h('div', { class: 'page-head' },
      h('h1', null, t('records.title')),
      h('a', { class: 'button ghost', href: `#/export${query ? `?${query}` : ''}` }, t('records.export'))),
    filterForm(filters, (chosen) => ctx.go('/records', chosen)),
    results);

  async function load() {
    replace(results, notice('info', t('common.loading')));
    let page;
    try {
      page = (await api('api/information-tracking/records', {
        query: { ...filters, limit: size, cursor: cursors[index] },
      })).data;
    } catch (error) {
      ctx.fail(error, results);
      return;
    }
    const pager = h('div', { class: 'pager' },
      h('button', { type: 'button', class: 'ghost', 'data-action': 'prev', disabled: index === 0,
        onClick: () => { index -= 1; load(); } }, t('records.prev')),
      h('span', { class: 'page-number' }, t('records.page', { n: index + 1 })),
      h('button', { type: 'button', class: 'ghost', 'data-action': 'next', disabled: !page.nextCursor,
        onClick: () => { cursors[index + 1] = page.nextCursor; index += 1; load(); } }, t('records.next')),
      h('label', { class: 'page-size' }, t('records.pageSize'), sizeSelect));
    replace(results,
      page.items.length ? recordTable(page.items) : notice('info', t('records.empty')),
      pager);
  }
  load();
}

/** A customer's timeline: `#/customer/<source>/<userId>`. */
export function timelinePage(view, ctx, source, userId) {
  let cursor = null;
  const list = h('ol', { class: 'timeline' });
  const footer = h('div', { class: 'pager' });
  const title = h('h1', null, t('timeline.title'));
  replace(view,
    h('div', { class: 'page-head' }, title,
      h('a', { class: 'button ghost', href: '#/records' }, t('timeline.back'))),
    h('p', { class: 'customer-id' }, source ? `${sourceLabel(source)} · ${userId}` : userId),
    list, footer);

  async function more() {
    replace(footer, notice('info', t('common.loading')));
    let page;
    try {
      page = (await api(`api/information-tracking/customers/${encodeURIComponent(userId)}/records`, {
        query: { source, limit: 50, cursor },
      })).data;
    } catch (error) {
      ctx.fail(error, footer);
      return;
    }
    const named = page.items.find((item) => item.customerName);
    if (named && !title.dataset.named) {
      title.dataset.named = 'true';
      title.append(h('span', { class: 'customer-name' }, ` · ${named.customerName}`));
    }
    for (const item of page.items) {
      list.append(h('li', { 'data-id': item.id },
        h('time', { datetime: item.operationTime || '' }, wallClock(item.operationTime)),
        h('div', null,
          h('strong', null, item.trauserName || item.operatorId || ''),
          h('span', { class: 'muted' }, ` ${item.tradepartment || ''} ${item.trarole || ''}`)),
        eventCell(item)));
    }
    cursor = page.nextCursor;
    replace(footer, cursor
      ? h('button', { type: 'button', class: 'ghost', onClick: more }, t('timeline.more'))
      : h('span', { class: 'muted' }, t('timeline.end')));
  }
  more();
}

const COLUMNS = ['records.time', 'records.operator', 'records.department', 'records.event',
  'records.customer', 'records.source'];

function recordTable(items) {
  // Each cell names its column (data-label), shown on phones where rows become cards.
  const cell = (column, props, ...content) => h('td', { 'data-label': t(COLUMNS[column]), ...props }, ...content);
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'records' },
      h('thead', null, h('tr', null, COLUMNS.map((key) => h('th', { scope: 'col' }, t(key))))),
      h('tbody', null, items.map((item) => h('tr', { 'data-id': item.id },
        cell(0, { class: 'nowrap' }, wallClock(item.operationTime)),
        cell(1, null, item.trauserName || '', h('div', { class: 'muted' }, item.trarole || '')),
        cell(2, null, item.tradepartment || ''),
        cell(3, { class: 'event' }, eventCell(item)),
        cell(4, null, customerLink(item)),
        cell(5, { class: 'nowrap' }, sourceLabel(item.source)))))));
}

function eventCell(item) {
  const changes = Array.isArray(item.changes) ? item.changes : [];
  return h('div', { class: 'event-cell' },
    h('span', { class: `badge badge-${item.eventType || 'other'}` }, eventLabel(item.eventType)),
    h('span', { class: 'event-text' }, item.operationEvent || ''),
    changes.length ? h('ul', { class: 'changes', 'aria-label': t('records.changes') },
      changes.map((c) => h('li', null, `${c.field}: ${c.old ?? ''} → ${c.new ?? ''}`))) : null);
}

function customerLink(item) {
  if (!item.userId) return '';
  const href = `#/customer/${encodeURIComponent(item.source || '-')}/${encodeURIComponent(item.userId)}`;
  return h('a', { class: 'customer', href },
    item.customerName || item.userId,
    item.customerName ? h('div', { class: 'muted' }, item.userId) : null);
}
