// The live desk in a real browser (headless Chromium, loopback only), against `flashwire serve`
// with its demo content: an editor signs in to /newsroom, chooses the election live event,
// previews and posts an update, pins it, corrects it, deletes another and starts an alert for
// the pinned one (which stops at the confirm step); a reader's live page, open all along,
// follows every change over Server-Sent Events without a reload. The event also carries a video
// (Watch): the reader's page shows the native player, with the page's CSP allowing exactly the
// video's origin. Screenshots (desktop and phone) of the desk and of the reader's page go to
// $FLASHWIRE_E2E_ARTIFACTS.
//
// Run from the repository root:  node --test tests/e2e/live_desk.test.mjs
// Needs /usr/bin/chromium, node_modules (scripts/install-deps.sh) and a built flashwire.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { startServe } from '../support/flashwire_serve.mjs';
import {
  launchChromium, closeChromium, artifactsDir, pngInfo, makeTempDir, removeDir, withTimeout,
  pollUntil,
} from './support/chromium.mjs';

// Bounds: set-up 40 s, each test 60 s (three tests), teardown 40 s: 300 s at most, which ctest's
// e2e_live_desk allows; a normal run takes about 15 s.
const SETUP_TIMEOUT_MS = 40000;
const TEST_TIMEOUT_MS = 60000;
const STEP_TIMEOUT_MS = 15000;

const LIVE_SLUG = 'election-night-live-results';
const VIDEO_URL = 'https://video.flashwire.example/election/night.mp4';
const DESKTOP = { width: 1280, height: 900, deviceScaleFactor: 1 };
const PHONE = { width: 360, height: 740, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

let root;
let site;
let token;
let browser;
let shots;
let desk;    // the editor's tab on /newsroom
let reader;  // a reader's tab on the live page, open from the start
const problems = [];

async function api(method, pathname, body) {
  const response = await withTimeout(fetch(`${site.url}/api/newsroom/${pathname}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  }), STEP_TIMEOUT_MS, `${method} ${pathname}`);
  const json = await response.json();
  assert.ok(response.ok, `${method} ${pathname}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function newTab(viewport) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // The player's poster and the video are never fetched from the example origin (preload
    // none); anything else logged as an error is a problem.
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  await page.setViewport(viewport);
  return page;
}

// `target`: a page (its viewport) or an element handle (that element).
async function screenshot(t, target, name) {
  const file = path.join(shots, `${name}.png`);
  await target.screenshot({ path: file });
  const png = pngInfo(await fsp.readFile(file));
  assert.ok(png.bytes > 10 * 1024, `${name}.png is only ${png.bytes} bytes: a blank page?`);
  t.diagnostic(`screenshot ${file} (${png.width}×${png.height}, ${png.bytes} bytes)`);
}

// The desk's entry for the update whose text contains `text`.
function deskEntry(text) {
  return desk.waitForFunction((wanted) => [...document.querySelectorAll('[data-nr-live-updates] li')]
    .find((li) => li.textContent.includes(wanted)), {}, text);
}

async function deskButton(text, label) {
  const entry = await deskEntry(text);
  const button = await entry.$(`button[data-action="${label}"]`);
  assert.ok(button, `a ${label} button on "${text}"`);
  return button;
}

before(async () => {
  root = await makeTempDir('flashwire-e2e-live-desk-');
  site = await startServe(path.join(root, 'data'));
  token = /editor token[^:]*: (fw_[A-Za-z0-9_-]+)/.exec(site.output)?.[1];
  assert.ok(token, 'serve printed an editor token');
  // The event gets a video (Watch), with a demo drawing as its poster.
  const { articles } = await api('GET', 'articles');
  const event = articles.find((a) => a.slug === LIVE_SLUG);
  assert.ok(event, 'the demo live event');
  const fields = ['slug', 'headline', 'standfirst', 'byline', 'dateline', 'category', 'image_url',
    'image_alt', 'body_markdown'];
  const body = Object.fromEntries(fields.map((f) => [f, event[f]]));
  body.video_url = VIDEO_URL;
  if (!body.image_url) {
    body.image_url = '/assets/demo/election.svg';
    body.image_alt = 'A drawing of a counting hall';
  }
  await api('PUT', `articles/${event.id}`, body);
  browser = await launchChromium({ userDataDir: path.join(root, 'chromium-profile') });
  shots = await artifactsDir();
}, { timeout: SETUP_TIMEOUT_MS });

after(async () => {
  await closeChromium(browser);
  const code = site ? await site.stop() : 0;
  await removeDir(root);
  assert.equal(code, 0, 'flashwire serve should exit cleanly on SIGTERM');
}, { timeout: SETUP_TIMEOUT_MS });

describe('live desk', () => {
  test('the reader\'s live page has the video player, with media-src for its origin only', { timeout: TEST_TIMEOUT_MS }, async () => {
    reader = await newTab(DESKTOP);
    const response = await reader.goto(`${site.url}/live/${LIVE_SLUG}`, { waitUntil: 'load' });
    assert.equal(response.status(), 200);
    const csp = response.headers()['content-security-policy'];
    assert.match(csp, /; media-src 'self' https:\/\/video\.flashwire\.example$/);
    const home = await withTimeout(fetch(`${site.url}/`), STEP_TIMEOUT_MS, 'GET /');
    assert.doesNotMatch(home.headers.get('content-security-policy'), /media-src/, 'only that page');
    const video = await reader.$eval('[data-watch] video', (v) => ({
      controls: v.controls, preload: v.preload, poster: v.getAttribute('poster'),
      source: v.querySelector('source').getAttribute('src'), type: v.querySelector('source').type,
      networkState: v.networkState, width: v.getBoundingClientRect().width,
    }));
    assert.equal(video.controls, true);
    assert.equal(video.preload, 'none');
    assert.ok(video.poster, 'a poster');
    assert.equal(video.source, VIDEO_URL);
    assert.equal(video.type, 'video/mp4');
    assert.ok(video.width > 300, 'the player spans the column');
    // Above the updates.
    assert.ok(await reader.$eval('[data-watch]', (f) => Boolean(
      f.compareDocumentPosition(document.querySelector('[data-live-updates]')) & Node.DOCUMENT_POSITION_FOLLOWING)));
    // The live stream is connected before the desk starts.
    await reader.waitForFunction(() => /Live:/.test(document.querySelector('[data-live-status]').textContent));
  });

  test('an editor previews, posts, pins, corrects and deletes; the reader\'s page follows without a reload', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    desk = await newTab(DESKTOP);
    await desk.goto(`${site.url}/newsroom`, { waitUntil: 'load' });
    await desk.type('#nr-signin-token', token);
    await desk.click('[data-nr-signin-form] button[type="submit"]');
    await desk.waitForSelector('[data-nr-desk]:not([hidden])');
    await desk.waitForSelector(`#nr-live-event option[value="${LIVE_SLUG}"]`);
    await desk.select('#nr-live-event', LIVE_SLUG);
    await desk.waitForSelector('[data-nr-live-work]:not([hidden])');
    const marker = await reader.evaluate(() => {
      window.__notReloaded = true;
      return document.querySelectorAll('[data-live-updates] li').length;
    });

    // Preview with the server's renderer, then post.
    await desk.type('#nr-live-body-markdown', 'North district declares: turnout **64%** <b>raw</b>');
    await desk.click('[data-nr-live-preview-button]');
    await desk.waitForSelector('[data-nr-live-preview]:not([hidden]) strong');
    assert.equal(await desk.$eval('[data-nr-live-preview-body]', (b) => b.querySelector('b')), null,
      'raw HTML is dropped, as on readers\' pages');
    await desk.click('[data-nr-live-post]');
    await deskEntry('North district declares');
    await reader.waitForFunction(() => document.querySelector('[data-live-updates]').textContent.includes('North district declares'));

    await desk.type('#nr-live-body-markdown', 'A projection that was wrong.');
    await desk.click('[data-nr-live-post]');
    await deskEntry('A projection that was wrong');
    await reader.waitForFunction(() => document.querySelector('[data-live-updates]').textContent.includes('A projection'));
    assert.equal(await reader.evaluate(() => document.querySelectorAll('[data-live-updates] li').length), marker + 2);

    // Pin: the reader sees it in the Pinned block, first.
    await (await deskButton('North district declares', 'pin')).click();
    await desk.waitForSelector('[data-nr-live-pinned]:not([hidden])');
    await reader.waitForFunction(() => {
      const block = document.querySelector('[data-live-pinned]');
      return !block.hidden && block.textContent.includes('North district declares');
    });

    // Correct it: the new text, marked "Corrected", in the list and in the Pinned block.
    await (await deskButton('North district declares', 'edit')).click();
    const area = await desk.waitForSelector('[data-edit-form] textarea');
    await area.evaluate((a) => { a.value = ''; });
    await area.type('North district declares: turnout **66%**');
    await desk.click('[data-edit-form] button[type="submit"]');
    await deskEntry('turnout 66%');
    await reader.waitForFunction(() => {
      const pinned = document.querySelector('[data-live-pinned]').textContent;
      const list = document.querySelector('[data-live-updates]').textContent;
      return pinned.includes('66%') && pinned.includes('Corrected') && list.includes('66%') && !list.includes('64%');
    });

    // Delete the wrong one (two clicks).
    const remove = await deskButton('A projection that was wrong', 'delete');
    await remove.click();
    assert.equal(await remove.evaluate((b) => b.textContent), 'Confirm delete');
    await remove.click();
    await desk.waitForFunction(() => !document.querySelector('[data-nr-live-updates]').textContent.includes('A projection'));
    await reader.waitForFunction(() => !document.querySelector('[data-live-updates]').textContent.includes('A projection'));
    assert.equal(await reader.evaluate(() => window.__notReloaded), true, 'the reader never reloaded');

    await screenshot(t, await desk.$('[data-nr-live-panel]'), 'live-desk-desktop');
    await reader.evaluate(() => window.scrollTo(0, 0));
    await screenshot(t, reader, 'live-page-pinned-video-desktop');
  });

  test('"Alert readers" composes a live alert for the update and stops at the confirm step; phone layouts', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const pinnedId = await desk.$eval('[data-nr-live-updates] li[data-pinned]', (li) => li.dataset.updateId);
    await (await deskButton('turnout 66%', 'alert')).click();
    await desk.waitForSelector('[data-nr-confirm]:not([hidden])');
    const summary = await desk.$eval('[data-nr-confirm-summary]', (dl) => dl.textContent);
    assert.match(summary, new RegExp(`/live/${LIVE_SLUG}#update-${pinnedId}`));
    assert.match(summary, /Topic\s*live-\d+/);
    assert.match(summary, /turnout 66%/);
    const { alerts } = await api('GET', 'alerts');
    assert.equal(alerts[0].status, 'draft', 'composed, not sent: Confirm is still needed');
    assert.equal(alerts[0].category, 'live');
    await desk.click('[data-nr-confirm-cancel]');
    await desk.waitForFunction(() => document.querySelector('[data-nr-confirm]').hidden);
    await pollUntil(async () => (await api('GET', 'alerts')).alerts[0].status === 'cancelled',
      { timeoutMs: STEP_TIMEOUT_MS, what: 'the draft cancelled' });

    // A phone viewport reloads the page: the tab keeps its token and its chosen event.
    await desk.setViewport(PHONE);
    await desk.waitForSelector('[data-nr-live-work]:not([hidden])');
    await deskEntry('turnout 66%');
    await desk.waitForSelector('[data-nr-live-pinned]:not([hidden])');
    await desk.evaluate(() => document.querySelector('[data-nr-live-work]').scrollIntoView());
    await screenshot(t, desk, 'live-desk-phone');
    const phoneReader = await newTab(PHONE);
    await phoneReader.goto(`${site.url}/live/${LIVE_SLUG}`, { waitUntil: 'load' });
    assert.match(await phoneReader.$eval('[data-live-pinned]', (b) => b.textContent), /Pinned[\s\S]*66%/);
    await screenshot(t, phoneReader, 'live-page-pinned-video-phone');
    assert.deepEqual(problems, []);
  });
});
