"""Prepare on several processes, commit once (docs/distributed.md)."""

import json
import multiprocessing
import pickle

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dstore

from conftest import numbered, numbered_files


def _prepare_part(args):
    """A worker in another process: opens the store itself, prepares one part, returns the
    description (pickled across the process boundary)."""
    path, start = args
    store = dstore.Store.open(path)
    tx = store.begin()
    tx.add("t", numbered(500, start))
    return tx.prepare()


def test_workers_prepare_in_parallel_and_one_commit_lands_them(store, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        parts = pool.map(_prepare_part, [(store.path, s) for s in (0, 500, 1000, 1500)])
    assert [p.rows for p in parts] == [500] * 4
    assert store.log() == []
    with store.begin() as tx:
        for p in parts:
            assert tx.add_prepared(p) == 1
        out = tx.commit("four parts")
    assert out["changes"][0]["rows"] == 2000
    got = store.snapshot("HEAD").scan("t").to_table()
    assert got.column("id").to_pylist() == list(range(2000))
    # The same data added directly is the same snapshot.
    other = dstore.Store.init(tmp_path / "direct.dstore")
    with other.begin() as tx:
        for s in (0, 500, 1000, 1500):
            tx.add("t", numbered(500, s))
        assert tx.commit("direct")["id"] == out["id"]


def test_a_description_travels_as_json_pickle_or_file(store, tmp_path):
    tx = store.begin()
    tx.add("t", numbered(10))
    p = tx.prepare()
    assert not tx.active
    assert (p.segments, p.rows, p.store) == (1, 10, store.path)
    assert p.tables[0]["table"] == "t" and p.tables[0]["mode"] == "append"
    again = pickle.loads(pickle.dumps(p))
    assert again.to_json() == p.to_json()
    p.write(tmp_path / "p.json")
    assert dstore.Prepared.read(tmp_path / "p.json").to_json() == p.to_json()
    # Any of the three forms commits; one is enough.
    with store.begin() as tx:
        tx.add_prepared(str(tmp_path / "p.json"), check="full")
        tx.commit("from a file")
    assert store.snapshot("HEAD").rows("t") == 10


def test_a_description_that_does_not_match_the_store_is_refused(store, tmp_path):
    tx = store.begin()
    tx.add("t", numbered(10))
    doc = json.loads(tx.prepare().to_json())
    # Another store never saw the segment.
    other = dstore.Store.init(tmp_path / "other.dstore")
    with other.begin() as tx:
        with pytest.raises(dstore.InvalidInput) as e:
            tx.add_prepared(json.dumps(doc))
    assert e.value.problem == "missing"
    assert e.value.segment == doc["tables"][0]["segments"][0]["id"]
    assert "prepare" in e.value.hint
    # A hand edit of a plain field is refused when read, naming the field.
    doc["tables"][0]["segments"][0]["rows"] = 11
    with pytest.raises(dstore.InvalidInput, match=r"tables\[0\]\.segments\[0\]\.rows"):
        dstore.Prepared.from_json(json.dumps(doc))
    with pytest.raises(dstore.InvalidInput, match="unknown check"):
        store.begin().add_prepared(json.dumps(doc), check="maybe")
    assert store.log() == [] and other.log() == []


def test_parquet_files_pyarrow_wrote_prepare_as_they_are(store, tmp_path):
    """Files as pyarrow writes them by default, prepared by path: adopted byte for byte."""
    files = numbered_files(tmp_path, 3, 3000)
    descs = []
    for f in files:
        tx = store.begin()
        tx.add_files("t", [f])
        descs.append(tx.prepare())
    with store.begin() as tx:
        for d in descs:
            tx.add_prepared(d)
        tx.commit("three files")
    snap = store.snapshot("HEAD")
    assert snap.scan("t").to_table().equals(
        pa.concat_tables([pq.read_table(f) for f in files]).replace_schema_metadata(None)
        .cast(snap.schema("t"))
    )
    for f, seg in zip(files, snap.segment_files("t")):
        assert open(f, "rb").read() == open(seg, "rb").read()
