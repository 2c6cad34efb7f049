// The live desk's API (PUT/DELETE /api/newsroom/live/{slug}/updates/{id}, POST/DELETE …/pin,
// POST /api/newsroom/preview) against `flashwire serve` with a real SQLite data directory: good
// and bad input, scopes, the audit log, the readers' page, and a reader's open Server-Sent
// Events stream receiving changed / deleted / pinned / unpinned.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { flashwireOk } from '../support/flashwire_cli.mjs';
import { startServe } from '../support/flashwire_serve.mjs';

const EVENT = 'election-night-live-results';
const OTHER_EVENT = 'marathon-live-updates';

describe('live desk API', () => {
  let dataDir;
  let server;
  let token;
  let alertsOnly;

  async function api(method, pathname, body, { auth = token, type = 'application/json' } = {}) {
    const headers = { Accept: 'application/json' };
    if (auth) headers.Authorization = `Bearer ${auth}`;
    if (body !== undefined) headers['Content-Type'] = type;
    const response = await fetch(`${server.url}/api/newsroom/${pathname}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(10000),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : null };
  }
  async function post(slug, text) {
    const r = await api('POST', `live/${slug}/updates`, { body_markdown: text });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    return r.json.id;
  }
  async function livePage(slug = EVENT) {
    const response = await fetch(`${server.url}/live/${slug}`, { signal: AbortSignal.timeout(10000) });
    assert.equal(response.status, 200);
    return response.text();
  }

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-live-desk-'));
    server = await startServe(dataDir);
    token = /editor token \(shown once, keep it safe\): (fw_[A-Za-z0-9_-]{43})/.exec(server.output)[1];
    alertsOnly = flashwireOk(['token', 'create', '--data', dataDir, '--name', 'alerts-only',
      '--scope', 'alerts:send']).toString().trim();
  }, { timeout: 30_000 });
  after(async () => {
    if (server) await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, { timeout: 15_000 });

  test('correct, pin, unpin and delete an update; each audited, the readers\' page follows', { timeout: 30_000 }, async () => {
    const first = await post(EVENT, 'Turnout is **61 %**.');
    const second = await post(EVENT, 'District 7 declares.');

    const edited = await api('PUT', `live/${EVENT}/updates/${first}`, { body_markdown: 'Turnout is **64 %**.' });
    assert.equal(edited.status, 200, JSON.stringify(edited.json));
    assert.equal(edited.json.body_markdown, 'Turnout is **64 %**.');
    assert.match(edited.json.html, /<strong>64 %<\/strong>/);
    assert.equal(typeof edited.json.edited_at, 'number');
    let page = await livePage();
    assert.match(page, /64 %/);
    assert.doesNotMatch(page, /61 %/, 'the page is rendered afresh after a correction');
    assert.match(page, /Corrected/);

    const pinned = await api('POST', `live/${EVENT}/updates/${second}/pin`);
    assert.equal(pinned.status, 200);
    assert.equal(pinned.json.pinned, true);
    page = await livePage();
    const block = /<section class="live-pinned"[^>]*>([\s\S]*?)<\/section>/.exec(page);
    assert.ok(block, 'a pinned block');
    assert.doesNotMatch(block[0], /\shidden/);
    assert.match(block[1], /District 7 declares/);
    assert.ok(page.indexOf('live-pinned') < page.indexOf('data-live-updates'), 'pinned comes first');
    const listing = await api('GET', `live/${EVENT}/updates`);
    assert.equal(listing.json.pinned.id, second);
    assert.deepEqual(listing.json.updates.filter((u) => u.pinned).map((u) => u.id), [second]);

    // Pinning another moves the pin; unpinning leaves none.
    assert.equal((await api('POST', `live/${EVENT}/updates/${first}/pin`)).status, 200);
    assert.equal((await api('GET', `live/${EVENT}/updates`)).json.pinned.id, first);
    const unpinned = await api('DELETE', `live/${EVENT}/updates/${first}/pin`);
    assert.equal(unpinned.status, 200);
    assert.equal(unpinned.json.pinned, false);
    assert.equal((await api('GET', `live/${EVENT}/updates`)).json.pinned, null);
    assert.match(await livePage(), /<section class="live-pinned"[^>]* hidden>/);

    const deleted = await api('DELETE', `live/${EVENT}/updates/${second}`);
    assert.equal(deleted.status, 200);
    page = await livePage();
    assert.doesNotMatch(page, /District 7 declares/);
    assert.ok(!(await api('GET', `live/${EVENT}/updates`)).json.updates.some((u) => u.id === second));

    const audit = await api('GET', 'audit');
    const actions = audit.json.entries.map((e) => `${e.action} ${e.detail}`);
    for (const expected of [`live.edit ${EVENT}, #${first}`, `live.pin ${EVENT}, #${second}`,
      `live.pin ${EVENT}, #${first}`, `live.unpin ${EVENT}, #${first}`, `live.delete ${EVENT}, #${second}`]) {
      assert.ok(actions.includes(expected), `audited: ${expected}`);
    }
  });

  test('bad input, wrong event, deleted updates and missing scopes are refused and change nothing', { timeout: 30_000 }, async () => {
    const mine = await post(EVENT, 'Kept as it is.');
    const elsewhere = await post(OTHER_EVENT, 'Runners pass the bridge.');
    const gone = await post(EVENT, 'To be deleted.');
    assert.equal((await api('DELETE', `live/${EVENT}/updates/${gone}`)).status, 200);
    const auditBefore = (await api('GET', 'audit')).json.entries.length;

    const cases = [
      ['empty text', 'PUT', `live/${EVENT}/updates/${mine}`, { body_markdown: '  \n' }, 400, 'invalid_field'],
      ['text not a string', 'PUT', `live/${EVENT}/updates/${mine}`, { body_markdown: 7 }, 400, 'invalid_field'],
      ['control characters', 'PUT', `live/${EVENT}/updates/${mine}`, { body_markdown: 'a\u0007b' }, 400, 'invalid_field'],
      ['too long', 'PUT', `live/${EVENT}/updates/${mine}`, { body_markdown: 'x'.repeat(20001) }, 400, 'invalid_field'],
      ['no body', 'PUT', `live/${EVENT}/updates/${mine}`, undefined, 400, 'invalid_json'],
      ['an update of another event', 'PUT', `live/${EVENT}/updates/${elsewhere}`, { body_markdown: 'x' }, 404, 'not_found'],
      ['pin across events', 'POST', `live/${EVENT}/updates/${elsewhere}/pin`, undefined, 404, 'not_found'],
      ['edit a deleted update', 'PUT', `live/${EVENT}/updates/${gone}`, { body_markdown: 'x' }, 404, 'not_found'],
      ['delete twice', 'DELETE', `live/${EVENT}/updates/${gone}`, undefined, 404, 'not_found'],
      ['pin a deleted update', 'POST', `live/${EVENT}/updates/${gone}/pin`, undefined, 404, 'not_found'],
      ['unknown update', 'DELETE', `live/${EVENT}/updates/999999`, undefined, 404, 'not_found'],
      ['unknown event', 'DELETE', `live/no-such-event/updates/${mine}`, undefined, 404, 'not_found'],
      ['not a live event', 'DELETE', `live/harbour-bridge-closed-after-ship-strike/updates/${mine}`, undefined, 404, 'not_found'],
      ['id not a number', 'DELETE', `live/${EVENT}/updates/abc`, undefined, 404, 'not_found'],
      ['preview without text', 'POST', 'preview', {}, 400, 'invalid_field'],
    ];
    for (const [name, method, pathname, body, status, code] of cases) {
      const r = await api(method, pathname, body);
      assert.equal(r.status, status, `${name}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error, code, name);
    }
    const type = await api('PUT', `live/${EVENT}/updates/${mine}`, 'body_markdown=x', { type: 'text/plain' });
    assert.equal(type.status, 415);
    const method = await api('GET', `live/${EVENT}/updates/${mine}`);
    assert.equal(method.status, 405);
    assert.equal(method.headers.get('allow'), 'PUT, DELETE');

    // Without a token, and with a token without articles:write.
    const anonymous = await api('DELETE', `live/${EVENT}/updates/${mine}`, undefined, { auth: '' });
    assert.equal(anonymous.status, 401);
    for (const [m, p, b] of [['PUT', `live/${EVENT}/updates/${mine}`, { body_markdown: 'x' }],
      ['DELETE', `live/${EVENT}/updates/${mine}`], ['POST', `live/${EVENT}/updates/${mine}/pin`],
      ['POST', 'preview', { body_markdown: 'x' }]]) {
      const r = await api(m, p, b, { auth: alertsOnly });
      assert.equal(r.status, 403, `${m} ${p}`);
      assert.equal(r.json.error, 'insufficient_scope');
    }

    const after = await api('GET', `live/${EVENT}/updates`);
    assert.equal(after.json.updates.find((u) => u.id === mine).body_markdown, 'Kept as it is.');
    assert.equal(after.json.updates.find((u) => u.id === mine).edited_at, null);
    assert.equal((await api('GET', 'audit')).json.entries.length, auditBefore, 'nothing audited');
  });

  test('an article carries a checked video_url; its page plays it with media-src for that origin only', { timeout: 30_000 }, async () => {
    const { articles } = (await api('GET', 'articles')).json;
    const event = articles.find((a) => a.slug === OTHER_EVENT);
    const base = Object.fromEntries(['slug', 'headline', 'standfirst', 'byline', 'dateline', 'category',
      'image_url', 'image_alt', 'body_markdown'].map((f) => [f, event[f]]));
    for (const bad of ['http://video.example/a.mp4', 'https://video.example/a.mov', '//video.example/a.mp4',
      'https://user@video.example/a.mp4', 'https://video.example/a b.mp4']) {
      const r = await api('PUT', `articles/${event.id}`, { ...base, video_url: bad });
      assert.equal(r.status, 400, bad);
      assert.match(r.json.message, /^video_url: /);
    }
    const ok = await api('PUT', `articles/${event.id}`, { ...base, video_url: 'https://video.example:8443/run.m3u8' });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.video_url, 'https://video.example:8443/run.m3u8');
    const page = await fetch(`${server.url}/live/${OTHER_EVENT}`);
    assert.match(page.headers.get('content-security-policy'), /; media-src 'self' https:\/\/video\.example:8443$/);
    const html = await page.text();
    assert.match(html, /<video controls preload="none" playsinline[^>]*>\n<source src="https:\/\/video\.example:8443\/run\.m3u8" type="application\/vnd\.apple\.mpegurl">/);
    const plain = await fetch(`${server.url}/live/${EVENT}`);
    assert.doesNotMatch(plain.headers.get('content-security-policy'), /media-src/);
    // A video on the site itself needs no media-src (default-src 'self').
    assert.equal((await api('PUT', `articles/${event.id}`, { ...base, video_url: '/media/run.webm' })).status, 200);
    assert.doesNotMatch((await fetch(`${server.url}/live/${OTHER_EVENT}`)).headers.get('content-security-policy'), /media-src/);
    assert.equal((await api('PUT', `articles/${event.id}`, { ...base, video_url: '' })).status, 200);
    assert.doesNotMatch(await (await fetch(`${server.url}/live/${OTHER_EVENT}`)).text(), /<video/);
  });

  test('preview renders Markdown with the readers\' renderer (raw HTML dropped)', { timeout: 30_000 }, async () => {
    const r = await api('POST', 'preview', { body_markdown: '**Polls close** at 22:00 <script>alert(1)</script> [map](/live/x)' });
    assert.equal(r.status, 200);
    assert.match(r.json.html, /<strong>Polls close<\/strong>/);
    assert.match(r.json.html, /<a href="\/live\/x">map<\/a>/);
    assert.doesNotMatch(r.json.html, /<script/);
  });

  test('a reader\'s open stream receives changed, pinned, unpinned and deleted', { timeout: 30_000 }, async () => {
    const id = await post(OTHER_EVENT, 'Leaders at 10 km.');
    let received = '';
    let notify = () => {};
    const response = await new Promise((resolve, reject) => {
      const request = http.get(`${server.url}/live/${OTHER_EVENT}/events?after=${id}`, resolve);
      request.on('error', reject);
      request.setTimeout(10000, () => request.destroy(new Error('live stream: no answer')));
    });
    assert.equal(response.statusCode, 200);
    response.setEncoding('utf8');
    response.on('data', (chunk) => {
      received += chunk;
      notify();
    });
    // Waits (bounded) until the stream has carried an event matching `pattern`.
    const waitFor = (pattern) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${pattern} within 10 s; got:\n${received}`)), 10000);
      notify = () => {
        if (pattern.test(received)) {
          clearTimeout(timer);
          resolve();
        }
      };
      notify();
    });
    try {
      await waitFor(/^retry: \d+$/m);
      assert.equal((await api('PUT', `live/${OTHER_EVENT}/updates/${id}`, { body_markdown: 'Leaders at *12 km*.' })).status, 200);
      await waitFor(/event: changed\ndata: (.*)\n/);
      const changed = JSON.parse(/event: changed\ndata: (.*)\n/.exec(received)[1]);
      assert.equal(changed.id, id);
      assert.match(changed.html, /<em>12 km<\/em>/);
      assert.ok(changed.edited_at > 0);
      assert.doesNotMatch(received, /id: \d+\nevent: changed/, 'a change carries no event id');

      assert.equal((await api('POST', `live/${OTHER_EVENT}/updates/${id}/pin`)).status, 200);
      await waitFor(/event: pinned\ndata: (.*)\n/);
      assert.equal(JSON.parse(/event: pinned\ndata: (.*)\n/.exec(received)[1]).id, id);
      assert.equal((await api('DELETE', `live/${OTHER_EVENT}/updates/${id}/pin`)).status, 200);
      await waitFor(/event: unpinned\ndata: (.*)\n/);
      assert.deepEqual(JSON.parse(/event: unpinned\ndata: (.*)\n/.exec(received)[1]), { id });
      assert.equal((await api('DELETE', `live/${OTHER_EVENT}/updates/${id}`)).status, 200);
      await waitFor(/event: deleted\ndata: (.*)\n/);
      assert.deepEqual(JSON.parse(/event: deleted\ndata: (.*)\n/.exec(received)[1]), { id });
      // Another event's changes never reach this stream.
      assert.doesNotMatch(received, new RegExp(`"id":(?!${id}\\b)\\d+`));
    } finally {
      response.destroy();
    }
  });
});
