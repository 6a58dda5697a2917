// The history filters, shared by 操作记录, 统计 and 导出. They live in the page's address
// (`#/records?department=销售一部`), so a view can be reloaded, bookmarked and passed on.
import { h } from './dom.js';
import { EVENT_TYPES, eventLabel, t } from './i18n.js';

export const FILTER_KEYS = ['phoneNumber', 'operator', 'department', 'eventType', 'source', 'from', 'to', 'q'];

/** The filters present in URL parameters, as an object of non-empty strings. */
export function filtersFrom(params) {
  const filters = {};
  for (const key of FILTER_KEYS) {
    const value = (params.get(key) || '').trim();
    if (value) filters[key] = value;
  }
  return filters;
}

/** Filters as a query string (without `?`). */
export function filterQuery(filters) {
  const params = new URLSearchParams();
  for (const key of FILTER_KEYS) if (filters[key]) params.set(key, filters[key]);
  return params.toString();
}

/** The filter form; `onApply(filters)` runs on 查询 and on 重置 (with no filters). */
export function filterForm(filters, onApply) {
  const text = (name, label, type = 'text', extra = {}) =>
    h('label', { class: 'field' }, h('span', null, label),
      h('input', { name, type, value: filters[name] || '', autocomplete: 'off', ...extra }));
  const select = (name, label, options) =>
    h('label', { class: 'field' }, h('span', null, label),
      h('select', { name },
        h('option', { value: '' }, t('filters.any')),
        options.map(([value, text]) =>
          h('option', { value, selected: filters[name] === value }, text))));

  const form = h('form', { class: 'filters', role: 'search' },
    text('phoneNumber', t('filters.phone'), 'search', { inputmode: 'tel', maxlength: 32 }),
    text('operator', t('filters.operator'), 'search', { maxlength: 100 }),
    text('department', t('filters.department'), 'search', { maxlength: 255 }),
    select('eventType', t('filters.eventType'), EVENT_TYPES.map((code) => [code, eventLabel(code)])),
    select('source', t('filters.source'), [['wechat', t('source.wechat')], ['primary', t('source.primary')]]),
    text('from', t('filters.from'), 'date'),
    text('to', t('filters.to'), 'date'),
    text('q', t('filters.q'), 'search', { maxlength: 200 }),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, t('filters.apply')),
      h('button', { type: 'button', class: 'ghost', onClick: () => onApply({}) }, t('filters.reset'))));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const chosen = {};
    for (const key of FILTER_KEYS) {
      const value = String(data.get(key) || '').trim();
      if (value) chosen[key] = value;
    }
    onApply(chosen);
  });
  return form;
}
