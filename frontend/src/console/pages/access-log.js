// 访问日志 (审计 and 系统管理员): who read which part of the trail and who did which
// administrative act, newest first, with 加载更多 paging by id. The server decides the scope and
// leaves out the entries of the reader's own acts when they may manage accounts.
import { api } from '../api.js';
import { h, notice, replace, wallClock } from '../dom.js';
import { actionLabel, t } from '../i18n.js';

const PAGE_SIZE = 50;
const COLUMNS = ['accessLog.time', 'accessLog.operator', 'accessLog.company', 'accessLog.action',
  'accessLog.details', 'accessLog.rows', 'accessLog.client'];

/** The access-log page. */
export function accessLogPage(view, ctx) {
  const body = h('tbody');
  const footer = h('div', { class: 'pager' });
  const table = h('div', { class: 'table-wrap', hidden: true },
    h('table', { class: 'access-log' },
      h('thead', null, h('tr', null, COLUMNS.map((key) => h('th', { scope: 'col' }, t(key))))),
      body));
  const results = h('div', { class: 'results', 'aria-live': 'polite' }, table, footer);
  replace(view,
    h('div', { class: 'page-head' }, h('h1', null, t('accessLog.title'))),
    h('p', { class: 'muted intro' }, t('accessLog.intro')),
    results);

  let beforeId = null;
  async function more() {
    replace(footer, notice('info', t('common.loading')));
    let page;
    try {
      page = (await api('api/information-tracking/access-log', {
        query: { limit: PAGE_SIZE, beforeId },
      })).data;
    } catch (error) {
      ctx.fail(error, footer);
      return;
    }
    body.append(...page.items.map(entryRow));
    table.hidden = body.children.length === 0;
    beforeId = page.nextBeforeId;
    if (beforeId) {
      replace(footer, h('button', { type: 'button', class: 'ghost', 'data-action': 'more', onClick: more },
        t('timeline.more')));
    } else {
      replace(footer, h('span', { class: 'muted' },
        t(body.children.length ? 'accessLog.end' : 'accessLog.empty')));
    }
  }
  more();
}

function entryRow(entry) {
  const cell = (column, props, ...content) => h('td', { 'data-label': t(COLUMNS[column]), ...props }, ...content);
  return h('tr', { 'data-id': entry.id, 'data-action': entry.action },
    cell(0, { class: 'nowrap' }, wallClock(entry.occurredAt)),
    cell(1, { class: 'operator' }, entry.operatorName || entry.operatorId,
      h('div', { class: 'muted' }, [entry.role, entry.operatorId].filter(Boolean).join(' · '))),
    cell(2, null, [entry.company, entry.department].filter(Boolean).join(' · ')),
    cell(3, null, h('span', { class: 'badge' }, actionLabel(entry.action))),
    cell(4, { class: 'details' }, details(entry.filters)),
    cell(5, null, String(entry.rowCount)),
    cell(6, { class: 'nowrap' }, entry.clientAddr || ''));
}

/** What was asked or done, as `key: value` pairs (the server keeps no personal data here). */
function details(filters) {
  return Object.entries(filters || {})
    .filter(([, value]) => value !== null && value !== undefined && value !== '')
    .map(([key, value]) => `${key}: ${typeof value === 'object' ? JSON.stringify(value) : value}`)
    .join('; ');
}
