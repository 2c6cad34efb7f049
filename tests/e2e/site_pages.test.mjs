// The reader site's pages in a real browser: headless Chromium (Debian's /usr/bin/chromium,
// driven by puppeteer-core) against `flashwire serve` on 127.0.0.1 with demo content. Covers
// the home page, an article with the notification opt-in card, the mobile "Open in app" sheet
// with and without [app] configured, an accessibility smoke test (labels, alt, lang,
// colour contrast in the light and the dark scheme), and the editors' newsroom at /newsroom
// (sign in with a real token, publish, compose, confirm; wrong and under-scoped tokens).
// Screenshots are written as PNG to
// $FLASHWIRE_E2E_ARTIFACTS (default: a new temp dir, printed in the test output), and each one is
// checked: a real PNG of the expected size, taken of a page whose key elements were found.
//
// Run from the repository root:  node --test tests/e2e/site_pages.test.mjs
// Needs /usr/bin/chromium and node_modules (scripts/install-deps.sh) and a built flashwire
// ($FLASHWIRE_BIN, or build/src/app/flashwire). Loopback only.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { startServe } from '../support/flashwire_serve.mjs';
import { flashwire, newSubscriber } from '../support/flashwire_cli.mjs';
import {
  launchChromium, closeChromium, artifactsDir, pngInfo, parseColor, composite, contrastRatio,
  makeTempDir, removeDir, withTimeout, pollUntil,
} from './support/chromium.mjs';

const TEST_TIMEOUT_MS = 60000;
const STEP_TIMEOUT_MS = 15000;
// After a page's load event site.js has run (it is a deferred script whose start-up is
// synchronous up to the point that matters here); this is a margin for checking that
// something stays hidden.

// One of the demo stories, in the "breaking" category.
const SLUG = 'harbour-bridge-closed-after-ship-strike';
const ARTICLE_PATH = `/articles/${SLUG}`;
const HEADLINE = 'Harbour bridge closed after cargo ship strikes support pier';
const BYLINE = 'By Mara Okafor';
// The demo headlines the home page leads its three sections with, and one more of each.
const DEMO_SECTIONS = [
  { id: 'breaking', title: 'Breaking news', headlines: [HEADLINE, 'Storm warning raised to red for the coast'] },
  { id: 'live', title: 'Live events', headlines: ['Election night: live results from all 42 districts', 'City marathon: live updates from the course'] },
  { id: 'exclusive', title: 'Exclusive reporting', headlines: ['Internal report shows waiting lists were understated for two years', 'Council awarded 14 contracts to one supplier without tender'] },
];

const APP = {
  name: 'Port Ellin Wire',
  scheme: 'portellin',
  ios_app_id: '123456789',
  ios_store_url: 'https://apps.apple.com/app/id123456789',
  android_package: 'net.portellin.app',
  android_store_url: 'https://play.google.com/store/apps/details?id=net.portellin.app',
};

const DESKTOP = { width: 1280, height: 900, deviceScaleFactor: 1 };
const IPHONE = {
  userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 ' +
    '(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  platform: 'iPhone',
  viewport: { width: 390, height: 844, deviceScaleFactor: 3, isMobile: true, hasTouch: true },
};
const ANDROID = {
  userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) ' +
    'Chrome/156.0.0.0 Mobile Safari/537.36',
  platform: 'Linux armv8l',
  metadata: {
    brands: [{ brand: 'Chromium', version: '156' }], fullVersion: '156.0.0.0',
    platform: 'Android', platformVersion: '14.0.0', architecture: '', model: 'Pixel 8', mobile: true,
  },
  viewport: { width: 412, height: 915, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
};

let root;          // temp dir: data dirs, config, Chromium profile
let appSite;       // flashwire serve with [app]
let plainSite;     // flashwire serve without [app]
let browser;
let shots;         // where screenshots go

// ------------------------------------------------------------------ set-up

function appConfigToml() {
  const lines = ['[app]'];
  for (const [key, value] of Object.entries(APP)) lines.push(`${key} = ${JSON.stringify(value)}`);
  return lines.join('\n') + '\n';
}

before(async () => {
  root = await makeTempDir('flashwire-e2e-site-');
  const config = path.join(root, 'app.toml');
  await fsp.writeFile(config, appConfigToml());
  appSite = await startServe(path.join(root, 'data-app'), ['--config', config]);
  plainSite = await startServe(path.join(root, 'data-plain'));
  browser = await launchChromium({ userDataDir: path.join(root, 'chromium-profile') });
  shots = await artifactsDir();
  console.log(`screenshots: ${shots}`);
}, { timeout: TEST_TIMEOUT_MS });

after(async () => {
  await closeChromium(browser);
  const exits = [];
  for (const site of [appSite, plainSite]) if (site) exits.push(await site.stop());
  await removeDir(root);
  for (const code of exits) assert.equal(code, 0, 'flashwire serve should exit cleanly on SIGTERM');
}, { timeout: TEST_TIMEOUT_MS });

// ------------------------------------------------------------------ page helpers

// Runs in every page before its own scripts: counts permission requests and push
// subscriptions, so a test can tell whether the page asked for either.
function instrumentPage() {
  const calls = { requestPermission: 0, subscribe: 0 };
  Object.defineProperty(window, '__e2eCalls', { value: calls });
  if (window.Notification) {
    const original = Notification.requestPermission;
    Notification.requestPermission = function requestPermission(...args) {
      calls.requestPermission += 1;
      return original.apply(this, args);
    };
  }
  if (window.PushManager) {
    const original = PushManager.prototype.subscribe;
    PushManager.prototype.subscribe = function subscribe(...args) {
      calls.subscribe += 1;
      return original.apply(this, args);
    };
  }
}

// Safari has no navigator.userAgentData. Chromium keeps its own (mobile: false) when only the
// user-agent string is overridden, which would make an emulated iPhone look like a desktop.
function looksLikeSafari() {
  delete Navigator.prototype.userAgentData;
}

// A new page in a fresh incognito-like context (own cookies, storage, permissions), set up as
// `device` ('desktop', 'iphone' or 'android'). Records page errors, console errors and every
// URL requested; the context is closed when the test ends.
async function openPage(t, device = 'desktop') {
  const context = await browser.createBrowserContext();
  t.after(() => withTimeout(context.close(), 5000, 'closing a browser context').catch(() => {}));
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  const problems = [];
  const requests = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('request', (r) => requests.push(r.url()));
  await page.evaluateOnNewDocument(instrumentPage);
  if (device === 'iphone') {
    await page.evaluateOnNewDocument(looksLikeSafari);
    await page.setUserAgent({ userAgent: IPHONE.userAgent, platform: IPHONE.platform });
    await page.setViewport(IPHONE.viewport);
  } else if (device === 'android') {
    await page.setUserAgent({ userAgent: ANDROID.userAgent, platform: ANDROID.platform, userAgentMetadata: ANDROID.metadata });
    await page.setViewport(ANDROID.viewport);
  } else {
    await page.setViewport(DESKTOP);
  }
  return { page, context, problems, requests };
}

async function visit(page, url) {
  const response = await page.goto(url, { waitUntil: 'load' });
  assert.equal(response.status(), 200, `GET ${url}`);
  return response;
}

// site.js marks <html data-site-ready> once every part of the page has made its first decision
// (the opt-in card and the app sheet shown or left hidden): after that, hidden means hidden.
const siteReady = (page) => page.waitForSelector('html[data-site-ready]');

// No script errors, no CSP violations (they are console errors), and nothing fetched from
// anywhere but the site itself.
function assertCleanPage({ problems, requests }, site) {
  assert.deepEqual(problems, [], 'the page should run without errors');
  const foreign = requests.filter((u) => !u.startsWith(site.url + '/') && !u.startsWith('data:'));
  assert.deepEqual(foreign, [], 'the page should load nothing from other origins');
}

// The rendered text of the first element matching selector ('' when there is none).
function textOf(page, selector) {
  return page.$eval(selector, (el) => el.innerText.trim()).catch(() => '');
}

// Whether the element is rendered and at least partly inside the viewport.
async function inViewport(page, handleOrSelector) {
  const handle = typeof handleOrSelector === 'string' ? await page.$(handleOrSelector) : handleOrSelector;
  if (!handle) return false;
  return handle.evaluate((el) => {
    if (!el.checkVisibility()) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 &&
      r.top < window.innerHeight && r.left < window.innerWidth;
  });
}

// Whether the element is rendered. A missing element fails the test: a renamed one must not
// pass a "stays hidden" check.
async function isVisible(page, selector) {
  const handle = await page.$(selector);
  assert.ok(handle, `no element matches ${selector}`);
  return handle.evaluate((el) => el.checkVisibility());
}

// Elements by role and accessible name, as the accessibility tree has them.
function byRole(page, role, name) {
  const quoted = (s) => JSON.stringify(s);
  return page.$$(name === undefined ? `::-p-aria([role=${quoted(role)}])` : `::-p-aria([name=${quoted(name)}][role=${quoted(role)}])`);
}

// Waits for every finite CSS animation (the app sheet slides in) to finish.
function animationsDone(page) {
  return page.evaluate(() => Promise.all(document.getAnimations()
    .filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity)
    .map((a) => a.finished)));
}

// Saves a screenshot as <name>.png and checks it: PNG signature, IHDR size equal to the
// viewport (or the whole page) times the device pixel ratio, more than 10 kB.
async function screenshot(t, page, name, { fullPage = false } = {}) {
  const file = path.join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage, captureBeyondViewport: fullPage });
  const png = pngInfo(await fsp.readFile(file));
  const vp = page.viewport();
  const dpr = vp.deviceScaleFactor || 1;
  const cssHeight = fullPage
    ? await page.evaluate(() => document.documentElement.scrollHeight)
    : vp.height;
  assert.equal(png.width, vp.width * dpr, `${name}.png width`);
  assert.ok(Math.abs(png.height - cssHeight * dpr) <= dpr, `${name}.png height ${png.height}, expected ${cssHeight * dpr}`);
  assert.ok(png.bytes > 10 * 1024, `${name}.png is only ${png.bytes} bytes: a blank page?`);
  t.diagnostic(`screenshot ${file} (${png.width}×${png.height}, ${png.bytes} bytes)`);
  return file;
}

// Text contrast (WCAG 2) of the first element matching each selector against the background
// it is painted on: its nearest opaque ancestor background with any translucent ones nearer the
// element painted over it. Returns a description of each element below 4.5:1 (none: []).
async function lowContrast(page, selectors, where) {
  const failures = [];
  for (const selector of selectors) {
    const sample = await page.$eval(selector, (el) => {
      const backgrounds = [];
      for (let n = el; n; n = n.parentElement) backgrounds.push(getComputedStyle(n).backgroundColor);
      return { color: getComputedStyle(el).color, backgrounds, text: el.innerText.trim().slice(0, 40) };
    }).catch(() => null);
    assert.ok(sample, `${where}: ${selector} not found`);
    assert.ok(sample.text, `${where}: ${selector} has no text`);
    const layers = sample.backgrounds.map(parseColor);
    const base = layers.findIndex((c) => c[3] === 1);
    assert.ok(base >= 0, `${where}: ${selector} has no opaque background behind it`);
    let bg = layers[base];
    for (let i = base - 1; i >= 0; i--) bg = composite(layers[i], bg);
    const fg = composite(parseColor(sample.color), bg);
    const ratio = contrastRatio(fg, bg);
    if (ratio < 4.5) {
      failures.push(`${where} ${selector} "${sample.text}": ${sample.color} on rgb(${bg.slice(0, 3)}) = ${ratio.toFixed(2)}:1`);
    }
  }
  return failures;
}

// The apple-itunes-app meta tag's content as {key: value}, or null without the tag.
async function smartBanner(page) {
  const content = await page.$eval('meta[name="apple-itunes-app"]', (m) => m.content).catch(() => null);
  if (content === null) return null;
  return Object.fromEntries(content.split(',').map((part) => {
    const at = part.indexOf('=');
    return [part.slice(0, at).trim(), part.slice(at + 1).trim()];
  }));
}

// ------------------------------------------------------------------ tests

describe('reader pages in headless Chromium', () => {
  test('home page on a desktop: landmarks, skip link, three sections of demo stories',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const session = await openPage(t);
      const { page } = session;
      await visit(page, appSite.url + '/');

      assert.equal(await page.title(), 'Flashwire News — Latest news');
      for (const role of ['banner', 'navigation', 'main', 'contentinfo']) {
        assert.equal((await byRole(page, role)).length, 1, `one ${role} landmark`);
      }
      assert.equal(await page.$eval('header', (el) => el.closest('main, article, aside, section, nav') === null), true,
        'the masthead <header> is the page banner');
      assert.ok(await inViewport(page, 'header.masthead'), 'masthead visible');
      assert.ok(await inViewport(page, 'nav'), 'navigation visible');
      assert.equal(await page.$eval('nav', (el) => el.getAttribute('aria-label')), 'Sections');

      // The skip link is the first thing Tab reaches, and it is shown when focused.
      const skip = await page.$eval('body a', (a) => ({ cls: a.className, href: a.getAttribute('href'), text: a.innerText.trim() }));
      assert.deepEqual(skip, { cls: 'skip-link', href: '#main', text: 'Skip to main content' });
      assert.equal(await page.$eval('#main', (el) => el.tagName), 'MAIN');
      assert.equal(await inViewport(page, '.skip-link'), false, 'the skip link is off-screen until focused');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement.className), 'skip-link');
      assert.ok(await inViewport(page, '.skip-link'), 'the focused skip link is on screen');
      await page.keyboard.press('Enter');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'main', 'Enter moves focus to main');
      await page.evaluate(() => { document.activeElement.blur(); window.scrollTo(0, 0); });

      // Sections in order, each with its heading and its demo stories linking to articles.
      const sections = await page.$$eval('main section', (els) => els.map((s) => ({
        id: s.id,
        title: s.querySelector('h2').innerText.trim(),
        labelledBy: s.getAttribute('aria-labelledby'),
        stories: Array.from(s.querySelectorAll('.story-headline a'), (a) => ({ text: a.innerText.trim(), href: a.getAttribute('href') })),
      })));
      assert.deepEqual(sections.map((s) => s.id), DEMO_SECTIONS.map((s) => s.id));
      for (const [i, expected] of DEMO_SECTIONS.entries()) {
        const s = sections[i];
        assert.equal(s.title.toLowerCase(), expected.title.toLowerCase(), `section ${s.id} heading`);
        assert.equal(s.labelledBy, `${expected.id}-title`);
        for (const headline of expected.headlines) {
          const story = s.stories.find((x) => x.text === headline);
          assert.ok(story, `section ${s.id} lists "${headline}"; found ${JSON.stringify(s.stories)}`);
          assert.match(story.href, /^\/(articles|live)\/[a-z0-9-]+$/); // live events: their live page
        }
      }
      // Named regions (Chromium's names follow the CSS upper-casing of the headings).
      for (const expected of DEMO_SECTIONS) {
        const node = await page.accessibility.snapshot({ root: await page.$(`#${expected.id}`) });
        assert.equal(node && node.role, 'region', `section ${expected.id} is a region`);
        assert.equal(node.name.toLowerCase(), expected.title.toLowerCase());
      }
      assert.ok(await inViewport(page, '#breaking .story-lead .story-headline a'), 'the lead story is above the fold');

      const prefs = await page.$$eval('a[href="/preferences"]', (as) => as.map((a) => a.innerText.trim()));
      assert.ok(prefs.includes('Notifications'), `the navigation links to /preferences: ${prefs}`);
      assert.ok(prefs.includes('Notification settings'), `the footer links to /preferences: ${prefs}`);
      assert.ok(await inViewport(page, 'nav a[href="/preferences"]'));

      await screenshot(t, page, 'home-desktop');
      assertCleanPage(session, appSite);
    });

  test('article page: headline, byline and the opt-in card; "Not now" hides it for good, no prompt',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const session = await openPage(t);
      const { page } = session;
      await visit(page, appSite.url + ARTICLE_PATH);

      assert.equal(await textOf(page, 'main h1'), HEADLINE);
      assert.equal((await page.$$('h1')).length, 1, 'one h1');
      assert.equal(await textOf(page, '.byline'), BYLINE);
      assert.ok(await page.$('.story-body p'), 'the body has paragraphs');

      // The card: shown by site.js, with its exact wording.
      await page.waitForSelector('[data-optin]', { visible: true });
      const [card] = await byRole(page, 'complementary', 'Be the first to know');
      assert.ok(card, 'the card is a complementary region named by its heading');
      assert.equal(await textOf(page, '[data-optin] h2'), 'Be the first to know');
      assert.equal(await textOf(page, '[data-optin] .optin-text'),
        'Get browser notifications for breaking news, live events, and exclusive reporting.');

      const boxes = await page.$$eval('[data-optin] input', (inputs) => inputs.map((i) => ({
        type: i.type, value: i.value, checked: i.checked,
        label: i.labels.length === 1 ? i.labels[0].innerText.trim() : null,
      })));
      assert.deepEqual(boxes, [
        { type: 'checkbox', value: 'breaking', checked: true, label: 'Breaking news' },
        { type: 'checkbox', value: 'live', checked: true, label: 'Live events' },
        { type: 'checkbox', value: 'exclusive', checked: true, label: 'Exclusive reporting' },
      ]);
      for (const name of ['Breaking news', 'Live events', 'Exclusive reporting']) {
        const [box] = await byRole(page, 'checkbox', name);
        assert.ok(box, `a checkbox named "${name}" in the accessibility tree`);
        assert.equal((await page.accessibility.snapshot({ root: box })).checked, true);
      }
      const [enable] = await byRole(page, 'button', 'Turn on notifications');
      const [later] = await byRole(page, 'button', 'Not now');
      assert.ok(enable && later, 'both buttons are there');
      assert.equal(await enable.evaluate((b) => b.disabled), false);

      // Nothing asked for before a click.
      const asked = () => page.evaluate(() => ({ permission: Notification.permission, ...window.__e2eCalls }));
      assert.deepEqual(await asked(), { permission: 'default', requestPermission: 0, subscribe: 0 });

      await card.scrollIntoView();
      await screenshot(t, page, 'article-optin-desktop', { fullPage: true });

      // "Not now": hidden at once, remembered in localStorage (3 days the first time)...
      const clickedAt = Date.now();
      await later.click();
      assert.equal(await isVisible(page, '[data-optin]'), false, 'the card hides on "Not now"');
      const snooze = JSON.parse(await page.evaluate(() => localStorage.getItem('flashwire.optin.snooze')));
      assert.equal(snooze.count, 1);
      const days = (snooze.until - clickedAt) / 86400000;
      assert.ok(days > 2.99 && days < 3.01, `first back-off should be 3 days, is ${days}`);
      assert.deepEqual(await asked(), { permission: 'default', requestPermission: 0, subscribe: 0 },
        '"Not now" asks for nothing');

      // ...and still hidden after a reload, still without a prompt.
      await page.reload({ waitUntil: 'load' });
      await siteReady(page);
      assert.equal(await textOf(page, 'main h1'), HEADLINE);
      assert.equal(await isVisible(page, '[data-optin]'), false, 'the card stays hidden after a reload');
      assert.deepEqual(await asked(), { permission: 'default', requestPermission: 0, subscribe: 0 });
      assertCleanPage(session, appSite);

      // Control: the instrumentation does see a request. In a fresh context "Turn on
      // notifications" asks for permission once (headless Chromium answers "denied" itself,
      // so nothing is subscribed) and the card explains the refusal.
      const other = await openPage(t);
      await visit(other.page, appSite.url + ARTICLE_PATH);
      await other.page.waitForSelector('[data-optin]', { visible: true });
      await other.page.click('[data-optin-enable]');
      await other.page.waitForFunction(() => window.__e2eCalls.requestPermission === 1);
      await other.page.waitForFunction(() => document.querySelector('[data-status]').innerText.trim() !== '' &&
        !/Waiting/.test(document.querySelector('[data-status]').innerText));
      const control = await other.page.evaluate(() => ({
        permission: Notification.permission, ...window.__e2eCalls,
        status: document.querySelector('[data-status]').innerText.trim(),
      }));
      assert.equal(control.subscribe, 0);
      assert.equal(control.permission, 'denied', 'headless Chromium refuses the prompt itself');
      assert.equal(control.status, 'Notifications are blocked for this site in your browser’s settings. ' +
        'To get alerts, allow notifications for this site there, then reload this page.');
    });

  test('opt-in card: a push service that never answers ends in a clear message and a retry, not a hang',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const session = await openPage(t);
      const { page, context } = session;
      await context.overridePermissions(appSite.url, ['notifications']);
      // As in a browser whose push service cannot be reached: subscribe() never settles.
      await page.evaluateOnNewDocument(() => {
        PushManager.prototype.subscribe = function subscribe() {
          window.__e2eCalls.subscribe += 1;
          return new Promise(() => {});
        };
      });
      await visit(page, appSite.url + ARTICLE_PATH);
      await page.waitForSelector('[data-optin]', { visible: true });
      const status = () => textOf(page, '[data-optin] [data-status]');

      await page.click('[data-optin-enable]');
      await page.waitForFunction(() => window.__e2eCalls.subscribe === 1);
      assert.equal(await status(), 'Turning on notifications…');
      const startedAt = Date.now();
      const timedOut = 'Your browser’s notification service didn’t answer within 10 seconds, so ' +
        'notifications aren’t on yet. Check your connection and try again.';
      await page.waitForFunction((text) => document.querySelector('[data-optin] [data-status]').innerText.trim() === text,
        { timeout: 25000 }, timedOut);
      const waited = Date.now() - startedAt;
      assert.ok(waited >= 8000 && waited < 20000, `gave up after ${waited} ms, about 10 s`);
      assert.equal(await page.$eval('[data-optin] [data-status]', (el) => el.classList.contains('status-error')), true);
      const [retry] = await byRole(page, 'button', 'Try again');
      assert.ok(retry, 'a "Try again" button');
      assert.equal(await retry.evaluate((b) => b.disabled), false);
      assert.equal(await isVisible(page, '[data-optin-enable]'), true);
      await screenshot(t, page, 'article-optin-timed-out');

      await retry.click();
      await page.waitForFunction(() => window.__e2eCalls.subscribe === 2);
      assert.equal(await status(), 'Turning on notifications…', 'the retry tries again');
      assert.equal(await retry.evaluate((b) => b.disabled), true, 'one attempt at a time');
      assertCleanPage(session, appSite);
    });

  test('iPhone: Smart App Banner meta and the "Open in Port Ellin Wire" sheet; "Continue in browser" sticks',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const session = await openPage(t, 'iphone');
      const { page } = session;
      await visit(page, appSite.url + ARTICLE_PATH);
      const deepLink = `${APP.scheme}://article/${SLUG}`;

      assert.deepEqual(await smartBanner(page), { 'app-id': APP.ios_app_id, 'app-argument': deepLink });

      await page.waitForSelector('[data-app-sheet]', { visible: true });
      await animationsDone(page);
      const [sheet] = await byRole(page, 'complementary', `Read this story in the ${APP.name} app`);
      assert.ok(sheet, 'the sheet is a complementary region named by its title');
      const [open] = await byRole(page, 'link', `Open in ${APP.name}`);
      assert.ok(open, `a link "Open in ${APP.name}"`);
      assert.equal(await open.evaluate((a) => a.getAttribute('href')), deepLink);
      const [keep] = await byRole(page, 'button', 'Continue in browser');
      assert.ok(keep, 'a "Continue in browser" button');
      for (const el of [sheet, open, keep]) assert.ok(await inViewport(page, el), 'sheet parts are on screen');
      // It is a bottom sheet: flush with the bottom of the viewport, full width.
      const box = await sheet.boundingBox();
      assert.ok(Math.abs(box.y + box.height - IPHONE.viewport.height) <= 1, `sheet bottom at ${box.y + box.height}`);
      assert.equal(Math.round(box.width), IPHONE.viewport.width);
      assert.equal(await page.$eval('body', (b) => b.classList.contains('has-app-sheet')), true);
      assert.equal(await textOf(page, 'main h1'), HEADLINE);
      assert.ok(await inViewport(page, 'main h1'), 'the headline is on screen above the sheet');

      await screenshot(t, page, 'article-app-sheet-iphone');
      const sheetText = ['.app-sheet-title', '[data-app-open]', '[data-app-continue]'];
      assert.deepEqual(await lowContrast(page, sheetText, 'light sheet'), []);
      await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
      assert.deepEqual(await lowContrast(page, sheetText, 'dark sheet'), []);
      await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);

      await keep.click();
      assert.equal(await isVisible(page, '[data-app-sheet]'), false, 'the sheet hides');
      assert.equal(await page.$eval('body', (b) => b.classList.contains('has-app-sheet')), false);
      const cookie = (await session.context.cookies()).find((c) => c.name === 'fw_app_sheet');
      assert.ok(cookie, 'the fw_app_sheet cookie is set');
      assert.equal(cookie.value, 'dismissed');
      assert.equal(cookie.path, '/');
      const days = (cookie.expires * 1000 - Date.now()) / 86400000;
      assert.ok(days > 364 && days < 366, `remembered for a year, not ${days} days`);

      await page.reload({ waitUntil: 'load' });
      await siteReady(page);
      assert.equal(await smartBanner(page) !== null, true, 'the meta tag stays (Safari shows its own banner)');
      assert.equal(await isVisible(page, '[data-app-sheet]'), false, 'no sheet after a reload');
      await visit(page, appSite.url + '/articles/storm-warning-raised-to-red');
      await siteReady(page);
      assert.equal(await isVisible(page, '[data-app-sheet]'), false, 'nor on another article');
      assertCleanPage(session, appSite);
    });

  test('Android: the sheet opens the app through an intent: URL that falls back to the Play Store',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const session = await openPage(t, 'android');
      const { page } = session;
      await visit(page, appSite.url + ARTICLE_PATH);
      await page.waitForSelector('[data-app-sheet]', { visible: true });
      const [open] = await byRole(page, 'link', `Open in ${APP.name}`);
      assert.ok(open);
      assert.equal(await open.evaluate((a) => a.getAttribute('href')),
        `intent://article/${SLUG}#Intent;scheme=${APP.scheme};package=${APP.android_package};` +
        `S.browser_fallback_url=${encodeURIComponent(APP.android_store_url)};end`);
      assertCleanPage(session, appSite);
    });

  test('desktop: the app sheet never appears, though the page carries it',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const session = await openPage(t);
      const { page } = session;
      await visit(page, appSite.url + ARTICLE_PATH);
      await page.waitForSelector('[data-optin]', { visible: true }); // site.js has started
      await siteReady(page);
      assert.ok(await page.$('[data-app-sheet]'), 'the sheet is in the markup');
      assert.equal(await isVisible(page, '[data-app-sheet]'), false);
      assert.equal((await byRole(page, 'link', `Open in ${APP.name}`)).length, 0);
      assert.equal(await page.$eval('body', (b) => b.classList.contains('has-app-sheet')), false);
      assertCleanPage(session, appSite);
    });

  test('without [app]: no Smart App Banner meta and no sheet, even on an iPhone',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const session = await openPage(t, 'iphone');
      const { page } = session;
      for (const pathname of ['/', ARTICLE_PATH]) {
        await visit(page, plainSite.url + pathname);
        await siteReady(page);
        assert.equal(await smartBanner(page), null, `no apple-itunes-app meta on ${pathname}`);
        assert.equal(await page.$('[data-app-sheet]'), null, `no sheet markup on ${pathname}`);
        assert.equal((await byRole(page, 'link', `Open in ${APP.name}`)).length, 0);
        assert.doesNotMatch(await page.content(), /portellin|Open in /);
      }
      assert.equal(await textOf(page, 'main h1'), HEADLINE);
      assert.ok(await inViewport(page, 'main h1'));
      assert.equal(await page.$eval('body', (b) => b.classList.contains('has-app-sheet')), false);
      await screenshot(t, page, 'article-no-app-iphone');
      assertCleanPage(session, plainSite);
    });

  test('accessibility smoke: labels, alt text, lang, and text contrast ≥ 4.5:1 in light and dark',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const session = await openPage(t);
      const { page } = session;
      // Elements whose text contrast is measured, per page; each must exist.
      const pages = [
        { path: '/', contrast: ['.brand', '.site-nav a', '#breaking .section-title', '#live .section-title',
          '#exclusive .section-title', '.story-lead .story-headline a', '.story-standfirst', '.story-meta time',
          '.footer-note', '.footer-links a'] },
        { path: ARTICLE_PATH, contrast: ['.kicker a', 'h1.headline', '.standfirst', '.byline', '.story-body p',
          '.optin-title', '.optin-text', '.choice label', '.button-primary', '.button-secondary'] },
        { path: '/preferences', contrast: ['h1.page-title', '.lede', '.prefs-state', '.choices legend', '.choice label',
          '.button-primary'] },
      ];
      const failures = [];
      let measured = 0;
      for (const { path: pathname, contrast } of pages) {
        await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
        await visit(page, appSite.url + pathname);
        await siteReady(page);

        assert.equal(await page.$eval('html', (h) => h.lang), 'en', `lang on ${pathname}`);

        // Every form control has a name: from the DOM (label, aria-label(ledby), button text)
        // for all of them, and from the accessibility tree for those on screen.
        const controls = await page.$$('input, select, textarea, button');
        for (const control of controls) {
          const dom = await control.evaluate((el) => {
            const fromLabels = el.labels ? Array.from(el.labels, (l) => l.innerText.trim()).join(' ') : '';
            const fromAria = el.getAttribute('aria-label') ||
              (el.getAttribute('aria-labelledby') || '').split(/\s+/).map((id) => document.getElementById(id)?.textContent.trim() || '').join(' ');
            const fromText = el.tagName === 'BUTTON' ? el.textContent.trim() : '';
            return { what: el.outerHTML.slice(0, 80), name: (fromLabels || fromAria || fromText).trim(), shown: el.checkVisibility() };
          });
          assert.ok(dom.name, `${pathname}: ${dom.what} has no label`);
          if (dom.shown) {
            const node = await page.accessibility.snapshot({ root: control, interestingOnly: false });
            assert.ok(node && node.name, `${pathname}: ${dom.what} has no accessible name`);
          }
        }
        if (pathname !== '/') assert.ok(controls.length >= 4, `${pathname} has its form`);

        const images = await page.$$eval('img', (imgs) => imgs.map((i) => ({ src: i.getAttribute('src'), alt: i.getAttribute('alt') })));
        for (const img of images) assert.ok(img.alt !== null, `${pathname}: <img src=${img.src}> has no alt`);
        const links = await page.$$eval('a[href]', (as) => as.map((a) => (a.getAttribute('aria-label') || a.innerText).trim()));
        assert.ok(links.every((name) => name.length > 0), `${pathname}: every link has text`);

        for (const scheme of ['light', 'dark']) {
          await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: scheme }]);
          failures.push(...await lowContrast(page, contrast, `${scheme} ${pathname}`));
          measured += contrast.length;
          if (pathname === '/' && scheme === 'dark') await screenshot(t, page, 'home-desktop-dark');
        }
      }
      assert.deepEqual(failures, [], 'text contrast below 4.5:1');
      t.diagnostic(`contrast measured on ${measured} element/scheme pairs, all ≥ 4.5:1`);
      assertCleanPage(session, appSite);
    });
});

// ------------------------------------------------------------------ live events

describe('live event page in headless Chromium', () => {
  // A demo live event on the site without [app]; its first start printed an editor token.
  const LIVE_SLUG = 'marathon-live-updates';

  test('an update posted through the newsroom API appears at the top without a reload',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const token = /editor token[^:]*: (fw_[A-Za-z0-9_-]+)/.exec(plainSite.output)?.[1];
      assert.ok(token, 'flashwire serve printed an editor token on its first start');
      const session = await openPage(t);
      const { page } = session;
      await visit(page, `${plainSite.url}/live/${LIVE_SLUG}`);
      // site.js says so once the event stream is open.
      await page.waitForFunction(
        () => document.querySelector('[data-live-status]').textContent.startsWith('Live:'));
      await page.evaluate(() => { window.__e2eSamePage = true; });
      const before = await page.$$eval('[data-update-id]', (items) => items.length);

      const response = await withTimeout(fetch(`${plainSite.url}/api/newsroom/live/${LIVE_SLUG}/updates`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ body_markdown: 'Leaders pass **the 30 km mark**.' }),
      }), STEP_TIMEOUT_MS, 'posting a live update');
      assert.equal(response.status, 201, await response.clone().text());
      const { id } = await response.json();
      assert.ok(Number.isSafeInteger(id) && id > 0, `update id ${id}`);

      await page.waitForSelector(`#update-${id}`);
      assert.equal(await page.evaluate(() => window.__e2eSamePage), true, 'the page was not reloaded');
      const first = await page.$eval('[data-live-updates] > li', (li) => ({
        id: li.dataset.updateId, text: li.innerText, strong: li.querySelector('strong')?.textContent,
        time: li.querySelector('time')?.getAttribute('datetime'),
      }));
      assert.equal(first.id, String(id), 'the new update is at the top');
      assert.match(first.text, /Leaders pass the 30 km mark\./);
      assert.equal(first.strong, 'the 30 km mark', 'the Markdown is rendered');
      assert.match(first.time ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(await page.$$eval('[data-update-id]', (items) => items.length), before + 1);
      assert.match(await textOf(page, '[data-live-status]'), /^New update at /,
        'the status (role=status, aria-live=polite) announces it');
      assert.equal(await page.$eval('[data-live-status]', (el) => el.getAttribute('aria-live')), 'polite');
      await screenshot(t, page, 'live-desktop');

      // Reloaded, the page renders the update itself, and the stream (opened after it) does not
      // add it again.
      await visit(page, `${plainSite.url}/live/${LIVE_SLUG}`);
      await page.waitForFunction(
        () => document.querySelector('[data-live-status]').textContent.startsWith('Live:'));
      // A later update, as a marker: the stream is ordered, so had it sent the first one again,
      // that would have arrived before this one.
      const marker = await withTimeout(fetch(`${plainSite.url}/api/newsroom/live/${LIVE_SLUG}/updates`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ body_markdown: 'Leaders reach **the 35 km mark**.' }),
      }), STEP_TIMEOUT_MS, 'posting a second live update');
      assert.equal(marker.status, 201, await marker.clone().text());
      const markerId = (await marker.json()).id;
      await page.waitForSelector(`#update-${markerId}`);
      assert.equal(await page.$$eval(`[data-update-id="${id}"]`, (items) => items.length), 1);
      assert.deepEqual(await page.$$eval('[data-live-updates] > li', (items) => items.slice(0, 2).map((li) => li.dataset.updateId)),
        [String(markerId), String(id)], 'newest first: the marker, then the update');
      assertCleanPage(session, plainSite);
    });
});

// ------------------------------------------------------------------ the newsroom

describe('the newsroom in headless Chromium', () => {
  // Its own site: a subscriber whose endpoint is a dead port on loopback (allowed through
  // push_hosts), so the audience is not zero and a fan-out, if one runs, stays on 127.0.0.1.
  const DEAD_PUSH_ORIGIN = 'http://127.0.0.1:9';
  const STORY = {
    headline: 'Ferry service resumes across the bay after storm',
    slug: 'ferry-service-resumes-across-the-bay-after-storm',
    standfirst: 'The first crossing since Tuesday left the north pier at 07:15 with 212 passengers.',
    byline: 'By Ines Duarte',
    dateline: 'PORT ELLIN',
    body: 'The harbour master **lifted the weather restriction** at dawn.\n\n- Timetable as normal from noon\n',
  };
  // Chromium reports every non-2xx fetch as a console error; these are the ones a test asks for.
  const EXPECTED_HTTP_ERRORS = /Failed to load resource: the server responded with a status of (400|401|403)/;

  let site;          // flashwire serve for these tests
  let editorToken;   // every scope: printed on first start
  let alertsToken;   // alerts:send only, from `flashwire token create`

  before(async () => {
    const config = path.join(root, 'newsroom.toml');
    await fsp.writeFile(config, `push_hosts = [${JSON.stringify(DEAD_PUSH_ORIGIN)}]\n`);
    const dataDir = path.join(root, 'data-newsroom');
    site = await startServe(dataDir, ['--config', config]);
    assert.ok(site.output.includes(`  newsroom: ${site.url}/newsroom\n`), `serve names the newsroom:\n${site.output}`);
    editorToken = /editor token[^:]*: (fw_[A-Za-z0-9_-]{43})\n/.exec(site.output)?.[1];
    assert.ok(editorToken, `flashwire serve printed an editor token on its first start:\n${site.output}`);
    const created = flashwire(['token', 'create', '--data', dataDir, '--name', 'desk-alerts', '--scope', 'alerts:send']);
    assert.equal(created.status, 0, created.stderr);
    alertsToken = created.stdout.toString().trim();

    const reader = newSubscriber();
    const subscribed = await withTimeout(fetch(`${site.url}/api/subscriptions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: site.url },
      body: JSON.stringify({
        subscription: {
          endpoint: `${DEAD_PUSH_ORIGIN}/push/e2e-newsroom-reader`,
          expirationTime: null,
          keys: { p256dh: reader.p256dh, auth: reader.authB64 },
        },
        categories: ['breaking'],
      }),
    }), STEP_TIMEOUT_MS, 'subscribing a reader');
    assert.equal(subscribed.status, 201, await subscribed.text());
  }, { timeout: TEST_TIMEOUT_MS });

  after(async () => {
    if (site) assert.equal(await site.stop(), 0, 'flashwire serve should exit cleanly on SIGTERM');
  }, { timeout: TEST_TIMEOUT_MS });

  function assertCleanNewsroom(session) {
    assertCleanPage({ ...session, problems: session.problems.filter((p) => !EXPECTED_HTTP_ERRORS.test(p)) }, site);
  }

  // Every newsroom API request the page makes, with its Authorization header.
  function recordApiCalls(page) {
    const calls = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname.startsWith('/api/newsroom/')) {
        calls.push({ method: r.method(), path: url.pathname, authorization: r.headers().authorization, at: Date.now() });
      }
    });
    return calls;
  }

  const activeId = (page) => page.evaluate(() => document.activeElement && document.activeElement.id);
  const activeMatches = (page, selector) => page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector);

  async function fillField(page, selector, text) {
    await page.$eval(selector, (el) => { el.value = ''; });
    await page.type(selector, text);
  }

  // The <li> of the list `listSelector` whose heading reads `title`.
  async function itemTitled(page, listSelector, title) {
    const handle = await page.waitForFunction((list, wanted) => Array.from(document.querySelectorAll(`${list} > li`))
      .find((li) => li.querySelector('.nr-item-title')?.textContent === wanted), {}, listSelector, title);
    return handle.asElement();
  }

  async function newsroomApi(pathname) {
    const response = await withTimeout(fetch(`${site.url}/api/newsroom/${pathname}`, {
      headers: { Authorization: `Bearer ${editorToken}` },
    }), STEP_TIMEOUT_MS, `GET /api/newsroom/${pathname}`);
    assert.equal(response.status, 200, `GET /api/newsroom/${pathname}`);
    return response.json();
  }

  async function signIn(page, token) {
    await page.waitForSelector('[data-nr-signin]', { visible: true });
    await fillField(page, '#nr-signin-token', token);
    await page.keyboard.press('Enter');
  }

  test('sign in, write and publish an article, compose an alert, see its audience, confirm it',
    { timeout: TEST_TIMEOUT_MS * 2 }, async (t) => {
      const session = await openPage(t);
      const { page } = session;
      const calls = recordApiCalls(page);
      const response = await visit(page, `${site.url}/newsroom`);
      assert.match(response.headers()['content-security-policy'], /script-src 'self'/);
      assert.equal(await page.title(), 'Newsroom — Flashwire News');
      assert.equal(await page.$eval('meta[name="robots"]', (m) => m.content), 'noindex, nofollow');
      for (const role of ['banner', 'main', 'contentinfo']) {
        assert.equal((await byRole(page, role)).length, 1, `one ${role} landmark`);
      }
      assert.equal(await textOf(page, 'main h1'), 'Newsroom');

      // Signed out: only the sign-in form, with a labelled password field.
      await page.waitForSelector('[data-nr-signin]', { visible: true });
      assert.equal(await isVisible(page, '[data-nr-desk]'), false);
      const tokenField = await page.$eval('#nr-signin-token', (i) => ({
        type: i.type, label: i.labels[0].innerText.trim(), required: i.required, autocomplete: i.autocomplete,
      }));
      assert.deepEqual(tokenField, { type: 'password', label: 'Editor token (required)', required: true, autocomplete: 'off' });
      assert.equal(calls.length, 0, 'nothing is asked of the API before signing in');

      // Sign in with the keyboard; the token goes into sessionStorage only.
      await signIn(page, editorToken);
      await page.waitForSelector('[data-nr-desk]', { visible: true });
      assert.equal(await isVisible(page, '[data-nr-signin]'), false);
      assert.equal(await textOf(page, '[data-nr-session]'), 'Signed in. This token can write and publish articles and send alerts.');
      assert.ok(await activeMatches(page, '[data-nr-session]'), 'focus moves to the signed-in message');
      const stored = await page.evaluate(() => ({
        session: sessionStorage.getItem('flashwire.newsroom.token'), local: localStorage.length, cookie: document.cookie,
      }));
      assert.deepEqual(stored, { session: editorToken, local: 0, cookie: '' });
      assert.deepEqual(await session.context.cookies(), []);
      assert.equal(await page.$eval('#nr-signin-token', (i) => i.value), '', 'the secret does not stay in the form');

      // The published demo stories are listed.
      await itemTitled(page, '[data-nr-articles]', HEADLINE);
      assert.equal(await page.$$eval('[data-nr-articles] .badge-published', (b) => b.length), 6);

      // A new article. The slug follows the headline until it is edited.
      await page.click('[data-nr-new-article]');
      assert.equal(await activeId(page), 'nr-editor-title', 'focus moves to the editor');
      await page.type('#nr-article-headline', STORY.headline);
      assert.equal(await page.$eval('#nr-article-slug', (i) => i.value), STORY.slug);
      await fillField(page, '#nr-article-slug', 'Ferry Service!');
      await page.type('#nr-article-standfirst', STORY.standfirst);
      await page.type('#nr-article-byline', STORY.byline);
      await page.type('#nr-article-dateline', STORY.dateline);
      await page.select('#nr-article-category', 'breaking');
      await page.type('#nr-article-body-markdown', STORY.body);

      // The API's validation error is shown next to the field it names, which gets focus.
      await page.click('[data-nr-publish]');
      await page.waitForSelector('#nr-article-slug-error', { visible: true });
      assert.match(await textOf(page, '#nr-article-slug-error'), /^Use 1 to 120 of a-z, 0-9 and -$/);
      assert.equal(await page.$eval('#nr-article-slug', (i) => i.getAttribute('aria-invalid')), 'true');
      assert.match(await page.$eval('#nr-article-slug', (i) => i.getAttribute('aria-describedby')), /nr-article-slug-error/);
      assert.equal(await activeId(page), 'nr-article-slug');
      assert.match(await textOf(page, '[data-nr-article-form] [data-nr-form-status]'), /^Check “Slug”: use 1 to 120/);
      await screenshot(t, page, 'newsroom-article-error-desktop');

      // Fixed, published: the error goes, the story is on the site at once.
      await fillField(page, '#nr-article-slug', STORY.slug);
      await page.click('[data-nr-publish]');
      await page.waitForFunction(() => /^Published “/.test(document.querySelector('[data-nr-article-form] [data-nr-form-status]').innerText));
      assert.equal(await isVisible(page, '#nr-article-slug-error'), false);
      assert.equal(await page.$eval('#nr-article-slug', (i) => i.hasAttribute('aria-invalid')), false);
      assert.ok(await activeMatches(page, '[data-nr-article-form] [data-nr-form-status]'), 'focus moves to the outcome');
      assert.equal(await page.$eval('[data-nr-article-form] [data-nr-form-status] a', (a) => a.getAttribute('href')), `/articles/${STORY.slug}`);
      assert.equal(await textOf(page, '[data-nr-editor-title]'), `Edit: ${STORY.headline}`);
      assert.equal(await isVisible(page, '[data-nr-publish]'), false, 'a published article has no Publish button');
      const published = await itemTitled(page, '[data-nr-articles]', STORY.headline);
      assert.equal(await published.$eval('.badge', (b) => b.textContent), 'published');
      const articlePage = await withTimeout(fetch(`${site.url}/articles/${STORY.slug}`), STEP_TIMEOUT_MS, 'the new article page');
      assert.equal(articlePage.status, 200);
      assert.match(await articlePage.text(), /Ferry service resumes across the bay after storm/);

      // Compose an alert from it: prefilled from the article, audience shown before anything.
      await published.$eval('[data-action="compose"]', (b) => b.click());
      assert.equal(await activeId(page), 'nr-compose-title', 'focus moves to the alert form');
      const prefilled = await page.$eval('[data-nr-alert-form]', (f) => ({
        title: f.elements.title.value, body: f.elements.body.value, url: f.elements.url.value,
        category: f.elements.category.value, urgency: f.elements.urgency.value, ttl: f.elements.ttl_seconds.value,
        topicShown: f.elements.topic.checkVisibility(),
      }));
      assert.deepEqual(prefilled, {
        title: STORY.headline, body: STORY.standfirst, url: `${site.url}/articles/${STORY.slug}`,
        category: 'breaking', urgency: 'high', ttl: '3600', topicShown: false,
      });
      await page.waitForFunction(() => document.querySelector('[data-nr-audience]').dataset.count === '1');
      assert.equal(await textOf(page, '[data-nr-audience]'), 'Audience: 1 reader subscribed to breaking news.');

      // Live events: a topic appears (one per event) and the TTL default follows the category.
      await page.select('#nr-alert-category', 'live');
      await page.waitForFunction(() => document.querySelector('[data-nr-audience]').dataset.count === '0');
      const id = Number(await published.evaluate((li) => li.dataset.articleId));
      assert.deepEqual(await page.$eval('[data-nr-alert-form]', (f) => ({
        topic: f.elements.topic.value, shown: f.elements.topic.checkVisibility(), ttl: f.elements.ttl_seconds.value,
      })), { topic: `live-${id}`, shown: true, ttl: '900' });
      await page.select('#nr-alert-category', 'breaking');
      await page.waitForFunction(() => document.querySelector('[data-nr-audience]').dataset.count === '1');
      assert.equal(await page.$eval('#nr-alert-ttl-seconds', (s) => s.value), '3600');
      assert.equal(await isVisible(page, '#nr-alert-topic'), false);

      // Step one stores a draft and asks; Cancel sends nothing.
      await page.click('[data-nr-compose]');
      await page.waitForSelector('[data-nr-confirm]', { visible: true });
      assert.equal(await activeId(page), 'nr-confirm-title', 'focus moves to the question');
      assert.equal(await textOf(page, '[data-nr-confirm-title]'), 'Send to 1 reader?');
      assert.equal((await byRole(page, 'button', 'Confirm')).length, 1);
      assert.equal((await byRole(page, 'button', 'Cancel')).length, 1);
      const summary = await page.$$eval('[data-nr-confirm-summary] div', (ds) => Object.fromEntries(
        ds.map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent])));
      assert.equal(summary.Title, STORY.headline);
      assert.equal(summary.Category, 'Breaking news');
      assert.equal(summary['Expires after'], '1 hour');
      assert.equal(await page.$eval('[data-nr-alert-form] fieldset', (f) => f.disabled), true, 'the form waits for the answer');
      const draft = await itemTitled(page, '[data-nr-alerts]', STORY.headline);
      assert.equal(await draft.$eval('.badge', (b) => b.textContent), 'draft');
      await page.click('[data-nr-confirm-cancel]');
      await page.waitForFunction(() => /^Cancelled: nothing was sent/.test(document.querySelector('[data-nr-alert-form] [data-nr-form-status]').innerText));
      assert.equal(await isVisible(page, '[data-nr-confirm]'), false);
      assert.ok(await activeMatches(page, '[data-nr-alert-form] [data-nr-form-status]'));
      const cancelled = (await newsroomApi('alerts')).alerts.find((a) => a.title === STORY.headline);
      assert.equal(cancelled.status, 'cancelled');

      // Again, and Confirm: the alert is listed as sending, with its engagement counts.
      await page.click('[data-nr-compose]');
      await page.waitForSelector('[data-nr-confirm]', { visible: true });
      assert.equal(await textOf(page, '[data-nr-confirm-title]'), 'Send to 1 reader?');
      const confirmedAt = Date.now();
      await page.keyboard.press('Tab'); // past the heading, to the summary's first button: Confirm
      assert.ok(await activeMatches(page, '[data-nr-confirm-send]'), 'Confirm is reached with Tab');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => /^Sending “/.test(document.querySelector('[data-nr-alert-form] [data-nr-form-status]').innerText));
      assert.equal(await textOf(page, '[data-nr-alert-form] [data-nr-form-status]'), `Sending “${STORY.headline}” to 1 reader.`);
      const sendCall = calls.find((c) => c.method === 'POST' && /\/alerts\/\d+\/send$/.test(c.path));
      assert.ok(sendCall, 'POST …/send was made');
      const alertId = Number(/alerts\/(\d+)\/send/.exec(sendCall.path)[1]);
      const sending = await page.$(`[data-nr-alerts] > li[data-alert-id="${alertId}"]`);
      assert.ok(sending, 'the confirmed alert is listed');
      assert.equal(await sending.$eval('.badge', (b) => b.textContent), 'sending');
      assert.ok(await activeMatches(page, `[data-alert-id="${alertId}"]`), 'focus moves to the alert in the list');
      const engagement = await sending.$$eval('.nr-engagement dl > div', (ds) => ds.map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent]));
      assert.deepEqual(engagement.map(([name]) => name), ['Received', 'Displayed', 'Clicked', 'Dismissed']);
      assert.ok(await sending.$('.nr-delivery, .nr-delivery-pending'), 'delivery figures, or a note that there are none yet');
      assert.equal(await isVisible(page, '[data-nr-polling]'), true);
      // The API agrees (the fan-out may already have moved it on).
      const stored2 = await newsroomApi(`alerts/${alertId}`);
      assert.ok(['sending', 'sent', 'failed'].includes(stored2.status), stored2.status);
      assert.equal(stored2.url, `${site.url}/articles/${STORY.slug}`);

      // While it is sending, the list refreshes by itself.
      await pollUntil(() => calls.some((c) => c.method === 'GET' && c.path === '/api/newsroom/alerts' && c.at > confirmedAt + 1000),
        { timeoutMs: 8000, what: 'the alerts list refreshing by itself' });
      await page.evaluate(() => { document.activeElement.blur(); window.scrollTo(0, 0); });
      await screenshot(t, page, 'newsroom-desktop', { fullPage: true });

      // Every call carried the token as a bearer token, and only that way.
      assert.ok(calls.length >= 8, `${calls.length} API calls`);
      for (const call of calls) assert.equal(call.authorization, `Bearer ${editorToken}`, `${call.method} ${call.path}`);
      assert.ok(!session.requests.some((u) => u.includes(editorToken)), 'the token is never in a URL');

      // Readable in both schemes.
      const contrast = ['.panel-title', '.field label', '.hint', '.nr-item-title', '.nr-item-meta', '.badge-sending',
        '.badge-published', '.nr-counts dt', '.nr-counts dd', '.nr-audience', '.button-primary', '.button-secondary', '.nr-session-text'];
      const failures = [];
      for (const scheme of ['light', 'dark']) {
        await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: scheme }]);
        failures.push(...await lowContrast(page, contrast, `${scheme} /newsroom`));
      }
      await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
      assert.deepEqual(failures, [], 'text contrast below 4.5:1');

      // Phone-sized (puppeteer reloads the page for a mobile viewport): still signed in, from
      // the token kept in the tab; one column, nothing wider than the screen.
      const desk = async () => {
        await page.waitForSelector('[data-nr-desk]', { visible: true });
        await page.waitForSelector(`[data-nr-alerts] > li[data-alert-id="${alertId}"]`);
        await page.waitForFunction(() => document.querySelector('[data-nr-audience]').dataset.count !== undefined);
      };
      await page.setViewport(IPHONE.viewport);
      await desk();
      assert.equal(await isVisible(page, '[data-nr-signin]'), false, 'a reload keeps the editor signed in');
      await itemTitled(page, '[data-nr-articles]', STORY.headline);
      const columns = await page.$$eval('.nr-column', (cs) => cs.map((c) => Math.round(c.getBoundingClientRect().left)));
      assert.equal(new Set(columns).size, 1, `one column on a phone: ${columns}`);
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
      await page.evaluate(() => window.scrollTo(0, 0));
      await screenshot(t, page, 'newsroom-iphone');
      await page.setViewport(DESKTOP);
      await desk();

      // Delivery figures, once the fan-out reports them, are shown per alert.
      const withDelivery = async (request) => {
        try {
          const url = new URL(request.url());
          if (request.method() !== 'GET' || url.pathname !== '/api/newsroom/alerts') return await request.continue();
          const real = await fetch(request.url(), { headers: { Authorization: request.headers().authorization } });
          const data = await real.json();
          for (const alert of data.alerts) {
            if (alert.id === alertId) {
              alert.delivery = {
                targeted: 1, sent: 1, gone: 0, failed: 0, retried: 2, pending: 0,
                failed_by_reason: { http_413: 2, vapid_rejected: 5 },
                error: 'push service https://push.example rejected our VAPID credentials (http_403)',
              };
            }
          }
          return await request.respond({ status: 200, contentType: 'application/json', body: JSON.stringify(data) });
        } catch {
          return undefined; // interception was turned off meanwhile: the request went through as is
        }
      };
      await page.setRequestInterception(true);
      page.on('request', withDelivery);
      await page.click('[data-nr-refresh-alerts]');
      await page.waitForSelector(`[data-alert-id="${alertId}"] .nr-delivery`);
      const delivery = await page.$$eval(`[data-alert-id="${alertId}"] .nr-delivery dl > div`, (ds) => Object.fromEntries(
        ds.map((d) => [d.dataset.count, d.querySelector('dd').textContent])));
      assert.deepEqual(delivery, { targeted: '1', sent: '1', gone: '0', failed: '0', retried: '2', pending: '0' });
      assert.equal(await textOf(page, `[data-alert-id="${alertId}"] .nr-delivery-error`),
        'Problem: push service https://push.example rejected our VAPID credentials (http_403)');
      assert.equal(await textOf(page, `[data-alert-id="${alertId}"] .nr-delivery-reasons`), 'Failed: http_413 2, vapid_rejected 5');
      await page.setRequestInterception(false);
      page.off('request', withDelivery);

      // Stopping an alert while it is being sent takes two clicks. The reader's endpoint is a
      // closed loopback port, so the fan-out keeps retrying (and the alert stays "sending") for
      // about 15 s after it is confirmed: long enough to stop it.
      const post = async (pathname, body) => {
        const response = await withTimeout(fetch(`${site.url}/api/newsroom/${pathname}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${editorToken}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        }), STEP_TIMEOUT_MS, `POST /api/newsroom/${pathname}`);
        return { status: response.status, json: await response.json() };
      };
      // The story's link again within 10 minutes: forced past the duplicate guardrail
      // (docs/newsroom.md), as an editor who means it would.
      const urgent = await post('alerts', { category: 'breaking', title: 'Stop me', url: `/articles/${STORY.slug}`, force: true });
      assert.equal(urgent.status, 201, JSON.stringify(urgent.json));
      assert.equal((await post(`alerts/${urgent.json.id}/send`, { confirm: true, force: true })).status, 202);
      await page.click('[data-nr-refresh-alerts]');
      const stopItem = `[data-nr-alerts] > li[data-alert-id="${urgent.json.id}"]`;
      await page.waitForSelector(`${stopItem} button[data-action="stop"]`);
      await page.click(`${stopItem} button[data-action="stop"]`);
      await page.waitForSelector(`${stopItem} button[data-action="stop-confirm"]`);
      assert.ok(await activeMatches(page, `${stopItem} button[data-action="stop-confirm"]`), 'focus on the second step');
      assert.equal((await newsroomApi(`alerts/${urgent.json.id}`)).status, 'sending', 'one click stops nothing');
      await page.click(`${stopItem} button[data-action="stop-confirm"]`);
      await page.waitForFunction((sel) => document.querySelector(`${sel} .badge`)?.textContent === 'cancelled', {}, stopItem);
      assert.equal((await newsroomApi(`alerts/${urgent.json.id}`)).status, 'cancelled');

      // Sign out: back to the form, the token forgotten; a reload does not bring it back.
      await page.click('[data-nr-signout]');
      await page.waitForSelector('[data-nr-signin]', { visible: true });
      assert.equal(await isVisible(page, '[data-nr-desk]'), false);
      assert.equal(await activeId(page), 'nr-signin-token');
      assert.match(await textOf(page, '[data-nr-announce]'), /^Signed out/);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('flashwire.newsroom.token')), null);
      await page.reload({ waitUntil: 'load' });
      await page.waitForSelector('[data-nr-signin]', { visible: true });
      assert.equal(await isVisible(page, '[data-nr-desk]'), false);
      assertCleanNewsroom(session);
    });

  test('a wrong token is refused with a clear message; a token without a scope says which',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const session = await openPage(t);
      const { page } = session;
      const calls = recordApiCalls(page);
      await visit(page, `${site.url}/newsroom`);

      // Not even shaped like a token: said at once, nothing sent.
      await signIn(page, 'letmein');
      await page.waitForSelector('#nr-signin-token-error', { visible: true });
      assert.match(await textOf(page, '#nr-signin-token-error'), /fw_ followed by 43/);
      assert.equal(calls.length, 0);

      // Well formed but unknown: the site's 401, explained next to the field.
      await signIn(page, `fw_${'A'.repeat(43)}`);
      await page.waitForFunction(() => /not accepted/.test(document.querySelector('#nr-signin-token-error').textContent));
      assert.equal(await textOf(page, '#nr-signin-token-error'), 'This token was not accepted: it is unknown, revoked or mistyped.');
      assert.equal(await page.$eval('#nr-signin-token', (i) => i.getAttribute('aria-invalid')), 'true');
      assert.equal(await activeId(page), 'nr-signin-token');
      assert.equal(await textOf(page, '[data-nr-signin-form] [data-nr-form-status]'), 'Not signed in. Check the token and try again.');
      assert.equal(await page.$eval('[data-nr-signin-form] [data-nr-form-status]', (p) => p.getAttribute('aria-live')), 'polite');
      assert.equal(await isVisible(page, '[data-nr-desk]'), false);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('flashwire.newsroom.token')), null, 'a refused token is not kept');
      assert.equal(calls.length, 1, 'one failed attempt, not one per API');
      await screenshot(t, page, 'newsroom-signin-error-desktop');

      // A token for alerts only: in, with the articles side explaining the missing scope.
      await signIn(page, alertsToken);
      await page.waitForSelector('[data-nr-desk]', { visible: true });
      assert.equal(await textOf(page, '[data-nr-session]'), 'Signed in. This token can send alerts.');
      assert.equal(await textOf(page, '[data-nr-articles-panel] [data-nr-panel-status]'),
        'Your token lacks the scope articles:write, so it cannot list, write or publish articles. Ask for a token with articles:write.');
      assert.equal(await isVisible(page, '[data-nr-editor-panel]'), false);
      assert.equal(await isVisible(page, '[data-nr-compose-panel]'), true);
      await page.waitForFunction(() => document.querySelector('[data-nr-audience]').dataset.count === '1');
      assertCleanNewsroom(session);
    });
});
