// 账号 (account administrators): list, add, disable and enable accounts. The server decides
// who may do what (roles, own company only); this page shows its answers.
import { api } from '../api.js';
import { h, notice, replace } from '../dom.js';
import { t } from '../i18n.js';

const ROLES = ['业务员', '经理', '主管', '总监', '管理员', '审计', '系统管理员'];

/** The accounts page. */
export function accountsPage(view, ctx) {
  const status = h('div', { 'aria-live': 'polite' });
  const list = h('div', { class: 'results' });
  replace(view,
    h('div', { class: 'page-head' }, h('h1', null, t('accounts.title'))),
    status, list,
    h('h2', null, t('accounts.add')),
    addForm(ctx, status, load));

  async function load() {
    let items;
    try {
      items = (await api('api/accounts')).data.items;
    } catch (error) {
      ctx.fail(error, list);
      return;
    }
    replace(list, accountTable(items, ctx, status, load));
  }
  load();
}

function accountTable(items, ctx, status, reload) {
  const columns = ['accounts.username', 'accounts.name', 'accounts.company', 'accounts.department',
    'accounts.role', 'accounts.side', 'accounts.status', ''];
  return h('div', { class: 'table-wrap' }, h('table', { class: 'accounts' },
    h('thead', null, h('tr', null, columns.map((key) => h('th', { scope: 'col' }, key ? t(key) : '')))),
    h('tbody', null, items.map((account) => h('tr', { 'data-username': account.username },
      h('td', null, account.username),
      h('td', null, account.name || ''),
      h('td', null, account.company || ''),
      h('td', null, account.department || ''),
      h('td', null, account.role || ''),
      h('td', null, t(`side.${account.side}`)),
      h('td', null, h('span', { class: account.disabled ? 'badge badge-off' : 'badge badge-on' },
        t(account.disabled ? 'accounts.disabled' : 'accounts.active'))),
      h('td', { class: 'nowrap' },
        account.username === ctx.me.username ? null : toggleButton(account, status, reload, ctx)),
    )))));
}

function toggleButton(account, status, reload, ctx) {
  const action = account.disabled ? 'enable' : 'disable';
  return h('button', {
    type: 'button', class: action === 'disable' ? 'danger' : 'ghost', 'data-action': action,
    onClick: async () => {
      if (action === 'disable' && !window.confirm(t('accounts.confirmDisable', { username: account.username }))) return;
      try {
        const answer = await api(`api/accounts/${encodeURIComponent(account.username)}/${action}`, { method: 'POST' });
        replace(status, notice('success', answer.message));
        reload();
      } catch (error) {
        ctx.fail(error, status);
      }
    },
  }, t(`accounts.${action}`));
}

function addForm(ctx, status, reload) {
  const everyCompany = ctx.me.scope && ctx.me.scope.kind === 'all';
  const field = (name, label, props = {}) => h('label', { class: 'field' }, h('span', null, label),
    h('input', { name, autocomplete: 'off', maxlength: 255, ...props }));
  const form = h('form', { class: 'filters account-form' },
    field('username', t('accounts.username'), { required: true, maxlength: 64, pattern: '[A-Za-z0-9_.@\\-]{2,64}' }),
    field('password', t('accounts.password'), { required: true, type: 'password', minlength: 8, autocomplete: 'new-password' }),
    field('name', t('accounts.name'), { required: true, maxlength: 100 }),
    everyCompany ? field('company', t('accounts.company')) : null,
    field('department', t('accounts.department')),
    field('organization', t('accounts.organization')),
    h('label', { class: 'field' }, h('span', null, t('accounts.role')),
      h('select', { name: 'role', required: true }, ROLES.map((role) => h('option', { value: role }, role)))),
    field('assistant', t('accounts.assistant'), { maxlength: 100 }),
    h('label', { class: 'field' }, h('span', null, t('accounts.side')),
      h('select', { name: 'side' },
        h('option', { value: 'supply' }, t('side.supply')),
        h('option', { value: 'sales' }, t('side.sales')))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, t('accounts.add'))));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {};
    for (const [key, value] of new FormData(form).entries()) {
      const text = String(value).trim();
      if (text) body[key] = key === 'password' ? String(value) : text;
    }
    try {
      await api('api/accounts', { method: 'POST', body });
      replace(status, notice('success', t('accounts.added', { username: body.username })));
      form.reset();
      reload();
    } catch (error) {
      ctx.fail(error, status);
    }
  });
  return form;
}
