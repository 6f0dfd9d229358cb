"""`Snapshot.scan(table, since=...)`: only the rows the snapshot has and the other has not, in
the same exact order as `dstore cat --since`; the torch dataset's `since=` (torch tests are
skipped without torch, as in test_torch.py)."""

import pyarrow as pa
import pytest

import dstore
from conftest import cli_ids, numbered


def ids(scan):
    return [i for b in scan for i in b.column("id").to_pylist()]


def test_since_an_append_is_the_appended_rows(numbered_store):
    snap = numbered_store.snapshot("v2")
    scan = snap.scan("t", since="v1")
    assert ids(scan) == list(range(1200, 2000))
    assert scan.positions == 800
    assert scan.cursor()["since"] == numbered_store.snapshot("v1").id
    # Read only the appended segment: no byte of v1's segments.
    full = snap.scan("t")
    full.to_table()
    assert 0 < scan.stats()["bytes_read"] < full.stats()["bytes_read"]


@pytest.mark.parametrize("seed,shard", [(None, (0, 1)), (5, (0, 2)), (5, (1, 2))])
def test_since_equals_the_cli_in_exact_order(numbered_store, seed, shard):
    snap = numbered_store.snapshot("v2")
    kwargs = {"shard": shard, "seed": seed}
    got = ids(snap.scan("t", since="v1", **kwargs))
    args = ["v2", "-t", "t", "--since", "v1", "--shard", f"{shard[0]}/{shard[1]}"]
    if seed is not None:
        args += ["--shuffle", str(seed)]
    assert got == cli_ids(numbered_store.path, *args)


def test_since_a_rewrite_is_the_new_rows_and_a_cursor_resumes_it(store):
    tx = store.begin()
    tx.add("t", numbered(10))
    tx.add("t", numbered(10, start=10))
    tx.commit("one", tags=["a"])
    # The second half rewritten: 12 and 15 gone, 100 added; the first half unchanged.
    second = numbered(10, start=10).to_pylist()
    rows = [r for r in second if r["id"] not in (12, 15)]
    rows.insert(3, {"id": 100, "x": 50.0, "name": "row100"})
    tx = store.begin()
    tx.set_mode("t", "overwrite")
    tx.add("t", numbered(10))
    tx.add("t", pa.Table.from_pylist(rows, schema=numbered(1).schema))
    tx.commit("two", tags=["b"])
    snap = store.snapshot("b")
    assert ids(snap.scan("t", since="a")) == [100]
    assert ids(snap.scan("t", since="b")) == []
    # Resuming needs the same `since`.
    scan = snap.scan("t", since="a", batch_size=2)
    next(iter(scan))
    cursor = scan.cursor()
    with pytest.raises(dstore.InvalidInput, match="since"):
        snap.scan("t", cursor=cursor)
    with pytest.raises(dstore.NotFound, match='since="nosuchtag".*`nosuchtag`'):
        snap.scan("t", since="nosuchtag")


def test_torch_dataset_since(numbered_store):
    pytest.importorskip("torch", reason="torch is not installed (see test_torch.py)")
    from dstore.torch import IterableDataset

    pin = f"dstore://{numbered_store.path}@v2#t"
    ds = IterableDataset(pin, columns=["id"], batch_size=300, since="v1")
    assert ds.rows == 800 and len(ds) == 3
    got = [i for b in ds for i in b["id"].tolist()]
    assert got == list(range(1200, 2000))
    state = ds.state_dict()
    assert state["since"] == numbered_store.snapshot("v1").id
