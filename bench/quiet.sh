# shellcheck shell=bash
# Shared by the benchmark scripts (source it): waiting for a quiet machine before a measurement.
# Needs QUIET_MAX (percent) and QUIET_WAIT (seconds) set, and a function say() that prints a line.

# Percentage of all CPUs busy over the next 2 seconds.
busy_percent() {
  local a b
  a=$(head -1 /proc/stat); sleep 2; b=$(head -1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {
    n = split(a, x); split(b, y); total = 0; idle = 0
    for (i = 2; i <= 9 && i <= n; i++) { d = y[i] - x[i]; total += d; if (i == 5 || i == 6) idle += d }
    printf "%d", (total > 0 ? 100 * (total - idle) / total : 0) }'
}

# Waits (at most QUIET_WAIT s) until other processes leave the CPUs alone; runs anyway after that,
# saying so.
wait_for_quiet() {
  local busy waited=0
  while busy=$(busy_percent); (( busy > QUIET_MAX )); do
    if (( waited >= QUIET_WAIT )); then
      say "WARNING: the machine is still ${busy} % busy with other work after ${QUIET_WAIT} s; running anyway"
      return 0
    fi
    (( waited == 0 )) && say "the machine is ${busy} % busy with other work; waiting up to ${QUIET_WAIT} s"
    sleep 8; waited=$((waited + 10))
  done
  (( waited == 0 )) || say "machine quiet (${busy} % busy)"
}
