// Support for the page tests in headless Chromium (tests/e2e/site_pages.test.mjs): Debian's
// /usr/bin/chromium driven by puppeteer-core over the DevTools protocol, on a fresh profile.
// puppeteer-core never downloads a browser; this file only ever starts CHROMIUM_PATH.
//
// Loopback only: besides the flags that stop Chromium's own background traffic (updates, sync,
// safe browsing, field trials), every request for a host other than 127.0.0.1 goes to a dead
// proxy on port 9 and host names do not resolve, so nothing can leave the machine even if a
// page links out. The bounded helpers (withTimeout, pollUntil, temp dirs) are the Firefox
// harness's, re-exported here.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import puppeteer from 'puppeteer-core';
import { withTimeout, pollUntil, makeTempDir, removeDir } from './firefox.mjs';

export { withTimeout, pollUntil, makeTempDir, removeDir };

export const CHROMIUM_PATH = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
// FLASHWIRE_E2E_DEBUG=1 shows Chromium's own output on stderr.
const DEBUG = Boolean(process.env.FLASHWIRE_E2E_DEBUG);

export const CHROMIUM_ARGS = [
  // As root in a container there is no user namespace for Chromium's sandbox.
  '--no-sandbox',
  '--disable-gpu',
  // No traffic of Chromium's own.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  // Nothing but loopback: other hosts go to a dead proxy and do not resolve.
  '--proxy-server=http://127.0.0.1:9',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

// Launches headless Chromium on userDataDir (a fresh, empty directory). Returns the puppeteer
// Browser; close it with closeChromium.
export async function launchChromium({ userDataDir, timeoutMs = 20000 } = {}) {
  if (!userDataDir) throw new Error('launchChromium needs a userDataDir');
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} not found: run scripts/install-deps.sh (Debian package chromium)`);
  }
  const launching = puppeteer.launch({
    browser: 'chrome',
    executablePath: CHROMIUM_PATH,
    headless: true,
    userDataDir,
    args: CHROMIUM_ARGS,
    timeout: timeoutMs,
    protocolTimeout: timeoutMs,
    dumpio: DEBUG,
  });
  return withTimeout(launching, timeoutMs + 2000, 'launching Chromium');
}

// Closes Chromium and waits for its process to exit; kills it when a clean close takes too
// long. Safe on null and on a browser that is already closed.
export async function closeChromium(browser, timeoutMs = 10000) {
  if (!browser) return;
  const proc = browser.process();
  const alive = () => proc && proc.exitCode === null && proc.signalCode === null;
  const gone = alive() ? new Promise((resolve) => proc.once('exit', resolve)) : Promise.resolve();
  try {
    await withTimeout(browser.close(), timeoutMs, 'closing Chromium');
  } catch {
    if (alive()) proc.kill('SIGKILL');
  }
  await withTimeout(gone, timeoutMs, 'waiting for the Chromium process to exit').catch(() => {
    if (alive()) proc.kill('SIGKILL');
  });
}

// ------------------------------------------------------------------ screenshots

// Where screenshots go: $FLASHWIRE_E2E_ARTIFACTS (created if missing), or a new directory under
// the system temp dir. Either way it is kept after the run, for a person to look at.
export async function artifactsDir() {
  const wanted = process.env.FLASHWIRE_E2E_ARTIFACTS;
  if (wanted) {
    await fsp.mkdir(wanted, { recursive: true });
    return path.resolve(wanted);
  }
  return fsp.mkdtemp(path.join(os.tmpdir(), 'flashwire-e2e-screenshots-'));
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// Reads a PNG's size from its header: the 8-byte signature, then the IHDR chunk (length 13,
// type "IHDR", width and height as big-endian 32-bit integers). Throws if it is not a PNG.
export function pngInfo(buffer) {
  if (buffer.length < 33 || !buffer.subarray(0, 8).equals(PNG_SIGNATURE)) {
    throw new Error('not a PNG: the signature is missing');
  }
  if (buffer.readUInt32BE(8) !== 13 || buffer.toString('latin1', 12, 16) !== 'IHDR') {
    throw new Error('not a PNG: the first chunk is not IHDR');
  }
  return { width: buffer.readUInt32BE(16), height: buffer.readUInt32BE(20), bytes: buffer.length };
}

// ------------------------------------------------------------------ colour contrast (WCAG 2)

// Parses a computed colour, "rgb(r, g, b)" or "rgba(r, g, b, a)", to [r, g, b, a].
export function parseColor(text) {
  const m = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)$/.exec(text);
  if (!m) throw new Error(`unexpected computed colour ${JSON.stringify(text)}`);
  let alpha = m[4] === undefined ? 1 : parseFloat(m[4]);
  if (m[4] && m[4].endsWith('%')) alpha /= 100;
  return [Number(m[1]), Number(m[2]), Number(m[3]), alpha];
}

// Paints `top` (with its alpha) over the opaque colour `bottom`.
export function composite(top, bottom) {
  const a = top[3];
  return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat(1);
}

function relativeLuminance([r, g, b]) {
  const channel = (v) => {
    const s = v / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

// WCAG 2 contrast ratio of two opaque colours, 1 to 21.
export function contrastRatio(a, b) {
  const [hi, lo] = [relativeLuminance(a), relativeLuminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
