// The demo CRM page (/demo/crm): a stand-in for a customer page of the CRM, wired to
// tracker.js exactly as the seed's example wires recordOperation(). Demo data only.
(function () {
  'use strict';

  var TOKEN_KEY = 'infotrack.demo.token';
  var base = new URL('../', document.baseURI).href.replace(/\/$/, ''); // the service root
  var app = document.getElementById('crm');

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      if (key === 'text') node.textContent = props[key];
      else if (key === 'onClick') node.addEventListener('click', props[key]);
      else node.setAttribute(key, props[key]);
    });
    (children || []).forEach(function (child) {
      if (child) node.append(child instanceof Node ? child : String(child));
    });
    return node;
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function call(path, options) {
    options = options || {};
    var headers = { Accept: 'application/json' };
    if (token()) headers.Authorization = 'Bearer ' + token();
    if (options.body) headers['Content-Type'] = 'application/json';
    return fetch(base + path, {
      method: options.method || 'GET',
      headers: headers,
      credentials: 'omit',
      body: options.body ? JSON.stringify(options.body) : undefined,
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok || !data.success) {
          var error = new Error(data.message || 'HTTP ' + response.status);
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  function showLogin(message) {
    var username = el('input', { name: 'username', value: 'sales1', autocomplete: 'username' });
    var password = el('input', { name: 'password', type: 'password', value: 'demo1234', autocomplete: 'current-password' });
    var status = el('p', { class: 'error', role: 'alert', text: message || '' });
    var form = el('form', { class: 'login' }, [
      el('h2', { text: '登录演示 CRM' }),
      el('p', { class: 'muted', text: '演示账号:sales1 … sales4、salesside、manager1、manager2,密码 demo1234' }),
      el('label', {}, ['用户名 ', username]),
      el('label', {}, ['密码 ', password]),
      el('button', { type: 'submit', text: '登录' }),
      status,
    ]);
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      call('/api/auth/login', { method: 'POST', body: { username: username.value, password: password.value } })
        .then(function (answer) {
          sessionStorage.setItem(TOKEN_KEY, answer.token);
          start();
        }, function (error) {
          status.textContent = error.message;
        });
    });
    app.replaceChildren(form);
  }

  function start() {
    if (!token()) {
      showLogin();
      return;
    }
    Promise.all([call('/api/auth/me'), call('/demo/crm/customers')]).then(function (answers) {
      render(answers[0].data, answers[1].data.items);
    }, function (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(error.status === 401 ? '' : error.message);
    });
  }

  function render(me, customers) {
    var pending = el('span', { id: 'pending', text: '0' });
    var online = el('span', { id: 'network' });
    var log = el('ol', { id: 'log', class: 'log' });

    InfoTrack.init({
      endpoint: base,
      isSupplySide: me.side !== 'sales',
      getToken: token,
      onChange: function (n) { pending.textContent = String(n); },
    });
    // Calls left queued by earlier pages count too (onChange only reports later changes).
    pending.textContent = String(InfoTrack.pending());

    // The seed's front-end function, now on the SDK: a fresh requestId per call, retries,
    // and an offline queue, with the same two arguments.
    function recordOperation(phoneNumber, operationEvent) {
      var line = el('li', { class: 'pending', text: operationEvent + ' ' + phoneNumber + ' …' });
      log.prepend(line);
      pending.textContent = String(InfoTrack.pending() + 1);
      return InfoTrack.record(phoneNumber, operationEvent).then(function (data) {
        line.className = 'ok';
        line.textContent = '操作记录成功:' + operationEvent + ' ' + phoneNumber + ' → #' + data.data.id;
        line.setAttribute('data-record-id', data.data.id);
      }, function (error) {
        line.className = 'failed';
        line.textContent = '操作记录失败:' + error.message;
      });
    }

    function updateNetwork() {
      online.textContent = navigator.onLine ? '在线' : '离线(操作已暂存,联网后自动发送)';
      online.className = navigator.onLine ? 'online' : 'offline';
    }
    window.addEventListener('online', updateNetwork);
    window.addEventListener('offline', updateNetwork);
    updateNetwork();

    var rows = customers.map(function (c) {
      return el('tr', { 'data-customer': c.source + ':' + c.id }, [
        el('td', { text: c.source === 'wechat' ? '微信客户' : '主库联系人' }),
        el('td', { text: c.id }),
        el('td', { text: c.name || '' }),
        el('td', { class: 'phone', text: c.phone }),
        el('td', { class: 'actions' }, [
          el('button', { 'data-action': 'view', text: '查看详情', onClick: function () { recordOperation(c.phone, '查看客户详情'); } }),
          el('button', { 'data-action': 'edit', text: '编辑', onClick: function () { recordOperation(c.phone, '修改客户信息'); } }),
          el('button', { 'data-action': 'follow', text: '跟进', onClick: function () { recordOperation(c.phone, '更新客户跟进'); } }),
        ]),
      ]);
    });
    app.replaceChildren(
      el('div', { class: 'bar' }, [
        el('span', { text: '当前用户:' + [me.name, me.role, me.department].filter(Boolean).join(' · ') }),
        el('span', {}, ['网络:', online]),
        el('span', {}, ['待发送:', pending]),
        el('button', { 'data-action': 'logout', text: '退出', onClick: function () {
          sessionStorage.removeItem(TOKEN_KEY);
          location.reload();
        } }),
      ]),
      el('div', { class: 'layout' }, [
        el('table', { class: 'customers' }, [
          el('thead', {}, [el('tr', {}, ['来源', '客户ID', '名称', '电话', '操作'].map(function (h) { return el('th', { text: h }); }))]),
          el('tbody', {}, rows),
        ]),
        el('section', {}, [el('h2', { text: '操作日志' }), log]),
      ])
    );
  }

  start();
})();
