#!/usr/bin/env bash
# Checks the dependency rules between the modules of src/ over their `#include "module/..."`
# lines (docs/architecture.md draws them). Prints every include that breaks a rule, as
# file:line: rule, and exits 1 if there is one; 0 when every rule holds.
#
#   site        may not include  newsroom, store/sqlite, store/postgres
#   fanout      may not include  newsroom, store/sqlite, store/postgres
#   newsroom    may not include  site, fanout, store/sqlite, store/postgres
#   store       may not include  http, site, newsroom, fanout, pushservice
#   pushservice may not include  site, newsroom, fanout, store/sqlite, store/postgres
# (a concrete store, SQLite or PostgreSQL, is named only in src/app/ and in store itself)
#   webpush     may include only common (and itself)
#   news        may include only itself: it is the contracts module the others share
#   common      may include only itself
#
# Usage: scripts/check-deps.sh [ROOT]   (ROOT: the tree holding src/; default: this repository)
set -euo pipefail
root=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}
cd "$root/src"

# module | "not" and the include prefixes it may not use, or "only" and the modules it may use
rules=(
  "site|not newsroom/ store/sqlite/ store/postgres/"
  "fanout|not newsroom/ store/sqlite/ store/postgres/"
  "newsroom|not site/ fanout/ store/sqlite/ store/postgres/"
  "store|not http/ site/ newsroom/ fanout/ pushservice/"
  "pushservice|not site/ newsroom/ fanout/ store/sqlite/ store/postgres/"
  "webpush|only common"
  "news|only"
  "common|only"
)

# Includes of sibling modules that are known and being removed: "file|include prefix". Listed
# here so that the check passes meanwhile; one that no longer occurs is reported, to be deleted.
known=()

modules=" $(find . -mindepth 1 -maxdepth 1 -type d -printf '%f ') "
violations=0
declare -A seen_known=()

is_known() {  # file include
  local entry
  for entry in "${known[@]}"; do
    if [[ "$1" == "${entry%%|*}" && "$2" == "${entry#*|}"* ]]; then
      seen_known["$entry"]=1
      return 0
    fi
  done
  return 1
}

# The rule `include` (from a file of `module`) breaks, or nothing.
broken_rule() {  # module kind list include
  local module=$1 kind=$2 list=$3 include=$4 target_module=${4%%/*} prefix
  [[ "$target_module" == "$module" ]] && return 0
  if [[ "$kind" == only ]]; then
    [[ "$modules" == *" $target_module "* && " $list " != *" $target_module "* ]] &&
      echo "$module may include only ${list:-itself}${list:+ (and itself)}"
    return 0
  fi
  for prefix in $list; do
    [[ "$include" == "$prefix"* ]] && echo "$module may not include ${prefix%/}" && return 0
  done
  return 0
}

for rule in "${rules[@]}"; do
  module=${rule%%|*}
  spec=${rule#*|}
  kind=${spec%% *}
  list=""
  [[ "$spec" == *" "* ]] && list=${spec#* }
  [[ -d "$module" ]] || continue
  while IFS=: read -r file line text; do
    include=${text#*\"}
    include=${include%%\"*}
    [[ "$include" == */* ]] || continue  # a system header or one of the same folder
    broken=$(broken_rule "$module" "$kind" "$list" "$include")
    [[ -z "$broken" ]] && continue
    is_known "$file" "$include" && continue
    echo "src/$file:$line: #include \"$include\": $broken"
    violations=$((violations + 1))
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' \
             --include='*.h' --include='*.cc' "$module" || true)
done

for entry in "${known[@]}"; do
  [[ -n "${seen_known[$entry]:-}" ]] ||
    echo "note: src/${entry%%|*} no longer includes ${entry#*|}; delete it from known=() in $0"
done

if ((violations > 0)); then
  echo "$violations include(s) break the dependency rules (docs/architecture.md)" >&2
  exit 1
fi
echo "dependency rules hold"
