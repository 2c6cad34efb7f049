#!/usr/bin/env bash
# Runs the Web Push micro-benchmarks beside `openssl speed` and npm web-push, in one run, each
# pinned to the same core, and prints a Markdown table with the ratios docs/benchmarks.md records.
# Usage: bench/webpush/run.sh [build-dir]      (build first: scripts/test.sh or cmake + ninja)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BENCH="$BUILD/bench/webpush/webpush_benchmark"
CPU=${BENCH_CPU:-0}
[ -x "$BENCH" ] || { echo "run.sh: $BENCH not built" >&2; exit 1; }
[ -d node_modules/web-push ] || { echo "run.sh: run scripts/install-deps.sh first (npm modules)" >&2; exit 1; }
pin() { if command -v taskset >/dev/null; then taskset -c "$CPU" "$@"; else "$@"; fi; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== openssl speed (OpenSSL $(openssl version | cut -d' ' -f2), CPU $CPU)" >&2
pin openssl speed -seconds 3 -mr ecdhp256 ecdsap256 > "$out/speed.txt" 2>/dev/null
echo "== flashwire webpush_benchmark" >&2
pin "$BENCH" --benchmark_min_time=2 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=json > "$out/ours.json"
echo "== npm web-push generateRequestDetails" >&2
for i in 1 2 3; do pin node bench/webpush/peer_web_push.mjs --seconds 3; done > "$out/peer.jsonl"

node - "$out" <<'JS'
const fs = require('fs');
const dir = process.argv[2];
// openssl speed -mr lines: +F4:<n>:<bits>:<sign/s>:<verify/s> (ECDSA), +F5:<n>:<bits>:<ops/s> (ECDH)
const speed = fs.readFileSync(`${dir}/speed.txt`, 'utf8').split('\n');
const ecdsa = speed.find(l => l.startsWith('+F4:')).split(':');
const ecdh = speed.find(l => l.startsWith('+F5:')).split(':');
const ecdhUs = 1e6 / Number(ecdh[3]);
const ours = JSON.parse(fs.readFileSync(`${dir}/ours.json`, 'utf8')).benchmarks
  .filter(b => b.aggregate_name === 'median');
const us = name => {
  const b = ours.find(x => x.run_name === name);
  return b.cpu_time / (b.time_unit === 'ns' ? 1000 : 1);
};
const peers = fs.readFileSync(`${dir}/peer.jsonl`, 'utf8').trim().split('\n').map(JSON.parse);
const peerRates = peers.map(p => p.msgs_per_cpu_s).sort((a, b) => a - b);
const peerMedian = peerRates[Math.floor(peerRates.length / 2)];
const floorUs = ecdhUs + us('BM_Floor_KeyGeneration') + us('BM_Floor_HkdfAndGcm');
const fresh = us('BM_EncryptFreshKey');
const row = (what, micro, note = '') =>
  `| ${what} | ${micro.toFixed(1)} | ${Math.round(1e6 / micro).toLocaleString('en-US')} | ${note} |`;
console.log('| operation (300-byte alert) | µs per op (CPU) | ops/s per core | note |');
console.log('|---|---:|---:|---|');
console.log(row('openssl speed ecdhp256 (derive)', ecdhUs));
console.log(row('openssl speed ecdsap256 sign', 1e6 / Number(ecdsa[3])));
console.log(row('openssl speed ecdsap256 verify', 1e6 / Number(ecdsa[4])));
console.log(row('floor: ECDH derive (openssl) + key generation + HKDF/GCM', floorUs,
  `keygen ${us('BM_Floor_KeyGeneration').toFixed(1)} µs, HKDF+GCM ${us('BM_Floor_HkdfAndGcm').toFixed(1)} µs`));
console.log(row('**encrypt, fresh key per message**', fresh,
  `**${(fresh / floorUs).toFixed(2)}× the floor; ${(peerMedian ? (1e6 / fresh) / peerMedian : 0).toFixed(1)}× web-push**`));
console.log(row('encrypt, per-broadcast key (opt-in)', us('BM_EncryptBroadcastKey')));
console.log(row('decrypt (user-agent side)', us('BM_Decrypt')));
console.log(row('VAPID header, cached per origin', us('BM_VapidHeaderCached')));
console.log(row('VAPID header, signed every time', us('BM_VapidHeaderUncached')));
console.log(row(`npm ${peers[0].peer} generateRequestDetails (median of ${peers.length})`, 1e6 / peerMedian,
  `runs: ${peerRates.join(', ')} msgs/CPU-s`));
JS
