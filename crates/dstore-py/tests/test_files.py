"""Files tables from Python: a folder ingested with `tx.add_folder`, its bytes read back by
`snap.scan`, joined with a labels table by path, and fed to torch DataLoaders whose batches do
not depend on `num_workers` (docs/files.md)."""

import os
import time
import warnings

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import dstore


def put(root, rel, data):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    old = time.time() - 3600
    os.utime(p, (old, old))


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "photos"
    for i in range(300):
        cls = "cat" if i % 3 == 0 else "dog"
        put(root, f"{cls}/{i:04}.jpg", bytes([i % 256]) * (50 + i) * 100)
    store = dstore.Store.init(tmp_path / "s.dstore")
    time.sleep(2.1)  # files whose status changed within 2 s of a walk are not recorded in the state cache
    tx = store.begin()
    added = tx.add_folder("photos", root, segment_mib=1)
    labels = pa.table(
        {
            "path": [f"{'cat' if i % 3 == 0 else 'dog'}/{i:04}.jpg" for i in range(300)],
            "label": [int(i % 3 == 0) for i in range(300)],
        }
    )
    tx.add("labels", labels)
    tx.commit("photos and labels", tags=["v1"])
    return store, root, added


def test_a_folder_reads_back_byte_for_byte_and_joins_its_labels(photos):
    store, root, added = photos
    assert added["files"] == 300 and added["files_read"] == 300
    snap = store.snapshot("v1")
    t = pa.Table.from_batches(list(snap.scan("photos", columns=["path", "size", "blake3", "bytes"])))
    assert t.schema.field("bytes").type == pa.large_binary()
    for path, size, b3, data in zip(*(t.column(c).to_pylist() for c in ("path", "size", "blake3", "bytes"))):
        with open(root / path, "rb") as f:
            assert f.read() == data
        assert size == len(data)
    joined = t.join(pa.Table.from_batches(list(snap.scan("labels"))), "path")
    assert joined.num_rows == 300
    cats = joined.filter(pc.equal(joined["label"], 1))
    assert all(p.startswith("cat/") for p in cats["path"].to_pylist())
    # LIKE on paths.
    got = pa.Table.from_batches(list(snap.scan("photos", columns=["path"], filter="path LIKE 'cat/%'")))
    assert got.num_rows == 100


def test_a_re_run_keeps_unchanged_segments(photos):
    store, root, _ = photos
    put(root, "cat/0000.jpg", b"changed")
    tx = store.begin()
    a = tx.add_folder("photos", root, segment_mib=1)
    tx.commit("day 2")
    assert a["segments_kept"] >= 1 and a["files_read"] < 300


def test_refusals_name_the_file(tmp_path):
    root = tmp_path / "f"
    put(root, "ok.txt", b"ok")
    os.symlink("/etc/hostname", root / "link")
    store = dstore.Store.init(tmp_path / "s.dstore")
    tx = store.begin()
    with pytest.raises(dstore.InvalidInput, match="symbolic link") as e:
        tx.add_folder("f", root)
    assert "link" in str(e.value)


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_torch_batches_do_not_depend_on_num_workers(photos):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("torch", reason="torch is not installed: `DSTORE_TORCH=1 scripts/python.sh`")
    import dstore.torch as dt

    store, _, _ = photos
    pin = f"dstore://{store.path}@v1#photos"

    def lengths(batch):
        return [len(b) for b in batch["bytes"]], batch["path"]

    ds = dt.IterableDataset(pin, columns=["path", "bytes"], batch_size=16, seed=3, transform=lengths)
    runs = [list(dt.DataLoader(ds, num_workers=nw)) for nw in (0, 1, 3)]
    assert runs[0] == runs[1] == runs[2]
    paths = [p for _, ps in runs[0] for p in ps]
    assert sorted(paths) == sorted(set(paths)) and len(paths) == 300
    assert paths != sorted(paths), "a seed shuffles"


def test_a_folder_of_other_tools_files_reads_back_through_duckdb(tmp_path):
    """Files written by pyarrow, pandas and DuckDB with their defaults, versioned as a files
    table; DuckDB (over the table's segments) is the oracle: every file's bytes and size, and
    each Parquet file read back from its bytes equals what its writer wrote."""
    duckdb = pytest.importorskip("duckdb")
    pd = pytest.importorskip("pandas")
    import io
    import pyarrow.parquet as pq

    root = tmp_path / "exports"
    root.mkdir()
    t = pa.table({"id": list(range(5000)), "s": [f"v{i}" for i in range(5000)]})
    pq.write_table(t, root / "pyarrow.parquet")
    pd.DataFrame({"a": [1.5, None, 3.0], "b": ["x", "y", None]}).to_csv(root / "pandas.csv", index=False)
    pd.DataFrame({"a": [1, 2, 3]}).to_parquet(root / "pandas.parquet")
    con = duckdb.connect()
    con.sql(f"COPY (SELECT range AS n FROM range(1000)) TO '{root / 'duckdb.parquet'}' (FORMAT parquet)")
    os.makedirs(root / "nested", exist_ok=True)
    con.sql(f"COPY (SELECT 'é' AS u) TO '{root / 'nested' / 'duckdb.csv'}' (FORMAT csv)")
    store = dstore.Store.init(tmp_path / "s.dstore")
    tx = store.begin()
    tx.add_folder("exports", root)
    tx.commit("other tools' files")
    snap = store.snapshot("HEAD")
    con.register("f", snap.to_pyarrow_dataset("exports"))
    rows = con.sql("SELECT path, size, bytes FROM f ORDER BY path").fetchall()
    on_disk = sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
    )
    assert [r[0] for r in rows] == on_disk
    for path, size, data in rows:
        with open(root / path, "rb") as f:
            assert f.read() == data, path
        assert size == len(data)
    back = {r[0]: r[2] for r in rows}
    assert pq.read_table(io.BytesIO(back["pyarrow.parquet"])).equals(t)
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(back["pandas.csv"])), pd.read_csv(root / "pandas.csv"))
    assert pq.read_table(io.BytesIO(back["duckdb.parquet"])).column("n").to_pylist() == list(range(1000))
