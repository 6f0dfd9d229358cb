#!/usr/bin/env bash
# What changed between versions, measured (issue 15), in one run:
#
#   scripts/bench-drift.sh [--rows N] [--repeat N] [--no-evidently] [--out-dir DIR]
#
# Uses the bench venv of scripts/bench.sh ($DSTORE_CACHE/bench-venv, the peers pinned in
# bench/requirements.txt, Evidently among them), builds dstore and dstore-bench in release, and
# runs bench/profiles.py (ingest with and without profiles, `stats`, `diff --stats` stored and
# cold, Evidently's DataDriftPreset on the same data and the per-column verdicts of both) and
# `dstore-bench rowdiff` (row diff, `cat --since` and `stats --since` of two versions differing
# in 1% of the rows). Writes OUT-DIR/profiles.txt and OUT-DIR/rowdiff.txt (default
# bench/results/latest-*). The default 2,000,000 rows take some 15 minutes. Meant for a quiet
# machine (it prints the load average it started at); never part of the tests or CI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"

rows=2000000
repeat=3
out_dir="$root/bench/results"
prefix="latest-"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --no-evidently) extra+=(--no-evidently); shift ;;
    --out-dir) out_dir="$2"; prefix=""; shift 2 ;;
    *) echo "bench-drift.sh: unknown argument $1 (see the comment at the top)" >&2; exit 1 ;;
  esac
done

dstore_bench_env
venv="$DSTORE_BENCH_VENV"

cd "$root"
cargo build --release --locked -q -p dstore-cli -p dstore-bench
bin="$CARGO_TARGET_DIR/release"
mkdir -p "$out_dir"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$venv/bin/python" bench/profiles.py --dstore "$bin/dstore" --rows "$rows" --repeat "$repeat" \
  "${extra[@]}" --out "$out_dir/${prefix}profiles.txt"
data="$(mktemp -d)"
trap 'rm -rf "$data"' EXIT
"$bin/dstore-bench" rowdiff --rows "$rows" --dir "$data" --dstore "$bin/dstore" \
  | tee "$out_dir/${prefix}rowdiff.txt"
