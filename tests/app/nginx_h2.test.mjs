// `flashwire fanout` over HTTPS + HTTP/2 against a second, independent HTTP/2 server: Debian's
// nginx on 127.0.0.1 with a self-signed certificate (made here with openssl) and
// `location /push/ { return 201; }`, which answers before it reads the request body, as
// services do for early refusals. nginx's own defaults stay in force: at most 128 streams per
// connection, and a GOAWAY after 1,000 requests on a connection (keepalive_requests), so a run
// of 20,000 crosses about twenty of them. Every message must be answered, within a bounded
// time (no stall), and each path must appear exactly once in nginx's access log.
//
// Skipped, saying so, only when nginx is not installed (scripts/install-deps.sh installs it).
// nginx runs from a temporary directory with its own configuration, pid file, logs and temp
// paths, never the system's, and is stopped at the end.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { LOOPBACK_ONLY_ENV, runFlashwire } from '../support/flashwire_serve.mjs';
import { makeCertificate } from '../support/h2_push_server.mjs';

const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
const MESSAGES = 20000;

const run = runFlashwire;

// A port free at this moment (nginx needs a number; a lost race is retried by the caller).
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Whether something accepts connections on the port now.
function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

async function startNginx(dir, tls) {
  const user = process.getuid() === 0
    ? `user ${os.userInfo().username} ${execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim()};`
    : '';
  for (let attempt = 0; attempt < 5; ++attempt) {
    const port = await freePort();
    const conf = path.join(dir, 'nginx.conf');
    fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'temp'), { recursive: true });
    fs.writeFileSync(conf, `# Written by tests/app/nginx_h2.test.mjs for one run.
${user}
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 1024; }
http {
  log_format paths '$request_uri';
  access_log ${dir}/logs/access.log paths;
  client_body_temp_path ${dir}/temp/body;
  proxy_temp_path ${dir}/temp/proxy;
  fastcgi_temp_path ${dir}/temp/fastcgi;
  uwsgi_temp_path ${dir}/temp/uwsgi;
  scgi_temp_path ${dir}/temp/scgi;
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    location /push/ { return 201; }
  }
}
`);
    const child = spawn(NGINX, ['-p', dir, '-c', conf, '-e', path.join(dir, 'logs', 'error.log')],
      { stdio: 'ignore', env: LOOPBACK_ONLY_ENV });
    let exited = false;
    child.once('exit', () => { exited = true; });
    const deadline = Date.now() + 10000;
    while (!exited && Date.now() < deadline) {
      if (await accepts(port)) return { child, port };
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGKILL');
    // Exited at once: most likely the port was taken meanwhile; try another.
  }
  const log = path.join(dir, 'logs', 'error.log');
  throw new Error(`nginx did not start: ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : ''}`);
}

const b64u = (buf) => Buffer.from(buf).toString('base64url');

describe('flashwire fanout against nginx over HTTP/2', { skip: NGINX ? false : 'nginx is not installed (scripts/install-deps.sh installs nginx-light)' }, () => {
  let dir;
  let nginx;
  let tls;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-nginx-h2-'));
    tls = makeCertificate(dir);
    nginx = await startNginx(dir, tls);
  }, { timeout: 60000 });
  after(async () => {
    if (nginx) {
      const exited = new Promise((resolve) => nginx.child.once('exit', resolve));
      nginx.child.kill('SIGTERM');
      const timer = setTimeout(() => nginx.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, { timeout: 10000 });

  test(`${MESSAGES} messages answered before their bodies were read: all answered once, no stall`, { timeout: 110000 }, async () => {
    const generated = await run(['vapid', 'generate']);
    assert.equal(generated.status, 0, generated.stderr);
    const vapidFile = path.join(dir, 'vapid.json');
    fs.writeFileSync(vapidFile, JSON.stringify({ subject: 'mailto:desk@news.example', ...JSON.parse(generated.stdout) }));
    const payloadFile = path.join(dir, 'payload.json');
    fs.writeFileSync(payloadFile, JSON.stringify({ title: 'Bridge reopens', url: 'https://news.example/a/1' }));
    const origin = `https://127.0.0.1:${nginx.port}`;
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    const keys = { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(crypto.randomBytes(16)) };
    const subs = path.join(dir, 'subs.jsonl');
    const lines = [];
    for (let i = 0; i < MESSAGES; ++i) lines.push(JSON.stringify({ endpoint: `${origin}/push/${i}`, keys }));
    fs.writeFileSync(subs, lines.join('\n') + '\n');

    const r = await run(['fanout', '--subs', subs, '--vapid', vapidFile, '--payload', payloadFile,
      '--push-host', origin, '--ca-file', tls.cert, '--ttl', '600']);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const result = JSON.parse(r.stdout.trim());
    assert.equal(result.n, MESSAGES);
    assert.equal(result.ok, MESSAGES, r.stdout);

    // nginx writes a request's line when it is done with it; wait (bounded) for all of them.
    const logFile = path.join(dir, 'logs', 'access.log');
    let logged = [];
    const deadline = Date.now() + 15000;
    for (;;) {
      logged = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [];
      if (logged.length >= MESSAGES || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const seen = new Map();
    for (const p of logged) seen.set(p, (seen.get(p) ?? 0) + 1);
    const twice = [...seen].filter(([, k]) => k > 1).map(([p, k]) => `${p} ×${k}`);
    assert.deepEqual(twice.slice(0, 10), [], `paths logged more than once (${twice.length})`);
    const missing = [];
    for (let i = 0; i < MESSAGES && missing.length < 10; ++i) {
      if (!seen.has(`/push/${i}`)) missing.push(i);
    }
    assert.deepEqual(missing, [], 'paths never logged');
    assert.equal(logged.length, MESSAGES);
  });
});
