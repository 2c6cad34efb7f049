// The whole alert chain in a real browser: `flashwire serve` with its embedded push service
// ([push_service] enabled) and demo content, and a headless Firefox ESR pointed at that push
// service (dom.push.serverURL; the offline-safe prefs of tests/e2e/support/firefox.mjs, which
// also grant the notification permission by default).
//
//   1. a reader opens a demo article, chooses breaking news and live events in the opt-in card
//      and turns notifications on: site.js subscribes with the server's VAPID key and posts the
//      subscription, which the newsroom audience counts;
//   2. an editor composes an alert from the article and confirms it through the newsroom API;
//      the fan-out delivers it through the push service and the service worker shows it;
//   3. the worker's "received" and "displayed" beacons are counted and the delivery is "sent";
//      the alert has a time to device (the server's arrival time of "received" − send start),
//      and step 1 shows in the opt-in funnel (card shown, clicked, granted, subscribed);
//   4. the reader clicks the notification: web/sw.js's notificationclick opens the article with
//      ?n=<alert id> and sends the "clicked" beacon (and a click is not also a dismissal);
//   5. two alerts of one live event (one Topic) sent while Firefox is closed: after it comes
//      back only the newer one is shown.
//   6. the editor, in /newsroom, chooses "Get test alerts in this browser" (the browser's one
//      subscription, stored against the editor's token), composes an alert and presses "Send a
//      test to me": the worker shows "Test · <title>" and reports nothing (the draft's figures
//      stay 0).
//
// How the click is made (step 4). WebDriver BiDi has no command for notifications, and
// input.performActions refuses Firefox's own (chrome) windows. But with the prefs used here
// (alerts.useSystemBackend = false) Firefox shows a notification as its own small XUL window,
// chrome://global/content/alerts/alert.xhtml, the one desktop Firefox shows without a system
// notifier. Started with MOZ_REMOTE_ALLOW_SYSTEM_ACCESS=1, Firefox lets the BiDi client list
// chrome windows (browsingContext.getTree with "moz:scope": "chrome") and run script in them,
// so the test synthesizes a real mouse click (window.synthesizeMouseEvent: mousedown + mouseup
// through Firefox's event handling, a trusted click) on the alert window's text. That window's
// click handler reports "alertclickcallback" to Firefox's notification code, which dispatches
// notificationclick to the service worker: the real code path, no test hook anywhere. Before
// clicking, the pointer is moved over the alert, which pauses its 20-second fade-out as it does
// for a reader (alert.css: :hover pauses the animation), so a slow machine cannot lose it.
//
// Run from the repository root:  node --test tests/e2e/alert_flow.test.mjs
// Needs /usr/bin/firefox-esr, node_modules (scripts/install-deps.sh) and a built flashwire
// ($FLASHWIRE_BIN, or build/src/app/flashwire). Loopback only: serve runs with
// LOOPBACK_ONLY_ENV, Firefox with the dead-proxy prefs. FLASHWIRE_E2E_DEBUG=1 shows Firefox's
// push logging.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { startServe, stopServe } from '../support/flashwire_serve.mjs';
import {
  launchFirefox, closeFirefox, makeTempDir, removeDir, pollUntil, withTimeout,
} from './support/firefox.mjs';

// Bounds: set-up (serve, a Firefox launch) 30 s, the flow at most the sum of its tests' limits
// (290 s in all; ctest's e2e_alert_flow allows 330); a normal run takes about 30 s.
const SETUP_TIMEOUT_MS = 30000;
const TEST_TIMEOUT_MS = 40000;
const RELAUNCH_TEST_TIMEOUT_MS = 60000;   // includes a Firefox launch
const FLOW_TIMEOUT_MS = 5 * TEST_TIMEOUT_MS + RELAUNCH_TEST_TIMEOUT_MS;
const STEP_TIMEOUT_MS = 15000;
// How long a notification that must not appear is watched for once the later ones are shown
// (Firefox dispatches pushes in the order the service sends them; this covers decryption and
// showing running concurrently).
const ABSENCE_WINDOW_MS = 1500;

// Demo stories (src/app/demo_content.cc).
const BREAKING_SLUG = 'harbour-bridge-closed-after-ship-strike';
const MARKER_SLUG = 'storm-warning-raised-to-red';
const LIVE_SLUG = 'election-night-live-results';
const ALERT_WINDOW_URL = 'chrome://global/content/alerts/alert.xhtml';

let root;          // temp dir: data, config, Firefox profile
let site;          // the running `flashwire serve`
let pushWebSocket; // ws://127.0.0.1:<port>/ of the embedded push service
let pushOrigin;    // http://127.0.0.1:<port>
let editor;        // Authorization header of the first-start editor token
let browser;       // the running Firefox (null while it is closed)
let page;          // a tab on the site
let profileDir;
let articles;      // slug → newsroom article
let subscription;  // the browser's PushSubscription, as toJSON() gives it
let alertId;       // the breaking alert of steps 2–4

// ------------------------------------------------------------------ helpers

// A port free right now on 127.0.0.1 (the embedded push service needs a fixed one: its public
// URL, and so every endpoint it issues, carries the port).
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// serve with the push service on a free port; a second try if another process took the port
// between the probe and serve's bind.
async function startSite() {
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const config = path.join(root, `flashwire-${attempt}.toml`);
    await fsp.writeFile(config, `[push_service]\nenabled = true\nlisten = "127.0.0.1:${port}"\n`);
    try {
      return await startServe(path.join(root, 'data'), ['--config', config]);
    } catch (e) {
      lastError = e;
      if (!/push_service\.listen/.test(e.message)) throw e;
    }
  }
  throw lastError;
}

function serveLog() {
  return site ? `\n--- serve output (tail) ---\n${site.output.slice(-3000)}` : '';
}

async function api(method, pathname, body) {
  const response = await fetch(site.url + pathname, {
    method,
    headers: { 'Content-Type': 'application/json', ...editor },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

async function getAlert(id) {
  const r = await api('GET', `/api/newsroom/alerts/${id}`);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
}

// Compose (a draft) and confirm: the two steps an editor takes. Returns the alert id.
async function composeAndSend(fields) {
  const composed = await api('POST', '/api/newsroom/alerts', fields);
  assert.equal(composed.status, 201, JSON.stringify(composed.json));
  const sent = await api('POST', composed.json.confirm, { confirm: true, ...(fields.force ? { force: true } : {}) });
  assert.equal(sent.status, 202, JSON.stringify(sent.json));
  assert.equal(sent.json.status, 'sending');
  return composed.json.id;
}

// Polls the alert until check(alert) holds; returns the alert.
async function waitForAlert(id, check, what) {
  let last = null;
  await pollUntil(async () => {
    last = await getAlert(id);
    return check(last);
  }, {
    timeoutMs: STEP_TIMEOUT_MS,
    intervalMs: 150,
    what: `alert ${id}: ${what}`,
    describe: async () => JSON.stringify({ status: last && last.status, engagement: last && last.engagement,
      delivery: last && last.delivery && { ...last.delivery, accept_latency: undefined } }) + serveLog(),
  });
  return last;
}

async function launch() {
  browser = await launchFirefox({ profileDir, pushServerURL: pushWebSocket, systemAccess: true });
  page = await browser.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
}

async function closeBrowser() {
  const b = browser;
  browser = null;
  page = null;
  await closeFirefox(b);
}

// The notifications the site's service worker shows now (registration.getNotifications()).
function shownNotifications() {
  return withTimeout(page.evaluate(async () => {
    const registration = await navigator.serviceWorker.getRegistration('/');
    if (!registration) return [];
    const list = await registration.getNotifications();
    return list.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
  }), STEP_TIMEOUT_MS, 'getNotifications');
}

async function waitForNotifications(tags) {
  let last = [];
  await pollUntil(async () => {
    last = await shownNotifications();
    const shown = new Set(last.map((n) => n.tag));
    return tags.every((t) => shown.has(t));
  }, {
    timeoutMs: STEP_TIMEOUT_MS,
    intervalMs: 150,
    what: `notifications ${JSON.stringify(tags)}`,
    describe: async () => JSON.stringify(last.map((n) => n.tag)) + serveLog(),
  });
  return last;
}

// ---- Firefox's own windows, over WebDriver BiDi with system access

async function bidi(method, params) {
  return withTimeout(browser.connection.send(method, params), STEP_TIMEOUT_MS, method);
}

// Runs `expression` (an async function body's value) in a chrome window; returns its string.
async function chromeEvaluate(context, expression) {
  const { result } = await bidi('script.evaluate', {
    target: { context }, expression, awaitPromise: true, resultOwnership: 'none',
  });
  if (result.type === 'exception') {
    throw new Error(`chrome script failed: ${result.exceptionDetails && result.exceptionDetails.text}`);
  }
  return result.result && result.result.value;
}

// The alert window showing `title`, or null.
async function alertWindow(title) {
  const { result } = await bidi('browsingContext.getTree', { 'moz:scope': 'chrome' });
  for (const context of result.contexts.filter((c) => c.url === ALERT_WINDOW_URL)) {
    const shown = await chromeEvaluate(context.context,
      `document.getElementById('alertTitleLabel').getAttribute('value')`).catch(() => null);
    if (shown === title) return context.context;
  }
  return null;
}

// Mouse events through Firefox's own event handling, at the centre of the alert's text.
function mouseScript(types) {
  return `(async () => {
    const box = document.getElementById('alertTextLabel').getBoundingClientRect();
    const x = box.left + box.width / 2;
    const y = box.top + box.height / 2;
    const id = window.windowUtils.DEFAULT_MOUSE_POINTER_ID;
    for (const type of ${JSON.stringify(types)}) {
      window.synthesizeMouseEvent(type, x, y,
        { identifier: id, button: 0, clickCount: type === 'mousemove' ? 0 : 1 }, {});
    }
    const alertBox = document.getElementById('alertBox');
    return JSON.stringify({ hover: alertBox.matches(':hover'), clicked: alertBox.getAttribute('clicked') });
  })()`;
}

// ------------------------------------------------------------------ lifecycle

before(async () => {
  root = await makeTempDir('flashwire-e2e-alert-');
  profileDir = path.join(root, 'profile');
  site = await startSite();
  const push = /push service: (http:\/\/127\.0\.0\.1:(\d+))\//.exec(site.output);
  assert.ok(push, `serve should print the push service's URL${serveLog()}`);
  pushOrigin = push[1];
  pushWebSocket = `ws://127.0.0.1:${push[2]}/`;
  const token = /editor token \(shown once, keep it safe\): (fw_[A-Za-z0-9_-]{43})\n/.exec(site.output);
  assert.ok(token, `serve should print the first editor token${serveLog()}`);
  editor = { Authorization: `Bearer ${token[1]}` };
  const list = await api('GET', '/api/newsroom/articles');
  assert.equal(list.status, 200, JSON.stringify(list.json));
  articles = new Map(list.json.articles.map((a) => [a.slug, a]));
  for (const slug of [BREAKING_SLUG, MARKER_SLUG, LIVE_SLUG]) assert.ok(articles.has(slug), slug);
  await launch();
}, { timeout: SETUP_TIMEOUT_MS });

after(async () => {
  await closeBrowser();
  try {
    await stopServe(site);  // insists on a clean exit: a crash at shutdown fails the suite
  } finally {
    await removeDir(root);
  }
});

// ------------------------------------------------------------------ the flow

describe('an alert from the newsroom to a real Firefox and back', { timeout: FLOW_TIMEOUT_MS }, () => {
  test('1. the opt-in card subscribes with the server key and stores the chosen categories',
    { timeout: TEST_TIMEOUT_MS }, async () => {
      const articleUrl = `${site.url}/articles/${BREAKING_SLUG}`;
      await page.goto(articleUrl, { waitUntil: 'load', timeout: STEP_TIMEOUT_MS });
      await page.waitForSelector('[data-optin]:not([hidden])', { timeout: STEP_TIMEOUT_MS });
      const boxes = () => page.$$eval('[data-optin] input[name="category"]',
        (inputs) => Object.fromEntries(inputs.map((i) => [i.value, i.checked])));
      assert.deepEqual(await boxes(), { breaking: true, live: true, exclusive: true }, 'all checked at first');
      await page.click('#optin-exclusive');
      assert.deepEqual(await boxes(), { breaking: true, live: true, exclusive: false });
      await page.click('[data-optin-enable]');

      const status = () => page.$eval('[data-optin] [data-status]', (e) => e.textContent);
      let said = '';
      await pollUntil(async () => (said = await status()).startsWith('Notifications are on'), {
        timeoutMs: STEP_TIMEOUT_MS, what: 'the card saying notifications are on',
        describe: async () => JSON.stringify(said) + serveLog(),
      });
      assert.match(said, /^Notifications are on for breaking news and live events\./);

      // The browser subscribed on our push service with the site's VAPID key...
      const vapid = await (await fetch(`${site.url}/api/vapid-public-key`)).json();
      const browserSide = await page.evaluate(async () => {
        const registration = await navigator.serviceWorker.ready;
        const sub = await registration.pushManager.getSubscription();
        const key = new Uint8Array(sub.options.applicationServerKey);
        const b64u = btoa(String.fromCharCode(...key)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
        return { json: sub.toJSON(), key: b64u };
      });
      subscription = browserSide.json;
      assert.ok(subscription.endpoint.startsWith(`${pushOrigin}/wpush/`),
        `endpoint ${subscription.endpoint} should be on the embedded push service ${pushOrigin}`);
      assert.equal(browserSide.key, vapid.publicKey, 'subscribed with the server\'s VAPID key');
      // ...and the site stored it with the chosen categories.
      const audience = await api('GET', '/api/newsroom/audience');
      assert.equal(audience.status, 200, JSON.stringify(audience.json));
      assert.deepEqual(audience.json, { breaking: 1, live: 1, exclusive: 0 });
    });

  test('2. an alert composed and confirmed in the newsroom is shown by the service worker',
    { timeout: TEST_TIMEOUT_MS }, async () => {
      assert.ok(subscription, 'needs step 1');
      const article = articles.get(BREAKING_SLUG);
      alertId = await composeAndSend({ article_id: article.id });
      const tag = `alert-${alertId}`;
      const shown = (await waitForNotifications([tag])).filter((n) => n.tag === tag);
      assert.equal(shown.length, 1, 'shown once');
      const [n] = shown;
      assert.equal(n.title, article.headline);
      assert.equal(n.body, article.standfirst);
      assert.equal(n.data.url, `${site.url}/articles/${BREAKING_SLUG}?n=${alertId}`);
      assert.equal(n.data.id, alertId);
    });

  test('3. the received and displayed beacons are counted and the delivery is sent',
    { timeout: TEST_TIMEOUT_MS }, async () => {
      assert.ok(alertId, 'needs step 2');
      const alert = await waitForAlert(alertId, (a) => a.status === 'sent' &&
        a.engagement.received >= 1 && a.engagement.displayed >= 1, 'sent, received and displayed');
      assert.equal(alert.delivery.sent, 1);
      assert.equal(alert.delivery.failed, 0);
      assert.equal(alert.engagement.received, 1);
      assert.equal(alert.engagement.displayed, 1);
      assert.equal(alert.engagement.clicked, 0);
      // A real delivery gives the alert a time to device: the "received" beacon timed by the
      // server on arrival, against the send start. Its value depends on the machine; its
      // presence and the funnel's counts do not.
      assert.ok(alert.time_to_device.p50_ms >= 0, `time to device ${JSON.stringify(alert.time_to_device)}`);
      assert.equal(alert.time_to_device.devices, 1);
      assert.equal(alert.funnel.received, 1);
      assert.equal(alert.funnel.accepted, 1);
      assert.equal(alert.by_service.own.received, 1, 'Firefox subscribed through our own push service');
      // Step 1's opt-in, as site.js reported it for the newsroom's opt-in funnel.
      const funnel = await pollUntil(async () => {
        const r = await api('GET', '/api/newsroom/optin?days=2');
        return r.json.totals.subscribed >= 1 ? r.json : null;
      }, { timeoutMs: STEP_TIMEOUT_MS, what: 'the opt-in beacons counted' });
      const article = funnel.days.find((row) => row.page === 'article' && row.category === 'breaking');
      assert.ok(article, JSON.stringify(funnel.days));
      assert.deepEqual([article.shown >= 1, article.clicked, article.granted, article.denied, article.subscribed],
        [true, 1, 1, 0, 1]);
    });

  test('4. clicking the notification opens the article with ?n=<id> and sends the click beacon',
    { timeout: TEST_TIMEOUT_MS }, async () => {
      assert.ok(alertId, 'needs step 2');
      const article = articles.get(BREAKING_SLUG);
      const target = `${site.url}/articles/${BREAKING_SLUG}?n=${alertId}`;
      // Firefox's alert window for it, and the pointer over it (keeps it from fading out).
      const context = await pollUntil(() => alertWindow(article.headline), {
        timeoutMs: STEP_TIMEOUT_MS, what: 'Firefox\'s alert window for the notification',
      });
      const hovered = JSON.parse(await chromeEvaluate(context, mouseScript(['mousemove'])));
      assert.equal(hovered.hover, true, 'the pointer is over the alert');
      // Leave the article, so the worker has no tab to focus and must open one.
      await page.goto(`${site.url}/`, { waitUntil: 'load', timeout: STEP_TIMEOUT_MS });
      const opened = browser.waitForTarget((t) => t.url() === target, { timeout: STEP_TIMEOUT_MS });
      const clicked = JSON.parse(await chromeEvaluate(context, mouseScript(['mousedown', 'mouseup'])));
      assert.equal(clicked.clicked, 'true', 'the alert window took the click');
      const tab = await (await opened).page();
      assert.ok(tab, 'a tab with the article');
      await pollUntil(() => tab.evaluate(() => document.readyState === 'complete').catch(() => false), {
        timeoutMs: STEP_TIMEOUT_MS, what: 'the opened article loading',
      });
      assert.equal(await tab.$eval('h1', (h) => h.textContent.trim()), article.headline);

      const alert = await waitForAlert(alertId, (a) => a.engagement.clicked >= 1, 'clicked');
      assert.equal(alert.engagement.clicked, 1);
      // The worker closes the clicked notification; that is not the reader dismissing it.
      await pollUntil(async () => !(await shownNotifications()).some((n) => n.tag === `alert-${alertId}`), {
        timeoutMs: STEP_TIMEOUT_MS, what: 'the clicked notification closing',
      });
      // Firefox reports the close once its alert window is gone. Then a marker: one more alert,
      // shown after the click was handled. The worker takes its events in order, so a
      // "dismissed" beacon for the clicked alert, had one been sent, comes before the marker's
      // "displayed" one.
      await pollUntil(async () => (await alertWindow(article.headline)) === null, {
        timeoutMs: STEP_TIMEOUT_MS, what: 'the alert window closing after the click',
      });
      const marker = await composeAndSend({ article_id: articles.get(MARKER_SLUG).id, title: 'Marker after the click' });
      await waitForAlert(marker, (a) => a.engagement.displayed === 1, 'the marker alert displayed');
      assert.equal((await getAlert(alertId)).engagement.dismissed, 0, 'a click is not a dismissal');
    });

  test('5. two alerts of one live event sent while Firefox is closed: only the newer is shown',
    { timeout: RELAUNCH_TEST_TIMEOUT_MS }, async () => {
      assert.ok(subscription, 'needs step 1');
      const live = articles.get(LIVE_SLUG);
      await closeBrowser();

      // One live event, so one topic (live-<article id> by default); each alert links to its own
      // update, as the live desk's do (the same link twice within 10 minutes is refused).
      const older = await composeAndSend({ article_id: live.id, title: 'Live: turnout at 41% by noon',
        url: `/live/${LIVE_SLUG}#turnout-noon` });
      await waitForAlert(older, (a) => a.status === 'sent' && a.delivery.sent === 1, 'stored by the push service');
      const newer = await composeAndSend({ article_id: live.id, title: 'Live: first district declares',
        url: `/live/${LIVE_SLUG}#first-district` });
      await waitForAlert(newer, (a) => a.status === 'sent' && a.delivery.sent === 1, 'stored by the push service');
      // A later alert without a topic: once it is shown, the older one has had its chance.
      // The same story as an earlier step's alert: sent again on purpose (force overrides the
      // duplicate guard, audited).
      const marker = await composeAndSend({ article_id: articles.get(MARKER_SLUG).id, force: true });
      await waitForAlert(marker, (a) => a.status === 'sent' && a.delivery.sent === 1, 'stored by the push service');
      const topics = await Promise.all([older, newer, marker].map(async (id) => (await getAlert(id)).topic));
      assert.deepEqual(topics, [`live-${live.id}`, `live-${live.id}`, '']);

      await launch();
      await page.goto(`${site.url}/`, { waitUntil: 'load', timeout: STEP_TIMEOUT_MS });
      // A live event's alerts carry its topic as their notification tag, so the device keeps one.
      const liveTag = `live-${live.id}`;
      const shown = await waitForNotifications([liveTag, `alert-${marker}`]);
      assert.equal(shown.find((n) => n.tag === liveTag).title, 'Live: first district declares');
      const deadline = Date.now() + ABSENCE_WINDOW_MS;
      do {
        const now = await shownNotifications();
        const titles = now.filter((n) => n.tag === liveTag).map((n) => n.title);
        assert.deepEqual(titles, ['Live: first district declares'],
          `only the newer alert of the topic is shown; shown ${JSON.stringify(now.map((n) => n.tag))}`);
        await new Promise((resolve) => setTimeout(resolve, 150));
      } while (Date.now() < deadline);
      await waitForAlert(newer, (a) => a.engagement.received === 1 && a.engagement.displayed === 1, 'received once');
      const replaced = await getAlert(older);
      assert.deepEqual({ received: replaced.engagement.received, displayed: replaced.engagement.displayed },
        { received: 0, displayed: 0 }, 'the replaced alert never reached the browser');
    });

  test('6. an editor subscribes this browser in /newsroom and sends a test to it',
    { timeout: TEST_TIMEOUT_MS }, async () => {
      assert.ok(subscription, 'needs step 1');
      const title = 'Harbour reopens to ferries this evening';
      await page.goto(`${site.url}/newsroom`, { waitUntil: 'load', timeout: STEP_TIMEOUT_MS });
      await page.waitForSelector('#nr-signin-token', { visible: true });
      await page.type('#nr-signin-token', editor.Authorization.slice('Bearer '.length));
      await page.keyboard.press('Enter');
      await page.waitForSelector('[data-nr-test-subscribe]', { visible: true });
      const testStatus = (selector) => page.$eval(selector, (e) => e.textContent).catch(() => '');
      let said = '';
      await pollUntil(async () => /^No browser gets your test alerts yet/.test(said = await testStatus('[data-nr-test-status]')), {
        timeoutMs: STEP_TIMEOUT_MS, what: 'no test subscription at first', describe: async () => JSON.stringify(said),
      });
      await page.click('[data-nr-test-subscribe]');
      await pollUntil(async () => /^Test alerts go to your browser via this site’s push service/.test(said = await testStatus('[data-nr-test-status]')), {
        timeoutMs: STEP_TIMEOUT_MS, what: 'the test subscription stored', describe: async () => JSON.stringify(said) + serveLog(),
      });

      // Compose in the form; the confirm step offers the test beside the preview.
      await page.$eval('[data-nr-alert-form]', (form, t) => {
        form.elements.title.value = t;
        form.elements.body.value = 'Crossings resume at six.';
        form.elements.url.value = '/';
        form.elements.category.value = 'breaking';
      }, title);
      await page.$eval('[data-nr-compose]', (b) => b.click());
      await page.waitForSelector('[data-nr-test-send]', { visible: true });
      await page.click('[data-nr-test-send]');
      await pollUntil(async () => /^Test sent: this site’s push service accepted it \(201\)/.test(said = await testStatus('[data-nr-test-send-status]')), {
        timeoutMs: STEP_TIMEOUT_MS, what: 'the test sent', describe: async () => JSON.stringify(said) + serveLog(),
      });
      const draft = (await api('GET', '/api/newsroom/alerts')).json.alerts.find((a) => a.title === title);
      assert.ok(draft, 'the composed draft');
      const shown = (await waitForNotifications([`test-${draft.id}`])).find((n) => n.tag === `test-${draft.id}`);
      assert.equal(shown.title, `Test · ${title}`);
      assert.equal(shown.body, 'Crossings resume at six.');
      assert.equal(shown.data.test, true);
      assert.equal(shown.data.url, `${site.url}/`, 'no n= marker: a click on a test is not counted');
      // The worker sends no beacon for a test: the draft's figures stay 0 while a marker alert
      // sent after it is received (the worker takes its pushes in order).
      const marker = await composeAndSend({ article_id: articles.get(BREAKING_SLUG).id, title: 'Marker after the test', force: true });
      await waitForAlert(marker, (a) => a.engagement.displayed === 1, 'the marker alert displayed');
      const after = await getAlert(draft.id);
      assert.equal(after.status, 'draft');
      assert.deepEqual(after.engagement, { received: 0, displayed: 0, clicked: 0, dismissed: 0 });
      const audit = (await api('GET', '/api/newsroom/audit')).json.entries;
      assert.ok(audit.some((e) => e.action === 'alert.test' && e.detail === `#${draft.id} via own, sent (201)`),
        JSON.stringify(audit.slice(0, 5)));
    });
});
