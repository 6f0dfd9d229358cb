#!/usr/bin/env bash
# The main job on an embedded default: a local store at ./demo.dstore built from fixtures/.
#   init -> snapshot (CSV) with a tag -> append (JSON lines) -> tag -> log -> show -> checkout -> verify
#   -> a folder as a files table, edited, diffed by path, checked out as files
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
# A folder as a files table (docs/files.md): one row per file; an edit rewrites one segment.
cp -r ../fixtures/golden/files-v1/folder ./photos
run snapshot -t photos ./photos/ --files -m "a folder" --tag files-1
printf 'edited\n' > ./photos/cat/1.jpg
run snapshot -t photos ./photos/ --files -m "one file edited" --tag files-2
run diff files-1 files-2 -t photos
run checkout files-2 -t photos -o ./photos-out/ --format files
diff -r ./photos ./photos-out/photos && echo "checked out byte for byte"
python3 - <<'PY'
import pathlib
print("\nsegments are named by the BLAKE3 of their bytes (verify just re-hashed them; `b3sum FILE` prints the same):")
for p in sorted(pathlib.Path("data.dstore/segments").rglob("*.parquet")):
    print(" ", p.name)
PY
echo
echo "demo store: $(pwd)/data.dstore   checkout: $(pwd)/v1"
