// Interoperability checks: the flashwire CLI against independent
// implementations of RFC 8291 (npm http_ece / web-push) and RFC 8292
// (Node's own ECDSA verifier and web-push's VAPID signer).
//
// Run from the repository root:  node --test tests/interop/ tests/app/
// The binary under test is $FLASHWIRE_BIN, or build/src/app/flashwire.

import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  BIN, flashwire, flashwireOk, assertCommandError, b64u, unb64u, nowSeconds, newSubscriber,
} from '../support/flashwire_cli.mjs';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ece = require('http_ece');
const webpush = require('web-push');

// ---------------------------------------------------------------- helpers

// Splits an aes128gcm header (RFC 8188 section 2.1) into its fields.
function parseHeader(body) {
  assert.ok(body.length >= 21, 'body shorter than the fixed header');
  const idlen = body[20];
  return {
    salt: body.subarray(0, 16),
    rs: body.readUInt32BE(16),
    idlen,
    keyid: body.subarray(21, 21 + idlen),
    records: body.subarray(21 + idlen),
  };
}

// Decrypts with the independent http_ece implementation.
function eceDecrypt(body, sub) {
  return ece.decrypt(body, {
    version: 'aes128gcm',
    privateKey: sub.ecdh,
    authSecret: sub.auth,
  });
}

// Random binary plaintext of the given size (covers NUL and 0xff bytes).
function plaintextOfSize(n) {
  return crypto.randomBytes(n);
}

// Breaks "vapid t=<jwt>, k=<key>" into its parts.
function parseVapidHeader(value) {
  const m = /^vapid t=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+), k=([A-Za-z0-9_-]+)$/.exec(value);
  assert.ok(m, `not a vapid header: ${JSON.stringify(value)}`);
  const [h, p, s] = m[1].split('.');
  return {
    jwt: m[1],
    k: m[2],
    headerB64: h,
    payloadB64: p,
    sigB64: s,
    signingInput: Buffer.from(`${h}.${p}`, 'ascii'),
    signature: unb64u(s),
    header: JSON.parse(unb64u(h).toString('utf8')),
    claims: JSON.parse(unb64u(p).toString('utf8')),
  };
}

// A JWK for a 65-byte uncompressed P-256 public key given in base64url.
function jwkFromRaw(rawB64) {
  const raw = unb64u(rawB64);
  assert.equal(raw.length, 65);
  assert.equal(raw[0], 0x04);
  return { kty: 'EC', crv: 'P-256', x: b64u(raw.subarray(1, 33)), y: b64u(raw.subarray(33, 65)) };
}

function es256Verify(signingInput, rawPublicB64, signature) {
  return crypto.verify(
    'sha256',
    signingInput,
    { key: jwkFromRaw(rawPublicB64), format: 'jwk', dsaEncoding: 'ieee-p1363' },
    signature,
  );
}

before(() => {
  assert.ok(fs.existsSync(BIN), `flashwire binary not found at ${BIN} (set FLASHWIRE_BIN)`);
});

// ------------------------------------------------- (a) ours -> http_ece

describe('flashwire encrypt, http_ece decrypt', () => {
  for (const size of [0, 1, 300, 3993]) {
    test(`plaintext of ${size} bytes round-trips through http_ece`, () => {
      const sub = newSubscriber();
      const plain = plaintextOfSize(size);
      const body = flashwireOk(['webpush', 'encrypt', '--p256dh', sub.p256dh, '--auth', sub.authB64], plain);

      // One record: 86-byte header (65-byte keyid), plaintext, delimiter, tag.
      assert.equal(body.length, 86 + size + 1 + 16);
      const hdr = parseHeader(body);
      assert.equal(hdr.idlen, 65, 'keyid must be the 65-byte sender public key');
      assert.equal(hdr.keyid[0], 0x04, 'keyid must be an uncompressed point');
      assert.ok(hdr.rs >= hdr.records.length, 'the only record must fit in rs');
      assert.notDeepEqual(hdr.keyid, unb64u(sub.p256dh), 'sender key must not echo the subscriber key');

      const out = eceDecrypt(body, sub);
      assert.deepEqual(out, plain);
    });
  }

  test('the 3993-byte maximum produces exactly a 4096-byte body', () => {
    const sub = newSubscriber();
    const body = flashwireOk(['webpush', 'encrypt', '--p256dh', sub.p256dh, '--auth', sub.authB64], plaintextOfSize(3993));
    assert.equal(body.length, 4096);
  });

  test('--padding adds zero padding that http_ece strips', () => {
    const sub = newSubscriber();
    const plain = Buffer.from('Flashwire: padded alert body');
    const padding = 57;
    const body = flashwireOk(
      ['webpush', 'encrypt', '--p256dh', sub.p256dh, '--auth', sub.authB64, '--padding', String(padding)],
      plain,
    );
    assert.equal(body.length, 86 + plain.length + 1 + padding + 16);
    assert.deepEqual(eceDecrypt(body, sub), plain);
  });

  test('string payload with multibyte UTF-8 survives', () => {
    const sub = newSubscriber();
    const plain = Buffer.from('{"title":"Eilmeldung — Überschwemmung","body":"雨 🌧️"}', 'utf8');
    const body = flashwireOk(['webpush', 'encrypt', '--p256dh', sub.p256dh, '--auth', sub.authB64], plain);
    assert.equal(eceDecrypt(body, sub).toString('utf8'), plain.toString('utf8'));
  });

  test('each encryption uses a fresh salt and a fresh sender key', () => {
    const sub = newSubscriber();
    const plain = Buffer.from('same message twice');
    const args = ['webpush', 'encrypt', '--p256dh', sub.p256dh, '--auth', sub.authB64];
    const one = flashwireOk(args, plain);
    const two = flashwireOk(args, plain);
    assert.notDeepEqual(one.subarray(0, 16), two.subarray(0, 16), 'salts (bytes 0-16) must differ');
    assert.notDeepEqual(one.subarray(21, 86), two.subarray(21, 86), 'sender keys (bytes 21-86) must differ');
    assert.deepEqual(eceDecrypt(one, sub), plain);
    assert.deepEqual(eceDecrypt(two, sub), plain);
  });
});

// ------------------------------------------------- (b) web-push -> ours

describe('web-push encrypt, flashwire decrypt', () => {
  // web-push 3.6.7's encrypt() imposes no size limit of its own (only
  // sendNotification checks a 4078-byte cap), so the protocol maximum of
  // 3993 bytes — a 4096-byte body in one record — is used directly.
  for (const size of [0, 1, 300, 1024, 3993]) {
    test(`web-push body with ${size} bytes of plaintext decrypts`, () => {
      const sub = newSubscriber();
      const plain = plaintextOfSize(size);
      const { cipherText } = webpush.encrypt(sub.p256dh, sub.authB64, plain, 'aes128gcm');
      assert.equal(cipherText.length, 86 + size + 17);
      const out = flashwireOk(
        ['webpush', 'decrypt', '--ua-private', sub.privateB64, '--auth', sub.authB64],
        cipherText,
      );
      assert.deepEqual(out, plain);

      // The same body with its last tag byte altered must be refused, so an
      // empty plaintext above cannot pass by accident.
      const bad = Buffer.from(cipherText);
      bad[bad.length - 1] ^= 0x01;
      const r = flashwire(['webpush', 'decrypt', '--ua-private', sub.privateB64, '--auth', sub.authB64], bad);
      assertCommandError(r, /authentication/i);
    });
  }

  test('web-push body decrypts when read with --in and written with --out', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-interop-'));
    try {
      const sub = newSubscriber();
      const plain = Buffer.from('{"headline":"Bridge closed","url":"/a/123"}');
      const { cipherText } = webpush.encrypt(sub.p256dh, sub.authB64, plain, 'aes128gcm');
      const bodyFile = path.join(dir, 'body.bin');
      const outFile = path.join(dir, 'plain.txt');
      fs.writeFileSync(bodyFile, cipherText);
      const stdout = flashwireOk([
        'webpush', 'decrypt', '--ua-private', sub.privateB64, '--auth', sub.authB64,
        '--in', bodyFile, '--out', outFile,
      ]);
      assert.equal(stdout.length, 0);
      assert.deepEqual(fs.readFileSync(outFile), plain);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('web-push body for a different subscriber is refused', () => {
    const alice = newSubscriber();
    const mallory = newSubscriber();
    const { cipherText } = webpush.encrypt(alice.p256dh, alice.authB64, Buffer.from('private'), 'aes128gcm');
    const r = flashwire(
      ['webpush', 'decrypt', '--ua-private', mallory.privateB64, '--auth', alice.authB64],
      cipherText,
    );
    assertCommandError(r, /authentication/i);
  });
});

// ------------------------------------------------- (c) RFC 8291 vector

describe('RFC 8291 section 5 test vector', () => {
  const V = {
    plaintext: 'When I grow up, I want to be a watermelon',
    asPrivate: 'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw',
    uaPublic: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
    uaPrivate: 'q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94',
    salt: 'DGv6ra1nlYgDCS1FRnbzlw',
    auth: 'BTBZMqHH6r4Tts7J_aSIgg',
    body:
      'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
  };

  test('--as-private/--salt reproduces the body byte for byte', () => {
    const body = flashwireOk(
      ['webpush', 'encrypt', '--p256dh', V.uaPublic, '--auth', V.auth, '--as-private', V.asPrivate, '--salt', V.salt],
      Buffer.from(V.plaintext),
    );
    const expected = unb64u(V.body);
    assert.equal(expected.length, 144);
    assert.equal(b64u(body), V.body);
    assert.deepEqual(body, expected);
  });

  test('flashwire decrypt recovers the plaintext from the vector body', () => {
    const out = flashwireOk(['webpush', 'decrypt', '--ua-private', V.uaPrivate, '--auth', V.auth], unb64u(V.body));
    assert.equal(out.toString('utf8'), V.plaintext);
  });

  test('http_ece agrees with the vector (sanity check of the vector itself)', () => {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.setPrivateKey(unb64u(V.uaPrivate));
    assert.equal(b64u(ecdh.getPublicKey()), V.uaPublic);
    const out = ece.decrypt(unb64u(V.body), { version: 'aes128gcm', privateKey: ecdh, authSecret: V.auth });
    assert.equal(out.toString('utf8'), V.plaintext);
  });
});

// ------------------------------------------------- (d) VAPID

describe('VAPID interoperability', () => {
  const AUD = 'https://push.example.net';
  const SUB = 'mailto:newsdesk@example.com';

  for (const expSeconds of [undefined, 60, 3600, 86400]) {
    const label = expSeconds === undefined ? 'default lifetime (43200 s)' : `--exp-seconds ${expSeconds}`;
    test(`our header verifies with Node crypto, ${label}`, () => {
      const keys = JSON.parse(flashwireOk(['vapid', 'generate']).toString('utf8'));
      const args = ['vapid', 'header', '--aud', AUD, '--sub', SUB, '--private-key', keys.privateKey];
      if (expSeconds !== undefined) args.push('--exp-seconds', String(expSeconds));
      const before = nowSeconds();
      const out = flashwireOk(args).toString('utf8');
      const after = nowSeconds();
      assert.ok(out.endsWith('\n') && out.indexOf('\n') === out.length - 1, 'header must be one line');

      const v = parseVapidHeader(out.trimEnd());
      assert.equal(v.k, keys.publicKey, 'k must be the generated public key');
      assert.deepEqual(v.header, { typ: 'JWT', alg: 'ES256' });
      assert.deepEqual(Object.keys(v.claims).sort(), ['aud', 'exp', 'sub']);
      assert.equal(v.claims.aud, AUD);
      assert.equal(v.claims.sub, SUB);
      const n = expSeconds ?? 43200;
      assert.ok(Number.isInteger(v.claims.exp), 'exp must be an integer');
      assert.ok(v.claims.exp >= before + n - 5 && v.claims.exp <= after + n + 5,
        `exp ${v.claims.exp} not within 5 s of now+${n}`);

      assert.equal(v.signature.length, 64, 'ES256 JWS signatures are r||s, 64 bytes');
      assert.equal(es256Verify(v.signingInput, v.k, v.signature), true);

      // Any single flipped bit in the signature must break it.
      for (const bit of [0, 255, 511]) {
        const bad = Buffer.from(v.signature);
        bad[bit >> 3] ^= 1 << (bit & 7);
        assert.equal(es256Verify(v.signingInput, v.k, bad), false, `bit ${bit} flipped still verified`);
      }
      // And so must a changed claim.
      const forged = Buffer.from(`${v.headerB64}.${b64u(JSON.stringify({ ...v.claims, aud: 'https://evil.example' }))}`);
      assert.equal(es256Verify(forged, v.k, v.signature), false);
    });
  }

  test('web-push getVapidHeaders output verifies with flashwire vapid verify', () => {
    const keys = webpush.generateVAPIDKeys();
    const before = nowSeconds();
    const headers = webpush.getVapidHeaders(AUD, SUB, keys.publicKey, keys.privateKey, 'aes128gcm');
    const value = headers.Authorization;
    assert.match(value, /^vapid t=/);

    const out = flashwireOk(['vapid', 'verify', '--header', value, '--aud', AUD, '--public-key', keys.publicKey]);
    const text = out.toString('utf8');
    assert.ok(text.endsWith('\n') && text.indexOf('\n') === text.length - 1, 'claims must be one JSON line');
    const claims = JSON.parse(text);
    assert.equal(claims.aud, AUD);
    assert.equal(claims.sub, SUB);
    assert.ok(claims.exp >= before + 43200 - 5 && claims.exp <= nowSeconds() + 43200 + 5);

    // Without --public-key it still verifies against the embedded k.
    const out2 = JSON.parse(flashwireOk(['vapid', 'verify', '--header', value, '--aud', AUD]).toString('utf8'));
    assert.deepEqual(out2, claims);
  });

  test('flashwire vapid verify rejects a web-push header for another audience', () => {
    const keys = webpush.generateVAPIDKeys();
    const { Authorization } = webpush.getVapidHeaders(AUD, SUB, keys.publicKey, keys.privateKey, 'aes128gcm');
    const r = flashwire(['vapid', 'verify', '--header', Authorization, '--aud', 'https://other.example.net']);
    assertCommandError(r, /aud/);
  });

  test('flashwire vapid verify rejects a web-push header under a different --public-key', () => {
    const keys = webpush.generateVAPIDKeys();
    const other = webpush.generateVAPIDKeys();
    const { Authorization } = webpush.getVapidHeaders(AUD, SUB, keys.publicKey, keys.privateKey, 'aes128gcm');
    const r = flashwire(['vapid', 'verify', '--header', Authorization, '--aud', AUD, '--public-key', other.publicKey]);
    assertCommandError(r, /key|k\b/i);
  });

  test('flashwire vapid verify rejects a web-push header whose k was swapped', () => {
    // Signature made by one key, k naming another: the signature check must fail.
    const keys = webpush.generateVAPIDKeys();
    const other = webpush.generateVAPIDKeys();
    const { Authorization } = webpush.getVapidHeaders(AUD, SUB, keys.publicKey, keys.privateKey, 'aes128gcm');
    const swapped = Authorization.replace(/k=[A-Za-z0-9_-]+$/, `k=${other.publicKey}`);
    assert.notEqual(swapped, Authorization);
    const r = flashwire(['vapid', 'verify', '--header', swapped, '--aud', AUD]);
    assertCommandError(r);
  });

  test('web-push can sign with a flashwire-generated key and we verify it', () => {
    const keys = JSON.parse(flashwireOk(['vapid', 'generate']).toString('utf8'));
    const { Authorization } = webpush.getVapidHeaders(AUD, SUB, keys.publicKey, keys.privateKey, 'aes128gcm');
    const claims = JSON.parse(
      flashwireOk(['vapid', 'verify', '--header', Authorization, '--aud', AUD, '--public-key', keys.publicKey]).toString('utf8'),
    );
    assert.equal(claims.aud, AUD);
    assert.equal(claims.sub, SUB);
  });
});
