#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, runs the Rust tests (unit, integration,
# property, end-to-end through the real binary, pyarrow round trips, object storage against a
# real Ceph S3 gateway on 127.0.0.1) and the doc tests, then the Python tests.
#
# DSTORE_NO_CEPH=1 skips starting Ceph; the object-storage tests then say they are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
dstore_python_env
dstore_chromium
# Object storage (tests/tests/s3.rs): a throwaway single-node Ceph with its S3 gateway
# (scripts/ceph.sh installs Debian's packages when missing, ~30 s once; starts in ~2-4 s),
# stopped on exit whatever the tests do. DSTORE_REQUIRE_S3 makes a missing gateway a failure.
if [ -z "${DSTORE_NO_CEPH:-}" ]; then
  # The trap first: a start that fails halfway is cleaned up too.
  trap 'scripts/ceph.sh stop >/dev/null 2>&1 || true' EXIT
  scripts/ceph.sh start
  eval "$(scripts/ceph.sh env)"
  export DSTORE_REQUIRE_S3=1
fi
# The end-to-end tests drive the real binary: build it first.
cargo build --locked -p dstore-cli
cargo test --locked --workspace "$@"
# The Python bindings (crates/dstore-py): built into the venv with maturin, tested with pytest.
scripts/python.sh
