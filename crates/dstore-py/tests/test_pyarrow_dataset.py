"""`Snapshot.to_pyarrow_dataset`: a snapshot's table as a `pyarrow.dataset` that DuckDB and polars
read lazily, against `snap.scan(...)` (dstore's own verified reader) as the oracle.

The inputs are files pyarrow wrote with its defaults (one row group of up to 1Mi rows, snappy,
dictionary pages), adopted as they are, and a table dstore converted from batches.
"""

import duckdb  # scripts/python.sh installs it
import numpy as np
import polars as pl  # scripts/python.sh installs it
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import dstore


def part(seed, start, rows):
    r = np.random.default_rng(seed)
    return pa.table(
        {
            "id": pa.array(np.arange(start, start + rows, dtype=np.int64)),
            "f": pa.array(r.normal(0.0, 1.0, rows), mask=r.random(rows) < 0.05),
            "s": pa.array(r.choice(["a", "b", "c", "d"], rows)),
            "emb": pa.array(list(r.random((rows, 4), dtype=np.float32)), pa.list_(pa.float32(), 4)),
        }
    )


@pytest.fixture
def two_versions(tmp_path):
    s = dstore.Store.init(tmp_path / "data.dstore")
    for i, (start, rows, tag) in enumerate([(0, 30_000, "v1"), (30_000, 20_000, "v2")]):
        path = tmp_path / f"part-{i}.parquet"
        pq.write_table(part(i, start, rows), path)  # pyarrow's defaults
        tx = s.begin()
        tx.add_files("t", [str(path)])
        if i == 1:
            tx.add("small", pa.table({"k": pa.array([3, 1, 2], pa.int32())}))
        tx.commit(tag, tags=[tag])
    return s


def test_the_dataset_reads_exactly_the_snapshot_in_table_order(two_versions):
    for tag, rows in [("v1", 30_000), ("v2", 50_000)]:
        snap = two_versions.snapshot(tag)
        ds = snap.to_pyarrow_dataset("t")
        assert ds.schema == snap.schema("t")
        got = ds.to_table()
        assert got.num_rows == rows
        assert got.equals(snap.scan("t").to_table())
    # A later commit does not change what an earlier snapshot's dataset reads.
    files = two_versions.snapshot("v2").segment_files("t")
    assert len(files) == 2
    assert two_versions.snapshot("v1").segment_files("t") == files[:1]
    small = two_versions.snapshot("v2").to_pyarrow_dataset("small").to_table()
    assert small.column("k").to_pylist() == [3, 1, 2]


def test_duckdb_and_polars_filter_it_as_the_scan_does(two_versions):
    snap = two_versions.snapshot("v2")
    want = snap.scan("t", columns=["id", "f", "s"], filter="id >= 29000 AND id < 31000 AND s = 'b'").to_table()
    assert 0 < want.num_rows < 2000
    ds = snap.to_pyarrow_dataset("t")

    con = duckdb.connect()
    con.register("t", ds)
    got = con.sql(
        "SELECT id, f, s FROM t WHERE id >= 29000 AND id < 31000 AND s = 'b' ORDER BY id"
    ).to_arrow_table()
    assert got.column("id").to_pylist() == want.column("id").to_pylist()
    assert got.column("f").to_pylist() == want.column("f").to_pylist()
    assert got.column("s").to_pylist() == want.column("s").to_pylist()

    lazy = (
        pl.scan_pyarrow_dataset(ds)
        .filter((pl.col("id") >= 29000) & (pl.col("id") < 31000) & (pl.col("s") == "b"))
        .select(["id", "f", "s"])
    )
    df = lazy.collect()
    assert df["id"].to_list() == want.column("id").to_pylist()
    assert df["f"].to_list() == want.column("f").to_pylist()
    # The aggregate over the whole table agrees with dstore's scan.
    total = pl.scan_pyarrow_dataset(ds).select(pl.col("f").sum()).collect().item()
    assert total == pytest.approx(pc.sum(snap.scan("t", columns=["f"]).to_table()["f"]).as_py())


def test_a_table_with_no_rows_is_an_empty_dataset_with_its_schema(tmp_path):
    s = dstore.Store.init(tmp_path / "data.dstore")
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.string())}), path)
    tx = s.begin()
    tx.add_files("e", [str(path)])
    tx.commit("empty")
    snap = s.snapshot("HEAD")
    assert snap.segment_files("e") == []
    got = snap.to_pyarrow_dataset("e").to_table()
    assert got.num_rows == 0
    assert got.schema == snap.schema("e")
    assert duckdb.connect().sql("SELECT count(*) FROM got").fetchall() == [(0,)]


def test_an_unknown_table_is_refused_by_name(two_versions):
    snap = two_versions.snapshot("v2")
    with pytest.raises(dstore.DstoreError, match="nope"):
        snap.to_pyarrow_dataset("nope")
