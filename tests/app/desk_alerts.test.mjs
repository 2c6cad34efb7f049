// The editors' desk around alerts, through `flashwire serve` over real loopback sockets with a
// real SQLite data directory: every guardrail (and force, and its audit), the desk's drafts,
// and a scheduled alert that survives a restart of serve and reaches its reader exactly once
// (a push-service stand-in on loopback, tests/support/push_receiver.mjs).
//
// Run from the repository root:  node --test tests/app/desk_alerts.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServe, stopServe } from '../support/flashwire_serve.mjs';
import { startPushReceiver, makeSubscribers, decryptFor } from '../support/push_receiver.mjs';
import { waitUntil } from '../support/wait.mjs';

const TOKEN = /editor token \(shown once, keep it safe\): (fw_[A-Za-z0-9_-]{43})\n/;

async function api(server, token, method, pathname, body) {
  const response = await fetch(server.url + pathname, {
    method,
    headers: { 'Content-Type': 'application/json', Origin: server.url, Authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}


// RFC 3339, whole seconds, UTC.
const rfc3339 = (ms) => new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

describe('the desk\'s alerts through serve', () => {
  let dir;
  let dataDir;
  let config;
  let server;
  let receiver;
  let token;
  let reader;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-desk-'));
    dataDir = path.join(dir, 'data');
    receiver = await startPushReceiver({ keepBodies: true });
    config = path.join(dir, 'flashwire.toml');
    fs.writeFileSync(config, [
      `push_hosts = [${JSON.stringify(receiver.origin)}]`,
      '[newsroom]', 'hourly_cap = 3', 'hourly_cap_live = 1',
    ].join('\n') + '\n');
    server = await startServe(dataDir, ['--config', config]);
    token = TOKEN.exec(server.output)[1];
    // One reader of breaking and live news, on the loopback push service.
    [reader] = makeSubscribers(1, receiver.origin, { prefix: 'desk-' });
    const subscribed = await fetch(server.url + '/api/subscriptions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: server.url },
      body: JSON.stringify({
        subscription: { endpoint: reader.endpoint, keys: { p256dh: reader.p256dh, auth: reader.auth } },
        categories: ['breaking', 'live'],
      }),
    });
    assert.equal(subscribed.status, 201, await subscribed.text());
  });
  after(async () => {
    if (server) await stopServe(server);
    await receiver?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a dead link is refused until forced, and the override is in the audit log', async () => {
    const body = { category: 'breaking', title: 'Bridge closed', url: '/articles/does-not-exist' };
    const refused = await api(server, token, 'POST', '/api/newsroom/alerts', body);
    assert.equal(refused.status, 422);
    assert.equal(refused.json.error, 'url_not_found');
    assert.equal(refused.json.overridable, true);
    assert.match(refused.json.message, /\/articles\/does-not-exist/);
    const forced = await api(server, token, 'POST', '/api/newsroom/alerts', { ...body, force: true });
    assert.equal(forced.status, 201, JSON.stringify(forced.json));
    const audit = await api(server, token, 'GET', '/api/newsroom/audit');
    assert.ok(audit.json.entries.some((e) => e.action === 'alert.override' &&
      e.detail === `url_not_found, #${forced.json.id}` && e.actor === 'editor'), JSON.stringify(audit.json));
    // A draft that was never confirmed: cancelled, so it counts for nothing below.
    assert.equal((await api(server, token, 'POST', `/api/newsroom/alerts/${forced.json.id}/cancel`)).status, 200);
  });

  test('the same alert twice within ten minutes is refused; an audience of 0 cannot be confirmed', async () => {
    const body = { category: 'breaking', title: 'Harbour fire under control', url: '/' };
    const first = await api(server, token, 'POST', '/api/newsroom/alerts', body);
    assert.equal(first.status, 201, JSON.stringify(first.json));
    assert.equal((await api(server, token, 'POST', first.json.confirm, { confirm: true })).status, 202);
    await receiver.waitFor((r) => r.count(reader.path) === 1, 20000, 'the first alert delivered');

    const again = await api(server, token, 'POST', '/api/newsroom/alerts', body);
    assert.equal(again.status, 409);
    assert.equal(again.json.error, 'duplicate_alert');
    assert.equal(again.json.duplicate_of, first.json.id);

    const nobody = await api(server, token, 'POST', '/api/newsroom/alerts',
      { category: 'exclusive', title: 'Exclusive: nobody reads this yet', url: '/' });
    assert.equal(nobody.status, 201);
    const refused = await api(server, token, 'POST', nobody.json.confirm, { confirm: true, force: true });
    assert.equal(refused.status, 422);
    assert.equal(refused.json.error, 'empty_audience');
    assert.equal(refused.json.overridable, false);
  });

  test('the live category\'s own hourly cap stops a second alert until forced', async () => {
    const send = async (title, force) => {
      const composed = await api(server, token, 'POST', '/api/newsroom/alerts',
        { category: 'live', title, url: '/', topic: 'storm-night' });
      assert.equal(composed.status, 201, JSON.stringify(composed.json));
      return api(server, token, 'POST', composed.json.confirm, { confirm: true, force });
    };
    assert.equal((await send('Live: first', false)).status, 202);
    const capped = await send('Live: second', false);
    assert.equal(capped.status, 429);
    assert.equal(capped.json.error, 'rate_capped');
    assert.equal(capped.json.cap, 1);
    assert.equal((await send('Live: third', true)).status, 202);
    await receiver.waitFor((r) => r.count(reader.path) === 3, 20000, 'the live alerts delivered');
    // A live event's alerts carry their topic as the notification tag: on the device the newer
    // replaces the older (and alerts again) instead of stacking.
    const live = receiver.requests.filter((r) => r.path === reader.path).slice(1);
    assert.equal(live.length, 2);
    for (const r of live) {
      assert.equal(r.headers.topic, 'storm-night');
      const payload = JSON.parse(decryptFor(reader, r.body).toString());
      assert.equal(payload.tag, 'storm-night');
      assert.equal(payload.renotify, true);
    }
  });

  test('drafts of the whole desk are listed with author and time', async () => {
    const created = await api(server, token, 'POST', '/api/newsroom/articles', {
      slug: 'ferry-strike-talks', headline: 'Ferry strike talks resume', category: 'breaking',
      body_markdown: 'Talks resume at noon.',
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const drafts = await api(server, token, 'GET', '/api/newsroom/articles?status=draft');
    assert.equal(drafts.status, 200);
    const mine = drafts.json.articles.find((a) => a.slug === 'ferry-strike-talks');
    assert.equal(mine.created_by, 'editor');
    assert.equal(mine.published, false);
    assert.equal(typeof mine.updated_at, 'number');
    assert.ok(drafts.json.articles.every((a) => a.published === false));
  });

  test('a scheduled alert survives a restart of serve and reaches its reader once', { timeout: 60000 }, async () => {
    const before = receiver.count(reader.path);
    const sendAt = rfc3339(Date.now() + 4000);
    const composed = await api(server, token, 'POST', '/api/newsroom/alerts',
      { category: 'breaking', title: 'Polls close', url: '/', send_at: sendAt });
    assert.equal(composed.status, 201, JSON.stringify(composed.json));
    assert.equal(composed.json.send_at, sendAt);
    const confirmed = await api(server, token, 'POST', composed.json.confirm, { confirm: true });
    assert.equal(confirmed.status, 202, JSON.stringify(confirmed.json));
    assert.equal(confirmed.json.status, 'scheduled');
    const listed = await api(server, token, 'GET', '/api/newsroom/alerts');
    assert.equal(listed.json.alerts.find((a) => a.id === composed.json.id).status, 'scheduled');

    // A second one, cancelled: it must never go out.
    const cancelled = await api(server, token, 'POST', '/api/newsroom/alerts',
      { category: 'breaking', title: 'Polls close (cancelled)', url: '/', send_at: sendAt });
    assert.equal((await api(server, token, 'POST', cancelled.json.confirm, { confirm: true })).status, 202);
    assert.equal((await api(server, token, 'POST', `/api/newsroom/alerts/${cancelled.json.id}/cancel`)).status, 200);

    assert.equal(await stopServe(server), 0);
    assert.equal(receiver.count(reader.path), before, 'nothing sent before its time');
    server = await startServe(dataDir, ['--config', config]);

    const sent = await waitUntil(async () => {
      const a = await api(server, token, 'GET', `/api/newsroom/alerts/${composed.json.id}`);
      return a.json.status === 'sent' && a.json;
    }, 40000, 'the scheduled alert is sent');
    assert.ok(Date.parse(sendAt) <= Date.now());
    assert.equal(sent.delivery.sent, 1);
    assert.equal(receiver.count(reader.path), before + 1, 'exactly one delivery');
    const gone = await api(server, token, 'GET', `/api/newsroom/alerts/${cancelled.json.id}`);
    assert.equal(gone.json.status, 'cancelled');
    const audit = await api(server, token, 'GET', '/api/newsroom/audit');
    assert.equal(audit.json.entries.filter((e) => e.actor === 'scheduler' &&
      e.detail === `scheduled, #${composed.json.id}`).length, 1);
  });

  test('send_at must be RFC 3339, in the future and at most 30 days ahead', async () => {
    for (const sendAt of ['tomorrow', rfc3339(Date.now() - 60000), rfc3339(Date.now() + 31 * 86400000), 5]) {
      const r = await api(server, token, 'POST', '/api/newsroom/alerts',
        { category: 'breaking', title: 'Later', url: '/', send_at: sendAt });
      assert.equal(r.status, 400, String(sendAt));
      assert.match(r.json.message, /^send_at:/);
    }
  });
});
