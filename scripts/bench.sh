#!/usr/bin/env bash
# The benchmark suite against pyarrow, delta-rs and Lance (issue 5), in one run:
#
#   scripts/bench.sh [--rows N] [--history 10,1000,10000,100000] [--peer-history-max N]
#                    [--repeats N] [--quick] [--dir DIR] [--out FILE.json] [-v]
#
# Creates its own Python venv ($DSTORE_CACHE/bench-venv, default ~/.cache/dstore/bench-venv)
# with the peers pinned in bench/requirements.txt, builds dstore-bench and dstore in release,
# and runs bench/suite.py, which prints one table and writes JSON. Slow (the default 2,000,000
# rows and a 100,000-commit history take the better part of an hour) and meant for a quiet
# machine; --quick is a smoke test of a minute or two. Never part of the tests or CI.
#
#   scripts/bench.sh --all [suite flags]
#
# runs the suite, then scripts/bench-layouts.sh (the layouts users have, issue 14) and
# scripts/bench-drift.sh (profiles, drift beside Evidently, row diff: issue 15) with their
# defaults (the layouts' table on stdout and its JSON under ~/.cache/dstore/bench-layouts; the
# drift figures in bench/results/latest-*): every figure the closing notes cite, in one run
# (some two hours on 2 cores).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"

all=""
if [ "${1:-}" = "--all" ]; then
  all=1
  shift
fi

dstore_bench_env
venv="$DSTORE_BENCH_VENV"

(cd "$root" && cargo build --release -q -p dstore-bench -p dstore-cli)
bin="$CARGO_TARGET_DIR/release"
if [ -z "$all" ]; then
  exec "$venv/bin/python" "$root/bench/suite.py" --bench-bin "$bin/dstore-bench" \
    --dstore-bin "$bin/dstore" "$@"
fi
"$venv/bin/python" "$root/bench/suite.py" --bench-bin "$bin/dstore-bench" \
  --dstore-bin "$bin/dstore" "$@"
"$root/scripts/bench-layouts.sh"
"$root/scripts/bench-drift.sh"
