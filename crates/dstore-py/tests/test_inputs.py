"""Which inputs `add_files` and `add` take, with the CLI's options as keywords: compressed text,
directories with files of unknown type (`skip_unknown`), data the table already holds
(`allow_duplicates`), inputs without rows, and empty CSV fields (`csv_empty`)."""

import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dstore
from conftest import cli, numbered


def table_rows(store, table):
    return store.snapshot().scan(table).to_table().num_rows


def test_compressed_csv_and_jsonl_read_as_their_plain_twins(store, tmp_path):
    text = "id,name\n1,a\n2,\n3,\"\"\n"
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(text[:12].encode()) + gzip.compress(text[12:].encode()))
    (tmp_path / "t.jsonl.gz").write_bytes(gzip.compress(b'{"id": 1}\n{"id": 2}\n'))
    tx = store.begin()
    assert tx.add_files("csv", tmp_path / "t.csv.gz") == 1
    assert tx.add_files("jsonl", [tmp_path / "t.jsonl.gz"]) == 1
    tx.commit("compressed")
    snap = store.snapshot()
    assert snap.scan("csv").to_table().to_pydict() == {"id": [1, 2, 3], "name": ["a", None, ""]}
    assert snap.scan("jsonl").to_table().column("id").to_pylist() == [1, 2]


def test_damaged_gzip_raises_naming_the_file(store, tmp_path):
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(b"id\n" + b"1\n" * 10000)[:40])
    with pytest.raises(dstore.InvalidInput) as e:
        store.begin().add_files("t", bad)
    assert "bad.csv.gz" in str(e.value) and "damaged" in str(e.value)


def test_unknown_files_raise_unless_skip_unknown(store, tmp_path):
    d = tmp_path / "data"
    (d / "img").mkdir(parents=True)
    (d / "labels.csv").write_text("file,label\na.jpg,cat\n")
    for i in range(3):
        (d / "img" / f"{i}.jpg").write_bytes(b"\xff\xd8")
    (d / "_SUCCESS").write_text("")
    with pytest.raises(dstore.InvalidInput) as e:
        store.begin().add_files("t", d)
    assert "3 file(s) of unknown type" in str(e.value)
    assert [p.rsplit("/", 1)[1] for p in e.value.files] == ["0.jpg", "1.jpg", "2.jpg"]
    assert "skip_unknown=True" in e.value.hint
    tx = store.begin()
    assert tx.add_files("t", d, skip_unknown=True) == 1
    tx.commit("labels")
    assert table_rows(store, "t") == 1


def test_the_same_file_again_raises_unless_allow_duplicates(store, tmp_path):
    path = tmp_path / "day1.parquet"
    pq.write_table(numbered(10), path)
    tx = store.begin()
    tx.add_files("t", path)
    first = tx.commit("day 1")
    with pytest.raises(dstore.InvalidInput) as e:
        store.begin().add_files("t", path)
    assert f"first committed at @{first['seq']} ({first['id'][:8]}…)" in str(e.value)
    assert e.value.table == "t" and e.value.path == str(path)
    assert "allow_duplicates=True" in e.value.hint
    # The CLI says the same, with its flag.
    p = cli("snapshot", "--store", store.path, "-t", "t", str(path), check=False)
    assert p.returncode == 1 and str(e.value) in p.stderr and "--allow-duplicates" in p.stderr
    tx = store.begin()
    tx.add_files("t", path, allow_duplicates=True)
    tx.commit("day 1 again, on purpose")
    assert table_rows(store, "t") == 20


def test_add_refuses_data_the_table_holds_unless_allow_duplicates(store):
    tx = store.begin()
    tx.add("t", numbered(5))
    tx.commit("x")
    with pytest.raises(dstore.InvalidInput, match="already holds this data"):
        store.begin().add("t", numbered(5))
    tx = store.begin()
    tx.add("t", numbered(5), allow_duplicates=True)
    tx.commit("again")
    assert table_rows(store, "t") == 10


def test_inputs_without_rows(store, tmp_path):
    empty = tmp_path / "empty.parquet"
    pq.write_table(numbered(0), empty)
    tx = store.begin()
    assert tx.add_files("t", empty) == 0
    c = tx.commit("schema only")
    assert c["changes"] == [{"table": "t", "op": "create", "segments": 0, "rows": 0, "bytes": 0}]
    assert store.snapshot().scan("t").to_table().schema == numbered(0).schema
    tx = store.begin()
    assert tx.add_files("t", empty) == 0
    assert tx.add("t", numbered(0)) == 0
    with pytest.raises(dstore.InvalidInput, match="nothing to commit"):
        tx.commit("nothing")


def test_csv_empty_keyword(store, tmp_path):
    path = tmp_path / "e.csv"
    # A column of only empty fields is a known gap (its quoted "" is read as null): keep a value.
    path.write_text('id,name\n1,\n2,""\n3,x\n')
    want = {"quoted": [None, "", "x"], "null": [None, None, "x"], "string": ["", "", "x"]}
    for reading, names in want.items():
        tx = store.begin()
        tx.add_files(reading, path, csv_empty=reading)
        tx.commit(reading)
        assert store.snapshot().scan(reading).to_table().column("name").to_pylist() == names
    with pytest.raises(dstore.InvalidInput, match="csv_empty"):
        store.begin().add_files("t", path, csv_empty="maybe")
