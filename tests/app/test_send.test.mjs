// Test sends through `flashwire serve` over real loopback sockets, with a real SQLite data
// directory and a push-service stand-in on loopback (tests/support/push_receiver.mjs): the
// editor's own subscription (PUT/GET/DELETE /api/newsroom/me/subscription) and every answer of
// POST /api/newsroom/alerts/{id}/test — sent, no subscription, gone, push failure, rate limit —
// and that a test never reaches a reader nor counts in an alert's figures.
//
// Run from the repository root:  node --test tests/app/test_send.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { flashwireOk } from '../support/flashwire_cli.mjs';
import { startServe, stopServe } from '../support/flashwire_serve.mjs';
import { startPushReceiver, makeSubscribers, decryptFor } from '../support/push_receiver.mjs';

const TOKEN = /editor token \(shown once, keep it safe\): (fw_[A-Za-z0-9_-]{43})\n/;

async function api(server, token, method, pathname, body) {
  const response = await fetch(server.url + pathname, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30000),
  });
  const text = await response.text();
  return { status: response.status, text, json: text ? JSON.parse(text) : null, headers: response.headers };
}

const asSubscription = (sub) => ({ endpoint: sub.endpoint, expirationTime: null, keys: { p256dh: sub.p256dh, auth: sub.auth } });

describe('test sends through serve', () => {
  let dir;
  let server;
  let receiver;
  let token; // the first editor token (every scope)
  let other; // a second editor (alerts:send)
  let articlesOnly; // no alerts:send
  let editor; // the first editor's browser
  let reader; // a reader of breaking news
  let titles = 0;

  const compose = async (fields = {}) => {
    titles += 1;
    const composed = await api(server, token, 'POST', '/api/newsroom/alerts',
      { category: 'breaking', title: `Test send ${titles}`, body: 'Text of the alert', url: '/', ...fields });
    assert.equal(composed.status, 201, composed.text);
    return composed.json.id;
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-testsend-'));
    const dataDir = path.join(dir, 'data');
    receiver = await startPushReceiver({ keepBodies: true });
    const config = path.join(dir, 'flashwire.toml');
    fs.writeFileSync(config, `push_hosts = [${JSON.stringify(receiver.origin)}]\n`);
    // serve makes the first token (every scope) only when there is none: the others come after.
    server = await startServe(dataDir, ['--config', config]);
    token = TOKEN.exec(server.output)[1];
    other = flashwireOk(['token', 'create', '--data', dataDir, '--name', 'desk-ben', '--scope', 'alerts:send']).toString().trim();
    articlesOnly = flashwireOk(['token', 'create', '--data', dataDir, '--name', 'desk-writer', '--scope', 'articles:write']).toString().trim();
    [editor, reader] = makeSubscribers(2, receiver.origin, { prefix: 'testsend-' });
    const subscribed = await fetch(server.url + '/api/subscriptions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: server.url },
      body: JSON.stringify({ subscription: asSubscription(reader), categories: ['breaking'] }),
    });
    assert.equal(subscribed.status, 201, await subscribed.text());
  }, { timeout: 30_000 });
  after(async () => {
    if (server) await stopServe(server);
    await receiver?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, { timeout: 15_000 });

  test('without a stored subscription: GET says so and a test is 409 no_test_subscription', { timeout: 20_000 }, async () => {
    const mine = await api(server, token, 'GET', '/api/newsroom/me/subscription');
    assert.equal(mine.status, 200);
    assert.deepEqual(mine.json, { subscribed: false });
    const id = await compose();
    const refused = await api(server, token, 'POST', `/api/newsroom/alerts/${id}/test`);
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.json.error, 'no_test_subscription');
    assert.equal((await api(server, token, 'POST', '/api/newsroom/alerts/999999/test')).status, 404);
    // The scope: a token that cannot send alerts can neither subscribe nor test.
    for (const [method, p] of [['GET', '/api/newsroom/me/subscription'], ['POST', `/api/newsroom/alerts/${id}/test`]]) {
      const denied = await api(server, articlesOnly, method, p);
      assert.equal(denied.status, 403, `${method} ${p}`);
      assert.equal(denied.json.error, 'insufficient_scope');
    }
    assert.equal(receiver.total(), 0);
  });

  test('a subscription is checked like a reader\'s; refusals store nothing and echo nothing', { timeout: 20_000 }, async () => {
    const [stranger] = makeSubscribers(1, 'http://127.0.0.9:9', { prefix: 'elsewhere-' });
    const cases = [
      ['a push host that is not allowed', { subscription: asSubscription(stranger) }, /^subscription: endpoint: /],
      ['no keys', { subscription: { endpoint: editor.endpoint } }, /^subscription: keys: missing/],
      ['a p256dh off the curve', { subscription: { endpoint: editor.endpoint, keys: { p256dh: 'B' + 'A'.repeat(86), auth: editor.auth } } }, /^subscription: keys\.p256dh/],
      ['a short auth', { subscription: { endpoint: editor.endpoint, keys: { p256dh: editor.p256dh, auth: 'AAAA' } } }, /^subscription: keys\.auth/],
      ['no subscription at all', {}, /^subscription: must be a PushSubscription object/],
    ];
    for (const [what, body, message] of cases) {
      const refused = await api(server, token, 'PUT', '/api/newsroom/me/subscription', body);
      assert.equal(refused.status, 400, what);
      assert.equal(refused.json.error, 'invalid_subscription', what);
      assert.match(refused.json.message, message, what);
      assert.ok(!refused.text.includes('127.0.0.9') && !refused.text.includes(editor.auth), `${what}: echoes nothing`);
    }
    const notJson = await api(server, token, 'PUT', '/api/newsroom/me/subscription');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json.error, 'invalid_json');
    assert.deepEqual((await api(server, token, 'GET', '/api/newsroom/me/subscription')).json, { subscribed: false });
  });

  test('stored against the token: GET names the push service, never the endpoint or keys; the audience is untouched', { timeout: 20_000 }, async () => {
    const audienceBefore = (await api(server, token, 'GET', '/api/newsroom/audience')).json;
    const stored = await api(server, token, 'PUT', '/api/newsroom/me/subscription', { subscription: asSubscription(editor) });
    assert.equal(stored.status, 200, stored.text);
    assert.equal(stored.json.subscribed, true);
    assert.equal(stored.json.push_service, 'other');
    const mine = await api(server, token, 'GET', '/api/newsroom/me/subscription');
    assert.equal(mine.status, 200);
    assert.equal(mine.json.subscribed, true);
    assert.equal(mine.json.push_service, 'other');
    for (const secret of [editor.endpoint, editor.path, editor.p256dh, editor.auth]) {
      assert.ok(!mine.text.includes(secret) && !stored.text.includes(secret), 'no endpoint or key in the answers');
    }
    // Another editor's token has none: subscriptions are per token.
    assert.deepEqual((await api(server, other, 'GET', '/api/newsroom/me/subscription')).json, { subscribed: false });
    // Never a reader: the audience counts are what they were.
    assert.deepEqual((await api(server, token, 'GET', '/api/newsroom/audience')).json, audienceBefore);
  });

  test('a test sends the alert as composed to the editor only, marked as a test; nothing counts', { timeout: 30_000 }, async () => {
    const id = await compose({ category: 'live', topic: 'storm-night' });
    const before = receiver.total();
    const sent = await api(server, token, 'POST', `/api/newsroom/alerts/${id}/test`);
    assert.equal(sent.status, 200, sent.text);
    assert.deepEqual(sent.json, { sent: true, push_service: 'other', status: 201 });
    assert.equal(receiver.total(), before + 1, 'one request');
    const request = receiver.requests.at(-1);
    assert.equal(request.path, editor.path, 'to the editor only');
    assert.equal(request.headers.topic, undefined, 'no Topic: a test never replaces a real alert at the push service');
    assert.match(request.headers.authorization, /^vapid t=/);
    const payload = JSON.parse(decryptFor(editor, request.body).toString());
    assert.equal(payload.test, true);
    assert.equal(payload.id, id);
    assert.equal(payload.title, `Test send ${titles}`);
    assert.equal(payload.body, 'Text of the alert');
    assert.equal(payload.url, '/');
    assert.equal(payload.tag, `test-${id}`);
    assert.equal(payload.renotify, undefined);
    assert.match(payload.icon, /\/assets\/icon\.svg$/);

    // Still a draft, with an empty funnel; the test is audited without the endpoint.
    const alert = (await api(server, token, 'GET', `/api/newsroom/alerts/${id}`)).json;
    assert.equal(alert.status, 'draft');
    assert.deepEqual(alert.engagement, { received: 0, displayed: 0, clicked: 0, dismissed: 0 });
    const audit = (await api(server, token, 'GET', '/api/newsroom/audit')).json.entries;
    const entry = audit.find((e) => e.action === 'alert.test');
    assert.ok(entry, JSON.stringify(audit.slice(0, 5)));
    assert.equal(entry.actor, 'editor');
    assert.equal(entry.detail, `#${id} via other, sent (201)`);
    assert.ok(audit.every((e) => !e.detail.includes(editor.path)));
  });

  test('any state will do: a sent alert is tested again, and its readers are not sent it twice', { timeout: 30_000 }, async () => {
    const id = await compose();
    const confirmed = await api(server, token, 'POST', `/api/newsroom/alerts/${id}/send`, { confirm: true });
    assert.equal(confirmed.status, 202, confirmed.text);
    await receiver.waitFor((r) => r.requests.some((q) => q.path === reader.path), 20000, 'the reader\'s alert');
    const forReader = receiver.count(reader.path);
    const editorBefore = receiver.count(editor.path);
    assert.equal((await api(server, token, 'POST', `/api/newsroom/alerts/${id}/test`)).status, 200);
    assert.equal(receiver.count(editor.path), editorBefore + 1);
    assert.equal(receiver.count(reader.path), forReader, 'no reader gets a test');
    assert.equal(receiver.requests.filter((q) => q.path === editor.path && q.headers.topic).length, 0);
  });

  test('a push-service failure is 502 push_failed with the reason; the subscription stays', { timeout: 20_000 }, async () => {
    const id = await compose();
    receiver.setRule(editor.path, { status: 400 });
    try {
      const failed = await api(server, token, 'POST', `/api/newsroom/alerts/${id}/test`);
      assert.equal(failed.status, 502, failed.text);
      assert.equal(failed.json.error, 'push_failed');
      assert.equal(failed.json.reason, 'http_400');
      assert.equal(failed.json.status, 400);
      assert.match(failed.json.message, /http_400/);
    } finally {
      receiver.clearRules();
    }
    assert.equal((await api(server, token, 'GET', '/api/newsroom/me/subscription')).json.subscribed, true);
  });

  test('a subscription the push service calls gone is deleted: 409 test_subscription_gone, then no_test_subscription', { timeout: 20_000 }, async () => {
    const id = await compose();
    receiver.setRule(editor.path, { status: 410 });
    try {
      const gone = await api(server, token, 'POST', `/api/newsroom/alerts/${id}/test`);
      assert.equal(gone.status, 409, gone.text);
      assert.equal(gone.json.error, 'test_subscription_gone');
      assert.equal(gone.json.status, 410);
    } finally {
      receiver.clearRules();
    }
    assert.deepEqual((await api(server, token, 'GET', '/api/newsroom/me/subscription')).json, { subscribed: false });
    assert.equal((await api(server, token, 'POST', `/api/newsroom/alerts/${id}/test`)).json.error, 'no_test_subscription');
    // DELETE after a new PUT: gone again.
    assert.equal((await api(server, token, 'PUT', '/api/newsroom/me/subscription', { subscription: asSubscription(editor) })).status, 200);
    const deleted = await api(server, token, 'DELETE', '/api/newsroom/me/subscription');
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.json, { subscribed: false, deleted: true });
    assert.deepEqual((await api(server, token, 'GET', '/api/newsroom/me/subscription')).json, { subscribed: false });
  });

  test('ten tests a minute per token: the eleventh is 429 with Retry-After; another token is not held up', { timeout: 30_000 }, async () => {
    const [benBrowser] = makeSubscribers(1, receiver.origin, { prefix: 'testsend-ben-' });
    assert.equal((await api(server, other, 'PUT', '/api/newsroom/me/subscription', { subscription: asSubscription(benBrowser) })).status, 200);
    const id = await compose();
    for (let i = 0; i < 10; ++i) {
      const sent = await api(server, other, 'POST', `/api/newsroom/alerts/${id}/test`);
      assert.equal(sent.status, 200, `test ${i + 1}: ${sent.text}`);
    }
    const limited = await api(server, other, 'POST', `/api/newsroom/alerts/${id}/test`);
    assert.equal(limited.status, 429, limited.text);
    assert.equal(limited.json.error, 'rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal(receiver.count(benBrowser.path), 10);
    // The first editor's own allowance is separate (it has no subscription now: 409, not 429).
    assert.equal((await api(server, token, 'POST', `/api/newsroom/alerts/${id}/test`)).status, 409);
  });
});
