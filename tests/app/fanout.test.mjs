// The fan-out through the real binary, against our own loopback push service
// (tests/support/push_receiver.mjs):
//   - `flashwire fanout` (file in, one JSON line out): exactly one request per subscription,
//     bodies that decrypt to the payload's bytes, valid VAPID, bad inputs refused;
//   - `flashwire subscriptions import`: line-numbered rejections, idempotent re-import;
//   - `flashwire serve` + `flashwire alert send`: payload, delivery report and /metrics; what the
//     push service answers (410, 413, 429, 503, a closed connection, 403) and what the fan-out
//     does about it; TTL 0; cancel;
//   - crash and resume: serve is killed with SIGKILL mid-fan-out and restarted on the same data;
//     every subscriber is reached, duplicates stay within the documented bound, counts are exact.
//
// Every child process gets LOOPBACK_ONLY_ENV and every wait is bounded.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runFlashwire, startServe, stopServe } from '../support/flashwire_serve.mjs';
import { waitUntil } from '../support/wait.mjs';
import {
  startPushReceiver, makeSubscribers, writeSubscriptions, subscriptionLine, checkRequest,
} from '../support/push_receiver.mjs';

// ---------------------------------------------------------------- helpers

const run = runFlashwire;


function tempDir(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `flashwire-fanout-${name}-`));
}

// A serve configuration: the receivers' origins are the push services it may use.
function writeConfig(dir, pushHosts, fanout) {
  const file = path.join(dir, 'flashwire.toml');
  const lines = [`push_hosts = [${pushHosts.map((h) => JSON.stringify(h)).join(', ')}]`, '[fanout]'];
  for (const [key, value] of Object.entries(fanout)) lines.push(`${key} = ${value}`);
  lines.push('[metrics]', 'listen = "127.0.0.1:0"');  // /metrics has a listener of its own
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function editorToken(server) {
  const m = /editor token \(shown once, keep it safe\): (fw_[A-Za-z0-9_-]{43})\n/.exec(server.output);
  assert.ok(m, 'serve prints the first editor token');
  return m[1];
}

// A site's data directory as its first `serve` start makes it (the commands that work beside
// serve never create one); resolves to the editor token that start printed.
async function initSite(dataDir, config) {
  const first = await startServe(dataDir, ['--config', config]);
  const token = editorToken(first);
  assert.equal(await stopServe(first), 0);
  return token;
}

// serve prints what its fan-out resumes in its start-up block (one write, read whole by
// startServe): the marker that tells "nothing resumed" without waiting for nothing to happen.
const RESUMING = /^ {2}fan-out: resuming (\d+) alert\(s\) left sending$/m;

async function api(server, token, method, pathname, body) {
  const response = await fetch(server.url + pathname, {
    method,
    headers: { 'Content-Type': 'application/json', Origin: server.url, Authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await response.text();
  return { status: response.status, json: text && text.startsWith('{') ? JSON.parse(text) : text };
}

// Composes and confirms an alert through the newsroom API; resolves to its id.
async function sendAlert(server, token, fields) {
  const composed = await api(server, token, 'POST', '/api/newsroom/alerts', fields);
  assert.equal(composed.status, 201, JSON.stringify(composed.json));
  const sent = await api(server, token, 'POST', `/api/newsroom/alerts/${composed.json.id}/send`, { confirm: true });
  assert.equal(sent.status, 202, JSON.stringify(sent.json));
  return composed.json.id;
}

async function metricValue(server, name, labels) {
  const url = /metrics:\s+(http:\/\/127\.0\.0\.1:\d+\/metrics)\n/.exec(server.output)?.[1];
  assert.ok(url, `serve prints its metrics URL:\n${server.output}`);
  const response = await fetch(url, { signal: AbortSignal.timeout(10000) });
  assert.equal(response.status, 200);
  const text = await response.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  assert.ok(line, `${name}${labels} in /metrics:\n${text}`);
  return Number(line.split(' ')[1]);
}

// Asserts every subscriber in `subs` got exactly `times` requests.
function assertEachReceived(receiver, subs, times = 1) {
  const wrong = subs.filter((s) => receiver.count(s.path) !== times);
  assert.equal(wrong.length, 0,
    `${wrong.length} endpoint(s) not received exactly ${times}x, e.g. ${wrong.slice(0, 3).map((s) => `${s.path}: ${receiver.count(s.path)}`).join(', ')}`);
}

// Checks the kept requests of `receiver` (headers, VAPID, decryption); returns the plaintexts.
function checkKept(receiver, subsByPath, vapidPublicKey) {
  const kept = receiver.requests.filter((r) => r.body);
  assert.ok(kept.length > 0, 'some bodies were kept for checking');
  return kept.map((record) => {
    const sub = subsByPath.get(record.path);
    assert.ok(sub, `a request for an unknown path ${record.path}`);
    return { record, ...checkRequest(record, sub, { origin: receiver.origin, vapidPublicKey }) };
  });
}

const byPath = (...lists) => new Map(lists.flat().map((s) => [s.path, s]));

// ---------------------------------------------------------------- flashwire fanout

describe('flashwire fanout (subscriptions from a file)', () => {
  const N = 300;
  let dir;
  let receiver;
  let subs;
  let vapid;
  let files;
  // The message's exact bytes: UTF-8 beyond ASCII and a trailing newline must survive as sent.
  const payload = Buffer.from(`${JSON.stringify({
    title: 'Flood barrier closes — river at record level',
    body: 'Évacuation of the quays until 18:00; 避難 advice in ten languages.',
    url: 'https://news.example/articles/flood-barrier',
  })}\n`, 'utf8');

  before(async () => {
    dir = tempDir('file');
    receiver = await startPushReceiver({ keepBodies: true, alsoListen: ['127.0.0.2'] });
    subs = makeSubscribers(N, receiver.origin);
    const generated = await run(['vapid', 'generate']);
    assert.equal(generated.status, 0, generated.stderr);
    vapid = { subject: 'mailto:desk@news.example', ...JSON.parse(generated.stdout) };
    files = {
      subs: path.join(dir, 'subs.jsonl'),
      vapid: path.join(dir, 'vapid.json'),
      payload: path.join(dir, 'payload.json'),
    };
    writeSubscriptions(files.subs, subs);
    fs.writeFileSync(files.vapid, JSON.stringify(vapid));
    fs.writeFileSync(files.payload, payload);
  });
  after(async () => {
    await receiver?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('sends each subscription exactly one message that decrypts to the payload', { timeout: 90000 }, async () => {
    const started = Date.now();
    const r = await run(['fanout', '--subs', files.subs, '--vapid', files.vapid, '--payload', files.payload,
      '--push-host', receiver.origin, '--ttl', '600', '--urgency', 'normal']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'one JSON line');
    const result = JSON.parse(lines[0]);
    assert.equal(result.n, N);
    assert.equal(result.ok, N);
    assert.equal(result.failed, 0);
    for (const key of ['msgs_per_s', 'cpu_s', 'peak_rss_mb', 'wall_s']) {
      assert.equal(typeof result[key], 'number', `${key} is a number`);
      assert.ok(result[key] >= 0, `${key} >= 0`);
    }
    assert.ok(result.peak_rss_mb > 0);

    assert.equal(receiver.total(), N, 'one request per subscription');
    assert.equal(receiver.distinct(), N);
    assertEachReceived(receiver, subs);
    const elapsed = Math.ceil((Date.now() - started) / 1000);
    const checked = checkKept(receiver, byPath(subs), vapid.publicKey);
    assert.equal(checked.length, N, 'every body checked');
    for (const { record, plaintext, claims, ttl, urgency } of checked) {
      assert.ok(plaintext.equals(payload), `${record.path}: plaintext is the payload's exact bytes`);
      assert.equal(claims.sub, vapid.subject);
      assert.ok(ttl <= 600 && ttl >= 600 - elapsed - 1, `TTL ${ttl} counts down from 600`);
      assert.equal(urgency, 'normal');
      assert.equal(record.headers['content-type'], 'application/octet-stream');
    }
  });

  test('--ttl 0 still sends every message, each with TTL: 0', { timeout: 60000 }, async () => {
    receiver.reset();
    const r = await run(['fanout', '--subs', files.subs, '--vapid', files.vapid, '--payload', files.payload,
      '--push-host', receiver.origin, '--ttl', '0', '--limit', '50']);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.equal(JSON.parse(r.stdout).ok, 50);
    assertEachReceived(receiver, subs.slice(0, 50));
    assert.deepEqual([...new Set(receiver.requests.map((x) => x.headers.ttl))], ['0']);
  });

  test('refuses bad input with one clear line and a non-zero exit', { timeout: 90000 }, async () => {
    receiver.reset();
    const base = ['--vapid', files.vapid, '--payload', files.payload, '--push-host', receiver.origin];

    const missing = await run(['fanout', '--subs', path.join(dir, 'nowhere.jsonl'), ...base]);
    assert.equal(missing.status, 1);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /^flashwire: cannot open \S*nowhere\.jsonl for reading\n$/);

    const malformed = path.join(dir, 'malformed.jsonl');
    fs.writeFileSync(malformed, `${subscriptionLine(subs[0])}\n{"endpoint": 42}\n${subscriptionLine(subs[1])}\n`);
    const bad = await run(['fanout', '--subs', malformed, ...base]);
    assert.equal(bad.status, 1);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /^flashwire: \S*malformed\.jsonl:2: not a PushSubscription[^\n]*\n$/);

    // A bad line far behind the first shard: the whole file is checked before the first request,
    // so the shards before it are not sent either.
    const late = path.join(dir, 'malformed-late.jsonl');
    fs.writeFileSync(late, subs.map(subscriptionLine).join('\n') + '\nnot json\n');
    const lateBad = await run(['fanout', '--subs', late, '--shard-size', '1', ...base]);
    assert.equal(lateBad.status, 1);
    assert.equal(lateBad.stdout, '');
    assert.match(lateBad.stderr,
      new RegExp(`^flashwire: \\S*malformed-late\\.jsonl:${subs.length + 1}: not a PushSubscription[^\\n]*\\n$`));

    const other = await run(['vapid', 'generate']);
    const mismatched = path.join(dir, 'vapid-mismatch.json');
    fs.writeFileSync(mismatched, JSON.stringify({ ...vapid, publicKey: JSON.parse(other.stdout).publicKey }));
    const wrongKey = await run(['fanout', '--subs', files.subs, '--vapid', mismatched, '--payload', files.payload,
      '--push-host', receiver.origin]);
    assert.equal(wrongKey.status, 1);
    assert.equal(wrongKey.stdout, '');
    assert.match(wrongKey.stderr, /^flashwire: \S*vapid-mismatch\.json: publicKey does not match privateKey\n$/);
    assert.equal(receiver.total(), 0, 'nothing was sent for refused input');

    // 127.0.0.2 is loopback too, and the receiver listens there on the same port: had the
    // fan-out sent anything to the host it was not allowed, the receiver would have seen it.
    const stranger = { ...subs[5], path: '/push/stranger', endpoint: `http://127.0.0.2:${receiver.port}/push/stranger` };
    const mixed = path.join(dir, 'mixed-hosts.jsonl');
    fs.writeFileSync(mixed, [subs[2], stranger, subs[3], subs[4]].map(subscriptionLine).join('\n') + '\n');
    const notAllowed = await run(['fanout', '--subs', mixed, ...base]);
    assert.equal(notAllowed.status, 2, notAllowed.stderr);
    const result = JSON.parse(notAllowed.stdout);
    assert.equal(result.n, 4);
    assert.equal(result.ok, 3);
    assert.equal(result.failed, 1);
    assert.deepEqual(result.failed_by_reason, { host_not_allowed: 1 });
    assert.match(notAllowed.stderr, /^flashwire: not every message was accepted\n$/);
    assert.equal(receiver.count('/push/stranger'), 0, 'no request to a host that is not allowed');
    assert.equal(receiver.requests.filter((r) => r.host !== `127.0.0.1:${receiver.port}`).length, 0);
    assert.equal(receiver.total(), 3);
  });
});

// ---------------------------------------------------------------- import, serve, alert send

describe('flashwire serve sends alerts to every subscriber', () => {
  const N_MAIN = 200;   // "breaking" on the main receiver
  const N_LIVE_OK = 50; // "live" on the main receiver
  const N_REJECT = 500; // "live" on a push service that answers 403
  const N_SLOW = 3000;  // "exclusive" on a slow push service, for cancelling
  const CONCURRENCY = 32;
  let dir;
  let dataDir;
  let config;
  let main;
  let rejecting;
  let slow;
  let subsMain;
  let subsLiveOk;
  let subsReject;
  let subsSlow;
  let server;
  let token;
  let vapidPublicKey;

  before(async () => {
    dir = tempDir('serve');
    dataDir = path.join(dir, 'data');
    main = await startPushReceiver({ keepBodies: true });
    rejecting = await startPushReceiver({ keepBodies: false });
    slow = await startPushReceiver({ keepBodies: false });
    rejecting.setDefault({ status: 403 });
    slow.setDefault({ status: 201, delayMs: 150 });
    subsMain = makeSubscribers(N_MAIN, main.origin);
    subsLiveOk = makeSubscribers(N_LIVE_OK, main.origin, { prefix: 'live-' });
    subsReject = makeSubscribers(N_REJECT, rejecting.origin);
    subsSlow = makeSubscribers(N_SLOW, slow.origin);
    config = writeConfig(dir, [main.origin, rejecting.origin, slow.origin],
      { threads: 2, concurrency: CONCURRENCY, shard_size: 100 });
  });
  after(async () => {
    await stopServe(server);
    await Promise.all([main, rejecting, slow].map((r) => r?.close()));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('subscriptions import takes valid lines, rejects bad ones by number, and is idempotent', { timeout: 60000 }, async () => {
    const file = path.join(dir, 'breaking.jsonl');
    const attacker = { ...subsMain[0], endpoint: 'https://attacker.example/push/1' };
    const offCurve = { ...subsMain[1], p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 7)]).toString('base64url') };
    const badLines = [
      'not json at all',                                                                      // line 2
      '',                                                                                     // line 4: skipped
      subscriptionLine(attacker),                                                             // line 5
      subscriptionLine(offCurve),                                                             // line 6
      JSON.stringify({ endpoint: subsMain[2].endpoint, keys: { p256dh: subsMain[2].p256dh } }), // line 7
    ];
    const lines = [
      subscriptionLine(subsMain[0]), badLines[0], subscriptionLine(subsMain[1]), badLines[1],
      badLines[2], badLines[3], badLines[4], ...subsMain.slice(2).map(subscriptionLine),
    ];
    fs.writeFileSync(file, lines.join('\n') + '\n');
    token = await initSite(dataDir, config);
    const args = ['subscriptions', 'import', '--config', config, '--data', dataDir, '--category', 'breaking', file];
    const first = await run(args);
    assert.equal(first.status, 2, first.stderr);
    assert.equal(first.stdout, `${N_MAIN} imported, 4 rejected\n`);
    const reported = first.stderr.trim().split('\n');
    assert.deepEqual(reported.slice(0, 4).map((l) => l.slice(file.length).split(':')[1]), ['2', '5', '6', '7'],
      `each rejected line by number:\n${first.stderr}`);
    assert.match(reported[0], /: not JSON/);
    assert.match(reported[1], /endpoint: .*not on an allowed push service/);
    assert.match(reported[2], /keys\.p256dh: .*not a point on the curve/);
    assert.match(reported[3], /keys: p256dh and auth are required/);
    assert.equal(reported[4], 'flashwire: 4 line(s) rejected');
    for (const secret of ['attacker.example', '/push/', offCurve.p256dh, subsMain[2].p256dh, subsMain[0].auth]) {
      assert.equal(first.stderr.includes(secret), false, `stderr does not show ${secret}`);
    }

    const again = await run(args);
    assert.equal(again.status, 2);
    assert.equal(again.stdout, first.stdout, 're-import reports the same');

    const live = path.join(dir, 'live.jsonl');
    writeSubscriptions(live, [...subsLiveOk, ...subsReject]);
    const liveImport = await run(['subscriptions', 'import', '--config', config, '--data', dataDir, '--category', 'live', live]);
    assert.equal(liveImport.status, 0, liveImport.stderr);
    assert.equal(liveImport.stdout, `${N_LIVE_OK + N_REJECT} imported, 0 rejected\n`);
    const exclusive = path.join(dir, 'exclusive.jsonl');
    writeSubscriptions(exclusive, subsSlow);
    const slowImport = await run(['subscriptions', 'import', '--config', config, '--data', dataDir, '--category', 'exclusive', exclusive]);
    assert.equal(slowImport.status, 0, slowImport.stderr);

    server = await startServe(dataDir, ['--config', config]);
    assert.doesNotMatch(server.output, RESUMING);
    const audience = await api(server, token, 'GET', '/api/newsroom/audience');
    assert.equal(audience.status, 200);
    assert.deepEqual(audience.json, { breaking: N_MAIN, live: N_LIVE_OK + N_REJECT, exclusive: N_SLOW },
      'the re-import added nothing');
    vapidPublicKey = (await api(server, token, 'GET', '/api/vapid-public-key')).json.publicKey;
    assert.equal(main.total() + rejecting.total() + slow.total(), 0, 'nothing is sent on import or start');
  });

  test('alert send --wait: every subscriber gets the alert once; report and metrics agree', { timeout: 90000 }, async () => {
    assert.ok(server, 'serve is running (the import test started it)');
    const r = await run(['alert', 'send', '--server', server.url, '--token', token, '--title', 'Harbour bridge reopens',
      '--body', 'Traffic flows again after eleven days.', '--url', '/articles/harbour-bridge-closed-after-ship-strike', '--wait']);
    assert.equal(r.status, 0, r.stderr);
    const id = Number(/^alert (\d+) accepted: sending to 200 subscriber\(s\)\n/.exec(r.stdout)?.[1]);
    assert.ok(id > 0, r.stdout);
    assert.match(r.stdout, new RegExp(`alert ${id} sent\\n$`));

    assertEachReceived(main, subsMain);
    assert.equal(main.total(), N_MAIN);
    const checked = checkKept(main, byPath(subsMain), vapidPublicKey);
    assert.equal(checked.length, N_MAIN);
    for (const { record, plaintext, ttl, urgency } of checked) {
      const shown = JSON.parse(plaintext.toString('utf8'));
      assert.equal(shown.id, id, record.path);
      assert.equal(shown.title, 'Harbour bridge reopens');
      assert.equal(shown.body, 'Traffic flows again after eleven days.');
      assert.equal(shown.url, '/articles/harbour-bridge-closed-after-ship-strike');
      assert.equal(shown.tag, `alert-${id}`);
      assert.equal(shown.category, 'breaking');
      assert.ok(ttl > 3500 && ttl <= 3600, `TTL ${ttl}: a breaking alert's hour, counting down`);
      assert.equal(urgency, 'high');
    }

    const alert = await api(server, token, 'GET', `/api/newsroom/alerts/${id}`);
    assert.equal(alert.status, 200);
    assert.equal(alert.json.status, 'sent');
    const d = alert.json.delivery;
    assert.equal(d.state, 'done');
    assert.equal(d.audience, N_MAIN);
    assert.equal(d.targeted, N_MAIN);
    assert.equal(d.sent, N_MAIN);
    assert.equal(d.failed, 0);
    assert.equal(d.gone, 0);
    assert.equal(d.pending, 0);
    assert.equal(d.error, null);
    assert.equal(d.accept_latency.reduce((n, b) => n + b.count, 0), N_MAIN, 'one latency sample per message sent');
    assert.equal(await metricValue(server, 'flashwire_fanout_messages_total', '{outcome="sent"}'), N_MAIN);
    assert.equal(await metricValue(server, 'flashwire_fanout_alerts_total', '{state="done"}'), 1);
  });

  test('410 deletes the subscription, 413 fails the message, 429/503/reset are retried', { timeout: 90000 }, async () => {
    main.reset();
    const gone = subsMain.slice(0, 10);
    const tooLarge = subsMain.slice(10, 15);
    const busy = subsMain.slice(15, 20);
    const unavailable = subsMain.slice(20, 23);
    const reset = subsMain.slice(23, 26);
    for (const s of gone) main.setRule(s.path, { status: 410 });
    for (const s of tooLarge) main.setRule(s.path, { status: 413 });
    for (const s of busy) main.setRule(s.path, [{ status: 429, retryAfter: 1 }, { status: 201 }]);
    for (const s of unavailable) main.setRule(s.path, [{ status: 503 }, { status: 201 }]);
    for (const s of reset) main.setRule(s.path, [{ close: true }, { status: 201 }]);
    try {
      const id = await sendAlert(server, token, { category: 'breaking', title: 'Second update', url: '/' });
      const alert = await waitUntil(async () => {
        const a = await api(server, token, 'GET', `/api/newsroom/alerts/${id}`);
        return a.json.status !== 'sending' && a.json;
      }, 60000, 'the alert is sent');
      assert.equal(alert.status, 'sent');
      const d = alert.delivery;
      assert.equal(d.sent, N_MAIN - 15);
      assert.equal(d.gone, 10);
      assert.equal(d.failed, 5);
      assert.deepEqual(d.failed_by_reason, { http_413: 5 });
      // A connection closed without an answer is tried again, by the engine (a counted retry)
      // or, when the connection was a reused keep-alive one, by libcurl itself at once.
      assert.ok(d.retried >= busy.length + unavailable.length && d.retried <= busy.length + unavailable.length + reset.length,
        `retried ${d.retried}`);
      assertEachReceived(main, [...gone, ...tooLarge]);
      assertEachReceived(main, [...busy, ...unavailable, ...reset], 2);
      for (const s of busy) {
        const [first, second] = main.requests.filter((r) => r.path === s.path);
        assert.ok(second.at - first.at >= 900, `${s.path}: retried after ${second.at - first.at} ms, Retry-After was 1 s`);
      }
      assertEachReceived(main, subsMain.slice(26));

      const audience = await api(server, token, 'GET', '/api/newsroom/audience');
      assert.equal(audience.json.breaking, N_MAIN - 10, 'the gone subscriptions were deleted');
      assert.equal(await metricValue(server, 'flashwire_fanout_messages_total', '{outcome="gone"}'), 10);
      assert.equal(await metricValue(server, 'flashwire_fanout_messages_total', '{outcome="failed"}'), 5);
    } finally {
      main.clearRules();
    }
  });

  test('an alert with TTL 0 is sent now to every subscriber, with TTL: 0, Urgency and Topic', { timeout: 60000 }, async () => {
    main.reset();
    const id = await sendAlert(server, token, {
      category: 'breaking', title: 'Now or never', url: '/', ttl_seconds: 0, urgency: 'low', topic: 'harbour-bridge',
    });
    const alert = await waitUntil(async () => {
      const a = await api(server, token, 'GET', `/api/newsroom/alerts/${id}`);
      return a.json.status !== 'sending' && a.json;
    }, 60000, 'the alert is sent');
    const reached = subsMain.slice(10);  // the first ten were found gone by the previous alert
    assert.equal(alert.delivery.sent, reached.length, JSON.stringify(alert.delivery.failed_by_reason));
    assertEachReceived(main, reached);
    for (const record of main.requests) {
      assert.equal(record.headers.ttl, '0');
      assert.equal(record.headers.urgency, 'low');
      assert.equal(record.headers.topic, 'harbour-bridge');
    }
  });

  test('a push service answering 403 is reported as a VAPID problem and gets no more requests', { timeout: 90000 }, async () => {
    main.reset();
    const r = await run(['alert', 'send', '--server', server.url, '--token', token, '--category', 'live',
      '--title', 'Live: count under way', '--url', '/', '--wait']);
    assert.equal(r.status, 0, r.stderr);
    const id = Number(/^alert (\d+) accepted/.exec(r.stdout)?.[1]);
    assert.match(r.stderr, new RegExp(`problem: push service ${rejecting.origin} rejected our VAPID credentials`));

    const alert = await api(server, token, 'GET', `/api/newsroom/alerts/${id}`);
    assert.equal(alert.json.status, 'sent');
    const d = alert.json.delivery;
    assert.match(d.error ?? '', /VAPID/);
    assert.ok(d.error.includes(rejecting.origin), d.error);
    assert.equal(d.sent, N_LIVE_OK, 'the other push service still got every message');
    assert.equal(d.failed, N_REJECT);
    assert.deepEqual(d.failed_by_reason, { vapid_rejected: N_REJECT });
    assertEachReceived(main, subsLiveOk);
    // Only what was already in flight when the first 403 came back (at most the concurrency).
    assert.ok(rejecting.total() >= 1 && rejecting.total() <= CONCURRENCY,
      `${rejecting.total()} requests reached the rejecting push service`);
  });

  test('cancelling stops the fan-out soon, and a restart does not resume it', { timeout: 120000 }, async (t) => {
    const id = await sendAlert(server, token, { category: 'exclusive', title: 'Exclusive: leaked budget', url: '/' });
    await slow.waitFor((r) => r.total() >= 100, 30000, '100 requests to the slow push service');
    const cancelled = await api(server, token, 'POST', `/api/newsroom/alerts/${id}/cancel`);
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.json));
    assert.equal(cancelled.json.status, 'cancelled');
    const atCancel = slow.total();

    const alert = await waitUntil(async () => {
      const a = await api(server, token, 'GET', `/api/newsroom/alerts/${id}`);
      return a.json.delivery?.state === 'cancelled' && a.json;
    }, 10000, 'the fan-out stops');
    assert.equal(alert.status, 'cancelled');
    // The pipeline has returned and its connections are closing: once the push service has seen
    // every one of them close, no request of this fan-out can still arrive.
    await slow.waitFor((r) => r.openConnections() === 0, 10000, 'the fan-out\'s connections closed');
    const atClose = slow.total();
    t.diagnostic(`cancel: ${atCancel} requests before it, ${atClose - atCancel} after, ${N_SLOW - atClose} never sent`);
    // In flight at most: the concurrency; the rest of the audience is never contacted.
    assert.ok(atClose - atCancel <= CONCURRENCY, `${atClose - atCancel} requests after the cancel`);
    assert.ok(atClose < N_SLOW / 2, `${atClose} of ${N_SLOW} were contacted`);

    assert.equal(await stopServe(server), 0, 'SIGTERM ends serve cleanly');
    assert.equal(slow.total(), atClose, 'no request after the fan-out stopped');
    const before = { main: main.total(), rejecting: rejecting.total(), slow: slow.total() };
    server = await startServe(dataDir, ['--config', config]);
    assert.doesNotMatch(server.output, RESUMING, 'nothing is resumed after a restart');
    const after = await api(server, token, 'GET', `/api/newsroom/alerts/${id}`);
    assert.equal(after.json.status, 'cancelled');
    assert.equal(after.json.delivery.state, 'cancelled');
    assert.deepEqual({ main: main.total(), rejecting: rejecting.total(), slow: slow.total() }, before,
      'no request since the restart');
  });

  test('SIGTERM mid-fan-out: serve exits 0 within 1 s, and the alert resumes on the next start', { timeout: 90000 }, async () => {
    const id = await sendAlert(server, token, { category: 'exclusive', title: 'Exclusive: second leak', url: '/' });
    const atSend = slow.total();
    await slow.waitFor((r) => r.total() >= atSend + 100, 30000, '100 requests of the second exclusive alert');
    const stoppedAt = Date.now();
    assert.equal(await stopServe(server), 0, 'SIGTERM ends serve cleanly');
    const took = Date.now() - stoppedAt;
    assert.ok(took < 1000, `serve took ${took} ms to exit during a fan-out`);
    await slow.waitFor((r) => r.openConnections() === 0, 10000, 'the stopped fan-out\'s connections closed');
    const atStop = slow.total();
    assert.ok(atStop - atSend < N_SLOW, 'stopped before the end');

    server = await startServe(dataDir, ['--config', config]);
    assert.equal(RESUMING.exec(server.output)?.[1], '1', `the restart resumes the alert:\n${server.output}`);
    await slow.waitFor((r) => r.total() > atStop, 30000, 'requests of the resumed alert');
    const resumed = await api(server, token, 'GET', `/api/newsroom/alerts/${id}`);
    assert.equal(resumed.json.status, 'sending');
    // Enough shown; end it rather than wait for the whole slow audience.
    const cancelled = await api(server, token, 'POST', `/api/newsroom/alerts/${id}/cancel`);
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.json));
  });
});

// ---------------------------------------------------------------- crash and resume

describe('a fan-out killed with SIGKILL resumes on restart', () => {
  const N = 50000;
  // Duplicates after a crash are bounded by the shards open at the crash (engine.h, pipeline.h):
  // threads × max_open_shards (4, PipelineOptions) × shard_size. The test sets 2 threads and
  // shards of 200 (the default is 500) to make the bound tight: 2 × 4 × 200 = 1600.
  const THREADS = 2;
  const MAX_OPEN_SHARDS = 4;
  const SHARD_SIZE = 200;
  const BOUND = THREADS * MAX_OPEN_SHARDS * SHARD_SIZE;
  let dir;
  let dataDir;
  let config;
  let receiver;
  let subs;
  let server;
  let token;

  before(async () => {
    dir = tempDir('crash');
    dataDir = path.join(dir, 'data');
    // Every 250th body is kept and checked; a short delay per answer keeps the fan-out going
    // for several seconds, long enough to kill it in the middle.
    receiver = await startPushReceiver({ keepBodies: 250 });
    receiver.setDefault({ status: 201, delayMs: 5 });
    subs = makeSubscribers(N, receiver.origin);
    config = writeConfig(dir, [receiver.origin], { threads: THREADS, concurrency: 64, shard_size: SHARD_SIZE });
    token = await initSite(dataDir, config);
    const file = path.join(dir, 'subs.jsonl');
    writeSubscriptions(file, subs);
    const imported = await run(['subscriptions', 'import', '--config', config, '--data', dataDir, '--category', 'breaking', file],
      { timeoutMs: 120000 });
    assert.equal(imported.status, 0, imported.stderr);
    assert.equal(imported.stdout, `${N} imported, 0 rejected\n`);
  });
  after(async () => {
    await stopServe(server);
    await receiver?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('every subscriber is reached, duplicates stay within the bound, counts are exact', { timeout: 170000 }, async (t) => {
    server = await startServe(dataDir, ['--config', config]);
    assert.doesNotMatch(server.output, RESUMING);
    const vapidPublicKey = (await api(server, token, 'GET', '/api/vapid-public-key')).json.publicKey;
    const sentAt = Date.now();
    const id = await sendAlert(server, token, { category: 'breaking', title: 'Crash test', body: 'Resumes after a kill.', url: '/' });

    await receiver.waitFor((r) => r.total() >= N / 5, 90000, '20% of the audience');
    server.child.kill('SIGKILL');
    await waitUntil(() => server.child.exitCode !== null || server.child.signalCode !== null, 10000, 'serve exits');
    const killedAt = Date.now();
    // Requests are counted as they arrive: once the killed process's connections are closed,
    // none of its requests can still come in.
    await receiver.waitFor((r) => r.openConnections() === 0, 10000, 'the killed serve\'s connections closed');
    const atKill = receiver.total();
    assert.ok(atKill < N, `the kill came mid-fan-out (${atKill} of ${N} received)`);

    server = await startServe(dataDir, ['--config', config]);
    assert.equal(RESUMING.exec(server.output)?.[1], '1', `the restart says it resumes the alert:\n${server.output}`);
    const alert = await waitUntil(async () => {
      const a = await api(server, token, 'GET', `/api/newsroom/alerts/${id}`);
      return a.json.status !== 'sending' && a.json;
    }, 120000, 'the resumed alert is sent');
    const doneAt = Date.now();

    assert.equal(alert.status, 'sent');
    const missing = subs.filter((s) => receiver.count(s.path) === 0);
    assert.equal(missing.length, 0, `${missing.length} subscriber(s) never reached, e.g. ${missing.slice(0, 3).map((s) => s.path)}`);
    assert.equal(receiver.distinct(), N);
    const duplicates = receiver.duplicates();
    t.diagnostic(`N=${N}; killed after ${atKill} received (${killedAt - sentAt} ms); ` +
      `done ${doneAt - killedAt} ms after the kill; ${receiver.total()} requests, ${duplicates} duplicate(s), bound ${BOUND}`);
    assert.ok(duplicates <= BOUND, `${duplicates} duplicates exceed threads × max_open_shards × shard_size = ${BOUND}`);

    const d = alert.delivery;
    assert.equal(d.state, 'done');
    assert.equal(d.audience, N);
    assert.equal(d.targeted, N);
    assert.equal(d.sent, N, 'a shard sent again is counted once');
    assert.equal(d.failed, 0);
    assert.equal(d.gone, 0);

    const checked = checkKept(receiver, byPath(subs), vapidPublicKey);
    for (const { record, plaintext } of checked) {
      assert.equal(JSON.parse(plaintext.toString('utf8')).id, id, record.path);
    }
  });
});
