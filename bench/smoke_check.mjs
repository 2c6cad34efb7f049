// Smoke runs of the benchmarks that are not Google Benchmark binaries, for CI (ctest label
// bench-smoke): tiny sizes, seconds each, and every run checks its work — a failed operation
// fails the run, where the full benchmark scripts only report figures.
//
//   node bench/smoke_check.mjs pushservice BUILD   `flashwire push-service` + push_load idle and
//       throughput: every user agent stays open, every message is accepted, delivered and acked,
//       no error of any kind, and the service exits 0 on SIGTERM.
//   node bench/smoke_check.mjs fanout BUILD        bench/fanout/run.sh with 300 subscriptions,
//       one run: both senders (peer and flashwire) reach all 300, the sink verifies headers,
//       VAPID and a sample of bodies, with no duplicate, missing or failed message.
// Loopback only; each step has a time limit. Exit 0: all good; 1: a check failed (named).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const [mode, buildArg = 'build'] = process.argv.slice(2);
const BUILD = path.resolve(ROOT, buildArg);
const problems = [];
const check = (ok, what) => { if (!ok) problems.push(what); };

// Runs a command to its end (SIGKILL after limitMs); resolves to { status, stdout, stderr }.
function run(command, args, { limitMs, env = process.env, cwd = ROOT } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.once('error', reject);
    child.once('close', (status, signal) => { clearTimeout(timer); resolve({ status, signal, stdout, stderr }); });
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => { const { port } = probe.address(); probe.close(() => resolve(port)); });
  });
}

const emptyErrors = (errors) => !errors || Object.keys(errors).length === 0;

async function pushservice() {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-smoke-push-'));
  const service = spawn(path.join(BUILD, 'src/app/flashwire'),
    ['push-service', '--listen', '127.0.0.1:0', '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  service.stderr.setEncoding('utf8').on('data', (c) => { err += c; });
  const exited = new Promise((resolve) => service.once('exit', (code, signal) => resolve({ code, signal })));
  try {
    const address = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`push-service not listening within 10 s: ${err}`)), 10000);
      service.stdout.setEncoding('utf8').on('data', (c) => {
        out += c;
        const m = /"event":"listening","address":"([^"]+)"/.exec(out);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
      exited.then(({ code }) => reject(new Error(`push-service exited (${code}) before listening: ${err}`)));
    });
    const load = path.join(BUILD, 'bench/pushservice/push_load');
    const common = ['--server', address, '--server-pid', String(service.pid)];

    const idle = await run(load, ['idle', ...common, '--connections', '50', '--sources', '1', '--duration', '1',
      '--concurrency', '10', '--connect-timeout', '20'], { limitMs: 60000 });
    check(idle.status === 0, `push_load idle exited with ${idle.status}: ${idle.stderr.slice(-500)}`);
    const i = JSON.parse(idle.stdout.trim().split('\n').pop() || '{}');
    check(i.complete === true && i.opened === 50 && i.open_at_end_of_hold === 50, `idle: ${idle.stdout.trim()}`);
    check(emptyErrors(i.errors), `idle errors: ${JSON.stringify(i.errors)}`);

    const tp = await run(load, ['throughput', ...common, '--subscribers', '20', '--http-connections', '2',
      '--messages', '400', '--duration', '30'], { limitMs: 90000 });
    check(tp.status === 0, `push_load throughput exited with ${tp.status}: ${tp.stderr.slice(-500)}`);
    const t = JSON.parse(tp.stdout.trim().split('\n').pop() || '{}');
    check(t.complete === true && t.accepted === 400 && t.delivered === 400 && t.matched === 400,
      `throughput: ${tp.stdout.trim()}`);
    check(emptyErrors(t.errors) && t.lost_requests === 0 && t.misrouted === 0 && t.bad_data === 0,
      `throughput errors: ${tp.stdout.trim()}`);
    console.log(`push_load idle: ${idle.stdout.trim()}\npush_load throughput: ${tp.stdout.trim()}`);
  } finally {
    service.kill('SIGTERM');
    const timer = setTimeout(() => service.kill('SIGKILL'), 5000);
    const { code, signal } = await exited;
    clearTimeout(timer);
    check(code === 0, `push-service exited with ${code} (signal ${signal}) after SIGTERM: ${err.slice(-500)}`);
    fs.rmSync(data, { recursive: true, force: true });
  }
}

// Exit status ctest reports as "skipped" (SKIP_RETURN_CODE): shown in the summary, not a pass.
const SKIPPED = 77;

async function fanout() {
  const peer = process.env.PEER_DIR || path.join(ROOT, '../shared/peers/web-push-node');
  if (!fs.existsSync(path.join(peer, 'compare.sh'))) {
    console.error(`bench smoke (fanout) SKIPPED: no peer harness at ${peer} (set PEER_DIR)`);
    process.exit(SKIPPED);
  }
  const port = await freePort();
  const env = { ...process.env, SIZES: '300', BIG: '0', RUNS: '1', VERIFY: '1', PORT: String(port) };
  const r = await run('bash', [path.join(ROOT, 'bench/fanout/run.sh'), path.relative(ROOT, BUILD)], { env, limitMs: 120000 });
  console.log(r.stdout.trim());
  check(r.status === 0, `bench/fanout/run.sh exited with ${r.status}: ${r.stderr.slice(-1000)}`);
  const lines = r.stdout.split('\n');
  const json = (prefix) => lines.filter((l) => l.startsWith(prefix)).map((l) => JSON.parse(l.slice(prefix.length)));
  const senders = [...json('peer: '), ...json('engine: ')];
  const sinks = json('sink: ');
  check(json('engine: ').length === 1 && json('peer: ').length === 1, 'one peer and one engine run');
  check(sinks.length === 2, 'the sink reported after each sender');
  for (const s of senders) check(s.n === 300 && s.ok === 300 && s.failed === 0, `sender: ${JSON.stringify(s)}`);
  for (const s of sinks) {
    check(s.received === 300 && s.distinct === 300 && s.dups === 0 && s.missing === 0, `sink counts: ${JSON.stringify(s)}`);
    check(s.mode === 'verify' && s.decrypt_ok > 0 && s.jwt_ok > 0, `sink did not verify: ${JSON.stringify(s)}`);
    check(s.decrypt_fail === 0 && s.jwt_fail === 0 && s.bad_headers === 0 && s.bad_body === 0 && s.unknown === 0 &&
      emptyErrors(s.problems), `sink problems: ${JSON.stringify(s)}`);
  }
}

const modes = { pushservice, fanout };
if (!modes[mode]) {
  console.error('usage: node bench/smoke_check.mjs pushservice|fanout [build-dir]');
  process.exit(2);
}
try {
  await modes[mode]();
} catch (e) {
  problems.push(e.message);
}
if (problems.length) {
  console.error(`bench smoke (${mode}) FAILED:\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log(`bench smoke (${mode}): ok`);
