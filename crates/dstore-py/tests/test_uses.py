"""Who uses what from Python: automatic recording of pinned opens, dstore.record_use,
Store.uses / retire_use, Store.expire / gc that keep what runs use, lineage with
Transaction.commit(sources=), and the CLI seeing the same records."""

import json
import os
import warnings

import pytest

import dstore
from conftest import cli, numbered

RUN_VARS = ("DSTORE_RUN", "MLFLOW_RUN_ID", "WANDB_RUN_ID", "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID")


@pytest.fixture(autouse=True)
def no_ambient_run(monkeypatch):
    """No run id from the machine running the tests."""
    for v in RUN_VARS + ("DSTORE_RECORD_USE",):
        monkeypatch.delenv(v, raising=False)


@pytest.fixture
def versions(store):
    ids = []
    for i in range(3):
        tx = store.begin()
        tx.add("t", numbered(10, start=i * 10))
        ids.append(tx.commit(f"v{i}", tags=[f"v{i}"])["id"])
    return store, ids


def test_a_pinned_open_with_a_run_id_records_one_use(versions, monkeypatch, tmp_path):
    store, ids = versions
    pin = f"dstore://{store.path}@v1#t"
    assert dstore.Pin(pin).resolve() is not None
    assert store.uses("v1") == []  # no run id: nothing recorded
    monkeypatch.setenv("MLFLOW_RUN_ID", "mlflow-1")
    monkeypatch.setenv("DSTORE_RUN", "exp-42")  # DSTORE_RUN comes first
    for _ in range(3):
        dstore.Pin(pin).resolve()
    uses = store.uses("v1")
    assert len(uses) == 1, uses
    u = uses[0]
    assert (u["run"], u["snapshot"], u["tables"], u["live"]) == ("exp-42", ids[1], ["t"], True)
    assert u["author"] and u["host"]
    assert store.uses(run="exp-42") == uses
    # Off by keyword and by environment.
    monkeypatch.setenv("DSTORE_RUN", "exp-43")
    dstore.Pin(pin).resolve(record_use=False)
    monkeypatch.setenv("DSTORE_RECORD_USE", "0")
    dstore.Pin(pin).resolve()
    assert store.uses(run="exp-43") == []
    # The CLI reads the same record.
    out = json.loads(cli("--store", store.path, "uses", "v1", "--json").stdout)
    assert [x["run"] for x in out] == ["exp-42"]


def test_record_use_explicitly_with_columns_seed_lock_and_labels(versions, tmp_path):
    store, ids = versions
    snap = store.snapshot("v2")
    assert dstore.record_use(snap) is None  # no run id anywhere
    lock = dstore.LockFile.lock({"train": f"dstore://{store.path}@v2#t"})
    r = dstore.record_use(snap, "exp-9", tables=["t"], columns=["id", "x"], seed=7, lock=lock, stage="train")
    assert r["created"] and r["live"]
    again = dstore.record_use(snap, "exp-9", tables=["t"], columns=["x", "id"], seed=7, lock=lock, stage="other")
    assert not again["created"]  # same read of the same run: the same record (labels are facts)
    (u,) = store.uses("v2")
    assert u["columns"] == ["id", "x"] and u["seed"] == 7 and u["labels"] == {"stage": "train"}
    assert len(u["lock_blake3"]) == 64
    with pytest.raises(dstore.InvalidInput, match="control characters"):
        dstore.record_use(snap, "exp\x0142")
    with pytest.raises(dstore.InvalidInput, match="label key"):
        dstore.record_use(snap, "exp-1", **{"bad key": "x"})
    with pytest.raises(dstore.NotFound):
        dstore.record_use(snap, "exp-1", tables=["nope"])
    with pytest.raises(TypeError):
        dstore.record_use(42, "exp-1")
    assert len(store.uses("v2")) == 1  # the refused ones wrote nothing
    # The lock records every entry.
    assert lock.record_uses("exp-10") == {"train": None}
    assert [x["run"] for x in store.uses(run="exp-10")] == ["exp-10"]


def test_expire_and_gc_keep_what_a_run_uses_until_it_retires(versions):
    store, ids = versions
    dstore.record_use(store.snapshot("v0"), "exp-1")
    store.delete_tag("v0")
    store.delete_tag("v1")
    rep = store.expire(keep_last=1, message="cleanup", dry_run=True)
    assert [e["snapshot"] for e in rep["expired"]] == [ids[1]]
    assert [(p["snapshot"], p["keep"]) for p in rep["protected"]] == [(ids[0], [{"why": "use", "name": "exp-1"}])]
    rep = store.expire(keep_last=1, message="cleanup")
    assert rep["seq"] is not None
    with pytest.raises(dstore.NotFound, match="expired on .* by .*cleanup") as e:
        store.snapshot(ids[1])
    assert e.value.snapshot == ids[1] and e.value.reason == "cleanup"
    assert any(r["kind"] == "expire" for r in store.log())
    # v0 stays readable; gc keeps its data.
    store.gc(grace=0)
    assert store.snapshot(ids[0]).scan("t").read_all().num_rows == 10
    r = store.retire_use(ids[0], "exp-1", reason="done")
    assert r["created"] and r["reason"] == "done"
    assert store.retire_use(ids[0], "exp-1")["created"] is False
    assert store.uses(ids[0])[0]["live"] is False
    rep = store.expire(keep_last=1, keep_within="0s")
    assert [e["snapshot"] for e in rep["expired"]] == [ids[0]]
    g = store.gc(grace=0)
    assert g["reachable"] > 0
    assert store.verify(all=True)["ok"]
    assert store.snapshot("HEAD").scan("t").read_all().num_rows == 30


def test_a_store_that_cannot_be_written_warns_once_and_the_read_goes_on(versions, monkeypatch):
    store, ids = versions
    root = store.path
    # `runs` and `uses` as files: no use can be written (as root too, where permissions
    # would not stop the write).
    for name in ("runs", "uses"):
        with open(os.path.join(root, name), "w") as f:
            f.write("not a directory")
    monkeypatch.setenv("DSTORE_RUN", "exp-ro")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for _ in range(3):
            snap = dstore.Pin(f"dstore://{root}@v2#t").resolve().snapshot()
            assert snap.scan("t").read_all().num_rows == 30
    msgs = [str(x.message) for x in w if "could not record" in str(x.message)]
    assert len(msgs) == 1, [str(x.message) for x in w]
    assert "DSTORE_RECORD_USE=0" in msgs[0]
    # An explicit record raises instead.
    with pytest.raises(dstore.DstoreError):
        dstore.record_use(snap, "exp-ro")


def test_lineage_with_transaction_sources(versions, tmp_path):
    store, ids = versions
    feats = dstore.Store.init(tmp_path / "feats.dstore")
    tx = feats.begin()
    tx.add("f", numbered(5))
    c = tx.commit("features", sources=[f"dstore://{store.path}@v2#t"])
    up = feats.snapshot(c["id"]).lineage()
    assert up["snapshot"] == c["id"]
    assert [(e["snapshot"], e["table"], e["message"]) for e in up["edges"]] == [(ids[2], "t", "v2")]
    down = store.snapshot("v2").lineage(down=True)
    assert [e["snapshot"] for e in down["edges"]] == [c["id"]]
    assert feats.log()[0]["upstream"][0]["snapshot"] == ids[2]
    with pytest.raises(dstore.NotFound, match="from --from"):
        tx = feats.begin()
        tx.add("f", numbered(5, start=5))
        tx.commit("bad", sources=[f"dstore://{store.path}@nope"])
    assert len(feats.log()) == 1
