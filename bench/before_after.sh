#!/usr/bin/env bash
# Before/after in one sitting: the fan-out, article-page and push-service benchmarks of two
# checkouts (say, the commit before a refactoring and the one after), alternated round by round
# (A B, then B A, ...) on the same machine, each checkout running its own scripts against its
# own build. Each benchmark carries its own control: web-push for the fan-out, nginx for the
# pages; compare the Flashwire figures, and the ratios to the control, between A and B.
# `revalidate` measures the request path alone, for when the pages themselves differ between A
# and B: both `serve`s (demo content, one core each: CPU 1) answer the same article with 304 to
# wrk's If-None-Match (wrk on CPU 0), alternately, and the server CPU per request is printed.
#
# Usage: bench/before_after.sh TREE-A TREE-B            (each a checkout with a build in build/)
# Knobs: ROUNDS [3]  BENCHES ["fanout site pushservice revalidate"]  N [20000] fan-out messages
#        MESSAGES [100000] push-service messages  DURATION [5] seconds of wrk per page run
# Prints each run's output, prefixed with its round, tree and benchmark.
# Everything the scripts do stays on 127.0.0.1.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bench/before_after.sh TREE-A TREE-B" >&2; exit 2; }
A=$(cd "$1" && pwd) B=$(cd "$2" && pwd)
ROUNDS=${ROUNDS:-3}
BENCHES=${BENCHES:-"fanout site pushservice revalidate"}
N=${N:-20000}
MESSAGES=${MESSAGES:-100000}
DURATION=${DURATION:-5}
for tree in "$A" "$B"; do
  [ -x "$tree/build/src/app/flashwire" ] || { echo "before_after.sh: $tree/build/src/app/flashwire not built" >&2; exit 1; }
done
label() { [ "$1" = "$A" ] && echo A || echo B; }

WORK=$(mktemp -d /tmp/flashwire-before-after.XXXXXX)
SERVES=()
cleanup() {
  for pid in "${SERVES[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${SERVES[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
SLUG=harbour-bridge-closed-after-ship-strike
declare -A URL
start_serve() {  # start_serve TREE: `serve` on demo content, one core; sets URL[TREE]
  local tree=$1 dir pid port
  dir="$WORK/$(label "$tree")"
  mkdir -p "$dir"
  FLASHWIRE_DEMO=1 taskset -c 1 "$tree/build/src/app/flashwire" serve --listen 127.0.0.1:0 \
    --base-url https://news.example --data "$dir" >"$dir/out.log" 2>"$dir/err.log" &
  pid=$!
  SERVES+=("$pid")
  for _ in $(seq 100); do
    port=$(ss -ltnpH 2>/dev/null | grep "pid=$pid," | grep -o '127\.0\.0\.1:[0-9]*' | head -1 || true)
    [ -n "$port" ] && curl -sf -o /dev/null "http://$port/articles/$SLUG" && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/err.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$port" ] || { echo "before_after.sh: serve of $tree did not start" >&2; exit 1; }
  URL[$tree]="http://$port/articles/$SLUG"
  echo "$pid" >"$dir/pid"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_one() {  # run_one BENCH TREE: one run, output prefixed; the summary figures go to stdout
  local bench=$1 tree=$2 tag
  tag="round $3 $(label "$tree") $bench"
  case $bench in
  fanout)
    (cd "$tree" && SIZES=$N RUNS=1 BIG=0 bench/fanout/run.sh build) 2>&1 | sed "s/^/[$tag] /"
    ;;
  site)
    (cd "$tree" && RUNS=1 GZIP=0 DURATION=$DURATION QUIET_WAIT=30 bench/site/run.sh build) 2>&1 |
      sed "s/^/[$tag] /"
    ;;
  pushservice)
    (cd "$tree" && RUN_IDLE=0 MESSAGES=$MESSAGES QUIET_WAIT=30 bench/pushservice/run.sh build) 2>&1 |
      sed "s/^/[$tag] /"
    ;;
  revalidate)
    local url pid etag t0 t1 out
    url=${URL[$tree]}
    pid=$(cat "$WORK/$(label "$tree")/pid")
    etag=$(curl -sI "$url" | tr -d '\r' | awk 'tolower($1) == "etag:" {print $2}')
    taskset -c 0 wrk -t1 -c64 -d2s -H "If-None-Match: $etag" "$url" >/dev/null
    t0=$(cpu_ticks "$pid")
    out=$(taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" -H "If-None-Match: $etag" "$url")
    t1=$(cpu_ticks "$pid")
    echo "$out" | awk -v tag="$tag" -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
      '/requests in/ {n = $1} /Requests\/sec/ {r = $2}
       END {printf "[%s] 304 answers: %.0f req/s, server CPU %.2f us per request\n", tag, r, ticks * 1e6 / hz / n}'
    ;;
  *) echo "before_after.sh: unknown benchmark $bench" >&2; exit 2 ;;
  esac
}

echo "== A: $A ($(git -C "$A" log -1 --format='%h %s' | cut -c1-70))"
echo "== B: $B ($(git -C "$B" log -1 --format='%h %s' | cut -c1-70))"
echo "== $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg); rounds: $ROUNDS"
case " $BENCHES " in *" revalidate "*) start_serve "$A"; start_serve "$B" ;; esac
for round in $(seq "$ROUNDS"); do
  order=("$A" "$B")
  (( round % 2 == 0 )) && order=("$B" "$A")
  for bench in $BENCHES; do
    for tree in "${order[@]}"; do run_one "$bench" "$tree" "$round"; done
  done
done
