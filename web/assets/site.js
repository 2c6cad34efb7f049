// Flashwire reader script: the notification opt-in card and its entry in the header, the
// notification settings page, the mobile app sheet, live event updates, times in the reader's
// time zone and the share buttons.
//
// Plain modern JavaScript, no dependencies, no build step. Compatible with a strict
// Content-Security-Policy: no eval, no inline handlers, no inline styles. Everything it needs
// from the server arrives in data-* attributes (see src/site/pages.h).
'use strict';

(() => {
  const CATEGORY_NAMES = {
    breaking: 'breaking news',
    live: 'live events',
    exclusive: 'exclusive reporting',
  };

  // Categories are remembered in Cache Storage, which the service worker can read too: it needs
  // them to re-subscribe when the browser rotates the push subscription (sw.js).
  const SETTINGS_CACHE = 'flashwire-settings';
  const SETTINGS_CATEGORIES_URL = '/__flashwire/settings/categories';

  // "Not now" hides the card for 3 days, then 14, then 60 (and 60 from then on).
  const SNOOZE_KEY = 'flashwire.optin.snooze';
  const SNOOZE_DAYS = [3, 14, 60];
  const DAY_MS = 24 * 60 * 60 * 1000;

  const APP_SHEET_COOKIE = 'fw_app_sheet=dismissed';

  // How long turning notifications on may take (service worker, the browser's push service, our
  // server) before the reader is told and offered a retry: a browser whose push service cannot
  // be reached would otherwise leave "Turning on notifications…" up for good.
  const SUBSCRIBE_TIMEOUT_MS = 10_000;

  const MONTHS = [
    'Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec',
  ];

  const MESSAGES = {
    unsupported:
      'This browser can’t show notifications from websites, so news alerts aren’t available ' +
      'here.',
    iosHomeScreen:
      'On iPhone and iPad, alerts work once this site is on your Home Screen: tap Share, then ' +
      '“Add to Home Screen”, open the site from there and turn notifications on.',
    denied:
      'Notifications are blocked for this site in your browser’s settings. To get alerts, ' +
      'allow notifications for this site there, then reload this page.',
    notAllowed:
      'You didn’t allow notifications, so nothing has changed. You can turn them on whenever ' +
      'you like.',
    noCategory: 'Choose at least one kind of alert.',
    failed:
      'Something went wrong, so notifications aren’t on yet. Check your connection and try ' +
      'again.',
    unavailable: 'Notifications aren’t available on this site right now.',
    timedOut:
      'Your browser’s notification service didn’t answer within 10 seconds, so notifications ' +
      'aren’t on yet. Check your connection and try again.',
  };

  // ---- small helpers ----

  function isIOS() {
    return (
      /iPhone|iPad|iPod/.test(navigator.userAgent) ||
      (navigator.platform === 'MacIntel' && navigator.maxTouchPoints > 1)
    );
  }

  function isAndroid() {
    return /Android/i.test(navigator.userAgent);
  }

  function isMobile() {
    const uaData = navigator.userAgentData;
    if (uaData && typeof uaData.mobile === 'boolean') return uaData.mobile;
    return /Android|iPhone|iPad|iPod|Mobile|Opera Mini|IEMobile/i.test(navigator.userAgent);
  }

  // 'ok', 'ios-home-screen' (iOS Safari outside a Home Screen web app) or 'unsupported'.
  function pushSupport() {
    const supported =
      window.isSecureContext &&
      'serviceWorker' in navigator &&
      'PushManager' in window &&
      'Notification' in window &&
      'caches' in window;
    if (supported) return 'ok';
    if (isIOS() && !navigator.standalone) return 'ios-home-screen';
    return 'unsupported';
  }

  function supportMessage(support) {
    return support === 'ios-home-screen' ? MESSAGES.iosHomeScreen : MESSAGES.unsupported;
  }

  function base64UrlToBytes(text) {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const binary = atob(padded);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function sameBytes(buffer, bytes) {
    if (!buffer) return false;
    const other = new Uint8Array(buffer);
    return other.length === bytes.length && other.every((value, i) => value === bytes[i]);
  }

  function listText(categories) {
    const names = categories.map((c) => CATEGORY_NAMES[c] || c);
    if (names.length < 2) return names.join('');
    return names.slice(0, -1).join(', ') + ' and ' + names[names.length - 1];
  }

  function checkedCategories(form) {
    return Array.from(form.querySelectorAll('input[name="category"]:checked'), (i) => i.value);
  }

  function setChecked(form, categories) {
    for (const input of form.querySelectorAll('input[name="category"]')) {
      input.checked = categories.includes(input.value);
    }
  }

  // Replaces the text of a status area; `link` adds a link after the text.
  function setStatus(element, message, { error = false, link = null } = {}) {
    element.textContent = message;
    element.classList.toggle('status-error', error);
    if (link) {
      const a = document.createElement('a');
      a.href = link.href;
      a.textContent = link.text;
      element.append(' ', a);
    }
  }

  // ---- times in the reader's time zone ----

  // Making a DateTimeFormat is costly (tens of milliseconds on a slow phone): one per form.
  const DATE_FORMATS = {};
  function dateFormat(form) {
    if (!DATE_FORMATS[form]) {
      DATE_FORMATS[form] = new Intl.DateTimeFormat('en-GB', {
        day: 'numeric',
        month: form === 'full' ? 'long' : 'short',
        year: form === 'full' ? 'numeric' : undefined,
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
        timeZoneName: 'short',
      });
    }
    return DATE_FORMATS[form];
  }

  // The server writes UTC ("12 March 2025, 14:05 UTC") so that every reader gets the same
  // cached bytes; here the text becomes the reader's own time, with the zone's short name.
  // `form` is the element's data-local: 'full', 'short' (no year) or 'relative' ("5 min ago").
  function localText(date, form) {
    if (form === 'relative') {
      const minutes = Math.floor((Date.now() - date.getTime()) / 60_000);
      if (minutes < 1) return 'just now';
      if (minutes < 60) return `${minutes} min ago`;
      if (minutes < 24 * 60) return `${Math.floor(minutes / 60)} h ago`;
      form = 'short';
    }
    let parts;
    try {
      parts = dateFormat(form).formatToParts(date);
    } catch {
      return null;
    }
    const part = (type) => (parts.find((p) => p.type === type) || {}).value || '';
    const year = form === 'full' ? ` ${part('year')}` : '';
    return (
      `${part('day')} ${part('month')}${year}, ${part('hour')}:${part('minute')} ` +
      part('timeZoneName')
    );
  }

  function localiseTime(element) {
    const date = new Date(element.dateTime);
    if (Number.isNaN(date.getTime())) return;
    const text = localText(date, element.dataset.local);
    if (text && element.textContent !== text) element.textContent = text;
    // The full date stays available on hover for relative times.
    if (element.dataset.local === 'relative') element.title = localText(date, 'full') || '';
  }

  function localiseTimes() {
    for (const element of document.querySelectorAll('time[data-local]')) localiseTime(element);
  }

  function formatTime(time) {
    const date = typeof time === 'number' ? new Date(time * 1000) : new Date(time);
    if (Number.isNaN(date.getTime())) return null;
    const pad = (n) => String(n).padStart(2, '0');
    const utc =
      `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]}, ` +
      `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())} UTC`;
    return {
      iso: date.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      text: localText(date, 'short') || utc,
    };
  }

  // ---- push subscription ----

  // Notification.requestPermission, also where it only takes a callback (older Safari).
  function requestPermission() {
    return new Promise((resolve) => {
      const result = Notification.requestPermission(resolve);
      if (result && typeof result.then === 'function') result.then(resolve);
    });
  }

  async function currentSubscription() {
    const registration = await navigator.serviceWorker.getRegistration('/');
    return registration ? registration.pushManager.getSubscription() : null;
  }

  async function rememberCategories(categories) {
    try {
      const cache = await caches.open(SETTINGS_CACHE);
      await cache.put(
        SETTINGS_CATEGORIES_URL,
        new Response(JSON.stringify(categories), {
          headers: { 'Content-Type': 'application/json' },
        }),
      );
    } catch {
      // Storage can be unavailable (private browsing); only re-subscription loses the choice.
    }
  }

  async function rememberedCategories() {
    try {
      const cache = await caches.open(SETTINGS_CACHE);
      const response = await cache.match(SETTINGS_CATEGORIES_URL);
      const categories = response ? await response.json() : null;
      return Array.isArray(categories) ? categories : null;
    } catch {
      return null;
    }
  }

  async function forgetCategories() {
    try {
      const cache = await caches.open(SETTINGS_CACHE);
      await cache.delete(SETTINGS_CATEGORIES_URL);
    } catch {
      // Nothing to forget.
    }
  }

  async function saveSubscription(subscription, categories) {
    const response = await fetch('/api/subscriptions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ subscription: subscription.toJSON(), categories }),
    });
    if (!response.ok) throw new Error(`saving the subscription failed: ${response.status}`);
    await rememberCategories(categories);
  }

  // Settles as `promise` does, or rejects with a TimeoutError after `ms`.
  function withTimeout(promise, ms) {
    let timer = 0;
    const timeout = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new DOMException('timed out', 'TimeoutError')), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  // The reader-facing message for a failed subscribe().
  function subscribeFailure(error) {
    return error && error.name === 'TimeoutError' ? MESSAGES.timedOut : MESSAGES.failed;
  }

  // Subscribes this browser (permission must already be granted) and tells the server.
  async function subscribe(categories) {
    const key = base64UrlToBytes(document.body.dataset.vapidPublicKey || '');
    await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    const registration = await navigator.serviceWorker.ready;
    let subscription = await registration.pushManager.getSubscription();
    // A subscription made with another server key (the key was rotated) cannot be reused.
    if (subscription && !sameBytes(subscription.options.applicationServerKey, key)) {
      await subscription.unsubscribe();
      subscription = null;
    }
    if (!subscription) {
      subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: key,
      });
    }
    await saveSubscription(subscription, categories);
    return subscription;
  }

  async function unsubscribe(subscription) {
    const json = subscription.toJSON();
    const response = await fetch('/api/subscriptions', {
      method: 'DELETE',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ endpoint: json.endpoint, auth: json.keys && json.keys.auth }),
    });
    // 404: the server had already forgotten it; the browser side must still be undone.
    if (!response.ok && response.status !== 404) {
      throw new Error(`removing the subscription failed: ${response.status}`);
    }
    await subscription.unsubscribe();
    await forgetCategories();
    optinBeacon('unsubscribed');
  }

  // ---- opt-in beacons (the newsroom's opt-in funnel) ----

  // Where the reader is: the page type (from <body class="page-…">) and the category of the story
  // (its kicker), as POST /api/optin takes them. Nothing about the reader goes with it.
  function optinContext() {
    const kind = (/(?:^|\s)page-([a-z-]+)/.exec(document.body.className) || [])[1];
    const page = ['home', 'article', 'live'].includes(kind) ? kind : 'other';
    let category = page === 'live' ? 'live' : 'none';
    const kicker = document.querySelector('main .kicker');
    const named = kicker && /(?:^|\s)kicker-(breaking|live|exclusive)(?:\s|$)/.exec(kicker.className);
    if (named) category = named[1];
    return { page, category };
  }

  // Counts one step of the funnel; fire and forget (a lost beacon only makes a count smaller).
  function optinBeacon(step) {
    fetch('/api/optin', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ step, ...optinContext() }),
      keepalive: true,
      credentials: 'omit',
    }).catch(() => {});
  }

  // ---- the opt-in card (article and live pages) ----

  function readSnooze() {
    try {
      const value = JSON.parse(localStorage.getItem(SNOOZE_KEY) || 'null');
      if (value && Number.isFinite(value.count) && Number.isFinite(value.until)) return value;
    } catch {
      // Unreadable or unavailable storage: treat as never snoozed.
    }
    return { count: 0, until: 0 };
  }

  function snooze() {
    const current = readSnooze();
    const days = SNOOZE_DAYS[Math.min(current.count, SNOOZE_DAYS.length - 1)];
    try {
      localStorage.setItem(
        SNOOZE_KEY,
        JSON.stringify({ count: current.count + 1, until: Date.now() + days * DAY_MS }),
      );
    } catch {
      // Without storage the card comes back on the next page; nothing else to do.
    }
  }

  // One sheet at a time: the app sheet (mobile, once per browser) goes first; the card is shown
  // only once it is closed, so neither ever covers the other. `sheetClosed` resolves then (at
  // once when there is no sheet). A snoozed card stays hidden unless the reader asks for it from
  // the header (card.dataset.optinReady tells the header entry it can be shown).
  async function initOptIn(card, sheetClosed = Promise.resolve()) {
    const snoozed = Date.now() < readSnooze().until;
    const reveal = () => {
      card.dataset.optinReady = 'true';
      if (!snoozed) {
        sheetClosed.then(() => {
          card.hidden = false;
          if (!enable.disabled) optinBeacon('shown'); // an offer the reader can take
        });
      }
    };
    const form = card.querySelector('[data-optin-form]');
    const status = card.querySelector('[data-status]');
    const enable = card.querySelector('[data-optin-enable]');
    const later = card.querySelector('[data-optin-later]');

    later.addEventListener('click', () => {
      snooze();
      card.hidden = true;
    });

    const support = pushSupport();
    if (support !== 'ok') {
      enable.disabled = true;
      setStatus(status, supportMessage(support));
      reveal();
      return;
    }
    if (Notification.permission === 'denied') {
      enable.disabled = true;
      setStatus(status, MESSAGES.denied);
      reveal();
      return;
    }
    if (Notification.permission === 'granted') {
      // Already subscribed: nothing to offer.
      const existing = await currentSubscription().catch(() => null);
      if (existing) {
        document.dispatchEvent(new CustomEvent('flashwire:alerts-on'));
        return;
      }
    }

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const categories = checkedCategories(form);
      if (categories.length === 0) {
        setStatus(status, MESSAGES.noCategory, { error: true });
        return;
      }
      enable.disabled = true;
      optinBeacon('clicked');
      try {
        // The browser's permission prompt appears here, only after the reader's click.
        setStatus(status, 'Waiting for your answer in the browser’s prompt…');
        const permission = await requestPermission();
        if (permission === 'granted' || permission === 'denied') optinBeacon(permission);
        if (permission === 'denied') {
          setStatus(status, MESSAGES.denied, { error: true });
          return;
        }
        if (permission !== 'granted') {
          setStatus(status, MESSAGES.notAllowed);
          enable.disabled = false;
          return;
        }
        setStatus(status, 'Turning on notifications…');
        await withTimeout(subscribe(categories), SUBSCRIBE_TIMEOUT_MS);
        optinBeacon('subscribed');
        form.querySelector('.choices').hidden = true;
        form.querySelector('.actions').hidden = true;
        setStatus(status, `Notifications are on for ${listText(categories)}.`, {
          link: { href: '/preferences', text: 'Change notification settings' },
        });
        document.dispatchEvent(new CustomEvent('flashwire:alerts-on'));
      } catch (error) {
        setStatus(status, subscribeFailure(error), { error: true });
        enable.textContent = 'Try again';
        enable.disabled = false;
      }
    });

    reveal();
  }

  // ---- the header's entry to the offer ----

  // "Notifications" in the header opens this page's opt-in card (even after "Not now": the
  // reader asked) and moves focus to it; where the page has no card, or the card cannot be
  // shown (already subscribed, or still waiting for the app sheet), it stays a link to the
  // settings page. A subscribed browser gets a check mark (data-state="on", site.css).
  function initAlertsEntry(entry, card) {
    document.addEventListener('flashwire:alerts-on', () => {
      entry.dataset.state = 'on';
      entry.setAttribute('aria-label', 'Notifications: on');
    });
    if (pushSupport() === 'ok' && Notification.permission === 'granted') {
      currentSubscription()
        .then((subscription) => {
          if (subscription) document.dispatchEvent(new CustomEvent('flashwire:alerts-on'));
        })
        .catch(() => {});
    }
    entry.addEventListener('click', (event) => {
      if (!card || entry.dataset.state === 'on' || card.dataset.optinReady !== 'true') return;
      event.preventDefault();
      card.hidden = false;
      card.scrollIntoView({ block: 'center' });
      const title = card.querySelector('.optin-title');
      title.tabIndex = -1;
      title.focus({ preventScroll: true });
    });
  }

  // ---- share ----

  // The Web Share API where the browser has it (phones, mostly); copying the link everywhere.
  function initShare(box) {
    const url = box.dataset.shareUrl || window.location.href;
    const title = box.dataset.shareTitle || document.title;
    const native = box.querySelector('[data-share-native]');
    const copy = box.querySelector('[data-share-copy]');
    const status = box.querySelector('[data-share-status]');
    if (typeof navigator.share === 'function') {
      native.hidden = false;
      native.addEventListener('click', async () => {
        try {
          await navigator.share({ title, url });
        } catch (error) {
          // AbortError: the reader closed the share sheet; nothing to say.
          if (!error || error.name !== 'AbortError') {
            setStatus(status, 'Sharing didn’t work here. Use “Copy link” instead.');
          }
        }
      });
    }
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(url);
        setStatus(status, 'Link copied.');
      } catch {
        // No clipboard access (an old browser, or permission refused): show the link itself.
        setStatus(status, `Copy this link: ${url}`);
      }
    });
    box.classList.add('is-ready');
  }

  // ---- the notification settings page ----

  async function initPreferences(section) {
    const form = section.querySelector('[data-prefs-form]');
    const state = section.querySelector('[data-prefs-state]');
    const status = section.querySelector('[data-status]');
    const save = section.querySelector('[data-prefs-save]');
    const off = section.querySelector('[data-prefs-unsubscribe]');
    section.hidden = false;

    const support = pushSupport();
    if (support !== 'ok' || !document.body.dataset.vapidPublicKey) {
      state.textContent = support !== 'ok' ? supportMessage(support) : MESSAGES.unavailable;
      form.hidden = true;
      return;
    }
    if (Notification.permission === 'denied') {
      state.textContent = MESSAGES.denied;
      form.hidden = true;
      return;
    }

    let subscription = null;
    if (Notification.permission === 'granted') {
      subscription = await currentSubscription().catch(() => null);
    }

    async function show() {
      if (subscription) {
        state.textContent = 'Notifications are on in this browser.';
        save.textContent = 'Save choices';
        off.hidden = false;
        const remembered = await rememberedCategories();
        if (remembered) setChecked(form, remembered);
      } else {
        state.textContent = 'Notifications are off in this browser.';
        save.textContent = 'Turn on notifications';
        off.hidden = true;
      }
    }
    await show();

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const categories = checkedCategories(form);
      if (categories.length === 0) {
        const hint = subscription ? ' To stop all alerts, use “Turn off notifications”.' : '';
        setStatus(status, MESSAGES.noCategory + hint, { error: true });
        return;
      }
      save.disabled = true;
      try {
        if (subscription) {
          await saveSubscription(subscription, categories);
          setStatus(status, `Saved. You’ll get alerts for ${listText(categories)}.`);
          return;
        }
        setStatus(status, 'Waiting for your answer in the browser’s prompt…');
        const permission = await requestPermission();
        if (permission !== 'granted') {
          const denied = permission === 'denied';
          setStatus(status, denied ? MESSAGES.denied : MESSAGES.notAllowed, { error: denied });
          return;
        }
        setStatus(status, 'Turning on notifications…');
        subscription = await withTimeout(subscribe(categories), SUBSCRIBE_TIMEOUT_MS);
        await show();
        setStatus(status, `Notifications are on for ${listText(categories)}.`);
      } catch (error) {
        setStatus(status, subscribeFailure(error), { error: true });
      } finally {
        save.disabled = false;
      }
    });

    off.addEventListener('click', async () => {
      if (!subscription) return;
      off.disabled = true;
      try {
        await unsubscribe(subscription);
        subscription = null;
        await show();
        save.focus();
        setStatus(status, 'Notifications are off. This browser won’t get any more alerts.');
      } catch {
        setStatus(
          status,
          'Something went wrong, so notifications are still on. Check your connection and ' +
            'try again.',
          { error: true },
        );
      } finally {
        off.disabled = false;
      }
    });
  }

  // ---- the app sheet (mobile only) ----

  // Returns a promise that resolves when the sheet is closed, or at once when it is not shown.
  function initAppSheet(sheet) {
    if (!isMobile()) return Promise.resolve();
    if (document.cookie.split(';').some((c) => c.trim() === APP_SHEET_COOKIE)) {
      return Promise.resolve();
    }
    let closed;
    const whenClosed = new Promise((resolve) => {
      closed = resolve;
    });
    const open = sheet.querySelector('[data-app-open]');
    const keepReading = sheet.querySelector('[data-app-continue]');
    const deepLink = open.getAttribute('href');
    const androidPackage = sheet.dataset.androidPackage;
    const androidStore = sheet.dataset.androidStoreUrl;

    // On Android an intent: URL opens the app, or the store when it is not installed.
    if (isAndroid() && androidPackage) {
      const match = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(deepLink);
      if (match) {
        let intent = `intent://${match[2]}#Intent;scheme=${match[1]};package=${androidPackage};`;
        if (androidStore) intent += `S.browser_fallback_url=${encodeURIComponent(androidStore)};`;
        open.href = intent + 'end';
      }
    }

    // The sheet's height depends on the width (its title wraps on narrow phones), so the room
    // kept free under the page is measured rather than fixed in CSS.
    const reserveRoom = () => {
      document.body.style.paddingBottom = sheet.hidden ? '' : `${sheet.offsetHeight + 16}px`;
    };
    const hide = () => {
      sheet.hidden = true;
      document.body.classList.remove('has-app-sheet');
      window.removeEventListener('resize', reserveRoom);
      reserveRoom();
      closed();
    };

    open.addEventListener('click', () => {
      hide();
      const store = isIOS()
        ? sheet.dataset.iosStoreUrl
        : isAndroid() && !androidPackage
          ? androidStore
          : '';
      if (!store) return;
      // If the app opened, this page is now in the background. Still visible after a moment
      // means the app is not installed: go to the store instead.
      const timer = setTimeout(() => {
        if (document.visibilityState === 'visible') window.location.href = store;
      }, 1500);
      document.addEventListener('visibilitychange', () => clearTimeout(timer), { once: true });
    });

    keepReading.addEventListener('click', () => {
      document.cookie = `${APP_SHEET_COOKIE}; Max-Age=31536000; SameSite=Lax; Path=/`;
      hide();
    });

    sheet.hidden = false;
    document.body.classList.add('has-app-sheet');
    reserveRoom();
    window.addEventListener('resize', reserveRoom);
    return whenClosed;
  }

  // ---- live event pages ----

  // The page lists the updates so far (server-rendered, newest first, each with
  // data-update-id). New ones arrive over Server-Sent Events and are inserted in id order without
  // a reload. The stream is opened with ?after=<newest id shown>, so that nothing posted between
  // rendering and connecting is lost; on reconnect EventSource itself sends Last-Event-ID, and
  // the server replays what was missed. An id already on the page is never added twice.
  // The live desk's changes come as their own events: "changed" (a correction: the text is
  // replaced and marked "Corrected"), "deleted" (the entry goes), "pinned" (this update is shown
  // first, in the Pinned block) and "unpinned" (the block is emptied and hidden).
  function initLive(root) {
    const url = root.dataset.eventsUrl;
    const list = root.querySelector('[data-live-updates]');
    const status = root.querySelector('[data-live-status]');
    const pinnedBlock = root.querySelector('[data-live-pinned]');
    const pinnedEntry = root.querySelector('[data-pinned-update]');
    const seen = new Set();
    let newest = 0;
    for (const li of list.querySelectorAll('[data-update-id]')) {
      const id = Number(li.dataset.updateId);
      if (!Number.isSafeInteger(id)) continue;
      seen.add(id);
      newest = Math.max(newest, id);
    }

    if (!url || !('EventSource' in window)) {
      status.textContent = 'Newest updates first. Reload the page to see new ones.';
      return;
    }

    let source = null;
    let retryTimer = 0;
    let retryDelay = 0;
    let shown = '';
    const say = (text) => {
      if (text !== shown) status.textContent = shown = text;
    };

    // Keeps the list newest first whatever order updates arrive in.
    function insertInOrder(item, id) {
      for (const other of list.children) {
        const otherId = Number(other.dataset.updateId);
        if (Number.isSafeInteger(otherId) && otherId < id) {
          list.insertBefore(item, other);
          return;
        }
      }
      list.append(item);
    }

    // The data of a stream event: {id, …} with a positive id (and html when `needsHtml`), or null.
    function parseEvent(event, needsHtml) {
      let update;
      try {
        update = JSON.parse(event.data);
      } catch {
        return null;
      }
      if (!update || !Number.isSafeInteger(update.id) || update.id < 0) return null;
      if (needsHtml && (update.id === 0 || typeof update.html !== 'string')) return null;
      return update;
    }

    function timeElement(at) {
      const time = formatTime(at);
      if (!time) return null;
      const element = document.createElement('time');
      element.dateTime = time.iso;
      element.textContent = time.text;
      return element;
    }

    // An entry's inside, as pages.cc renders it: time, "Corrected <time>", text.
    function fillEntry(entry, update) {
      const parts = [];
      const time = timeElement(update.at);
      if (time) parts.push(time);
      if (Number.isSafeInteger(update.edited_at) && update.edited_at > 0) {
        const edited = document.createElement('span');
        edited.className = 'live-update-edited';
        edited.dataset.edited = '';
        const when = timeElement(update.edited_at);
        edited.append(' Corrected ', ...(when ? [when] : []));
        parts.push(edited);
      }
      const body = document.createElement('div');
      body.className = 'live-update-body';
      // Server-rendered by render_markdown (raw HTML and unsafe URLs already removed).
      body.innerHTML = update.html;
      parts.push(body);
      entry.replaceChildren(...parts);
    }

    function entryOf(id) {
      return list.querySelector(`[data-update-id="${id}"]`);
    }

    function addUpdate(event) {
      const update = parseEvent(event, true);
      if (!update) return;
      const id = update.id;
      if (seen.has(id)) return; // rendered with the page, or resent after a reconnect
      seen.add(id);
      newest = Math.max(newest, id);

      const item = document.createElement('li');
      item.className = 'live-update is-new';
      item.id = `update-${id}`;
      item.dataset.updateId = String(id);
      fillEntry(item, update);
      const time = formatTime(update.at);
      insertInOrder(item, id);

      const empty = root.querySelector('[data-live-empty]');
      if (empty) empty.remove();
      say(time ? `New update at ${time.text}.` : 'New update.');
    }

    function changeUpdate(event) {
      const update = parseEvent(event, true);
      if (!update) return;
      const entry = entryOf(update.id);
      if (entry) fillEntry(entry, update);
      if (pinnedEntry && pinnedEntry.dataset.updateId === String(update.id)) {
        fillEntry(pinnedEntry, update);
      }
      if (entry || pinnedEntry?.dataset.updateId === String(update.id)) say('An update was corrected.');
    }

    function showPinned(update) {
      if (!pinnedBlock || !pinnedEntry) return;
      for (const other of list.querySelectorAll('[data-pinned]')) delete other.dataset.pinned;
      if (!update) {
        pinnedBlock.hidden = true;
        delete pinnedEntry.dataset.updateId;
        pinnedEntry.replaceChildren();
        return;
      }
      pinnedEntry.dataset.updateId = String(update.id);
      fillEntry(pinnedEntry, update);
      pinnedBlock.hidden = false;
      const entry = entryOf(update.id);
      if (entry) entry.dataset.pinned = '';
    }

    function pinUpdate(event) {
      const update = parseEvent(event, true);
      if (!update) return;
      if (pinnedEntry && pinnedEntry.dataset.updateId === String(update.id)) return;
      showPinned(update);
      say('A key update is pinned at the top.');
    }

    function unpinUpdate(event) {
      const update = parseEvent(event, false);
      if (!update || !pinnedBlock || pinnedBlock.hidden) return;
      // id 0: "nothing is pinned now" (sent to a reader who reconnects).
      if (update.id !== 0 && pinnedEntry.dataset.updateId !== String(update.id)) return;
      showPinned(null);
    }

    function deleteUpdate(event) {
      const update = parseEvent(event, false);
      if (!update || update.id === 0) return;
      const entry = entryOf(update.id);
      if (entry) {
        entry.remove();
        say('An update was removed.');
      }
      if (pinnedEntry && pinnedEntry.dataset.updateId === String(update.id)) showPinned(null);
    }

    function disconnect() {
      clearTimeout(retryTimer);
      retryTimer = 0;
      if (source) source.close();
      source = null;
    }

    function connect() {
      disconnect();
      source = new EventSource(newest > 0 ? `${url}?after=${newest}` : url);
      source.addEventListener('open', () => {
        retryDelay = 0;
        say('Live: new updates appear here automatically.');
      });
      source.addEventListener('update', addUpdate);
      source.addEventListener('changed', changeUpdate);
      source.addEventListener('deleted', deleteUpdate);
      source.addEventListener('pinned', pinUpdate);
      source.addEventListener('unpinned', unpinUpdate);
      source.addEventListener('error', () => {
        if (!source || source.readyState !== EventSource.CLOSED) {
          say('Connection lost. Reconnecting…');
          return;
        }
        // EventSource gives up for good on an error answer (the server busy, say): try again
        // later ourselves, less and less often.
        retryDelay = Math.min(retryDelay ? retryDelay * 2 : 15_000, 300_000);
        say('Live updates are paused. Trying again shortly…');
        source = null;
        retryTimer = setTimeout(connect, retryDelay);
      });
    }

    // Close the stream when the page is put away, so the back/forward cache can keep it.
    window.addEventListener('pagehide', disconnect);
    window.addEventListener('pageshow', (event) => {
      if (event.persisted && !source) connect();
    });
    connect();
  }

  // ---- start ----

  // Once every part has made its first decision (the card shown or not, the sheet, the live
  // stream started), <html data-site-ready> says so: "stays hidden" can then be told from "not
  // shown yet" without waiting for nothing to happen. (A card waiting for the app sheet to
  // close has made its decision.)
  async function init() {
    localiseTimes();
    // "5 min ago" must not go stale while the page stays open.
    if (document.querySelector('time[data-local="relative"]')) setInterval(localiseTimes, 60_000);
    const started = [];
    const sheet = document.querySelector('[data-app-sheet]');
    const sheetClosed = sheet ? initAppSheet(sheet) : Promise.resolve();
    const card = document.querySelector('[data-optin]');
    if (card && document.body.dataset.vapidPublicKey) started.push(initOptIn(card, sheetClosed));
    const entry = document.querySelector('[data-alerts-entry]');
    if (entry) initAlertsEntry(entry, card);
    const prefs = document.querySelector('[data-prefs]');
    if (prefs) started.push(initPreferences(prefs));
    for (const box of document.querySelectorAll('[data-share]')) initShare(box);
    const live = document.querySelector('[data-live]');
    if (live) initLive(live);
    await Promise.allSettled(started);
    document.documentElement.dataset.siteReady = '';
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
