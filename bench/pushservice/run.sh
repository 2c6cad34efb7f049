#!/usr/bin/env bash
# Load benchmark of Flashwire's own push service: idle WebSocket connections (memory per
# connection) and end-to-end message throughput (HTTP POST → WebSocket notification → ack).
# Starts `flashwire push-service` on a fresh temporary data directory for each test, runs
# push_load against it, prints one JSON line per test and a Markdown table, and cleans up.
# All traffic stays on loopback; every step has a time limit.
#
# Usage: bench/pushservice/run.sh [build-dir]        (builds nothing; default build-dir: build)
#
# Knobs (environment variables, defaults in brackets):
#   RUN_IDLE [1]  IDLE_CONNECTIONS [100000]  IDLE_SOURCES [4]  IDLE_HOLD [10] seconds
#   IDLE_CONCURRENCY [500] connects in flight  IDLE_CONNECT_TIMEOUT [180] seconds
#   IDLE_REGISTER [0] (1: every idle user agent also registers a channel)
#   IDLE_CAP [1] (1: lower IDLE_CONNECTIONS to what the file-descriptor limit allows; 0: try anyway)
#   RUN_THROUGHPUT [1]  SUBSCRIBERS [1000]  HTTP_CONNECTIONS [32]  MESSAGES [200000]
#   DURATION [60] seconds  TTL [3600]  PAYLOAD [300] bytes of plaintext
#   SERVER_CPU [1]  GENERATOR_CPU [0]  NOFILE [1048576]  PORT_RANGE ["1024 65535"]
#   KEEP_PORT_RANGE [0] (1: leave the widened port range in place afterwards)
#   QUIET_MAX [10] percent  QUIET_WAIT [600] seconds: before each test, wait up to QUIET_WAIT for
#   the machine's CPU use by other processes to fall to QUIET_MAX, then run regardless (it says so;
#   each JSON line also reports other_processes_cpu_ms during the test)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
FLASHWIRE="$BUILD/src/app/flashwire"
LOAD="$BUILD/bench/pushservice/push_load"
[ -x "$FLASHWIRE" ] || { echo "run.sh: $FLASHWIRE not built" >&2; exit 1; }
[ -x "$LOAD" ] || { echo "run.sh: $LOAD not built (ninja -C $BUILD push_load)" >&2; exit 1; }
command -v node >/dev/null || { echo "run.sh: node is needed for the table (scripts/install-deps.sh)" >&2; exit 1; }

RUN_IDLE=${RUN_IDLE:-1}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-100000}
IDLE_SOURCES=${IDLE_SOURCES:-4}
IDLE_HOLD=${IDLE_HOLD:-10}
IDLE_CONCURRENCY=${IDLE_CONCURRENCY:-500}
IDLE_CONNECT_TIMEOUT=${IDLE_CONNECT_TIMEOUT:-180}
IDLE_REGISTER=${IDLE_REGISTER:-0}
IDLE_CAP=${IDLE_CAP:-1}
RUN_THROUGHPUT=${RUN_THROUGHPUT:-1}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
HTTP_CONNECTIONS=${HTTP_CONNECTIONS:-32}
MESSAGES=${MESSAGES:-200000}
DURATION=${DURATION:-60}
TTL=${TTL:-3600}
PAYLOAD=${PAYLOAD:-300}
SERVER_CPU=${SERVER_CPU:-1}
GENERATOR_CPU=${GENERATOR_CPU:-0}
NOFILE=${NOFILE:-1048576}
PORT_RANGE=${PORT_RANGE:-1024 65535}
KEEP_PORT_RANGE=${KEEP_PORT_RANGE:-0}
QUIET_MAX=${QUIET_MAX:-10}
QUIET_WAIT=${QUIET_WAIT:-600}

say() { echo "run.sh: $*" >&2; }
pinned() {  # pinned CPU: the command prefix that runs a program on that CPU (nothing without taskset)
  if command -v taskset >/dev/null && taskset -c "$1" true 2>/dev/null; then echo "taskset -c $1"; fi
}
read -r -a PIN_SERVER <<< "$(pinned "$SERVER_CPU")"
read -r -a PIN_GENERATOR <<< "$(pinned "$GENERATOR_CPU")"

# --- File descriptors: one per connection on each side, in each process. ---------------------
# The server inherits this shell's limit. Raising the hard limit needs CAP_SYS_RESOURCE; without
# it the soft limit can only go up to the hard one, and the idle test is sized to fit.
if ! ulimit -n "$NOFILE" 2>/dev/null; then
  hard=$(ulimit -Hn)
  [ "$hard" = unlimited ] || ulimit -Sn "$hard"
  cap_eff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
  has_sys_resource=no
  [ -n "$cap_eff" ] && (( (0x$cap_eff >> 24) & 1 )) && has_sys_resource=yes
  say "cannot raise RLIMIT_NOFILE to $NOFILE (hard limit $hard, CAP_SYS_RESOURCE: $has_sys_resource); using $hard"
fi
FD_LIMIT=$(ulimit -n)
if [ "$FD_LIMIT" != unlimited ] && [ "$IDLE_CAP" = 1 ] && (( IDLE_CONNECTIONS + 64 > FD_LIMIT )); then
  say "IDLE_CONNECTIONS=$IDLE_CONNECTIONS does not fit RLIMIT_NOFILE=$FD_LIMIT of one server process;" \
      "testing $((FD_LIMIT - 64)) instead (IDLE_CAP=0 tries the full number)"
  IDLE_REQUESTED=$IDLE_CONNECTIONS
  IDLE_CONNECTIONS=$((FD_LIMIT - 64))
else
  IDLE_REQUESTED=$IDLE_CONNECTIONS
fi

# --- Ephemeral ports: each source address gives one port range towards the server. ------------
PORT_RANGE_FILE=/proc/sys/net/ipv4/ip_local_port_range
OLD_PORT_RANGE=$(tr -s '[:space:]' ' ' < "$PORT_RANGE_FILE" | sed 's/ $//')
if [ "$OLD_PORT_RANGE" != "$PORT_RANGE" ]; then
  if echo "$PORT_RANGE" > "$PORT_RANGE_FILE" 2>/dev/null; then
    say "net.ipv4.ip_local_port_range: $OLD_PORT_RANGE -> $PORT_RANGE$([ "$KEEP_PORT_RANGE" = 1 ] || echo ' (restored at exit)')"
  else
    say "cannot widen net.ipv4.ip_local_port_range (is $OLD_PORT_RANGE); relying on $IDLE_SOURCES source addresses"
    OLD_PORT_RANGE=$PORT_RANGE  # nothing to restore
  fi
fi

WORK=$(mktemp -d /tmp/flashwire-pushload.XXXXXX)
SERVER_PID=
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
cleanup() {
  stop_server
  rm -rf "$WORK"
  if [ "$KEEP_PORT_RANGE" != 1 ] && [ "$OLD_PORT_RANGE" != "$PORT_RANGE" ]; then
    echo "$OLD_PORT_RANGE" > "$PORT_RANGE_FILE" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# busy_percent, wait_for_quiet
# shellcheck source=bench/quiet.sh
source bench/quiet.sh  # the working directory is the repository root

# Starts a fresh service; sets SERVER_PID and SERVER_ADDR.
start_server() {
  local name=$1
  mkdir -p "$WORK/$name"
  "${PIN_SERVER[@]}" "$FLASHWIRE" push-service --listen 127.0.0.1:0 --data "$WORK/$name/data" \
    > "$WORK/$name/server.out" 2> "$WORK/$name/server.err" &
  SERVER_PID=$!
  SERVER_ADDR=
  for _ in $(seq 100); do
    SERVER_ADDR=$(sed -n 's/.*"event":"listening","address":"\([^"]*\)".*/\1/p' "$WORK/$name/server.out" | head -1)
    [ -n "$SERVER_ADDR" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$SERVER_ADDR" ]; then
    say "the push service did not start:"; cat "$WORK/$name/server.err" >&2; exit 1
  fi
  say "push service pid $SERVER_PID on $SERVER_ADDR (CPU $SERVER_CPU, RLIMIT_NOFILE $(awk '/Max open files/ {print $4}' /proc/$SERVER_PID/limits))"
}

: > "$WORK/results.jsonl"
if [ "$RUN_IDLE" = 1 ]; then
  wait_for_quiet
  start_server idle
  say "idle: $IDLE_CONNECTIONS WebSocket user agents from $IDLE_SOURCES source addresses, held ${IDLE_HOLD} s"
  register_flag=(); [ "$IDLE_REGISTER" = 1 ] && register_flag=(--register)
  timeout $((IDLE_CONNECT_TIMEOUT + IDLE_HOLD + 300)) \
    "${PIN_GENERATOR[@]}" "$LOAD" idle --server "$SERVER_ADDR" --server-pid "$SERVER_PID" \
      --connections "$IDLE_CONNECTIONS" --sources "$IDLE_SOURCES" --duration "$IDLE_HOLD" \
      --concurrency "$IDLE_CONCURRENCY" --connect-timeout "$IDLE_CONNECT_TIMEOUT" "${register_flag[@]}" \
    > "$WORK/idle.json" || say "idle: push_load exited with status $?"
  if [ -s "$WORK/idle.json" ]; then
    node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); r.requested_by_run_sh = Number(process.argv[1]); console.log(JSON.stringify(r));' \
      "$IDLE_REQUESTED" < "$WORK/idle.json" >> "$WORK/results.jsonl"
  fi
  stop_server
fi
if [ "$RUN_THROUGHPUT" = 1 ]; then
  wait_for_quiet
  start_server throughput
  say "throughput: $SUBSCRIBERS subscribers, $HTTP_CONNECTIONS HTTP connections, $MESSAGES messages or ${DURATION} s"
  timeout $((DURATION + 400)) \
    "${PIN_GENERATOR[@]}" "$LOAD" throughput --server "$SERVER_ADDR" --server-pid "$SERVER_PID" \
      --subscribers "$SUBSCRIBERS" --http-connections "$HTTP_CONNECTIONS" --messages "$MESSAGES" \
      --duration "$DURATION" --ttl "$TTL" --payload "$PAYLOAD" \
    >> "$WORK/results.jsonl" || say "throughput: push_load exited with status $?"
  stop_server
fi

echo "== JSON"
cat "$WORK/results.jsonl"
echo
echo "== Table"
node - "$WORK/results.jsonl" <<'JS'
const fs = require('fs');
const runs = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n').filter(Boolean).map(JSON.parse);
const n = (x, digits = 0) => Number(x).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const rows = [];
const idle = runs.find(r => r.mode === 'idle');
if (idle) {
  const requested = idle.requested_by_run_sh ?? idle.requested_connections;
  const capped = requested !== idle.requested_connections ? ` (asked ${n(requested)}; capped to fit RLIMIT_NOFILE ${n(idle.server_fd_limit)})` : '';
  rows.push(['idle WebSocket user agents open after the hold', `${n(idle.open_at_end_of_hold)} of ${n(idle.requested_connections)}`,
             '≥ 100,000', `${idle.sources} source addresses, hello done, held ${idle.hold_s} s${capped}`]);
  rows.push(['service RSS per idle connection', `${n(idle.server_bytes_per_connection / 1000, 2)} kB`, '≤ 5 kB',
             `RSS ${n(idle.server_rss_before_bytes / 1048576, 1)} → ${n(idle.server_rss_connected_bytes / 1048576, 1)} MiB; ` +
             `end of hold ${n(idle.server_bytes_per_connection_end_of_hold / 1000, 2)} kB/conn`]);
  rows.push(['connection set-up rate', `${n(idle.connects_per_s)} /s`, '', `TCP + WebSocket upgrade + hello, ${n(idle.connect_ms / 1000, 1)} s in all`]);
  if (idle.server_cpu_us_per_connect !== undefined) {
    rows.push(['service CPU per connection set-up', `${n(idle.server_cpu_us_per_connect)} µs`, '', 'accept, upgrade, hello reply']);
  }
  const errs = Object.entries(idle.errors || {}).map(([k, v]) => `${k} ×${v}`).join('; ');
  if (errs) rows.push(['idle: failures', errs, '', '']);
}
const tp = runs.find(r => r.mode === 'throughput');
if (tp) {
  rows.push(['messages accepted (HTTP 201)', `${n(tp.accepted_per_s)} /s`, '',
             `${n(tp.accepted)} of ${n(tp.posted)} posted in ${n(tp.posting_ms / 1000, 1)} s; ${tp.subscribers} subscribers, ${tp.http_connections} HTTP connections`]);
  rows.push(['**messages delivered end to end**', `**${n(tp.delivered_per_s)} /s**`, '≥ 20,000',
             `${n(tp.delivered)} notifications, all acked (${n(tp.acks_sent)} acks); ${tp.body_bytes}-byte aes128gcm bodies`]);
  rows.push(['accept → deliver latency p50 / p90 / p99 / max', `${n(tp.latency_us.p50 / 1000, 2)} / ${n(tp.latency_us.p90 / 1000, 2)} / ${n(tp.latency_us.p99 / 1000, 2)} / ${n(tp.latency_us.max / 1000, 1)} ms`, '',
             `from writing the POST to reading the notification; ${n(tp.latency_us.samples)} samples`]);
  if (tp.server_cpu_ms !== undefined) {
    rows.push(['service CPU', `${n(tp.server_cpu_percent)} % of one core`, '',
               `${n(tp.server_cpu_ms / 1000, 2)} CPU-s; ${n(tp.msgs_per_server_cpu_s)} msgs per service CPU-second`]);
  }
  rows.push(['load generator CPU', `${n(tp.generator_cpu_percent)} % of one core`, '', 'push_load, on the other core']);
  if (tp.other_processes_cpu_ms !== undefined) {
    rows.push(['other processes\' CPU during the run', `${n(tp.other_processes_cpu_ms / 1000, 2)} CPU-s`, '≈ 0', `over ${n(tp.run_ms / 1000, 1)} s; more than a few % of that disturbs the figures`]);
  }
  const statuses = Object.entries(tp.non_201_statuses || {}).map(([k, v]) => `${k} ×${v}`).join(', ') || 'none';
  rows.push(['non-201 answers; missing deliveries; lost requests', `${statuses}; ${n(tp.missing_deliveries)}; ${n(tp.lost_requests)}`, '0', `misrouted ${tp.misrouted}, bad data ${tp.bad_data}`]);
}
console.log('| figure | result | target | note |');
console.log('|---|---:|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
// Other work on the machine during a test (compilers, other benchmarks) takes CPU from the two
// pinned processes: say so, rather than let a disturbed run pass for a result.
for (const r of runs) {
  const wall = r.mode === 'throughput' ? r.run_ms : (r.connect_ms + 1000 * r.hold_s);
  if (r.other_processes_cpu_ms > 0.05 * wall) {
    console.log(`\nWARNING: other processes used ${n(r.other_processes_cpu_ms / 1000, 1)} CPU-s during the ${r.mode} test ` +
                `(${n(wall / 1000, 1)} s): the figures are disturbed; re-run on a quiet machine.`);
  }
}
JS
