"""Scans from Python: projection, filter, limit/offset, and the exact order of docs/order.md,
checked against the real `dstore cat` binary."""

import json

import pyarrow as pa
import pytest

import dstore
from conftest import cli_ids


def ids(scan):
    return [i for b in scan for i in b.column("id").to_pylist()]


def test_columns_filter_limit_offset(numbered_store):
    snap = numbered_store.snapshot("v2")
    t = snap.scan("t", columns=["name", "id"], filter="id >= 100 AND id < 300 AND name != 'row150'").to_table()
    assert t.column_names == ["name", "id"]
    assert t.column("id").to_pylist() == [i for i in range(100, 300) if i != 150]
    assert ids(snap.scan("t", limit=5, offset=10)) == list(range(10, 15))
    assert snap.scan("t", filter="x > 1e9").to_table().num_rows == 0


def test_filter_prunes_row_groups(numbered_store):
    scan = numbered_store.snapshot("v2").scan("t", filter="id < 100")
    assert scan.to_table().num_rows == 100
    stats = scan.stats()
    assert stats["row_groups_read"] == 1
    assert stats["row_groups_pruned"] + 100 * stats["segments_pruned"] >= 1


def test_batches_are_batch_size_rows(numbered_store):
    sizes = [b.num_rows for b in numbered_store.snapshot("v2").scan("t", batch_size=300)]
    assert sizes == [300] * 6 + [200]


@pytest.mark.parametrize(
    "seed,epoch,shard,window",
    [(None, 0, (0, 1), 4), (42, 0, (0, 1), 4), (42, 1, (0, 1), 4), (7, 3, (1, 3), 4), (7, 3, (2, 3), 2), (1, 0, (0, 2), 1)],
)
def test_order_equals_the_rust_cli(numbered_store, seed, epoch, shard, window):
    snap = numbered_store.snapshot("v2")
    py = ids(snap.scan("t", columns=["id"], seed=seed, epoch=epoch, shard=shard, order=1, window=window, batch_size=97))
    args = ["v2", "-t", "t", "--epoch", epoch, "--shard", f"{shard[0]}/{shard[1]}", "--order", 1, "--window", window]
    if seed is not None:
        args += ["--shuffle", seed]
    assert py == cli_ids(numbered_store.path, *args)
    if seed is not None:
        assert py != sorted(py), "a seeded scan is shuffled"


@pytest.mark.parametrize(
    "seed,epoch,shard,budget",
    [(None, 0, (0, 1), None), (42, 0, (0, 1), None), (7, 3, (1, 3), 5000), (1, 0, (0, 2), 20000)],
)
def test_order_2_equals_the_rust_cli(numbered_store, seed, epoch, shard, budget):
    snap = numbered_store.snapshot("v2")
    kw = {} if budget is None else {"memory_budget": budget}
    py = ids(snap.scan("t", columns=["id"], seed=seed, epoch=epoch, shard=shard, batch_size=97, **kw))
    args = ["v2", "-t", "t", "--epoch", epoch, "--shard", f"{shard[0]}/{shard[1]}"]
    if budget is not None:
        args += ["--memory-budget", budget]
    if seed is not None:
        args += ["--shuffle", seed]
        assert py != ids(snap.scan("t", columns=["id"], seed=seed, epoch=epoch, shard=shard, order=1)), "v1 differs"
    assert py == cli_ids(numbered_store.path, *args)


def test_order_options_are_checked(numbered_store):
    snap = numbered_store.snapshot("v2")
    with pytest.raises(dstore.InvalidInput, match="order=1"):
        snap.scan("t", window=2)
    with pytest.raises(dstore.InvalidInput, match="order 2"):
        snap.scan("t", order=1, memory_budget=10)
    with pytest.raises(dstore.InvalidInput, match="version 5"):
        snap.scan("t", order=5)


def test_ranks_cover_every_row_once_and_workers_rebuild_the_rank(numbered_store):
    snap = numbered_store.snapshot("v2")
    seen = []
    for rank in range(3):
        rank_seq = ids(snap.scan("t", seed=5, epoch=2, shard=(rank, 3), batch_size=64))
        seen += rank_seq
        # Worker w of n yields batches w, w+n, ...: merging them round-robin is the rank's sequence.
        for n in (1, 2, 4):
            per_worker = [[b.column("id").to_pylist() for b in snap.scan("t", seed=5, epoch=2, shard=(rank, 3), workers=(w, n), batch_size=64)] for w in range(n)]
            merged = []
            for i in range(max(len(p) for p in per_worker)):
                for p in per_worker:
                    if i < len(p):
                        merged += p[i]
            assert merged == rank_seq, f"rank {rank}, {n} workers"
    assert sorted(seen) == list(range(2000))


def test_epochs_differ_and_repeat(numbered_store):
    snap = numbered_store.snapshot("v2")
    e0 = ids(snap.scan("t", seed=9, epoch=0))
    assert e0 == ids(snap.scan("t", seed=9, epoch=0))
    assert e0 != ids(snap.scan("t", seed=9, epoch=1))


@pytest.mark.parametrize("as_json", [False, True])
def test_cursor_resume_continues_the_sequence(numbered_store, as_json):
    snap = numbered_store.snapshot("v2")
    whole = ids(snap.scan("t", seed=3, epoch=1, shard=(1, 2), batch_size=70))
    scan = snap.scan("t", seed=3, epoch=1, shard=(1, 2), batch_size=70)
    head = []
    for _ in range(4):
        head += scan.read_next_batch().column("id").to_pylist()
    cursor = scan.cursor()
    assert cursor["position"] == 280 and cursor["seed"] == 3 and cursor["epoch"] == 1
    if as_json:
        cursor = json.dumps(cursor)
    # The cursor carries seed, epoch and shard: the resumed scan needs only the table.
    rest = ids(snap.scan("t", batch_size=70, cursor=cursor))
    assert head + rest == whole


def test_cursor_follows_the_pyarrow_reader(numbered_store):
    scan = numbered_store.snapshot("v2").scan("t", batch_size=500)
    reader = scan.reader
    reader.read_next_batch()
    reader.read_next_batch()
    assert scan.cursor()["position"] == 1000
    assert scan.to_table().num_rows == 1000  # the rest
    assert scan.cursor()["position"] == 2000


def test_cursor_of_a_limited_scan(numbered_store):
    snap = numbered_store.snapshot("v2")
    scan = snap.scan("t", limit=150, offset=20, batch_size=100)
    first = scan.read_next_batch().column("id").to_pylist()
    assert first == list(range(20, 100))
    rest = ids(snap.scan("t", batch_size=100, cursor=scan.cursor()))
    assert rest == list(range(100, 170))


def test_cursor_for_another_table_is_refused(numbered_store):
    snap = numbered_store.snapshot("v2")
    c = snap.scan("t").cursor()
    c["table"] = "other"
    with pytest.raises(dstore.InvalidInput, match="cursor is for"):
        snap.scan("t", cursor=c)
    with pytest.raises(dstore.InvalidInput, match="not a dstore scan cursor"):
        snap.scan("t", cursor={"position": 3})


def test_bad_scan_arguments_raise_invalid_input(numbered_store):
    snap = numbered_store.snapshot("v2")
    with pytest.raises(dstore.InvalidInput, match="filter"):
        snap.scan("t", filter="id >>> 3")
    with pytest.raises(dstore.InvalidInput, match="rank 2 is outside a world of 2"):
        snap.scan("t", shard=(2, 2))
    with pytest.raises(dstore.DstoreError):
        snap.scan("t", columns=["nope"])
    with pytest.raises(dstore.NotFound):
        snap.scan("nope")


def test_scan_schema_is_the_projection(numbered_store):
    scan = numbered_store.snapshot("v2").scan("t", columns=["x"])
    assert scan.schema == pa.schema([pa.field("x", pa.float64())])
