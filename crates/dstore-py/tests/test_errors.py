"""Library errors raise the mapped exception classes, with the Rust messages and hints."""

import pytest

import dstore
from conftest import cli, numbered


def cli_error(*args):
    """The `error: ...` and `hint: ...` lines of a failing CLI command."""
    p = cli(*args, check=False)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    err = "\n".join(lines[: next((i for i, l in enumerate(lines) if l.startswith("hint: ")), len(lines))])
    hint = next((l[len("hint: ") :] for l in lines if l.startswith("hint: ")), None)
    return err.removeprefix("error: "), hint


def test_hierarchy():
    for cls in (dstore.NotFound, dstore.AmbiguousRef):
        assert issubclass(cls, dstore.DstoreError) and issubclass(cls, LookupError)
    assert issubclass(dstore.InvalidInput, ValueError)
    assert issubclass(dstore.SchemaMismatch, dstore.InvalidInput)
    assert issubclass(dstore.CatalogError, dstore.CorruptionError)
    for cls in (dstore.NotAStore, dstore.AlreadyExists, dstore.CorruptionError, dstore.UnsupportedFormat,
                dstore.TagExists, dstore.CommitConflict, dstore.IoError):
        assert issubclass(cls, dstore.DstoreError) and cls.__module__ == "dstore"


def test_not_found_has_the_cli_message_and_a_python_hint(store):
    tx = store.begin()
    tx.add("a", numbered(3))
    tx.commit("x")
    with pytest.raises(dstore.NotFound) as e:
        store.resolve("nope")
    msg, cli_hint = cli_error("show", "--store", store.path, "nope")
    assert str(e.value) == msg
    # The same message; the hint in the Python API's terms, not the CLI's.
    assert "`dstore log`" in cli_hint
    assert "store.log()" in e.value.hint and e.value.hint != cli_hint
    assert e.value.__notes__ == [f"hint: {e.value.hint}"]
    assert e.value.is_corruption is False
    with pytest.raises(dstore.NotFound, match="table `b`"):
        store.snapshot().scan("b")


def test_not_a_store_and_already_exists(tmp_path, store):
    with pytest.raises(dstore.NotAStore) as e:
        dstore.Store.open(tmp_path)
    assert e.value.path == str(tmp_path)
    msg, _ = cli_error("log", "--store", tmp_path)
    assert str(e.value) == msg
    with pytest.raises(dstore.AlreadyExists):
        dstore.Store.init(store.path)


def test_schema_mismatch_lists_the_differences(store):
    tx = store.begin()
    tx.add("a", numbered(3))
    tx.commit("x")
    bad = numbered(3).drop_columns(["name"])
    with pytest.raises(dstore.SchemaMismatch) as e:
        store.begin().add("a", bad)
    assert e.value.table == "a" and e.value.differences
    assert "name" in str(e.value)
    assert isinstance(e.value, ValueError)


def test_tag_exists_and_ambiguous(store):
    for i in range(20):
        tx = store.begin()
        tx.add("a", numbered(1, start=i))
        tx.commit(f"c{i}", tags=[f"t{i}"])
    with pytest.raises(dstore.TagExists) as e:
        store.set_tag("t0", "HEAD")
    assert e.value.tag == "t0" and "force=True" in e.value.hint and "--force" not in e.value.hint
    # A ref that is neither a tag nor 8+ hex digits of an id.
    with pytest.raises(dstore.NotFound):
        store.resolve("0")


def test_invalid_input(store):
    with pytest.raises(dstore.InvalidInput):
        store.begin().add("bad name!", numbered(1))
    with pytest.raises(dstore.InvalidInput, match="unknown checkout format"):
        store.checkout("HEAD", "/nonexistent", format="xml")


def test_corruption_during_a_scan_raises_corruption_error(store, tmp_path):
    tx = store.begin()
    tx.add("a", numbered(5000), row_group_rows=1000)
    tx.commit("x")
    (seg,) = (tmp_path / "data.dstore").glob("segments/*/*.parquet")
    data = bytearray(seg.read_bytes())
    data[200] ^= 0x01  # inside the first column chunk
    seg.chmod(0o644)
    seg.write_bytes(bytes(data))
    scan = store.snapshot().scan("a", batch_size=1000)
    with pytest.raises(dstore.CorruptionError) as e:
        list(scan)
    assert e.value.is_corruption and "verify" in e.value.hint
    # The same damage through to_table().
    with pytest.raises(dstore.CorruptionError):
        store.snapshot().scan("a").to_table()
    # The failed batch is not counted as delivered: resuming would retry it.
    assert scan.cursor()["position"] == 0
