// Starting and stopping `flashwire serve` as a child process, shared by the CLI tests
// (tests/app) and the browser tests (tests/e2e). The binary is $FLASHWIRE_BIN, or
// build/src/app/flashwire. Every wait is bounded; stop() is safe to call more than once.
import { spawn } from 'node:child_process';
import { BIN } from './flashwire_cli.mjs';

// serve prints its whole start-up block in one write, the site URL first:
//   Flashwire is serving <name>\n  site:     http://127.0.0.1:<port>/\n  newsroom: …/newsroom\n
//   [editor token …]\n
const SITE_LINE = /site:\s+(http:\/\/127\.0\.0\.1:\d+)\//;

// Tests send traffic only to loopback. Subscriptions on the vendors' push services (FCM,
// Mozilla, …) are valid input for the readers' API, and the fan-out would try to deliver alerts
// to them: the fan-out's HTTP client (libcurl) is pointed at a proxy on a closed loopback port
// for every host except loopback, so such attempts fail on 127.0.0.1 (no DNS lookup, no packet
// leaves the machine) and are recorded as failed deliveries.
export const LOOPBACK_ONLY_ENV = {
  ...process.env,
  http_proxy: 'http://127.0.0.1:9',
  https_proxy: 'http://127.0.0.1:9',
  HTTPS_PROXY: 'http://127.0.0.1:9',
  no_proxy: '127.0.0.1,localhost,::1',
  NO_PROXY: '127.0.0.1,localhost,::1',
};

// Runs `flashwire ARGS…` (a command that ends by itself: fanout, vapid, …) without blocking the
// event loop, so that servers living in the test's own process keep answering it. Resolves to
// { status, stdout, stderr } (text); rejects if it is still running after timeoutMs (a stall),
// after killing it.
export function runFlashwire(args, { timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: LOOPBACK_ONLY_ENV });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      if (signal) reject(new Error(`flashwire ${args.join(' ')}: killed by ${signal} (stalled?)\n${stderr}`));
      else resolve({ status, stdout, stderr });
    });
  });
}

// Runs `flashwire serve --listen 127.0.0.1:0 --data DATA_DIR [extraArgs…]` and resolves once it
// has printed its site URL. Resolves to:
//   url      the site's origin, "http://127.0.0.1:<port>" (no trailing slash)
//   output   everything serve has printed so far, stdout and stderr interleaved (live)
//   child    the ChildProcess
//   stop()   SIGTERM, then SIGKILL after graceMs; resolves to the exit code (null if killed)
// Rejects (and leaves no process behind) when serve exits first or is not up within timeoutMs.
export function startServe(dataDir, extraArgs = [], { timeoutMs = 15000 } = {}) {
  const args = ['serve', '--listen', '127.0.0.1:0', '--data', dataDir, ...extraArgs];
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: LOOPBACK_ONLY_ENV });
  let output = '';
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  async function stop(graceMs = 5000) {
    const running = () => child.exitCode === null && child.signalCode === null;
    if (running()) {
      child.kill('SIGTERM');
      const timer = (ms) => new Promise((resolve) => setTimeout(resolve, ms, null));
      const first = await Promise.race([exited, timer(graceMs)]);
      if (!first) {
        child.kill('SIGKILL');
        await Promise.race([exited, timer(graceMs)]);
      }
    }
    return child.exitCode;
  }

  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = async (message) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      await stop();
      reject(new Error(`${BIN} ${args.join(' ')}: ${message}\n--- output ---\n${output}`));
    };
    const timer = setTimeout(() => fail(`not serving within ${timeoutMs} ms`), timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => { output = (output + chunk).slice(-50000); });
    child.stdout.on('data', (chunk) => {
      output = (output + chunk).slice(-50000);
      const match = SITE_LINE.exec(output);
      if (match && output.endsWith('\n') && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve({
          url: match[1],
          get output() { return output; },
          child,
          pid: child.pid,
          stop,
        });
      }
    });
    child.once('error', (e) => fail(`could not start: ${e.message}`));
    exited.then(({ code, signal }) => fail(`exited (code ${code}, signal ${signal}) before serving`));
  });
}

// Teardown: stop() and insist that serve exited by itself with status 0 after SIGTERM, so that
// a crash, a hang or a sanitizer report at shutdown fails the suite that started it. Resolves to
// 0, or to null when there is no server; rejects with serve's output otherwise.
export async function stopServe(server, graceMs) {
  if (!server) return null;
  const code = await server.stop(graceMs);
  if (code !== 0) {
    throw new Error(`serve did not exit cleanly after SIGTERM (exit status ${code}, signal ` +
      `${server.child.signalCode})\n--- serve output (tail) ---\n${server.output.slice(-3000)}`);
  }
  return code;
}
