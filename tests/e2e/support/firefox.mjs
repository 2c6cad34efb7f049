// Support for the real-browser end-to-end tests (tests/e2e): a headless Firefox ESR driven by
// puppeteer-core over WebDriver BiDi, a static origin on 127.0.0.1 serving tests/e2e/fixtures/,
// and `flashwire push-service` as a child process. Everything here talks to loopback only: the
// prefs below route anything else to a dead local proxy (see shared/design/FIREFOX-E2E.md).
// Every wait is bounded; every start has a matching stop that is safe to call twice.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { BIN } from '../../support/flashwire_cli.mjs';
import { waitUntil } from '../../support/wait.mjs';

export const FIREFOX_PATH = process.env.FIREFOX_BIN || '/usr/bin/firefox-esr';
const FIXTURES_DIR = new URL('../fixtures/', import.meta.url);
// FLASHWIRE_E2E_DEBUG=1 shows Firefox's own output and its push logging on stderr.
const DEBUG = Boolean(process.env.FLASHWIRE_E2E_DEBUG);

// ------------------------------------------------------------------ small bounded helpers

// Rejects with `what timed out` when the promise has not settled within ms.
export function withTimeout(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// Polls check() until it returns a truthy value, which is returned; throws once the deadline
// passes, with describe() (if given) in the message to show what was seen last.
export function pollUntil(check, { timeoutMs = 10000, intervalMs = 100, what = 'condition', describe } = {}) {
  return waitUntil(check, timeoutMs, what, { intervalMs, describe });
}

// A fresh directory under the system temp dir (/tmp), and its removal.
export function makeTempDir(prefix) {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}
export async function removeDir(dir) {
  if (dir) await fsp.rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

// ------------------------------------------------------------------ Firefox

// The prefs from FIREFOX-E2E.md. pushServerURL is the push service's WebSocket URL.
export function firefoxPrefs(pushServerURL) {
  const prefs = {
    // Our push service, reachable over plain ws:// on loopback, always connected.
    'dom.push.serverURL': pushServerURL,
    'dom.push.testing.allowInsecureServerURL': true,
    'dom.push.connection.enabled': true,
    // Subscribe and show notifications without prompts; headless has no system notifier.
    'dom.push.testing.ignorePermission': true,
    'permissions.default.desktop-notification': 1,
    'alerts.useSystemBackend': false,
    // Nothing leaves the machine: every non-local request goes to a dead proxy on port 9,
    // never directly, and no DNS prefetching. Remote settings point at the same dead port
    // (honoured on ESR only together with MOZ_DISABLE_NONLOCAL_CONNECTIONS=1).
    'network.proxy.type': 1,
    'network.proxy.http': '127.0.0.1',
    'network.proxy.http_port': 9,
    'network.proxy.ssl': '127.0.0.1',
    'network.proxy.ssl_port': 9,
    'network.proxy.failover_direct': false,
    'network.dns.disablePrefetch': true,
    'services.settings.server': 'http://127.0.0.1:9/v1',
  };
  if (DEBUG) {
    prefs['dom.push.loglevel'] = 'Debug';
    prefs['devtools.console.stdout.chrome'] = true;
  }
  return prefs;
}

// Launches headless Firefox on profileDir (created when missing; reused as is, so a test can
// close Firefox and launch it again on the same profile, service workers and push
// subscriptions included). systemAccess: true lets the WebDriver BiDi client reach Firefox's own
// (chrome) windows, e.g. a notification's alert window (MOZ_REMOTE_ALLOW_SYSTEM_ACCESS; the
// remote agent still listens on loopback only).
export async function launchFirefox({ profileDir, pushServerURL, timeoutMs = 20000, systemAccess = false }) {
  if (!profileDir) throw new Error('launchFirefox needs a profileDir');
  if (!fs.existsSync(FIREFOX_PATH)) {
    throw new Error(`${FIREFOX_PATH} not found: run scripts/install-deps.sh (Debian package firefox-esr)`);
  }
  const launching = puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    userDataDir: profileDir,
    extraPrefsFirefox: firefoxPrefs(pushServerURL),
    env: {
      ...process.env,
      MOZ_DISABLE_NONLOCAL_CONNECTIONS: '1',
      ...(systemAccess ? { MOZ_REMOTE_ALLOW_SYSTEM_ACCESS: '1' } : {}),
    },
    timeout: timeoutMs,
    protocolTimeout: timeoutMs,
    dumpio: DEBUG,
  });
  return withTimeout(launching, timeoutMs + 2000, 'launching Firefox');
}

// Closes Firefox and waits for its process to be gone (the profile is free for a relaunch
// then); kills it when a clean close takes too long. Safe on null and on a closed browser.
export async function closeFirefox(browser, timeoutMs = 10000) {
  if (!browser) return;
  const proc = browser.process();
  const gone = proc && proc.exitCode === null && proc.signalCode === null
    ? new Promise((resolve) => proc.once('exit', resolve))
    : Promise.resolve();
  try {
    await withTimeout(browser.close(), timeoutMs, 'closing Firefox');
  } catch (e) {
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
  await withTimeout(gone, timeoutMs, 'waiting for the Firefox process to exit').catch(() => {
    if (proc) proc.kill('SIGKILL');
  });
}

// Opens push-page.html from the origin in a new tab, with the VAPID public key in the query
// string, and waits until its service worker is active. Returns the puppeteer Page.
export async function openPushPage(browser, originURL, vapidPublicKey, timeoutMs = 10000) {
  const page = await browser.newPage();
  page.setDefaultTimeout(timeoutMs);
  const url = new URL('/push-page.html', originURL);
  url.searchParams.set('vapid', vapidPublicKey);
  await page.goto(url.href, { waitUntil: 'load', timeout: timeoutMs });
  await withTimeout(page.evaluate(() => window.e2e.ready), timeoutMs, 'service worker activation');
  return page;
}

// ------------------------------------------------------------------ static origin

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

// Serves the files of tests/e2e/fixtures/ (flat, by name) on http://127.0.0.1:<port>/.
// 127.0.0.1 is a secure context, so service workers and the Push API work over plain http.
export async function startOriginServer() {
  const server = http.createServer(async (req, res) => {
    const name = new URL(req.url, 'http://x').pathname.replace(/^\/+/, '') || 'push-page.html';
    const ext = path.extname(name);
    if (req.method !== 'GET' || name.includes('/') || !CONTENT_TYPES[ext]) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await fsp.readFile(new URL(name, FIXTURES_DIR));
      res.writeHead(200, { 'Content-Type': CONTENT_TYPES[ext], 'Cache-Control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    async close() {
      server.closeAllConnections();
      await withTimeout(new Promise((resolve) => server.close(() => resolve())), 5000, 'closing the origin server')
        .catch(() => {});
    },
  };
}

// ------------------------------------------------------------------ flashwire push-service

// Starts `flashwire push-service --listen 127.0.0.1:0 --data DIR` and waits for its one JSON
// line {"event":"listening","address","websocket","endpoint_base"}. Returns that line's fields
// plus stop() (SIGTERM, then SIGKILL after a grace period; resolves to {code, signal}) and
// logs() (what it wrote on stderr, for failure messages).
export async function startPushService({ dataDir, timeoutMs = 10000, extraArgs = [] }) {
  const args = ['push-service', '--listen', '127.0.0.1:0', '--data', dataDir, ...extraArgs];
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-20000);
    if (DEBUG) process.stderr.write(`[push-service] ${chunk}`);
  });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  const stop = async (graceMs = 5000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const first = await withTimeout(exited, graceMs, 'push-service exit after SIGTERM').catch(() => null);
      if (!first) {
        child.kill('SIGKILL');
        await withTimeout(exited, graceMs, 'push-service exit after SIGKILL').catch(() => {});
        return { code: null, signal: 'SIGKILL', killed: true };
      }
    }
    return exited;
  };

  let firstLine;
  try {
    firstLine = await withTimeout(new Promise((resolve, reject) => {
      let buf = '';
      child.stdout.setEncoding('utf8');
      const onData = (chunk) => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          child.stdout.off('data', onData);
          resolve(buf.slice(0, nl));
        }
      };
      child.stdout.on('data', onData);
      child.once('error', reject);
      exited.then(({ code, signal }) => reject(new Error(
        `push-service exited (code ${code}, signal ${signal}) before listening: ${stderr.trim()}`)));
    }), timeoutMs, `${BIN} ${args.join(' ')}`);
  } catch (e) {
    await stop();
    throw e;
  }
  // Keep draining stdout so the child can never block on a full pipe.
  child.stdout.resume();

  let info;
  try {
    info = JSON.parse(firstLine);
  } catch {
    await stop();
    throw new Error(`push-service: first stdout line is not JSON: ${JSON.stringify(firstLine)}`);
  }
  if (info.event !== 'listening' || !info.websocket || !info.endpoint_base) {
    await stop();
    throw new Error(`push-service: unexpected first line ${firstLine}`);
  }
  return {
    address: info.address,
    websocket: info.websocket,
    endpointBase: info.endpoint_base,
    line: info,
    pid: child.pid,
    stop,
    logs: () => stderr,
  };
}
