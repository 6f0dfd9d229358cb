"""Ray Data: read a dstore snapshot as a ``ray.data.Dataset``; write a Dataset as one snapshot.

Reading::

    import dstore.ray
    ds = dstore.ray.read("dstore://s3://bucket/data@v3#train", columns=["x", "y"])

The pin is resolved once, when ``read`` is called: every read task reads that snapshot (by its
full id), whatever the ref points at later. Each task reads a contiguous range of the table's
rows in storage order (``snap.scan(..., shard=(i, n))``), verified against the segments' hashes
as every dstore read is. With ``DataContext.get_current().execution_options.preserve_order =
True`` the dataset's blocks come in task order, which is the table's storage order; by default
Ray lets a faster task's blocks come first.

Ingesting files or objects in parallel (Parquet adopted byte for byte, as ``dstore snapshot``
does)::

    urls = [f"s3://bucket/raw/part-{i:04}.parquet" for i in range(1000)]
    dstore.ray.ingest("s3://bucket/data", "events", urls, message="day 3")

Writing::

    ds.write_datasink(dstore.ray.Datasink("s3://bucket/features", table="train",
                                          message="features of v3",
                                          from_=["dstore://s3://bucket/data@v3"]))

Each write task streams its blocks into segments and *prepares* them in the store (no lock); when
every task has finished, the driver commits all of them once, as one snapshot
(docs/distributed.md). A job that fails commits nothing; the segments its tasks prepared are left
for ``gc`` to remove after its grace period. ``Datasink.result`` is the commit's outcome.

The store must be reachable from every worker: a shared filesystem path, or an ``s3://`` URL
with its settings in the workers' environment (``AWS_*``, ``DSTORE_S3_*``). Needs ``ray[data]``.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Iterable, Optional, Sequence

import pyarrow as pa
import ray.data
from ray.data.block import BlockAccessor, BlockMetadata
from ray.data.datasource import Datasink as _RayDatasink
from ray.data.datasource import Datasource, ReadTask

import dstore
from dstore._engines import commit_descriptions

__all__ = ["read", "DstoreDatasource", "Datasink", "ingest"]

#: Rows per block a read task yields.
BLOCK_ROWS = 65_536


def _resolve(pin: Any) -> "dstore.ResolvedPin":
    if isinstance(pin, dstore.ResolvedPin):
        return pin
    if isinstance(pin, str):
        pin = dstore.Pin(pin)
    return pin.resolve()


def _rank_range(rows: int, rank: int, world: int) -> tuple[int, int]:
    """Rows of shard ``rank`` of ``world``: the split ``Scan`` makes (docs/order.md)."""
    return rows * rank // world, rows * (rank + 1) // world


def _read_shard(pin: str, table: str, columns, filter, rank: int, world: int, verify: bool):
    snap = dstore.Pin(pin).resolve().snapshot()
    scan = snap.scan(
        table,
        columns=columns,
        filter=filter,
        shard=(rank, world),
        batch_size=BLOCK_ROWS,
        verify=verify,
    )
    for batch in scan:
        yield pa.Table.from_batches([batch])


class DstoreDatasource(Datasource):
    """A dstore table at one snapshot, as a Ray Data datasource (``ray.data.read_datasource``).

    ``pin`` names the store, the snapshot and the table (``dstore://STORE@REF#TABLE``); it is
    resolved here, once. ``columns`` and ``filter`` are those of ``Snapshot.scan``.
    """

    def __init__(
        self,
        pin: Any,
        *,
        columns: Optional[Sequence[str]] = None,
        filter: Optional[str] = None,
        verify: bool = True,
    ):
        super().__init__()
        resolved = _resolve(pin)
        table = resolved.pin.table
        if table is None:
            raise dstore.InvalidInput(
                f"{resolved.pin}: a Ray dataset reads one table; name it in the pin (#TABLE)"
            )
        snap = resolved.snapshot()
        info = snap.table(table)
        self._pin = str(resolved.pin)
        self._table = table
        self._columns = list(columns) if columns is not None else None
        self._filter = filter
        self._verify = verify
        self._rows = info["rows"]
        self._segments = info["segments"]
        self._bytes = info["bytes"]
        schema = snap.schema(table)
        if self._columns is not None:
            schema = pa.schema([schema.field(c) for c in self._columns])
        self._schema = schema
        #: The snapshot every read task reads (full id).
        self.snapshot_id = snap.id

    def get_name(self) -> str:
        return "Dstore"

    def estimate_inmemory_data_size(self) -> Optional[int]:
        # The segments' compressed size: a lower bound of what the rows take in memory.
        return self._bytes

    def get_read_tasks(
        self,
        parallelism: int,
        per_task_row_limit: Optional[int] = None,
        data_context: Any = None,
    ) -> list[ReadTask]:
        world = max(1, min(parallelism, self._rows // 1024 or 1))
        tasks = []
        for rank in range(world):
            lo, hi = _rank_range(self._rows, rank, world)
            rows = None if self._filter else hi - lo
            size = self._bytes * (hi - lo) // max(1, self._rows)
            meta = BlockMetadata(num_rows=rows, size_bytes=size, input_files=None, exec_stats=None)
            fn = functools.partial(
                _read_shard,
                self._pin,
                self._table,
                self._columns,
                self._filter,
                rank,
                world,
                self._verify,
            )
            tasks.append(
                ReadTask(fn, meta, schema=self._schema, per_task_row_limit=per_task_row_limit)
            )
        return tasks


def read(
    pin: Any,
    *,
    columns: Optional[Sequence[str]] = None,
    filter: Optional[str] = None,
    verify: bool = True,
    override_num_blocks: Optional[int] = None,
    **read_args: Any,
) -> "ray.data.Dataset":
    """The table a pin names (``dstore://STORE@REF#TABLE``) as a ``ray.data.Dataset``: the
    snapshot is fixed now; rows are verified as they are read. Other keywords go to
    ``ray.data.read_datasource``."""
    source = DstoreDatasource(pin, columns=columns, filter=filter, verify=verify)
    return ray.data.read_datasource(source, override_num_blocks=override_num_blocks, **read_args)


class Datasink(_RayDatasink):
    """Writes a Dataset to ``table`` of the store at ``store`` (a path or ``s3://`` URL) as one
    new snapshot: write tasks prepare segments, the driver commits them once when all are done
    (nothing if the job fails). ``mode`` is ``"append"`` or ``"overwrite"``; ``from_`` names the
    snapshots the data was made from (lineage, as ``Transaction.commit(sources=)``); ``check``
    is what the commit checks of each prepared segment (``Transaction.add_prepared``).

    After the write, ``result`` holds the commit's outcome (``{"id", "seq", ...}``), or ``None``
    when the dataset had no rows and nothing was committed.
    """

    def __init__(
        self,
        store: str | os.PathLike,
        *,
        table: str,
        message: str = "",
        mode: str = "append",
        tags: Optional[Sequence[str]] = None,
        from_: Optional[Sequence[Any]] = None,
        author: Optional[str] = None,
        check: str = "footer",
        segment_mib: Optional[int] = None,
        allow_duplicates: bool = False,
        min_rows_per_write: Optional[int] = None,
    ):
        if mode not in ("append", "overwrite"):
            raise dstore.InvalidInput(f"unknown write mode `{mode}`: use \"append\" or \"overwrite\"")
        self.store = os.fspath(store)
        self.table = table
        self.message = message
        self.mode = mode
        self.tags = list(tags or [])
        self.sources = [str(p) for p in (from_ or [])]
        self.author = author
        self.check = check
        self.segment_mib = segment_mib
        self.allow_duplicates = allow_duplicates
        self._min_rows = min_rows_per_write
        self.result: Optional[dict] = None

    def get_name(self) -> str:
        return "Dstore"

    @property
    def min_rows_per_write(self) -> Optional[int]:
        # Rows Ray gathers for one write task: each task makes at least one segment.
        return self._min_rows

    def on_write_start(self, schema: Any = None) -> None:
        # Fail before any task runs if the store cannot be opened.
        dstore.Store.open(self.store)

    def write(self, blocks: Iterable[Any], ctx: Any) -> Optional[str]:
        tables = (BlockAccessor.for_block(b).to_arrow() for b in blocks)
        tables = (t for t in tables if t.num_rows > 0)
        first = next(tables, None)
        if first is None:
            return None
        schema = first.schema

        def batches():
            yield from first.to_batches()
            for t in tables:
                if t.schema != schema:
                    t = t.cast(schema)
                yield from t.to_batches()

        store = dstore.Store.open(self.store)
        tx = store.begin()
        tx.set_mode(self.table, self.mode)
        tx.add(
            self.table,
            pa.RecordBatchReader.from_batches(schema, batches()),
            segment_mib=self.segment_mib,
            allow_duplicates=self.allow_duplicates,
        )
        # The description crosses to the driver as JSON text.
        return tx.prepare().to_json()

    def on_write_complete(self, write_result: Any) -> None:
        returns = getattr(write_result, "write_returns", write_result)
        described = [r for r in returns if r is not None]
        if not described:
            return
        self.result = commit_descriptions(
            self.store, described, self.message, tags=self.tags, sources=self.sources,
            author=self.author, check=self.check,
        )


@ray.remote
def _prepare_share(store: str, table: str, inputs: list, mode: str, add_files_args: dict) -> str:
    tx = dstore.Store.open(store).begin()
    tx.set_mode(table, mode)
    tx.add_files(table, inputs, **add_files_args)
    return tx.prepare().to_json()


def ingest(
    store: str | os.PathLike,
    table: str,
    inputs: Sequence[str | os.PathLike],
    *,
    message: str = "",
    mode: str = "append",
    tags: Optional[Sequence[str]] = None,
    num_tasks: Optional[int] = None,
    check: str = "footer",
    author: Optional[str] = None,
    **add_files_args: Any,
) -> dict:
    """Ingests ``inputs`` (files on a filesystem every worker sees, or ``s3://`` objects and
    prefixes) into ``table`` with Ray tasks, and commits them once: each of ``num_tasks`` tasks
    (default: the cluster's CPUs) reads, validates, hashes and prepares a contiguous share of the
    inputs (as ``Transaction.add_files`` does, with ``add_files_args``); the driver then commits
    every share in input order. The snapshot is the one a single ``dstore snapshot`` of the same
    inputs in the same order makes. A failed task commits nothing. Returns the commit's outcome."""
    location = os.fspath(store)
    inputs = [os.fspath(p) for p in inputs]
    if not inputs:
        raise dstore.InvalidInput("no inputs to ingest")
    n = num_tasks or max(1, int(ray.cluster_resources().get("CPU", 1)))
    n = max(1, min(n, len(inputs)))
    shares = [inputs[len(inputs) * i // n : len(inputs) * (i + 1) // n] for i in range(n)]
    refs = [_prepare_share.remote(location, table, share, mode, add_files_args) for share in shares]
    return commit_descriptions(
        location, ray.get(refs), message, tags=tags, author=author, check=check
    )
