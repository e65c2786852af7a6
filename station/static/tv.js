/* yuanjiao TV page: remote-control keys, spatial focus, channel-mode countdown, notices ticker
   and the player's on-screen display. ES5 only (old set-top-box browsers): var and function,
   no build step, no framework. Every page works as plain links without this script.
   Text shown to viewers comes from the page (data-* attributes), never from here. */
(function () {
  'use strict';

  var FOCUSABLE = 'a[href], button, input, select, textarea, [tabindex]';
  var OSD_HIDE_MS = 4000;
  var SEEK_S = 15;
  var HEARTBEAT_MS = 10000;
  var COUNTDOWN_S = 60;
  var LATE_START_S = 30;
  var TICKER_MS = 6000;
  var IDLE_RELOAD_MS = 10 * 60 * 1000; /* an idle home page fetches new notices and programmes */
  var FOCUS_TTL_MS = 30 * 60 * 1000; /* a remembered focus older than this is not where the viewer is */

  /* Remote keys: key names first, then the keyCodes old browsers and set-top boxes send.
     Back: 8 Backspace, 27 Escape, 166 BrowserBack, 461 LG webOS/HbbTV, 10009 Samsung Tizen.
     Colour keys: 403-406 (HbbTV/webOS/Tizen), also F1-F4 on a kiosk keyboard.
     Media: 179/MediaPlayPause, 415 play, 19 pause, 413 stop, 417 fast-forward, 412 rewind. */
  var KEY_NAMES = {
    ArrowLeft: 'left', Left: 'left', ArrowRight: 'right', Right: 'right',
    ArrowUp: 'up', Up: 'up', ArrowDown: 'down', Down: 'down',
    Enter: 'ok', Backspace: 'back', Escape: 'back', Esc: 'back', BrowserBack: 'back', GoBack: 'back',
    MediaPlayPause: 'playpause', MediaPlay: 'play', MediaPause: 'pause', MediaStop: 'stop',
    MediaFastForward: 'right', MediaRewind: 'left',
    ColorF0Red: 'red', ColorF1Green: 'green', ColorF2Yellow: 'yellow', ColorF3Blue: 'blue',
    F1: 'red', F2: 'green', F3: 'yellow', F4: 'blue'
  };
  var KEY_CODES = {
    37: 'left', 38: 'up', 39: 'right', 40: 'down', 13: 'ok',
    8: 'back', 27: 'back', 166: 'back', 461: 'back', 10009: 'back',
    179: 'playpause', 415: 'play', 19: 'pause', 413: 'stop', 178: 'stop', 417: 'right', 412: 'left',
    403: 'red', 404: 'green', 405: 'yellow', 406: 'blue',
    112: 'red', 113: 'green', 114: 'yellow', 115: 'blue'
  };
  var COLOUR_URLS = { red: '/session', green: '/', yellow: '/continue', blue: '/schedule' };

  function actionOf(e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return null; }
    var code = e.keyCode || e.which;
    /* a colour code wins over whatever key name an old box attaches to it */
    if (code >= 403 && code <= 406) { return KEY_CODES[code]; }
    if (e.key && KEY_NAMES.hasOwnProperty(e.key)) { return KEY_NAMES[e.key]; }
    if (e.key && e.key.length === 1 && e.key >= '0' && e.key <= '9') { return 'digit' + e.key; }
    if (code >= 48 && code <= 57) { return 'digit' + (code - 48); }
    if (code >= 96 && code <= 105) { return 'digit' + (code - 96); }
    return KEY_CODES.hasOwnProperty(code) ? KEY_CODES[code] : null;
  }

  function setText(el, text) {
    if (!el) { return; }
    if (el.textContent !== undefined) { el.textContent = text; } else { el.innerText = text; }
  }

  function hasClass(el, name) { return (' ' + el.className + ' ').indexOf(' ' + name + ' ') >= 0; }
  function addClass(el, name) { if (!hasClass(el, name)) { el.className += ' ' + name; } }
  function removeClass(el, name) {
    el.className = (' ' + el.className + ' ').replace(' ' + name + ' ', ' ').replace(/^\s+|\s+$/g, '');
  }

  function store(key, value) { try { window.sessionStorage.setItem(key, value); } catch (err) { /* private mode */ } }
  function recall(key) { try { return window.sessionStorage.getItem(key); } catch (err) { return null; } }

  /* Every state-changing request carries this page's token (the server refuses it without). */
  function pageToken() {
    var meta = document.querySelector('meta[name="yj-token"]');
    return meta ? meta.getAttribute('content') : '';
  }

  function post(url, data, done) {
    var xhr = new XMLHttpRequest();
    xhr.open('POST', url, true);
    xhr.setRequestHeader('Content-Type', 'application/json');
    xhr.setRequestHeader('X-YJ-Token', pageToken());
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4 || !done) { return; }
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
      done(xhr.status, body);
    };
    xhr.send(JSON.stringify(data));
  }

  /* A POST that must reach the station though the page is going away (the end of a play). */
  function postAsLeaving(url, data) {
    var headers = { 'Content-Type': 'application/json', 'X-YJ-Token': pageToken() };
    if (window.fetch) { /* keepalive outlives the page, like sendBeacon, but can carry the token */
      window.fetch(url, { method: 'POST', keepalive: true, headers: headers, body: JSON.stringify(data) });
    } else {
      var xhr = new XMLHttpRequest();
      xhr.open('POST', url, false);
      xhr.setRequestHeader('Content-Type', headers['Content-Type']);
      xhr.setRequestHeader('X-YJ-Token', headers['X-YJ-Token']);
      xhr.send(JSON.stringify(data));
    }
  }

  /* ---- Back: never a dead end ---------------------------------------------------------- */

  function pathOf(url) {
    var a = document.createElement('a');
    a.href = url;
    var path = a.pathname;
    if (path.charAt(0) !== '/') { path = '/' + path; }
    return { origin: a.protocol + '//' + a.host, path: path + a.search };
  }

  function goBack() {
    var body = document.body;
    var back = body.getAttribute('data-back');
    if (!back) { return false; } /* the home page: nowhere further back */
    var ref = document.referrer ? pathOf(document.referrer) : null;
    var here = pathOf(location.href);
    var same = ref && ref.origin === here.origin && history.length > 1 && ref.path !== here.path;
    if (same && body.hasAttribute('data-back-exact')) { same = ref.path === pathOf(back).path; }
    if (same) {
      history.back();
    } else {
      location.replace(back);
    }
    return true;
  }

  /* ---- Spatial focus --------------------------------------------------------------------- */

  function isVisible(el) {
    var r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  }

  function focusables() {
    var nodes = document.querySelectorAll(FOCUSABLE);
    var out = [];
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      if (el.disabled || el.getAttribute('tabindex') === '-1' || !isVisible(el)) { continue; }
      out.push(el);
    }
    return out;
  }

  /* Focus memory: where the viewer was on this page, so Back returns to the same tile. It is kept
     per address AND per content (what the page offers, in order), and only for a while: a page
     whose rows changed (a new "continue watching" tile, a session started) or an old visit starts
     from its default focus instead. Only links are places to come back to; a form's buttons are
     not (a topic button remembered on /session turned the next headcount's digits into category
     keys). */
  function memoryKey() { return 'yj-focus:' + location.pathname + location.search; }

  function identity(el) { return el.getAttribute('href') || el.id || el.getAttribute('value') || ''; }

  var pageContent = null;

  function contentKey() {
    if (pageContent === null) {
      var nodes = document.querySelectorAll(FOCUSABLE);
      var h = 0;
      for (var i = 0; i < nodes.length; i++) {
        if (nodes[i].type === 'hidden') { continue; } /* a per-page token is not content */
        var id = identity(nodes[i]) + '|';
        for (var j = 0; j < id.length; j++) { h = (h * 31 + id.charCodeAt(j)) | 0; }
      }
      pageContent = String(h);
    }
    return pageContent;
  }

  function rememberable(el) {
    /* come back to Play, not Back */
    return el.tagName === 'A' && !!el.getAttribute('href') && el.getAttribute('data-action') !== 'back';
  }

  function remember(el) {
    if (!rememberable(el)) { return; }
    store(memoryKey(), new Date().getTime() + ' ' + contentKey() + ' ' + identity(el));
  }

  function remembered(list) {
    var saved = (recall(memoryKey()) || '').split(' ');
    if (saved.length < 3 || new Date().getTime() - parseFloat(saved[0]) > FOCUS_TTL_MS || saved[1] !== contentKey()) {
      return null;
    }
    var id = saved.slice(2).join(' ');
    for (var i = 0; i < list.length; i++) {
      if (identity(list[i]) === id) { return list[i]; }
    }
    return null;
  }

  /* The field that expects a number on this page (the headcount), if any. */
  function numberField() {
    var el = document.querySelector('input[inputmode="numeric"]');
    return el && !el.disabled && isVisible(el) ? el : null;
  }

  function reveal(el) {
    var r = el.getBoundingClientRect();
    var top = r.top + (window.pageYOffset || 0);
    var margin = 90;
    var hints = document.getElementById('key-hints'); /* fixed at the bottom: nothing hides under it */
    var bottom = window.innerHeight - (hints ? hints.offsetHeight : 0);
    if (top + r.height <= bottom - 12) {
      window.scrollTo(0, 0); /* it fits with the top of the page: keep the header and banner in view */
    } else if (r.top < margin) {
      window.scrollBy(0, r.top - margin);
    } else if (r.bottom > bottom - 12) {
      window.scrollBy(0, r.bottom - bottom + 12); /* just clear of the key hints, focus ring included */
    }
  }

  function focusEl(el) {
    if (!el) { return; }
    try { el.focus({ preventScroll: true }); } catch (err) { el.focus(); }
    if (isField(el) && el.setSelectionRange) { /* digits type at the end, Backspace deletes the last */
      try { el.setSelectionRange(el.value.length, el.value.length); } catch (err2) { /* not a text field */ }
    }
    reveal(el);
    remember(el);
  }

  function focusDefault() {
    var list = focusables();
    if (!list.length) { return; }
    var preferred = document.querySelector('[data-default-focus]');
    if (preferred && !isVisible(preferred)) { preferred = null; }
    /* a field waiting for a number always comes first, never a button beside it */
    var el = (isField(preferred) && preferred) || remembered(list) || preferred || list[0];
    focusEl(el);
  }

  /* The nearest focusable element in a direction, by bounding rectangles. Left/right stay in
     the same row (the rectangles overlap vertically); up/down take the nearest row, then the
     nearest column, so a short row below a long one is still reachable. */
  function nearest(from, dir) {
    var r = from.getBoundingClientRect();
    var rcx = r.left + r.width / 2;
    var nodes = document.querySelectorAll(FOCUSABLE);
    var best = null;
    var bestScore = Infinity;
    var slack = 2;
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      if (el === from || el.disabled || el.getAttribute('tabindex') === '-1') { continue; }
      var c = el.getBoundingClientRect(); /* one layout read per element: this runs on every key */
      if (c.width <= 0 || c.height <= 0) { continue; }
      var major, minor;
      if (dir === 'right' || dir === 'left') {
        if (dir === 'right' ? c.left < r.right - slack : c.right > r.left + slack) { continue; }
        if (c.bottom <= r.top || c.top >= r.bottom) { continue; } /* another row */
        major = dir === 'right' ? c.left - r.right : r.left - c.right;
        minor = Math.abs((c.top + c.bottom) / 2 - (r.top + r.bottom) / 2);
      } else {
        if (dir === 'down' ? c.top < r.bottom - slack : c.bottom > r.top + slack) { continue; }
        major = dir === 'down' ? c.top - r.bottom : r.top - c.bottom;
        minor = Math.max(0, c.left - r.right, r.left - c.right) * 2 + Math.abs(c.left + c.width / 2 - rcx) / 100;
      }
      var score = Math.max(0, major) + minor;
      if (score < bestScore) { bestScore = score; best = el; }
    }
    return best;
  }

  function activeFocusable() {
    var el = document.activeElement;
    if (!el || el === document.body || el === document.documentElement || !isVisible(el)) { return null; }
    return el;
  }

  function isField(el) { return el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA'); }

  /* ---- Channel mode: a scheduled programme counts down, then plays ------------------------ */

  var countdown = null;

  function initCountdown() {
    var body = document.body;
    var course = body.getAttribute('data-programme');
    var box = document.getElementById('countdown');
    if (!course || !box) { return; }
    var key = body.getAttribute('data-programme-key');
    var start = parseFloat(body.getAttribute('data-programme-start'));
    var end = parseFloat(body.getAttribute('data-programme-end')) || 0; /* a live class: joined until it ends */
    var url = body.getAttribute('data-programme-url') ||
      '/play/' + encodeURIComponent(course) + '?channel=' + encodeURIComponent(key);
    var offset = (parseFloat(body.getAttribute('data-now')) || Date.now()) - Date.now(); /* the box's clock may be wrong */
    var seconds = document.getElementById('countdown-s');
    var timer = null;
    countdown = {
      visible: false,
      skip: function () {
        store('yj-skip:' + key, '1');
        countdown.visible = false;
        addClass(box, 'hidden');
        if (timer) { clearInterval(timer); }
      }
    };
    if (recall('yj-skip:' + key)) { return; }
    function tick() {
      var now = Date.now() + offset;
      var left = Math.ceil((start - now) / 1000);
      if (left > COUNTDOWN_S || (left < -LATE_START_S && !(end && now < end))) { return; }
      if (!countdown.visible) { countdown.visible = true; removeClass(box, 'hidden'); }
      setText(seconds, String(Math.max(0, left)));
      if (left <= 0) {
        clearInterval(timer);
        location.href = url;
      }
    }
    timer = setInterval(tick, 1000);
    tick();
  }

  /* ---- Notices ticker: one notice at a time ----------------------------------------------- */

  function initTicker() {
    var ticker = document.getElementById('ticker');
    if (!ticker) { return; }
    var items = ticker.getElementsByTagName('a');
    if (items.length < 2) { return; }
    var shown = 0;
    setInterval(function () {
      if (activeFocusable() && activeFocusable().parentNode === ticker) { return; } /* being read */
      addClass(items[shown], 'hidden');
      shown = (shown + 1) % items.length;
      removeClass(items[shown], 'hidden');
    }, TICKER_MS);
  }

  /* ---- Pages other than the player ---------------------------------------------------------- */

  function onNavKey(action, e) {
    var cur = activeFocusable();
    if (action === 'back') {
      if (isField(cur) && cur.value && (e.key === 'Backspace' || e.keyCode === 8)) { return; } /* delete a digit */
      if (countdown && countdown.visible) { countdown.skip(); e.preventDefault(); return; }
      if (goBack()) { e.preventDefault(); }
      return;
    }
    if (action.indexOf('digit') === 0) {
      if (isField(cur)) { return; } /* typing a number, e.g. the headcount */
      e.preventDefault();
      var field = numberField();
      if (field) { /* a page asking for a number: digits type into it, wherever the focus is */
        if (field.maxLength < 0 || field.value.length < field.maxLength) { field.value += action.charAt(5); }
        focusEl(field);
        return;
      }
      if (action !== 'digit0') { location.href = '/go/' + action.charAt(5); }
      return;
    }
    if (COLOUR_URLS.hasOwnProperty(action)) {
      e.preventDefault();
      location.href = COLOUR_URLS[action];
      return;
    }
    if (!cur) { /* focus got lost: any key brings it back */
      focusDefault();
      e.preventDefault();
      return;
    }
    if (action === 'ok') {
      /* Links and buttons activate natively on Enter; anything else ([tabindex]) gets a click. */
      if (cur.tagName !== 'A' && cur.tagName !== 'BUTTON' && !isField(cur)) { e.preventDefault(); cur.click(); }
      if (isField(cur) && cur.form) { /* OK in the headcount field: on to the first choice */
        e.preventDefault();
        focusEl(nearest(cur, 'down'));
      }
      return;
    }
    if (action === 'left' || action === 'right' || action === 'up' || action === 'down') {
      if (isField(cur) && cur.tagName === 'TEXTAREA') { return; }
      e.preventDefault();
      var next = nearest(cur, action);
      if (next) {
        focusEl(next);
      } else if ((action === 'up' || action === 'down') && document.body.hasAttribute('data-scroll-text')) {
        /* a long text (an answer) with nothing focusable below: up and down read on */
        window.scrollBy(0, (action === 'down' ? 1 : -1) * Math.round(window.innerHeight * 0.6));
      }
    }
  }

  function initNav() {
    /* the script places the focus and scrolls to it; the browser's own restored scroll position
       (coming back by Back) put the header and the first row off screen */
    if ('scrollRestoration' in history) { try { history.scrollRestoration = 'manual'; } catch (err) { /* old */ } }
    focusDefault();
    document.addEventListener('keydown', function (e) {
      var action = actionOf(e);
      if (action) { onNavKey(action, e); }
      /* whatever happened, something stays focused */
      setTimeout(function () { if (!activeFocusable()) { focusDefault(); } }, 0);
    });
    document.addEventListener('focusin', function (e) {
      if (e.target && e.target !== document.body) { remember(e.target); }
    });
    /* A page restored by Back from the browser's cache would show stale rows (continue watching,
       the resume button): fetch it again; the remembered focus comes back with it. */
    window.addEventListener('pageshow', function (e) {
      if (e.persisted) { location.reload(); return; }
      if (!activeFocusable()) { focusDefault(); }
    });
    var links = document.querySelectorAll('[data-action="back"]');
    for (var i = 0; i < links.length; i++) {
      links[i].addEventListener('click', function (e) { if (goBack()) { e.preventDefault(); } });
    }
    initCountdown();
    initTicker();
    if (!document.body.getAttribute('data-back')) { /* the home page, left on all day */
      var lastKey = new Date().getTime();
      document.addEventListener('keydown', function () { lastKey = new Date().getTime(); }, true);
      setInterval(function () {
        if (new Date().getTime() - lastKey > IDLE_RELOAD_MS && !(countdown && countdown.visible)) { location.reload(); }
      }, 60000);
    }
  }

  /* ---- Player --------------------------------------------------------------------------- */

  function two(n) { return (n < 10 ? '0' : '') + n; }

  function clock(seconds) {
    var t = Math.max(0, Math.floor(seconds || 0));
    var h = Math.floor(t / 3600);
    var m = Math.floor((t % 3600) / 60);
    var s = t % 60;
    return h ? h + ':' + two(m) + ':' + two(s) : two(m) + ':' + two(s);
  }

  function initPlayer(media) {
    var body = document.body;
    var osd = document.getElementById('osd');
    var fill = document.getElementById('osd-fill');
    var timeText = document.getElementById('osd-time');
    var stateText = document.getElementById('osd-state');
    var failedBox = document.getElementById('failed');
    var course = body.getAttribute('data-course');
    var channel = body.getAttribute('data-channel');
    var nextUrl = body.getAttribute('data-next');
    var resumeAt = parseFloat(body.getAttribute('data-resume')) || 0;
    var declared = parseFloat(media.getAttribute('data-duration')) || 0;
    var msg = function (name) { return osd.getAttribute('data-' + name) || ''; };
    var hideTimer = null;
    var note = '';
    var failed = false;
    var removed = false;
    var leaving = false;
    var playId = null;
    var playState = 'none'; /* none, starting, open, closed: one play record per playback */
    var watched = 0;
    var lastT = null;
    var seekStreak = 0;
    var lastSeek = 0;

    media.removeAttribute('controls'); /* the OSD replaces the mouse controls */

    function length() {
      var d = media.duration;
      return d && isFinite(d) ? d : declared;
    }

    function update() {
      var d = length();
      var t = media.currentTime || 0;
      setText(timeText, clock(t) + ' / ' + clock(d));
      fill.style.width = (d ? Math.min(100, (t / d) * 100) : 0) + '%';
      var state = msg('playing');
      if (failed) { state = msg('failed'); }
      else if (note) { state = note; }
      else if (media.ended) { state = msg('ended'); }
      else if (media.paused) { state = msg('paused'); }
      if (removed && !failed) { state = state + ' · ' + msg('removed'); }
      setText(stateText, state);
    }

    function hideOsd() {
      note = '';
      if (media.paused || media.ended || failed) { update(); return; } /* keep it up while stopped */
      addClass(osd, 'hidden');
    }

    function showOsd() {
      update();
      removeClass(osd, 'hidden');
      if (hideTimer) { clearTimeout(hideTimer); }
      hideTimer = setTimeout(hideOsd, OSD_HIDE_MS);
    }

    /* ---- attendance: start, heartbeat, end ---- */

    function report() { return { position_s: media.currentTime || 0, watched_s: Math.round(watched * 10) / 10 }; }

    function startPlay() {
      if (playState !== 'none' || leaving) { return; }
      playState = 'starting';
      post('/api/plays', { course: course, channel: channel || '' }, function (status, resp) {
        if (status === 200 && resp && resp.id && playState === 'starting') { playId = resp.id; playState = 'open'; }
        else if (playState === 'starting') { playState = 'none'; }
      });
    }

    function heartbeat() {
      if (!playId) { return; }
      post('/api/plays/' + playId, report(), function (status, resp) {
        if (resp && resp.installed === false) { removed = true; }
      });
    }

    function finish(ended, then) {
      var id = playId;
      playId = null;
      playState = 'closed';
      if (!id) { if (then) { then(); } return; }
      var data = report();
      data.ended = !!ended;
      var called = false;
      var go = function () { if (!called) { called = true; if (then) { then(); } } };
      post('/api/plays/' + id + '/end', data, function (status, resp) {
        if (resp && resp.installed === false) { removed = true; }
        go();
      });
      setTimeout(go, 1500); /* never stay stuck on a slow box */
    }

    function leave(url) {
      if (leaving) { return; }
      leaving = true;
      media.pause();
      finish(media.ended, function () {
        if (url) { location.href = url; } else if (removed) { location.replace('/'); } else { goBack(); }
      });
    }

    /* ---- controls ---- */

    function play() {
      var p = media.play();
      if (p && typeof p.then === 'function') {
        p.then(null, function () { showOsd(); }); /* autoplay blocked: OK will start it */
      }
    }

    function toggle() {
      if (media.paused || media.ended) { play(); } else { media.pause(); }
    }

    function seek(dir, e) {
      var now = Date.now();
      seekStreak = (e.repeat || now - lastSeek < 400) ? seekStreak + 1 : 0;
      lastSeek = now;
      var step = SEEK_S * (seekStreak < 3 ? 1 : (seekStreak < 8 ? 2 : 4)); /* held: faster */
      var d = length();
      var t = (media.currentTime || 0) + dir * step;
      if (t < 0) { t = 0; }
      if (d && t > d) { t = d; }
      try { media.currentTime = t; } catch (err) { /* not seekable yet */ }
      lastT = null;
      update();
    }

    function fail() {
      failed = true;
      showOsd();
      removeClass(failedBox, 'hidden');
      var back = document.getElementById('failed-back');
      try { back.focus(); } catch (err) { /* old browsers */ }
    }

    media.addEventListener('play', function () {
      if (playState === 'closed' && !leaving) { playState = 'none'; watched = 0; } /* played again: a new record */
      showOsd();
    });
    media.addEventListener('pause', showOsd);
    media.addEventListener('playing', startPlay);
    var resumed = false;
    function onMeta() {
      if (!resumed && resumeAt > 0 && (!length() || resumeAt < length() - 3)) {
        resumed = true;
        try { media.currentTime = resumeAt; } catch (err) { /* not seekable */ }
        lastT = null;
        note = msg('resumed');
        showOsd();
      }
      update();
    }
    media.addEventListener('loadedmetadata', onMeta);
    media.addEventListener('timeupdate', function () {
      if (!media.paused) { startPlay(); } /* also when playback began before this script ran */
      var t = media.currentTime || 0;
      if (lastT !== null && !media.paused && !media.seeking) {
        var delta = t - lastT;
        /* Seeks and pauses are not watching ('seeking' drops lastT); a step of up to 4 s is: a busy
           box (or page) fires timeupdate seconds apart, and a 1.5 s cap lost that time. */
        if (delta > 0 && delta < 4) { watched += delta; }
      }
      lastT = t;
      if (!hasClass(osd, 'hidden')) { update(); }
    });
    media.addEventListener('seeking', function () { lastT = null; });
    media.addEventListener('ended', function () {
      showOsd();
      finish(true, function () {
        if (removed || channel) { location.replace('/'); return; }
        if (nextUrl) {
          note = msg('next-msg');
          showOsd();
          setTimeout(function () { location.replace(nextUrl); }, 2000);
        }
      });
    });
    media.addEventListener('error', fail, true);
    var sources = media.getElementsByTagName('source');
    if (sources.length) { sources[sources.length - 1].addEventListener('error', fail); }
    setInterval(heartbeat, HEARTBEAT_MS);
    window.addEventListener('pagehide', function () {
      if (!playId) { return; }
      var url = '/api/plays/' + playId + '/end';
      playId = null;
      postAsLeaving(url, report());
    });

    document.addEventListener('keydown', function (e) {
      var action = actionOf(e);
      if (failed) { /* only the Back button is left */
        if (action === 'back' || action === 'ok') { e.preventDefault(); location.replace(document.getElementById('failed-back').getAttribute('href')); }
        return;
      }
      showOsd();
      if (!action) { return; }
      e.preventDefault();
      if (action === 'ok' || action === 'playpause') { toggle(); }
      else if (action === 'play') { play(); }
      else if (action === 'pause') { media.pause(); }
      else if (action === 'left') { seek(-1, e); }
      else if (action === 'right') { seek(1, e); }
      else if (action === 'back' || action === 'stop') { leave(null); }
      else if (action === 'red' || action === 'green' || action === 'blue') { leave(COLOUR_URLS[action]); }
    });

    showOsd();
    /* The media element starts loading while the page is parsed: by now it may already have its
       metadata, be playing, or have failed. */
    if (media.error) { fail(); return; }
    if (media.readyState >= 1) { onMeta(); }
    if (media.paused) { play(); } else { startPlay(); }
    /* every source already failed (3: NETWORK_NO_SOURCE, nothing loaded): say so, never a black screen */
    var noSource = function () { if (!failed && media.readyState === 0 && media.networkState === 3) { fail(); } };
    setTimeout(noSource, 2000);
    setTimeout(noSource, 15000);
  }

  /* ---- Live class: a countdown, the stream, a message and a retry when it stalls ---------- */

  var LIVE_STALL_MS = 8000; /* no picture advancing this long: the stream stalled (about 4 segments) */
  var LIVE_RETRY_MS = 3000;

  function initLive(media) {
    var body = document.body;
    var card = document.getElementById('live-card');
    var stateText = document.getElementById('live-state');
    var replay = document.getElementById('live-replay');
    var liveId = body.getAttribute('data-live');
    var src = body.getAttribute('data-src');
    var start = parseFloat(body.getAttribute('data-start'));
    var end = parseFloat(body.getAttribute('data-end'));
    var offset = (parseFloat(body.getAttribute('data-now')) || Date.now()) - Date.now(); /* the box's clock may be wrong */
    var attached = false;
    var over = false;
    var lastT = null;
    var lastAdvance = 0;
    var retryAt = 0;
    var watched = 0;
    var playId = null;
    var starting = false;

    function now() { return Date.now() + offset; }
    function msg(name) { return card.getAttribute('data-' + name) || ''; }
    function say(text) { setText(stateText, text); removeClass(card, 'hidden'); }

    function attach() {
      attached = true;
      lastAdvance = now();
      lastT = null;
      media.src = src; /* HLS, played by the browser itself; the station relays it from its mirrors */
      var p = media.play();
      if (p && typeof p.then === 'function') { p.then(null, function () { /* retried by tick */ }); }
    }

    function detach(text) {
      say(text);
      attached = false;
      media.removeAttribute('src');
      try { media.load(); } catch (err) { /* old browsers */ }
      retryAt = now() + LIVE_RETRY_MS;
    }

    function report() { return { watched_s: Math.round(watched * 10) / 10 }; }

    function startPlay() {
      if (playId || starting || over) { return; }
      starting = true;
      post('/api/live-plays', { live: liveId }, function (status, resp) {
        starting = false;
        if (status === 200 && resp && resp.id) { playId = resp.id; }
      });
    }

    function finish() {
      if (!playId) { return; }
      var url = '/api/live-plays/' + playId + '/end';
      playId = null;
      postAsLeaving(url, report());
    }

    media.addEventListener('timeupdate', function () {
      var t = media.currentTime || 0;
      if (lastT !== null && t > lastT && !media.paused) {
        if (t - lastT < 4) { watched += t - lastT; }
        lastAdvance = now();
        addClass(card, 'hidden');
        startPlay();
      }
      lastT = t;
    });
    media.addEventListener('error', function () { if (attached && !over) { detach(msg('stalled')); } }, true);

    function tick() {
      var t = now();
      if (t >= end) {
        if (!over) {
          over = true;
          if (attached) { detach(msg('ended')); } else { say(msg('ended')); }
          finish();
          if (replay) { removeClass(replay, 'hidden'); focusEl(replay); }
        }
        return;
      }
      if (t < start) { say(msg('before').replace('%s', clock((start - t) / 1000))); return; }
      if (!attached) {
        if (t >= retryAt) { say(msg('connecting')); attach(); }
        return;
      }
      if (t - lastAdvance > LIVE_STALL_MS) { detach(msg('stalled')); }
    }

    setInterval(tick, 1000);
    setInterval(function () { if (playId) { post('/api/live-plays/' + playId, report()); } }, HEARTBEAT_MS);
    window.addEventListener('pagehide', finish);
    document.addEventListener('keydown', function (e) {
      var action = actionOf(e);
      if (action === 'back' || action === 'stop') { e.preventDefault(); finish(); if (!goBack()) { location.replace('/'); } }
      else if (action === 'ok' && over && replay) { e.preventDefault(); location.href = replay.getAttribute('href'); }
      else if (action === 'red' || action === 'green' || action === 'blue' || action === 'yellow') {
        e.preventDefault();
        finish();
        location.href = COLOUR_URLS[action];
      }
    });
    tick();
  }

  /* ---- Start ---------------------------------------------------------------------------- */

  var media = document.getElementById('media');
  if (document.body.getAttribute('data-page') === 'player' && media) {
    initPlayer(media);
  } else if (document.body.getAttribute('data-page') === 'live' && media) {
    initLive(media);
  } else {
    initNav();
  }
}());
