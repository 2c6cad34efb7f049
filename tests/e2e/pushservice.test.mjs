// End-to-end tests of Flashwire's own RFC 8030 push service with a real browser: a headless
// Firefox ESR subscribes through the standard Push API to `flashwire push-service` (Firefox's
// WebSocket protocol), and messages encrypted (RFC 8291) and VAPID-signed (RFC 8292) by
// `flashwire webpush send` are decrypted by Firefox and handed to a service worker.
//
// Run from the repository root:  node --test tests/e2e/
// Needs /usr/bin/firefox-esr and node_modules (scripts/install-deps.sh) and a built flashwire
// ($FLASHWIRE_BIN, or build/src/app/flashwire). Loopback only. FLASHWIRE_E2E_DEBUG=1 shows
// Firefox's push logging and the push service's stderr.

import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { flashwire, flashwireOk, unb64u } from '../support/flashwire_cli.mjs';
import {
  launchFirefox, closeFirefox, openPushPage, startOriginServer, startPushService,
  makeTempDir, removeDir, pollUntil,
} from './support/firefox.mjs';

const TEST_TIMEOUT_MS = 30000;
const ARRIVAL_TIMEOUT_MS = 10000;
// How long a message that must not arrive is watched for after a later message has arrived.
// The service worker stores pushes in the order Firefox dispatched them, so the later message's
// arrival already shows the earlier one had its chance; the window covers Firefox decrypting
// messages concurrently.
const ABSENCE_WINDOW_MS = 1000;
const VAPID_SUBJECT = 'mailto:e2e@flashwire.test';

let service;        // the running `flashwire push-service`
let origin;         // the static origin serving push-page.html and push-sw.js
let dataDir;        // the push service's --data DIR
let vapid;          // the application server's key pair {publicKey, privateKey}
const profileDirs = [];
const liveBrowsers = new Set();

// ------------------------------------------------------------------ helpers

const unique = (label) => `${label} ${crypto.randomBytes(6).toString('hex')}`;

function serviceLogTail() {
  const logs = service ? service.logs().trim() : '';
  return logs ? `\n--- push-service stderr (tail) ---\n${logs.slice(-3000)}` : '';
}

// A Firefox on its own fresh profile, showing push-page.html; relaunch() closes it and starts
// it again on the same profile (same origin, same push service).
async function newSession() {
  const profileDir = await makeTempDir('flashwire-e2e-profile-');
  profileDirs.push(profileDir);
  const session = {
    profileDir,
    browser: null,
    page: null,
    async launch() {
      this.browser = await launchFirefox({ profileDir, pushServerURL: service.websocket });
      liveBrowsers.add(this.browser);
      this.page = await openPushPage(this.browser, origin.url, vapid.publicKey);
    },
    async close() {
      const b = this.browser;
      this.browser = null;
      this.page = null;
      liveBrowsers.delete(b);
      await closeFirefox(b);
    },
    async relaunch() {
      await this.close();
      await this.launch();
    },
    evaluate(fn) {
      return this.page.evaluate(fn);
    },
  };
  await session.launch();
  return session;
}

// `flashwire webpush send` to a subscription ({endpoint, keys:{p256dh, auth}}, as toJSON()
// gives it). Returns the exit status, the parsed JSON line and stderr.
function sendPush(sub, text, { ttl, urgency, topic, vapidPrivate = vapid.privateKey } = {}) {
  const args = [
    'webpush', 'send',
    '--endpoint', sub.endpoint,
    '--p256dh', sub.keys.p256dh,
    '--auth', sub.keys.auth,
    '--vapid-private', vapidPrivate,
    '--vapid-sub', VAPID_SUBJECT,
  ];
  if (ttl !== undefined) args.push('--ttl', String(ttl));
  if (urgency !== undefined) args.push('--urgency', urgency);
  if (topic !== undefined) args.push('--topic', topic);
  const r = flashwire(args, Buffer.from(text, 'utf8'));
  const out = r.stdout.toString('utf8');
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  let json = null;
  try {
    json = lines.length === 1 ? JSON.parse(lines[0]) : null;
  } catch {
    json = null;
  }
  assert.ok(json && typeof json.status === 'number',
    `webpush send should print one JSON line with a numeric status; got exit ${r.status}, ` +
    `stdout ${JSON.stringify(out)}, stderr ${JSON.stringify(r.stderr)}${serviceLogTail()}`);
  return { exit: r.status, json, stderr: r.stderr };
}

// Sends and insists the push service accepted the message (201 Created, RFC 8030 section 5).
function sendAccepted(sub, text, options) {
  const r = sendPush(sub, text, options);
  assert.equal(r.json.status, 201,
    `push service should answer 201 to a valid message; got ${JSON.stringify(r.json)}, ` +
    `stderr ${JSON.stringify(r.stderr)}${serviceLogTail()}`);
  assert.equal(r.exit, 0, `webpush send should exit 0 on 201 (stderr ${JSON.stringify(r.stderr)})`);
  assert.equal(typeof r.json.location, 'string', 'a 201 carries the message Location');
  assert.ok(r.json.location.length > 0, 'a 201 carries the message Location');
  return r;
}

async function receivedMessages(session) {
  return session.evaluate(() => window.e2e.messages());
}

// Waits until the service worker has stored every text in `texts`; returns all messages.
async function waitForTexts(session, texts, timeoutMs = ARRIVAL_TIMEOUT_MS) {
  let last = [];
  await pollUntil(async () => {
    last = await receivedMessages(session);
    const seen = new Set(last.map((m) => m.text));
    return texts.every((t) => seen.has(t));
  }, {
    timeoutMs,
    what: `arrival of ${JSON.stringify(texts)}`,
    describe: async () => JSON.stringify(last.map((m) => m.text)) + serviceLogTail(),
  });
  return last;
}

const countText = (messages, text) => messages.filter((m) => m.text === text).length;

// Keeps reading the stored messages for windowMs and fails as soon as `text` shows up.
async function assertNeverArrives(session, text, why, windowMs = ABSENCE_WINDOW_MS) {
  const deadline = Date.now() + windowMs;
  let messages;
  do {
    messages = await receivedMessages(session);
    assert.equal(countText(messages, text), 0,
      `${why}; received ${JSON.stringify(messages.map((m) => m.text))}${serviceLogTail()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  } while (Date.now() < deadline);
  return messages;
}

async function subscribe(session) {
  const sub = await session.evaluate(() => window.e2e.subscribe());
  assert.equal(typeof sub.endpoint, 'string');
  return sub;
}

// ------------------------------------------------------------------ lifecycle

before(async () => {
  vapid = JSON.parse(flashwireOk(['vapid', 'generate']).toString('utf8'));
  dataDir = await makeTempDir('flashwire-e2e-data-');
  service = await startPushService({ dataDir });
  origin = await startOriginServer();
});

afterEach(async () => {
  for (const b of [...liveBrowsers]) {
    liveBrowsers.delete(b);
    await closeFirefox(b);
  }
});

after(async () => {
  for (const b of [...liveBrowsers]) {
    liveBrowsers.delete(b);
    await closeFirefox(b);
  }
  if (origin) await origin.close();
  let exit = null;
  if (service) exit = await service.stop();
  for (const dir of profileDirs) await removeDir(dir);
  await removeDir(dataDir);
  if (exit) {
    assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null },
      `push-service should exit cleanly (status 0) on SIGTERM${serviceLogTail()}`);
  }
});

// ------------------------------------------------------------------ scenarios

describe('Firefox against flashwire push-service', () => {
  test('subscribing with an applicationServerKey yields an endpoint under endpoint_base',
    { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await newSession();
      const sub = await subscribe(s);
      assert.ok(sub.endpoint.startsWith(service.endpointBase),
        `endpoint ${sub.endpoint} should start with ${service.endpointBase}`);
      assert.ok(sub.endpoint.length > service.endpointBase.length, 'the endpoint carries a token');
      assert.equal(unb64u(sub.keys.p256dh).length, 65, 'p256dh is an uncompressed P-256 point');
      assert.equal(unb64u(sub.keys.auth).length, 16, 'auth is a 16-byte secret');
      // The browser keeps it: asking again gives the same endpoint.
      const again = await s.evaluate(() => window.e2e.subscription());
      assert.equal(again && again.endpoint, sub.endpoint);
    });

  test('a message encrypted and VAPID-signed by flashwire webpush send is decrypted in the service worker',
    { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await newSession();
      const sub = await subscribe(s);
      const short = unique('Breaking: Flashwire e2e — grüße, 東京, ✓');
      // A long one spans the record size Firefox must handle (plaintext limit is 3993 bytes).
      const long = unique('L') + ' ' + 'x'.repeat(3000);
      sendAccepted(sub, short, { urgency: 'high' });
      sendAccepted(sub, long);
      const messages = await waitForTexts(s, [short, long]);
      assert.equal(countText(messages, short), 1, 'delivered exactly once');
      assert.equal(countText(messages, long), 1, 'delivered exactly once');
      for (const m of messages) {
        assert.equal(m.dataError, null);
        assert.equal(m.notification, 'shown', 'showNotification succeeded in the service worker');
      }
    });

  test('while Firefox is closed a TTL 600 message is kept and delivered on relaunch; a TTL 0 one is not',
    { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await newSession();
      const sub = await subscribe(s);
      await s.close();

      const expired = unique('ttl 0, must never arrive');
      const kept = unique('ttl 600, must arrive');
      sendAccepted(sub, expired, { ttl: 0 });
      sendAccepted(sub, kept, { ttl: 600 });

      await s.relaunch();
      const messages = await waitForTexts(s, [kept]);
      assert.equal(countText(messages, kept), 1, 'the stored message arrives exactly once');
      await assertNeverArrives(s, expired, 'a TTL 0 message for an absent browser must be dropped');
    });

  test('two messages with the same Topic sent while Firefox is closed: only the newer arrives',
    { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await newSession();
      const sub = await subscribe(s);
      await s.close();

      const topic = 'flashwire-e2e-topic';
      const older = unique('topic, older, replaced');
      const newer = unique('topic, newer');
      // A later message without a topic: once it is in, the older one had its chance.
      const marker = unique('no topic, marker');
      sendAccepted(sub, older, { ttl: 600, topic });
      sendAccepted(sub, newer, { ttl: 600, topic });
      sendAccepted(sub, marker, { ttl: 600 });

      await s.relaunch();
      const messages = await waitForTexts(s, [newer, marker]);
      assert.equal(countText(messages, newer), 1);
      assert.equal(countText(messages, marker), 1);
      await assertNeverArrives(s, older, 'a message replaced by a newer one with the same Topic must not arrive');
    });

  test('after unsubscribe() the old endpoint answers 410 Gone',
    { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await newSession();
      const sub = await subscribe(s);
      // The endpoint works before...
      const before = unique('before unsubscribe');
      sendAccepted(sub, before);
      await waitForTexts(s, [before]);
      // ...and is gone once Firefox has unsubscribed (unsubscribe() resolves only after the
      // service has answered Firefox's "unregister").
      const removed = await s.evaluate(() => window.e2e.unsubscribe());
      assert.equal(removed, true, 'unsubscribe() resolves true');
      assert.equal(await s.evaluate(() => window.e2e.subscription()), null);
      const r = sendPush(sub, unique('after unsubscribe'));
      assert.equal(r.json.status, 410,
        `sending to an unsubscribed endpoint should give 410; got ${JSON.stringify(r.json)}${serviceLogTail()}`);
      assert.equal(r.exit, 1, 'webpush send exits 1 on a non-2xx status');
    });

  test('a message signed with a VAPID key other than the applicationServerKey is refused and not delivered',
    { timeout: TEST_TIMEOUT_MS }, async () => {
      const s = await newSession();
      const sub = await subscribe(s);
      const intruder = JSON.parse(flashwireOk(['vapid', 'generate']).toString('utf8'));
      const forged = unique('signed with the wrong key');
      const r = sendPush(sub, forged, { vapidPrivate: intruder.privateKey });
      assert.ok(r.json.status === 401 || r.json.status === 403,
        `a VAPID key mismatch should be refused with 401 or 403; got ${JSON.stringify(r.json)}${serviceLogTail()}`);
      assert.equal(r.exit, 1, 'webpush send exits 1 on a non-2xx status');
      // A genuine message sent afterwards arrives; the refused one never does.
      const genuine = unique('signed with the right key');
      sendAccepted(sub, genuine);
      await waitForTexts(s, [genuine]);
      await assertNeverArrives(s, forged, 'a refused message must not be delivered');
    });
});
