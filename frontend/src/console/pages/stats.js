// 统计: the dashboard. Every chart is one `/stats` call with the page's filters, and shows its
// numbers in a table beside it, so what is drawn can be read (and checked) exactly.
import { api } from '../api.js';
import { drawChart, fontsReady } from '../charts.js';
import { h, notice, replace } from '../dom.js';
import { filterForm, filtersFrom } from '../filters.js';
import { eventLabel, t } from '../i18n.js';

const TOP_OPERATORS = 10;

const CHARTS = [
  { id: 'day', groupBy: 'day', title: 'stats.byDay', wide: true, option: lineOption },
  { id: 'eventType', groupBy: 'eventType', title: 'stats.byType', option: pieOption },
  { id: 'operator', groupBy: 'operator', title: 'stats.byOperator', option: barOption, top: TOP_OPERATORS },
  { id: 'department', groupBy: 'department', title: 'stats.byDepartment', option: barOption },
  { id: 'weekday_hour', groupBy: 'weekday_hour', title: 'stats.heatmap', wide: true, option: heatmapOption },
];

/** The dashboard page; returns its clean-up (charts are disposed when the page changes). */
export function statsPage(view, ctx) {
  const filters = filtersFrom(ctx.params);
  const summary = h('div', { class: 'cards' });
  const grid = h('div', { class: 'charts' });
  const charts = [];
  let disposed = false;
  replace(view,
    h('div', { class: 'page-head' }, h('h1', null, t('stats.title'))),
    filterForm(filters, (chosen) => ctx.go('/stats', chosen)),
    summary, grid);

  const resize = () => charts.forEach((chart) => chart.resize());
  window.addEventListener('resize', resize);

  (async () => {
    replace(summary, notice('info', t('common.loading')));
    let answers;
    try {
      answers = await Promise.all(CHARTS.map((spec) =>
        api('api/information-tracking/stats', { query: { ...filters, groupBy: spec.groupBy } })));
    } catch (error) {
      ctx.fail(error, summary);
      return;
    }
    const data = Object.fromEntries(CHARTS.map((spec, i) => [spec.id, answers[i].data]));
    replace(summary, ...summaryCards(data));
    await fontsReady();
    if (!view.isConnected || disposed) return; // the reader moved on meanwhile
    for (const spec of CHARTS) {
      const buckets = data[spec.id].buckets.slice(0, spec.top || undefined);
      const rows = buckets.map((b) => [keyLabel(spec.groupBy, b.key), b.count, b.key]);
      const canvas = h('div', { class: 'chart', role: 'img', 'aria-label': t(spec.title) });
      grid.append(h('section', { class: `chart-card${spec.wide ? ' wide' : ''}`, 'data-chart': spec.id },
        h('h2', null, t(spec.title)),
        canvas,
        dataTable(rows)));
      charts.push(drawChart(canvas, spec.option(rows)));
    }
  })();

  return () => {
    disposed = true;
    window.removeEventListener('resize', resize);
    charts.forEach((chart) => chart.dispose());
  };
}

function summaryCards(data) {
  const day = data.day;
  const days = Math.max(day.buckets.length, 1);
  const top = data.operator.buckets[0];
  const card = (id, label, value, hint) => h('div', { class: 'card', 'data-card': id },
    h('div', { class: 'card-label' }, label),
    h('div', { class: 'card-value' }, value),
    hint ? h('div', { class: 'muted' }, hint) : null);
  return [
    card('total', t('stats.total'), day.total.toLocaleString(),
      `${t('stats.range')} ${(day.from || '').slice(0, 10)} – ${(day.to || '').slice(0, 10)}`),
    card('perDay', t('stats.perDay'), (day.total / days).toFixed(1)),
    card('topOperator', t('stats.topOperator'), top ? keyLabel('operator', top.key) : '—',
      top ? String(top.count) : null),
  ];
}

function keyLabel(groupBy, key) {
  if (groupBy === 'eventType') return eventLabel(key);
  if (groupBy === 'weekday_hour') {
    const [weekday, hour] = key.split('-');
    return `${t(`weekday.${weekday}`)} ${hour}:00`;
  }
  return key || t('stats.unknown');
}

function dataTable(rows) {
  return h('details', { class: 'chart-data' },
    h('summary', null, t('stats.data')),
    h('table', null,
      h('thead', null, h('tr', null, h('th', null, t('stats.key')), h('th', null, t('stats.count')))),
      h('tbody', null, rows.map(([label, count, key]) =>
        h('tr', { 'data-key': key, 'data-count': count }, h('td', null, label), h('td', null, String(count)))))));
}

const tooltip = { trigger: 'item', confine: true };

function lineOption(rows) {
  return {
    tooltip: { trigger: 'axis', confine: true },
    grid: { left: 48, right: 16, top: 16, bottom: 32 },
    xAxis: { type: 'category', data: rows.map((r) => r[0].slice(5)) },
    yAxis: { type: 'value', minInterval: 1 },
    series: [{ type: 'line', data: rows.map((r) => r[1]), smooth: true, areaStyle: { opacity: 0.12 } }],
  };
}

function pieOption(rows) {
  return {
    tooltip,
    legend: { type: 'scroll', bottom: 0 },
    series: [{
      type: 'pie', radius: ['35%', '65%'], center: ['50%', '45%'], label: { formatter: '{d}%' },
      data: rows.map(([name, value]) => ({ name, value })),
    }],
  };
}

function barOption(rows) {
  const ordered = [...rows].reverse(); // largest at the top of a horizontal bar chart
  return {
    tooltip,
    grid: { left: 8, right: 24, top: 8, bottom: 24, containLabel: true },
    xAxis: { type: 'value', minInterval: 1 },
    yAxis: { type: 'category', data: ordered.map((r) => r[0]) },
    series: [{ type: 'bar', data: ordered.map((r) => r[1]), barMaxWidth: 22 }],
  };
}

function heatmapOption(rows) {
  const hours = Array.from({ length: 24 }, (_, i) => String(i));
  const weekdays = [1, 2, 3, 4, 5, 6, 7].map((d) => t(`weekday.${d}`));
  const cells = rows.map(([, count, key]) => {
    const [weekday, hour] = key.split('-').map(Number);
    return [hour, weekday - 1, count];
  });
  const max = Math.max(1, ...cells.map((c) => c[2]));
  return {
    tooltip: { position: 'top', confine: true },
    grid: { left: 48, right: 16, top: 8, bottom: 88 },
    xAxis: { type: 'category', data: hours, splitArea: { show: true } },
    yAxis: { type: 'category', data: weekdays, inverse: true, splitArea: { show: true } },
    visualMap: { min: 0, max, calculable: true, orient: 'horizontal', left: 'center', bottom: 0, itemHeight: 180,
      inRange: { color: ['#eff6ff', '#2563eb'] } },
    series: [{ type: 'heatmap', data: cells }],
  };
}
