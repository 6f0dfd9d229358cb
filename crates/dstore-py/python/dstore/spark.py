"""PySpark: read a dstore snapshot as a Spark DataFrame; write a DataFrame as one snapshot.

Reading::

    import dstore.spark
    df = dstore.spark.read(spark, "dstore://data.dstore@v3#train")

Spark reads the snapshot's segment files itself (they are plain Parquet files), with the
table's schema converted to Spark's types. The pin is resolved once, now; the files are
immutable, so the DataFrame reads exactly that snapshot. These reads are **not verified**
(``dstore verify`` checks the files; ``snap.scan`` verifies what it reads), and Spark does not
keep the table's row order. A store in object storage is read through ``s3a://`` (Spark needs
``hadoop-aws`` and its ``fs.s3a.*`` settings: docs/distributed.md, "Running with Spark").

Writing::

    result = dstore.spark.write(df, "data.dstore", table="clean", message="dedup")

Each partition is streamed into segments and *prepared* in the store by its executor (no lock);
the driver then commits every partition's description once, as one snapshot
(docs/distributed.md). A job that fails commits nothing. The store must be reachable from every
executor: a shared path or an ``s3://`` URL with its settings in the executors' environment.
"""

from __future__ import annotations

import itertools
import os
from typing import Any, Optional, Sequence

import pyarrow as pa

import dstore
from dstore._engines import commit_descriptions

__all__ = ["read", "write"]


def _resolve(pin: Any) -> "dstore.ResolvedPin":
    if isinstance(pin, dstore.ResolvedPin):
        return pin
    if isinstance(pin, str):
        pin = dstore.Pin(pin)
    return pin.resolve()


def spark_schema(schema: pa.Schema):
    """A table's Arrow schema as a Spark ``StructType`` (``InvalidInput`` naming the column
    when Spark has no type for it, e.g. unsigned 64-bit integers)."""
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StructField, StructType

    fields = []
    for f in schema:
        try:
            t = from_arrow_type(f.type)
        except TypeError as e:
            raise dstore.InvalidInput(
                f"column `{f.name}` ({f.type}) has no Spark type: {e}"
            ) from None
        fields.append(StructField(f.name, t, f.nullable))
    return StructType(fields)


def read(spark: Any, pin: Any, *, columns: Optional[Sequence[str]] = None):
    """The table a pin names (``dstore://STORE@REF#TABLE``) as a Spark DataFrame over its
    segment files (unverified; row order not kept)."""
    resolved = _resolve(pin)
    table = resolved.pin.table
    if table is None:
        raise dstore.InvalidInput(f"{resolved.pin}: name the table to read in the pin (#TABLE)")
    snap = resolved.snapshot()
    schema = spark_schema(snap.schema(table))
    files = snap.segment_files(table)
    if files and files[0].startswith("s3://"):
        files = ["s3a://" + f[len("s3://"):] for f in files]
    if not files:
        df = spark.createDataFrame([], schema)
    else:
        # Spark lists each path once: a segment the table holds k times (appended with
        # allow_duplicates) is read by k unioned reads.
        counts: dict = {}
        for f in files:
            counts[f] = counts.get(f, 0) + 1
        df = spark.read.schema(schema).parquet(*counts)
        for k in range(2, max(counts.values()) + 1):
            again = [f for f, n in counts.items() if n >= k]
            df = df.unionByName(spark.read.schema(schema).parquet(*again))
    if columns is not None:
        df = df.select(*columns)
    return df


def _prepare_partition(store: str, table: str, mode: str, target: Optional[bytes], allow_duplicates: bool):
    """The executor side of :func:`write`: one partition's Arrow batches into prepared segments;
    yields one row holding the description."""

    def run(batches):
        it = (b for b in batches if b.num_rows > 0)
        first = next(it, None)
        if first is None:
            return
        schema = first.schema
        if target is not None:
            # Appending to a table that exists: Spark's Arrow types (large strings, say) are
            # cast to the table's, exactly (a value that does not fit fails the task).
            schema = pa.ipc.read_schema(pa.py_buffer(target))

        def batches_of():
            for b in itertools.chain([first], it):
                yield b if b.schema == schema else pa.Table.from_batches([b]).cast(schema).to_batches()[0]

        tx = dstore.Store.open(store).begin()
        tx.set_mode(table, mode)
        tx.add(table, pa.RecordBatchReader.from_batches(schema, batches_of()), allow_duplicates=allow_duplicates)
        yield pa.RecordBatch.from_pydict({"description": [tx.prepare().to_json()]})

    return run


def write(
    df: Any,
    store: str | os.PathLike,
    *,
    table: str,
    message: str = "",
    mode: str = "append",
    tags: Optional[Sequence[str]] = None,
    from_: Optional[Sequence[Any]] = None,
    author: Optional[str] = None,
    check: str = "footer",
    allow_duplicates: bool = False,
) -> Optional[dict]:
    """Writes ``df`` to ``table`` of the store at ``store`` as one new snapshot: executors
    prepare each partition's segments, the driver commits them once. Returns the commit's
    outcome (``{"id", "seq", ...}``), or ``None`` when ``df`` has no rows (nothing is
    committed)."""
    from pyspark.sql.types import StringType, StructField, StructType

    if mode not in ("append", "overwrite"):
        raise dstore.InvalidInput(f"unknown write mode `{mode}`: use \"append\" or \"overwrite\"")
    location = os.fspath(store)
    opened = dstore.Store.open(location)
    target = None
    if mode == "append":
        try:
            target = opened.snapshot("HEAD").schema(table).serialize().to_pybytes()
        except (dstore.NotFound, dstore.InvalidInput):
            target = None
    out = StructType([StructField("description", StringType(), False)])
    rows = df.mapInArrow(
        _prepare_partition(location, table, mode, target, allow_duplicates), out
    ).collect()
    if not rows:
        return None
    return commit_descriptions(
        location, [r["description"] for r in rows], message, tags=tags, sources=from_,
        author=author, check=check,
    )
