"""Ray and Spark reading a dstore snapshot, beside `snap.scan` on the same snapshot (issue 17).

One store, one table made from Parquet files pyarrow wrote with its defaults (--files files of
--rows rows each: id int64, x float64, name string). Each reader materializes the whole table in
the driver process, median of --repeat runs, alternating:

- `scan`: `snap.scan("t").to_table()` (verified, the scan's thread pool);
- `ray`: `dstore.ray.read(pin)` on a local cluster of 2 CPUs, blocks fetched with `ray.get`;
- `spark`: `dstore.spark.read(spark, pin).toArrow()` in local[2] (unverified: Spark's reader),
  and `spark_sum`: `sum(x)` computed inside Spark (no transfer to the driver).

    python bench/engines.py [--rows 1000000] [--files 4] [--repeat 3]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq

import dstore


def make(dirname, files, rows):
    store = dstore.Store.init(os.path.join(dirname, "data.dstore"))
    paths = []
    for i in range(files):
        ids = pa.array(range(i * rows, (i + 1) * rows), pa.int64())
        t = pa.table({
            "id": ids,
            "x": pa.compute.multiply(ids.cast(pa.float64()), 0.5),
            "name": pa.compute.binary_join_element_wise("row-", pa.compute.cast(ids, pa.string()), ""),
        })
        p = os.path.join(dirname, f"part-{i}.parquet")
        pq.write_table(t, p)
        paths.append(p)
    with store.begin() as tx:
        tx.add_files("t", paths)
        tx.commit("bench", tags=["v1"])
    return store


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    import ray
    import dstore.ray
    import dstore.spark
    from pyspark.sql import SparkSession, functions as F

    os.environ["PYSPARK_PYTHON"] = sys.executable
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "4g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    with tempfile.TemporaryDirectory() as d:
        store = make(d, a.files, a.rows)
        pin = f"dstore://{store.path}@v1#t"
        snap = store.snapshot("v1")
        total = a.rows * a.files
        size = snap.table("t")["bytes"]

        def scan():
            return snap.scan("t").to_table().num_rows

        def ray_read():
            ds = dstore.ray.read(pin, override_num_blocks=4)
            return sum(t.num_rows for t in ray.get(ds.to_arrow_refs()))

        def spark_read():
            return dstore.spark.read(spark, pin).toArrow().num_rows

        def spark_sum():
            dstore.spark.read(spark, pin).agg(F.sum("x")).collect()
            return total

        runs = {"scan": scan, "ray": ray_read, "spark": spark_read, "spark_sum": spark_sum}
        for f in runs.values():  # warm: JVM, Ray workers, page cache
            assert f() == total
        times = {k: [] for k in runs}
        for _ in range(a.repeat):
            for k, f in runs.items():
                t0 = time.perf_counter()
                assert f() == total
                times[k].append(time.perf_counter() - t0)
        print(f"{total:,} rows in {a.files} files pyarrow wrote ({size / 1e6:.1f} MB), median of {a.repeat}, 2 cores")
        print("| reader | seconds | rows/s | vs scan |")
        print("| --- | --- | --- | --- |")
        base = statistics.median(times["scan"])
        for k, v in times.items():
            m = statistics.median(v)
            print(f"| {k} | {m:.3f} | {total / m / 1e6:.1f} M | {m / base:.2f}× |")
    spark.stop()
    ray.shutdown()


if __name__ == "__main__":
    main()
