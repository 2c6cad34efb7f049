// Shared by the Node tests (tests/app, tests/interop): running the flashwire binary and making
// browser-side subscriptions. The binary under test is $FLASHWIRE_BIN, or build/src/app/flashwire.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = process.env.FLASHWIRE_BIN || path.join(REPO_ROOT, 'build', 'src', 'app', 'flashwire');

// Runs the CLI. stdout stays a Buffer (bodies are binary); stderr is text.
// A command that rejects its arguments exits before reading stdin; writing the input then fails
// with EPIPE, which is not a test failure: the exit status and output still tell what happened.
export function flashwire(args, input) {
  const r = spawnSync(BIN, args, {
    input: input === undefined ? Buffer.alloc(0) : input,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 15000,
  });
  if (r.error && !(r.error.code === 'EPIPE' && r.status !== null)) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

// Runs the CLI and insists it succeeded quietly.
export function flashwireOk(args, input) {
  const r = flashwire(args, input);
  assert.equal(r.status, 0, `flashwire ${args.join(' ')} failed: ${r.stderr}`);
  assert.equal(r.stderr, '', 'a successful run should print nothing on stderr');
  return r.stdout;
}

// A command error: exit 1, nothing on stdout, one "flashwire: " line on stderr.
export function assertCommandError(r, pattern) {
  assert.equal(r.status, 1, `expected exit status 1, got ${r.status} (stderr: ${r.stderr})`);
  assert.equal(r.stdout.length, 0, 'stdout must be empty on error');
  assert.match(r.stderr, /^flashwire: [^\n]+\n$/, `stderr should be one "flashwire: " line, got ${JSON.stringify(r.stderr)}`);
  if (pattern) assert.match(r.stderr, pattern);
}

// A usage error reported by the argument parser: exit 1 like every refusal (docs/cli.md),
// nothing on stdout, one line naming the problem and the command's --help.
export function assertUsageError(r, pattern) {
  assert.equal(r.status, 1, `expected exit status 1, got ${r.status} (stderr: ${r.stderr})`);
  assert.equal(r.stdout.length, 0, 'stdout must be empty on a usage error');
  assert.match(r.stderr, /^flashwire: [^\n]+ \(see 'flashwire[a-z -]* --help'\)\n$/,
    `stderr should be one "flashwire: … (see '… --help')" line, got ${JSON.stringify(r.stderr)}`);
  if (pattern) assert.match(r.stderr, pattern);
}

export const b64u = (buf) => Buffer.from(buf).toString('base64url');
export const unb64u = (s) => Buffer.from(s, 'base64url');
export const nowSeconds = () => Math.floor(Date.now() / 1000);

// Left-pads a big-endian integer to a fixed width (Node may drop leading zeros).
export function fixedWidth(buf, len) {
  if (buf.length === len) return buf;
  assert.ok(buf.length < len);
  return Buffer.concat([Buffer.alloc(len - buf.length), buf]);
}

// A fresh browser-side subscription: P-256 key pair plus 16-byte auth secret.
export function newSubscriber() {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  return {
    ecdh,
    auth,
    p256dh: b64u(ecdh.getPublicKey()),
    authB64: b64u(auth),
    privateB64: b64u(fixedWidth(ecdh.getPrivateKey(), 32)),
  };
}
