#!/usr/bin/env bash
# Installs what is missing, builds flashwire, and runs `flashwire serve` with the embedded
# defaults. Extra arguments go to `flashwire serve`.
# Usage: scripts/run.sh [serve options]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "${JOBS:-$(nproc)}" --target flashwire
exec build/src/app/flashwire serve "$@"
