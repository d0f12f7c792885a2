/* Browser notifications on every admin page (issue 18; served by admin/notify.py).
 *
 * - Permission is asked once: a small banner offers "Enable notifications"; either answer,
 *   or "Not now", is remembered in localStorage and the banner never comes back.
 * - Ringing: one tab of the browser (a Web Lock elects it) listens to the screen-pop stream
 *   (/screen-pop/stream) and shows a notification with the caller's number, name and card;
 *   a click focuses the tab and opens the card. Answered, ended or missed closes it.
 * - Escalations (a head's department left a missed call unanswered) come on the same stream:
 *   a notification and a message on the page.
 * - Reminders: every tab asks /notifications/due (the server decides what is due, on its own
 *   clock) every data-poll-seconds and shows each reminder once: its key is remembered in
 *   localStorage (page loads), and the notification's tag makes two tabs show one.
 * Names and numbers are data: they go into notifications and the page as text, never markup.
 */
(function () {
  'use strict';
  var script = document.getElementById('pbx-notify');
  if (!script) return;
  var cfg = script.dataset;
  var T = JSON.parse(cfg.texts);
  var ASKED = 'pbx-notify-asked', SHOWN = 'pbx-notify-shown';
  var KEEP_MS = 3 * 24 * 3600 * 1000;  // remembered keys older than this are forgotten
  var calls = {};  // call id -> its ringing notification

  // Storage off (private mode, policy): notifications still work, maybe twice.
  function store(key, value) {
    try {
      if (value === undefined) return localStorage.getItem(key);
      localStorage.setItem(key, value);
    } catch (e) { /* not remembered */ }
    return null;
  }
  function supported() { return 'Notification' in window; }
  function allowed() { return supported() && window.Notification.permission === 'granted'; }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] === undefined ? '' : String(values[k]); });
  }

  // Each key once per browser (across tabs and page loads).
  function firstTime(key) {
    var shown = {};
    try { shown = JSON.parse(store(SHOWN) || '{}') || {}; } catch (e) { shown = {}; }
    if (shown[key]) return false;
    var now = Date.now();
    Object.keys(shown).forEach(function (k) { if (now - shown[k] > KEEP_MS) delete shown[k]; });
    shown[key] = now;
    store(SHOWN, JSON.stringify(shown));
    return true;
  }

  function notify(title, body, tag, url) {
    if (!allowed()) return null;
    var n;
    try { n = new window.Notification(title, {body: body, tag: tag}); } catch (e) { return null; }
    n.onclick = function () {
      window.focus();
      if (typeof url === 'function') url = url();
      if (url) window.location.href = url;
      n.close();
    };
    return n;
  }

  // ---- in-page messages ---------------------------------------------------------------
  function box() {
    var el = document.getElementById('pbx-notify-messages');
    if (!el) {
      el = document.createElement('div');
      el.id = 'pbx-notify-messages';
      el.setAttribute('role', 'status');
      el.style.cssText = 'position:fixed;top:4.5rem;right:.5rem;z-index:1080;max-width:24rem';  // below the navbar
      document.body.appendChild(el);
    }
    return el;
  }
  function message(kind, title, body, url) {
    var div = document.createElement('div');
    div.className = 'alert alert-' + kind + ' alert-dismissible shadow-sm mb-2 pbx-notify-message';
    var strong = document.createElement(url ? 'a' : 'strong');
    if (url) { strong.href = url; strong.className = 'alert-link'; }
    strong.textContent = title;
    div.appendChild(strong);
    if (body) { div.appendChild(document.createElement('br')); div.appendChild(document.createTextNode(body)); }
    var x = document.createElement('button');
    x.type = 'button'; x.className = 'close'; x.setAttribute('aria-label', T.close); x.textContent = '×';
    x.onclick = function () { div.remove(); };
    div.appendChild(x);
    box().appendChild(div);
  }

  // ---- asking once ------------------------------------------------------------------------
  function offer() {
    if (!supported() || window.Notification.permission !== 'default' || store(ASKED)) return;
    var bar = document.createElement('div');
    bar.id = 'pbx-notify-offer';
    bar.className = 'alert alert-light border shadow-sm small mb-0';
    bar.style.cssText = 'position:fixed;bottom:.5rem;right:.5rem;z-index:1080;max-width:22rem';
    var hint = document.createElement('div'); hint.textContent = T.enable_hint; bar.appendChild(hint);
    var yes = document.createElement('button');
    yes.type = 'button'; yes.id = 'pbx-notify-enable'; yes.className = 'btn btn-sm btn-primary mt-1 mr-1';
    yes.textContent = T.enable;
    var no = document.createElement('button');
    no.type = 'button'; no.id = 'pbx-notify-later'; no.className = 'btn btn-sm btn-link mt-1';
    no.textContent = T.not_now;
    yes.onclick = function () {
      store(ASKED, 'asked'); bar.remove();
      var p = window.Notification.requestPermission();
      if (p && p.then) p.then(poll);
    };
    no.onclick = function () { store(ASKED, 'dismissed'); bar.remove(); };
    bar.appendChild(yes); bar.appendChild(no);
    document.body.appendChild(bar);
  }

  // ---- reminders --------------------------------------------------------------------------
  function poll() {
    return fetch(cfg.dueUrl, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (r) { return r.ok ? r.json() : {reminders: []}; })
      .then(function (j) {
        (j.reminders || []).forEach(function (r) {
          if (!firstTime('reminder:' + r.key)) return;
          var title = fill(T.reminder, {time: r.time});
          var body = r.title + (r.comment ? ' — ' + r.comment : '');
          notify(title, body, 'pbx-reminder-' + r.key, r.url);
          message('warning', title, body, r.url);
        });
      })
      .catch(function () { /* the admin is away: the next poll tries again */ });
  }

  // ---- the stream: ringing and escalations --------------------------------------------------
  function card(phone) {
    // The caller's card as the screen-pop page gets it (role-checked there); at most 1.5 s.
    var timeout = new Promise(function (resolve) { setTimeout(function () { resolve(null); }, 1500); });
    var get = fetch(cfg.cardUrl + '?phone=' + encodeURIComponent(phone), {credentials: 'same-origin'})
      .then(function (r) { return r.ok ? r.json() : null; }).catch(function () { return null; });
    return Promise.race([get, timeout]);
  }

  function ringing(ev) {
    if (ev.direction === 'outbound' || !firstTime('call:' + ev.call_id)) return;
    var found = ev.phone ? card(ev.phone) : Promise.resolve(null);
    found.then(function (c) {
      var lines = [ev.phone || T.unknown];
      if (c && c.company && c.company !== ev.name) lines.push(c.company);
      if (c && c.responsible) lines.push(T.responsible + ': ' + c.responsible);
      var url = c ? (c.url || c.create_url || null) : null;
      calls[ev.call_id] = notify(ev.name || ev.phone || T.ringing, T.ringing + '\n' + lines.join('\n'),
                                 'pbx-call-' + ev.call_id, url);
    });
  }

  function escalation(ev) {
    if (!firstTime('escalation:' + ev.task_id)) return;
    var url = cfg.taskUrl + '?id=' + encodeURIComponent(ev.task_id);
    var body = fill(T.overdue, {name: ev.responsible, minutes: ev.overdue_minutes}) + '\n' +
      ev.title + (ev.phone ? ' (' + ev.phone + ')' : '');
    notify(T.escalation, body, 'pbx-escalation-' + ev.task_id, url);
    message('danger', T.escalation, body, url);
  }

  function onEvent(ev) {
    if (ev.event === 'ringing') ringing(ev);
    else if (ev.event === 'escalation') escalation(ev);
    else if (calls[ev.call_id] && (ev.event === 'answered' || ev.event === 'ended' || ev.event === 'missed')) {
      calls[ev.call_id].close();
      delete calls[ev.call_id];
    }
  }

  function listen() {
    var es = new EventSource(cfg.streamUrl);
    es.onopen = function () { api.listening = true; };
    es.onmessage = function (m) { try { onEvent(JSON.parse(m.data)); } catch (e) {} };
    es.onerror = function () {
      // Refused (401: logged out; 429: enough pages open): try again in a minute.
      if (es.readyState === EventSource.CLOSED) setTimeout(listen, 60000);
    };
  }

  function stream() {
    // One tab listens; when it closes, another takes over. No Web Locks (a plain-HTTP page,
    // which gets no notifications either): no stream, so admin tabs never use up the
    // employee's streams (admin.max_streams_per_user) that /screen-pop needs.
    if (!navigator.locks || !navigator.locks.request) return;
    navigator.locks.request('pbx-notify-stream', function () {
      listen();
      return new Promise(function () {});  // held for the page's life
    });
  }

  // For the browser test: check now (not at the next tick); is this tab's stream open.
  var api = window.pbxNotify = {poll: poll, listening: false};
  offer();
  stream();
  poll();
  setInterval(poll, (parseInt(cfg.pollSeconds, 10) || 30) * 1000);
})();
