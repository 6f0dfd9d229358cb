"""dstore: versioned, content-addressed datasets for machine learning.

A training run names its data by a pin (``dstore://STORE@REF#TABLE``) and gets exactly the same
rows back, in exactly the same order, verified against their BLAKE3 hashes::

    import dstore

    snap = dstore.Pin("dstore://data.dstore@v3#train").resolve().snapshot()
    for batch in snap.scan("train", seed=42, epoch=0, shard=(rank, world)):
        ...  # pyarrow.RecordBatch, zero-copy from the Rust reader

Writing::

    store = dstore.Store.init("data.dstore")      # or Store.open(path)
    with store.begin() as tx:
        tx.add("train", pyarrow_table)             # or any __arrow_c_stream__ object, or add_files
        tx.commit("first import", tags=["v1"])

``dstore.torch`` (imported on demand, it needs torch) has an ``IterableDataset`` that shards by
rank and DataLoader worker and yields the same batch sequence whatever ``num_workers`` is.

Who uses what: a run that opens a pin with a run id in its environment (``DSTORE_RUN``, else
``MLFLOW_RUN_ID``, ``WANDB_RUN_ID``, ``TORCHELASTIC_RUN_ID``, ``SLURM_JOB_ID``) records the use in
the store (``store.uses(ref)`` lists them, and ``store.expire`` never expires a snapshot in
use); ``dstore.record_use`` records one explicitly. ``DSTORE_RECORD_USE=0`` turns it off.
"""

import os as _os

from ._dstore import (
    AlreadyExists,
    AmbiguousRef,
    CatalogError,
    CommitConflict,
    CorruptionError,
    DriftReport,
    DstoreError,
    InvalidInput,
    IoError,
    LockFile,
    NotAStore,
    NotFound,
    Pin,
    Prepared,
    Resolved,
    ResolvedPin,
    Scan,
    SchemaMismatch,
    Snapshot,
    Store,
    TagExists,
    Transaction,
    UnsupportedFormat,
    __version__,
    verify_checkout,
)
from ._dstore import record_use as _record_use

_RUN_VARS = ("DSTORE_RUN", "MLFLOW_RUN_ID", "WANDB_RUN_ID", "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID")


def run_id() -> "str | None":
    """The run id of this process: ``DSTORE_RUN``, else ``MLFLOW_RUN_ID``, ``WANDB_RUN_ID``,
    ``TORCHELASTIC_RUN_ID``, ``SLURM_JOB_ID``; ``None`` when none is set."""
    for v in _RUN_VARS:
        r = _os.environ.get(v)
        if r:
            return r
    return None


def record_use(
    target,
    run: "str | None" = None,
    *,
    tables=None,
    columns=None,
    filter=None,
    seed=None,
    lock=None,
    author=None,
    **labels,
):
    """Records that ``run`` (default: ``run_id()``) read ``target`` — a ``Snapshot``, a
    ``ResolvedPin``, a ``Pin`` or a pin's text — with the tables (default: the pin's), columns,
    filter and seed it read, the ``LockFile`` (or its BLAKE3) it came from, and free ``labels``
    (strings). Many processes of one run recording the same read make one record. Returns
    ``{"key", "created", "live", "retired"}``, or ``None`` when there is no run id.
    Raises ``InvalidInput`` for a bad run id or label, and the store's error (e.g. a
    read-only store) otherwise: automatic recording warns instead."""
    run = run if run is not None else run_id()
    if run is None:
        return None
    return _record_use(
        target,
        run,
        tables=tables,
        columns=columns,
        filter=filter,
        seed=seed,
        lock=lock,
        labels={str(k): str(v) for k, v in labels.items()},
        author=author,
    )


__all__ = [
    "AlreadyExists",
    "AmbiguousRef",
    "CatalogError",
    "CommitConflict",
    "CorruptionError",
    "DriftReport",
    "DstoreError",
    "InvalidInput",
    "IoError",
    "LockFile",
    "NotAStore",
    "NotFound",
    "Pin",
    "Prepared",
    "Resolved",
    "ResolvedPin",
    "Scan",
    "SchemaMismatch",
    "Snapshot",
    "Store",
    "TagExists",
    "Transaction",
    "UnsupportedFormat",
    "__version__",
    "record_use",
    "run_id",
    "verify_checkout",
]
