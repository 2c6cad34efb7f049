// The editors' desk in headless Chromium: the whole desk's drafts with their authors, the confirm
// step's notification preview (Windows, macOS, Android, with a warning where text will be cut)
// and a guardrail refusal explained in words; on a phone (390 px) the confirm step with its
// preview fits the width. Screenshots (desktop and phone width) go to FLASHWIRE_E2E_ARTIFACTS:
// desk-drafts-*.png, desk-preview-*.png, desk-confirm-phone.png (the confirm step alone).
//
// Run from the repository root:  node --test tests/e2e/desk_alerts.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { flashwire, newSubscriber } from '../support/flashwire_cli.mjs';
import { startServe } from '../support/flashwire_serve.mjs';
import {
  launchChromium, closeChromium, artifactsDir, pngInfo, withTimeout, makeTempDir, removeDir,
} from './support/chromium.mjs';

const STEP_MS = 20000;
const DEAD_PUSH_ORIGIN = 'http://127.0.0.1:9';
// Long on purpose: every platform cuts it.
const HEADLINE = 'Harbour authority confirms all ferry crossings suspended until Friday after the storm damaged both piers';

describe('the desk in headless Chromium', () => {
  let root;
  let site;
  let browser;
  let token;
  let shots;

  before(async () => {
    root = await makeTempDir('flashwire-e2e-desk-');
    shots = await artifactsDir();
    const config = path.join(root, 'desk.toml');
    await fsp.writeFile(config, `push_hosts = [${JSON.stringify(DEAD_PUSH_ORIGIN)}]\n`);
    const dataDir = path.join(root, 'data');
    site = await startServe(dataDir, ['--config', config]);
    token = /editor token[^:]*: (fw_[A-Za-z0-9_-]{43})\n/.exec(site.output)[1];
    // A second editor's token, whose draft must show on this editor's desk.
    const made = flashwire(['token', 'create', '--data', dataDir, '--name', 'desk-bo', '--scope', 'articles:write']);
    assert.equal(made.status, 0, made.stderr.toString());
    const other = made.stdout.toString().trim();
    const call = (secret, method, pathname, body) => withTimeout(fetch(`${site.url}/api/newsroom/${pathname}`, {
      method,
      headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    }), STEP_MS, pathname);
    const draft = await call(other, 'POST', 'articles', {
      slug: 'council-budget-vote', headline: 'Council budget vote delayed', category: 'breaking', body_markdown: 'Draft.',
    });
    assert.equal(draft.status, 201, await draft.text());
    const story = await call(token, 'POST', 'articles', {
      slug: 'ferry-crossings-suspended', headline: HEADLINE, category: 'breaking', publish: true,
      standfirst: 'Both piers were damaged overnight; engineers expect to inspect them on Thursday morning and the authority will say more at noon.',
      body_markdown: 'Crossings are suspended.',
    });
    assert.equal(story.status, 201, await story.text());
    const reader = newSubscriber();
    const subscribed = await withTimeout(fetch(`${site.url}/api/subscriptions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: site.url },
      body: JSON.stringify({
        subscription: { endpoint: `${DEAD_PUSH_ORIGIN}/push/e2e-desk`, expirationTime: null, keys: { p256dh: reader.p256dh, auth: reader.authB64 } },
        categories: ['breaking'],
      }),
    }), STEP_MS, 'subscribing a reader');
    assert.equal(subscribed.status, 201, await subscribed.text());
    browser = await launchChromium({ userDataDir: path.join(root, 'profile') });
  }, { timeout: 60000 });

  after(async () => {
    await closeChromium(browser);
    if (site) await site.stop();
    await removeDir(root);
  }, { timeout: 30000 });

  async function shoot(page, name) {
    const file = path.join(shots, `${name}.png`);
    const png = await page.screenshot({ path: file, fullPage: true });
    assert.ok(pngInfo(Buffer.from(png)).width > 0);
  }

  test('drafts of the desk, the preview per platform and a refusal explained', { timeout: 120000 }, async () => {
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    await page.setViewport({ width: 1280, height: 900 });
    await withTimeout(page.goto(`${site.url}/newsroom`, { waitUntil: 'load' }), STEP_MS, 'opening /newsroom');
    await page.waitForSelector('#nr-signin-token', { visible: true });
    await page.type('#nr-signin-token', token);
    await page.keyboard.press('Enter');

    // The other editor's draft is on this desk, with its author.
    const meta = await page.waitForFunction(() => Array.from(document.querySelectorAll('[data-nr-articles] > li'))
      .find((li) => li.querySelector('.nr-item-title')?.textContent === 'Council budget vote delayed')
      ?.querySelector('.nr-item-meta')?.textContent, { timeout: STEP_MS });
    assert.match(await meta.jsonValue(), /draft[\s\S]*by desk-bo/);
    await shoot(page, 'desk-drafts-desktop');

    // Compose from the long story: the confirm step previews it on three platforms, with cuts.
    // The list re-renders as it refreshes: the button is found afresh each time.
    const composeFromStory = async () => {
      await page.waitForFunction((h) => Array.from(document.querySelectorAll('[data-nr-articles] > li'))
        .some((li) => li.querySelector('.nr-item-title')?.textContent === h), { timeout: STEP_MS }, HEADLINE);
      await page.evaluate((h) => Array.from(document.querySelectorAll('[data-nr-articles] > li'))
        .find((li) => li.querySelector('.nr-item-title')?.textContent === h)
        .querySelector('button[data-action="compose"]').click(), HEADLINE);
      await page.$eval('[data-nr-compose]', (b) => b.click());
    };
    await composeFromStory();
    assert.equal(await page.$eval('[data-nr-alert-form] input[name="send_at"]', (i) => i.type), 'datetime-local');
    await page.waitForSelector('[data-nr-preview]', { visible: true, timeout: STEP_MS });
    const platforms = await page.$$eval('.nr-notif-platform', (ps) => ps.map((p) => p.textContent));
    assert.deepEqual(platforms, ['Chrome on Windows', 'Chrome on macOS', 'Chrome on Android']);
    const titles = await page.$$eval('.nr-notif-title', (ts) => ts.map((t) => t.textContent));
    for (const title of titles) {
      assert.ok(title.endsWith('…') && title.length < HEADLINE.length, `cut: ${title}`);
    }
    const warnings = await page.$$eval('.nr-notif-warnings li', (ls) => ls.map((l) => l.textContent));
    assert.ok(warnings.some((w) => /macOS may cut the title after about 40 characters/.test(w)), warnings.join('\n'));
    await shoot(page, 'desk-preview-desktop');

    // "Send a test to me" sits below Confirm and Cancel; with no browser subscribed for tests it
    // says what to do first (the API's 409 no_test_subscription, in words).
    await page.$eval('[data-nr-test-send]', (b) => b.click());
    const testSaid = await page.waitForFunction(() => {
      const text = document.querySelector('[data-nr-test-send-status]').textContent;
      return text && !/^Sending/.test(text) && text;
    }, { timeout: STEP_MS });
    assert.match(await testSaid.jsonValue(), /choose “Get test alerts in this browser” first/);

    // On a phone: the confirm step with its preview fits the screen's width, nothing cut off,
    // and the page does not scroll sideways.
    await page.setViewport({ width: 390, height: 844 }); // isMobile would reload the page
    await shoot(page, 'desk-preview-phone');
    await page.$eval('[data-nr-confirm]', (c) => c.scrollIntoView({ block: 'start' }));
    const fit = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const parts = ['[data-nr-confirm]', '[data-nr-preview]', '.nr-notif', '.nr-notif-box', '.nr-notif-title', '[data-nr-test-send]']
        .flatMap((selector) => Array.from(document.querySelectorAll(selector)).map((node) => {
          const r = node.getBoundingClientRect();
          return { selector, left: r.left, right: r.right, width: r.width, height: r.height,
            overflow: node.scrollWidth - node.clientWidth, visible: getComputedStyle(node).visibility === 'visible' };
        }));
      const wide = Array.from(document.querySelectorAll('body *')).filter((n) => n.getBoundingClientRect().right > width + 1)
        .slice(0, 5).map((n) => `${n.tagName.toLowerCase()}.${n.className}`);
      return { width, scrollWidth: document.documentElement.scrollWidth, parts, wide };
    });
    assert.equal(fit.width, 390);
    assert.ok(fit.scrollWidth <= fit.width, `the page scrolls sideways (${fit.scrollWidth} px): ${fit.wide.join(', ')}`);
    assert.equal(fit.parts.filter((p) => p.selector === '.nr-notif').length, 3, 'three platforms');
    for (const part of fit.parts) {
      const what = JSON.stringify(part);
      assert.ok(part.visible && part.width > 0 && part.height > 0, `visible: ${what}`);
      assert.ok(part.left >= 0 && part.right <= fit.width, `within the screen's width: ${what}`);
      assert.ok(part.overflow <= 0, `nothing cut off inside: ${what}`);
    }
    const confirmStep = await page.$('[data-nr-confirm]');
    const png = await confirmStep.screenshot({ path: path.join(shots, 'desk-confirm-phone.png') });
    const info = pngInfo(Buffer.from(png));
    assert.ok(info.width > 0 && info.width <= 390 * 2, `confirm step screenshot ${info.width} px wide`);
    await page.setViewport({ width: 1280, height: 900 });

    // Confirm sends it; composing the same alert again is refused, in words, with a way past.
    await page.$eval('[data-nr-confirm-send]', (b) => b.click());
    const statusText = () => page.$eval('[data-nr-alert-form] [data-nr-form-status]', (s) => s.innerText);
    await page.waitForFunction(() => /^Sending “/.test(document.querySelector('[data-nr-alert-form] [data-nr-form-status]').innerText),
      { timeout: STEP_MS }).catch(async (e) => { throw new Error(`${e.message}; status: ${await statusText()}`); });
    await composeFromStory();
    const refusal = await page.waitForFunction(() => {
      const text = document.querySelector('[data-nr-alert-form] [data-nr-form-status]').innerText;
      return /less than 10 minutes ago/.test(text) && text;
    }, { timeout: STEP_MS });
    assert.match(await refusal.jsonValue(), /Press “Compose” again to compose it anyway/);
    assert.deepEqual(problems, []);
    await page.close();
  });
});
