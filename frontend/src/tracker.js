/*!
 * infotrack tracker.js: records what a salesperson does to a customer record, from a CRM page.
 *
 *   InfoTrack.init({ endpoint: 'https://infotrack.example.com', isSupplySide: true,
 *                    getToken: () => crm.infotrackToken });
 *   InfoTrack.record('13800138000', '查看客户详情').then(answer => ...);
 *
 * Guarantees: every call gets a fresh requestId and keeps it through every retry, so the
 * server writes it once however often it is sent. Each call is written to localStorage before
 * it is sent and removed only when the server has answered for good, so calls made offline,
 * during page unload or before a crash are sent by the next page of the same CRM that loads
 * the SDK. Requests use fetch keepalive, so a request in flight survives navigation.
 * No dependencies.
 */
(function (global) {
  'use strict';

  var VERSION = '1.0.0';
  var PREFIX = 'infotrack.q.'; // one localStorage key per queued call: no shared array to race on
  var BATCH_MAX = 100; // the batch endpoint's limit
  var KEEPALIVE_BYTES = 60000; // browsers allow 64 KiB of keepalive bodies in flight
  var LEASE_MS = 30000; // a tab sending a call holds it this long before another tab may
  var RETRY_BASE_MS = 1000;
  var RETRY_MAX_MS = 60000;
  var RETRYABLE = { 0: 1, 401: 1, 408: 1, 425: 1, 429: 1, 500: 1, 502: 1, 503: 1, 504: 1 };

  var config = null;
  var token = null; // the last token getToken gave (used synchronously during unload)
  var waiters = {}; // requestId -> [{resolve, reject}] for calls made by this page
  var memory = {}; // the queue when localStorage is unavailable (private mode, quota)
  var tab = uuid();
  var attempt = 0;
  var timer = null;
  var leaseTimer = null;
  var hidden = false; // between pagehide and the page being shown again (it may be gone)
  var flushing = null;
  var again = false;
  var sending = {}; // requestIds this page has a request in flight for (keepalive survives unload)

  // --- storage -------------------------------------------------------------------------

  function storage() {
    try {
      var s = global.localStorage;
      s.setItem(PREFIX + 'probe', '1');
      s.removeItem(PREFIX + 'probe');
      return s;
    } catch (e) {
      return null;
    }
  }

  function save(entry) {
    var s = storage();
    if (s) {
      try {
        s.setItem(PREFIX + entry.requestId, JSON.stringify(entry));
        return;
      } catch (e) {
        // Quota exceeded: keep it in memory for this page's life rather than drop it.
      }
    }
    memory[entry.requestId] = entry;
  }

  function load(requestId) {
    if (memory[requestId]) return memory[requestId];
    var s = storage();
    if (!s) return null;
    try {
      return JSON.parse(s.getItem(PREFIX + requestId) || 'null');
    } catch (e) {
      return null;
    }
  }

  function drop(requestId) {
    delete memory[requestId];
    var s = storage();
    if (s) s.removeItem(PREFIX + requestId);
  }

  function queued() {
    var entries = [];
    var seen = {};
    var s = storage();
    if (s) {
      for (var i = 0; i < s.length; i++) {
        var key = s.key(i);
        if (!key || key.indexOf(PREFIX) !== 0 || key === PREFIX + 'probe') continue;
        try {
          var entry = JSON.parse(s.getItem(key));
          if (entry && entry.requestId) {
            entries.push(entry);
            seen[entry.requestId] = 1;
          }
        } catch (e) {
          s.removeItem(key); // not ours any more: unreadable
        }
      }
    }
    for (var id in memory) if (!seen[id]) entries.push(memory[id]);
    entries.sort(function (a, b) { return a.at - b.at; });
    return entries;
  }

  // --- identity ------------------------------------------------------------------------

  // Whose call a queued entry is: the token's issuer and subject when it is a JWT (ours and
  // CRM tokens are), so a call queued by one salesperson is never sent with another's token
  // when they share a browser; `init({userKey})` names it for opaque tokens.
  function userKeyOf(value) {
    if (config && config.userKey) return String(config.userKey);
    if (!value) return '';
    var parts = String(value).split('.');
    if (parts.length !== 3) return '';
    try {
      var json = atob(parts[1].replace(/-/g, '+').replace(/_/g, '/'));
      var claims = JSON.parse(decodeURIComponent(escape(json)));
      return String(claims.iss || '') + '|' + String(claims.sub || '');
    } catch (e) {
      return '';
    }
  }

  function refreshToken() {
    if (!config.getToken) return Promise.resolve(null);
    return Promise.resolve()
      .then(function () { return config.getToken(); })
      .then(function (value) {
        token = value || null;
        return token;
      });
  }

  // --- sending -------------------------------------------------------------------------

  function url(path, supply) {
    return config.endpoint + '/api/information-tracking/' + path + '?isSupplySide=' + (supply ? 'true' : 'false');
  }

  function body(entry) {
    var event = {
      phoneNumber: entry.phoneNumber,
      operationEvent: entry.operationEvent,
      requestId: entry.requestId,
    };
    if (entry.eventType) event.eventType = entry.eventType;
    if (entry.changes) event.changes = entry.changes;
    return event;
  }

  // One request per realm and per BATCH_MAX calls: the seed's endpoint for a single call, the
  // batch endpoint for several.
  function chunks(entries) {
    var out = [];
    [true, false].forEach(function (supply) {
      var group = entries.filter(function (e) { return e.supply === supply; });
      for (var i = 0; i < group.length; i += BATCH_MAX) {
        out.push({ supply: supply, entries: group.slice(i, i + BATCH_MAX) });
      }
    });
    return out;
  }

  function path(chunk) {
    return chunk.length === 1 ? 'record' : 'record/batch';
  }

  function payload(chunk) {
    return chunk.length === 1 ? body(chunk[0]) : { events: chunk.map(body) };
  }

  function post(endpointPath, supply, data, bearer) {
    var text = JSON.stringify(data);
    var headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (bearer) headers.Authorization = 'Bearer ' + bearer;
    return fetch(url(endpointPath, supply), {
      method: 'POST',
      headers: headers,
      body: text,
      credentials: config.credentials || (bearer ? 'omit' : 'include'),
      keepalive: text.length < KEEPALIVE_BYTES,
      mode: 'cors',
    });
  }

  function readAnswer(response) {
    return response.json().then(
      function (data) { return { status: response.status, data: data }; },
      function () { return { status: response.status, data: null }; }
    );
  }

  // Settle one call from the server's answer for it: success and refusals are final (the
  // entry leaves the queue), anything retryable keeps it queued.
  function settle(entry, status, answer) {
    if (status >= 200 && status < 300 && answer && answer.success) {
      finish(entry.requestId, null, answer);
      return true;
    }
    if (RETRYABLE[status]) return false;
    var error = new Error((answer && answer.message) || 'HTTP ' + status);
    error.status = status;
    error.code = (answer && answer.code) || 'http_' + status;
    error.requestId = entry.requestId;
    finish(entry.requestId, error, null);
    return true;
  }

  function finish(requestId, error, answer) {
    drop(requestId);
    var list = waiters[requestId] || [];
    delete waiters[requestId];
    for (var i = 0; i < list.length; i++) {
      if (error) list[i].reject(error);
      else list[i].resolve(answer);
    }
    if (error && config.onError) config.onError(error);
    changed();
  }

  function sendChunk(chunk, supply, bearer) {
    var single = chunk.length === 1;
    var request;
    try {
      request = post(path(chunk), supply, payload(chunk), bearer);
    } catch (e) {
      return Promise.resolve(false);
    }
    chunk.forEach(function (e) { sending[e.requestId] = 1; });
    return request
      .then(readAnswer)
      .then(function (reply) {
        var data = reply.data;
        if (reply.status === 401) token = null; // ask getToken again before the retry
        var done = true;
        for (var i = 0; i < chunk.length; i++) {
          // A batch answers 200 with one result per event; anything else answers for all.
          var own = !single && reply.status === 200 && data && data.results;
          var item = own ? data.results[i] || {} : data;
          if (!settle(chunk[i], own ? item.status || 500 : reply.status, item)) done = false;
        }
        return done;
      }, function () {
        return false; // offline or the server unreachable: retry later
      })
      .then(function (done) {
        chunk.forEach(function (e) { delete sending[e.requestId]; });
        return done;
      });
  }

  function lease(entries, until) {
    for (var i = 0; i < entries.length; i++) {
      entries[i].lease = until;
      entries[i].tab = tab;
      if (load(entries[i].requestId)) save(entries[i]); // not if another tab finished it
    }
  }

  function due(me) {
    var now = Date.now();
    return queued().filter(function (e) {
      return e.user === me && !sending[e.requestId] && (!e.lease || e.lease < now || e.tab === tab);
    });
  }

  // Send every queued call of the current user that no other tab is sending.
  function flush() {
    // After pagehide this page may be gone at any moment: a lease it took now could outlive it.
    if (!config || hidden) return Promise.resolve();
    if (flushing) {
      again = true; // a call queued meanwhile: go round once more when this round ends
      return flushing;
    }
    again = false;
    flushing = refreshToken().then(function (bearer) {
      if (global.navigator && global.navigator.onLine === false) return true; // 'online' resumes
      var me = userKeyOf(bearer);
      var entries = due(me);
      watchLeases(me);
      if (!entries.length) return true;
      lease(entries, Date.now() + LEASE_MS);
      var sends = chunks(entries).map(function (c) { return sendChunk(c.entries, c.supply, bearer); });
      return Promise.all(sends).then(function (results) {
        var ok = results.every(Boolean);
        if (!ok) lease(queued().filter(function (e) { return e.tab === tab; }), 0); // free for any tab
        return ok;
      });
    }, function () {
      return false; // getToken failed: try again later
    }).then(function (ok) {
      flushing = null;
      if (ok) attempt = 0;
      else schedule();
      if (again) flush();
    });
    return flushing;
  }

  // Calls another tab holds become ours if that tab dies: look again when its lease ends.
  function watchLeases(me) {
    var now = Date.now();
    var next = 0;
    queued().forEach(function (e) {
      if (e.user === me && e.tab !== tab && e.lease > now && (!next || e.lease < next)) next = e.lease;
    });
    if (next && !leaseTimer) {
      leaseTimer = setTimeout(function () {
        leaseTimer = null;
        flush();
      }, next - now + 50);
    }
  }

  function schedule() {
    if (timer) return;
    var delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * Math.pow(2, attempt));
    delay = delay / 2 + Math.random() * (delay / 2); // jitter: a whole office reconnecting
    attempt += 1;
    timer = setTimeout(function () {
      timer = null;
      flush();
    }, delay);
  }

  // On the way out (navigation, tab closed): hand whatever is still queued to keepalive
  // requests. Their answers may never be read; the entries stay queued and the next page
  // sends them again under the same requestIds, which the server answers without a new row.
  function unloading(event) {
    if (!config) return;
    if (event && event.type === 'pagehide') hidden = true;
    if (!(global.navigator && global.navigator.onLine === false)) {
      chunks(due(userKeyOf(token))).forEach(function (c) {
        try {
          post(path(c.entries), c.supply, payload(c.entries), token);
        } catch (e) {
          // Nothing more can be done now; the next page sends it.
        }
      });
    }
    // This page will never read its answers: free its calls for the next page at once instead
    // of after the lease (a repeat is harmless, the server answers it with the first row).
    lease(queued().filter(function (e) { return e.tab === tab; }), 0);
  }

  function resumed() {
    if (!hidden) return;
    hidden = false;
    flush();
  }

  function changed() {
    if (config && config.onChange) {
      try {
        config.onChange(pending());
      } catch (e) {
        // a page's callback must not break the queue
      }
    }
  }

  // --- public API ----------------------------------------------------------------------

  /** Configure the SDK; sends what earlier pages left queued. */
  function init(options) {
    options = options || {};
    var first = !config;
    config = {
      endpoint: String(options.endpoint || '').replace(/\/+$/, ''),
      isSupplySide: options.isSupplySide !== false,
      getToken: options.getToken || null,
      userKey: options.userKey || null,
      credentials: options.credentials || null,
      onChange: options.onChange || null,
      onError: options.onError || null,
    };
    if (first && global.addEventListener) {
      global.addEventListener('online', function () {
        attempt = 0;
        if (timer) {
          clearTimeout(timer);
          timer = null;
        }
        flush();
      });
      global.addEventListener('pagehide', unloading);
      global.addEventListener('pageshow', resumed); // back from the back-forward cache
      global.document && global.document.addEventListener('visibilitychange', function () {
        // A hidden tab may never come back (mobile browsers kill them): hand over what is
        // queued now, but keep working, unlike after pagehide.
        if (global.document.visibilityState === 'hidden') unloading();
      });
      global.addEventListener('storage', function (event) {
        if (event.key && event.key.indexOf(PREFIX) === 0) changed();
      });
    }
    flush();
    return InfoTrack;
  }

  /**
   * Record one operation on a customer record; resolves with the server's answer once the
   * row is committed, rejects (error.status, error.code, error.message) when the server
   * refuses it for good (unknown number, bad input, wrong realm).
   */
  function record(phoneNumber, operationEvent, options) {
    if (!config) return Promise.reject(new Error('InfoTrack.init() has not been called'));
    options = options || {};
    var entry = {
      requestId: uuid(),
      phoneNumber: String(phoneNumber == null ? '' : phoneNumber),
      operationEvent: String(operationEvent == null ? '' : operationEvent),
      eventType: options.eventType || undefined,
      changes: options.changes || undefined,
      supply: options.isSupplySide === undefined ? config.isSupplySide : options.isSupplySide !== false,
      user: userKeyOf(token),
      at: Date.now(),
      tab: tab,
      lease: 0,
    };
    var promise = new Promise(function (resolve, reject) {
      (waiters[entry.requestId] = []).push({ resolve: resolve, reject: reject });
    });
    // Whose call it is must be known before it is stored: ask for the token first when the
    // SDK has none yet (the first call of a page).
    (token || !config.getToken ? Promise.resolve(token) : refreshToken()).then(
      function (bearer) {
        entry.user = userKeyOf(bearer);
        save(entry);
        changed();
        flush();
      },
      function () {
        save(entry);
        changed();
        schedule();
      }
    );
    return promise;
  }

  /** How many calls are queued (this page's and those left by earlier pages). */
  function pending() {
    return queued().length;
  }

  function uuid() {
    var c = global.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    var bytes = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = '';
    for (var j = 0; j < 16; j++) hex += (bytes[j] + 0x100).toString(16).slice(1);
    return hex.slice(0, 8) + '-' + hex.slice(8, 12) + '-' + hex.slice(12, 16) + '-' + hex.slice(16, 20) + '-' + hex.slice(20);
  }

  var InfoTrack = { version: VERSION, init: init, record: record, flush: flush, pending: pending };
  global.InfoTrack = InfoTrack;
})(typeof window !== 'undefined' ? window : this);
