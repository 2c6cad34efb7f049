// `flashwire serve` out of file descriptors while it sends an alert. With a low open-file limit
// (prlimit, soft = hard, so serve cannot raise it) and the embedded push service on, idle
// WebSocket upgrades fill the descriptor table; then an editor confirms an alert. The fan-out
// cannot open what it needs (the sender's epoll instance, sockets): the alert must end "failed"
// with the reason, serve must stay up, and once the connections close it must answer again.
// Before the fix, the exception thrown on a sender thread ended the whole process.
//
// Every wait is for a condition, bounded. Loopback only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BIN, b64u } from '../support/flashwire_cli.mjs';
import { LOOPBACK_ONLY_ENV } from '../support/flashwire_serve.mjs';
import { startPushReceiver } from '../support/push_receiver.mjs';
import { waitUntil } from '../support/wait.mjs';

const FD_LIMIT = 80;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls check() until it returns a truthy value or limitMs passes; log() joins the failure.
const pollUntil = (check, what, limitMs = 20000, log = () => '') =>
  waitUntil(check, limitMs, what, { intervalMs: 20, describe: log });

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

// Descriptors in use below the limit (one inherited from outside with a higher number does not
// take a slot).
const openDescriptors = (pid) =>
  fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => Number(fd) < FD_LIMIT).length;

// `prlimit --nofile=N:N flashwire serve …`; resolves once serve has printed its start-up block.
function startLimitedServe(dataDir, config) {
  const args = [`--nofile=${FD_LIMIT}:${FD_LIMIT}`, '--', BIN, 'serve', '--listen', '127.0.0.1:0',
    '--data', dataDir, '--config', config];
  const child = spawn('prlimit', args, { stdio: ['ignore', 'pipe', 'pipe'], env: LOOPBACK_ONLY_ENV });
  const state = { child, output: '', exit: null };
  state.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    state.exit = { code, signal };
    resolve(state.exit);
  }));
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk) => { state.output = (state.output + chunk).slice(-50000); });
  child.stderr.on('data', (chunk) => { state.output = (state.output + chunk).slice(-50000); });
  return pollUntil(() => {
    if (state.exit) throw new Error(`serve exited early: ${JSON.stringify(state.exit)}\n${state.output}`);
    const site = /site:\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(state.output);
    const token = /editor token \(shown once, keep it safe\): (fw_[A-Za-z0-9_-]{43})\n/.exec(state.output);
    return site && token ? Object.assign(state, { url: site[1], token: token[1] }) : null;
  }, 'serve to start', 15000);
}

// One HTTP request through `agent`; resolves to { status, json } once the answer is read and,
// for a one-off connection (agent false), once the connection is closed.
function request(url, { method = 'GET', body, headers = {}, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(url, {
      method, agent, timeout: 10000,
      headers: { 'Content-Type': 'application/json', ...(agent ? {} : { Connection: 'close' }), ...headers },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => {
        const result = { status: res.statusCode, json: text ? JSON.parse(text) : null };
        if (agent) resolve(result);
        else if (res.socket.destroyed) resolve(result);
        else res.socket.once('close', () => resolve(result));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within 10 s`)));
    req.on('error', (e) => reject(new Error(`${method} ${new URL(url).pathname}: ${e.message}`)));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

// A WebSocket upgrade to the push service, accepted (101) and then left idle.
function idleWebSocket(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no 101 within 10 s')); }, 10000);
    socket.setEncoding('latin1');
    socket.once('error', (e) => { clearTimeout(timer); reject(e); });
    socket.on('data', (chunk) => {
      answer += chunk;
      if (!answer.includes('\r\n\r\n')) return;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.on('error', () => {});
      if (answer.startsWith('HTTP/1.1 101')) resolve(socket);
      else { socket.destroy(); reject(new Error(`upgrade refused: ${answer.split('\r\n')[0]}`)); }
    });
    socket.write([
      'GET / HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
      `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13',
      '', '',
    ].join('\r\n'));
  });
}

test('serve out of file descriptors fails the alert with the reason and stays up', { timeout: 90000 }, async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-exhaustion-'));
  const receiver = await startPushReceiver();  // the readers' push service: answers 201
  const pushPort = await freePort();              // the embedded one: holds the idle upgrades
  const config = path.join(root, 'flashwire.toml');
  fs.writeFileSync(config, [
    `push_hosts = [${JSON.stringify(receiver.origin)}]`,
    '[push_service]', 'enabled = true', `listen = "127.0.0.1:${pushPort}"`,
    '[fanout]', 'threads = 1', '',
  ].join('\n'));
  const serve = await startLimitedServe(path.join(root, 'data'), config);
  const sockets = [];
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const pid = serve.child.pid;  // prlimit runs serve in its own process (exec)
    const editor = { Authorization: `Bearer ${serve.token}`, Origin: serve.url };

    // Two readers of breaking news.
    for (let i = 0; i < 2; ++i) {
      const ecdh = crypto.createECDH('prime256v1');
      ecdh.generateKeys();
      const subscription = {
        endpoint: `${receiver.origin}/push/exhaustion-${i}`,
        keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(crypto.randomBytes(16)) },
      };
      const r = await request(`${serve.url}/api/subscriptions`, {
        method: 'POST', body: { subscription, categories: ['breaking'] }, headers: { Origin: serve.url },
      });
      assert.equal(r.status, 201, JSON.stringify(r.json));
    }
    const compose = async (title) => {
      const r = await request(`${serve.url}/api/newsroom/alerts`, {
        method: 'POST', headers: editor, body: { category: 'breaking', title, url: '/', ttl_seconds: 60 },
      });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json;
    };
    const confirmAndWait = async (alert) => {
      const sent = await request(`${serve.url}${alert.confirm}`, {
        method: 'POST', headers: editor, body: { confirm: true },
      });
      assert.equal(sent.status, 202, JSON.stringify(sent.json));
      return pollUntil(async () => {
        const r = await request(`${serve.url}/api/newsroom/alerts/${alert.id}`, { headers: editor });
        return r.json.delivery && r.json.delivery.state !== 'running' ? r.json : null;
      }, `alert ${alert.id} to finish`, 30000, () => `\n--- serve output ---\n${serve.output}`);
    };

    // One alert while descriptors are plenty: the engine works, and every code path it takes
    // has run once (a sanitizer build checks a virtual call's target once per type, with a pipe
    // it cannot make later).
    const before = await confirmAndWait(await compose('Descriptors plenty'));
    assert.equal(before.status, 'sent', JSON.stringify(before));
    assert.equal(before.delivery.sent, 2, JSON.stringify(before.delivery));

    // Likewise an idle WebSocket that comes and goes, as all of them will below.
    const baseline = openDescriptors(pid);
    (await idleWebSocket(pushPort)).destroy();
    await pollUntil(() => openDescriptors(pid) <= baseline, 'the first WebSocket to be closed');

    const composed = await compose('Descriptor table full');

    // Fill the table but one descriptor: the confirmation's connection takes the last.
    for (let i = 0; i < FD_LIMIT && openDescriptors(pid) < FD_LIMIT - 1; ++i) {
      sockets.push(await idleWebSocket(pushPort));
    }
    assert.equal(openDescriptors(pid), FD_LIMIT - 1, 'the descriptor table is full but one');

    const sent = await request(`${serve.url}${composed.confirm}`, {
      method: 'POST', headers: editor, body: { confirm: true }, agent: keepAlive,
    }).catch((e) => { throw new Error(`${e.message}\n--- serve output ---\n${serve.output}`); });
    assert.equal(sent.status, 202, JSON.stringify(sent.json));
    // Read through the same kept-alive connection: no descriptor is free for another one.
    const alert = await pollUntil(async () => {
      assert.equal(serve.exit, null, `serve ended: ${JSON.stringify(serve.exit)}\n${serve.output}`);
      const r = await request(`${serve.url}/api/newsroom/alerts/${composed.id}`, {
        headers: editor, agent: keepAlive,
      }).catch(async (e) => {
        await Promise.race([serve.exited, sleep(2000)]);
        throw new Error(`${e.message}; serve: ${JSON.stringify(serve.exit)}\n${serve.output}`);
      });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      return r.json.status !== 'sending' ? r.json : null;
    }, 'the alert to leave "sending"', 30000, () => `\n--- serve output ---\n${serve.output}`);
    assert.equal(alert.status, 'failed', JSON.stringify(alert));
    assert.equal(alert.delivery.state, 'failed', JSON.stringify(alert.delivery));
    assert.match(alert.delivery.error, /Too many open files/, JSON.stringify(alert.delivery));

    // The connections go; serve answers again, and another alert goes through the engine.
    for (const s of sockets.splice(0)) s.destroy();
    keepAlive.destroy();
    await pollUntil(async () => {
      assert.equal(serve.exit, null, `serve ended: ${JSON.stringify(serve.exit)}\n${serve.output}`);
      return (await request(`${serve.url}/health`).catch(() => ({ status: 0 }))).status === 200;
    }, '/health to answer again');
    const after = await confirmAndWait(await compose('Descriptors back'));
    assert.equal(after.status, 'sent', JSON.stringify(after));
    assert.equal(after.delivery.sent, 2, JSON.stringify(after.delivery));
    assert.equal(receiver.total(), 4, 'nothing of the failed alert went out');

    serve.child.kill('SIGTERM');
    const exit = await Promise.race([serve.exited, sleep(10000).then(() => null)]);
    assert.deepEqual(exit, { code: 0, signal: null }, serve.output);
  } finally {
    for (const s of sockets) s.destroy();
    keepAlive.destroy();
    await receiver.close();
    if (!serve.exit) {
      serve.child.kill('SIGKILL');
      await serve.exited;
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
});
