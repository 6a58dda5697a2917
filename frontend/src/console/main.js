// The console's entry point: who is signed in, the header and navigation, and the hash router.
import { api, ApiError } from './api.js';
import { h, notice, replace } from './dom.js';
import { filterQuery, filtersFrom } from './filters.js';
import { applyDocumentLang, currentLang, setLang, t } from './i18n.js';
import { accessLogPage } from './pages/access-log.js';
import { accountsPage } from './pages/accounts.js';
import { alertsPage } from './pages/alerts.js';
import { exportPage } from './pages/export.js';
import { loginPage } from './pages/login.js';
import { recordsPage, timelinePage } from './pages/records.js';
import { statsPage } from './pages/stats.js';

const root = document.getElementById('app');
const NAV = [
  { path: '/records', label: 'nav.records', keepsFilters: true },
  { path: '/stats', label: 'nav.stats', keepsFilters: true },
  { path: '/export', label: 'nav.export', keepsFilters: true },
  { path: '/alerts', label: 'nav.alerts', needs: 'readAlerts' },
  { path: '/accounts', label: 'nav.accounts', needs: 'manageAccounts' },
  { path: '/access-log', label: 'nav.accessLog', needs: 'readAccessLog' },
];

let me = null;
let view = null;
let cleanup = null;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/records';
  const [path, query = ''] = raw.split('?');
  return { path, params: new URLSearchParams(query) };
}

/** Go to `path` with these URL parameters (filters, page size). */
function go(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
  const target = `#${path}${query ? `?${query}` : ''}`;
  if (location.hash === target) route();
  else location.hash = target;
}

/** Show an error where it happened; a lost session goes back to the sign-in form. */
function fail(error, where) {
  if (error instanceof ApiError && error.status === 401) {
    me = null;
    showLogin();
    return;
  }
  replace(where, notice('error', error instanceof ApiError ? error.message : String(error)));
}

function toggleLang() {
  setLang(currentLang() === 'zh' ? 'en' : 'zh');
  if (me) {
    renderShell();
    route();
  } else {
    showLogin();
  }
}

function showLogin() {
  if (cleanup) cleanup();
  cleanup = null;
  loginPage(root, { onSignedIn: boot, onToggleLang: toggleLang });
}

function renderShell() {
  const { params } = parseHash();
  const query = filterQuery(filtersFrom(params));
  const allowed = NAV.filter((item) => !item.needs || (me.permissions && me.permissions[item.needs]));
  const who = [me.name || me.username || me.operatorId, me.role, me.department].filter(Boolean).join(' · ');
  view = h('main', { id: 'view', class: 'view' });
  replace(root,
    h('header', { class: 'topbar' },
      h('a', { class: 'brand', href: '#/records' }, 'infotrack', h('span', null, t('app.brand'))),
      h('nav', { class: 'nav', 'aria-label': 'main' }, allowed.map((item) => h('a', {
        href: `#${item.path}${item.keepsFilters && query ? `?${query}` : ''}`,
        'data-path': item.path,
      }, t(item.label)))),
      h('div', { class: 'who' },
        h('span', { class: 'who-name', title: me.company || '' }, who),
        h('button', { type: 'button', class: 'link lang-switch', onClick: toggleLang }, t('header.lang')),
        h('button', { type: 'button', class: 'link', 'data-action': 'logout', onClick: logout }, t('header.logout')))),
    view);
}

async function logout() {
  try {
    await api('api/auth/logout', { method: 'POST' });
  } catch {
    // The cookies are cleared by the answer; a failure here still ends the session view.
  }
  me = null;
  location.hash = '';
  showLogin();
}

function route() {
  if (!me) return;
  if (cleanup) cleanup();
  cleanup = null;
  const { path, params } = parseHash();
  const ctx = { me, params, go, fail };
  for (const link of root.querySelectorAll('.nav a')) {
    const active = path === link.dataset.path || (path.startsWith('/customer/') && link.dataset.path === '/records');
    link.classList.toggle('active', active);
    if (active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
    // Filters follow the reader from page to page.
    const item = NAV.find((n) => n.path === link.dataset.path);
    const query = filterQuery(filtersFrom(params));
    if (item && item.keepsFilters) link.href = `#${item.path}${query ? `?${query}` : ''}`;
  }
  const customer = path.match(/^\/customer\/([^/]+)\/(.+)$/);
  if (customer) {
    const source = decodeURIComponent(customer[1]);
    timelinePage(view, ctx, source === '-' ? undefined : source, decodeURIComponent(customer[2]));
  } else if (path === '/stats') cleanup = statsPage(view, ctx);
  else if (path === '/export') exportPage(view, ctx);
  else if (path === '/alerts') alertsPage(view, ctx);
  else if (path === '/accounts') accountsPage(view, ctx);
  else if (path === '/access-log') accessLogPage(view, ctx);
  else recordsPage(view, ctx);
  window.scrollTo(0, 0);
}

async function boot() {
  applyDocumentLang();
  try {
    me = (await api('api/auth/me')).data;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      showLogin();
      return;
    }
    replace(root, h('main', { class: 'view' }, notice('error', error.message || String(error)),
      h('button', { type: 'button', class: 'primary', onClick: boot }, t('common.retry'))));
    return;
  }
  renderShell();
  route();
}

window.addEventListener('hashchange', route);
boot();
