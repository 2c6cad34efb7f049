#!/usr/bin/env bash
# scripts/check-deps.sh on made-up trees: it must name every include that breaks a rule and
# fail, and pass a tree that keeps the rules.
set -euo pipefail
check=${1:?usage: check_deps_test.sh path/to/check-deps.sh}
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
failures=0
expect() {  # description condition...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; failures=$((failures + 1)); fi
}

mkdir -p "$tree"/src/{common,news,webpush,http,store/sqlite,site,newsroom,fanout,pushservice,app}
printf '#include "news/article.h"\n#include "store/site_store.h"\n#include <vector>\n' \
  >"$tree/src/site/pages.cc"
printf '#include "news/alert_queue.h"\n#include "store/delivery_store.h"\n' >"$tree/src/fanout/engine.h"
printf '#include "common/clock.h"\n' >"$tree/src/webpush/vapid.h"
printf '#include "store/sqlite/sqlite_site_store.h"\n#include "newsroom/newsroom_api.h"\n' \
  >"$tree/src/app/serve.cc"
out=$("$check" "$tree" 2>&1) && status=0 || status=$?
expect "a tree that keeps the rules passes" test "$status" -eq 0

printf '#include "newsroom/newsroom_api.h"\n' >>"$tree/src/site/pages.cc"
printf '  #  include "store/sqlite/sqlite_site_store.h"\n' >>"$tree/src/fanout/engine.h"
printf '#include "store/error.h"\n' >>"$tree/src/webpush/vapid.h"
printf '#include "site/pages.h"\n' >"$tree/src/news/article.h"
printf '#include "fanout/engine.h"\n' >"$tree/src/store/site_store.h"
printf '#include "news/alert.h"\n#include "store/postgres/pg_site_store.h"\n' \
  >"$tree/src/newsroom/api.cc"
out=$("$check" "$tree" 2>&1) && status=0 || status=$?
expect "a tree that breaks rules fails" test "$status" -eq 1
for line in \
  'src/site/pages.cc:4: #include "newsroom/newsroom_api.h": site may not include newsroom' \
  'src/fanout/engine.h:3: #include "store/sqlite/sqlite_site_store.h": fanout may not include store/sqlite' \
  'src/webpush/vapid.h:2: #include "store/error.h": webpush may include only common (and itself)' \
  'src/news/article.h:1: #include "site/pages.h": news may include only itself' \
  'src/store/site_store.h:1: #include "fanout/engine.h": store may not include fanout' \
  'src/newsroom/api.cc:2: #include "store/postgres/pg_site_store.h": newsroom may not include store/postgres' \
  '6 include(s) break the dependency rules'; do
  expect "reports: $line" grep -qF "$line" <<<"$out"
done
expect "app may include anything" bash -c '! grep -q "src/app/" <<<"$1"' _ "$out"

if ((failures > 0)); then
  echo "$out"
  exit 1
fi
