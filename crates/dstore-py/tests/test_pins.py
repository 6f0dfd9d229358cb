"""dstore.Pin and dstore.LockFile: the same grammar and files as the Rust library and CLI."""

import pickle

import pytest

import dstore
from conftest import cli, numbered


@pytest.fixture
def pinned(store):
    tx = store.begin()
    tx.add("train", numbered(30))
    tx.add("eval", numbered(10))
    c = tx.commit("x", tags=["v3"])
    return store, c["id"]


def test_parse_and_print():
    p = dstore.Pin("dstore:///srv/data/corpus.dstore@v3#train")
    assert (p.store, p.ref, p.table) == ("/srv/data/corpus.dstore", "v3", "train")
    assert str(p) == "dstore:///srv/data/corpus.dstore@v3#train"
    assert not p.is_full and p.full_id is None
    q = dstore.Pin("dstore://corpus.dstore@@12")
    assert q.ref == "@12" and q.table is None and q.store == "corpus.dstore"
    assert dstore.Pin.of("corpus.dstore", "HEAD~1", "eval") == dstore.Pin("dstore://corpus.dstore@HEAD~1#eval")
    assert p == "dstore:///srv/data/corpus.dstore@v3#train"
    assert p.with_table(None).table is None
    assert pickle.loads(pickle.dumps(p)) == p
    assert len({p, dstore.Pin(str(p))}) == 1


@pytest.mark.parametrize("bad", ["dstore://s", "http://x@HEAD", "dstore://s@bad%zz", "dstore://s@HEAD#no table"])
def test_bad_pins_are_invalid_input(bad):
    with pytest.raises(dstore.InvalidInput):
        dstore.Pin(bad)


def test_resolve_gives_the_canonical_pin(pinned, tmp_path, monkeypatch):
    store, sid = pinned
    monkeypatch.chdir(tmp_path)
    r = dstore.Pin("dstore://data.dstore@v3#train").resolve()
    assert r.id == sid and r.table == "train" and r.seq == 1
    assert r.pin.is_full and r.pin.full_id == sid
    # The CLI prints the same canonical pin.
    assert str(r.pin) == cli("pin", "--store", store.path, "v3", "-t", "train").stdout.strip()
    snap = r.snapshot()
    assert snap.id == sid and snap.scan("train").to_table().num_rows == 30
    assert dstore.Pin("dstore://data.dstore@HEAD").resolve(base=tmp_path).id == sid
    with pytest.raises(dstore.NotFound):
        dstore.Pin("dstore://data.dstore@v3#test").resolve()


def test_lock_write_read_check(pinned, tmp_path, monkeypatch):
    store, sid = pinned
    monkeypatch.chdir(tmp_path)
    config = {"data.train": "dstore://data.dstore@v3#train", "data.eval": dstore.Pin("dstore://data.dstore@HEAD#eval")}
    lock = dstore.LockFile.lock(config)
    assert len(lock) == 2 and "data.train" in lock
    path = tmp_path / "dstore.lock"
    lock.write(path)
    assert lock.path == str(path)
    back = dstore.LockFile.read(path)
    entry = back.get("data.train")
    assert entry["snapshot"] == sid and entry["requested"] == "dstore://data.dstore@v3#train"
    assert entry["tables"]["train"]["rows"] == 30 and len(entry["tables"]["train"]["schema_blake3"]) == 64
    assert back.pins == lock.pins and back.version == 1
    back.check()
    back.check_config(config)
    assert back.snapshot("data.eval").id == sid
    # The CLI accepts the Python-written lock (`--check` against the same config).
    cfg = tmp_path / "config.toml"
    cfg.write_text('[data]\ntrain = "dstore://data.dstore@v3#train"\neval = "dstore://data.dstore@HEAD#eval"\n')
    assert cli("lock", cfg, "--check").returncode == 0

    # A config whose pins changed, and a lock whose rows no longer match, are refused.
    with pytest.raises(dstore.InvalidInput):
        back.check_config({"data.train": "dstore://data.dstore@v3#train"})
    path.write_text(path.read_text().replace("rows = 30", "rows = 31"))
    edited = dstore.LockFile.read(path)
    with pytest.raises(dstore.InvalidInput, match="no longer match"):
        edited.check()
    with pytest.raises(dstore.InvalidInput):
        edited.snapshot("data.train")
    assert "version = 1" in dstore.LockFile().to_toml()
