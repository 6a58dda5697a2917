// 登录: username and password; the server answers with the HttpOnly session cookie.
import { api, ApiError } from '../api.js';
import { h, notice, replace } from '../dom.js';
import { t } from '../i18n.js';

/** The sign-in form; `onSignedIn()` runs once the session cookie is set. */
export function loginPage(root, { onSignedIn, onToggleLang }) {
  const message = h('div', { class: 'login-message', 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'primary wide' }, t('login.submit'));
  const form = h('form', { class: 'login-form' },
    h('label', { class: 'field' }, h('span', null, t('login.username')),
      h('input', { name: 'username', autocomplete: 'username', required: true, maxlength: 64, autofocus: true })),
    h('label', { class: 'field' }, h('span', null, t('login.password')),
      h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 256 })),
    submit, message);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    submit.disabled = true;
    submit.textContent = t('login.busy');
    replace(message);
    try {
      await api('api/auth/login', {
        method: 'POST',
        body: { username: String(data.get('username')), password: String(data.get('password')) },
      });
      onSignedIn();
    } catch (error) {
      replace(message, notice('error', error instanceof ApiError ? error.message : String(error)));
      submit.disabled = false;
      submit.textContent = t('login.submit');
    }
  });
  replace(root, h('main', { class: 'login' },
    h('div', { class: 'login-card' },
      h('div', { class: 'login-head' },
        h('div', { class: 'brand' }, 'infotrack'),
        h('button', { type: 'button', class: 'link lang-switch', onClick: onToggleLang }, t('header.lang'))),
      h('h1', null, t('login.title')),
      h('p', { class: 'muted' }, t('login.subtitle')),
      form)));
}
