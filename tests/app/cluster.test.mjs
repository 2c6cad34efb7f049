// Several `flashwire serve` nodes on one PostgreSQL store: what one node changes, readers of the
// other see (rendered pages dropped, live updates streamed, also across a lost listener
// connection), each node listens on one connection named after its node id and a second node
// with a taken id is refused, and a node that loses PostgreSQL keeps serving its cached pages,
// answers writes 503 with Retry-After, and recovers without a restart. Start-up errors (bad URL,
// wrong password, server down) are in store.test.mjs.
//
// The two-node cases use the test cluster ctest starts (FLASHWIRE_TEST_PG_STATE) or one of
// their own; the fault case always starts a throwaway cluster of its own, to stop and start it.
//
// Run from the repository root:  node --test tests/app/cluster.test.mjs

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BIN, REPO_ROOT } from '../support/flashwire_cli.mjs';
import { startServe } from '../support/flashwire_serve.mjs';
import { readState } from '../support/pg_cluster.mjs';
import { waitUntil } from '../support/wait.mjs';

const CLUSTER_SCRIPT = path.join(REPO_ROOT, 'scripts', 'pg-test-cluster.sh');
const PATIENCE_MS = 10000;  // bounds a failing wait only

let tmp;
let ownState = null;
let cluster;
const db = `cluster_${process.pid}`;

const PSQL_ARGS = (where, db = 'postgres') => ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1',
  '-h', where.PG_SOCKET_DIR, '-U', 'postgres', '-d', db];

// Runs `sql`; returns what it printed (tuples only, unaligned), trimmed.
function psql(where, sql) {
  const r = spawnSync('psql', [...PSQL_ARGS(where), '-c', sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, `psql ${sql}: ${r.stderr}`);
  return r.stdout.trim();
}

// One psql session on database `database`, kept open (a session-level lock lives as long as it
// does; advisory locks are per database). query(sql, tag) sends `sql`, which must print a line
// starting with `tag:`, and resolves to the rest of it.
function psqlSession(where, database) {
  const child = spawn('psql', PSQL_ARGS(where, database), { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => { out += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk) => { out += chunk; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    query: (sql, tag) => {
      child.stdin.write(`${sql}\n`);
      return waitUntil(() => out.match(new RegExp(`^${tag}:(.*)$`, 'm'))?.[1], PATIENCE_MS,
        `psql: ${sql}`, { describe: () => out });
    },
    end: () => { child.stdin.end(); return exited; },
  };
}

// The node-id lock a node's listener holds (app/cluster_sync.cc: "FlND", hashtext(id)).
const NODE_LOCK_CLASS = 0x466c4e44;
const listenerSessions = (id) => Number(psql(cluster,
  `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'flashwire node ${id}'`));

function clusterScript(action, state) {
  const r = spawnSync(CLUSTER_SCRIPT, [action, state]);
  assert.equal(r.status, 0, `pg-test-cluster ${action}: ${r.stderr}`);
}

// Polls `probe` until it returns a truthy value, at most PATIENCE_MS; returns that value.
const eventually = (what, probe) => waitUntil(probe, PATIENCE_MS, what);

async function api(node, method, pathname, body, token) {
  const response = await fetch(node.url + pathname, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(PATIENCE_MS),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : null };
}

const page = async (node, pathname) => {
  const r = await fetch(node.url + pathname, { signal: AbortSignal.timeout(PATIENCE_MS) });
  return { status: r.status, text: await r.text() };
};

const tokenOf = (node) => node.output.match(/editor token \(shown once, keep it safe\): (fw_\S+)/)[1];

// An SSE reader: resolves `until(id)` once an event with that id has come, `untilText(re)` once
// what it received matches `re`.
function sseReader(url) {
  let buffer = '';
  const waiters = [];
  const seen = new Set();
  const request = http.get(url, (response) => {
    response.setEncoding('utf8');
    response.on('data', (chunk) => {
      buffer += chunk;
      for (const m of buffer.matchAll(/^id: (\d+)$/gm)) seen.add(Number(m[1]));
      for (const w of waiters) if (w.id ? seen.has(w.id) : w.re.test(buffer)) w.resolve();
    });
  });
  request.on('error', () => {});
  const opened = new Promise((resolve) => request.once('response', resolve));
  return {
    opened,
    until: (id) => new Promise((resolve, reject) => {
      if (seen.has(id)) return resolve();
      waiters.push({ id, resolve });
      setTimeout(() => reject(new Error(`no event ${id} within ${PATIENCE_MS} ms`)), PATIENCE_MS).unref();
    }),
    untilText: (re) => new Promise((resolve, reject) => {
      if (re.test(buffer)) return resolve();
      waiters.push({ re, resolve });
      setTimeout(() => reject(new Error(`no ${re} within ${PATIENCE_MS} ms`)), PATIENCE_MS).unref();
    }),
    close: () => request.destroy(),
  };
}

before(() => {
  assert.ok(fs.existsSync(BIN), `flashwire binary not found at ${BIN} (set FLASHWIRE_BIN)`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-cluster-'));
  let state = process.env.FLASHWIRE_TEST_PG_STATE;
  if (!state) {
    ownState = path.join(tmp, 'cluster.state');
    clusterScript('start', ownState);
    state = ownState;
  }
  cluster = readState(state);
  psql(cluster, `CREATE DATABASE ${db}`);
});

after(() => {
  if (cluster && !ownState) psql(cluster, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  if (ownState) spawnSync(CLUSTER_SCRIPT, ['stop', ownState]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('two nodes on one store', () => {
  let a;
  let b;
  let token;
  let url;
  const nodeConfig = (id) => {
    const file = path.join(tmp, `node-${id}.toml`);
    fs.writeFileSync(file, `[node]\nid = "${id}"\n`);
    return file;
  };

  before(async () => {
    url = `postgresql:///${db}?host=${cluster.PG_SOCKET_DIR}&user=postgres`;
    a = await startServe(path.join(tmp, 'a'), ['--store', url, '--config', nodeConfig('a')]);
    b = await startServe(path.join(tmp, 'b'), ['--store', url, '--config', nodeConfig('b')]);
    token = tokenOf(a);
  });
  after(async () => {
    if (a) await a.stop();
    if (b) await b.stop();
  });

  test('an article published through node A is served by node B; an edit replaces B\'s cached pages', async () => {
    // B renders (and caches) its home page before the article exists.
    assert.doesNotMatch((await page(b, '/')).text, /Ferry service resumes/);
    const created = await api(a, 'POST', '/api/newsroom/articles', {
      slug: 'ferry-service-resumes', headline: 'Ferry service resumes after storm',
      standfirst: 'Crossings restart at dawn.', byline: 'By Test Desk', dateline: 'PORT ELLEN',
      category: 'breaking', body_markdown: 'The first **sailing** leaves at six.', publish: true,
    }, token);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    await eventually('B\'s home page to list the new article',
      async () => /Ferry service resumes after storm/.test((await page(b, '/')).text));
    const story = await page(b, '/articles/ferry-service-resumes');
    assert.equal(story.status, 200);
    assert.match(story.text, /Ferry service resumes after storm/);

    const article = (await api(a, 'GET', `/api/newsroom/articles/${created.json.id}`, undefined, token)).json;
    const edited = await api(a, 'PUT', `/api/newsroom/articles/${created.json.id}`,
      { ...article, headline: 'Ferry service resumes on all routes' }, token);
    assert.equal(edited.status, 200, JSON.stringify(edited.json));
    await eventually('B to serve the edited headline, not its cached page',
      async () => /Ferry service resumes on all routes/.test((await page(b, '/articles/ferry-service-resumes')).text));
  });

  test('a live update posted on node A reaches an SSE reader on node B', async () => {
    const reader = sseReader(`${b.url}/live/election-night-live-results/events`);
    try {
      const opened = await reader.opened;
      assert.equal(opened.statusCode, 200);
      const started = Date.now();
      const posted = await api(a, 'POST', '/api/newsroom/live/election-night-live-results/updates',
        { body_markdown: 'Turnout passes **60 %** in the north.' }, token);
      assert.equal(posted.status, 201, JSON.stringify(posted.json));
      await reader.until(posted.json.id);
      console.log(`# live update A -> SSE reader on B: ${Date.now() - started} ms`);
      // B's live page (cached before or not) shows it too.
      await eventually('B\'s live page to show the update',
        async () => /Turnout passes/.test((await page(b, '/live/election-night-live-results')).text));

      // The live desk's correction on A: B's reader gets the changed text, B's page follows.
      const edited = await api(a, 'PUT', `/api/newsroom/live/election-night-live-results/updates/${posted.json.id}`,
        { body_markdown: 'Turnout passes **62 %** in the north.' }, token);
      assert.equal(edited.status, 200, JSON.stringify(edited.json));
      await reader.untilText(/event: changed\ndata: \{[^\n]*62 %/);
      await eventually('B\'s live page to show the correction',
        async () => /62 %/.test((await page(b, '/live/election-night-live-results')).text));
    } finally {
      reader.close();
    }
  });

  test('each node listens on one connection, named after its node id; a node whose id is taken is refused', () => {
    assert.equal(listenerSessions('a'), 1, 'node a: one LISTEN connection for both channels');
    assert.equal(listenerSessions('b'), 1, 'node b: one LISTEN connection for both channels');
    const twin = spawnSync(BIN, ['serve', '--store', url, '--config', nodeConfig('a'), '--no-demo',
      '--listen', '127.0.0.1:0', '--data', path.join(tmp, 'a-twin')], { timeout: 15000 });
    assert.notEqual(twin.status, 0, 'the second node "a" exits with an error');
    assert.equal(twin.signal, null, 'by itself, not by the time limit');
    assert.match(twin.stderr.toString(),
      /^flashwire: cluster: node id 'a' is in use by another running node of this store; give each node its own \[node\] id/m);
    assert.equal(listenerSessions('a'), 1, 'the first node "a" keeps its connection');
  });

  test('after B\'s listener lost its connection, B\'s open live streams get what A posted meanwhile', async () => {
    const reader = sseReader(`${b.url}/live/election-night-live-results/events`);
    const session = psqlSession(cluster, db);
    let released = false;
    try {
      assert.equal((await reader.opened).statusCode, 200);
      // This session queues for B's node-id lock first; then B's listener session is ended.
      // The lock goes to the session already waiting for it (a new request from B's listener
      // cannot jump that queue), so B's listener cannot LISTEN again (it retries with backoff)
      // until this session lets go.
      const locked = session.query(`SELECT 'locked:' || count(*) FROM ` +
        `(SELECT pg_advisory_lock(${NODE_LOCK_CLASS}, hashtext('b'))) AS l;`, 'locked');
      await waitUntil(() => Number(psql(cluster, `SELECT count(*) FROM pg_locks WHERE ` +
        `locktype = 'advisory' AND classid = ${NODE_LOCK_CLASS} AND NOT granted`)) === 1,
        PATIENCE_MS, 'the test session to wait for B\'s node-id lock');
      psql(cluster, `SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity ` +
        `WHERE application_name = 'flashwire node b'`);
      assert.equal(await locked, '1', 'the test holds B\'s node-id lock');
      await waitUntil(() => /PostgreSQL notifications: connection to .* lost/.test(b.output),
        PATIENCE_MS, 'B to notice the lost connection');
      const posted = await api(a, 'POST', '/api/newsroom/live/election-night-live-results/updates',
        { body_markdown: 'Recount ordered in the **east**.' }, token);
      assert.equal(posted.status, 201, JSON.stringify(posted.json));
      // A's NOTIFY has gone out (before its answer) while B listened to nothing: B's listener
      // cannot LISTEN again before it holds its id's lock, which this session lets go only now.
      await session.end();
      released = true;
      await reader.until(posted.json.id);
      assert.match(b.output, /PostgreSQL notifications: reconnected/);
      await waitUntil(() => listenerSessions('b') === 1, PATIENCE_MS, 'B\'s one listener session back');
    } finally {
      reader.close();
      if (!released) await session.end();
    }
  });
});

describe('the embedded push service on a PostgreSQL store', () => {
  test('runs on one node only: a second node is refused at start, and may take over once the first stops', async () => {
    const url = `postgresql:///${db}?host=${cluster.PG_SOCKET_DIR}&user=postgres`;
    const config = path.join(tmp, 'push.toml');
    // A port that was free a moment ago (the push service's listen must name one).
    const port = await new Promise((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address();
        probe.close(() => resolve(p));
      });
    });
    fs.writeFileSync(config, `[push_service]\nenabled = true\nlisten = "127.0.0.1:${port}"\n`);
    const first = await startServe(path.join(tmp, 'push-1'), ['--store', url, '--config', config, '--no-demo']);
    try {
      const second = spawnSync(BIN, ['serve', '--store', url, '--config', config, '--no-demo',
        '--listen', '127.0.0.1:0', '--data', path.join(tmp, 'push-2')], { timeout: 15000 });
      assert.notEqual(second.status, 0, 'the second node exits with an error');
      assert.equal(second.signal, null, 'by itself, not by the time limit');
      assert.match(second.stderr.toString(),
        /^flashwire: push_service: another node of this site runs the embedded push service; .*one node only/m);
    } finally {
      await first.stop();
    }
    const third = await startServe(path.join(tmp, 'push-3'), ['--store', url, '--config', config, '--no-demo']);
    await third.stop();
  });
});

describe('PostgreSQL lost while serving', () => {
  let own;     // a throwaway cluster of this test's own: stopped and started
  let node;
  before(async () => {
    own = path.join(tmp, 'fault.state');
    clusterScript('start', own);
    const where = readState(own);
    node = await startServe(path.join(tmp, 'fault'), ['--store', where.PG_URL]);
  });
  after(async () => {
    if (node) await node.stop();
    spawnSync(CLUSTER_SCRIPT, ['stop', own]);
  });

  test('writes answer 503 with Retry-After, cached pages stay 200, and it recovers without a restart', async () => {
    const token = tokenOf(node);
    const home = await page(node, '/');  // cached from here on
    assert.equal(home.status, 200);
    const draft = { slug: 'storm-warning', headline: 'Storm warning for the coast',
      standfirst: 'Gales expected overnight.', byline: 'By Test Desk', dateline: 'OBAN',
      category: 'breaking', body_markdown: 'Stay **indoors**.', publish: true };

    clusterScript('down', own);
    try {
      const refused = await api(node, 'POST', '/api/newsroom/articles', draft, token);
      assert.equal(refused.status, 503, JSON.stringify(refused.json));
      assert.equal(refused.json.error, 'storage');
      assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After');
      const cached = await page(node, '/');
      assert.equal(cached.status, 200, 'the cached home page is still served');
      assert.equal(cached.text, home.text);
    } finally {
      clusterScript('up', own);
    }
    // The pool connects again on the next call (the first may still find a dead connection).
    const created = await eventually('a write to succeed after the server is back', async () => {
      const r = await api(node, 'POST', '/api/newsroom/articles', draft, token);
      return r.status === 201 ? r : null;
    });
    assert.equal(created.json.url, '/articles/storm-warning');
    assert.equal((await page(node, '/articles/storm-warning')).status, 200);
  });
});
