"""dstore.spark against a real PySpark in local[2] mode (Java 17): reads equal the scan as sets,
a write commits once, a failed job commits nothing."""

import os
import shutil
import sys

import pyarrow as pa
import pytest

import dstore

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (scripts/python.sh installs it)")
if shutil.which("java") is None:
    pytest.skip("no java on PATH: Spark needs Java 17", allow_module_level=True)
import dstore.spark  # noqa: E402

from conftest import numbered, store_of_files  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    s = (
        SparkSession.builder.master("local[2]")
        .appName("dstore-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def rows_of(t: pa.Table) -> list:
    return sorted(t.to_pylist(), key=lambda r: r["id"])


@pytest.fixture
def files_store(tmp_path):
    """Table `t` from three Parquet files pyarrow wrote with its defaults (15,000 rows)."""
    return store_of_files(tmp_path, 3, 5000)


def test_read_equals_the_scan_as_a_set(spark, files_store):
    df = dstore.spark.read(spark, f"dstore://{files_store.path}@v1#t")
    want = files_store.snapshot("v1").scan("t").to_table()
    assert df.count() == 15_000
    assert rows_of(df.toArrow()) == rows_of(want)
    sub = dstore.spark.read(spark, f"dstore://{files_store.path}@v1#t", columns=["id", "name"])
    got = sub.where("id >= 12000").toArrow()
    assert rows_of(got) == rows_of(want.select(["id", "name"]).filter(pa.compute.greater_equal(want["id"], 12000)))


def test_write_commits_once_and_appends_with_the_tables_types(spark, files_store, tmp_path):
    df = dstore.spark.read(spark, f"dstore://{files_store.path}@v1#t").repartition(4)
    out = dstore.Store.init(tmp_path / "out.dstore")
    r = dstore.spark.write(df, out.path, table="t", message="from spark")
    assert [x["message"] for x in out.log()] == ["from spark"]
    assert r["id"] == out.log()[0]["snapshot"]
    got = out.snapshot("HEAD").scan("t").to_table()
    assert rows_of(got) == rows_of(files_store.snapshot("v1").scan("t").to_table())
    # Appending again: Spark's Arrow types are cast to the table's.
    more = spark.createDataFrame(numbered(10, 15_000).to_pandas())
    dstore.spark.write(more, out.path, table="t", message="more")
    assert out.snapshot("HEAD").rows("t") == 15_010
    assert out.snapshot("HEAD").schema("t") == files_store.snapshot("v1").schema("t")


def test_a_failed_job_commits_nothing(spark, tmp_path):
    out = dstore.Store.init(tmp_path / "out.dstore")
    df = spark.range(0, 1000, numPartitions=4).selectExpr("id", "1 / (id - 900) as r")
    spark.conf.set("spark.sql.ansi.enabled", "true")
    try:
        with pytest.raises(Exception, match="DIVIDE_BY_ZERO|divide"):
            dstore.spark.write(df, out.path, table="t", message="never")
    finally:
        spark.conf.set("spark.sql.ansi.enabled", "false")
    assert out.log() == []
    assert out.verify(all=True)["ok"]


def test_a_segment_held_twice_is_read_twice(spark, tmp_path):
    store = dstore.Store.init(tmp_path / "d.dstore")
    for m in ("one", "two"):
        with store.begin() as tx:
            tx.add("t", numbered(100), allow_duplicates=True)
            tx.commit(m)
    assert store.snapshot("HEAD").rows("t") == 200
    df = dstore.spark.read(spark, f"dstore://{store.path}@HEAD#t")
    assert df.count() == 200
