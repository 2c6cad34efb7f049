// An HTTPS + HTTP/2 push-service stand-in for the fan-out tests (Node's http2 module), with the
// faults real push services and their load balancers produce, injected on a fixed schedule so a
// run can be repeated:
//
//   rateLimitEvery K   every K-th stream is answered 429 with Retry-After (not a reception)
//   quotaPerSecond R   a quota like FCM's: a token bucket of R per second (burst R/10); a stream
//                      beyond it is answered 429 with Retry-After (not a reception)
//   goawayEvery K      after K streams on a connection the server sends GOAWAY and closes it
//                      gracefully: streams up to GOAWAY's last stream id are answered, later ones
//                      were never processed
//   refuseEvery K      every K-th stream is reset with REFUSED_STREAM before its body is read
//   calmEvery K        every K-th stream is reset with ENHANCE_YOUR_CALM before its body is read
//   resetEvery K       on every K-th stream the whole connection is reset (TCP RST) before the
//                      stream's body is read; streams it had processed on that connection are
//                      ambiguous (their answers may be lost): isAmbiguous(path)
//   earlyAnswerEvery K every K-th stream is answered 201 as soon as its headers arrive, before its
//                      body is read (as servers answer early refusals); that answer is a reception
//
// A reception is a message the server processed: a whole body read and answered 201, or an early
// 201. The server counts receptions per path (a second one is a duplicate) and checks every body
// it read: the exact Content-Length, at least an aes128gcm header (86 bytes with a 65-byte key
// id) + 1 byte + the 16-byte tag, and a 65-byte key id. Faulted streams are not receptions, so a
// sender that re-sends only what was not processed ends with each path received exactly once.
//
// The server also counts the PING frames it receives (stats().pings).
//
// startHttp1PushServer is the same over HTTPS with HTTP/1.1 only (Node's `https`), as a service
// that does not speak HTTP/2 (WNS): ALPN absent, or `http/1.1` selected. It counts and checks
// receptions the same way; `closeEvery K` answers every K-th request with "Connection: close".
//
// startStallingProxy is a TCP proxy in front of a server: the first connection through it stops
// forwarding the client's bytes after `stallAfterBytes` (the server sees nothing more: no
// request, no PING) while still forwarding the server's answers, and stays open — a connection
// dead on the way, as a broken middlebox or a lost route leaves it. Streams the server had
// processed were answered; the rest never reached it.
//
// The certificate is self-signed for 127.0.0.1 and localhost, made at start with `openssl req`
// in a temporary directory (`caFile`); `makeCertificate` also makes ones for other names, for
// the TLS-error tests. Nothing here listens on anything but 127.0.0.1.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const {
  NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, HTTP2_HEADER_STATUS, HTTP2_HEADER_PATH,
  HTTP2_HEADER_METHOD, HTTP2_HEADER_CONTENT_LENGTH,
} = http2.constants;

// A self-signed P-256 certificate (its own CA) in `dir`: { cert, key } (file paths). `names`
// become its subjectAltName entries: a certificate for other names tests host-name checks.
// `expired`: its validity ended a day before it began (`-days -1`), so it is expired now.
export function makeCertificate(dir, { names = ['IP:127.0.0.1', 'DNS:localhost'], tag = 'server', expired = false } = {}) {
  const cert = path.join(dir, `${tag}-cert.pem`);
  const key = path.join(dir, `${tag}-key.pem`);
  const subject = '/CN=flashwire test push service';
  if (!expired) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
      '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', subject,
      '-addext', `subjectAltName=${names.join(',')}`], { stdio: 'ignore' });
    return { cert, key };
  }
  const csr = path.join(dir, `${tag}.csr`);
  const ext = path.join(dir, `${tag}.ext`);
  fs.writeFileSync(ext, `subjectAltName=${names.join(',')}\nbasicConstraints=critical,CA:TRUE\n`);
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', key, '-out', csr, '-subj', subject], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-signkey', key, '-days', '-1',
    '-extfile', ext, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

function checkBody(body, contentLength) {
  if (contentLength === undefined) return 'no content-length';
  if (body.length !== Number(contentLength)) return `length ${body.length} != content-length ${contentLength}`;
  if (body.length < 86 + 1 + 16) return `length ${body.length} shorter than the aes128gcm header + 1 byte + tag`;
  if (body[20] !== 65) return `key id length ${body[20]}, not 65`;
  return null;
}

// Starts the server. Resolves to an object:
//   origin, caFile, port
//   count(path)   receptions of a path;  stats()  { streams, received, duplicates, malformed,
//                 problems, faults: {…}, sessions, h2 }
//   reset()       zero everything;  close()  stop (and delete the temporary directory)
export async function startH2PushServer(faults = {}, { certificate } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-h2-'));
  const tls = certificate ?? makeCertificate(dir);
  let counts;
  let st;
  // Paths received on a connection that was later reset: their answers may have been lost with
  // it, so the sender cannot know they were processed and may send them again.
  let ambiguous;

  // The quota's token bucket (quotaPerSecond), refilled by the wall clock.
  let tokens = (faults.quotaPerSecond ?? 0) / 10;
  let refilled = Date.now();
  const overQuota = () => {
    const rate = faults.quotaPerSecond;
    if (!rate) return false;
    const now = Date.now();
    tokens = Math.min(rate / 10, tokens + ((now - refilled) * rate) / 1000);
    refilled = now;
    if (tokens < 1) return true;
    tokens -= 1;
    return false;
  };

  const reset = () => {
    counts = new Map();
    ambiguous = new Set();
    st = {
      streams: 0, received: 0, duplicates: 0, malformed: 0, problems: [], sessions: 0, pings: 0,
      faults: { rate_limited: 0, goaway: 0, refused: 0, calm: 0, reset: 0, early: 0 },
    };
  };
  reset();
  const every = (k, n) => k > 0 && n % k === 0;
  const receive = (p, session) => {
    session.received.push(p);
    if (session.wasReset) ambiguous.add(p);  // processed, but its answer cannot leave
    const n = (counts.get(p) ?? 0) + 1;
    counts.set(p, n);
    st.received += 1;
    if (n > 1) {
      st.duplicates += 1;
      if (st.problems.length < 10) st.problems.push(`${p}: received ${n} times`);
    }
  };

  const server = http2.createSecureServer({
    cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key), allowHTTP1: false,
    settings: { maxConcurrentStreams: faults.maxConcurrentStreams ?? 100 },
  });
  const sessions = new Set();
  // The TCP sockets by client port: an HTTP/2 session hides its socket, and a reset needs it.
  const sockets = new Map();
  server.on('connection', (socket) => {
    const port = socket.remotePort;
    sockets.set(port, socket);
    socket.on('close', () => sockets.delete(port));
  });
  server.on('session', (session) => {
    st.sessions += 1;
    sessions.add(session);
    session.streamsSeen = 0;
    session.received = [];
    session.on('close', () => sessions.delete(session));
    session.on('error', () => {});
    session.on('ping', () => { st.pings += 1; });
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const session = stream.session;
    if (!session || session.destroyed) return;  // its connection was just reset
    session.streamsSeen += 1;
    const n = ++st.streams;
    const p = headers[HTTP2_HEADER_PATH];
    if (headers[HTTP2_HEADER_METHOD] !== 'POST' || !p.startsWith('/push/')) {
      stream.respond({ [HTTP2_HEADER_STATUS]: 404 });
      stream.end();
      return;
    }
    if (every(faults.goawayEvery, session.streamsSeen)) {
      // Graceful: GOAWAY names this stream as the last one processed; it and those before it
      // complete, anything the client opened later is refused by the protocol.
      st.faults.goaway += 1;
      session.close();
    }
    if (every(faults.refuseEvery, n)) {
      st.faults.refused += 1;
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (every(faults.calmEvery, n)) {
      st.faults.calm += 1;
      stream.close(NGHTTP2_ENHANCE_YOUR_CALM);
      return;
    }
    if (every(faults.resetEvery, n)) {
      st.faults.reset += 1;
      session.wasReset = true;
      for (const q of session.received) ambiguous.add(q);
      sockets.get(session.socket.remotePort)?.resetAndDestroy();
      return;
    }
    if (every(faults.earlyAnswerEvery, n)) {
      st.faults.early += 1;
      receive(p, session);
      stream.respond({ [HTTP2_HEADER_STATUS]: 201, location: `/m/${n}` });
      stream.end();
      stream.resume();
      return;
    }
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      if (stream.destroyed || stream.closed) return;
      if (every(faults.rateLimitEvery, n) || overQuota()) {
        st.faults.rate_limited += 1;
        stream.respond({ [HTTP2_HEADER_STATUS]: 429, 'retry-after': String(faults.retryAfter ?? 0) });
        stream.end();
        return;
      }
      const body = Buffer.concat(chunks);
      const bad = checkBody(body, headers[HTTP2_HEADER_CONTENT_LENGTH]);
      if (bad) {
        st.malformed += 1;
        if (st.problems.length < 10) st.problems.push(`${p}: ${bad}`);
        stream.respond({ [HTTP2_HEADER_STATUS]: 400 });
        stream.end();
        return;
      }
      receive(p, session);
      stream.respond({ [HTTP2_HEADER_STATUS]: 201, location: `/m/${n}` });
      stream.end();
    });
  });
  server.on('sessionError', () => {});
  server.listen(0, '127.0.0.1');
  await new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address();
  return {
    port,
    origin: `https://127.0.0.1:${port}`,
    caFile: tls.cert,
    count: (p) => counts.get(p) ?? 0,
    // Duplicates of paths whose answer a connection reset may have destroyed (see resetEvery).
    isAmbiguous: (p) => ambiguous.has(p),
    stats: () => ({ ...st, distinct: counts.size }),
    reset,
    close: async () => {
      for (const s of sessions) s.destroy();
      for (const s of sockets.values()) s.destroy();
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// The HTTP/1.1-only stand-in (see the top). `alpn`: 'none' (the server takes no part in ALPN) or
// 'http/1.1' (it selects that). Same interface as startH2PushServer, without the HTTP/2 faults.
export async function startHttp1PushServer({ alpn = 'none', closeEvery = 0 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-h1-'));
  const tls = makeCertificate(dir);
  let counts;
  let st;
  const reset = () => {
    counts = new Map();
    st = { requests: 0, received: 0, duplicates: 0, malformed: 0, problems: [], connections: 0, protocols: {} };
  };
  reset();
  const options = { cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) };
  // Node's https selects http/1.1 by default; an empty list takes no part in ALPN.
  options.ALPNProtocols = alpn === 'http/1.1' ? ['http/1.1'] : [];
  const server = https.createServer(options, (req, res) => {
    const n = ++st.requests;
    const p = req.url;
    const close = closeEvery > 0 && n % closeEvery === 0;
    if (req.method !== 'POST' || !p.startsWith('/push/')) {
      res.writeHead(404).end();
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const bad = checkBody(body, req.headers['content-length']);
      if (bad) {
        st.malformed += 1;
        if (st.problems.length < 10) st.problems.push(`${p}: ${bad}`);
        res.writeHead(400).end();
        return;
      }
      const k = (counts.get(p) ?? 0) + 1;
      counts.set(p, k);
      st.received += 1;
      if (k > 1) {
        st.duplicates += 1;
        if (st.problems.length < 10) st.problems.push(`${p}: received ${k} times`);
      }
      res.writeHead(201, close ? { location: `/m/${n}`, connection: 'close' } : { location: `/m/${n}` });
      res.end();
    });
  });
  const sockets = new Set();
  server.on('secureConnection', (socket) => {
    st.connections += 1;
    const protocol = socket.alpnProtocol || 'none';
    st.protocols[protocol] = (st.protocols[protocol] ?? 0) + 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address();
  return {
    port,
    origin: `https://127.0.0.1:${port}`,
    caFile: tls.cert,
    count: (p) => counts.get(p) ?? 0,
    isAmbiguous: () => false,
    stats: () => ({ ...st, distinct: counts.size }),
    reset,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// The stalling proxy (see the top) in front of `target` ({ port } on 127.0.0.1). Resolves to
// { port, stats() { connections, stalled } , close() }.
export async function startStallingProxy(target, { stallAfterBytes }) {
  const st = { connections: 0, stalled: false };
  const sockets = new Set();
  const proxy = net.createServer((client) => {
    const first = st.connections === 0;
    st.connections += 1;
    const upstream = net.connect(target.port, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let forwarded = 0;
    client.on('data', (chunk) => {
      if (first && forwarded + chunk.length > stallAfterBytes) {
        if (!st.stalled && forwarded < stallAfterBytes) upstream.write(chunk.subarray(0, stallAfterBytes - forwarded));
        forwarded = stallAfterBytes;
        st.stalled = true;
        return;  // dropped: the connection is dead on the way to the server
      }
      forwarded += chunk.length;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', () => {});
    upstream.on('error', () => {});
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
  });
  proxy.listen(0, '127.0.0.1');
  await new Promise((resolve, reject) => {
    proxy.once('listening', resolve);
    proxy.once('error', reject);
  });
  return {
    port: proxy.address().port,
    stats: () => ({ ...st }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    },
  };
}
