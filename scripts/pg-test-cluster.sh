#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests: one per test run, in a fresh directory under
# /tmp, listening only on a Unix socket in that directory (no TCP port to collide on), with
# fsync off (its data is thrown away). ctest starts it before and stops it after the tests that
# need it (FIXTURES_SETUP / FIXTURES_CLEANUP in tests/store/CMakeLists.txt).
#
#   scripts/pg-test-cluster.sh start STATE_FILE   # prints nothing; writes STATE_FILE
#   scripts/pg-test-cluster.sh stop STATE_FILE    # stops the cluster, removes its directory
#   scripts/pg-test-cluster.sh down|up STATE_FILE # stops / starts the server only (fault tests)
#
# STATE_FILE holds shell assignments (single-quoted values) the tests read: PG_URL (superuser "postgres", trusted on
# the socket, database flashwire_test), PG_SOCKET_DIR, and a second role for password tests,
# PG_PASSWORD_USER / PG_PASSWORD (scram-sha-256); flashwire_test has the unaccent extension. As
# root, initdb and the server run as the "postgres" user (initdb refuses root); otherwise as the
# calling user.
set -euo pipefail

usage() { echo "usage: $0 start|stop|down|up STATE_FILE" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
state=$2

pg_bin=${PG_BIN:-}
if [ -z "$pg_bin" ]; then
  for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ]; then pg_bin=$dir; break; fi
  done
fi
[ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] ||
  { echo "pg-test-cluster: initdb not found (install postgresql-15 or set PG_BIN)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_server() {
  as_owner "$pg_bin/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 start \
    -o "-c listen_addresses='' -k $1 -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off -c max_connections=300" >/dev/null ||
    { cat "$1/server.log" >&2; exit 1; }
}

state_dir() {
  local dir
  dir=$(sed -n "s/^PG_SOCKET_DIR='\(.*\)'$/\1/p" "$state")
  case "$dir" in /tmp/flashwire-pg-*) ;; *) echo "pg-test-cluster: bad state file" >&2; exit 1 ;; esac
  echo "$dir"
}

case "$action" in
start)
  if [ -f "$state" ]; then "$0" stop "$state" || true; fi
  dir=$(mktemp -d /tmp/flashwire-pg-XXXXXX)
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  # Superuser "postgres": trusted on the socket. Every other role: password (scram-sha-256).
  as_owner "$pg_bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=reject \
    --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  {
    echo "local all postgres trust"
    echo "local all all scram-sha-256"
  } | as_owner tee "$dir/data/pg_hba.conf" >/dev/null
  start_server "$dir"
  psql=("$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -U postgres -d postgres)
  as_owner "${psql[@]}" -c "CREATE DATABASE flashwire_test" \
    -c "CREATE ROLE flashwire_pw LOGIN PASSWORD '$password'" \
    -c "GRANT ALL ON DATABASE flashwire_test TO flashwire_pw" >/dev/null
  # unaccent (search folds diacritics with it) in public, where every test's schema finds it: a
  # test schema that created it would take it along when dropped.
  as_owner "${psql[@]}" -d flashwire_test -c "GRANT ALL ON SCHEMA public TO flashwire_pw" \
    -c "CREATE EXTENSION unaccent SCHEMA public" >/dev/null
  # Quoted: the file may be sourced by a shell (the URL has an '&').
  cat >"$state" <<STATE
PG_SOCKET_DIR='$dir'
PG_URL='postgresql:///flashwire_test?host=$dir&user=postgres'
PG_PASSWORD_USER='flashwire_pw'
PG_PASSWORD='$password'
STATE
  ;;
down)
  # The server stops (fast shutdown: sessions are ended), its data stays: for fault tests.
  dir=$(state_dir)
  as_owner "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  ;;
up)
  start_server "$(state_dir)"
  ;;
stop)
  [ -f "$state" ] || exit 0
  dir=$(state_dir)
  if [ -d "$dir/data" ]; then
    as_owner "$pg_bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  rm -f "$state"
  ;;
*) usage ;;
esac
