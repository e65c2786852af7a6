/* yuanjiao TV page: remote-control keys, spatial focus and the player's on-screen display.
   ES5 only (old set-top-box browsers): var and function, no build step, no framework.
   Every page works as plain links without this script; it only adds the remote control. */
(function () {
  'use strict';

  var FOCUSABLE = 'a[href], button, input, select, textarea, [tabindex]';
  var OSD_HIDE_MS = 4000;
  var SEEK_S = 15;

  /* Remote keys: modern key names first, then the keyCodes old browsers and set-top boxes send
     (461 = LG webOS Back, 10009 = Samsung Tizen Back, 166 = BrowserBack, 415/19 = Play/Pause). */
  var KEY_NAMES = {
    ArrowLeft: 'left', Left: 'left', ArrowRight: 'right', Right: 'right',
    ArrowUp: 'up', Up: 'up', ArrowDown: 'down', Down: 'down',
    Enter: 'ok', Backspace: 'back', Escape: 'back', Esc: 'back', BrowserBack: 'back', GoBack: 'back',
    MediaPlayPause: 'playpause', MediaPlay: 'play', MediaPause: 'pause'
  };
  var KEY_CODES = {
    37: 'left', 38: 'up', 39: 'right', 40: 'down', 13: 'ok',
    8: 'back', 27: 'back', 166: 'back', 461: 'back', 10009: 'back',
    179: 'playpause', 415: 'play', 19: 'pause'
  };

  function actionOf(e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return null; }
    if (e.key && KEY_NAMES.hasOwnProperty(e.key)) { return KEY_NAMES[e.key]; }
    var code = e.keyCode || e.which;
    return KEY_CODES.hasOwnProperty(code) ? KEY_CODES[code] : null;
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
    var same = ref && ref.origin === here.origin && history.length > 1;
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

  function memoryKey() { return 'yj-focus:' + location.pathname; }

  function remember(el) {
    if (el.getAttribute('data-action') === 'back') { return; } /* come back to 播放, not 返回 */
    try { window.sessionStorage.setItem(memoryKey(), el.getAttribute('href') || ''); } catch (err) { /* private mode */ }
  }

  function remembered(list) {
    var href = null;
    try { href = window.sessionStorage.getItem(memoryKey()); } catch (err) { return null; }
    if (!href) { return null; }
    for (var i = 0; i < list.length; i++) {
      if (list[i].getAttribute('href') === href) { return list[i]; }
    }
    return null;
  }

  function reveal(el) {
    var r = el.getBoundingClientRect();
    var top = r.top + (window.pageYOffset || 0);
    var margin = 90;
    if (top < window.innerHeight / 2) {
      window.scrollTo(0, 0); /* near the top: keep the header in view */
    } else if (r.top < margin) {
      window.scrollBy(0, r.top - margin);
    } else if (r.bottom > window.innerHeight - margin / 2) {
      window.scrollBy(0, r.bottom - window.innerHeight + margin);
    }
  }

  function focusEl(el) {
    if (!el) { return; }
    try { el.focus({ preventScroll: true }); } catch (err) { el.focus(); }
    reveal(el);
    remember(el);
  }

  function focusDefault() {
    var list = focusables();
    if (!list.length) { return; }
    var el = remembered(list) || document.querySelector('[data-default-focus]') || list[0];
    if (!isVisible(el)) { el = list[0]; }
    focusEl(el);
  }

  /* The nearest focusable element in a direction, by bounding rectangles. Left/right stay in
     the same row (the rectangles overlap vertically); up/down take the nearest row, then the
     nearest column, so a short row below a long one is still reachable. */
  function nearest(from, dir) {
    var r = from.getBoundingClientRect();
    var rcx = r.left + r.width / 2;
    var list = focusables();
    var best = null;
    var bestScore = Infinity;
    var slack = 2;
    for (var i = 0; i < list.length; i++) {
      var el = list[i];
      if (el === from) { continue; }
      var c = el.getBoundingClientRect();
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

  function onNavKey(action, e) {
    var cur = activeFocusable();
    if (action === 'back') {
      if (goBack()) { e.preventDefault(); }
      return;
    }
    if (!cur) { /* focus got lost: any key brings it back */
      focusDefault();
      e.preventDefault();
      return;
    }
    if (action === 'ok') {
      /* Links activate natively on Enter; anything else (buttons, [tabindex]) gets a click. */
      if (cur.tagName !== 'A') { e.preventDefault(); cur.click(); }
      return;
    }
    if (action === 'left' || action === 'right' || action === 'up' || action === 'down') {
      e.preventDefault();
      focusEl(nearest(cur, action));
    }
  }

  function initNav() {
    focusDefault();
    document.addEventListener('focusin', function (e) {
      if (e.target && e.target !== document.body) { remember(e.target); }
    });
    /* Back-history restores (bfcache) may come back with nothing focused. */
    window.addEventListener('pageshow', function () { if (!activeFocusable()) { focusDefault(); } });
    var links = document.querySelectorAll('[data-action="back"]');
    for (var i = 0; i < links.length; i++) {
      links[i].addEventListener('click', function (e) { if (goBack()) { e.preventDefault(); } });
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
    var osd = document.getElementById('osd');
    var fill = document.getElementById('osd-fill');
    var timeText = document.getElementById('osd-time');
    var stateText = document.getElementById('osd-state');
    var hideTimer = null;
    var failed = false;
    var declared = parseFloat(media.getAttribute('data-duration')) || 0;

    media.removeAttribute('controls'); /* the OSD replaces the mouse controls */

    function length() {
      var d = media.duration;
      return d && isFinite(d) ? d : declared;
    }

    function setText(el, text) {
      if (el.textContent !== undefined) { el.textContent = text; } else { el.innerText = text; }
    }

    function update() {
      var d = length();
      var t = media.currentTime || 0;
      setText(timeText, clock(t) + ' / ' + clock(d));
      fill.style.width = (d ? Math.min(100, (t / d) * 100) : 0) + '%';
      var state = '▶ 正在播放';
      if (failed) { state = '无法播放这个课程，请告诉信息管理员'; }
      else if (media.ended) { state = '播放完毕　按 OK 重新播放'; }
      else if (media.paused) { state = '❚❚ 已暂停　按 OK 继续'; }
      setText(stateText, state);
    }

    function hideOsd() {
      if (media.paused || media.ended || failed) { return; } /* keep it up while stopped */
      osd.className = 'osd hidden';
    }

    function showOsd() {
      update();
      osd.className = 'osd';
      if (hideTimer) { clearTimeout(hideTimer); }
      hideTimer = setTimeout(hideOsd, OSD_HIDE_MS);
    }

    function play() {
      var p = media.play();
      if (p && typeof p.then === 'function') {
        p.then(null, function () { showOsd(); }); /* autoplay blocked: OK will start it */
      }
    }

    function toggle() {
      if (media.paused || media.ended) { play(); } else { media.pause(); }
    }

    function seek(delta) {
      var d = length();
      var t = (media.currentTime || 0) + delta;
      if (t < 0) { t = 0; }
      if (d && t > d) { t = d; }
      try { media.currentTime = t; } catch (err) { /* not seekable yet */ }
      update();
    }

    media.addEventListener('play', showOsd);
    media.addEventListener('pause', showOsd);
    media.addEventListener('ended', showOsd);
    media.addEventListener('loadedmetadata', update);
    media.addEventListener('timeupdate', function () { if (osd.className === 'osd') { update(); } });
    media.addEventListener('error', function () { failed = true; showOsd(); }, true);

    document.addEventListener('keydown', function (e) {
      var action = actionOf(e);
      showOsd();
      if (!action) { return; }
      e.preventDefault();
      if (action === 'ok' || action === 'playpause') { toggle(); }
      else if (action === 'play') { play(); }
      else if (action === 'pause') { media.pause(); }
      else if (action === 'left') { seek(-SEEK_S); }
      else if (action === 'right') { seek(SEEK_S); }
      else if (action === 'back') { media.pause(); goBack(); }
    });

    showOsd();
    if (media.paused) { play(); }
  }

  /* ---- Start ---------------------------------------------------------------------------- */

  var media = document.getElementById('media');
  if (document.body.getAttribute('data-page') === 'player' && media) {
    initPlayer(media);
  } else {
    document.addEventListener('keydown', function (e) {
      var action = actionOf(e);
      if (action) { onNavKey(action, e); }
    });
    initNav();
  }
}());
