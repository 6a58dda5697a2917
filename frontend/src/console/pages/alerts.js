// 告警: alerts the rules worker raised, within the reader's scope (the server decides it), with
// 确认 (acknowledge) and 关闭 (resolve), each with a comment saying why. The filters live in
// the address (`#/alerts?status=open&severity=high`); without one the page shows open alerts,
// the ones somebody still has to look at.
import { api } from '../api.js';
import { h, notice, replace, wallClock } from '../dom.js';
import { alertLabel, t } from '../i18n.js';

const STATUSES = ['open', 'acknowledged', 'resolved'];
const SEVERITIES = ['high', 'medium', 'low'];
const PAGE_SIZE = 50;
const MAX_COMMENT = 500;
const COLUMNS = ['alerts.window', 'alerts.rule', 'alerts.severity', 'alerts.operator',
  'alerts.department', 'alerts.count', 'alerts.status', 'alerts.actions'];

/** The filters in the address; status `all` stands for every status (no parameter: open). */
function alertFilters(params) {
  const status = params.get('status');
  const severity = params.get('severity');
  return {
    status: status === 'all' || STATUSES.includes(status) ? status : 'open',
    severity: SEVERITIES.includes(severity) ? severity : '',
    rule: (params.get('rule') || '').trim(),
  };
}

/** The alerts page: filters, table, 上一页 / 下一页. */
export function alertsPage(view, ctx) {
  const filters = alertFilters(ctx.params);
  const cursors = [null]; // the cursor that opened each page seen so far
  let index = 0;
  const status = h('div', { class: 'alert-status', 'aria-live': 'polite' });
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  replace(view,
    h('div', { class: 'page-head' }, h('h1', null, t('alerts.title'))),
    filterForm(filters, (chosen) => ctx.go('/alerts', chosen)),
    status, results);

  async function load() {
    replace(results, notice('info', t('common.loading')));
    let page;
    try {
      page = (await api('api/information-tracking/alerts', {
        query: {
          status: filters.status === 'all' ? '' : filters.status,
          severity: filters.severity,
          rule: filters.rule,
          limit: PAGE_SIZE,
          cursor: cursors[index],
        },
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
        onClick: () => { cursors[index + 1] = page.nextCursor; index += 1; load(); } }, t('records.next')));
    replace(results,
      page.items.length ? alertTable(page.items, ctx, status) : notice('info', t('alerts.empty')),
      pager);
  }
  load();
}

function filterForm(filters, onApply) {
  const select = (name, label, options) => h('label', { class: 'field' }, h('span', null, label),
    h('select', { name }, options.map(([value, text]) =>
      h('option', { value, selected: filters[name] === value }, text))));
  const form = h('form', { class: 'filters alert-filters', role: 'search' },
    select('status', t('alerts.status'), [['all', t('filters.any')],
      ...STATUSES.map((code) => [code, alertLabel('status', code)])]),
    select('severity', t('alerts.severity'), [['', t('filters.any')],
      ...SEVERITIES.map((code) => [code, alertLabel('severity', code)])]),
    h('label', { class: 'field' }, h('span', null, t('alerts.rule')),
      h('input', { name: 'rule', type: 'search', value: filters.rule, maxlength: 64, autocomplete: 'off' })),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, t('filters.apply')),
      h('button', { type: 'button', class: 'ghost', onClick: () => onApply({}) }, t('filters.reset'))));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    onApply({
      status: String(data.get('status') || 'all'),
      severity: String(data.get('severity') || ''),
      rule: String(data.get('rule') || '').trim(),
    });
  });
  return form;
}

function alertTable(items, ctx, status) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'alerts' },
      h('thead', null, h('tr', null, COLUMNS.map((key) => h('th', { scope: 'col' }, t(key))))),
      h('tbody', null, items.map((item) => alertRow(item, ctx, status)))));
}

function alertRow(item, ctx, status) {
  // Each cell names its column (data-label), shown on phones where rows become cards.
  const cell = (column, props, ...content) => h('td', { 'data-label': t(COLUMNS[column]), ...props }, ...content);
  const operator = item.operator || {};
  const row = h('tr', { 'data-id': item.id, 'data-status': item.status });
  const act = (action) => h('button', {
    type: 'button', class: action === 'resolve' ? 'ghost' : 'primary', 'data-action': action,
    onClick: () => openForm(row, item, action, ctx, status),
  }, t(`alerts.${action}`));
  row.append(
    cell(0, { class: 'nowrap' }, windowText(item.windowStart, item.windowEnd)),
    cell(1, null, item.rule, h('div', { class: 'muted' }, alertLabel('kind', item.kind, item.kindLabel))),
    cell(2, null, h('span', { class: `badge severity-${item.severity}` },
      alertLabel('severity', item.severity, item.severityLabel))),
    cell(3, { class: 'operator' }, operator.name || operator.operatorId || '',
      h('div', { class: 'muted' }, operator.role || '')),
    cell(4, null, operator.department || ''),
    cell(5, { class: 'nowrap' }, `${item.count} / ${item.threshold}`),
    cell(6, { class: 'alert-state' },
      h('span', { class: `badge status-${item.status}` }, alertLabel('status', item.status, item.statusLabel)),
      handled(item)),
    cell(7, { class: 'alert-actions' },
      item.status === 'open' ? act('ack') : null,
      item.status !== 'resolved' ? act('resolve') : null,
      h('a', { class: 'records-link', href: recordsHref(item) }, t('alerts.records'))));
  return row;
}

/** Who acknowledged and resolved the alert, and why: the reader's own words, as text. */
function handled(item) {
  const lines = [];
  if (item.acknowledgedAt) {
    lines.push(h('div', { class: 'muted handled', 'data-kind': 'ack' },
      t('alerts.ackedBy', { name: item.acknowledgedByName || item.acknowledgedBy || '', time: wallClock(item.acknowledgedAt) }),
      h('span', { class: 'comment' }, item.acknowledgedComment || '')));
  }
  if (item.resolvedAt) {
    lines.push(h('div', { class: 'muted handled', 'data-kind': 'resolve' },
      t('alerts.resolvedBy', { name: item.resolvedByName || item.resolvedBy || '', time: wallClock(item.resolvedAt) }),
      h('span', { class: 'comment' }, item.resolvedComment || '')));
  }
  return lines;
}

/** The inline comment form under a row; submitting it acknowledges or resolves the alert. */
function openForm(row, item, action, ctx, status) {
  const next = row.nextElementSibling;
  if (next && next.classList.contains('alert-form-row')) next.remove();
  const error = h('div', { class: 'form-error', 'aria-live': 'assertive' });
  // Checked on submit rather than with `required`: the browser's own bubble would speak the
  // browser's language, not the console's.
  const comment = h('textarea', {
    name: 'comment', rows: 2, maxlength: MAX_COMMENT, 'aria-required': 'true',
    placeholder: t(`alerts.placeholder.${action}`),
  });
  const submit = h('button', { type: 'submit', class: action === 'resolve' ? 'danger' : 'primary' },
    t(`alerts.submit.${action}`));
  const form = h('form', { class: 'alert-form', 'data-action': action },
    h('label', { class: 'field' }, h('span', null, t('alerts.comment')), comment),
    h('div', { class: 'actions' }, submit,
      h('button', { type: 'button', class: 'ghost', 'data-action': 'cancel', onClick: () => formRow.remove() },
        t('alerts.cancel'))),
    error);
  const formRow = h('tr', { class: 'alert-form-row', 'data-for': item.id },
    h('td', { colspan: COLUMNS.length }, form));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = comment.value.trim();
    if (!text) {
      replace(error, notice('error', t('alerts.commentRequired')));
      comment.focus();
      return;
    }
    submit.disabled = true;
    try {
      const answer = await api(`api/information-tracking/alerts/${encodeURIComponent(item.id)}/${action}`, {
        method: 'POST', body: { comment: text },
      });
      formRow.remove();
      row.replaceWith(alertRow(answer.data, ctx, status));
      replace(status, notice('success', t(action === 'ack' ? 'alerts.acked' : 'alerts.resolved', { id: item.id })));
    } catch (failure) {
      submit.disabled = false;
      ctx.fail(failure, error);
    }
  });
  row.after(formRow);
  comment.focus();
}

/** 操作记录 of the alert's operator over its window (the window's own times, inclusive). */
function recordsHref(item) {
  const params = new URLSearchParams();
  const operator = item.operator || {};
  if (operator.name) params.set('operator', operator.name);
  if (item.windowStart) params.set('from', item.windowStart);
  if (item.windowEnd) params.set('to', item.windowEnd);
  return `#/records?${params.toString()}`;
}

function windowText(start, end) {
  const from = wallClock(start);
  const to = wallClock(end);
  // One day's window names its date once: 2026-11-03 23:20:00 – 23:30:00.
  return from.slice(0, 10) === to.slice(0, 10) ? `${from} – ${to.slice(11)}` : `${from} – ${to}`;
}
