// `flashwire fanout` over HTTPS + HTTP/2 against tests/support/h2_push_server.mjs, with the
// faults vendors' push services produce: 429s, GOAWAY, RST_STREAM (REFUSED_STREAM and
// ENHANCE_YOUR_CALM), connection resets, answers sent before the body was read. Each run must
// end with every message accepted exactly once (the server counts receptions per path), no
// malformed body, and within a bounded time (a stall is killed and fails the test).
// Then trust: --ca-file is required for a private CA, and a certificate that does not verify
// fails every message as tls_error without a request reaching the server.
//
// Every child process gets LOOPBACK_ONLY_ENV and every wait is bounded.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runFlashwire } from '../support/flashwire_serve.mjs';
import {
  startH2PushServer, startHttp1PushServer, startStallingProxy, makeCertificate,
} from '../support/h2_push_server.mjs';

// A fan-out that runs past 40 s has stalled.
const run = (args, { timeoutMs = 40000 } = {}) => runFlashwire(args, { timeoutMs });

const b64u = (buf) => Buffer.from(buf).toString('base64url');

// `n` subscriptions on `origin`, /push/<i>; a few key pairs shared between them (the server
// checks framing, not decryption, and key generation would dominate the run).
function writeSubs(file, origin, n) {
  const keys = Array.from({ length: 8 }, () => {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    return { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(crypto.randomBytes(16)) };
  });
  const lines = new Array(n);
  for (let i = 0; i < n; ++i) {
    lines[i] = JSON.stringify({ endpoint: `${origin}/push/${i}`, keys: keys[i % keys.length] });
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

describe('flashwire fanout over HTTPS + HTTP/2', () => {
  let dir;
  let vapidFile;
  let payloadFile;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-https-fanout-'));
    const generated = await run(['vapid', 'generate']);
    assert.equal(generated.status, 0, generated.stderr);
    vapidFile = path.join(dir, 'vapid.json');
    fs.writeFileSync(vapidFile, JSON.stringify({ subject: 'mailto:desk@news.example', ...JSON.parse(generated.stdout) }));
    payloadFile = path.join(dir, 'payload.json');
    fs.writeFileSync(payloadFile, JSON.stringify({ title: 'Bridge reopens', url: 'https://news.example/a/1' }));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // One fan-out of `n` messages against a server with `faults`; asserts each path was received
  // exactly once, nothing malformed, every message accepted. Returns { result, stats }.
  async function fanoutOnce(name, n, faults, options = {}) {
    const server = await startH2PushServer(faults);
    try {
      return await fanoutTo(server, name, n, options);
    } finally {
      await server.close();
    }
  }

  // The same checks against a running `server` (reached at `origin`, its own by default).
  async function fanoutTo(server, name, n, { extraArgs = [], ambiguousAllowed = false, origin = server.origin, timeoutMs } = {}) {
    {
      const subs = path.join(dir, `${name}.jsonl`);
      writeSubs(subs, origin, n);
      const r = await run(['fanout', '--subs', subs, '--vapid', vapidFile, '--payload', payloadFile,
        '--push-host', origin, '--ca-file', server.caFile, '--ttl', '600', ...extraArgs], { timeoutMs });
      const stats = server.stats();
      const summary = `${r.stdout}${r.stderr}\nserver: ${JSON.stringify(stats)}`;
      assert.equal(stats.malformed, 0, `malformed bodies: ${summary}`);
      if (!ambiguousAllowed) assert.equal(stats.duplicates, 0, `duplicates: ${summary}`);
      assert.equal(r.status, 0, summary);
      const result = JSON.parse(r.stdout.trim());
      assert.equal(result.n, n);
      assert.equal(result.ok, n, summary);
      assert.equal(stats.distinct, n, `every path received: ${summary}`);
      for (let i = 0; i < n; ++i) {
        const p = `/push/${i}`;
        if (ambiguousAllowed && server.isAmbiguous(p)) assert.ok(server.count(p) >= 1, p);
        else assert.equal(server.count(p), 1, p);
      }
      return { result, stats };
    }
  }

  test('20,000 messages: each received once, every body well-formed', { timeout: 60000 }, async () => {
    await fanoutOnce('plain', 20000, {});
  });

  test('429 with Retry-After: retried until accepted, none twice', { timeout: 60000 }, async () => {
    const { stats, result } = await fanoutOnce('429', 2000, { rateLimitEvery: 9, retryAfter: 0 });
    assert.ok(stats.faults.rate_limited > 100, JSON.stringify(stats.faults));
    assert.ok(result.retried >= stats.faults.rate_limited, 'each 429 is a retry');
  });

  // Without pacing every message over the quota comes back 429 and returns a second later in a
  // burst that meets the quota again; with it the sender settles just under the quota.
  test('a quota of 2,000/s: 429s drop the pace, few are answered 429, none twice', { timeout: 60000 }, async () => {
    const { stats, result } = await fanoutOnce('quota', 8000, { quotaPerSecond: 2000, retryAfter: 1 });
    const share = stats.faults.rate_limited / (stats.faults.rate_limited + 8000);
    assert.ok(share <= 0.1, `429s: ${stats.faults.rate_limited} (${(share * 100).toFixed(1)} %)`);
    assert.equal(result.retried, stats.faults.rate_limited, 'each 429 is one retry');
  });

  test('GOAWAY every 150 streams: streams after the last id are sent again, none twice', { timeout: 60000 }, async () => {
    const { stats } = await fanoutOnce('goaway', 3000, { goawayEvery: 150 });
    assert.ok(stats.faults.goaway >= 10, JSON.stringify(stats.faults));
    assert.ok(stats.sessions > stats.faults.goaway, 'a new connection after each GOAWAY');
  });

  test('RST_STREAM REFUSED_STREAM and ENHANCE_YOUR_CALM: sent again, none twice', { timeout: 60000 }, async () => {
    const { stats } = await fanoutOnce('rst', 2000, { refuseEvery: 23, calmEvery: 31 });
    assert.ok(stats.faults.refused > 50 && stats.faults.calm > 30, JSON.stringify(stats.faults));
  });

  // A reset loses the answers in flight: only messages processed on a connection that was then
  // reset may arrive twice (the sender cannot tell), every other exactly once.
  test('connection resets: everything delivered, only messages whose answer was lost twice', { timeout: 60000 }, async () => {
    const { stats } = await fanoutOnce('reset', 1500, { resetEvery: 300 }, { ambiguousAllowed: true });
    assert.ok(stats.faults.reset >= 3, JSON.stringify(stats.faults));
  });

  test('answers sent before the body was read: accepted once, no stall', { timeout: 60000 }, async () => {
    const { stats } = await fanoutOnce('early', 3000, { earlyAnswerEvery: 7 });
    assert.ok(stats.faults.early > 300, JSON.stringify(stats.faults));
  });

  // A service that does not speak HTTP/2 (WNS; Apple and FCM take HTTP/1.1 too) gets HTTP/1.1
  // over TLS from the built-in client: with no ALPN at all, and with http/1.1 selected.
  for (const alpn of ['none', 'http/1.1']) {
    test(`HTTP/1.1 over TLS (ALPN ${alpn}): each received once, every body well-formed`, { timeout: 60000 }, async () => {
      const server = await startHttp1PushServer({ alpn, closeEvery: 97 });
      try {
        const { stats } = await fanoutTo(server, `h1-${alpn.replace('/', '')}`, 5000, {});
        assert.deepEqual(Object.keys(stats.protocols), [alpn === 'none' ? 'none' : 'http/1.1']);
        assert.ok(stats.connections > 5000 / 97, `a new connection after each Connection: close: ${JSON.stringify(stats)}`);
      } finally {
        await server.close();
      }
    });
  }

  // A connection that goes dead on the way (the server stops receiving; nothing comes back) is
  // found by an unanswered PING and its requests are sent again elsewhere — long before the
  // 30 s request timeout, which the run's 20 s limit would not survive.
  test('a connection dead on the way: an unanswered PING closes it, its messages go again, none twice', { timeout: 60000 }, async () => {
    const server = await startH2PushServer({});
    const proxy = await startStallingProxy(server, { stallAfterBytes: 40000 });
    try {
      const started = Date.now();
      const { result } = await fanoutTo(server, 'stall', 3000, {
        origin: `https://127.0.0.1:${proxy.port}`, timeoutMs: 20000,
        extraArgs: ['--ping-after', '300', '--ping-timeout', '500', '--threads', '2'],
      });
      assert.ok(proxy.stats().stalled, 'the first connection stalled');
      assert.ok(result.retried >= 1, `the stalled messages were retried: ${JSON.stringify(result)}`);
      assert.ok(Date.now() - started < 20000);
    } finally {
      await proxy.close();
      await server.close();
    }
  });

  // While the sender waits with nothing in flight (here for the Retry-After of 2 s of the one
  // message answered 429) its idle connection is PINGed; a service that answers keeps it: the
  // retry goes on the same connection.
  test('idle connections are PINGed and kept while the service answers', { timeout: 60000 }, async () => {
    const server = await startH2PushServer({ rateLimitEvery: 50, retryAfter: 2 });
    try {
      const { stats, result } = await fanoutTo(server, 'ping', 50, {
        extraArgs: ['--ping-after', '300', '--ping-timeout', '5000', '--threads', '2'],
      });
      assert.equal(result.retried, 1, JSON.stringify(result));
      assert.ok(stats.pings >= 1, `PINGs: ${JSON.stringify(stats)}`);
      assert.ok(stats.sessions <= 2, `connections kept: ${stats.sessions} sessions`);
    } finally {
      await server.close();
    }
  });

  // Both https clients verify the same way.
  for (const client of ['builtin', 'curl']) describe(`trust (${client})`, () => {
    // Asserts that every message failed as tls_error and the server saw no request.
    async function expectTlsError(server, extraArgs) {
      const subs = path.join(dir, `tls-${server.port}.jsonl`);
      writeSubs(subs, server.origin, 200);
      const r = await run(['fanout', '--subs', subs, '--vapid', vapidFile, '--payload', payloadFile,
        '--push-host', server.origin, '--ttl', '600', '--concurrency', '32', '--https-client', client,
        ...extraArgs]);
      assert.equal(r.status, 2, `${r.stdout}${r.stderr}`);
      const result = JSON.parse(r.stdout.trim().split('\n')[0]);
      assert.equal(result.ok, 0);
      assert.deepEqual(result.failed_by_reason, { tls_error: 200 }, r.stdout);
      assert.match(r.stderr, /certificate/i, 'the delivery error says what failed');
      assert.equal(server.stats().streams, 0, 'no request got through');
      return r;
    }

    test('without --ca-file a private CA is not trusted', { timeout: 30000 }, async () => {
      const server = await startH2PushServer({});
      try {
        await expectTlsError(server, []);
      } finally {
        await server.close();
      }
    });

    test('a certificate for another name fails even with its CA trusted', { timeout: 30000 }, async () => {
      const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-cert-'));
      const certificate = makeCertificate(certDir, { names: ['DNS:push.example'], tag: 'other' });
      const server = await startH2PushServer({}, { certificate });
      try {
        await expectTlsError(server, ['--ca-file', certificate.cert]);
      } finally {
        await server.close();
        fs.rmSync(certDir, { recursive: true, force: true });
      }
    });

    test('an expired certificate fails even with it trusted', { timeout: 30000 }, async () => {
      const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-cert-'));
      const certificate = makeCertificate(certDir, { tag: 'expired', expired: true });
      const server = await startH2PushServer({}, { certificate });
      try {
        const r = await expectTlsError(server, ['--ca-file', certificate.cert]);
        assert.match(r.stderr, /expired/i, 'the delivery error says the certificate expired');
      } finally {
        await server.close();
        fs.rmSync(certDir, { recursive: true, force: true });
      }
    });

  });

  describe('--ca-file', () => {
    test('--ca-file that does not exist or holds no certificate is refused up front', { timeout: 30000 }, async () => {
      const subs = path.join(dir, 'ca-missing.jsonl');
      writeSubs(subs, 'https://127.0.0.1:9', 1);
      const empty = path.join(dir, 'empty.pem');
      fs.writeFileSync(empty, 'not a certificate\n');
      for (const ca of [path.join(dir, 'nowhere.pem'), empty]) {
        const r = await run(['fanout', '--subs', subs, '--vapid', vapidFile, '--payload', payloadFile,
          '--push-host', 'https://127.0.0.1:9', '--ca-file', ca]);
        assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, /ca-file/);
      }
    });
  });
});
