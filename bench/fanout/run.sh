#!/usr/bin/env bash
# Fan-out benchmark: Flashwire's sender (`flashwire fanout`, the same pipeline `serve` uses for
# alerts) side by side with npm web-push (the peer harness in ../shared/peers/web-push-node),
# both sending one breaking-news alert to the same N subscriptions into the same loopback sink.
#
#   1. For each N in SIZES: the peer's compare.sh runs the peer and our engine alternately, RUNS
#      times, into one sink (pinned: senders on SENDER_CPU, sink on SINK_CPU), and prints
#      medians. Ratios are per CPU-second of sender time: both senders get one core there.
#   2. For N = BIG (1,000,000 by default) our engine alone, unpinned, with every core it wants,
#      into a sink of SINK_WORKERS processes: time to last accept and peak RSS, the issue's
#      "1M subscribers" figure. The peer is left out of this one: at ~930 msgs/s it would take
#      about 18 minutes.
#   3. VERIFY=1 (default) makes the sink check headers, VAPID JWTs and decrypt a sample of the
#      bodies of every run (0 failures, 0 duplicates, 0 missing expected).
# Everything stays on 127.0.0.1. The subscriptions (with private keys) are generated into a
# temporary directory and deleted afterwards.
#
# Usage: bench/fanout/run.sh [build-dir]        (default build-dir: build)
# Knobs: SIZES ["20000 200000"]  BIG [1000000] (0: skip)  RUNS [3]  C [256] requests in flight
#        THREADS [0: one per core]  VERIFY [1]  PORT [8090]  SINK_WORKERS [1]
#        CONNECTIONS [0: C ÷ PIPELINE]  PIPELINE [8] HTTP/1.1 requests at once per connection
#        (the built-in client's pipelining; 1: none)  HTTP_CLIENT [builtin] or curl
#        PEER_DIR [../shared/peers/web-push-node]  SENDER_CPU [0]  SINK_CPU [1]
#        TLS [0] 1: the sink serves HTTPS + HTTP/2 (self-signed, trusted through --ca-file) and
#        both senders speak TLS  HTTPS_CLIENT [builtin] or curl
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${1:-build}
FLASHWIRE="$ROOT/$BUILD/src/app/flashwire"
[ -x "$FLASHWIRE" ] || { echo "run.sh: $FLASHWIRE not built" >&2; exit 1; }
PEER_DIR=${PEER_DIR:-$ROOT/../shared/peers/web-push-node}
[ -f "$PEER_DIR/compare.sh" ] || { echo "run.sh: no peer harness at $PEER_DIR" >&2; exit 1; }
[ -d "$ROOT/node_modules/web-push" ] || { echo "run.sh: run scripts/install-deps.sh first" >&2; exit 1; }

SIZES=${SIZES:-"20000 200000"}
BIG=${BIG:-1000000}
RUNS=${RUNS:-3}
C=${C:-256}
THREADS=${THREADS:-0}
VERIFY=${VERIFY:-1}
PORT=${PORT:-8090}
SINK_WORKERS=${SINK_WORKERS:-1}
CONNECTIONS=${CONNECTIONS:-0}
PIPELINE=${PIPELINE:-8}
HTTP_CLIENT=${HTTP_CLIENT:-builtin}
SENDER_CPU=${SENDER_CPU:-0}
SINK_CPU=${SINK_CPU:-1}
TLS=${TLS:-0}
HTTPS_CLIENT=${HTTPS_CLIENT:-builtin}
SCHEME=http; [ "$TLS" = 1 ] && SCHEME=https

WORK=$(mktemp -d /tmp/flashwire-fanout-bench.XXXXXX)
SINK_PID=
cleanup() {
  if [ -n "$SINK_PID" ]; then
    kill -TERM "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The harness may sit on a read-only mount: work on a copy, with our node_modules (the same
# exact versions: web-push 3.6.7, http_ece 1.2.1).
cp -r "$PEER_DIR" "$WORK/peer"
rm -rf "$WORK/peer/node_modules" "$WORK/peer/data"
ln -s "$ROOT/node_modules" "$WORK/peer/node_modules"

ENGINE="$FLASHWIRE fanout --subs data/subs.jsonl --vapid data/vapid.json --payload data/payload.json"
ENGINE+=" --push-host $SCHEME://127.0.0.1:$PORT --concurrency $C --threads $THREADS"
ENGINE+=" --connections $CONNECTIONS --pipeline $PIPELINE --http-client $HTTP_CLIENT"
[ "$TLS" = 1 ] && ENGINE+=" --https-client $HTTPS_CLIENT --ca-file data/tls/cert.pem"

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== flashwire fanout vs npm web-push, sizes: $SIZES, runs: $RUNS, verify: $VERIFY"
echo "== engine: $ENGINE"
for N in $SIZES; do
  echo "-- N=$N"
  (cd "$WORK/peer" && N=$N C=$C PORT=$PORT RUNS=$RUNS VERIFY=$VERIFY PEER_CPU=$SENDER_CPU \
    SINK_CPU=$SINK_CPU TLS=$TLS ENGINE="$ENGINE" ./compare.sh)
  rm -rf "$WORK/peer/data"
done

if [ "$BIG" -gt 0 ] && [ "$TLS" = 1 ]; then
  echo "-- N=$BIG skipped with TLS=1 (the cleartext run measures the big fan-out)"
elif [ "$BIG" -gt 0 ]; then
  echo "-- N=$BIG, flashwire only, unpinned, sink workers: $SINK_WORKERS"
  (cd "$WORK/peer" && node gen-subs.js --n "$BIG" --endpoint-base "http://127.0.0.1:$PORT/push" --out data)
  SINK_ARGS=(--port "$PORT" --workers "$SINK_WORKERS" --expect "$BIG")
  [ "$VERIFY" = 1 ] && SINK_ARGS+=(--verify data)
  (cd "$WORK/peer" && exec node sink.js "${SINK_ARGS[@]}" >"$WORK/sink.out" 2>&1) &
  SINK_PID=$!
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$PORT/stats" >/dev/null 2>&1 && break
    kill -0 "$SINK_PID" 2>/dev/null || { cat "$WORK/sink.out"; exit 1; }
    sleep 0.5
  done
  echo "engine: $(cd "$WORK/peer" && timeout 600 bash -c "$ENGINE")"
  echo "sink: $(curl -sf "http://127.0.0.1:$PORT/stats?reset=1")"
fi
