// Alert analytics and the opt-in funnel over real sockets: `flashwire serve` with a SQLite data
// directory, a reader's beacons through the readers' API, the alert's figures through the
// newsroom API (JSON, CSV and the Server-Sent Events stream). Shapes and counts only: the
// figures that depend on timing are checked for being present and sane, not for their value.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { b64u } from '../support/flashwire_cli.mjs';
import { startServe } from '../support/flashwire_serve.mjs';

const TOKEN_LINE = /editor token \(shown once, keep it safe\): (fw_[A-Za-z0-9_-]{43})\n/;

function browserSubscription(endpoint) {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return { endpoint, expirationTime: null, keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(crypto.randomBytes(16)) } };
}

async function api(server, method, pathname, body, headers = {}) {
  const response = await fetch(server.url + pathname, {
    method,
    headers: { 'Content-Type': 'application/json', Origin: server.url, ...headers },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
    signal: AbortSignal.timeout(10000),
  });
  const text = await response.text();
  const json = /json/.test(response.headers.get('content-type') || '') && text ? JSON.parse(text) : null;
  return { status: response.status, json, text, headers: response.headers };
}

// Reads Server-Sent Events from a fetch body: resolves the next "alert" event's data (parsed).
function eventReader(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return async function next(deadline) {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const lines = block.split('\n');
        if (!lines.includes('event: alert')) continue;  // retry hint, keep-alive comments
        const data = lines.find((line) => line.startsWith('data: '));
        return JSON.parse(data.slice(6));
      }
      const left = deadline - Date.now();
      assert.ok(left > 0, 'an event within the deadline');
      let timer;
      const chunk = await Promise.race([
        reader.read(),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('no event in time')), left); }),
      ]).finally(() => clearTimeout(timer));
      assert.ok(!chunk.done, 'the stream stays open');
      buffer += decoder.decode(chunk.value, { stream: true });
    }
  };
}

describe('alert analytics and the opt-in funnel', () => {
  let dataDir;
  let server;
  let editor;
  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-analytics-'));
    server = await startServe(dataDir);
    editor = { Authorization: `Bearer ${server.output.match(TOKEN_LINE)[1]}` };
  });
  after(async () => {
    if (server) await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('beacons timed on arrival give the alert a funnel, a time to device, a CSV and a live stream', { timeout: 60000 }, async () => {
    const subscription = browserSubscription(`https://fcm.googleapis.com/fcm/send/${crypto.randomUUID()}`);
    const subscribed = await api(server, 'POST', '/api/subscriptions', { subscription, categories: ['breaking'] });
    assert.equal(subscribed.status, 201);
    const composed = await api(server, 'POST', '/api/newsroom/alerts',
      { category: 'breaking', title: 'Bridge closed', url: '/articles/harbour-bridge-closed-after-ship-strike' }, editor);
    assert.equal(composed.status, 201, composed.text);
    const id = composed.json.id;
    const draft = await api(server, 'GET', `/api/newsroom/alerts/${id}`, undefined, editor);
    assert.deepEqual(draft.json.funnel, { targeted: 0, accepted: 0, received: 0, displayed: 0, clicked: 0 });
    assert.equal(draft.json.time_to_device.p50_ms, null);

    // The stream: refused without a token (as GET alerts/{id} is), then the alert as it is.
    const refused = await fetch(`${server.url}/api/newsroom/alerts/${id}/events`, { signal: AbortSignal.timeout(10000) });
    assert.equal(refused.status, 401);
    await refused.body?.cancel();
    const missing = await fetch(`${server.url}/api/newsroom/alerts/99999/events`, { headers: editor, signal: AbortSignal.timeout(10000) });
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const streamAbort = new AbortController();
    const stream = await fetch(`${server.url}/api/newsroom/alerts/${id}/events`, { headers: editor, signal: streamAbort.signal });
    try {
      assert.equal(stream.status, 200);
      assert.match(stream.headers.get('content-type'), /^text\/event-stream/);
      assert.equal(stream.headers.get('cache-control'), 'no-store');
      const next = eventReader(stream.body);
      const first = await next(Date.now() + 10000);
      assert.equal(first.id, id);
      assert.equal(first.status, 'draft');

      const sent = await api(server, 'POST', `/api/newsroom/alerts/${id}/send`, { confirm: true }, editor);
      assert.equal(sent.status, 202, sent.text);
      const beacon = (event) => api(server, 'POST', '/api/events',
        { alert: id, event, endpoint: subscription.endpoint, auth: subscription.keys.auth });
      assert.equal((await beacon('received')).status, 204);
      assert.equal((await beacon('displayed')).status, 204);

      // The stream follows: events until one shows both beacons (bounded).
      const deadline = Date.now() + 20000;
      let latest = first;
      while (!(latest.funnel.received === 1 && latest.funnel.displayed === 1)) latest = await next(deadline);
      assert.equal(latest.by_service.fcm.received, 1);
      assert.ok(latest.time_to_device.p50_ms >= 0, 'a time to device once received');
    } finally {
      streamAbort.abort();
    }

    assert.equal((await api(server, 'POST', '/api/events',
      { alert: id, event: 'clicked', endpoint: subscription.endpoint, auth: subscription.keys.auth })).status, 204);
    const alert = (await api(server, 'GET', `/api/newsroom/alerts/${id}`, undefined, editor)).json;
    assert.equal(alert.funnel.received, 1);
    assert.equal(alert.funnel.displayed, 1);
    assert.equal(alert.funnel.clicked, 1);
    assert.ok(alert.funnel.targeted >= alert.funnel.accepted);
    assert.equal(alert.click_through_rate, 1);
    const ttd = alert.time_to_device;
    assert.deepEqual(Object.keys(ttd).sort(), ['devices', 'histogram', 'p50_ms', 'p90_ms', 'p99_ms', 'target_met', 'within_120s']);
    assert.equal(ttd.devices, 1);
    assert.ok(ttd.p50_ms >= 0 && ttd.p50_ms <= ttd.p90_ms && ttd.p90_ms <= ttd.p99_ms);
    assert.equal(ttd.histogram.reduce((sum, bucket) => sum + bucket.count, 0), 1);
    assert.equal(ttd.histogram.at(-1).le_ms, null);
    assert.deepEqual(Object.keys(alert.by_service).sort(), ['apple', 'fcm', 'mozilla', 'other', 'own']);

    const csv = await api(server, 'GET', `/api/newsroom/alerts/${id}/analytics.csv`, undefined, editor);
    assert.equal(csv.status, 200);
    assert.equal(csv.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.match(csv.headers.get('content-disposition'), new RegExp(`attachment; filename="alert-${id}-analytics.csv"`));
    const rows = new Map(csv.text.trim().split('\r\n').map((line) => line.split(',')));
    assert.equal(rows.get('metric'), 'value');
    assert.equal(rows.get('funnel.received'), '1');
    assert.equal(rows.get('funnel.clicked'), '1');
    assert.equal(rows.get('by_service.fcm.received'), '1');
    assert.equal(rows.get('time_to_device.p50_ms'), String(ttd.p50_ms));
    assert.equal((await api(server, 'GET', `/api/newsroom/alerts/${id}/analytics.csv`)).status, 401);
  });

  test('opt-in beacons are validated, same-origin only and counted per day', { timeout: 30000 }, async () => {
    const step = (body, headers) => api(server, 'POST', '/api/optin', body, headers);
    assert.equal((await step({ step: 'shown', category: 'live', page: 'live' })).status, 204);
    assert.equal((await step({ step: 'clicked', category: 'live', page: 'live' })).status, 204);
    assert.equal((await step({ step: 'denied', category: 'live', page: 'live' })).status, 204);
    for (const bad of [
      { step: 'shown', category: 'live' },
      { step: 'shown', category: 'live', page: 'live', extra: 'x'.repeat(9000) },
      { step: 'seen', category: 'live', page: 'live' },
      { step: 'shown', category: 'weather', page: 'live' },
      '{"step":',
    ]) {
      const response = await step(bad);
      assert.ok([400, 413].includes(response.status), `${JSON.stringify(bad).slice(0, 60)}: ${response.status}`);
    }
    const foreign = await api(server, 'POST', '/api/optin', { step: 'shown', category: 'live', page: 'live' },
      { Origin: 'https://elsewhere.example' });
    assert.equal(foreign.status, 403);

    const funnel = await api(server, 'GET', '/api/newsroom/optin?days=7', undefined, editor);
    assert.equal(funnel.status, 200);
    const live = funnel.json.days.find((row) => row.category === 'live' && row.page === 'live');
    assert.equal(live.shown, 1);
    assert.equal(live.clicked, 1);
    assert.equal(live.denied, 1);
    assert.equal(live.granted, 0);
    assert.equal(funnel.json.totals.shown, 1);
    assert.equal((await api(server, 'GET', '/api/newsroom/optin?days=365', undefined, editor)).status, 400);
    assert.equal((await api(server, 'GET', '/api/newsroom/optin')).status, 401);
  });
});
