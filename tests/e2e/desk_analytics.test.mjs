// The newsroom's analytics in headless Chromium: an alert with beacons from two readers, its
// figures (time to device against the two-minute target, funnel, per push service) following
// a new beacon live over the alert's event stream, the opt-in funnel and the audit log, on a
// desktop and a phone, with screenshots in $FLASHWIRE_E2E_ARTIFACTS. Strict CSP holds: no
// script errors, no CSP violations, nothing requested from another origin.
//
// Run from the repository root:  node --test tests/e2e/desk_analytics.test.mjs
// Needs /usr/bin/chromium, node_modules and a built flashwire. Loopback only.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { startServe } from '../support/flashwire_serve.mjs';
import { b64u } from '../support/flashwire_cli.mjs';
import {
  launchChromium, closeChromium, artifactsDir, pngInfo, makeTempDir, removeDir, withTimeout,
} from './support/chromium.mjs';

// Bounds: set-up 40 s, each test 40 s (ctest allows 180 s); a normal run takes about 15 s.
const SETUP_TIMEOUT_MS = 40000;
const TEST_TIMEOUT_MS = 40000;
const STEP_TIMEOUT_MS = 15000;
const TOKEN_KEY = 'flashwire.newsroom.token';
const DESKTOP = { width: 1280, height: 900, deviceScaleFactor: 1 };
const PHONE = { width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

function fakeSubscription(endpoint) {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return { endpoint, expirationTime: null, keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(crypto.randomBytes(16)) } };
}

describe('newsroom analytics in Chromium', { timeout: SETUP_TIMEOUT_MS + 3 * TEST_TIMEOUT_MS }, () => {
  let dataDir;
  let profileDir;
  let server;
  let browser;
  let token;
  let shots;
  let alertId;
  const readers = [];

  async function api(method, pathname, body, headers = {}) {
    const response = await withTimeout(fetch(server.url + pathname, {
      method,
      headers: { 'Content-Type': 'application/json', Origin: server.url, ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    }), STEP_TIMEOUT_MS, `${method} ${pathname}`);
    const text = await response.text();
    return { status: response.status, json: text && /json/.test(response.headers.get('content-type')) ? JSON.parse(text) : null };
  }
  const editor = () => ({ Authorization: `Bearer ${token}` });
  const beacon = (reader, event) => api('POST', '/api/events',
    { alert: alertId, event, endpoint: reader.endpoint, auth: reader.keys.auth });

  before(async () => {
    dataDir = await makeTempDir('flashwire-e2e-analytics-');
    profileDir = await makeTempDir('flashwire-e2e-analytics-chromium-');
    server = await startServe(dataDir);
    token = /editor token \(shown once, keep it safe\): (fw_[A-Za-z0-9_-]{43})\n/.exec(server.output)[1];
    shots = await artifactsDir();
    browser = await launchChromium({ userDataDir: profileDir });

    // Two readers (on FCM and Mozilla endpoints; the fan-out cannot reach those from here, the
    // beacons come from this test), one sent alert, and what the readers reported.
    for (const host of ['https://fcm.googleapis.com/fcm/send/', 'https://updates.push.services.mozilla.com/wpush/v2/']) {
      const reader = fakeSubscription(host + crypto.randomUUID());
      assert.equal((await api('POST', '/api/subscriptions', { subscription: reader, categories: ['breaking'] })).status, 201);
      readers.push(reader);
    }
    const composed = await api('POST', '/api/newsroom/alerts',
      { category: 'breaking', title: 'Harbour bridge closed', url: '/articles/harbour-bridge-closed-after-ship-strike' }, editor());
    assert.equal(composed.status, 201);
    alertId = composed.json.id;
    assert.equal((await api('POST', `/api/newsroom/alerts/${alertId}/send`, { confirm: true }, editor())).status, 202);
    for (const [reader, event] of [[readers[0], 'received'], [readers[0], 'displayed'], [readers[0], 'clicked'], [readers[1], 'received']]) {
      assert.equal((await beacon(reader, event)).status, 204, event);
    }
    for (const step of ['shown', 'shown', 'clicked', 'granted', 'subscribed']) {
      assert.equal((await api('POST', '/api/optin', { step, category: 'breaking', page: 'article' })).status, 204);
    }
  }, { timeout: SETUP_TIMEOUT_MS });

  after(async () => {
    await closeChromium(browser);
    if (server) await server.stop();
    await removeDir(dataDir);
    await removeDir(profileDir);
  });

  // The newsroom, signed in with the token kept in the tab (as after a reload), recording
  // problems and every URL requested.
  async function openNewsroom(t, viewport) {
    const context = await browser.createBrowserContext();
    t.after(() => withTimeout(context.close(), 5000, 'closing a browser context').catch(() => {}));
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    const problems = [];
    const requests = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
    page.on('request', (r) => requests.push(r.url()));
    await page.evaluateOnNewDocument((key, secret) => {
      if (location.pathname === '/newsroom') sessionStorage.setItem(key, secret);
    }, TOKEN_KEY, token);
    await page.setViewport(viewport);
    const response = await page.goto(`${server.url}/newsroom`, { waitUntil: 'load' });
    assert.equal(response.status(), 200);
    try {
      await page.waitForSelector('[data-nr-analytics]', { visible: true });
      await page.waitForSelector('[data-nr-target]');
    } catch (error) {
      const status = await page.$eval('[data-nr-analytics-status]', (p) => p.textContent).catch(() => '(no section)');
      throw new Error(`${error.message}; analytics status: ${status}; problems: ${problems.join(' | ')}`);
    }
    return { page, problems, requests };
  }

  function assertClean({ problems, requests }) {
    assert.deepEqual(problems, [], 'no script errors and no CSP violations');
    // data: URLs are no requests to anyone (Chromium draws the date picker's icon from one).
    assert.deepEqual(requests.filter((u) => !u.startsWith('data:') && !u.startsWith(server.url + '/')), [],
      'nothing from other origins');
    assert.ok(!requests.some((u) => u.includes(token)), 'the token is never in a URL');
  }

  async function shot(t, handle, name) {
    const file = path.join(shots, `${name}.png`);
    await handle.screenshot({ path: file });
    const png = pngInfo(await fsp.readFile(file));
    assert.ok(png.bytes > 10 * 1024, `${name}.png is only ${png.bytes} bytes: a blank picture?`);
    t.diagnostic(`screenshot ${file} (${png.width}×${png.height}, ${png.bytes} bytes)`);
  }

  const cellOf = (page, caption, row) => page.evaluate((c, r) => {
    const table = [...document.querySelectorAll('[data-nr-analytics] table')].find((x) => x.caption.textContent === c);
    const line = table && [...table.tBodies[0].rows].find((x) => x.cells[0].textContent === r);
    return line ? [...line.cells].slice(1).map((cell) => cell.textContent) : null;
  }, caption, row);

  test('an alert’s figures, live as a new beacon arrives, on a desktop', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const session = await openNewsroom(t, DESKTOP);
    const { page } = session;
    assert.equal(await page.$eval('[data-nr-analytics-alert]', (s) => s.value), String(alertId));
    const target = await page.$eval('[data-nr-target]', (p) => p.textContent);
    assert.match(target, /^Target (met|not met): [\d.]+ % of 2 devices within 2 minutes/);
    assert.deepEqual(await cellOf(page, 'Funnel', 'Received'), ['2']);
    assert.deepEqual(await cellOf(page, 'Funnel', 'Clicked'), ['1']);
    // Targeted and accepted (the first two) follow the fan-out, which may still be trying.
    assert.deepEqual((await cellOf(page, 'By push service', 'FCM (Chrome)')).slice(2), ['1', '1', '1']);
    assert.deepEqual((await cellOf(page, 'By push service', 'Mozilla')).slice(2), ['1', '0', '0']);
    assert.equal((await cellOf(page, 'By push service', 'Own service')).length, 5, 'targeted, accepted, received, displayed, clicked');
    assert.equal(await page.$$eval('[data-nr-analytics] svg.nr-chart', (s) => s.length), 3, 'funnel, time to device, accept latency');

    // The second reader's notification is shown: the page follows without a reload.
    assert.equal((await beacon(readers[1], 'displayed')).status, 204);
    await page.waitForFunction(() => {
      const table = [...document.querySelectorAll('[data-nr-analytics] table')].find((x) => x.caption.textContent === 'Funnel');
      return [...table.tBodies[0].rows].some((r) => r.cells[0].textContent === 'Displayed' && r.cells[1].textContent === '2');
    }, { timeout: STEP_TIMEOUT_MS });
    assert.ok(session.requests.some((u) => u.endsWith(`/api/newsroom/alerts/${alertId}/events`)), 'figures come over the alert stream');

    const optin = await page.$('[data-nr-optin]');
    await page.waitForFunction(() => document.querySelector('[data-nr-optin-body] table'));
    const optinRow = await page.$eval('[data-nr-optin-body] table tbody tr', (r) => [...r.cells].map((c) => c.textContent));
    assert.deepEqual(optinRow, ['breaking · article', '2', '1', '1', '0', '1', '0']);

    await shot(t, await page.$('[data-nr-analytics]'), 'desk-analytics-desktop');
    await shot(t, optin, 'desk-optin-desktop');
    assertClean(session);
  });

  test('the audit log, paged, for a token with tokens:admin', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const session = await openNewsroom(t, DESKTOP);
    const { page } = session;
    await page.waitForSelector('[data-nr-audit]', { visible: true });
    await page.waitForSelector('[data-nr-audit-body] table tbody tr');
    const actions = await page.$$eval('[data-nr-audit-body] tbody tr', (rows) => rows.map((r) => r.cells[2].textContent));
    assert.ok(actions.includes('alert.send'), actions.join(', '));
    assert.equal(await page.$eval('[data-nr-audit-page]', (s) => s.textContent), 'Page 1 of 1');
    assert.equal(await page.$eval('[data-nr-audit-newer]', (b) => b.disabled), true);
    await shot(t, await page.$('[data-nr-audit]'), 'desk-audit-desktop');
    assertClean(session);
  });

  test('on a phone: one column, no sideways scrolling', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const session = await openNewsroom(t, PHONE);
    const { page } = session;
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
    await shot(t, await page.$('[data-nr-analytics]'), 'desk-analytics-phone');
    assertClean(session);
  });
});
