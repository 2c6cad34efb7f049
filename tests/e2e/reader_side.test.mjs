// The readers' side in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
// puppeteer-core) against `flashwire serve` with demo content and one live update posted through
// the newsroom API. Checks what a reader and a search engine get:
// - home with a live event: LIVE badge, "updated N min ago", the ticker, live-page links, times
//   in the reader's time zone, the opt-in card on screen with nothing covering it;
// - on a phone, one sheet at a time: the app sheet first, the offer only after it is closed,
//   and no layout shift from either;
// - a live page with the app sheet and LiveBlogPosting JSON-LD; an article's NewsArticle JSON-LD,
//   its headline and lead image in the server's HTML, its script budget (≤ 30 KB compressed);
// - search results and the no-results page; share (copy-link fallback);
// - the manifest and its icons, robots.txt, both sitemaps valid by xmllint against
//   tests/e2e/fixtures/sitemap.xsd;
// - Lighthouse 12.2.3 (mobile) on home, an article, a live page and search: every category ≥ 95.
// Screenshots (desktop and phone) go to $FLASHWIRE_E2E_ARTIFACTS or a new temp dir.
//
// Run from the repository root:  node --test tests/e2e/reader_side.test.mjs
// Needs /usr/bin/chromium, /usr/bin/xmllint (libxml2-utils), node_modules (puppeteer-core,
// lighthouse) and a built flashwire ($FLASHWIRE_BIN, or build/src/app/flashwire). Loopback only.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { startServe } from '../support/flashwire_serve.mjs';
import {
  launchChromium, closeChromium, artifactsDir, pngInfo, makeTempDir, removeDir, withTimeout,
} from './support/chromium.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TEST_TIMEOUT_MS = 60000;
const LIGHTHOUSE_TIMEOUT_MS = 900000; // four pages, up to three runs each
const STEP_TIMEOUT_MS = 15000;

const ARTICLE_SLUG = 'harbour-bridge-closed-after-ship-strike';
const HEADLINE = 'Harbour bridge closed after cargo ship strikes support pier';
const LIVE_SLUG = 'election-night-live-results';
const LIVE_UPDATE = 'North district declares: turnout **64%**';
const SCRIPT_BUDGET_BYTES = 30 * 1024;
const LIGHTHOUSE_MIN = 95;

const APP = {
  name: 'Port Ellin Wire', scheme: 'portellin', ios_app_id: '123456789',
  ios_store_url: 'https://apps.apple.com/app/id123456789',
  android_package: 'net.portellin.app',
  android_store_url: 'https://play.google.com/store/apps/details?id=net.portellin.app',
};
const DESKTOP = { width: 1280, height: 900, deviceScaleFactor: 1 };
const PHONE = {
  userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) ' +
    'Chrome/156.0.0.0 Mobile Safari/537.36',
  platform: 'Linux armv8l',
  metadata: {
    brands: [{ brand: 'Chromium', version: '156' }], fullVersion: '156.0.0.0',
    platform: 'Android', platformVersion: '14.0.0', architecture: '', model: 'Pixel 8', mobile: true,
  },
  viewport: { width: 360, height: 740, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
};

let root;
let site;      // flashwire serve with [app] and a posted live update
let browser;
let shots;
let updateId;

before(async () => {
  root = await makeTempDir('flashwire-e2e-readers-');
  const config = path.join(root, 'app.toml');
  const lines = ['[app]', ...Object.entries(APP).map(([k, v]) => `${k} = ${JSON.stringify(v)}`)];
  await fsp.writeFile(config, lines.join('\n') + '\n');
  site = await startServe(path.join(root, 'data'), ['--config', config]);
  const token = /editor token[^:]*: (fw_[A-Za-z0-9_-]+)/.exec(site.output)?.[1];
  assert.ok(token, 'flashwire serve printed an editor token on its first start');
  const response = await withTimeout(fetch(`${site.url}/api/newsroom/live/${LIVE_SLUG}/updates`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ body_markdown: LIVE_UPDATE }),
  }), STEP_TIMEOUT_MS, 'posting a live update');
  assert.equal(response.status, 201, await response.clone().text());
  updateId = (await response.json()).id;
  browser = await launchChromium({ userDataDir: path.join(root, 'chromium-profile') });
  shots = await artifactsDir();
  console.log(`screenshots: ${shots}`);
}, { timeout: TEST_TIMEOUT_MS });

after(async () => {
  await closeChromium(browser);
  const code = site ? await site.stop() : 0;
  await removeDir(root);
  assert.equal(code, 0, 'flashwire serve should exit cleanly on SIGTERM');
}, { timeout: TEST_TIMEOUT_MS });

// ------------------------------------------------------------------ helpers

// Collects layout shifts not caused by input (what CLS counts), from the page's start.
function recordLayoutShifts() {
  window.__shifts = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (!entry.hadRecentInput) {
        window.__shifts.push({
          value: entry.value,
          sources: (entry.sources || []).map((s) => s.node && (s.node.className || s.node.nodeName)),
        });
      }
    }
  }).observe({ type: 'layout-shift', buffered: true });
}

async function openPage(t, device = 'desktop', { timezone = null } = {}) {
  const context = await browser.createBrowserContext();
  t.after(() => withTimeout(context.close(), 5000, 'closing a browser context').catch(() => {}));
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  await page.evaluateOnNewDocument(recordLayoutShifts);
  if (timezone) await page.emulateTimezone(timezone);
  if (device === 'phone') {
    await page.setUserAgent({ userAgent: PHONE.userAgent, platform: PHONE.platform, userAgentMetadata: PHONE.metadata });
    await page.setViewport(PHONE.viewport);
  } else {
    await page.setViewport(DESKTOP);
  }
  return { page, context, problems };
}

async function visit(page, url) {
  const response = await page.goto(url, { waitUntil: 'load' });
  assert.equal(response.status(), 200, `GET ${url}`);
  return response;
}

function isVisible(page, selector) {
  return page.$eval(selector, (el) => el.checkVisibility()).catch(() => false);
}

// Scrolls the element into view and checks that what is painted at its centre and corners is
// the element itself (nothing fixed or absolutely placed lies on top of it).
function uncovered(page, selector) {
  return page.$eval(selector, (el) => {
    el.scrollIntoView({ block: 'center' });
    const r = el.getBoundingClientRect();
    const points = [[r.left + r.width / 2, r.top + r.height / 2], [r.left + 4, r.top + 4],
      [r.right - 4, r.top + 4], [r.left + 4, r.bottom - 4], [r.right - 4, r.bottom - 4]];
    return points.every(([x, y]) => {
      const hit = document.elementFromPoint(x, y);
      return hit !== null && el.contains(hit);
    });
  });
}

function waitForAnimations(page) {
  return page.evaluate(() => Promise.all(document.getAnimations()
    .filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity)
    .map((a) => a.finished)));
}

async function layoutShift(page) {
  const shifts = await page.evaluate(() => window.__shifts);
  return { total: shifts.reduce((sum, s) => sum + s.value, 0), shifts };
}

async function screenshot(t, page, name) {
  const file = path.join(shots, `${name}.png`);
  await page.screenshot({ path: file });
  const png = pngInfo(await fsp.readFile(file));
  const vp = page.viewport();
  assert.equal(png.width, vp.width * (vp.deviceScaleFactor || 1), `${name}.png width`);
  assert.ok(png.bytes > 10 * 1024, `${name}.png is only ${png.bytes} bytes: a blank page?`);
  t.diagnostic(`screenshot ${file} (${png.width}×${png.height}, ${png.bytes} bytes)`);
}

// GET over raw HTTP, so the body is what went over the wire (Node's fetch would decompress it).
function rawGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers }, (response) => {
      const chunks = [];
      response.on('data', (c) => chunks.push(c));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }));
    });
    request.on('error', reject);
    request.setTimeout(STEP_TIMEOUT_MS, () => request.destroy(new Error(`GET ${url} timed out`)));
  });
}

async function jsonLd(page) {
  const blocks = await page.$$eval('script[type="application/ld+json"]', (s) => s.map((e) => e.textContent));
  assert.equal(blocks.length, 1, 'one JSON-LD block');
  return JSON.parse(blocks[0]);
}

// ------------------------------------------------------------------ tests

describe('the readers\' side in headless Chromium', () => {
  test('home with a live event: badge, updated time, ticker, live links, local times, the offer',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const session = await openPage(t, 'desktop', { timezone: 'Asia/Tokyo' });
      const { page } = session;
      await visit(page, site.url + '/');

      const live = await page.$$eval('#live .story', (stories) => stories.map((s) => ({
        badge: s.querySelector('.badge-live')?.innerText.trim(),
        updated: s.querySelector('.live-updated')?.innerText.trim() ?? null,
        href: s.querySelector('.story-headline a').getAttribute('href'),
      })));
      assert.equal(live.length, 2, 'two demo live events');
      for (const story of live) {
        assert.equal(story.badge, 'LIVE', 'the badge (upper-cased by CSS)');
        assert.match(story.href, /^\/live\/[a-z0-9-]+$/, 'live events link to their live page');
      }
      const election = live.find((s) => s.href === `/live/${LIVE_SLUG}`);
      assert.match(election.updated, /^Updated (just now|\d+ min ago)$/, election.updated);

      const ticker = await page.$eval('[data-ticker] a', (a) => ({ href: a.getAttribute('href'), text: a.innerText }));
      assert.equal(ticker.href, `/live/${LIVE_SLUG}#update-${updateId}`);
      assert.match(ticker.text, /North district declares: turnout 64%/);
      assert.equal(await isVisible(page, '[data-ticker]'), true);

      // Times in the reader's zone: Tokyo is UTC+9, whatever the server wrote.
      const published = await page.$eval('#breaking .story-lead time', (el) => el.innerText);
      assert.match(published, /GMT\+9$/, published);
      assert.doesNotMatch(published, /UTC/);

      // The offer is on the home page, on screen when scrolled to, and nothing covers it.
      await page.waitForSelector('.home-optin [data-optin]', { visible: true });
      assert.equal(await uncovered(page, '.home-optin [data-optin]'), true);
      await page.evaluate(() => window.scrollTo(0, 0));
      await screenshot(t, page, 'readers-home-live-desktop');
      assert.deepEqual(session.problems, []);
    });

  test('phone: the app sheet first, then the offer; neither covers the other; no layout shift',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const session = await openPage(t, 'phone');
      const { page } = session;
      await visit(page, `${site.url}/articles/${ARTICLE_SLUG}`);
      await page.waitForSelector('[data-app-sheet]', { visible: true });
      await waitForAnimations(page);
      assert.equal(await isVisible(page, '[data-optin]'), false, 'the offer waits for the sheet');
      assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.viewport.width,
        'nothing sticks out sideways (the phone would zoom the page out)');
      await screenshot(t, page, 'readers-article-app-sheet-phone');
      assert.equal((await layoutShift(page)).total, 0, 'the sheet moves nothing');

      await page.tap('[data-app-continue]');
      await page.waitForSelector('[data-optin]', { visible: true });
      assert.equal(await isVisible(page, '[data-app-sheet]'), false);
      assert.equal(await uncovered(page, '[data-optin]'), true, 'nothing covers the offer');
      await screenshot(t, page, 'readers-article-offer-phone');
      // The card appears after the reader's tap: input-driven shifts are not counted.
      const cls = await layoutShift(page);
      assert.equal(cls.total, 0, `layout shifts: ${JSON.stringify(cls.shifts)}`);

      // The header entry opens the card again after "Not now".
      await page.tap('[data-optin-later]');
      assert.equal(await isVisible(page, '[data-optin]'), false);
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.tap('[data-alerts-entry]');
      await page.waitForSelector('[data-optin]', { visible: true });
      assert.equal(new URL(page.url()).pathname, `/articles/${ARTICLE_SLUG}`, 'it stayed on the page');
      assert.equal(await page.evaluate(() => document.activeElement.className), 'optin-title');
      assert.deepEqual(session.problems, []);
    });

  test('live page on a phone: app sheet, LiveBlogPosting with the update',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const session = await openPage(t, 'phone');
      const { page } = session;
      await visit(page, `${site.url}/live/${LIVE_SLUG}`);
      await page.waitForSelector('[data-app-sheet]', { visible: true });
      assert.match(await page.$eval('.app-sheet-title', (e) => e.innerText), /Follow this live event/);
      assert.equal(await page.$eval('[data-app-open]', (a) => a.getAttribute('href')).then((h) => h.startsWith('intent://live/')), true);
      await waitForAnimations(page);
      await screenshot(t, page, 'readers-live-phone');

      const ld = await jsonLd(page);
      assert.equal(ld['@context'], 'https://schema.org');
      assert.equal(ld['@type'], 'LiveBlogPosting');
      assert.equal(ld.headline, 'Election night: live results from all 42 districts');
      assert.equal(ld.url, `${site.url}/live/${LIVE_SLUG}`);
      assert.ok(ld.coverageStartTime && ld.datePublished && ld.dateModified);
      assert.ok(Array.isArray(ld.liveBlogUpdate) && ld.liveBlogUpdate.length === 2, 'the update and the opening entry');
      const [newest] = ld.liveBlogUpdate;
      assert.equal(newest['@type'], 'BlogPosting');
      assert.equal(newest.articleBody, 'North district declares: turnout 64%');
      assert.equal(newest.url, `${site.url}/live/${LIVE_SLUG}#update-${updateId}`);
      assert.ok(!Number.isNaN(Date.parse(newest.datePublished)));
      assert.equal(ld.publisher['@type'], 'Organization');
      assert.deepEqual(session.problems, []);
    });

  test('article: headline and lead image in the server HTML, NewsArticle, share, related, budget',
    { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const url = `${site.url}/articles/${ARTICLE_SLUG}`;
      const html = (await rawGet(url)).body.toString();
      assert.match(html, new RegExp(`<h1 class="headline">${HEADLINE}</h1>`));
      const img = /<img class="story-figure-image"[^>]*>/.exec(html)?.[0];
      assert.ok(img, 'the lead image is in the server-rendered HTML');
      for (const attr of ['src="/assets/demo/bridge.svg"', 'width="1200"', 'height="675"', 'sizes=', 'alt="Drawing: ',
        'srcset="/assets/demo/bridge-480.webp 480w, /assets/demo/bridge-960.webp 960w, /assets/demo/bridge-1440.webp 1440w"']) {
        assert.ok(img.includes(attr), `${attr} in ${img}`);
      }
      assert.doesNotMatch(img, /loading="lazy"/, 'the lead image is above the fold');

      // Script budget: everything the page loads with <script src>, as sent with gzip.
      const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]);
      assert.ok(scripts.length > 0);
      let bytes = 0;
      for (const src of scripts) {
        const response = await rawGet(site.url + src, { 'Accept-Encoding': 'gzip' });
        assert.equal(response.status, 200);
        assert.equal(response.headers['content-encoding'], 'gzip', `${src} is sent compressed`);
        bytes += response.body.length;
      }
      t.diagnostic(`article script: ${bytes} bytes compressed (${scripts.join(', ')})`);
      assert.ok(bytes <= SCRIPT_BUDGET_BYTES, `${bytes} bytes of script > ${SCRIPT_BUDGET_BYTES}`);

      const session = await openPage(t);
      const { page } = session;
      await page.browserContext().overridePermissions(site.url, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
      await visit(page, url);
      const ld = await jsonLd(page);
      assert.equal(ld['@type'], 'NewsArticle');
      assert.equal(ld.headline, HEADLINE);
      assert.equal(ld.mainEntityOfPage, url);
      assert.equal(ld.author[0].name, 'Mara Okafor');
      assert.equal(ld.image[0].url, `${site.url}/assets/demo/bridge-1440.webp`);
      // The browser picked one of the WebP renditions for its layout and screen, and it loaded.
      const lead = await page.$eval('img.story-figure-image', (i) => ({ src: i.currentSrc, loaded: i.complete && i.naturalWidth > 0 }));
      assert.match(lead.src, /\/assets\/demo\/bridge-(480|960|1440)\.webp$/);
      assert.ok(lead.loaded, `the lead image loaded: ${lead.src}`);
      for (const field of ['datePublished', 'dateModified']) assert.ok(!Number.isNaN(Date.parse(ld[field])), field);
      assert.equal(await page.$eval('link[rel="canonical"]', (l) => l.href), url);
      assert.equal(await page.$eval('meta[property="og:image"]', (m) => m.content), `${site.url}/assets/demo/bridge-1440.webp`);
      assert.equal(await page.$eval('meta[name="twitter:card"]', (m) => m.content), 'summary_large_image');
      // Heading order: h1, then h2s, no level skipped.
      const levels = await page.$$eval('main h1, main h2, main h3, main h4', (hs) => hs.map((h) => Number(h.tagName[1])));
      assert.equal(levels[0], 1);
      for (let i = 1; i < levels.length; i++) assert.ok(levels[i] <= levels[i - 1] + 1, `heading order ${levels}`);

      // Share: desktop Chromium has no Web Share here, so "Copy link" copies the canonical URL.
      await page.waitForSelector('[data-share].is-ready');
      await page.click('[data-share-copy]');
      await page.waitForFunction(() => document.querySelector('[data-share-status]').textContent !== '');
      assert.equal(await page.$eval('[data-share-status]', (s) => s.textContent), 'Link copied.');
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), url);

      const related = await page.$$eval('.related .story-headline a', (as) => as.map((a) => a.getAttribute('href')));
      assert.ok(related.length > 0, 'related stories');
      assert.ok(related.every((h) => h.startsWith('/articles/') && h !== `/articles/${ARTICLE_SLUG}`), `${related}`);
      assert.equal((await layoutShift(page)).total, 0, 'nothing moves while the page loads');
      assert.deepEqual(session.problems, []);
    });

  test('search: highlighted results, and a no-results page', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const session = await openPage(t, 'phone');
    const { page } = session;
    await visit(page, `${site.url}/search?q=${encodeURIComponent('storm')}`);
    const results = await page.$$eval('.search-result', (rs) => rs.map((r) => ({
      href: r.querySelector('a').getAttribute('href'), marks: Array.from(r.querySelectorAll('mark'), (m) => m.textContent.toLowerCase()),
    })));
    assert.ok(results.some((r) => r.href === '/articles/storm-warning-raised-to-red'), JSON.stringify(results));
    assert.ok(results.every((r) => r.marks.includes('storm')), 'every result shows the match');
    assert.equal(await page.$eval('#search-q', (i) => i.value), 'storm');
    await screenshot(t, page, 'readers-search-phone');

    await page.$eval('#search-q', (i) => { i.value = ''; });
    await page.type('#search-q', 'zeppelin');
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.keyboard.press('Enter')]);
    assert.equal(new URL(page.url()).search, '?q=zeppelin');
    assert.equal(await page.$eval('#search-results-title', (h) => h.textContent), 'No results for “zeppelin”');
    assert.deepEqual(session.problems, []);
  });

  test('manifest and icons, robots.txt, and both sitemaps valid by xmllint', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const manifestResponse = await fetch(`${site.url}/manifest.webmanifest`);
    assert.equal(manifestResponse.status, 200);
    assert.equal(manifestResponse.headers.get('content-type'), 'application/manifest+json');
    const manifest = await manifestResponse.json();
    const home = (await rawGet(site.url + '/')).body.toString();
    assert.equal(manifest.name, /<meta property="og:site_name" content="([^"]+)">/.exec(home)[1]);
    assert.equal(manifest.display, 'standalone');
    assert.equal(manifest.start_url, '/');
    assert.match(manifest.theme_color, /^#[0-9a-f]{6}$/);
    const sizes = [];
    for (const icon of manifest.icons) {
      const response = await rawGet(site.url + icon.src);
      assert.equal(response.status, 200, icon.src);
      assert.equal(response.headers['content-type'], icon.type, icon.src);
      if (icon.type === 'image/png') {
        const png = pngInfo(response.body);
        assert.equal(`${png.width}x${png.height}`, icon.sizes, icon.src);
        sizes.push(icon.sizes + (icon.purpose === 'maskable' ? ' maskable' : ''));
      }
    }
    assert.deepEqual(sizes, ['192x192', '512x512', '512x512 maskable'], 'installable on Android and iOS');
    // Every page names it.
    assert.match(home, /<link rel="manifest" href="\/manifest.webmanifest">/);

    const robots = await (await fetch(`${site.url}/robots.txt`)).text();
    assert.match(robots, /^Disallow: \/newsroom$/m);
    const sitemaps = [...robots.matchAll(/^Sitemap: (\S+)$/gm)].map((m) => m[1]);
    assert.equal(sitemaps.length, 2);
    const schema = path.join(HERE, 'fixtures', 'sitemap.xsd');
    for (const url of sitemaps) {
      const response = await fetch(url);
      assert.equal(response.status, 200, url);
      const file = path.join(root, path.basename(new URL(url).pathname));
      await fsp.writeFile(file, await response.text());
      // Throws (and fails the test) with xmllint's message when the file is not valid.
      execFileSync('xmllint', ['--noout', '--nonet', '--schema', schema, file], { stdio: 'pipe' });
      t.diagnostic(`${url}: valid`);
    }
    const news = await fsp.readFile(path.join(root, 'news-sitemap.xml'), 'utf8');
    // Demo stories are 1 to 26 hours old: all six are within the 48-hour window.
    assert.equal([...news.matchAll(/<news:news>/g)].length, 6);
    assert.match(news, new RegExp(`<loc>${site.url}/live/${LIVE_SLUG}</loc>`));
  });
});

// ------------------------------------------------------------------ Lighthouse

describe('Lighthouse (mobile) on the reader pages', () => {
  test(`home, an article, a live page and search score ≥ ${LIGHTHOUSE_MIN} in every category`,
    { timeout: LIGHTHOUSE_TIMEOUT_MS }, async (t) => {
      const { default: lighthouse } = await import('lighthouse');
      const port = Number(new URL(browser.wsEndpoint()).port);
      const pages = ['/', `/articles/${ARTICLE_SLUG}`, `/live/${LIVE_SLUG}`, '/search?q=storm'];
      const failures = [];
      const audit = (pathname) => lighthouse(site.url + pathname, {
        port, output: 'json', logLevel: 'error', formFactor: 'mobile',
        onlyCategories: ['performance', 'accessibility', 'best-practices', 'seo'],
      });
      for (const pathname of pages) {
        const result = await audit(pathname);
        const scores = Object.fromEntries(Object.entries(result.lhr.categories)
          .map(([id, c]) => [id, Math.round(c.score * 100)]));
        // The performance score is timed on this machine and varies from run to run (other
        // processes share the cores); Lighthouse's own guidance is the median of several runs.
        // A first run below the bar is therefore judged by the median of three.
        if (scores.performance < LIGHTHOUSE_MIN) {
          const runs = [scores.performance];
          for (let i = 0; i < 2; ++i) {
            runs.push(Math.round((await audit(pathname)).lhr.categories.performance.score * 100));
          }
          runs.sort((a, b) => a - b);
          t.diagnostic(`${pathname}: performance over three runs ${runs.join(', ')}`);
          scores.performance = runs[1];
        }
        const audits = result.lhr.audits;
        t.diagnostic(`${pathname}: ${JSON.stringify(scores)} LCP ${Math.round(audits['largest-contentful-paint'].numericValue)} ms, ` +
          `CLS ${audits['cumulative-layout-shift'].numericValue.toFixed(3)}, TBT ${Math.round(audits['total-blocking-time'].numericValue)} ms`);
        for (const [id, score] of Object.entries(scores)) {
          if (score < LIGHTHOUSE_MIN) {
            const failing = Object.values(audits)
              .filter((a) => a.score !== null && a.score < 1 && a.scoreDisplayMode !== 'informative' && a.scoreDisplayMode !== 'manual')
              .map((a) => a.id);
            failures.push(`${pathname} ${id} ${score}: ${failing.join(', ')}`);
          }
        }
      }
      assert.deepEqual(failures, [], `Lighthouse categories below ${LIGHTHOUSE_MIN}`);
    });
});
