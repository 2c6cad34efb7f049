// Flashwire service worker (served at /sw.js, scope /).
//
// Shows the news alerts the server pushes, reports what happened to each one (received,
// displayed, clicked, dismissed) to /api/events, and keeps the subscription alive when the
// browser replaces it. It has no fetch handler and caches no pages: the site always comes from
// the network.
//
// Push payload (JSON): {"id", "title", "body", "url", "icon", "image", "category", "tag"?,
// "renotify"?, "test"?} ("renotify": a live event's alert replacing the one before it alerts
// again; "test": an editor's test send to their own browser, shown as "Test · <title>" and never
// reported, so it counts in no alert's figures).
// The notification's tag is the payload's "tag" when given, else the alert id, so a duplicate
// delivery replaces the notification already shown instead of adding a second one.
'use strict';

// Shared with site.js: the reader's categories, remembered for re-subscription.
const SETTINGS_CACHE = 'flashwire-settings';
const SETTINGS_CATEGORIES_URL = '/__flashwire/settings/categories';
const FALLBACK_TITLE = 'News alert';

self.addEventListener('install', () => {
  self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

// Reports an alert event. Never rejects and is never awaited before showing anything. The
// server counts a beacon only from a subscription the alert was sent to, once per event, so the
// report names this browser's subscription and proves it with its auth secret (as unsubscribing
// does); without a subscription there is nothing to report.
function beacon(alertId, eventName) {
  if (alertId === undefined || alertId === null || alertId === '') return Promise.resolve();
  return self.registration.pushManager
    .getSubscription()
    .then((subscription) => {
      const keys = subscription && subscription.toJSON().keys;
      if (!keys || !keys.auth) return undefined;
      return fetch('/api/events', {
        method: 'POST',
        keepalive: true,
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          alert: alertId,
          event: eventName,
          endpoint: subscription.endpoint,
          auth: keys.auth,
        }),
      });
    })
    .then(
      () => undefined,
      () => undefined,
    );
}

// The URL a click opens: the alert's URL (same scheme rules as the pages: http(s) only) with
// n=<alert id> added to its query, before any fragment.
function clickUrl(rawUrl, id) {
  let url;
  try {
    url = new URL(rawUrl || '/', self.location.origin);
  } catch {
    url = new URL('/', self.location.origin);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    url = new URL('/', self.location.origin);
  }
  if (id === undefined || id === null) return url.href;
  const hashAt = url.href.indexOf('#');
  const base = hashAt < 0 ? url.href : url.href.slice(0, hashAt);
  const hash = hashAt < 0 ? '' : url.href.slice(hashAt);
  return `${base}${base.includes('?') ? '&' : '?'}n=${encodeURIComponent(id)}${hash}`;
}

self.addEventListener('push', (event) => {
  let alert = {};
  try {
    alert = (event.data && event.data.json()) || {};
  } catch {
    // Not JSON: still show something, as userVisibleOnly promises.
    alert = {};
  }
  const test = alert.test === true;
  // A test has no alert id as far as reports go: no beacon names it, a click adds no n= marker.
  const id = test ? undefined : alert.id;
  const options = {
    body: typeof alert.body === 'string' ? alert.body : '',
    data: { url: clickUrl(alert.url, id), id, test },
    actions: [{ action: 'settings', title: 'Notification settings' }],
  };
  if (alert.icon) options.icon = alert.icon;
  if (alert.image) options.image = alert.image;
  if (alert.tag) options.tag = String(alert.tag);
  else if (id !== undefined && id !== null) options.tag = String(id);
  else if (test) options.tag = `test-${alert.id}`;
  // A live event's alerts share a tag (its topic): the newer replaces the older and alerts again.
  if (alert.renotify === true && options.tag) options.renotify = true;

  const shown = typeof alert.title === 'string' && alert.title ? alert.title : FALLBACK_TITLE;
  const title = test ? `Test · ${shown}` : shown;

  const received = beacon(id, 'received');
  const displayed = self.registration
    .showNotification(title, options)
    .then(() => beacon(id, 'displayed'));
  event.waitUntil(Promise.all([received, displayed]));
});

// Same page, ignoring the fragment and the n= marker a notification adds.
function samePage(a, b) {
  try {
    const x = new URL(a);
    const y = new URL(b);
    for (const url of [x, y]) {
      url.hash = '';
      url.searchParams.delete('n');
    }
    return x.href === y.href;
  } catch {
    return false;
  }
}

async function focusOrOpen(target) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  for (const client of windows) {
    if (samePage(client.url, target) && 'focus' in client) return client.focus();
  }
  if (self.clients.openWindow) return self.clients.openWindow(target);
  return undefined;
}

// Alerts whose notification the reader clicked, until its close is reported: Firefox fires
// notificationclose for a clicked notification too (the click, and close() below, close it), and
// a click is not a dismissal.
const clickedAlerts = new Set();

self.addEventListener('notificationclick', (event) => {
  const notification = event.notification;
  const data = notification.data || {};
  if (data.id !== undefined && data.id !== null) clickedAlerts.add(String(data.id));
  notification.close();
  const settings = event.action === 'settings';
  const target = settings
    ? new URL('/preferences', self.location.origin).href
    : data.url || new URL('/', self.location.origin).href;
  // Open first: openWindow must run while the click still counts as a user action.
  const opened = focusOrOpen(target).catch(() => undefined);
  const tasks = [opened];
  if (!settings) tasks.push(beacon(data.id, 'clicked'));
  event.waitUntil(Promise.all(tasks));
});

self.addEventListener('notificationclose', (event) => {
  const data = event.notification.data || {};
  if (data.id !== undefined && data.id !== null && clickedAlerts.delete(String(data.id))) return;
  event.waitUntil(beacon(data.id, 'dismissed'));
});

function base64UrlToBytes(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

async function serverKey() {
  const response = await fetch('/api/vapid-public-key', {
    headers: { Accept: 'application/json' },
  });
  if (!response.ok) throw new Error(`vapid-public-key: ${response.status}`);
  const { publicKey } = await response.json();
  return base64UrlToBytes(publicKey);
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

// The browser replaced or dropped the subscription: subscribe again with the same server key
// and tell the server which endpoint the new one replaces.
async function resubscribe(oldSubscription) {
  const pushManager = self.registration.pushManager;
  const oldKey =
    oldSubscription && oldSubscription.options && oldSubscription.options.applicationServerKey;
  let subscription;
  try {
    subscription = await pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: oldKey || (await serverKey()),
    });
  } catch (error) {
    if (!oldKey) throw error;
    // The server key was rotated since: subscribe with the current one.
    const existing = await pushManager.getSubscription();
    if (existing) await existing.unsubscribe();
    subscription = await pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: await serverKey(),
    });
  }

  const body = { subscription: subscription.toJSON() };
  // Without remembered categories the server keeps those of the subscription replaced.
  const categories = await rememberedCategories();
  if (categories) body.categories = categories;
  if (oldSubscription && oldSubscription.endpoint) body.replaces = oldSubscription.endpoint;
  const response = await fetch('/api/subscriptions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`subscriptions: ${response.status}`);
}

self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil(resubscribe(event.oldSubscription));
});
