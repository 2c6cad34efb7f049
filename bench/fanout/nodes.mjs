#!/usr/bin/env node
// Fan-out through `flashwire serve` on its store, side by side in one run, into the shared
// loopback sink (../shared/peers/web-push-node/sink.js):
//   1. one alert of N subscriptions on one node with SQLite, then with PostgreSQL: sender CPU
//      per message (the node's user + system time over the alert) and the ratio PG / SQLite;
//   2. the same alert on one node vs two nodes sharing it (PostgreSQL): messages per second
//      (confirm → "sent") and CPU per message, all nodes together;
//   3. peak RSS (VmHWM) of each node at BIG subscriptions (0: skipped).
// It starts a throwaway PostgreSQL cluster (scripts/pg-test-cluster.sh) and removes everything
// afterwards. Everything stays on 127.0.0.1.
//
// Usage (from the repository root):  node bench/fanout/nodes.mjs [build-dir]
// Knobs (environment): N [200000]  BIG [1000000]  THREADS [1] sender threads per node
//   SHARD [500]  PIN [1] pins node k to CPU k-1 (taskset), so that each node has one core
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSubscribers, writeSubscriptions } from '../../tests/support/push_receiver.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, process.argv[2] ?? 'build', 'src', 'app', 'flashwire');
const SINK = path.join(ROOT, '..', 'shared', 'peers', 'web-push-node', 'sink.js');
const N = Number(process.env.N ?? 200000);
const BIG = Number(process.env.BIG ?? 1000000);
const THREADS = Number(process.env.THREADS ?? 1);
const SHARD = Number(process.env.SHARD ?? 500);
const PIN = (process.env.PIN ?? '1') === '1';
const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitUntil(check, timeoutMs, what) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}
function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICK;  // utime + stime
}
function peakRssMb(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-nodes-bench-'));
const children = [];
function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c) => { output = (output + c).slice(-20000); });
  child.stderr.setEncoding('utf8').on('data', (c) => { output = (output + c).slice(-20000); });
  children.push(child);
  return { child, get output() { return output; } };
}
function run(args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`flashwire ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

let stateFile = null;
async function main() {
  // PostgreSQL and the sink.
  stateFile = path.join(tmp, 'cluster.state');
  const started = spawnSync(path.join(ROOT, 'scripts', 'pg-test-cluster.sh'), ['start', stateFile], { encoding: 'utf8' });
  if (started.status !== 0) throw new Error(started.stderr);
  const socketDir = /PG_SOCKET_DIR='(.*)'/.exec(fs.readFileSync(stateFile, 'utf8'))[1];
  const pgUrl = (db) => `postgresql:///${db}?host=${socketDir}&user=postgres`;
  const psql = (sql) => spawnSync('psql', ['-X', '-q', '-h', socketDir, '-U', 'postgres', '-d', 'postgres', '-c', sql]);
  const sinkPort = await freePort();
  const sinkOrigin = `http://127.0.0.1:${sinkPort}`;
  const sink = start(process.execPath, [SINK, '--port', String(sinkPort)],
    { NODE_PATH: [path.join(ROOT, 'node_modules'), process.env.NODE_PATH].filter(Boolean).join(':') });
  await waitUntil(() => /sink: listening/.test(sink.output), 15000, 'the sink');
  const stats = async (reset) => (await fetch(`${sinkOrigin}/stats${reset ? '?reset=1' : ''}`)).json();

  const config = path.join(tmp, 'flashwire.toml');
  const writeConfig = (id) => {
    const file = path.join(tmp, `${id}.toml`);
    fs.writeFileSync(file, [`push_hosts = [${JSON.stringify(sinkOrigin)}]`, '[fanout]',
      `threads = ${THREADS}`, `shard_size = ${SHARD}`, 'poll_ms = 100', '[node]', `id = "${id}"`].join('\n') + '\n');
    return file;
  };
  fs.writeFileSync(config, `push_hosts = [${JSON.stringify(sinkOrigin)}]\n`);

  // One site per (store, size): subscriptions imported once, a token for the newsroom API.
  async function site(store, n) {
    const file = path.join(tmp, `subs-${n}.jsonl`);
    if (!fs.existsSync(file)) writeSubscriptions(file, makeSubscribers(n, sinkOrigin));
    const data = path.join(tmp, `data-${store}-${n}`);
    let url;
    if (store === 'pg') {
      psql(`CREATE DATABASE bench_${n}`);
      url = pgUrl(`bench_${n}`);
    } else {
      // serve makes the SQLite files; the other commands need them made.
      const first = start(BIN, ['serve', '--listen', '127.0.0.1:0', '--data', data, '--config', config, '--no-demo']);
      await waitUntil(() => /site:\s+http/.test(first.output), 30000, 'first serve');
      first.child.kill('SIGTERM');
      await waitUntil(() => first.child.exitCode !== null, 30000, 'first serve stops');
      url = `sqlite:${data}`;
    }
    run(['subscriptions', 'import', '--store', url, '--config', config, '--data', data, '--category', 'breaking', file]);
    const token = run(['token', 'create', '--store', url, '--config', config, '--data', data,
      '--name', `bench-${Date.now()}`, '--scope', 'alerts:send']).trim();
    return { url, data, token };
  }

  // Sends one alert through `count` nodes of `s`; returns the figures.
  async function alertOn(s, count, n) {
    const nodes = [];
    for (let k = 0; k < count; ++k) {
      const args = ['serve', '--listen', '127.0.0.1:0', '--data', `${s.data}-${k}`, '--store', s.url,
        '--config', writeConfig(`node-${k + 1}`), '--no-demo'];
      const node = PIN ? start('taskset', ['-c', String(k % os.cpus().length), BIN, ...args]) : start(BIN, args);
      const m = await waitUntil(() => /site:\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(node.output), 30000, 'serve');
      nodes.push({ ...node, url: m[1] });
    }
    await stats(true);
    const headers = { 'Content-Type': 'application/json', Origin: nodes[0].url, Authorization: `Bearer ${s.token}` };
    // The same alert in every run: `force` passes the duplicate guard (a desk would be stopped).
    const composedAnswer = await fetch(`${nodes[0].url}/api/newsroom/alerts`, { method: 'POST', headers,
      body: JSON.stringify({ category: 'breaking', title: 'Benchmark', body: 'One alert.', url: '/', force: true }) });
    const composed = await composedAnswer.json();
    if (composedAnswer.status !== 201) throw new Error(`compose: ${composedAnswer.status} ${JSON.stringify(composed)}`);
    const cpu0 = nodes.map((x) => cpuSeconds(x.child.pid));
    const t0 = Date.now();
    const sent = await fetch(`${nodes[0].url}/api/newsroom/alerts/${composed.id}/send`, { method: 'POST', headers,
      body: '{"confirm":true,"force":true}' });
    if (sent.status !== 202) throw new Error(`send: ${sent.status} ${await sent.text()}`);
    const alert = await waitUntil(async () => {
      const a = await (await fetch(`${nodes[0].url}/api/newsroom/alerts/${composed.id}`, { headers })).json();
      return a.status !== 'sending' && a;
    }, 1800000, 'the alert is sent');
    const seconds = (Date.now() - t0) / 1000;
    const cpu = nodes.map((x, i) => cpuSeconds(x.child.pid) - cpu0[i]);
    const rss = nodes.map((x) => peakRssMb(x.child.pid));
    const sunk = await stats(false);
    for (const x of nodes) x.child.kill('SIGTERM');
    await waitUntil(() => nodes.every((x) => x.child.exitCode !== null || x.child.signalCode !== null), 30000, 'nodes stop');
    const total = cpu.reduce((a, b) => a + b, 0);
    return { status: alert.status, sent: alert.delivery.sent, distinct: sunk.distinct, dups: sunk.dups, n,
      seconds, msgs_per_s: Math.round(n / seconds), cpu_s: cpu.map((c) => +c.toFixed(2)),
      cpu_us_per_msg: +((total * 1e6) / n).toFixed(1), peak_rss_mb: rss.map((r) => Math.round(r)) };
  }

  const line = (what, r) => console.log(`${what.padEnd(28)} ${JSON.stringify(r)}`);
  console.log(`# ${new Date().toISOString()} N=${N} THREADS=${THREADS} SHARD=${SHARD} PIN=${PIN} cores=${os.cpus().length}`);
  const sqlite = await site('sqlite', N);
  const pg = await site('pg', N);
  const oneSqlite = await alertOn(sqlite, 1, N);
  line('sqlite, 1 node', oneSqlite);
  const onePg = await alertOn(pg, 1, N);
  line('postgresql, 1 node', onePg);
  console.log(`cpu per message, postgresql / sqlite: ${(onePg.cpu_us_per_msg / oneSqlite.cpu_us_per_msg).toFixed(3)}`);
  const twoPg = await alertOn(pg, 2, N);
  line('postgresql, 2 nodes', twoPg);
  console.log(`msgs/s, 2 nodes / 1 node: ${(twoPg.msgs_per_s / onePg.msgs_per_s).toFixed(2)}`);
  if (BIG > 0) {
    const big = await site('pg', BIG);
    line(`postgresql, 2 nodes, ${BIG}`, await alertOn(big, 2, BIG));
  }
}

try {
  await main();
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (stateFile) spawnSync(path.join(ROOT, 'scripts', 'pg-test-cluster.sh'), ['stop', stateFile]);
  fs.rmSync(tmp, { recursive: true, force: true });
}
