// The throwaway PostgreSQL cluster of the tests (scripts/pg-test-cluster.sh): its state file is
// shell assignments, NAME='value' per line (PG_SOCKET_DIR, PG_URL, …), read here into an object.
import fs from 'node:fs';

export function readState(file) {
  const values = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = line.match(/^(\w+)='(.*)'$/);
    if (m) values[m[1]] = m[2];
  }
  return values;
}
