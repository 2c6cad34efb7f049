#!/usr/bin/env bash
# The vendor path, measured (docs/benchmarks.md, "The vendor path"): three scenarios against the
# peer harness's sink (../shared/peers/web-push-node/sink.js), all on 127.0.0.1.
#
#   side    one sitting, RUNS rounds alternating: `flashwire fanout` over cleartext HTTP/1.1,
#           `flashwire fanout` over HTTPS + HTTP/2, npm web-push over HTTPS — the same N
#           subscriptions, senders pinned to SENDER_CPU, sinks (verifying) to SINK_CPU; medians
#           of messages per sender CPU-second and the ratios between them.
#   quota   HTTPS + HTTP/2 into a sink with --rate-limit RATE (429 + Retry-After: 1 beyond it):
#           time to deliver N, share of the quota used, share of requests answered 429,
#           duplicates (verifying sink).
#   vendors three HTTPS sinks as three push services, N3 subscriptions interleaved 60/25/15 over
#           them, the first capped at CAP1/s (--rate-limit): per origin, the time until 90 % and
#           100 % of its messages were accepted, beside the ideal (its share at its cap, or the
#           whole run at the sender's uncapped speed).
#
# Usage: bench/fanout/vendor.sh [build-dir]            (default build-dir: build)
# Knobs: SCENARIOS ["side quota vendors"]  N [20000]  RUNS [3]  RATE [5000]  N3 [200000]
#        CAP1 [10000]  C [256]  THREADS [0]  PORT [8190] (uses PORT..PORT+5)  SENDER_CPU [0]
#        SINK_CPU [1]  PEER_DIR [../shared/peers/web-push-node]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${1:-build}
FLASHWIRE="$ROOT/$BUILD/src/app/flashwire"
[ -x "$FLASHWIRE" ] || { echo "vendor.sh: $FLASHWIRE not built" >&2; exit 1; }
PEER_DIR=${PEER_DIR:-$ROOT/../shared/peers/web-push-node}
[ -f "$PEER_DIR/sink.js" ] || { echo "vendor.sh: no peer harness at $PEER_DIR" >&2; exit 1; }
[ -d "$ROOT/node_modules/web-push" ] || { echo "vendor.sh: run scripts/install-deps.sh first" >&2; exit 1; }

SCENARIOS=${SCENARIOS:-"side quota vendors"}
N=${N:-20000}
RUNS=${RUNS:-3}
RATE=${RATE:-5000}
N3=${N3:-200000}
CAP1=${CAP1:-10000}
C=${C:-256}
THREADS=${THREADS:-0}
PORT=${PORT:-8190}
SENDER_CPU=${SENDER_CPU:-0}
SINK_CPU=${SINK_CPU:-1}

WORK=$(mktemp -d /tmp/flashwire-vendor-bench.XXXXXX)
SINKS=()
stop_sinks() {
  for pid in "${SINKS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${SINKS[@]}"; do wait "$pid" 2>/dev/null || true; done
  SINKS=()
}
cleanup() { stop_sinks; rm -rf "$WORK"; }
trap cleanup EXIT

PIN_SINK=() PIN_SENDER=()
if command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ]; then
  PIN_SINK=(taskset -c "$SINK_CPU") PIN_SENDER=(taskset -c "$SENDER_CPU")
fi
cp -r "$PEER_DIR" "$WORK/peer"
rm -rf "$WORK/peer/node_modules" "$WORK/peer/data"
ln -s "$ROOT/node_modules" "$WORK/peer/node_modules"
cd "$WORK/peer"
mkdir -p tls
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout tls/key.pem -out tls/cert.pem 2>/dev/null
export NODE_EXTRA_CA_CERTS=$PWD/tls/cert.pem

# stats SCHEME PORT [QUERY]: the sink's counters as one JSON line.
stats() { curl -sk "$1://127.0.0.1:$2/stats${3:-}"; }
# sink SCHEME PORT DATA-DIR [extra sink.js args…]: starts a sink and waits until it answers.
sink() {
  local scheme=$1 port=$2 data=$3
  shift 3
  local args=(--port "$port" "$@")
  [ "$scheme" = https ] && args+=(--tls tls/cert.pem,tls/key.pem)
  "${PIN_SINK[@]}" node sink.js "${args[@]}" >"$WORK/sink-$port.out" 2>&1 &
  SINKS+=($!)
  for _ in $(seq 300); do
    stats "$scheme" "$port" >/dev/null 2>&1 && return 0
    kill -0 "${SINKS[-1]}" 2>/dev/null || { cat "$WORK/sink-$port.out"; exit 1; }
    sleep 0.2
  done
  echo "vendor.sh: the sink on $port did not start" >&2
  exit 1
}
# data_for DIR SCHEME PORT: a copy of data/ in DIR with the endpoints moved to SCHEME://…:PORT
# (a verifying sink checks each JWT's audience against its own origin).
data_for() {
  mkdir -p "$1"
  cp data/vapid.json data/payload.json data/subs-private.jsonl "$1/"
  sed -E "s#\"endpoint\":\"https?://127\.0\.0\.1:[0-9]+/#\"endpoint\":\"$2://127.0.0.1:$3/#" data/subs.jsonl >"$1/subs.jsonl"
}
engine() {  # engine SUBS PUSH-HOST [more flashwire fanout args…]
  local subs=$1 host=$2
  shift 2
  "${PIN_SENDER[@]}" "$FLASHWIRE" fanout --subs "$subs" --vapid data/vapid.json \
    --payload data/payload.json --push-host "$host" --ca-file tls/cert.pem --concurrency "$C" \
    --threads "$THREADS" "$@"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const o=JSON.parse(s);console.log(process.argv[1].split(".").reduce((x,k)=>x[k],o))})' "$1"; }

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== scenarios: $SCENARIOS; N=$N RUNS=$RUNS RATE=$RATE N3=$N3 CAP1=$CAP1 C=$C THREADS=$THREADS"
node gen-subs.js --n "$N" --endpoint-base "https://127.0.0.1:$PORT/push" --out data >/dev/null

for scenario in $SCENARIOS; do
  case $scenario in
  side)
    echo "-- side by side: cleartext vs HTTPS/HTTP-2 vs web-push over HTTPS, $N messages, $RUNS rounds"
    data_for data-clear http $((PORT + 1))
    sink https "$PORT" data --verify data --expect "$N"
    sink http $((PORT + 1)) data-clear --verify data-clear --expect "$N"
    : >"$WORK/side.log"
    for run in $(seq "$RUNS"); do
      stats https "$PORT" "?reset=1" >/dev/null
      stats http $((PORT + 1)) "?reset=1" >/dev/null
      line=$(engine data-clear/subs.jsonl "http://127.0.0.1:$((PORT + 1))" || true)
      echo "clear $line" | tee -a "$WORK/side.log"
      echo "  sink: $(stats http $((PORT + 1)) "?reset=1")"
      line=$(engine data/subs.jsonl "https://127.0.0.1:$PORT" || true)
      echo "https $line" | tee -a "$WORK/side.log"
      echo "  sink: $(stats https "$PORT" "?reset=1")"
      line=$("${PIN_SENDER[@]}" node fanout.js --subs data/subs.jsonl --vapid data/vapid.json \
        --payload data/payload.json --concurrency "$C")
      echo "peer $line" | tee -a "$WORK/side.log"
      echo "  sink: $(stats https "$PORT" "?reset=1")"
    done
    for who in clear https peer; do
      m=$(grep "^$who " "$WORK/side.log" | cut -d' ' -f2- | while read -r l; do
        echo "$l" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const o=JSON.parse(s);console.log(o.msgs_per_cpu_s ?? Math.round(o.ok/o.cpu_s))})'
      done | median)
      eval "M_$who=$m"
      echo "median msgs per sender CPU-second, $who: $m"
    done
    echo "ratio https/clear: $(awk "BEGIN {printf \"%.3f\", $M_https / $M_clear}")  https/web-push: $(awk "BEGIN {printf \"%.2f\", $M_https / $M_peer}")"
    stop_sinks
    ;;
  quota)
    echo "-- quota: $N messages over HTTPS/HTTP-2 into a sink limited to $RATE/s"
    data_for data-quota https $((PORT + 2))
    sink https $((PORT + 2)) data-quota --verify data-quota --expect "$N" --rate-limit "$RATE"
    line=$(engine data-quota/subs.jsonl "https://127.0.0.1:$((PORT + 2))" || true)
    echo "engine: $line"
    s=$(stats https $((PORT + 2)) "?reset=1")
    echo "sink: $s"
    wall=$(echo "$line" | field wall_s)
    span=$(echo "$s" | field span_s)
    limited=$(echo "$s" | field rate_limited)
    received=$(echo "$s" | field received)
    awk -v n="$N" -v r="$RATE" -v w="$wall" -v sp="$span" -v l="$limited" -v rc="$received" 'BEGIN {
      printf "quota used: %.1f %% over the run (%d in %.2f s), %.1f %% first to last accept; 429s: %d of %d requests = %.2f %%\n",
        100 * n / w / r, n, w, 100 * (n - r / 10) / sp / r, l, l + rc, 100 * l / (l + rc) }'
    stop_sinks
    ;;
  vendors)
    echo "-- three vendors: $N3 subscriptions 60/25/15 over three HTTPS sinks, the first capped at $CAP1/s"
    mkdir -p data3
    node gen-subs.js --n "$N3" --endpoint-base "https://127.0.0.1:$((PORT + 3))/push" --out data3 >/dev/null
    cp data/vapid.json data/payload.json data3/
    P3=$((PORT + 3)) P4=$((PORT + 4)) P5=$((PORT + 5))
    awk -v p4="$P4" -v p5="$P5" '{ k = (NR - 1) % 20; if (k >= 12 && k < 17) sub(/127\.0\.0\.1:[0-9]+/, "127.0.0.1:" p4);
      else if (k >= 17) sub(/127\.0\.0\.1:[0-9]+/, "127.0.0.1:" p5); print }' data3/subs.jsonl >"$WORK/three.jsonl"
    n1=$(grep -c ":$P3/" "$WORK/three.jsonl") n2=$(grep -c ":$P4/" "$WORK/three.jsonl") n3=$(grep -c ":$P5/" "$WORK/three.jsonl")
    # three_origins LABEL [sink args for the first origin…]: one send of the mix into three fresh
    # sinks; origin_progress.mjs (pinned beside the sinks) records when each origin reached 90 %
    # and 100 % of its messages. Leaves "PORT t90 t100" lines in $WORK/LABEL.times.
    three_origins() {
      local label=$1 t0 poller
      shift
      sink https "$P3" data3 "$@"
      sink https "$P4" data3
      sink https "$P5" data3
      t0=$(date +%s%3N)
      "${PIN_SINK[@]}" node "$ROOT/bench/fanout/origin_progress.mjs" --t0 "$t0" --deadline 600 \
        "$P3:$n1" "$P4:$n2" "$P5:$n3" >"$WORK/$label.progress" &
      poller=$!
      engine "$WORK/three.jsonl" "https://127.0.0.1:$P3" --push-host "https://127.0.0.1:$P4" \
        --push-host "https://127.0.0.1:$P5" >"$WORK/$label.out" || true
      # The last answers reach the sinks' counters just before the sender exits; give the poller
      # two seconds to see them, then take what it has.
      for _ in $(seq 20); do kill -0 "$poller" 2>/dev/null || break; sleep 0.1; done
      kill -TERM "$poller" 2>/dev/null || true
      wait "$poller" || true
      echo "$label engine: $(cat "$WORK/$label.out")"
      : >"$WORK/$label.times"
      for port in "$P3" "$P4" "$P5"; do
        echo "$label origin :$port  sink: $(stats https "$port")"
        echo "$port $(node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))[process.argv[2]];console.log(`${o.t90 ?? "never"} ${o.t100 ?? "never"}`)' "$WORK/$label.progress" "$port")" >>"$WORK/$label.times"
      done
      stop_sinks
    }
    # First the same mix with no cap anywhere: what the sender does when nothing holds it back.
    # Then with the first origin capped: each uncapped origin's ideal is its time without the cap
    # (nothing may hold it up), the capped origin's is its share at its cap or that, if longer.
    three_origins uncapped
    three_origins capped --rate-limit "$CAP1"
    printf '| origin | messages | cap | 90 %% accepted | 100 %% accepted | ideal 100 %% | uncapped run: 90 %% / 100 %% |\n|---|---:|---:|---:|---:|---:|---|\n'
    for p in "$P3:$n1:$CAP1" "$P4:$n2:0" "$P5:$n3:0"; do
      IFS=: read -r port want cap <<<"$p"
      read -r _ c90 c100 < <(grep "^$port " "$WORK/capped.times")
      read -r _ u90 u100 < <(grep "^$port " "$WORK/uncapped.times")
      ideal=$(awk -v n="$want" -v c="$cap" -v u="$u100" 'BEGIN { i = u + 0; if (c > 0 && n / c > i) i = n / c; printf "%.2f s", i }')
      echo "| :$port | $want | $( [ "$cap" -gt 0 ] && echo "$cap/s" || echo none) | $c90 s | $c100 s | $ideal | $u90 s / $u100 s |"
    done
    echo "(times since the sender started, polled every 0.1 s)"
    ;;
  *) echo "vendor.sh: unknown scenario $scenario" >&2; exit 1 ;;
  esac
done
