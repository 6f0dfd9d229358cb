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
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"

venv="$_dstore_cache/bench-venv"
req="$root/bench/requirements.txt"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
  echo "dstore: creating $venv with $(grep -v '^#' "$req" | tr '\n' ' ')" >&2
  python3 -m venv "$venv" >&2 || { _dstore_apt_install python3-venv && python3 -m venv "$venv" >&2; }
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
  cp "$req" "$stamp"
fi

(cd "$root" && cargo build --release -q -p dstore-bench -p dstore-cli)
bin="$CARGO_TARGET_DIR/release"
exec "$venv/bin/python" "$root/bench/suite.py" --bench-bin "$bin/dstore-bench" \
  --dstore-bin "$bin/dstore" "$@"
