"""Shared fixtures: stores made from pyarrow tables, and the `dstore` binary for comparisons."""

import json
import os
import pathlib
import subprocess
import sys

import pyarrow as pa
import pytest

import dstore

REPO = pathlib.Path(__file__).resolve().parents[3]
# The core issue's type set and its exact comparison live in the pyarrow oracle of the e2e tests.
sys.path.insert(0, str(REPO / "tests" / "python"))


def numbered(n, start=0):
    """A table whose `id` column holds each row's storage position, plus a few payload columns."""
    ids = list(range(start, start + n))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "x": pa.array([i * 0.5 for i in ids], pa.float64()),
            "name": pa.array([f"row{i}" for i in ids], pa.string()),
        }
    )


def numbered_files(dirname, files, rows):
    """`files` Parquet files pyarrow wrote with its defaults, `numbered` rows in order."""
    import pyarrow.parquet as pq

    paths = []
    for i in range(files):
        f = pathlib.Path(dirname) / f"part-{i}.parquet"
        pq.write_table(numbered(rows, i * rows), f)
        paths.append(f)
    return paths


def store_of_files(dirname, files, rows):
    """A store whose table `t` (tagged `v1`) is `numbered_files`, adopted in one commit."""
    store = dstore.Store.init(pathlib.Path(dirname) / "data.dstore")
    with store.begin() as tx:
        tx.add_files("t", numbered_files(dirname, files, rows))
        tx.commit("files pyarrow wrote", tags=["v1"])
    return store


@pytest.fixture
def store(tmp_path):
    return dstore.Store.init(tmp_path / "data.dstore")


@pytest.fixture
def numbered_store(tmp_path):
    """A store with table `t`: 2,000 rows in row groups of 100 (20 units for the shuffle), made
    by two commits (`v1`: rows 0-1199, `v2`: all); so segments, row groups and windows all
    matter to the order."""
    s = dstore.Store.init(tmp_path / "numbered.dstore")
    tx = s.begin()
    tx.add("t", numbered(1200), row_group_rows=100)
    tx.commit("first", tags=["v1"])
    tx = s.begin()
    tx.add("t", numbered(800, start=1200), row_group_rows=100)
    tx.commit("second", tags=["v2"])
    return s


def dstore_bin():
    path = os.environ.get("DSTORE_BIN")
    if not path:
        target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/dstore/target"))
        path = os.path.join(target, "debug", "dstore")
    if not os.path.exists(path):
        pytest.fail(f"the dstore binary is not at {path}: run scripts/python.sh (it builds it)")
    return path


def cli(*args, check=True):
    """Runs the real `dstore` binary; returns the completed process."""
    p = subprocess.run([dstore_bin(), *map(str, args)], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"dstore {' '.join(map(str, args))} failed ({p.returncode}): {p.stderr}")
    return p


def cli_ids(store_path, *args):
    """The `id` column of `dstore cat ... --format jsonl`, in output order."""
    out = cli("cat", "--store", store_path, *args, "--columns", "id", "--format", "jsonl").stdout
    return [json.loads(line)["id"] for line in out.splitlines() if line.strip()]
