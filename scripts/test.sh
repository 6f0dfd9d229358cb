#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, runs the Rust tests (unit, integration,
# property, end-to-end through the real binary, pyarrow round trips) and the doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
dstore_python_env
# The end-to-end tests drive the real binary: build it first.
cargo build --locked -p dstore-cli
cargo test --locked --workspace "$@"
# The Python bindings (crates/dstore-py): built into the venv with maturin, tested with pytest.
scripts/python.sh
