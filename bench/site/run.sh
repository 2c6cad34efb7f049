#!/usr/bin/env bash
# Article pages, Flashwire vs nginx, in one run: `flashwire serve` (`[http] threads = N`, pages
# from its render cache) and Debian's nginx (`worker_processes N`, serving the very bytes
# Flashwire served, from a file), for each N in WORKERS, are loaded in turn by wrk over keep-alive
# connections on loopback, first with `Accept-Encoding: identity`, then with `gzip`. Prints each
# run's requests/s and CPU use, the medians, the ratio flashwire/nginx per N, the server CPU per
# request of each N against the first, and the response sizes, as Markdown, and cleans up every
# process and file.
# All traffic stays on 127.0.0.1; every step has a time limit.
#
# Usage: bench/site/run.sh [build-dir]      (default build-dir: build; if build-dir/src/app/flashwire
#                                            is missing and build-dir is a CMake build, it is built)
# Needs: wrk, nginx (nginx-light), curl, taskset (scripts/install-deps.sh installs them).
#
# Knobs (environment variables, defaults in brackets):
#   RUNS [3] runs per server and encoding, alternating the servers (A B C D, then D C B A, ...)
#   WORKERS [1] server threads / worker processes, a list: "1 2" runs four servers (flashwire and
#   nginx with 1, and with 2), all started at once, the Flashwire ones on one data directory
#   THREADS [1]  CONNECTIONS [64]  DURATION [10] seconds   wrk's -t, -c, -d for every run
#   WARMUP [2] seconds of wrk against each server before each encoding's runs
#   SLUG [harbour-bridge-closed-after-ship-strike] demo article to fetch
#   GZIP [1] (0: skip the Accept-Encoding: gzip pair)
#   SERVER_CPU [1]  WRK_CPU [0]   CPU lists as taskset -c takes them ("1", "0-1"); pinning is
#   skipped when taskset cannot use them
#   QUIET_MAX [10] percent  QUIET_WAIT [300] seconds: before each run, wait up to QUIET_WAIT for
#   other processes' CPU use to fall to QUIET_MAX, then run regardless (it says so); a run during
#   which other processes used more than QUIET_MAX % of one CPU is marked "disturbed"
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
FLASHWIRE="$BUILD/src/app/flashwire"

RUNS=${RUNS:-3}
WORKERS=${WORKERS:-1}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
SLUG=${SLUG:-harbour-bridge-closed-after-ship-strike}
GZIP=${GZIP:-1}
SERVER_CPU=${SERVER_CPU:-1}
WRK_CPU=${WRK_CPU:-0}
QUIET_MAX=${QUIET_MAX:-10}
QUIET_WAIT=${QUIET_WAIT:-300}

say() { echo "run.sh: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    die "$tool is needed (scripts/install-deps.sh installs it)"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$FLASHWIRE" ]; then
  [ -f "$BUILD/CMakeCache.txt" ] || die "$FLASHWIRE not built (scripts/test.sh, or cmake + ninja)"
  say "building $FLASHWIRE"
  cmake --build "$BUILD" --target flashwire >&2
fi

pinned() {  # pinned CPU: the command prefix that runs a program on that CPU (nothing without taskset)
  if command -v taskset >/dev/null && taskset -c "$1" true 2>/dev/null; then echo "taskset -c $1"; fi
}
read -r -a PIN_SERVER <<< "$(pinned "$SERVER_CPU")"
read -r -a PIN_WRK <<< "$(pinned "$WRK_CPU")"
if [ ${#PIN_SERVER[@]} -eq 0 ] || [ ${#PIN_WRK[@]} -eq 0 ] || [ "$SERVER_CPU" = "$WRK_CPU" ]; then
  say "WARNING: servers and wrk are not pinned to separate CPUs ($(nproc) CPUs); figures are rougher"
fi

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d /tmp/flashwire-bench-site.XXXXXX)
declare -A URL PID  # by server name: flashwire-N, nginx-N
WRK_PID=
stop_pid() {  # stop_pid PID: SIGTERM, then SIGKILL after 5 s
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$WRK_PID"  # timeout, which passes the signal on to wrk
  local pid
  for pid in "${PID[@]}"; do stop_pid "$pid"; done  # an nginx master's workers exit with it
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# busy_percent, wait_for_quiet
# shellcheck source=bench/quiet.sh
source bench/quiet.sh  # the working directory is the repository root

# --- Flashwire: a fresh data directory with the demo articles, shared by every instance. ------
mkdir -p "$WORK/flashwire"
start_flashwire() {  # start_flashwire N: `serve` with N threads; sets URL and PID of flashwire-N
  local name=flashwire-$1 dir=$WORK/flashwire/$1 url='' port
  mkdir -p "$dir"
  printf '[http]\nthreads = %d\n' "$1" > "$dir/flashwire.toml"
  for _ in $(seq 20); do
    port=$((20000 + RANDOM % 40000))
    ss -Htln "sport = :$port" 2>/dev/null | grep -q . && continue
    # One public origin for all: pages name it, and every instance must serve the same bytes.
    FLASHWIRE_DEMO=1 "${PIN_SERVER[@]}" "$FLASHWIRE" serve --listen "127.0.0.1:$port" \
      --base-url https://news.example --config "$dir/flashwire.toml" \
      --data "$WORK/flashwire/data" > "$dir/out.log" 2> "$dir/err.log" &
    PID[$name]=$!
    for _ in $(seq 150); do
      if grep -q 'site:' "$dir/out.log"; then url=http://127.0.0.1:$port; break; fi
      kill -0 "${PID[$name]}" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$url" ] && break
    stop_pid "${PID[$name]}"; PID[$name]=
  done
  [ -n "$url" ] || { cat "$dir/err.log" >&2; die "flashwire serve ($1 threads) did not start"; }
  URL[$name]=$url
  say "$name: flashwire serve pid ${PID[$name]} on $url"
}
for workers in $WORKERS; do
  [[ "$workers" =~ ^[1-9][0-9]?$ ]] || die "WORKERS: whole numbers from 1 to 99, got '$workers'"
done
read -r -a WORKER_COUNTS <<< "$WORKERS"
start_flashwire "${WORKER_COUNTS[0]}"  # the first makes the demo content; the others read it
FLASHWIRE_URL=${URL[flashwire-${WORKER_COUNTS[0]}]}
PAGE=/articles/$SLUG

# --- The page's bytes, as Flashwire serves them: identity and gzip. -------------------------
DOCROOT=$WORK/nginx/html
mkdir -p "$DOCROOT/articles"
curl -sS --fail --max-time 10 -D "$WORK/identity.headers" -o "$DOCROOT$PAGE" "$FLASHWIRE_URL$PAGE" ||
  die "cannot fetch $PAGE from flashwire (is SLUG a demo article?)"
header() {  # header FILE NAME: that header's value in a curl -D dump
  awk -v name="$2" 'tolower($0) ~ "^" tolower(name) ":" {
    sub(/^[^:]*:[[:space:]]*/, ""); sub(/\r$/, ""); print; exit }' "$1"
}
CONTENT_TYPE=$(header "$WORK/identity.headers" Content-Type)
[ -n "$CONTENT_TYPE" ] || die "flashwire sent no Content-Type for $PAGE"
if [ "$GZIP" = 1 ]; then
  # Without --compressed curl keeps the body as sent: Flashwire's own gzip copy, byte for byte.
  curl -sS --fail --max-time 10 -H 'Accept-Encoding: gzip' -D "$WORK/gzip.headers" \
    -o "$DOCROOT$PAGE.gz" "$FLASHWIRE_URL$PAGE"
  if [ "$(header "$WORK/gzip.headers" Content-Encoding)" != gzip ]; then
    say "flashwire does not gzip $PAGE; skipping the gzip pair"
    rm -f "$DOCROOT$PAGE.gz"
    GZIP=0
  fi
fi

# --- nginx: our own configuration, pid file, logs and temp paths; never the system's. --------
# N worker processes, the peer of Flashwire's N server threads. Run as the current user (as
# root, the worker would otherwise switch to nobody, who cannot read the private temp dir).
write_nginx_conf() {  # write_nginx_conf PORT WORKERS DIR
  local user_line=""
  [ "$(id -u)" -eq 0 ] && user_line="user $(id -un) $(id -gn);"
  cat > "$3/nginx.conf" <<EOF
# Written by bench/site/run.sh for one benchmark run.
$user_line
daemon off;
master_process on;
worker_processes $2;
pid $3/nginx.pid;
error_log $3/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $3/temp/body;
  proxy_temp_path $3/temp/proxy;
  fastcgi_temp_path $3/temp/fastcgi;
  uwsgi_temp_path $3/temp/uwsgi;
  scgi_temp_path $3/temp/scgi;
  # A static-file set-up as a site would run it: sendfile, open files cached.
  sendfile on;
  tcp_nopush on;
  open_file_cache max=64 inactive=60s;
  # Both servers keep every connection for the whole run.
  keepalive_timeout 75s;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$1;
    root $DOCROOT;
    location /articles/ {
      types { }
      default_type "$CONTENT_TYPE";
      gzip_static on;
      gzip_vary on;
    }
  }
}
EOF
}
start_nginx() {  # start_nginx N: nginx with N workers; sets URL and PID of nginx-N
  local name=nginx-$1 dir=$WORK/nginx/$1 url='' port
  mkdir -p "$dir/temp" "$dir/logs"
  for _ in $(seq 20); do
    port=$((20000 + RANDOM % 40000))
    ss -Htln "sport = :$port" 2>/dev/null | grep -q . && continue
    write_nginx_conf "$port" "$1" "$dir"
    "${PIN_SERVER[@]}" "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
      > "$dir/logs/stdout.log" 2>&1 &
    PID[$name]=$!
    for _ in $(seq 50); do
      if curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$port$PAGE"; then
        url=http://127.0.0.1:$port; break
      fi
      kill -0 "${PID[$name]}" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$url" ] && break
    stop_pid "${PID[$name]}"; PID[$name]=
  done
  [ -n "$url" ] || { cat "$dir/logs/"*.log >&2; die "nginx ($1 workers) did not start"; }
  URL[$name]=$url
  say "$name: nginx $("$NGINX" -v 2>&1 | sed 's|.*/||') master pid ${PID[$name]} on $url"
}
SERVERS=()
for workers in "${WORKER_COUNTS[@]}"; do
  [ -n "${URL[flashwire-$workers]:-}" ] || start_flashwire "$workers"
  start_nginx "$workers"
  SERVERS+=("flashwire-$workers" "nginx-$workers")
done

# Both must serve the same bytes with the same type, and keep connections alive.
check_same() {  # check_same ENCODING-HEADER SUFFIX
  local name
  curl -sS --fail --max-time 10 -H "Accept-Encoding: $1" -o "$WORK/flashwire$2.body" \
    "$FLASHWIRE_URL$PAGE"
  for name in "${SERVERS[@]}"; do
    local url=${URL[$name]}
    curl -sS --fail --max-time 10 -H "Accept-Encoding: $1" -D "$WORK/$name$2.headers" \
      -o "$WORK/$name$2.body" "$url$PAGE"
    cmp -s "$WORK/$name$2.body" "$WORK/flashwire$2.body" || die "$name serves other bytes than flashwire ($1)"
    [ "$(header "$WORK/$name$2.headers" Content-Type)" = "$CONTENT_TYPE" ] ||
      die "$name sends another Content-Type ($1)"
    # Two requests in one curl: the second must reuse the first one's connection.
    [ "$(curl -sS --max-time 10 -H "Accept-Encoding: $1" -o /dev/null -o /dev/null \
        -w '%{num_connects} ' "$url$PAGE" "$url$PAGE")" = "1 0 " ] ||
      die "$name does not keep the connection alive ($1)"
  done
}
check_same identity ""
[ "$GZIP" = 1 ] && check_same gzip .gz

# --- CPU accounting, in clock ticks: the servers' processes, wrk, and the whole machine. -------
proc_ticks() {  # proc_ticks PID...: utime + stime of those processes so far
  local total=0 pid fields
  for pid in "$@"; do
    fields=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    total=$((total + $(awk '{ print $12 + $13 }' <<< "$fields")))
  done
  echo "$total"
}
machine_ticks() {  # busy ticks of all CPUs so far
  awk '$1 == "cpu" { busy = 0; for (i = 2; i <= 9 && i <= NF; i++) if (i != 5 && i != 6) busy += $i
    print busy }' /proc/stat
}
children_ticks() {  # children_ticks FILE: CPU ticks of finished children in `times` output FILE
  sed -n 2p "$1" | awk -v hz="$HZ" '{ t = 0
    for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += 60 * p[1] + p[2] }
    printf "%.0f\n", t * hz }'
}
server_pids() {  # server_pids NAME: the processes doing that server's work
  local pid=${PID[$1]}
  if [[ "$1" == flashwire-* ]]; then
    echo "$pid"  # its threads are counted in the process's times
  else  # the master and its workers
    echo "$pid $(cat "/proc/$pid/task/$pid/children" 2>/dev/null)"
  fi
}
HZ=$(getconf CLK_TCK)

# run_wrk NAME ENCODING SECONDS: one wrk run. Writes "requests/s server% wrk% others%" to
# $WORK/run.txt, each percentage of one CPU over the run ("others": every other process). Runs in
# this shell, not in a $(...) subshell: `times` then counts wrk, and a signal ends the run at once
# (wrk runs in the background; `wait` gives way to the trap, which stops it).
run_wrk() {
  local name=$1 encoding=$2 seconds=$3 url=${URL[$1]} out=$WORK/wrk.out
  local -a pids
  read -r -a pids <<< "$(server_pids "$name")"
  local server0 server1 wrk0 wrk1 machine0 machine1 status=0
  server0=$(proc_ticks "${pids[@]}"); machine0=$(machine_ticks); times > "$WORK/times.0"
  timeout $((seconds + 30)) "${PIN_WRK[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" \
    -H "Accept-Encoding: $encoding" "$url$PAGE" > "$out" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || status=$?
  WRK_PID=
  times > "$WORK/times.1"; machine1=$(machine_ticks); server1=$(proc_ticks "${pids[@]}")
  (( status == 0 )) || { cat "$out" >&2; die "wrk against $name failed (status $status)"; }
  wrk0=$(children_ticks "$WORK/times.0"); wrk1=$(children_ticks "$WORK/times.1")
  if grep -q -E 'Non-2xx|Socket errors' "$out"; then
    say "$name ($encoding): wrk saw errors:"; grep -E 'Non-2xx|Socket errors' "$out" >&2
  fi
  awk -v server=$((server1 - server0)) -v wrk=$((wrk1 - wrk0)) -v machine=$((machine1 - machine0)) \
      -v hz="$HZ" -v secs="$seconds" '
    /^Requests\/sec:/ { rps = $2 }
    END { others = machine - server - wrk; if (others < 0) others = 0
      printf "%.0f %.0f %.0f %.0f\n", rps, 100 * server / hz / secs, 100 * wrk / hz / secs,
        100 * others / hz / secs }' "$out" > "$WORK/run.txt"
}

RESULTS=$WORK/results.txt
: > "$RESULTS"
encodings=(identity)
[ "$GZIP" = 1 ] && encodings+=(gzip)
for encoding in "${encodings[@]}"; do
  for name in "${SERVERS[@]}"; do
    say "warm-up: $name, $encoding, ${WARMUP} s"
    run_wrk "$name" "$encoding" "$WARMUP"
  done
  for run in $(seq "$RUNS"); do
    order=("${SERVERS[@]}")
    if (( run % 2 == 0 )); then
      order=()
      for (( i = ${#SERVERS[@]} - 1; i >= 0; i-- )); do order+=("${SERVERS[i]}"); done
    fi
    for name in "${order[@]}"; do
      wait_for_quiet
      run_wrk "$name" "$encoding" "$DURATION"
      read -r rps server_cpu wrk_cpu others_cpu < "$WORK/run.txt"
      say "run $run, $encoding, $name: $rps requests/s (CPU: server $server_cpu %, wrk $wrk_cpu %," \
        "other processes $others_cpu %)"
      echo "$encoding $run $name $rps $server_cpu $wrk_cpu $others_cpu" >> "$RESULTS"
    done
  done
done

# --- Report. ---------------------------------------------------------------------------------
bytes() { wc -c < "$1" | tr -d ' '; }
echo "== Article pages: Flashwire vs nginx"
echo
echo "page $PAGE; server threads / nginx workers: ${WORKER_COUNTS[*]}; load average at the start: $LOAD_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg); wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s after ${WARMUP} s of warm-up;" \
  "servers on CPU $SERVER_CPU, wrk on CPU $WRK_CPU; $(nproc) CPUs: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "$(wrk --version 2>&1 | head -1 | awk '{ print "wrk", $2 }'), $("$NGINX" -v 2>&1 | sed 's|.*: ||'), flashwire $FLASHWIRE"
echo
echo "| encoding | response bytes: flashwire (headers + body) | nginx (headers + body) |"
echo "|---|---:|---:|"
for encoding in "${encodings[@]}"; do
  suffix=""; [ "$encoding" = gzip ] && suffix=.gz
  first=${WORKER_COUNTS[0]}
  echo "| $encoding | $(bytes "$WORK/flashwire-$first$suffix.headers") + $(bytes "$WORK/flashwire-$first$suffix.body")" \
    "| $(bytes "$WORK/nginx-$first$suffix.headers") + $(bytes "$WORK/nginx-$first$suffix.body") |"
done
echo
awk -v quiet_max="$QUIET_MAX" -v workers="${WORKER_COUNTS[*]}" '
  function median(list, n,   sorted, i, j, t) {
    for (i = 1; i <= n; i++) sorted[i] = list[i]
    for (i = 2; i <= n; i++) for (j = i; j > 1 && sorted[j - 1] > sorted[j]; j--) {
      t = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = t }
    return n % 2 ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
  }
  function fmt(x,   s, r) { s = sprintf("%.0f", x); r = ""
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return s r }
  # Server CPU per request, in µs: CPU % of one core over the run, divided by the requests.
  function us(cpu, rps) { return rps ? 10000 * cpu / rps : 0 }
  { line[++lines] = $0
    enc = $1; if (!(enc in seen)) { seen[enc] = 1; order[++encs] = enc }
    key = enc SUBSEP $3; k = ++n[key]; rps[key, k] = $4; cost[key, k] = us($5, $4) }
  END {
    print "| encoding | run | server | requests/s | server CPU % | server CPU µs per request | wrk CPU % | other processes CPU % |"
    print "|---|---:|---|---:|---:|---:|---:|---:|"
    for (i = 1; i <= lines; i++) {
      split(line[i], f, " ")
      disturbed = f[7] > quiet_max ? " (disturbed)" : ""
      if (disturbed) disturbed_runs++
      printf "| %s | %d | %s | %s | %d | %.1f | %d | %d%s |\n", f[1], f[2], f[3], fmt(f[4]), f[5],
        us(f[5], f[4]), f[6], f[7], disturbed
    }
    print ""
    print "| encoding | threads / workers | flashwire req/s (median) | nginx req/s (median) | **flashwire/nginx** | server CPU µs per request, medians (flashwire / nginx) |"
    print "|---|---:|---:|---:|---:|---|"
    counts = split(workers, w, " ")
    for (e = 1; e <= encs; e++) {
      enc = order[e]
      for (c = 1; c <= counts; c++) {
        a = enc SUBSEP "flashwire-" w[c]; b = enc SUBSEP "nginx-" w[c]
        delete fr; delete nr; delete fc; delete nc
        for (r = 1; r <= n[a]; r++) { fr[r] = rps[a, r]; fc[r] = cost[a, r] }
        for (r = 1; r <= n[b]; r++) { nr[r] = rps[b, r]; nc[r] = cost[b, r] }
        mf = median(fr, n[a]); mn = median(nr, n[b])
        fcost[enc, c] = median(fc, n[a])
        printf "| %s | %d | %s | %s | **%.2f** | %.1f / %.1f |\n", enc, w[c], fmt(mf), fmt(mn),
          mn ? mf / mn : 0, fcost[enc, c], median(nc, n[b])
      }
    }
    if (counts > 1) {
      print ""
      print "| encoding | flashwire threads | server CPU µs per request (median) | against " w[1] " thread(s) |"
      print "|---|---:|---:|---:|"
      for (e = 1; e <= encs; e++) for (c = 1; c <= counts; c++) {
        enc = order[e]
        printf "| %s | %d | %.1f | %+.1f %% |\n", enc, w[c], fcost[enc, c],
          fcost[enc, 1] ? 100 * (fcost[enc, c] / fcost[enc, 1] - 1) : 0
      }
    }
    # Other work takes CPU from the pinned processes: say so, rather than let it pass for a result.
    if (disturbed_runs) {
      printf "\nWARNING: in %d of %d runs other processes used more than %d %% of a CPU; " \
        "those figures are disturbed: re-run on a quiet machine.\n", disturbed_runs, lines, quiet_max
    }
  }' "$RESULTS"
