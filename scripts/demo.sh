#!/usr/bin/env bash
# The main job on an embedded default: a local store at ./demo.dstore built from fixtures/.
#   init -> snapshot (CSV) with a tag -> append (JSON lines) -> tag -> log -> show -> checkout -> verify
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --locked --release -p dstore-cli
dstore="$CARGO_TARGET_DIR/release/dstore"
work="${DSTORE_DEMO_DIR:-demo-out}"
rm -rf "$work" && mkdir -p "$work" && cd "$work"
export DSTORE_AUTHOR="${DSTORE_AUTHOR:-demo}"
run() { printf '\n$ dstore %s\n' "$*"; "$dstore" "$@"; }
run init data.dstore
run snapshot --store data.dstore -t flights ../fixtures/flights/ -m "first import" --tag v1
run snapshot -t flights ../fixtures/flights-day3.jsonl -m "day 3"
run tag release-3 HEAD
run log
run show v1
run diff v1 HEAD
run checkout v1 -t flights -o ./v1/
run verify --all
run verify --checkout ./v1/
python3 - <<'PY'
import pathlib
print("\nsegments are named by the BLAKE3 of their bytes (verify just re-hashed them; `b3sum FILE` prints the same):")
for p in sorted(pathlib.Path("data.dstore/segments").rglob("*.parquet")):
    print(" ", p.name)
PY
echo
echo "demo store: $(pwd)/data.dstore   checkout: $(pwd)/v1"
