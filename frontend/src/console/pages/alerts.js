// 告警: anomaly alerts. Rules and their evaluation are not part of this version yet; the page
// says so plainly rather than showing an empty list that would read as "nothing happened".
import { h, notice, replace } from '../dom.js';
import { t } from '../i18n.js';

/** The alerts page. */
export function alertsPage(view) {
  replace(view,
    h('div', { class: 'page-head' }, h('h1', null, t('alerts.title'))),
    notice('info', t('alerts.unavailable')));
}
