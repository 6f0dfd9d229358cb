"""A store in object storage from Python: the same API on an s3:// URL, and scans in forked
children (DataLoader workers fork: the child must build its own S3 client, since the parent's
I/O threads did not survive the fork). Runs against the gateway `scripts/ceph.sh` starts (the
test command does); skipped with the reason otherwise, failed when DSTORE_REQUIRE_S3 is set."""

import gc
import multiprocessing
import os
import time
import uuid

import pytest

import dstore
from conftest import numbered

HAVE_S3 = bool(os.environ.get("AWS_ENDPOINT_URL") and os.environ.get("AWS_BUCKET"))
if not HAVE_S3 and os.environ.get("DSTORE_REQUIRE_S3"):
    raise RuntimeError("DSTORE_REQUIRE_S3 is set but AWS_ENDPOINT_URL / AWS_BUCKET are not")
pytestmark = pytest.mark.skipif(
    not HAVE_S3, reason="no S3 gateway: `scripts/ceph.sh start && eval \"$(scripts/ceph.sh env)\"`"
)


@pytest.fixture
def s3_store(tmp_path, monkeypatch):
    monkeypatch.setenv("DSTORE_REMOTE_CACHE", str(tmp_path / "cache"))
    url = f"s3://{os.environ.get('AWS_BUCKET')}/pytest/{uuid.uuid4().hex}-{time.time_ns()}"
    return dstore.Store.init(url), url


def _count_rows(store, q):
    # The store object was inherited through fork: its S3 client (and the runtime threads
    # behind it) belong to the parent. Reading must build a new one; dropping it must not hang.
    snap = store.snapshot("HEAD")
    rows = sum(b.num_rows for b in snap.scan("t", filter="id >= 100"))
    del snap, store
    gc.collect()
    q.put(rows)


def test_remote_store_round_trip_and_forked_readers(s3_store, tmp_path, monkeypatch):
    store, url = s3_store
    assert store.path == url
    tx = store.begin()
    tx.add("t", numbered(1000))
    c = tx.commit("first", tags=["v1"])
    assert store.resolve("v1").id == c["id"]
    table = dstore.Store.open(url).snapshot("v1").scan("t").to_table()
    assert table.equals(numbered(1000))
    resolved = dstore.Pin(f"dstore://{url}@v1#t").resolve()
    assert str(resolved.pin) == f"dstore://{url}@{c['id']}#t"
    assert resolved.store.path == url

    # Read in the parent first (its client and I/O threads exist).
    assert sum(b.num_rows for b in store.snapshot("HEAD").scan("t")) == 1000
    # Another "machine" (its own cache) commits 20 more: this client's cache now lags the log
    # by more than a reader patches over in memory, so the children catch it up.
    monkeypatch.setenv("DSTORE_REMOTE_CACHE", str(tmp_path / "other-cache"))
    other = dstore.Store.open(url)
    for i in range(20):
        tx = other.begin()
        tx.add("t", numbered(10, start=1000 + 10 * i))
        tx.commit(f"more {i}")
    monkeypatch.setenv("DSTORE_REMOTE_CACHE", str(tmp_path / "cache"))
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_count_rows, args=(store, q)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results == [1100, 1100]
    # And the parent still reads with its own client after the children are gone.
    assert sum(b.num_rows for b in store.snapshot("HEAD").scan("t")) == 1200


def test_pyarrow_dataset_of_a_remote_store_reads_what_the_scan_reads(s3_store):
    store, url = s3_store
    with store.begin() as tx:
        tx.add("t", numbered(3000))
        tx.commit("one")
    with store.begin() as tx:
        tx.add("t", numbered(2000, 3000))
        tx.commit("two")
    snap = store.snapshot("HEAD")
    files = snap.segment_files("t")
    assert len(files) == 2 and all(f.startswith(url + "/segments/") for f in files)
    ds = snap.to_pyarrow_dataset("t")
    assert ds.to_table().equals(snap.scan("t").to_table())


def _prepare_remote(args):
    url, cache, start = args
    os.environ["DSTORE_REMOTE_CACHE"] = cache
    tx = dstore.Store.open(url).begin()
    tx.add("t", numbered(1000, start))
    return tx.prepare().to_json()


def test_prepare_on_other_processes_commit_here(s3_store, tmp_path):
    store, url = s3_store
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        descs = pool.map(
            _prepare_remote, [(url, str(tmp_path / f"cache-{i}"), i * 1000) for i in range(4)]
        )
    assert store.log() == []
    with store.begin() as tx:
        for d in descs:
            tx.add_prepared(d)
        tx.commit("four workers")
    assert store.snapshot("HEAD").scan("t").to_table().equals(numbered(4000))
    assert store.verify(all=True)["ok"]
