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
"""

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
    "verify_checkout",
]
