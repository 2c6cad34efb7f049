// `--store URL` on the commands that open the site's state, and `flashwire store migrate`,
// against a real PostgreSQL server: the test cluster ctest starts (FLASHWIRE_TEST_PG_STATE), or,
// when run by hand, one this file starts and stops itself (scripts/pg-test-cluster.sh).
//
// Run from the repository root:  node --test tests/app/store.test.mjs

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BIN, REPO_ROOT, flashwire, assertCommandError, newSubscriber,
} from '../support/flashwire_cli.mjs';
import { startServe } from '../support/flashwire_serve.mjs';
import { readState } from '../support/pg_cluster.mjs';

const CLUSTER_SCRIPT = path.join(REPO_ROOT, 'scripts', 'pg-test-cluster.sh');

let tmp;
let ownState = null;  // the state file of a cluster this file started
let cluster;          // { PG_URL, PG_SOCKET_DIR, PG_PASSWORD_USER, PG_PASSWORD }
let url;              // a database of this file's own

function psql(sql) {
  const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', cluster.PG_SOCKET_DIR,
    '-U', 'postgres', '-d', 'postgres', '-c', sql]);
  assert.equal(r.status, 0, `psql ${sql}: ${r.stderr}`);
}

before(() => {
  assert.ok(fs.existsSync(BIN), `flashwire binary not found at ${BIN} (set FLASHWIRE_BIN)`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flashwire-store-cli-'));
  let state = process.env.FLASHWIRE_TEST_PG_STATE;
  if (!state) {
    ownState = path.join(tmp, 'cluster.state');
    const r = spawnSync(CLUSTER_SCRIPT, ['start', ownState]);
    assert.equal(r.status, 0, `starting the test cluster: ${r.stderr}`);
    state = ownState;
  }
  cluster = readState(state);
  const db = `cli_${process.pid}`;
  psql(`CREATE DATABASE ${db}`);
  url = `postgresql:///${db}?host=${cluster.PG_SOCKET_DIR}&user=postgres`;
});

after(() => {
  if (cluster && !ownState) psql(`DROP DATABASE IF EXISTS cli_${process.pid} WITH (FORCE)`);
  if (ownState) spawnSync(CLUSTER_SCRIPT, ['stop', ownState]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('--store with PostgreSQL', () => {
  test('store migrate brings the database to the current schema, twice without harm', () => {
    const data = path.join(tmp, 'migrate-data');
    // The current version is the number of migrations the binary carries.
    const schema = fs.readFileSync(new URL('../../src/store/postgres/pg_schema.cc', import.meta.url), 'utf8');
    const latest = Number(schema.match(/std::array<const char\*, (\d+)> kMigrations/)[1]);
    for (let i = 0; i < 2; i++) {
      const r = flashwire(['store', 'migrate', '--store', url, '--data', data]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout.toString(), new RegExp(`^PostgreSQL at .+: schema version ${latest}\n$`));
    }
  });

  test('tokens made with --store are seen through the environment and the config file, not the data directory', () => {
    const data = path.join(tmp, 'token-data');
    const created = flashwire(['token', 'create', '--store', url, '--data', data,
      '--name', 'desk-pg', '--scope', 'alerts:send']);
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stdout.toString(), /^fw_[A-Za-z0-9_-]{43}\n$/);
    assert.equal(fs.existsSync(path.join(data, 'site.sqlite')), false, 'no SQLite file is made');

    const viaEnv = spawnSync(BIN, ['token', 'list', '--data', data],
      { env: { ...process.env, FLASHWIRE_STORE_URL: url } });
    assert.equal(viaEnv.status, 0, viaEnv.stderr.toString());
    assert.match(viaEnv.stdout.toString(), /^desk-pg\talerts:send\n/m);

    const config = path.join(tmp, 'store.toml');
    fs.writeFileSync(config, `[store]\nurl = "${url}"\n`);
    const viaConfig = flashwire(['token', 'list', '--config', config, '--data', data]);
    assert.equal(viaConfig.status, 0, viaConfig.stderr);
    assert.match(viaConfig.stdout.toString(), /^desk-pg\talerts:send\n/m);

    // flag > environment > config: a broken environment value loses to the flag.
    const flagWins = spawnSync(BIN, ['token', 'list', '--store', url, '--config', config, '--data', data],
      { env: { ...process.env, FLASHWIRE_STORE_URL: 'mysql://nowhere' } });
    assert.equal(flagWins.status, 0, flagWins.stderr.toString());
    const envWins = spawnSync(BIN, ['token', 'list', '--config', config, '--data', data],
      { env: { ...process.env, FLASHWIRE_STORE_URL: 'mysql://nowhere' } });
    assert.equal(envWins.status, 1);
    assert.match(envWins.stderr.toString(), /unknown scheme "mysql"/);

    // Without a store URL: the data directory's SQLite files, which serve never made there.
    assertCommandError(flashwire(['token', 'list', '--data', data]), /no site store at /);

    const revoked = flashwire(['token', 'revoke', '--store', url, '--data', data, '--name', 'desk-pg']);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.match(flashwire(['token', 'list', '--store', url, '--data', data]).stdout.toString(),
      /^desk-pg\talerts:send\trevoked\n$/);
  });

  test('subscriptions import stores every valid line in PostgreSQL', () => {
    const file = path.join(tmp, 'subs.jsonl');
    const lines = [];
    for (let i = 0; i < 3; i++) {
      const s = newSubscriber();
      lines.push(JSON.stringify({ endpoint: `https://fcm.googleapis.com/fcm/send/pg-${i}`,
        keys: { p256dh: s.p256dh, auth: s.authB64 } }));
    }
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const r = flashwire(['subscriptions', 'import', '--store', url, '--data', path.join(tmp, 'import-data'),
      '--category', 'breaking', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), '3 imported, 0 rejected\n');
  });
});

describe('serve on PostgreSQL', () => {
  test('two nodes with their own data directories share tokens, the VAPID key and articles', async () => {
    const nodeUrl = url.replace(`cli_${process.pid}`, `serve_${process.pid}`);
    psql(`CREATE DATABASE serve_${process.pid}`);
    const a = await startServe(path.join(tmp, 'node-a'), ['--store', nodeUrl]);
    let b;
    try {
      assert.match(a.output, /editor token \(shown once, keep it safe\): fw_/);
      b = await startServe(path.join(tmp, 'node-b'), ['--store', nodeUrl]);
      assert.doesNotMatch(b.output, /shown once/, 'node B finds node A\'s token in the store');
      assert.match(b.output, /new editor token: flashwire token create --store <this site's store URL> /);
      assert.ok(!b.output.includes(nodeUrl), 'the store URL is not printed');
      const key = async (node) => (await (await fetch(`${node.url}/api/vapid-public-key`)).json()).publicKey;
      assert.equal(await key(b), await key(a), 'one VAPID key for every node');
      assert.equal(fs.existsSync(path.join(tmp, 'node-a', 'vapid.json')), false, 'the key lives in the store');
      const story = await fetch(`${b.url}/articles/harbour-bridge-closed-after-ship-strike`);
      assert.equal(story.status, 200, 'node B serves the demo article node A stored');
      // Search on PostgreSQL: the demo story found by a word of its headline, marked, and a
      // query of operators and quotes is no error.
      const found = await fetch(`${b.url}/search?q=${encodeURIComponent('harbour bridg')}`);
      assert.equal(found.status, 200);
      const results = await found.text();
      assert.match(results, /href="\/articles\/harbour-bridge-closed-after-ship-strike"/);
      assert.match(results, /<mark>Harbour<\/mark>/);
      const odd = await fetch(`${b.url}/search?q=${encodeURIComponent('"harbour\' & !| :* (')}`);
      assert.equal(odd.status, 200, 'operators and quotes are only separators');
      const none = await (await fetch(`${b.url}/search?q=zeppelin`)).text();
      assert.match(none, /No results for/);
    } finally {
      await a.stop();
      if (b) await b.stop();
      psql(`DROP DATABASE IF EXISTS serve_${process.pid} WITH (FORCE)`);
    }
  });
});

describe('--store errors: one clear line, exit status 1, never the password', () => {
  const data = () => path.join(tmp, 'error-data');

  test('a URL of an unknown scheme', () => {
    const r = flashwire(['token', 'list', '--store', 'mysql://root:hunter2@db/site', '--data', data()]);
    assertCommandError(r, /^flashwire: store: store URL: unknown scheme "mysql"/);
    assert.doesNotMatch(r.stderr, /hunter2/);
  });

  test('a PostgreSQL URL libpq cannot parse', () => {
    const r = flashwire(['store', 'migrate', '--store', 'postgresql://u:hunter2@[::1/site', '--data', data()]);
    assertCommandError(r, /cannot be parsed/);
    assert.doesNotMatch(r.stderr, /hunter2/);
  });

  test('a wrong password', () => {
    const wrong = `wrong-${cluster.PG_PASSWORD}`;
    const r = flashwire(['token', 'create', '--store',
      `postgresql://${cluster.PG_PASSWORD_USER}:${wrong}@/flashwire_test?host=${cluster.PG_SOCKET_DIR}`,
      '--data', data(), '--name', 'x', '--scope', 'alerts:send']);
    assertCommandError(r, /^flashwire: store: cannot connect to PostgreSQL at .*password authentication failed/);
    assert.doesNotMatch(r.stderr, new RegExp(wrong));
  });

  test('a server that is down', () => {
    const nowhere = fs.mkdtempSync(path.join(tmp, 'no-server-'));
    const r = flashwire(['subscriptions', 'import', '--store',
      `postgresql://u:hunter2@/site?host=${nowhere}&connect_timeout=5`, '--data', data(),
      '--category', 'breaking', '/dev/null']);
    assertCommandError(r, new RegExp(`^flashwire: store: cannot connect to PostgreSQL at ${nowhere}/site: `));
    assert.doesNotMatch(r.stderr, /hunter2/);
  });
});
