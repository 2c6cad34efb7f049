// The desk's numbers and guardrails where several writers meet, through `flashwire serve` over
// real loopback sockets:
//   - targeted and accepted per push service: one node on SQLite whose own push service's public
//     origin is one push-service stand-in on loopback (so its readers count as "own") while a
//     second stand-in counts as "other"; the split adds up to the funnel's totals;
//   - two nodes on one PostgreSQL store confirming at the same instant: two drafts of the same
//     alert, one on each node, give one 202 and one 409 duplicate_alert; under an hourly cap of
//     one, two alerts give one 202 and one 429 rate_capped. The split of what the nodes sent
//     together (shards of two subscriptions, taken by either node) adds up to the totals.
//
// The PostgreSQL part uses the cluster ctest starts (FLASHWIRE_TEST_PG_STATE), or one of its own.
// Run from the repository root:  node --test tests/app/desk_numbers.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../support/flashwire_cli.mjs';
import { startServe } from '../support/flashwire_serve.mjs';
import { startPushReceiver, makeSubscribers } from '../support/push_receiver.mjs';
import { readState } from '../support/pg_cluster.mjs';

const TOKEN = /editor token \(shown once, keep it safe\): (fw_[A-Za-z0-9_-]{43})\n/;
const CLUSTER_SCRIPT = path.join(REPO_ROOT, 'scripts', 'pg-test-cluster.sh');
const PATIENCE_MS = 30000;  // bounds a failing wait only
const SERVICES = ['fcm', 'mozilla', 'apple', 'own', 'other'];

async function api(server, token, method, pathname, body) {
  const response = await fetch(server.url + pathname, {
    method,
    headers: { 'Content-Type': 'application/json', Origin: server.url, Authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await response.text();
  const json = /json/.test(response.headers.get('content-type') || '') && text ? JSON.parse(text) : null;
  return { status: response.status, json, text };
}

async function waitUntil(check, what) {
  const until = Date.now() + PATIENCE_MS;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`${what}: not within ${PATIENCE_MS} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function subscribe(server, reader, categories) {
  const r = await fetch(server.url + '/api/subscriptions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: server.url },
    body: JSON.stringify({
      subscription: { endpoint: reader.endpoint, keys: { p256dh: reader.p256dh, auth: reader.auth } },
      categories,
    }),
    signal: AbortSignal.timeout(10000),
  });
  assert.equal(r.status, 201, await r.text());
}

// The alert once its fan-out has finished ("sent").
function sentAlert(server, token, id) {
  return waitUntil(async () => {
    const a = await api(server, token, 'GET', `/api/newsroom/alerts/${id}`);
    return a.json.status === 'sent' && a.json.delivery?.state === 'done' && a.json;
  }, `alert ${id} sent`);
}

// The split per push service adds up to the funnel's totals.
function assertSplitAddsUp(alert) {
  for (const step of ['targeted', 'accepted']) {
    const sum = SERVICES.reduce((n, s) => n + alert.by_service[s][step], 0);
    assert.equal(sum, alert.funnel[step], `by_service ${step} sums to funnel.${step}: ${JSON.stringify(alert.by_service)}`);
  }
}

describe('targeted and accepted per push service (one node, SQLite)', () => {
  let dir;
  let own;
  let other;
  let server;
  let token;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-numbers-'));
    own = await startPushReceiver();
    other = await startPushReceiver();
    const config = path.join(dir, 'flashwire.toml');
    // The embedded push service listens on a port of its own; its public origin (what its
    // endpoints begin with, as behind a proxy) is the first stand-in's.
    fs.writeFileSync(config, [
      `push_hosts = [${JSON.stringify(other.origin)}]`,
      '[push_service]', 'enabled = true', `listen = "127.0.0.1:${await freePort()}"`,
      `public_url = ${JSON.stringify(own.origin)}`,
    ].join('\n') + '\n');
    server = await startServe(path.join(dir, 'data'), ['--config', config]);
    token = TOKEN.exec(server.output)[1];
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0, server.output.slice(-2000));
    await own?.close();
    await other?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the alert\'s by_service, CSV and totals agree', { timeout: 60000 }, async () => {
    const readers = [...makeSubscribers(2, own.origin, { prefix: 'own-' }),
      ...makeSubscribers(3, other.origin, { prefix: 'other-' })];
    for (const reader of readers) await subscribe(server, reader, ['breaking']);
    const composed = await api(server, token, 'POST', '/api/newsroom/alerts',
      { category: 'breaking', title: 'Tunnel reopens', url: '/' });
    assert.equal(composed.status, 201, composed.text);
    const draft = await api(server, token, 'GET', `/api/newsroom/alerts/${composed.json.id}`);
    assert.deepEqual(draft.json.by_service.own, { targeted: 0, accepted: 0, received: 0, displayed: 0, clicked: 0 });
    assert.equal((await api(server, token, 'POST', composed.json.confirm, { confirm: true })).status, 202);

    const alert = await sentAlert(server, token, composed.json.id);
    assert.equal(alert.by_service.own.targeted, 2);
    assert.equal(alert.by_service.own.accepted, 2);
    assert.equal(alert.by_service.other.targeted, 3);
    assert.equal(alert.by_service.other.accepted, 3);
    for (const s of ['fcm', 'mozilla', 'apple']) assert.equal(alert.by_service[s].targeted, 0, s);
    assertSplitAddsUp(alert);
    assert.equal(alert.funnel.targeted, 5);

    const csv = await api(server, token, 'GET', `/api/newsroom/alerts/${composed.json.id}/analytics.csv`);
    assert.equal(csv.status, 200);
    const rows = Object.fromEntries(csv.text.trim().split('\r\n').map((line) => line.split(',')));
    assert.equal(rows['by_service.own.targeted'], '2');
    assert.equal(rows['by_service.own.accepted'], '2');
    assert.equal(rows['by_service.other.accepted'], '3');
    assert.equal(rows['by_service.fcm.targeted'], '0');
  });
});

describe('two nodes on one PostgreSQL store confirming at the same instant', () => {
  let tmp;
  let ownState = null;
  let cluster;
  const db = `numbers_${process.pid}`;
  let receiver;
  let a;
  let b;
  let token;

  const psql = (sql) => {
    const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', cluster.PG_SOCKET_DIR,
      '-U', 'postgres', '-d', 'postgres', '-c', sql]);
    assert.equal(r.status, 0, `psql ${sql}: ${r.stderr}`);
  };

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-numbers-pg-'));
    let state = process.env.FLASHWIRE_TEST_PG_STATE;
    if (!state) {
      ownState = path.join(tmp, 'cluster.state');
      const r = spawnSync(CLUSTER_SCRIPT, ['start', ownState]);
      assert.equal(r.status, 0, `pg-test-cluster start: ${r.stderr}`);
      state = ownState;
    }
    cluster = readState(state);
    psql(`CREATE DATABASE ${db}`);
    receiver = await startPushReceiver();
    const config = path.join(tmp, 'flashwire.toml');
    fs.writeFileSync(config, [
      `push_hosts = [${JSON.stringify(receiver.origin)}]`,
      '[newsroom]', 'hourly_cap_exclusive = 1',
      '[fanout]', 'shard_size = 2',
    ].join('\n') + '\n');
    const url = `postgresql:///${db}?host=${cluster.PG_SOCKET_DIR}&user=postgres`;
    a = await startServe(path.join(tmp, 'a'), ['--store', url, '--config', config]);
    b = await startServe(path.join(tmp, 'b'), ['--store', url, '--config', config]);
    token = TOKEN.exec(a.output)[1];
    for (const reader of makeSubscribers(7, receiver.origin, { prefix: 'pg-' })) {
      await subscribe(a, reader, ['breaking', 'exclusive']);
    }
  }, { timeout: 120000 });

  after(async () => {
    if (a) await a.stop();
    if (b) await b.stop();
    await receiver?.close();
    if (cluster && !ownState) psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    if (ownState) spawnSync(CLUSTER_SCRIPT, ['stop', ownState]);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  // Composes one draft per node (drafts never count as duplicates), then confirms both at once.
  async function confirmTogether(first, second) {
    const drafts = [];
    for (const [node, alert] of [[a, first], [b, second]]) {
      const composed = await api(node, token, 'POST', '/api/newsroom/alerts', alert);
      assert.equal(composed.status, 201, composed.text);
      drafts.push(composed.json.id);
    }
    const answers = await Promise.all([
      api(a, token, 'POST', `/api/newsroom/alerts/${drafts[0]}/send`, { confirm: true }),
      api(b, token, 'POST', `/api/newsroom/alerts/${drafts[1]}/send`, { confirm: true }),
    ]);
    const won = answers.findIndex((r) => r.status === 202);
    assert.ok(won >= 0, `one confirmation goes through: ${answers.map((r) => `${r.status} ${r.text}`).join(' | ')}`);
    return { drafts, answers, won, lost: 1 - won };
  }

  test('the same alert on two nodes at once: one goes out, the other is a duplicate', { timeout: 90000 }, async () => {
    // A few rounds: each is a fresh chance for the two to meet inside the store.
    for (let round = 0; round < 3; ++round) {
      const alert = { category: 'breaking', title: `Reservoir dam breached (${round})`, url: '/' };
      const { drafts, answers, won, lost } = await confirmTogether(alert, alert);
      assert.equal(answers[lost].status, 409, answers[lost].text);
      assert.equal(answers[lost].json.error, 'duplicate_alert');
      assert.equal(answers[lost].json.duplicate_of, drafts[won]);
      const refused = await api(a, token, 'GET', `/api/newsroom/alerts/${drafts[lost]}`);
      assert.equal(refused.json.status, 'draft', 'the refused one stays a draft');

      // Sent by the two nodes together; the split per push service adds up (all "other" here).
      const sent = await sentAlert(a, token, drafts[won]);
      assert.equal(sent.funnel.targeted, 7);
      assert.equal(sent.funnel.accepted, 7);
      assert.equal(sent.by_service.other.targeted, 7);
      assertSplitAddsUp(sent);
    }
  });

  test('under an hourly cap of one, two alerts on two nodes at once: one goes out', { timeout: 60000 }, async () => {
    const { drafts, answers, lost, won } = await confirmTogether(
      { category: 'exclusive', title: 'Minister resigns', url: '/' },
      { category: 'exclusive', title: 'Files show payments', url: '/' });
    assert.equal(answers[lost].status, 429, answers[lost].text);
    assert.equal(answers[lost].json.error, 'rate_capped');
    assert.equal(answers[lost].json.cap, 1);
    assert.equal(answers[lost].json.in_last_hour, 1);
    await sentAlert(b, token, drafts[won]);
  });
});
