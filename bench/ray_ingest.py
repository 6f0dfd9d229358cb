"""Ingest of N Parquet objects from S3 (the Ceph gateway of scripts/ceph.sh) by 1 and 2 Ray
workers with `dstore.ray.ingest`, beside one process (`tx.add_files` of the prefix, what
`dstore snapshot s3://…/` does). The objects are pyarrow-written (defaults), --rows rows each.
Each run ingests into a new store in the same bucket; all runs must give the same snapshot id.

    eval "$(scripts/ceph.sh env)"; python bench/ray_ingest.py [--objects 1000] [--rows 2000]
"""

import argparse
import io
import os
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

import dstore

# A SigV4 client of our own for the uploads (pyarrow's S3 writer sends chunked parts that the
# Ceph gateway refuses with 411 MissingContentLength).
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from s3probe import S3  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=2000)
    a = ap.parse_args()
    import ray
    import dstore.ray

    bucket = os.environ["AWS_BUCKET"]
    base = f"{bucket}/bench-ray-ingest/{uuid.uuid4().hex}"
    s3 = S3(os.environ["AWS_ENDPOINT_URL"], os.environ["AWS_ACCESS_KEY_ID"],
            os.environ["AWS_SECRET_ACCESS_KEY"], os.environ.get("AWS_REGION", "us-east-1"))
    t0 = time.perf_counter()
    total_bytes = 0
    for i in range(a.objects):
        ids = pa.array(range(i * a.rows, (i + 1) * a.rows), pa.int64())
        t = pa.table({"id": ids, "x": pa.compute.multiply(ids.cast(pa.float64()), 0.5),
                      "name": pa.compute.binary_join_element_wise("row-", pa.compute.cast(ids, pa.string()), "")})
        buf = io.BytesIO()
        pq.write_table(t, buf)
        total_bytes += buf.tell()
        status, _, body = s3.request("PUT", f"/{base}/raw/part-{i:05}.parquet", body=buf.getvalue())
        assert status == 200, (status, body)
    print(f"uploaded {a.objects} objects ({total_bytes / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")
    urls = [f"s3://{base}/raw/part-{i:05}.parquet" for i in range(a.objects)]
    results = []

    store = dstore.Store.init(f"s3://{base}/one")
    t0 = time.perf_counter()
    with store.begin() as tx:
        tx.add_files("t", [f"s3://{base}/raw/"])
        one = tx.commit("one process")["id"]
    results.append(("one process (`add_files` of the prefix)", time.perf_counter() - t0, one))

    for workers in (1, 2):
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        t0 = time.perf_counter()
        out = dstore.ray.ingest(f"s3://{base}/ray{workers}", "t", urls, num_tasks=workers,
                                message="ray") if dstore.Store.init(f"s3://{base}/ray{workers}") else None
        results.append((f"`dstore.ray.ingest`, {workers} worker(s)", time.perf_counter() - t0, out["id"]))
        ray.shutdown()
    print(f"| ingest of {a.objects} objects, {total_bytes / 1e6:.1f} MB | seconds | objects/s | MB/s |")
    print("| --- | --- | --- | --- |")
    for name, s, _ in results:
        print(f"| {name} | {s:.1f} | {a.objects / s:.0f} | {total_bytes / 1e6 / s:.1f} |")
    ids = {r[2] for r in results}
    print("same snapshot id in every run:", len(ids) == 1, sorted(ids)[0][:16])


if __name__ == "__main__":
    main()
