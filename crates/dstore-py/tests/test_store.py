"""Store and transaction API: commits, log, tags, refs, checkout, verify."""

import datetime as dt

import pyarrow.parquet as pq
import pytest

import dstore
from conftest import cli, numbered


def test_commit_log_tags_resolve(store):
    tx = store.begin()
    tx.add("a", numbered(10))
    tx.add("b", numbered(5))
    c1 = tx.commit("first", tags=["v1"], author="ada")
    assert len(c1["id"]) == 64 and c1["seq"] == 1 and not c1["unchanged"]
    assert [(ch["table"], ch["op"], ch["rows"]) for ch in c1["changes"]] == [("a", "create", 10), ("b", "create", 5)]

    tx = store.begin()
    tx.add("a", numbered(3, start=10))
    c2 = tx.commit("second")
    assert c2["changes"][0]["op"] == "append"

    assert store.resolve("HEAD").id == c2["id"]
    assert store.resolve("HEAD~1").id == c1["id"]
    assert store.resolve("v1").id == c1["id"]
    assert store.resolve(c1["id"][:10]).id == c1["id"]
    assert store.resolve(c1["id"]).seq is None  # a full id resolves without the log
    assert store.resolve("@1").seq == 1 and store.resolve("@1").id == c1["id"]

    log = store.log()
    assert [r["seq"] for r in log] == [2, 1]
    assert log[1]["kind"] == "commit" and log[1]["message"] == "first" and log[1]["author"] == "ada"
    assert log[1]["tags"] == ["v1"] and log[1]["snapshot"] == c1["id"]
    assert log[0]["parent"] == 1
    assert isinstance(log[0]["time"], dt.datetime) and log[0]["time"].tzinfo is not None
    assert len(store.log(1)) == 1

    assert store.tags() == {"v1": store.resolve("v1")}
    moved = store.set_tag("v1", "HEAD", force=True)
    assert moved.id == c2["id"] and store.tags()["v1"].id == c2["id"]
    assert store.log(1)[0]["kind"] == "tag" and store.log(1)[0]["previous"].id == c1["id"]
    assert store.delete_tag("v1").id == c2["id"]
    assert store.tags() == {}

    snap = store.snapshot("HEAD")
    assert snap.id == c2["id"] and sorted(snap.tables) == ["a", "b"]
    assert snap.rows("a") == 13 and snap.table("b")["rows"] == 5
    # What the CLI sees is the same store.
    assert c2["id"][:12] in cli("log", "--store", store.path).stdout


def test_resolve_as_of(store):
    tx = store.begin()
    tx.add("a", numbered(1))
    c = tx.commit("one")
    now = dt.datetime.now(dt.timezone.utc)
    assert store.resolve_as_of(now).id == c["id"]
    assert store.resolve_as_of(now.isoformat()).id == c["id"]
    assert store.resolve_as_of("2999-01-01").id == c["id"]
    with pytest.raises(dstore.NotFound):
        store.resolve_as_of(dt.datetime(2000, 1, 1))
    with pytest.raises(dstore.InvalidInput, match="is not a time"):
        store.resolve_as_of("yesterday")


def test_overwrite_mode(store):
    for n in (10, 4):
        tx = store.begin()
        tx.set_mode("a", "overwrite")
        tx.add("a", numbered(n))
        tx.commit(f"{n} rows")
    assert store.snapshot().rows("a") == 4
    assert store.snapshot("HEAD~1").rows("a") == 10
    with pytest.raises(dstore.InvalidInput, match="unknown write mode"):
        store.begin().set_mode("a", "replace")


def test_transaction_is_single_use_and_with_discards(store):
    tx = store.begin()
    tx.add("a", numbered(2))
    tx.commit("x")
    assert not tx.active
    with pytest.raises(dstore.InvalidInput, match="already committed"):
        tx.commit("again")
    with pytest.raises(dstore.InvalidInput, match="already committed"):
        tx.add("a", numbered(2))

    with pytest.raises(RuntimeError):
        with store.begin() as tx:
            tx.add("a", numbered(7))
            raise RuntimeError("boom")
    assert not tx.active
    assert store.snapshot().rows("a") == 2
    assert len(store.log()) == 1


def test_checkout_and_verify(store, tmp_path):
    tx = store.begin()
    tx.add("a", numbered(100))
    tx.commit("x", tags=["v1"])
    out = tmp_path / "co"
    report = store.checkout("v1", out, tables=["a"])
    assert report["rows"] == 100 and report["files"] == 1
    assert pq.read_table(out / "a").column("id").to_pylist() == list(range(100))
    assert dstore.verify_checkout(out)["ok"]

    csv_out = tmp_path / "csv"
    store.checkout("v1", csv_out, format="csv")
    assert (csv_out / "a").is_dir()

    r = store.verify(all=True)
    assert r["ok"] and r["problems"] == [] and r["snapshots"] == 1 and r["files"] == 1

    # Damage a segment: verify reports it (no exception), scans raise CorruptionError.
    (seg,) = (store_dir := tmp_path / "data.dstore").glob("segments/*/*.parquet")
    data = bytearray(seg.read_bytes())
    data[len(data) // 3] ^= 0xFF
    seg.chmod(0o644)
    seg.write_bytes(bytes(data))
    r = store.verify()
    assert not r["ok"] and str(seg.name) in r["problems"][0]["path"]
    assert store_dir.exists()


def test_store_open_discover_and_repr(store, tmp_path):
    again = dstore.Store.open(tmp_path / "data.dstore")
    assert again.path == store.path
    assert dstore.Store.discover(tmp_path).path == store.path
    assert "data.dstore" in repr(again)
    assert store.reindex() == 0
