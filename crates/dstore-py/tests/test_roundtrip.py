"""pyarrow -> dstore -> pyarrow is exact: schema (types, nullability, metadata) and values."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import roundtrip  # tests/python/roundtrip.py: the core issue's type set and exact comparison

import dstore
from conftest import numbered


def assert_exact(actual, expected):
    assert actual.schema.equals(expected.schema, check_metadata=True), (
        f"schema differs:\n{actual.schema}\nexpected:\n{expected.schema}"
    )
    assert actual.num_rows == expected.num_rows
    for name in expected.column_names:
        a = actual.column(name).combine_chunks()
        e = expected.column(name).combine_chunks()
        assert roundtrip.arrays_equal(a, e), f"column {name} differs"


def commit_table(store, table, data, **add):
    tx = store.begin()
    tx.add(table, data, **add)
    return tx.commit(f"add {table}")


def test_types_parquet_readers_would_change_are_refused_naming_the_cast(store):
    # timestamp[s], date64 and time32[s] would come back from Parquet as plain integers.
    with pytest.raises(dstore.InvalidInput, match="time32_s` is time32\\[s\\]") as e:
        commit_table(store, "t", roundtrip.temporal_table(), row_group_rows=300)
    assert "date64[ms]" in str(e.value) and "time32[ms]" in e.value.hint


@pytest.mark.parametrize("make", [roundtrip.typed_table], ids=["typed"])
def test_round_trip_is_exact(store, make):
    expected = make()
    c = commit_table(store, "t", expected, row_group_rows=300)
    snap = store.snapshot(c["id"])
    assert snap.rows("t") == expected.num_rows
    assert snap.schema("t").equals(expected.schema, check_metadata=True)
    scan = snap.scan("t", batch_size=512)
    assert isinstance(scan.reader, pa.RecordBatchReader)
    assert_exact(scan.to_table(), expected)


def test_the_comparison_notices_a_changed_cell(store):
    # The helper must be able to fail: one flipped float bit is caught.
    t = roundtrip.typed_table(50)
    f64 = t.column("f64").to_pylist()
    f64[3] = 12345.0
    changed = t.set_column(t.schema.get_field_index("f64"), t.schema.field("f64"), pa.array(f64, pa.float64()))
    with pytest.raises(AssertionError, match="column f64"):
        assert_exact(changed, t)


def test_every_arrow_stream_source_gives_the_same_rows(store, tmp_path):
    t = numbered(1000)

    class OnlyCapsule:
        """An object that speaks nothing but the Arrow PyCapsule stream protocol."""

        def __init__(self, table):
            self.table = table

        def __arrow_c_stream__(self, requested_schema=None):
            return self.table.__arrow_c_stream__(requested_schema)

    def generated():
        for b in t.to_batches(max_chunksize=128):
            yield b

    sources = {
        "table": t,
        "reader": pa.RecordBatchReader.from_batches(t.schema, generated()),
        "capsule": OnlyCapsule(t),
        "batch": t.combine_chunks().to_batches()[0],
    }
    for name, data in sources.items():
        tx = store.begin()
        tx.set_mode(name, "overwrite")
        assert tx.add(name, data) >= 1
        tx.commit(f"from a {name}")
    snap = store.snapshot()
    assert sorted(snap.tables) == sorted(sources)
    for name in sources:
        assert_exact(snap.scan(name).to_table(), t)


def test_add_rejects_what_is_not_arrow_data(store):
    tx = store.begin()
    with pytest.raises(TypeError, match="__arrow_c_stream__"):
        tx.add("t", [1, 2, 3])


def test_add_files_adopts_parquet_byte_for_byte(store, tmp_path):
    t = roundtrip.typed_table(700)
    path = tmp_path / "in.parquet"
    pq.write_table(t, path, row_group_size=200)
    tx = store.begin()
    assert tx.add_files("t", [path]) == 1
    c = tx.commit("adopt")
    assert c["changes"] == [{"table": "t", "op": "create", "segments": 1, "rows": 700, "bytes": path.stat().st_size}]
    # Adopted as is: the rows are what pyarrow reads from the file (whose list fields pyarrow's
    # Parquet writer names `element`, not `item`).
    assert_exact(store.snapshot(c["id"]).scan("t").to_table(), pq.read_table(path))
    # The segment is the input file itself: a checkout hard-links it.
    out = tmp_path / "co"
    report = store.checkout("HEAD", out)
    assert report["rows"] == 700
    (part,) = sorted((out / "t").glob("*.parquet"))
    assert part.read_bytes() == path.read_bytes()


def test_polars_style_consumers_read_a_scan_through_the_capsule(numbered_store):
    snap = numbered_store.snapshot("v2")
    # pa.table() takes any __arrow_c_stream__ object: the Scan itself.
    t = pa.table(snap.scan("t", columns=["id"]))
    assert t.column("id").to_pylist() == list(range(2000))


def test_take_reads_rows_by_position(numbered_store):
    snap = numbered_store.snapshot("v2")
    b = snap.take("t", [1999, 0, 150, 150], columns=["id", "name"])
    assert isinstance(b, pa.RecordBatch)
    assert b.column(0).to_pylist() == [1999, 0, 150, 150]
    assert b.column(1).to_pylist() == ["row1999", "row0", "row150", "row150"]
    with pytest.raises(dstore.InvalidInput, match="past the end"):
        snap.take("t", [2000])
