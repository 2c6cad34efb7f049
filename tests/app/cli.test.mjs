// Behaviour of the flashwire command line: key generation, the VAPID and
// Web Push subcommands' happy paths (files, stdin), refusal of bad input, usage errors, and the
// commands that work beside a running serve (token, subscriptions import, alert send) when run
// from the wrong folder or pointed at serve's configuration.
//
// Run from the repository root:  node --test tests/interop/ tests/app/
// The binary under test is $FLASHWIRE_BIN, or build/src/app/flashwire.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  BIN, flashwire, flashwireOk, assertCommandError, assertUsageError, b64u, unb64u, newSubscriber,
} from '../support/flashwire_cli.mjs';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

// ---------------------------------------------------------------- helpers

function generateKeys() {
  const out = flashwireOk(['vapid', 'generate']).toString('utf8');
  return JSON.parse(out);
}

let tmp;
before(() => {
  assert.ok(fs.existsSync(BIN), `flashwire binary not found at ${BIN} (set FLASHWIRE_BIN)`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-cli-'));
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------- vapid generate

describe('vapid generate', () => {
  test('prints one JSON line with a 65-byte public and 32-byte private key', () => {
    const text = flashwireOk(['vapid', 'generate']).toString('utf8');
    assert.ok(text.endsWith('\n') && text.indexOf('\n') === text.length - 1, 'output must be a single line');
    const keys = JSON.parse(text);
    assert.deepEqual(Object.keys(keys).sort(), ['privateKey', 'publicKey']);
    for (const v of Object.values(keys)) {
      assert.match(v, /^[A-Za-z0-9_-]+$/, 'keys must be unpadded base64url');
    }
    const pub = unb64u(keys.publicKey);
    const priv = unb64u(keys.privateKey);
    assert.equal(pub.length, 65);
    assert.equal(pub[0], 0x04, 'public key must be an uncompressed point');
    assert.equal(priv.length, 32);
    // Re-encoding must give back exactly the printed text (canonical base64url).
    assert.equal(b64u(pub), keys.publicKey);
    assert.equal(b64u(priv), keys.privateKey);
  });

  test('the public key belongs to the private key', () => {
    const keys = generateKeys();
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.setPrivateKey(unb64u(keys.privateKey));
    assert.equal(b64u(ecdh.getPublicKey()), keys.publicKey);
  });

  test('two runs give different key pairs', () => {
    const a = generateKeys();
    const b = generateKeys();
    assert.notEqual(a.privateKey, b.privateKey);
    assert.notEqual(a.publicKey, b.publicKey);
  });
});

// ---------------------------------------------------------------- vapid header

describe('vapid header', () => {
  const AUD = 'https://push.example.net';
  const SUB = 'mailto:alerts@example.com';
  let keys;
  before(() => {
    keys = generateKeys();
  });
  const header = (over = {}) => {
    const o = { aud: AUD, sub: SUB, key: keys.privateKey, ...over };
    const args = ['vapid', 'header', '--aud', o.aud, '--sub', o.sub, '--private-key', o.key];
    if (o.exp !== undefined) args.push(`--exp-seconds=${o.exp}`);
    return flashwire(args);
  };

  test('accepts an https: subject and a port in the audience', () => {
    const r = header({ sub: 'https://news.example.com/contact', aud: 'https://push.example.net:8443' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.toString('utf8'), /^vapid t=[\w-]+\.[\w-]+\.[\w-]+, k=[\w-]+\n$/);
  });

  test('accepts --exp-seconds at the 86400 limit and at 1', () => {
    assert.equal(header({ exp: 86400 }).status, 0);
    assert.equal(header({ exp: 1 }).status, 0);
  });

  const rejections = [
    ['--exp-seconds above 24 hours (86401)', { exp: 86401 }, /exp|24 hours|86400/i],
    ['--exp-seconds of zero', { exp: 0 }, /exp/i],
    ['negative --exp-seconds', { exp: -1 }, /exp/i],
    ['a subject without a scheme', { sub: 'alerts@example.com' }, /sub/],
    ['an http: (not https:) subject', { sub: 'http://example.com' }, /sub/],
    ['a mailto: subject without an @', { sub: 'mailto:alerts' }, /sub|address/],
    ['mailto:push@localhost', { sub: 'mailto:push@localhost' }, /localhost/],
    ['a subject containing a space', { sub: 'mailto:news desk@example.com' }, /sub.*space|space/i],
    ['an audience with a path', { aud: 'https://push.example.net/x' }, /aud/],
    ['an audience with a trailing slash', { aud: 'https://push.example.net/' }, /aud/],
    ['an ftp:// audience', { aud: 'ftp://push.example.net' }, /aud/],
    ['a private key that is not base64url (contains +)', { key: 'u12+jY8tz8rK8dMSOataUXPuMzBoCdGRngzeE2QcGEk' }, /base64/i],
    ['a private key of the wrong length', { key: b64u(crypto.randomBytes(31)) }, /32|length|bytes/i],
    ['an all-zero private key', { key: b64u(Buffer.alloc(32)) }, /zero/i],
    ['a private key not below the group order', { key: b64u(Buffer.alloc(32, 0xff)) }, /order|range|invalid/i],
  ];
  for (const [name, over, pattern] of rejections) {
    test(`rejects ${name}`, () => {
      assertCommandError(header(over), pattern);
    });
  }

  test('a missing required option is a usage error', () => {
    assertUsageError(flashwire(['vapid', 'header', '--aud', AUD, '--sub', SUB]));
  });
});

// ---------------------------------------------------------------- vapid verify

describe('vapid verify', () => {
  const AUD = 'https://updates.push.example.org';
  const SUB = 'mailto:alerts@example.com';
  let keys;
  let value;
  let claims;
  before(() => {
    keys = generateKeys();
    value = flashwireOk(['vapid', 'header', '--aud', AUD, '--sub', SUB, '--private-key', keys.privateKey,
      '--exp-seconds', '600']).toString('utf8').trimEnd();
    const payload = value.split(' ')[1].slice(2).split('.')[1];
    claims = JSON.parse(unb64u(payload).toString('utf8'));
  });

  test('accepts our own header and prints its claims as JSON', () => {
    const out = flashwireOk(['vapid', 'verify', '--header', value, '--aud', AUD, '--public-key', keys.publicKey]);
    const text = out.toString('utf8');
    assert.ok(text.endsWith('\n') && text.indexOf('\n') === text.length - 1);
    assert.deepEqual(JSON.parse(text), { aud: AUD, exp: claims.exp, sub: SUB });
  });

  test('--at before expiry accepts, --at after expiry rejects', () => {
    const ok = flashwire(['vapid', 'verify', '--header', value, '--aud', AUD, '--at', String(claims.exp - 1)]);
    assert.equal(ok.status, 0, ok.stderr);
    assertCommandError(
      flashwire(['vapid', 'verify', '--header', value, '--aud', AUD, '--at', String(claims.exp + 60)]),
      /expir/i,
    );
  });

  test('rejects a different audience', () => {
    assertCommandError(flashwire(['vapid', 'verify', '--header', value, '--aud', 'https://push.example.net']), /aud/);
  });

  test('rejects a bad signature', () => {
    // Flip one bit in the middle of the signature part.
    const [prefix, rest] = value.split(', k=');
    const parts = prefix.slice('vapid t='.length).split('.');
    const sig = unb64u(parts[2]);
    sig[20] ^= 0x10;
    parts[2] = b64u(sig);
    const bad = `vapid t=${parts.join('.')}, k=${rest}`;
    assertCommandError(flashwire(['vapid', 'verify', '--header', bad, '--aud', AUD]), /signature/i);
  });

  test('rejects altered claims', () => {
    const [prefix, rest] = value.split(', k=');
    const parts = prefix.slice('vapid t='.length).split('.');
    parts[1] = b64u(JSON.stringify({ ...claims, sub: 'mailto:someone@example.net' }));
    const bad = `vapid t=${parts.join('.')}, k=${rest}`;
    assertCommandError(flashwire(['vapid', 'verify', '--header', bad, '--aud', AUD]), /signature/i);
  });

  test('rejects a --public-key that is not k', () => {
    const other = generateKeys();
    assertCommandError(
      flashwire(['vapid', 'verify', '--header', value, '--aud', AUD, '--public-key', other.publicKey]),
      /key/i,
    );
  });

  test('rejects a header that is not a vapid header', () => {
    assertCommandError(flashwire(['vapid', 'verify', '--header', 'Bearer abc.def.ghi', '--aud', AUD]),
      /^flashwire: --header: Authorization: expected the vapid scheme\n$/);
  });
});

// ---------------------------------------------------------------- webpush encrypt

describe('webpush encrypt input checks', () => {
  let sub;
  before(() => {
    sub = newSubscriber();
  });
  const encrypt = (extra, input, over = {}) =>
    flashwire(['webpush', 'encrypt', '--p256dh', over.p256dh ?? sub.p256dh, '--auth', over.auth ?? sub.authB64, ...extra], input);

  test('accepts exactly 3993 bytes and emits a 4096-byte body', () => {
    const r = encrypt([], crypto.randomBytes(3993));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.length, 4096);
  });

  test('rejects 3994 bytes of plaintext', () => {
    assertCommandError(encrypt([], crypto.randomBytes(3994)), /3993|too large/i);
  });

  test('rejects plaintext plus padding above the limit', () => {
    assertCommandError(encrypt(['--padding', '994'], crypto.randomBytes(3000)), /3993|too large/i);
  });

  test('rejects a p256dh that is not base64url', () => {
    const bad = sub.p256dh.slice(0, 10) + '+' + sub.p256dh.slice(11);
    assertCommandError(encrypt([], Buffer.from('hi'), { p256dh: bad }), /base64/i);
  });

  test('rejects a p256dh that is off the curve', () => {
    const raw = unb64u(sub.p256dh);
    raw[64] ^= 0x01;
    assertCommandError(encrypt([], Buffer.from('hi'), { p256dh: b64u(raw) }), /curve/i);
  });

  test('rejects a p256dh of the wrong length', () => {
    const raw = unb64u(sub.p256dh).subarray(0, 33);
    assertCommandError(encrypt([], Buffer.from('hi'), { p256dh: b64u(raw) }), /p256dh|bytes|length|point/i);
  });

  test('rejects a 15-byte auth secret', () => {
    assertCommandError(encrypt([], Buffer.from('hi'), { auth: b64u(crypto.randomBytes(15)) }), /auth/i);
  });

  test('rejects an auth secret that is not base64url', () => {
    assertCommandError(encrypt([], Buffer.from('hi'), { auth: 'BTBZMqHH6r4Tts7J/aSIgg' }), /base64/i);
  });

  test('--salt without --as-private is a usage error', () => {
    assertUsageError(encrypt(['--salt', b64u(crypto.randomBytes(16))], Buffer.from('hi')));
  });

  test('a missing --in file is reported on one line', () => {
    assertCommandError(encrypt(['--in', path.join(tmp, 'does-not-exist.txt')]), /^flashwire: cannot open \S*does-not-exist\.txt for reading\n$/);
  });
});

// ---------------------------------------------------------------- round trips

describe('webpush encrypt/decrypt round trips', () => {
  test('--in/--out files round trip, stdout stays empty', () => {
    const sub = newSubscriber();
    const plain = crypto.randomBytes(777);
    const plainFile = path.join(tmp, 'plain.bin');
    const bodyFile = path.join(tmp, 'body.bin');
    const backFile = path.join(tmp, 'back.bin');
    fs.writeFileSync(plainFile, plain);

    const enc = flashwireOk(['webpush', 'encrypt', '--p256dh', sub.p256dh, '--auth', sub.authB64,
      '--in', plainFile, '--out', bodyFile]);
    assert.equal(enc.length, 0, 'with --out nothing goes to stdout');
    assert.equal(fs.statSync(bodyFile).size, 86 + 777 + 17);

    const dec = flashwireOk(['webpush', 'decrypt', '--ua-private', sub.privateB64, '--auth', sub.authB64,
      '--in', bodyFile, '--out', backFile]);
    assert.equal(dec.length, 0);
    assert.deepEqual(fs.readFileSync(backFile), plain);
  });

  test('stdin to stdout works in both directions', () => {
    const sub = newSubscriber();
    const plain = Buffer.from('{"title":"Storm warning","body":"Stay indoors"}');
    const body = flashwireOk(['webpush', 'encrypt', '--p256dh', sub.p256dh, '--auth', sub.authB64], plain);
    assert.equal(body.length, 86 + plain.length + 17);
    const back = flashwireOk(['webpush', 'decrypt', '--ua-private', sub.privateB64, '--auth', sub.authB64], body);
    assert.deepEqual(back, plain);
  });

  test('empty plaintext on stdin round trips', () => {
    const sub = newSubscriber();
    const body = flashwireOk(['webpush', 'encrypt', '--p256dh', sub.p256dh, '--auth', sub.authB64], Buffer.alloc(0));
    assert.equal(body.length, 86 + 17);
    const back = flashwireOk(['webpush', 'decrypt', '--ua-private', sub.privateB64, '--auth', sub.authB64], body);
    assert.equal(back.length, 0);
  });

  test('--padding round trips and grows the body', () => {
    const sub = newSubscriber();
    const plain = Buffer.from('short');
    const body = flashwireOk(['webpush', 'encrypt', '--p256dh', sub.p256dh, '--auth', sub.authB64, '--padding', '200'], plain);
    assert.equal(body.length, 86 + plain.length + 1 + 200 + 16);
    const back = flashwireOk(['webpush', 'decrypt', '--ua-private', sub.privateB64, '--auth', sub.authB64], body);
    assert.deepEqual(back, plain);
  });
});

// ---------------------------------------------------------------- webpush decrypt

describe('webpush decrypt refuses bad bodies', () => {
  let sub;
  let plain;
  let body;
  before(() => {
    sub = newSubscriber();
    plain = Buffer.from('A body that will be tampered with');
    body = flashwireOk(['webpush', 'encrypt', '--p256dh', sub.p256dh, '--auth', sub.authB64], plain);
  });
  const decrypt = (input, extra = [], over = {}) =>
    flashwire(['webpush', 'decrypt', '--ua-private', over.priv ?? sub.privateB64, '--auth', over.auth ?? sub.authB64, ...extra], input);

  test('a tampered ciphertext fails authentication and leaves --out unwritten', () => {
    const bad = Buffer.from(body);
    bad[100] ^= 0x01;
    const inFile = path.join(tmp, 'tampered.bin');
    const outFile = path.join(tmp, 'tampered.out');
    fs.writeFileSync(inFile, bad);
    const r = decrypt(undefined, ['--in', inFile, '--out', outFile]);
    assertCommandError(r, /authentication/i);
    // No plaintext (partial or otherwise) may be left behind.
    if (fs.existsSync(outFile)) assert.equal(fs.statSync(outFile).size, 0);
  });

  test('a tampered tag fails authentication', () => {
    const bad = Buffer.from(body);
    bad[bad.length - 1] ^= 0x80;
    assertCommandError(decrypt(bad), /authentication/i);
  });

  test('a tampered salt fails authentication', () => {
    const bad = Buffer.from(body);
    bad[3] ^= 0x04;
    assertCommandError(decrypt(bad), /authentication/i);
  });

  test('the wrong auth secret fails authentication', () => {
    assertCommandError(decrypt(body, [], { auth: b64u(crypto.randomBytes(16)) }), /authentication/i);
  });

  test('the wrong subscriber key fails authentication', () => {
    const other = newSubscriber();
    assertCommandError(decrypt(body, [], { priv: other.privateB64 }), /authentication/i);
  });

  test('a body missing its last byte is refused', () => {
    assertCommandError(decrypt(body.subarray(0, body.length - 1)), /^flashwire: decrypt: aes128gcm: record 0 failed authentication/);
  });

  test('a body shorter than the fixed header is refused', () => {
    assertCommandError(decrypt(body.subarray(0, 10)), /^flashwire: decrypt: aes128gcm: body of 10 bytes is shorter than the 21-byte header\n$/);
  });

  test('a body cut inside the keyid is refused', () => {
    assertCommandError(decrypt(body.subarray(0, 50)), /^flashwire: decrypt: aes128gcm: body ends inside the keyid\n$/);
  });

  test('a header with no record is refused', () => {
    assertCommandError(decrypt(body.subarray(0, 86)), /^flashwire: decrypt: aes128gcm: no records after the header\n$/);
  });

  test('an empty body is refused', () => {
    assertCommandError(decrypt(Buffer.alloc(0)), /^flashwire: decrypt: aes128gcm: body of 0 bytes is shorter than the 21-byte header\n$/);
  });

  test('a 15-byte auth secret is refused', () => {
    assertCommandError(decrypt(body, [], { auth: b64u(crypto.randomBytes(15)) }), /auth/i);
  });

  test('a private key that is not base64url is refused', () => {
    assertCommandError(decrypt(body, [], { priv: sub.privateB64.slice(0, 5) + '+' + sub.privateB64.slice(6) }), /base64/i);
  });

  test('the untouched body still decrypts (control)', () => {
    const r = decrypt(body);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout, plain);
  });
});

// ---------------------------------------------------------------- usage errors

describe('usage errors', () => {
  const cases = [
    ['an unknown command is named', ['frobnicate'], /^flashwire: unknown command 'frobnicate' \(see 'flashwire --help'\)\n$/],
    ['an unknown subcommand is named', ['token', 'mint'], /^flashwire: unknown command 'mint' \(see 'flashwire token --help'\)\n$/],
    ['a missing subcommand', ['token'], /A subcommand is required \(see 'flashwire token --help'\)/],
    ['no command at all', [], /A subcommand is required \(see 'flashwire --help'\)/],
    ['an unknown option', ['vapid', 'generate', '--bogus'], /--bogus \(see 'flashwire vapid generate --help'\)/],
    ['a missing required option', ['alert', 'send', '--url', '/'], /--title is required/],
    ['a value outside the allowed set', ['fanout', '--subs', 'a', '--vapid', 'b', '--payload', 'c', '--urgency', 'now'], /urgency/],
    ['--server together with --config', ['alert', 'send', '--title', 't', '--url', '/', '--server', 'http://127.0.0.1:9', '--config', 'x.toml'], /excludes/],
  ];
  for (const [name, args, pattern] of cases) {
    test(`${name}: exit 1 and one line`, () => {
      assertUsageError(flashwire(args), pattern);
    });
  }

  test('--help and --version still exit 0 on stdout', () => {
    const help = flashwire(['serve', '--help']);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout.toString(), /^Run the news site/m);
    const version = flashwire(['--version']);
    assert.equal(version.status, 0);
    assert.match(version.stdout.toString(), /^flashwire \d+\.\d+\.\d+\n$/);
  });

  test('serve --help tells about the configuration file and the push service', () => {
    const text = flashwire(['serve', '--help']).stdout.toString();
    assert.match(text, /--config TEXT +TOML configuration file/);
    assert.match(text, /defaults < the --config TOML file < FLASHWIRE_\* environment < these flags/);
    assert.match(text, /\[push_service\]: with enabled = true, Flashwire's own push service/);
    assert.match(text, /push_service\.listen/);
  });
});

// ---------------------------------------------------------------- run beside serve

// Runs the binary in `cwd` (a folder with no site in it, as an operator's home would be).
function flashwireIn(cwd, args) {
  const r = spawnSync(BIN, args, { cwd, input: Buffer.alloc(0), timeout: 15000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

describe('commands that work on a site\'s data never create one', () => {
  let cwd;
  let subsFile;
  before(() => {
    cwd = fs.mkdtempSync(path.join(tmp, 'elsewhere-'));
    subsFile = path.join(tmp, 'one-subscription.jsonl');
    const sub = newSubscriber();
    fs.writeFileSync(subsFile, `${JSON.stringify({ endpoint: 'https://fcm.googleapis.com/fcm/send/x', keys: { p256dh: sub.p256dh, auth: sub.authB64 } })}\n`);
  });

  const commands = [
    ['token create', ['token', 'create', '--name', 'desk', '--scope', 'alerts:send']],
    ['token list', ['token', 'list']],
    ['token revoke', ['token', 'revoke', '--name', 'desk']],
    ['subscriptions import', ['subscriptions', 'import', '--category', 'breaking', 'SUBS']],
  ];
  for (const [name, args] of commands) {
    test(`${name} run from another folder says where it looked and creates nothing`, () => {
      const r = flashwireIn(cwd, args.map((a) => (a === 'SUBS' ? subsFile : a)));
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stdout, '');
      const expected = path.join(fs.realpathSync(cwd), 'data', 'site.sqlite');
      assert.equal(r.stderr, `flashwire: no site store at ${expected}: run this where \`flashwire serve\` runs, ` +
        'or point it at the site\'s data with --data DIR or --config FILE\n');
      assert.deepEqual(fs.readdirSync(cwd), [], 'nothing was created');
    });
  }

  test('--data and a configuration\'s data_dir name the place looked at', () => {
    const missing = path.join(tmp, 'no-such-site');
    const byFlag = flashwireIn(cwd, ['token', 'list', '--data', missing]);
    assert.equal(byFlag.status, 1);
    assert.match(byFlag.stderr, new RegExp(`^flashwire: no site store at ${missing}/site\\.sqlite: `));
    const config = path.join(tmp, 'elsewhere.toml');
    fs.writeFileSync(config, `data_dir = ${JSON.stringify(path.join(tmp, 'configured-site'))}\n`);
    const byConfig = flashwireIn(cwd, ['token', 'create', '--config', config, '--name', 'desk', '--scope', 'alerts:send']);
    assert.equal(byConfig.status, 1);
    assert.match(byConfig.stderr, new RegExp(`^flashwire: no site store at ${tmp}/configured-site/site\\.sqlite: `));
    assert.equal(fs.existsSync(missing), false);
    assert.equal(fs.existsSync(path.join(tmp, 'configured-site')), false);
  });
});

// A stand-in for serve's newsroom API: records requests, answers compose (201) and send (202).
async function startNewsroomStub(host = '127.0.0.1') {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization, body });
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/api/newsroom/alerts') res.writeHead(201).end('{"id":7}');
      else if (req.url === '/api/newsroom/alerts/7/send') res.writeHead(202).end('{"status":"sending","audience":3}');
      else res.writeHead(404).end('{"error":"not_found","message":"no such thing"}');
    });
  });
  await new Promise((resolve) => server.listen(0, host, resolve));
  return { port: server.address().port, seen, close: () => new Promise((r) => server.close(r)) };
}

// The binary without blocking the event loop (the stub answers in this process).
function runAsync(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
    child.once('error', reject);
    child.once('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

describe('alert send --config', () => {
  let stub;
  before(async () => { stub = await startNewsroomStub(); });
  after(async () => { await stub?.close(); });

  for (const listenHost of ['127.0.0.1', '0.0.0.0']) {
    test(`reaches the site at the configuration's listen address (${listenHost})`, async () => {
      stub.seen.length = 0;
      const config = path.join(tmp, `serve-${listenHost}.toml`);
      fs.writeFileSync(config, `listen = "${listenHost}:${stub.port}"\n`);
      const r = await runAsync(['alert', 'send', '--config', config, '--title', 'Bridge reopens', '--url', '/'],
        { FLASHWIRE_TOKEN: 'fw_test' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'alert 7 accepted: sending to 3 subscriber(s)\n');
      assert.deepEqual(stub.seen.map((x) => `${x.method} ${x.url} ${x.authorization}`),
        ['POST /api/newsroom/alerts Bearer fw_test', 'POST /api/newsroom/alerts/7/send Bearer fw_test']);
      assert.deepEqual(JSON.parse(stub.seen[0].body), { category: 'breaking', title: 'Bridge reopens', url: '/' });
    });
  }

  test('names the address it could not reach', async () => {
    const closed = await startNewsroomStub();
    await closed.close();  // a port nobody listens on now
    const config = path.join(tmp, 'serve-closed.toml');
    fs.writeFileSync(config, `listen = "127.0.0.1:${closed.port}"\n`);
    const r = await runAsync(['alert', 'send', '--config', config, '--title', 't', '--url', '/', '--token', 'fw_x']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^flashwire: cannot reach http://127\\.0\\.0\\.1:${closed.port}: [^\\n]+\\n$`));
  });

  test('a bad configuration is refused before anything is sent', async () => {
    const config = path.join(tmp, 'serve-bad.toml');
    fs.writeFileSync(config, 'listen = "nowhere"\n');
    const r = await runAsync(['alert', 'send', '--config', config, '--title', 't', '--url', '/', '--token', 'fw_x']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^flashwire: config: listen: [^\n]+\n$/);
  });
});
