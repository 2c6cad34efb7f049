#!/usr/bin/env bash
# Installs every Debian package and npm module Flashwire needs to build, run and test.
# Idempotent: packages already present are skipped, so a second run costs a few seconds.
# Usage: scripts/install-deps.sh            (needs root or sudo for apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."

# Build toolchain and libraries (Debian 12). Boost 1.81 is named explicitly: 1.74, the
# default, lacks Boost.JSON, Boost.URL and asio::as_tuple.
DEB_PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libssl-dev openssl
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libcurl4-openssl-dev libnghttp2-dev libsqlite3-dev sqlite3
  # PostgreSQL store: the client library, and the server the store tests start a throwaway
  # cluster of (scripts/pg-test-cluster.sh; no system service is used).
  libpq-dev postgresql-15
  libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev libexpected-dev
  libcmark-gfm-dev libcmark-gfm-extensions-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format
  # Fuzzing (scripts/fuzz.sh): clang 14 and its libFuzzer and sanitizer runtimes.
  clang-14 libclang-rt-14-dev
  nodejs
  # Browser end-to-end tests (tests/e2e), both driven by npm puppeteer-core: headless Firefox
  # ESR (push) and headless Chromium (page tests). Chromium runs headless without its
  # recommended packages (checked on a fresh Debian 12; text renders with fonts-dejavu-core).
  firefox-esr
  chromium
  # xmllint: the browser tests validate the sitemaps against their schemas.
  libxml2-utils
  # Article-page benchmark (bench/site/run.sh): the load generator and the peer it is measured
  # against. The benchmark runs nginx itself, with its own configuration, on a loopback port.
  wrk
  nginx-light
)

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Packages that ship a service (nginx) would start it on install through invoke-rc.d: where no
# systemd runs (containers, CI) that starts the system nginx on port 80, and fails the install if
# the port is taken. Nothing here needs a system service, so while installing, a policy-rc.d
# (exit status 101: "action not allowed") keeps them stopped. It is put in place only where none
# exists, and removed again afterwards.
POLICY_RC=/usr/sbin/policy-rc.d
remove_policy_rc() { $SUDO rm -f "$POLICY_RC"; }

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  own_policy_rc=no
  if [ ! -e "$POLICY_RC" ]; then
    trap remove_policy_rc EXIT
    printf '#!/bin/sh\n# Written by install-deps.sh for the duration of one install.\nexit 101\n' |
      $SUDO tee "$POLICY_RC" >/dev/null
    $SUDO chmod 755 "$POLICY_RC"
    own_policy_rc=yes
  fi
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
  if [ "$own_policy_rc" = yes ]; then remove_policy_rc; trap - EXIT; fi
fi

# npm is bundled with some Node.js builds and packaged separately by Debian.
if ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get install -y -q --no-install-recommends npm
fi

# Node modules for the interoperability tests, benchmarks and browser end-to-end tests (exact
# versions, package-lock.json). puppeteer-core never downloads a browser; it drives firefox-esr
# and chromium from the Debian packages above; lighthouse (the reader pages' audit in
# tests/e2e/reader_side.test.mjs) runs on that same chromium.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "install-deps: all dependencies present"
