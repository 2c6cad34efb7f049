// Several `flashwire serve` nodes on one PostgreSQL store sending one alert together
// (docs/fanout.md, "Several nodes"), into the shared push-service stand-in
// (../shared/peers/web-push-node/sink.js), all on loopback:
//   (b) three nodes, 50,000 subscriptions: every node sends part of the alert; one is killed
//       with SIGKILL at ~30 %: every subscriber is reached, the alert ends "sent", duplicates stay
//       within what the killed node held, the counts are exact;
//   (c) PostgreSQL restarted (pg_ctl restart) mid-alert: no node exits, each logs the fault once
//       (and counts it), the alert finishes;
//   (d) the same alert confirmed on two nodes at once: one 202, one 409, sent once.
//
// The file starts a PostgreSQL cluster of its own (scripts/pg-test-cluster.sh), because (c)
// restarts it: the cluster ctest shares between suites must not go away under them.
// Every wait is for a condition, bounded by a deadline.
//
// Run from the repository root:
//   FLASHWIRE_BIN=$PWD/build/src/app/flashwire node --test tests/app/nodes.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BIN, REPO_ROOT } from '../support/flashwire_cli.mjs';
import { startServe, stopServe, LOOPBACK_ONLY_ENV } from '../support/flashwire_serve.mjs';
import { makeSubscribers, writeSubscriptions } from '../support/push_receiver.mjs';
import { readState } from '../support/pg_cluster.mjs';
import { waitUntil } from '../support/wait.mjs';

const N = 50000;
const SHARD_SIZE = 200;
const THREADS = 1;
const MAX_OPEN_SHARDS = 4;  // PipelineOptions::max_open_shards
// What one node holds at a time, so what it may have sent and not recorded when it dies.
const HELD = THREADS * MAX_OPEN_SHARDS * SHARD_SIZE;
const LEASE_MS = 2000;
const CLUSTER_SCRIPT = path.join(REPO_ROOT, 'scripts', 'pg-test-cluster.sh');
const SINK = path.join(REPO_ROOT, '..', 'shared', 'peers', 'web-push-node', 'sink.js');


function run(args, timeoutMs = 120000) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: LOOPBACK_ONLY_ENV });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
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

// The shared sink as a child process; stats() reads its counters (and zeroes them with reset).
async function startSink() {
  const port = await freePort();
  const child = spawn(process.execPath, [SINK, '--port', String(port), '--expect', String(N)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_PATH: [path.join(REPO_ROOT, 'node_modules'), process.env.NODE_PATH].filter(Boolean).join(':') },
  });
  let output = '';
  child.stderr.setEncoding('utf8').on('data', (c) => { output += c; });
  child.stdout.setEncoding('utf8').on('data', (c) => { output += c; });
  await waitUntil(() => /sink: listening/.test(output) || child.exitCode !== null, 15000, 'the sink listens');
  assert.equal(child.exitCode, null, `the sink exited:\n${output}`);
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    async stats(reset = false) {
      const r = await fetch(`${origin}/stats${reset ? '?reset=1' : ''}`, { signal: AbortSignal.timeout(10000) });
      return r.json();
    },
    async close() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await waitUntil(() => child.exitCode !== null || child.signalCode !== null, 10000, 'the sink exits');
      }
    },
  };
}

async function api(node, token, method, pathname, body) {
  const response = await fetch(node.url + pathname, {
    method,
    headers: { 'Content-Type': 'application/json', Origin: node.url, Authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await response.text();
  return { status: response.status, json: text && text.startsWith('{') ? JSON.parse(text) : text };
}

async function metric(node, name) {
  const url = /metrics:\s+(http:\/\/127\.0\.0\.1:\d+\/metrics)\n/.exec(node.output)?.[1];
  assert.ok(url, `serve prints its metrics URL:\n${node.output}`);
  const text = await (await fetch(url, { signal: AbortSignal.timeout(10000) })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? null : Number(line.split(' ')[1]);
}

let tmp;
let stateFile;
let cluster;
let url;
let sink;
let token;
const nodes = [];  // { id, dataDir, config, server }

// Runs `sql`; returns what it printed (tuples only, unaligned), trimmed.
function psql(sql) {
  const r = spawnSync('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-h',
    cluster.PG_SOCKET_DIR, '-U', 'postgres', '-d', 'postgres', '-c', sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, `psql ${sql}: ${r.stderr}`);
  return r.stdout.trim();
}

// pg_ctl restart as the cluster's owner. The server it starts logs to the cluster's file and
// gets no pipe of ours (it would keep it open, and the wait for pg_ctl would never end).
async function restartPostgres() {
  const pgCtl = fs.readdirSync('/usr/lib/postgresql').map((v) => `/usr/lib/postgresql/${v}/bin/pg_ctl`)
    .find((p) => fs.existsSync(p));
  assert.ok(pgCtl, 'pg_ctl is installed');
  const args = ['-D', path.join(cluster.PG_SOCKET_DIR, 'data'), '-l', path.join(cluster.PG_SOCKET_DIR, 'server.log'),
    '-m', 'fast', '-w', '-t', '60', 'restart'];
  const [cmd, argv] = process.getuid() === 0 ? ['runuser', ['-u', 'postgres', '--', pgCtl, ...args]] : [pgCtl, args];
  const child = spawn(cmd, argv, { stdio: 'ignore' });
  const code = await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, 'pg_ctl restart succeeds');
}

async function startNode(node) {
  node.server = await startServe(node.dataDir, ['--store', url, '--config', node.config, '--no-demo'],
    { timeoutMs: 30000 });
  return node.server;
}

// Composes an alert on `node`; resolves to its id (not confirmed yet).
async function compose(node, title) {
  const composed = await api(node.server, token, 'POST', '/api/newsroom/alerts',
    { category: 'breaking', title, body: 'Several nodes send it together.', url: '/' });
  assert.equal(composed.status, 201, JSON.stringify(composed.json));
  return composed.json.id;
}

async function alertOn(node, id) {
  const a = await api(node.server, token, 'GET', `/api/newsroom/alerts/${id}`);
  return a.status === 200 ? a.json : null;
}

async function waitSent(node, id, timeoutMs) {
  return waitUntil(async () => {
    const a = await alertOn(node, id).catch(() => null);
    return a && a.status !== 'sending' && a;
  }, timeoutMs, `alert ${id} leaves "sending"`);
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `flashwire binary not found at ${BIN} (set FLASHWIRE_BIN)`);
  assert.ok(fs.existsSync(SINK), `the shared sink is not at ${SINK}`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-nodes-'));
  stateFile = path.join(tmp, 'cluster.state');
  const started = spawnSync(CLUSTER_SCRIPT, ['start', stateFile]);
  assert.equal(started.status, 0, `starting the test cluster: ${started.stderr}`);
  cluster = readState(stateFile);
  psql('CREATE DATABASE nodes');
  url = `postgresql:///nodes?host=${cluster.PG_SOCKET_DIR}&user=postgres`;

  sink = await startSink();
  for (const id of ['node-1', 'node-2', 'node-3']) {
    const dir = path.join(tmp, id);
    fs.mkdirSync(dir);
    const config = path.join(dir, 'flashwire.toml');
    fs.writeFileSync(config, [
      `push_hosts = [${JSON.stringify(sink.origin)}]`,
      '[fanout]', `threads = ${THREADS}`, 'concurrency = 32', `shard_size = ${SHARD_SIZE}`,
      `lease_ms = ${LEASE_MS}`, 'poll_ms = 100',
      '[metrics]', 'listen = "127.0.0.1:0"',
      '[node]', `id = "${id}"`,
    ].join('\n') + '\n');
    nodes.push({ id, dataDir: path.join(dir, 'data'), config, server: null });
  }
  const subs = makeSubscribers(N, sink.origin);
  const file = path.join(tmp, 'subs.jsonl');
  writeSubscriptions(file, subs);
  const imported = await run(['subscriptions', 'import', '--store', url, '--config', nodes[0].config,
    '--data', path.join(tmp, 'import'), '--category', 'breaking', file]);
  assert.equal(imported.status, 0, imported.stderr);
  assert.equal(imported.stdout, `${N} imported, 0 rejected\n`);
  const created = await run(['token', 'create', '--store', url, '--config', nodes[0].config,
    '--data', path.join(tmp, 'import'), '--name', 'desk', '--scope', 'alerts:send']);
  assert.equal(created.status, 0, created.stderr);
  token = created.stdout.trim();

  for (const node of nodes) await startNode(node);
}, { timeout: 180000 });

after(async () => {
  for (const node of nodes) await node.server?.stop();
  await sink?.close();
  if (stateFile) spawnSync(CLUSTER_SCRIPT, ['stop', stateFile]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('three nodes on one PostgreSQL store', () => {
  test('(b) one node killed at ~30 %: every subscriber reached, sent once, counts exact', { timeout: 120000 }, async (t) => {
    await sink.stats(true);
    const id = await compose(nodes[0], 'Three nodes');
    const sent = await api(nodes[0].server, token, 'POST', `/api/newsroom/alerts/${id}/send`, { confirm: true });
    assert.equal(sent.status, 202, JSON.stringify(sent.json));

    // Every node takes part before the kill.
    const victim = nodes[2];
    await waitUntil(async () => {
      const a = await alertOn(nodes[0], id);
      const working = new Set((a?.delivery?.nodes ?? [])
        .filter((n) => n.shards_done > 0 || n.shards_held > 0).map((n) => n.node));
      const received = (await sink.stats()).received;
      return working.size === 3 && received >= 0.3 * N;
    }, 60000, 'all three nodes sending and 30 % received');
    const atKill = (await sink.stats()).received;
    assert.ok(atKill < N, `the kill came mid-alert (${atKill} of ${N} received)`);
    victim.server.child.kill('SIGKILL');
    await waitUntil(() => victim.server.child.signalCode !== null, 10000, 'the node dies');

    const alert = await waitSent(nodes[0], id, 90000);
    const stats = await sink.stats();
    t.diagnostic(`killed ${victim.id} at ${atKill} of ${N} received; ${stats.received} requests, ` +
      `${stats.dups} duplicate(s), bound ${HELD}; nodes ${JSON.stringify(alert.delivery.nodes)}`);
    assert.equal(alert.status, 'sent');
    assert.equal(stats.missing, 0, 'every subscriber reached');
    assert.equal(stats.distinct, N);
    assert.ok(stats.dups <= HELD, `${stats.dups} duplicates exceed one node's held shards (${HELD})`);
    const d = alert.delivery;
    assert.equal(d.state, 'done');
    assert.equal(d.targeted, N);
    assert.equal(d.sent, N, 'a shard sent again is counted once');
    assert.equal(d.failed, 0);
    assert.equal(d.shards_done, N / SHARD_SIZE);
    assert.deepEqual(d.nodes.map((n) => n.node), ['node-1', 'node-2', 'node-3']);
    for (const n of d.nodes) assert.ok(n.shards_done > 0, `${n.node} sent part of the alert`);
    assert.equal(d.nodes.reduce((sum, n) => sum + n.subscriptions_done, 0), N);
    // Exactly one surviving node marked it sent.
    let marked = 0;
    for (const node of nodes.slice(0, 2)) {
      marked += /fan-out: alert \d+ done \(marked by node/.test(node.server.output) ? 1 : 0;
    }
    assert.equal(marked, 1, 'one node marks the alert sent');
    for (const node of nodes.slice(0, 2)) {
      // One LISTEN connection per node, for the alerts' wake-ups and the content changes alike.
      assert.equal(psql('SELECT count(*) FROM pg_stat_activity ' +
        `WHERE application_name = 'flashwire node ${node.id}'`), '1', `${node.id} listens on one connection`);
      assert.ok(await metric(node.server, 'flashwire_fanout_messages_total{outcome="sent"}') > 0,
        `${node.id} counts what it sent in /metrics`);
    }
    await startNode(victim);  // back for the next tests
  });

  test('(c) PostgreSQL restarted mid-alert: no node exits, each logs the fault once, the alert finishes', { timeout: 120000 }, async (t) => {
    await sink.stats(true);
    const id = await compose(nodes[1], 'Database restart');
    const sent = await api(nodes[1].server, token, 'POST', `/api/newsroom/alerts/${id}/send`, { confirm: true });
    assert.equal(sent.status, 202, JSON.stringify(sent.json));
    await waitUntil(async () => (await sink.stats()).received >= 0.2 * N, 60000, '20 % received');

    await restartPostgres();


    const alert = await waitSent(nodes[0], id, 90000);
    const stats = await sink.stats();
    assert.equal(alert.status, 'sent');
    assert.equal(stats.missing, 0, 'every subscriber reached');
    assert.equal(alert.delivery.sent, N, 'counts are exact');
    let faults = 0;
    for (const node of nodes) {
      assert.equal(node.server.child.exitCode, null, `${node.id} is still running`);
      const counted = await metric(node.server, 'flashwire_fanout_store_faults_total');
      const logged = (node.server.output.match(new RegExp(`fan-out: node ${node.id}: the store failed`, 'g')) ?? []).length;
      assert.equal(logged, counted, `${node.id}: every fault logged once and counted`);
      faults += counted;
    }
    t.diagnostic(`${stats.received} requests, ${stats.dups} duplicate(s); ${faults} fault(s) logged`);
    assert.ok(faults >= 1, 'the restart was seen');
    assert.ok(stats.dups <= nodes.length * HELD, `${stats.dups} duplicates exceed the shards held (${nodes.length * HELD})`);
  });

  test('(d) the same alert confirmed on two nodes at once is sent once', { timeout: 120000 }, async () => {
    await sink.stats(true);
    const id = await compose(nodes[0], 'Confirmed twice');
    const answers = await Promise.all([nodes[0], nodes[1]].map((node) =>
      api(node.server, token, 'POST', `/api/newsroom/alerts/${id}/send`, { confirm: true })));
    assert.deepEqual(answers.map((a) => a.status).sort(), [202, 409], JSON.stringify(answers.map((a) => a.json)));
    assert.equal(answers.find((a) => a.status === 409).json.error, 'already_sending');
    const alert = await waitSent(nodes[2], id, 90000);
    const stats = await sink.stats();
    assert.equal(alert.status, 'sent');
    assert.equal(stats.missing, 0);
    assert.equal(stats.dups, 0, 'nobody is sent the alert twice');
    assert.equal(alert.delivery.sent, N);
  });

  test('every node stops cleanly', { timeout: 30000 }, async () => {
    for (const node of nodes) {
      assert.equal(await stopServe(node.server), 0);
      node.server = null;
    }
  });
});
