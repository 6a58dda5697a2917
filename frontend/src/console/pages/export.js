// 导出: the current filters as XLSX, CSV or PDF. The file is fetched first, so a refusal
// (too many rows, a bad filter) shows as a message on the page instead of a JSON download.
import { readJson, send } from '../api.js';
import { h, notice, replace } from '../dom.js';
import { filterForm, filtersFrom } from '../filters.js';
import { t } from '../i18n.js';

const FORMATS = ['xlsx', 'csv', 'pdf'];

/** The export page. */
export function exportPage(view, ctx) {
  const filters = filtersFrom(ctx.params);
  const status = h('div', { class: 'export-status', 'aria-live': 'polite' });
  const buttons = FORMATS.map((format) => h('button', {
    type: 'button', class: 'primary', 'data-format': format,
    onClick: () => download(format, filters, status, buttons, ctx),
  }, t(`export.${format}`)));
  replace(view,
    h('div', { class: 'page-head' }, h('h1', null, t('export.title'))),
    h('p', null, t('export.intro')),
    filterForm(filters, (chosen) => ctx.go('/export', chosen)),
    h('div', { class: 'export-buttons' }, buttons),
    h('p', { class: 'muted' }, t('export.limits')),
    status);
}

async function download(format, filters, status, buttons, ctx) {
  buttons.forEach((button) => { button.disabled = true; });
  replace(status, notice('info', t('export.busy', { format: format.toUpperCase() })));
  try {
    const response = await send('api/information-tracking/export', { query: { ...filters, format } });
    if (!response.ok) await readJson(response); // raises with the server's message
    const blob = await response.blob();
    const name = fileName(response.headers.get('Content-Disposition')) || `infotrack.${format}`;
    const url = URL.createObjectURL(blob);
    const link = h('a', { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    replace(status, notice('success', t('export.done', { name })));
  } catch (error) {
    ctx.fail(error, status);
  } finally {
    buttons.forEach((button) => { button.disabled = false; });
  }
}

/** The file name of a Content-Disposition header (RFC 5987 `filename*` first). */
function fileName(header) {
  if (!header) return null;
  const extended = header.match(/filename\*\s*=\s*UTF-8''([^;]+)/i);
  if (extended) {
    try {
      return decodeURIComponent(extended[1]);
    } catch {
      // fall through to the plain name
    }
  }
  const plain = header.match(/filename\s*=\s*"([^"]*)"/i);
  return plain ? plain[1] : null;
}
