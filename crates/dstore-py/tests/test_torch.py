"""`dstore.torch`: the IterableDataset with real torch DataLoaders.

The batch sequence of a rank is the binding's `snap.scan(..., shard=(rank, world))` cut into
batches; whatever the number of workers, a DataLoader must yield exactly it, every row once per
epoch across ranks, and resume from a state_dict must continue it exactly.

torch is large (docs/python.md): the default `scripts/python.sh` does not install it and these
tests are skipped; `DSTORE_TORCH=1 scripts/python.sh` installs it and runs them. That
`import dstore` alone never imports torch is checked without torch, in test_torch_optional.py.
"""

import json
import pickle
import subprocess
import sys
import textwrap
import warnings

import pyarrow as pa
import pytest

import dstore


# 4 workers on a 2-CPU machine is the point of some tests, not a mistake.
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")

NO_TORCH = "torch is not installed: `DSTORE_TORCH=1 scripts/python.sh` installs it (~3 GB download) and runs these tests"


with warnings.catch_warnings():
    # The PyPI wheel warns on import when numpy is missing; dstore.torch does not use numpy.
    warnings.simplefilter("ignore")
    _torch = pytest.importorskip("torch", reason=NO_TORCH)  # skips the whole module, said once


@pytest.fixture(scope="module")
def torch():
    return _torch


@pytest.fixture(scope="module")
def dt(torch):
    import dstore.torch

    return dstore.torch


def pin_of(store, ref="v2", table="t"):
    return f"dstore://{store.path}@{ref}#{table}"


def rank_batches(snap, rank=0, world=1, batch_size=64, seed=7, epoch=0, filter=None):
    """The rank's batch sequence as the binding yields it (ids per batch)."""
    scan = snap.scan("t", columns=["id"], filter=filter, seed=seed, epoch=epoch, shard=(rank, world), batch_size=batch_size)
    return [b.column("id").to_pylist() for b in scan]


def loader_batches(dt, ds, num_workers, **kw):
    return [b["id"].tolist() for b in dt.DataLoader(ds, num_workers=num_workers, **kw)]


def test_import_dstore_torch_imports_torch(torch):
    code = "import sys, dstore.torch; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize("world", [1, 2])
def test_every_row_once_and_the_same_sequence_for_every_worker_count(dt, numbered_store, world):
    snap = numbered_store.snapshot("v2")
    seen = []
    for rank in range(world):
        expected = rank_batches(snap, rank, world)
        ds = dt.IterableDataset(pin_of(numbered_store), batch_size=64, seed=7, rank=rank, world_size=world)
        assert len(ds) == len(expected)
        for nw in (0, 1, 2, 4):
            assert loader_batches(dt, ds, nw) == expected, f"rank {rank}/{world}, {nw} workers"
        seen += [i for b in expected for i in b]
    assert sorted(seen) == list(range(2000))


def test_a_plain_torch_dataloader_gives_the_same_sequence(torch, dt, numbered_store):
    snap = numbered_store.snapshot("v2")
    ds = dt.IterableDataset(pin_of(numbered_store), batch_size=100, seed=7, rank=1, world_size=2)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=3)
    assert [b["id"].tolist() for b in loader] == rank_batches(snap, 1, 2, batch_size=100)
    assert len(loader) == 10


def test_iterating_the_dataset_itself(dt, numbered_store):
    snap = numbered_store.snapshot("v2")
    ds = dt.IterableDataset(pin_of(numbered_store), batch_size=300)
    assert [b["id"].tolist() for b in ds] == rank_batches(snap, batch_size=300, seed=None)


def test_set_epoch_changes_the_order_and_the_same_epoch_repeats(dt, numbered_store):
    snap = numbered_store.snapshot("v2")
    ds = dt.IterableDataset(pin_of(numbered_store), batch_size=64, seed=7)
    e0 = loader_batches(dt, ds, 2)
    ds.set_epoch(1)
    e1 = loader_batches(dt, ds, 2)
    assert e1 != e0 and sorted(sum(e1, [])) == sorted(sum(e0, [])) == list(range(2000))
    assert e1 == rank_batches(snap, epoch=1) == loader_batches(dt, ds, 4)
    ds.set_epoch(0)
    assert loader_batches(dt, ds, 1) == e0


def test_without_seed_storage_order_and_shuffle_false(dt, numbered_store):
    ds = dt.IterableDataset(pin_of(numbered_store), batch_size=500, seed=7, shuffle=False)
    assert sum(loader_batches(dt, ds, 2), []) == list(range(2000))
    with pytest.raises(ValueError, match="needs seed"):
        dt.IterableDataset(pin_of(numbered_store), shuffle=True)


def consume(dt, ds, num_workers, k):
    """Takes k batches from a DataLoader, then abandons it (as a crash would); returns them and
    the state saved after them, through JSON as a checkpoint would keep it."""
    loader = dt.DataLoader(ds, num_workers=num_workers)
    head = []
    it = iter(loader)
    for _ in range(k):
        head.append(next(it)["id"].tolist())
    state = json.loads(json.dumps(loader.state_dict()))
    del it
    return head, state


@pytest.mark.parametrize(
    "before,after,k",
    [(0, 0, 5), (0, 3, 5), (2, 2, 3), (2, 4, 3), (4, 1, 7), (3, 2, 1), (1, 4, 0), (2, 0, 9), (4, 4, 16)],
)
def test_resume_continues_the_sequence_with_any_worker_count(dt, numbered_store, before, after, k):
    snap = numbered_store.snapshot("v2")
    whole = rank_batches(snap, 1, 2, epoch=3)  # 16 batches
    make = lambda: dt.IterableDataset(pin_of(numbered_store), batch_size=64, seed=7, epoch=3, rank=1, world_size=2)
    head, state = consume(dt, make(), before, k)
    assert head == whole[:k]
    assert (state["epoch"], state["batch"], state["position"]) == (3, k, 64 * k)
    fresh = make()  # as in a new process
    fresh.set_epoch(0)
    fresh.load_state_dict(state)
    assert fresh.epoch == 3
    assert loader_batches(dt, fresh, after) == whole[k:]
    # The resume point is used once: the next iteration is the whole epoch again.
    assert loader_batches(dt, fresh, after) == whole
    assert fresh.state_dict()["batch"] == len(whole)


def test_resume_in_the_epoch_loop(dt, numbered_store):
    """The usual loop: load the state, then set_epoch from the state's epoch on."""
    snap = numbered_store.snapshot("v2")
    ds = dt.IterableDataset(pin_of(numbered_store), batch_size=128, seed=1)
    ds.set_epoch(2)
    head, state = consume(dt, ds, 2, 4)
    ds = dt.IterableDataset(pin_of(numbered_store), batch_size=128, seed=1)
    ds.load_state_dict(state)
    got = {}
    loader = dt.DataLoader(ds, num_workers=3)
    for epoch in range(state["epoch"], 4):
        loader.set_epoch(epoch)  # the state's epoch: keeps the resume point
        got[epoch] = [b["id"].tolist() for b in loader]
    assert head + got[2] == rank_batches(snap, batch_size=128, seed=1, epoch=2)
    assert got[3] == rank_batches(snap, batch_size=128, seed=1, epoch=3)


def test_a_pending_resume_point_is_dropped_by_another_epoch(dt, numbered_store):
    ds = dt.IterableDataset(pin_of(numbered_store), batch_size=500, seed=1)
    _, state = consume(dt, ds, 0, 2)
    ds.load_state_dict(state)
    assert ds.state_dict()["batch"] == 2
    ds.set_epoch(1)
    assert ds.state_dict()["batch"] == 0 and len(loader_batches(dt, ds, 2)) == 4


def test_resume_with_a_filter_and_empty_batches(dt, numbered_store):
    """Batches are cut before filtering: a state after k batches is position k × batch_size even
    when the filter left batches short or empty, and resume stays exact."""
    snap = numbered_store.snapshot("v2")
    flt = "id < 40 OR id >= 1980"  # sparse: order 2 mixes the whole table, so some batches are empty
    whole = rank_batches(snap, 0, 2, batch_size=50, seed=4, filter=flt)
    assert len(whole) == 20 and any(len(b) == 0 for b in whole) and any(len(b) < 50 for b in whole)
    make = lambda: dt.IterableDataset(pin_of(numbered_store), batch_size=50, seed=4, filter=flt, rank=0, world_size=2)
    for nw in (0, 2, 4):
        assert loader_batches(dt, make(), nw) == whole
    head, state = consume(dt, make(), 3, 11)
    assert head == whole[:11] and state["position"] == 550
    ds = make()
    ds.load_state_dict(state)
    assert loader_batches(dt, ds, 2) == whole[11:]


def test_resume_iterating_the_dataset_itself(dt, numbered_store):
    snap = numbered_store.snapshot("v2")
    whole = rank_batches(snap, batch_size=300)
    ds = dt.IterableDataset(pin_of(numbered_store), batch_size=300, seed=7)
    it = iter(ds)
    head = [next(it)["id"].tolist() for _ in range(2)]
    state = ds.state_dict()
    assert state["batch"] == 2
    ds.load_state_dict(state)
    assert head + [b["id"].tolist() for b in ds] == whole


def test_a_state_of_another_sequence_is_refused(dt, numbered_store):
    ds = dt.IterableDataset(pin_of(numbered_store), batch_size=64, seed=7)
    state = ds.state_dict()
    for key, value in [("seed", 8), ("batch_size", 32), ("world_size", 2), ("snapshot", "0" * 64), ("window", 2), ("order", 1), ("memory_budget", 1000)]:
        with pytest.raises(ValueError, match=key):
            ds.load_state_dict({**state, key: value})
    with pytest.raises(ValueError, match="not a dstore.torch state"):
        ds.load_state_dict({"epoch": 1, "batch": 2})
    # Another rank's state is fine: ranks in lockstep have consumed as many batches.
    other = dt.IterableDataset(pin_of(numbered_store), batch_size=64, seed=7, rank=1, world_size=2)
    mine = dt.IterableDataset(pin_of(numbered_store), batch_size=64, seed=7, rank=0, world_size=2)
    mine.load_state_dict({**other.state_dict(), "batch": 3})
    assert mine.state_dict()["batch"] == 3 and mine.state_dict()["rank"] == 0


def test_a_state_saved_before_order_2_resumes_order_1_exactly(dt, numbered_store):
    v1 = dict(batch_size=64, seed=7, order=1, window=2)
    whole = [b["id"].tolist() for b in dt.IterableDataset(pin_of(numbered_store), **v1)]
    ds = dt.IterableDataset(pin_of(numbered_store), **v1)
    it = iter(ds)
    head = [next(it)["id"].tolist() for _ in range(3)]
    old = {k: v for k, v in ds.state_dict().items() if k not in ("order", "memory_budget")}
    again = dt.IterableDataset(pin_of(numbered_store), **v1)
    again.load_state_dict(old)
    assert head + [b["id"].tolist() for b in again] == whole
    with pytest.raises(ValueError, match="order"):
        dt.IterableDataset(pin_of(numbered_store), batch_size=64, seed=7).load_state_dict(old)


def test_drop_last_gives_every_rank_the_same_full_batches(dt, numbered_store):
    snap = numbered_store.snapshot("v2")
    # Ranks of a world of 3 hold 666, 667 and 667 rows: 6, 7 and 7 batches of 111.
    lens = [len(dt.IterableDataset(pin_of(numbered_store), batch_size=111, rank=r, world_size=3)) for r in range(3)]
    assert lens == [6, 7, 7]
    for r in range(3):
        ds = dt.IterableDataset(pin_of(numbered_store), batch_size=111, seed=2, rank=r, world_size=3, drop_last=True)
        assert len(ds) == 6
        for nw in (0, 4):
            got = loader_batches(dt, ds, nw)
            assert got == rank_batches(snap, r, 3, batch_size=111, seed=2)[:6]
            assert [len(b) for b in got] == [111] * 6


def test_the_pin_is_resolved_once_and_spawned_workers_read_it(dt, numbered_store):
    numbered_store.set_tag("moving", "v1")
    ds = dt.IterableDataset(pin_of(numbered_store, "moving"), batch_size=500, seed=3)
    assert ds.snapshot_id == numbered_store.resolve("v1").id
    numbered_store.set_tag("moving", "v2", force=True)
    expected = rank_batches(numbered_store.snapshot("v1"), batch_size=500, seed=3)
    assert sum(len(b) for b in expected) == 1200
    # Spawned workers get the dataset pickled (the pin as a full snapshot id) and open it again.
    assert loader_batches(dt, ds, 2, multiprocessing_context="spawn") == expected
    copy = pickle.loads(pickle.dumps(ds))
    assert copy.snapshot_id == ds.snapshot_id and [b["id"].tolist() for b in copy] == expected


def test_pin_forms_and_errors(dt, numbered_store):
    full = dt.IterableDataset(dstore.Pin(pin_of(numbered_store)))
    assert full.table == "t" and full.rows == 2000
    assert dt.IterableDataset(dstore.Pin.of(numbered_store.path, "v2"), table="t").snapshot_id == full.snapshot_id
    assert dt.IterableDataset(dstore.Pin(pin_of(numbered_store)).resolve()).snapshot_id == full.snapshot_id
    with pytest.raises(ValueError, match="names no table"):
        dt.IterableDataset(f"dstore://{numbered_store.path}@v2")
    with pytest.raises(ValueError, match="names `t`"):
        dt.IterableDataset(pin_of(numbered_store), table="u")
    with pytest.raises(ValueError, match="both rank= and world_size="):
        dt.IterableDataset(pin_of(numbered_store), rank=1)
    with pytest.raises(ValueError, match="outside a world"):
        dt.IterableDataset(pin_of(numbered_store), rank=2, world_size=2)
    with pytest.raises(dstore.InvalidInput, match="filter"):
        dt.IterableDataset(pin_of(numbered_store), filter="id >>> 3")
    with pytest.raises(dstore.DstoreError, match="nope"):
        dt.IterableDataset(pin_of(numbered_store), columns=["id", "nope"])
    with pytest.raises(dstore.NotFound):
        dt.IterableDataset(pin_of(numbered_store, table="nope"))
    with pytest.raises(ValueError, match="whole batches"):
        dt.DataLoader(full, batch_size=4)
    with pytest.raises(ValueError, match="persistent_workers"):
        dt.DataLoader(full, num_workers=2, persistent_workers=True)
    with pytest.raises(ValueError, match="in_order"):
        dt.DataLoader(full, num_workers=2, in_order=False)


# -- tensors --------------------------------------------------------------------------------------


def typed(n=1000):
    """No nulls: every type dstore.torch turns into a tensor or a list."""
    i = pa.array(range(n), pa.int64())
    fsl = pa.FixedSizeListArray.from_arrays(pa.array([float(v) for v in range(3 * n)], pa.float32()), 3)
    nested = pa.FixedSizeListArray.from_arrays(
        pa.FixedSizeListArray.from_arrays(pa.array([v % 30000 for v in range(4 * n)], pa.int16()), 2), 2
    )
    return pa.table(
        {
            "id": i,
            "i8": pa.array([v % 128 - 64 for v in range(n)], pa.int8()),
            "i16": pa.array([v * 7 - 3000 for v in range(n)], pa.int16()),
            "i32": pa.array([v * 100003 - 2**30 for v in range(n)], pa.int32()),
            "u8": pa.array([v % 256 for v in range(n)], pa.uint8()),
            "u16": pa.array([v * 60 for v in range(n)], pa.uint16()),
            "u32": pa.array([v * 4_000_000 for v in range(n)], pa.uint32()),
            "u64": pa.array([2**63 + v for v in range(n)], pa.uint64()),
            "f16": pa.array([v / 4 for v in range(n)], pa.float32()).cast(pa.float16()),
            "f32": pa.array([v / 3 for v in range(n)], pa.float32()),
            "f64": pa.array([v / 3 - 100 for v in range(n)], pa.float64()),
            "b": pa.array([v % 3 == 0 for v in range(n)], pa.bool_()),
            "ts": pa.array([1_700_000_000_000_000 + v for v in range(n)], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "d32": pa.array([v for v in range(n)], pa.int32()).cast(pa.date32()),
            "fsl": fsl,
            "nested": nested,
            "s": pa.array([f"row {v} ✓" for v in range(n)], pa.string()),
            "ls": pa.array(["x" * (v % 5) for v in range(n)], pa.large_string()),
            "bin": pa.array([bytes([v % 256]) * (v % 3) for v in range(n)], pa.binary()),
            "dict": pa.array([["red", "green", "blue"][v % 3] for v in range(n)]).dictionary_encode(),
        }
    )


DTYPES = {
    "id": "int64", "i8": "int8", "i16": "int16", "i32": "int32", "u8": "uint8", "u16": "uint16",
    "u32": "uint32", "u64": "uint64", "f16": "float16", "f32": "float32", "f64": "float64",
    "b": "bool", "ts": "int64", "d32": "int32", "fsl": "float32", "nested": "int16",
}  # fmt: skip


def arrow_values(col):
    """What the tensor must hold, from the Arrow column: temporal types as their integers."""
    if pa.types.is_timestamp(col.type):
        col = col.view(pa.int64())
    elif pa.types.is_date32(col.type):
        col = col.view(pa.int32())
    return col.to_pylist()


def test_tensors_have_the_right_dtypes_shapes_and_values(torch, dt, store):
    with store.begin() as tx:
        tx.add("t", typed(), row_group_rows=128)
        tx.commit("typed", tags=["v1"])
    snap = store.snapshot("v1")
    ds = dt.IterableDataset(pin_of(store, "v1"), batch_size=100, seed=5, rank=1, world_size=2)
    expected = list(snap.scan("t", seed=5, shard=(1, 2), batch_size=100))
    for nw in (0, 2):
        got = list(dt.DataLoader(ds, num_workers=nw))
        assert len(got) == len(expected) == 5
        for b, rb in zip(got, expected):
            assert list(b) == rb.schema.names
            for name in DTYPES:
                t = b[name]
                assert t.dtype == getattr(torch, DTYPES[name]), name
                assert t.tolist() == arrow_values(rb.column(name)), name
            assert b["id"].shape == (100,)
            assert b["fsl"].shape == (100, 3)
            assert b["nested"].shape == (100, 2, 2)
            for name in ("s", "ls", "bin", "dict"):
                assert isinstance(b[name], list) and b[name] == rb.column(name).to_pylist(), name


def test_tensors_share_the_arrow_buffers(torch, dt, store):
    with store.begin() as tx:
        tx.add("t", typed(300), row_group_rows=128)
        tx.commit("typed", tags=["v1"])
    ds = dt.IterableDataset(pin_of(store, "v1"), batch_size=100)
    rb = store.snapshot("v1").scan("t", batch_size=100).read_next_batch().slice(10, 50)
    out = ds._convert(rb)
    for name in ("i32", "f64", "u64", "ts"):
        col = rb.column(name)
        assert out[name].data_ptr() == col.buffers()[1].address + col.offset * col.type.bit_width // 8, name
    fsl = rb.column("fsl")
    assert out["fsl"].data_ptr() == fsl.values.buffers()[1].address + fsl.offset * 3 * 4
    assert out["fsl"][0].tolist() == fsl[0].as_py()


def test_nulls_raise_naming_the_column_or_come_with_a_mask(torch, dt, store):
    from roundtrip import typed_table

    t = typed_table()
    with store.begin() as tx:
        tx.add("t", t, row_group_rows=500)
        tx.commit("typed", tags=["v1"])
    pin = pin_of(store, "v1")
    with pytest.raises(ValueError, match="column `i8` has [0-9]+ null"):
        next(iter(dt.IterableDataset(pin, columns=["id", "i8"])))
    with pytest.raises(TypeError, match="column `li` is list<item: int64>"):
        dt.IterableDataset(pin, columns=["id", "li"])
    with pytest.raises(TypeError, match="column `dec`"):
        dt.IterableDataset(pin, columns=["dec"])
    # A filter that leaves the nulls out, or a column without nulls, needs no mask.
    ok = dt.IterableDataset(pin, columns=["id", "i8"], filter="i8 IS NOT NULL")
    assert sum(len(b["i8"]) for b in ok) == t.column("i8").length() - t.column("i8").null_count
    cols = ["id", "i8", "i32", "i64", "u64", "f32", "f64", "d32", "ts_utc", "ts_paris", "b", "s", "ls", "dict", "bin"]
    ds = dt.IterableDataset(pin, columns=cols, batch_size=700, nulls="mask")
    expected = list(store.snapshot("v1").scan("t", columns=cols, batch_size=700))
    got = list(dt.DataLoader(ds, num_workers=2))
    assert len(got) == len(expected) == 3
    for b, rb in zip(got, expected):
        assert "id_valid" not in b  # `id` is not nullable
        for name in ("i8", "i32", "i64", "u64", "f32", "f64", "d32", "ts_utc", "ts_paris", "b"):
            values = arrow_values(rb.column(name))
            valid = [v is not None for v in values]
            assert b[f"{name}_valid"].tolist() == valid, name
            got_values = b[name].tolist()
            for g, v in zip(got_values, values):
                if v is None:
                    assert g == 0, name
                elif v != v:  # NaN
                    assert g != g, name
                else:
                    assert g == v, name
        assert b["s"] == rb.column("s").to_pylist()  # lists keep None
    # Nulls inside fixed-size lists cannot be masked.
    with pytest.raises(ValueError, match="column `fsl` has nulls inside"):
        next(iter(dt.IterableDataset(pin, columns=["fsl"], nulls="mask")))


# -- torch.distributed ----------------------------------------------------------------------------


def test_rank_and_world_come_from_an_initialized_process_group(torch, dt, numbered_store, tmp_path):
    import torch.distributed as dist

    ds = dt.IterableDataset(pin_of(numbered_store), batch_size=64, seed=7)
    assert ds.shard() == (0, 1)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        assert dist.is_initialized()
        assert ds.shard() == (0, 1)
        assert loader_batches(dt, ds, 2) == rank_batches(numbered_store.snapshot("v2"))
        assert ds.state_dict()["world_size"] == 1
    finally:
        dist.destroy_process_group()


RANK_SCRIPT = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import torch.distributed as dist
    import dstore.torch


    def main(pin, init, rank, out):
        dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
        ds = dstore.torch.IterableDataset(pin, batch_size=64, seed=7)
        # Rank 1's workers are spawned: they get the dataset pickled, with the rank settled in it
        # (a spawned worker has no process group).
        ctx = "spawn" if rank == 1 else None
        loader = dstore.torch.DataLoader(ds, num_workers=2, multiprocessing_context=ctx)
        batches = [b["id"].tolist() for b in loader]
        json.dump({"shard": ds.shard(), "len": len(ds), "batches": batches}, open(out, "w"))
        dist.barrier()
        dist.destroy_process_group()


    if __name__ == "__main__":  # spawned workers import this file
        main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
    """
)


def test_two_ranks_of_a_gloo_process_group(torch, numbered_store, tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    init = f"file://{tmp_path / 'pg'}"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), pin_of(numbered_store), init, str(r), str(tmp_path / f"rank{r}.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(2)
    ]
    try:
        for p in procs:
            _, err = p.communicate(timeout=240)
            assert p.returncode == 0, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    snap = numbered_store.snapshot("v2")
    seen = []
    for r in range(2):
        got = json.load(open(tmp_path / f"rank{r}.json"))
        assert got["shard"] == [r, 2]
        expected = rank_batches(snap, r, 2)
        assert got["batches"] == expected and got["len"] == len(expected)
        seen += sum(got["batches"], [])
    assert sorted(seen) == list(range(2000))


def test_a_dataset_records_one_use_of_the_run_with_its_columns_and_seed(dt, numbered_store, monkeypatch):
    """Made under a run id, the dataset records the run's use once, with the table, columns,
    filter and seed it reads; ranks record the same record and DataLoader workers none."""
    for v in ("DSTORE_RUN", "MLFLOW_RUN_ID", "WANDB_RUN_ID", "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID", "DSTORE_RECORD_USE"):
        monkeypatch.delenv(v, raising=False)
    pin = pin_of(numbered_store)
    ds = dt.IterableDataset(pin, columns=["id"], batch_size=64, seed=7)
    assert numbered_store.uses("v2") == []  # no run id: nothing recorded
    monkeypatch.setenv("DSTORE_RUN", "train-1")
    for rank in range(2):
        ds = dt.IterableDataset(pin, columns=["id"], filter="id >= 10", batch_size=64, seed=7, rank=rank, world_size=2)
        assert len(loader_batches(dt, ds, 2)) > 0
    uses = numbered_store.uses("v2")
    assert len(uses) == 1, uses
    u = uses[0]
    assert (u["run"], u["tables"], u["columns"], u["filter"], u["seed"]) == ("train-1", ["t"], ["id"], "id >= 10", 7)
    assert u["labels"] == {"dstore.reader": "torch"}
    monkeypatch.setenv("DSTORE_RUN", "train-2")
    monkeypatch.setenv("DSTORE_RECORD_USE", "0")
    dt.IterableDataset(pin, columns=["id"], batch_size=64, seed=7)
    assert numbered_store.uses(run="train-2") == []
