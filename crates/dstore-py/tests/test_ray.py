"""dstore.ray against a real Ray (a local cluster of 2 CPUs): reads equal the scan, writes commit
once, a failed job commits nothing, two jobs writing at once both land."""

import os
import threading

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import dstore

ray = pytest.importorskip("ray", reason="ray is not installed (scripts/python.sh installs it)")
import dstore.ray  # noqa: E402  (needs ray)

from conftest import numbered, numbered_files, store_of_files  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    # Blocks in the order of the read tasks (Ray's default lets a faster task's come first).
    ctx.execution_options.preserve_order = True
    yield
    ray.shutdown()


def sorted_by_id(t: pa.Table) -> pa.Table:
    return t.sort_by("id")


@pytest.fixture
def files_store(tmp_path):
    """Table `t` from three Parquet files pyarrow wrote with its defaults (60,000 rows)."""
    return store_of_files(tmp_path, 3, 20_000)


def test_read_equals_the_scan_and_is_fixed_at_creation(files_store):
    pin = f"dstore://{files_store.path}@v1#t"
    ds = dstore.ray.read(pin, override_num_blocks=4)
    want = files_store.snapshot("v1").scan("t").to_table()
    # The snapshot is fixed now: a later commit moves HEAD, not this dataset.
    with files_store.begin() as tx:
        tx.add("t", numbered(5, 60_000))
        tx.commit("more")
    got = pa.concat_tables(ray.get(ds.to_arrow_refs()))
    assert got.num_rows == 60_000
    # Blocks in task order are the table in storage order.
    assert got.equals(want)
    # Columns and a filter, pushed into each task's scan.
    ds = dstore.ray.read(pin, columns=["id", "name"], filter="id >= 50000")
    got = sorted_by_id(pa.concat_tables(ray.get(ds.to_arrow_refs())))
    want = files_store.snapshot("v1").scan("t", columns=["id", "name"], filter="id >= 50000").to_table()
    assert got.equals(want)


def test_a_datasink_commits_once(files_store, tmp_path):
    out = dstore.Store.init(tmp_path / "features.dstore")
    src = f"dstore://{files_store.path}@v1#t"
    ds = dstore.ray.read(src, override_num_blocks=4).map_batches(
        lambda b: {"id": b["id"], "double": b["x"] * 2}, batch_format="numpy"
    )
    sink = dstore.ray.Datasink(out.path, table="f", message="features of v1", from_=[src])
    ds.write_datasink(sink)
    log = out.log()
    assert len(log) == 1 and log[0]["message"] == "features of v1"
    assert sink.result["id"] == log[0]["snapshot"]
    got = sorted_by_id(out.snapshot("HEAD").scan("f").to_table())
    assert got.column("id").to_pylist() == list(range(60_000))
    assert pc.all(pc.equal(got.column("double"), pc.multiply(got.column("id"), 1.0))).as_py()
    # The lineage names the source snapshot.
    assert out.log()[0]["upstream"][0]["snapshot"] == files_store.resolve("v1").id


def test_a_failed_job_commits_nothing_and_the_store_verifies(files_store, tmp_path):
    out = dstore.Store.init(tmp_path / "out.dstore")

    def fail_late(b):
        if b["id"].max() >= 40_000:
            raise RuntimeError("a task fails after others wrote")
        return b

    ds = dstore.ray.read(f"dstore://{files_store.path}@v1#t", override_num_blocks=6).map_batches(
        fail_late, batch_format="numpy"
    )
    with pytest.raises(Exception, match="a task fails"):
        ds.write_datasink(dstore.ray.Datasink(out.path, table="t", message="never"))
    assert out.log() == []
    assert out.verify(all=True)["ok"]


def test_a_job_whose_worker_dies_commits_nothing(files_store, tmp_path):
    """A worker process killed in the middle of the write (os._exit, as a kill or an OOM
    would): Ray retries the task, it dies again, the job fails; nothing is committed."""
    out = dstore.Store.init(tmp_path / "out.dstore")

    def die(b):
        if b["id"].max() >= 40_000:
            os._exit(1)
        return b

    ds = dstore.ray.read(f"dstore://{files_store.path}@v1#t", override_num_blocks=6).map_batches(
        die, batch_format="numpy", max_retries=1
    )
    with pytest.raises(Exception):
        ds.write_datasink(dstore.ray.Datasink(out.path, table="t", message="never"))
    assert out.log() == []
    assert out.verify(all=True)["ok"]


def test_two_jobs_writing_at_once_both_land(tmp_path):
    out = dstore.Store.init(tmp_path / "out.dstore")
    errors = []

    def job(start):
        try:
            ds = ray.data.from_arrow(numbered(10_000, start)).repartition(3)
            ds.write_datasink(dstore.ray.Datasink(out.path, table="t", message=f"job {start}"))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=job, args=(s,)) for s in (0, 10_000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r["message"] for r in out.log()) == ["job 0", "job 10000"]
    got = sorted_by_id(out.snapshot("HEAD").scan("t").to_table())
    assert got.column("id").to_pylist() == list(range(20_000))


HAVE_S3 = bool(os.environ.get("AWS_ENDPOINT_URL") and os.environ.get("AWS_BUCKET"))


@pytest.mark.skipif(
    not HAVE_S3, reason="no S3 gateway: `scripts/ceph.sh start && eval \"$(scripts/ceph.sh env)\"`"
)
def test_read_and_write_a_store_on_the_gateway():
    import time
    import uuid

    base = f"s3://{os.environ['AWS_BUCKET']}/pytest-ray/{uuid.uuid4().hex}-{time.time_ns()}"
    src = dstore.Store.init(base + "/src")
    with src.begin() as tx:
        tx.add("t", numbered(20_000))
        tx.commit("src", tags=["v1"])
    ds = dstore.ray.read(f"dstore://{base}/src@v1#t", override_num_blocks=4)
    got = pa.concat_tables(ray.get(ds.to_arrow_refs()))
    assert got.equals(src.snapshot("v1").scan("t").to_table())
    out = dstore.Store.init(base + "/out")
    ds.map_batches(lambda b: {"id": b["id"], "x": b["x"]}, batch_format="numpy").write_datasink(
        dstore.ray.Datasink(out.path, table="t", message="on the gateway")
    )
    assert [r["message"] for r in out.log()] == ["on the gateway"]
    assert sorted_by_id(out.snapshot("HEAD").scan("t").to_table()).equals(
        numbered(20_000).select(["id", "x"])
    )
    assert out.verify(all=True)["ok"]


def test_ingest_adopts_files_in_parallel_as_one_snapshot(tmp_path):
    files = numbered_files(tmp_path, 6, 1000)
    par = dstore.Store.init(tmp_path / "par.dstore")
    out = dstore.ray.ingest(par.path, "t", files, message="parallel", num_tasks=3)
    seq = dstore.Store.init(tmp_path / "seq.dstore")
    with seq.begin() as tx:
        tx.add_files("t", files)
        want = tx.commit("sequential")
    assert out["id"] == want["id"]
    assert [r["message"] for r in par.log()] == ["parallel"]
    # Adopted byte for byte.
    for f, seg in zip(files, par.snapshot("HEAD").segment_files("t")):
        assert open(f, "rb").read() == open(seg, "rb").read()
