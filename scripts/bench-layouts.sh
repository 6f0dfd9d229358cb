#!/usr/bin/env bash
# Reads of the Parquet layouts users have (pyarrow-default, Spark-like, small row groups) by
# dstore (verified and not), pyarrow, polars, Lance and delta-rs, in one run (issue 14):
#
#   scripts/bench-layouts.sh [--rows N] [--repeats N] [--layouts a,b] [--quick] [--dir DIR]
#                            [--out FILE.json] [-v]
#
# Uses the bench venv of scripts/bench.sh ($DSTORE_CACHE/bench-venv, the peers pinned in
# bench/requirements.txt), builds the Python extension in release as a wheel and installs it
# there (the test venv is left alone), builds the dstore CLI in release, and runs
# bench/layouts.py, which prints one table per read and writes JSON. The default 2,000,000 rows
# and 5 repeats take some 15 minutes; --quick is a smoke test. Meant for a quiet machine; never
# part of the tests or CI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"

dstore_bench_env
venv="$DSTORE_BENCH_VENV"
if ! "$venv/bin/python" -c "import maturin" 2>/dev/null; then
  "$venv/bin/pip" install -q --disable-pip-version-check "maturin>=1.9.4,<2" >&2
fi

cd "$root"
cargo build --release --locked -q -p dstore-cli
wheels="$CARGO_TARGET_DIR/bench-wheels"
rm -rf "$wheels"
# A wheel for this machine only: it links the system RocksDB in place (no libraries copied in).
"$venv/bin/maturin" build --locked --release -q --auditwheel skip -m crates/dstore-py/Cargo.toml -o "$wheels" >&2
"$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheels"/*.whl >&2
exec "$venv/bin/python" "$root/bench/layouts.py" --dstore-bin "$CARGO_TARGET_DIR/release/dstore" "$@"
