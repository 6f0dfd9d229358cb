# Sourced by scripts/test.sh, scripts/demo.sh and scripts/bench.sh: installs what a fresh
# machine lacks and picks how RocksDB is linked. Safe to source repeatedly.
#
# RocksDB: the `rocksdb` crate is pinned to 0.20.1. With Debian's librocksdb-dev (RocksDB 7.x)
# present we link it through ROCKSDB_LIB_DIR (about 20 s); without it the crate builds its
# bundled RocksDB 7.9.2 from C++ (about 25 minutes of wall time on 2 cores, once per target
# directory). Both need libclang for bindgen. Set DSTORE_BUNDLED_ROCKSDB=1 to force the bundled
# build.

set -euo pipefail

_dstore_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dstore/target}"
_dstore_cache="${DSTORE_CACHE:-$HOME/.cache/dstore}"
mkdir -p "$_dstore_cache"

_sudo() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

_dstore_apt_install() {
  command -v apt-get >/dev/null || return 1
  echo "dstore: installing $* with apt-get" >&2
  { [ -n "${_dstore_apt_updated:-}" ] || _sudo apt-get update -qq; } && _dstore_apt_updated=1
  DEBIAN_FRONTEND=noninteractive _sudo apt-get install -y -qq "$@" >&2
}

_dstore_have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

# libclang for bindgen (both RocksDB paths), librocksdb-dev for the fast path.
if command -v dpkg-query >/dev/null; then
  _missing=()
  _dstore_have_pkg libclang-dev || _missing+=(libclang-dev)
  if [ -z "${DSTORE_BUNDLED_ROCKSDB:-}" ] && ! _dstore_have_pkg librocksdb-dev; then
    _missing+=(librocksdb-dev)
  fi
  if [ ${#_missing[@]} -gt 0 ]; then
    _dstore_apt_install "${_missing[@]}" || echo "dstore: could not install ${_missing[*]}; continuing" >&2
  fi
fi

unset ROCKSDB_LIB_DIR
if [ -z "${DSTORE_BUNDLED_ROCKSDB:-}" ]; then
  _multiarch="$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)"
  for _d in "/usr/lib/$_multiarch" /usr/lib /usr/local/lib; do
    if [ -e "$_d/librocksdb.so" ] && grep -qs '#define ROCKSDB_MAJOR 7' /usr/include/rocksdb/version.h; then
      export ROCKSDB_LIB_DIR="$_d"
      break
    fi
  done
fi
if [ -n "${ROCKSDB_LIB_DIR:-}" ]; then
  echo "dstore: linking the system RocksDB in $ROCKSDB_LIB_DIR" >&2
else
  echo "dstore: building the bundled RocksDB (slow the first time; see README)" >&2
fi

# A Python with pyarrow, for the tests that read checkouts back with pyarrow.
dstore_python_env() {
  local venv="$_dstore_cache/venv"
  # pandas: the pyarrow tests read files written by `DataFrame.to_feather` (tests/pyarrow.rs).
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import pyarrow, pandas" 2>/dev/null; then
    echo "dstore: creating $venv with pyarrow and pandas" >&2
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2 || { _dstore_apt_install python3-venv && python3 -m venv "$venv" >&2; }
    "$venv/bin/pip" install -q --disable-pip-version-check "pyarrow>=15" pandas >&2
  fi
  export DSTORE_PYTHON="$venv/bin/python"
  export DSTORE_REQUIRE_PYARROW=1
}

# Headless Chromium, for the test that renders `dstore diff --stats --html` and finds its plots
# in the DOM (tests/tests/e2e/profiles.rs) and for the report screenshot in docs/drift.md.
# Debian's `chromium` package; DSTORE_REQUIRE_CHROMIUM makes a missing browser a test failure.
dstore_chromium() {
  if ! command -v chromium >/dev/null; then
    _dstore_apt_install chromium || echo "dstore: could not install chromium; the HTML report test will be skipped" >&2
  fi
  if command -v chromium >/dev/null; then
    export DSTORE_CHROMIUM="$(command -v chromium)"
    export DSTORE_REQUIRE_CHROMIUM=1
  fi
}

# The benchmarks' venv ($DSTORE_CACHE/bench-venv) with the peers pinned in bench/requirements.txt,
# recreated when that file changes; exports DSTORE_BENCH_VENV.
dstore_bench_env() {
  local venv="$_dstore_cache/bench-venv" req="$_dstore_root/bench/requirements.txt"
  local stamp="$venv/.requirements"
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
    echo "dstore: creating $venv with $(grep -v '^#' "$req" | tr '\n' ' ')" >&2
    python3 -m venv "$venv" >&2 || { _dstore_apt_install python3-venv && python3 -m venv "$venv" >&2; }
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
    cp "$req" "$stamp"
  fi
  export DSTORE_BENCH_VENV="$venv"
}
