// A push-service stand-in for the fan-out tests: an HTTP/1.1 server on loopback that takes
// RFC 8030 message deliveries (POST /push/<id>), answers them as told, and records what it saw.
// It can check what it received as a browser and a push service would: decrypt a body with the
// subscriber's private key and auth secret (npm http_ece, RFC 8291) and verify the VAPID JWT
// (RFC 8292, ES256 with node:crypto).
//
// Also: makeSubscribers() / writeSubscriptions(), N browser-side subscriptions for its endpoints.
//
// Nothing here talks to anything but 127.0.0.x.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ece = require('http_ece');

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const unb64u = (s) => Buffer.from(s, 'base64url');
const leftPad = (buf, len) => (buf.length >= len ? buf : Buffer.concat([Buffer.alloc(len - buf.length), buf]));

// ---------------------------------------------------------------- subscribers

// N subscriptions for endpoints `${origin}/push/<prefix><i>`, i = 0..n-1. Each has its own P-256
// key pair (node:crypto ECDH, like a browser's) and 16 random auth bytes. Returned objects:
//   { i, path, endpoint, p256dh, auth, privateKey }   (keys base64url; privateKey: 32 bytes)
// The private key stays with the test (in memory, or writePrivateKeys() for a file).
export function makeSubscribers(n, origin, { prefix = '' } = {}) {
  const out = new Array(n);
  for (let i = 0; i < n; ++i) {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    const path = `/push/${prefix}${i}`;
    out[i] = {
      i,
      path,
      endpoint: origin + path,
      p256dh: b64u(ecdh.getPublicKey()),
      auth: b64u(crypto.randomBytes(16)),
      privateKey: b64u(leftPad(ecdh.getPrivateKey(), 32)),  // Node may drop leading zeros
    };
  }
  return out;
}

// One PushSubscription JSON line, as a browser's subscription.toJSON() gives it.
export function subscriptionLine(sub) {
  return JSON.stringify({ endpoint: sub.endpoint, expirationTime: null, keys: { p256dh: sub.p256dh, auth: sub.auth } });
}

// Writes the subscriptions as JSON lines (the format of `flashwire fanout --subs` and
// `flashwire subscriptions import`).
export function writeSubscriptions(file, subs) {
  fs.writeFileSync(file, subs.map(subscriptionLine).join('\n') + '\n');
}

// {"endpoint", "privateKey", "auth"} per line, for a checker in another process.
export function writePrivateKeys(file, subs) {
  fs.writeFileSync(file, subs.map((s) => JSON.stringify({ endpoint: s.endpoint, privateKey: s.privateKey, auth: s.auth })).join('\n') + '\n');
}

// ---------------------------------------------------------------- checks

// The plaintext of an aes128gcm body (RFC 8291) for `sub`, as its browser would decrypt it.
// Throws when it does not decrypt.
export function decryptFor(sub, body) {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.setPrivateKey(unb64u(sub.privateKey));
  return ece.decrypt(body, { version: 'aes128gcm', privateKey: ecdh, authSecret: unb64u(sub.auth) });
}

// Checks an "Authorization: vapid t=<JWT>, k=<key>" header as a push service does (RFC 8292):
// ES256 signature by `k`, `k` = publicKey (when given), alg, aud = origin, exp in the future and
// at most 24 h (+1 min of skew) ahead, sub a mailto: or https: URI. Returns the claims; throws
// with the reason otherwise.
export function verifyVapid(authorization, { origin, publicKey }) {
  const m = /^vapid t=([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+), k=([A-Za-z0-9_-]+)$/.exec(authorization ?? '');
  if (!m) throw new Error(`not "vapid t=…, k=…": ${JSON.stringify(authorization)}`);
  const [, h, p, s, k] = m;
  if (publicKey !== undefined && k !== publicKey) throw new Error('k= is not the VAPID public key');
  const header = JSON.parse(unb64u(h).toString('utf8'));
  if (header.alg !== 'ES256') throw new Error(`alg is ${header.alg}, not ES256`);
  const raw = unb64u(k);
  if (raw.length !== 65 || raw[0] !== 4) throw new Error('k= is not an uncompressed P-256 point');
  const key = crypto.createPublicKey({
    format: 'jwk',
    key: { kty: 'EC', crv: 'P-256', x: b64u(raw.subarray(1, 33)), y: b64u(raw.subarray(33)) },
  });
  const signature = unb64u(s);
  if (signature.length !== 64 ||
      !crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, signature)) {
    throw new Error('ES256 signature does not verify');
  }
  const claims = JSON.parse(unb64u(p).toString('utf8'));
  const now = Date.now() / 1000;
  if (claims.aud !== origin) throw new Error(`aud is ${claims.aud}, not ${origin}`);
  if (!(typeof claims.exp === 'number' && claims.exp > now && claims.exp <= now + 86400 + 60)) {
    throw new Error('exp is not within the next 24 h');
  }
  if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) {
    throw new Error('sub is not a mailto: or https: URI');
  }
  return claims;
}

// ---------------------------------------------------------------- the receiver

// What the receiver does with one request. Fields (all optional):
//   status      answer status (default 201; 201 gets a Location header)
//   retryAfter  Retry-After header value
//   delayMs     wait this long before answering (or before closing)
//   close       true: destroy the socket without answering
// A rule may also be an array: the 1st request to the path gets rule[0], the 2nd rule[1], …;
// the last element applies to every later request.
const DEFAULT_RULE = Object.freeze({ status: 201 });

// Starts a receiver on 127.0.0.1, port 0. Options:
//   keepBodies  which bodies to keep on the records: true (all), false (none), or a number k
//               (every k-th request, the 1st included). Default 1 in 50.
//   alsoListen  more loopback addresses to listen on with the same port (e.g. ['127.0.0.2']):
//               requests there are recorded with their Host, to prove none arrived.
// Resolves to an object with:
//   origin, port                  "http://127.0.0.1:<port>"
//   requests                      [{ path, host, headers, bodyLength, body?, at, status }]
//   setDefault(rule), setRule(path, rule), clearRules()
//   count(path), total(), distinct(), duplicates(), pathsWithDuplicates()
//   waitFor(predicate, timeoutMs) resolves once predicate(receiver) holds (polls), else rejects
//   openConnections()             connections open to the receiver right now
//   reset()                       forgets requests and counts (rules stay)
//   close()
export async function startPushReceiver({ keepBodies = 50, alsoListen = [] } = {}) {
  const requests = [];
  const perPath = new Map();  // path -> requests seen
  const rules = new Map();
  let defaultRule = DEFAULT_RULE;
  let sequence = 0;
  const sockets = new Set();

  function ruleFor(path, nth) {
    const rule = rules.get(path) ?? defaultRule;
    if (Array.isArray(rule)) return rule[Math.min(nth, rule.length - 1)] ?? DEFAULT_RULE;
    return rule;
  }
  function keep(n) {
    if (keepBodies === true) return true;
    if (!keepBodies) return false;
    return n % keepBodies === 0;
  }

  function handle(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      const path = req.url;
      if (req.method !== 'POST' || !path.startsWith('/push/')) {
        res.writeHead(404, { 'Content-Length': 0 }).end();
        return;
      }
      const body = Buffer.concat(chunks);
      const nth = perPath.get(path) ?? 0;
      perPath.set(path, nth + 1);
      const rule = ruleFor(path, nth);
      const record = {
        path,
        host: req.headers.host,
        headers: req.headers,
        bodyLength: body.length,
        at: Date.now(),
        status: rule.close ? null : (rule.status ?? 201),
      };
      if (keep(requests.length)) record.body = body;
      requests.push(record);
      const answer = () => {
        if (rule.close) {
          req.socket.destroy();
          return;
        }
        const status = rule.status ?? 201;
        const headers = { 'Content-Length': 0 };
        if (status === 201) headers.Location = `${receiver.origin}/m/${++sequence}`;
        if (rule.retryAfter !== undefined) headers['Retry-After'] = String(rule.retryAfter);
        if (!res.destroyed) res.writeHead(status, headers).end();
      };
      if (rule.delayMs) setTimeout(answer, rule.delayMs); else answer();
    });
  }

  const servers = [];
  const listen = (server, host, port) => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(server.address().port); });
  });
  const makeServer = () => {
    const server = http.createServer({ keepAliveTimeout: 30000 }, handle);
    server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    server.on('clientError', (_e, socket) => socket.destroy());
    servers.push(server);
    return server;
  };
  const port = await listen(makeServer(), '127.0.0.1', 0);
  for (const host of alsoListen) await listen(makeServer(), host, port);

  const receiver = {
    origin: `http://127.0.0.1:${port}`,
    port,
    requests,
    setDefault(rule) { defaultRule = rule; },
    setRule(path, rule) { rules.set(path, rule); },
    clearRules() { rules.clear(); defaultRule = DEFAULT_RULE; },
    count(path) { return perPath.get(path) ?? 0; },
    total() { return requests.length; },
    distinct() { return perPath.size; },
    duplicates() { return requests.length - perPath.size; },
    pathsWithDuplicates() { return [...perPath].filter(([, n]) => n > 1).map(([p]) => p); },
    openConnections() { return sockets.size; },
    reset() { requests.length = 0; perPath.clear(); },
    async waitFor(predicate, timeoutMs = 10000, what = 'condition') {
      const until = Date.now() + timeoutMs;
      while (!predicate(receiver)) {
        if (Date.now() > until) {
          throw new Error(`push receiver: ${what} not reached within ${timeoutMs} ms (${requests.length} requests so far)`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r()))));
    },
  };
  return receiver;
}

// Checks one recorded request against the subscriber it was for: headers (TTL an integer,
// Content-Encoding aes128gcm), the VAPID JWT (aud = the receiver's origin) and, if the body was
// kept, its decryption. Returns { plaintext?, claims, ttl, urgency }; throws with the reason.
export function checkRequest(record, sub, { origin, vapidPublicKey }) {
  const h = record.headers;
  if (!/^\d+$/.test(h.ttl ?? '')) throw new Error(`${record.path}: TTL missing or not an integer`);
  if ((h['content-encoding'] ?? '').toLowerCase() !== 'aes128gcm') {
    throw new Error(`${record.path}: Content-Encoding is not aes128gcm`);
  }
  let claims;
  try {
    claims = verifyVapid(h.authorization, { origin, publicKey: vapidPublicKey });
  } catch (e) {
    throw new Error(`${record.path}: VAPID: ${e.message}`);
  }
  const out = { claims, ttl: Number(h.ttl), urgency: h.urgency };
  if (record.body) {
    try {
      out.plaintext = decryptFor(sub, record.body);
    } catch (e) {
      throw new Error(`${record.path}: does not decrypt: ${e.message}`);
    }
  }
  return out;
}
