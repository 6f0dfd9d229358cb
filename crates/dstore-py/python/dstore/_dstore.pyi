"""Type stubs for the Rust extension module (re-exported by `dstore`)."""

import datetime
import os
from typing import Any, Iterator, Literal, Mapping, Protocol, Sequence, TypedDict

import pyarrow as pa

__version__: str

StrPath = str | os.PathLike[str]

class ArrowStreamExportable(Protocol):
    """Anything speaking the Arrow PyCapsule stream protocol (pyarrow, polars, DuckDB, ...)."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

class TableChange(TypedDict):
    table: str
    op: Literal["create", "append", "overwrite"]
    segments: int
    rows: int
    bytes: int

class Commit(TypedDict):
    id: str
    seq: int
    changes: list[TableChange]
    conflicts: int
    unchanged: bool

class LogEntry(TypedDict, total=False):
    seq: int
    time: datetime.datetime
    author: str
    message: str
    kind: Literal["commit", "tag"]
    # commits
    snapshot: str
    parent: int | None
    changes: list[TableChange]
    tags: list[str]
    # tag events
    tag: str
    target: Resolved | None
    previous: Resolved | None

class CheckoutReport(TypedDict):
    files: int
    linked: int
    bytes: int
    rows: int

class Problem(TypedDict):
    path: str
    detail: str

class VerifyReport(TypedDict):
    ok: bool
    problems: list[Problem]
    records: int
    snapshots: int
    pages: int
    files: int
    bytes: int

class ScanCursor(TypedDict):
    snapshot: str
    table: str
    seed: int | None
    epoch: int
    shard: list[int]
    window: int
    position: int
    skip: int
    left: int | None

class ScanStats(TypedDict):
    bytes_read: int
    row_groups_read: int
    row_groups_pruned: int
    segments_pruned: int
    page_rows_skipped: int
    late_rows_skipped: int
    late_row_groups_skipped: int

class TableInfo(TypedDict):
    name: str
    rows: int
    bytes: int
    segments: int
    schema: pa.Schema

class LockedTable(TypedDict):
    rows: int
    schema_blake3: str

class LockedPin(TypedDict):
    pin: str
    requested: str | None
    snapshot: str
    tables: dict[str, LockedTable]

class DstoreError(Exception):
    """Base class of every dstore error."""

    hint: str | None
    is_corruption: bool

class NotFound(DstoreError, LookupError): ...

class AmbiguousRef(DstoreError, LookupError):
    candidates: list[str]

class NotAStore(DstoreError):
    path: str

class AlreadyExists(DstoreError):
    path: str

class CorruptionError(DstoreError):
    path: str

class CatalogError(CorruptionError): ...

class UnsupportedFormat(DstoreError):
    path: str
    found: int

class InvalidInput(DstoreError, ValueError):
    path: str | None

class SchemaMismatch(InvalidInput):
    table: str
    differences: list[str]

class TagExists(DstoreError):
    tag: str
    target: str

class CommitConflict(DstoreError): ...

class IoError(DstoreError):
    path: str
    errno: int | None

class Resolved:
    """A resolved ref: the snapshot id and the commit's sequence number when known."""

    @property
    def id(self) -> str: ...
    @property
    def seq(self) -> int | None: ...

class Store:
    """A dstore store."""

    @staticmethod
    def init(path: StrPath) -> Store: ...
    @staticmethod
    def open(path: StrPath) -> Store: ...
    @staticmethod
    def discover(start: StrPath | None = None) -> Store: ...
    @property
    def path(self) -> str: ...
    def begin(self) -> Transaction: ...
    def resolve(self, ref: str) -> Resolved: ...
    def resolve_as_of(self, time: datetime.datetime | str | int) -> Resolved: ...
    def snapshot(self, ref: str = "HEAD") -> Snapshot: ...
    def log(self, n: int | None = None) -> list[LogEntry]: ...
    def tags(self) -> dict[str, Resolved]: ...
    def set_tag(self, name: str, ref: str = "HEAD", *, force: bool = False, author: str | None = None) -> Resolved: ...
    def delete_tag(self, name: str, *, author: str | None = None) -> Resolved: ...
    def checkout(
        self,
        ref: str,
        out: StrPath,
        *,
        tables: Sequence[str] | None = None,
        format: Literal["parquet", "csv", "jsonl"] = "parquet",
        copy: bool = False,
        force: bool = False,
        verify: bool = True,
    ) -> CheckoutReport: ...
    def verify(self, refs: Sequence[str] | None = None, *, all: bool = False) -> VerifyReport: ...
    def diff(
        self,
        old: str,
        new: str = "HEAD",
        *,
        stats: bool = False,
        tables: Sequence[str] | None = None,
        rules: str | os.PathLike[str] | None = None,
    ) -> DriftReport | list[dict[str, Any]]: ...
    def reindex(self) -> int: ...
    def uses(self, ref: str | None = None, *, run: str | None = None) -> list[dict[str, Any]]: ...
    def retire_use(self, ref: str, run: str, *, reason: str = "", author: str | None = None) -> dict[str, Any]: ...
    def expire(
        self,
        *,
        keep_last: int | None = None,
        keep_within: str | datetime.timedelta | None = None,
        refs: Sequence[str] | None = None,
        purge: Sequence[str] | None = None,
        keep_locks: Sequence[StrPath] | None = None,
        dry_run: bool = False,
        message: str = "",
        author: str | None = None,
    ) -> dict[str, Any]: ...
    def gc(self, *, dry_run: bool = False, grace: str | datetime.timedelta | None = None) -> dict[str, Any]: ...

class Transaction:
    """A write transaction; nothing is visible until `commit`."""

    def add(
        self,
        table: str,
        data: pa.Table | pa.RecordBatch | pa.RecordBatchReader | ArrowStreamExportable,
        *,
        row_group_rows: int | None = None,
        segment_mib: int | None = None,
        allow_duplicates: bool = False,
    ) -> int: ...
    def add_files(
        self,
        table: str,
        paths: StrPath | Sequence[StrPath],
        *,
        validate: bool = True,
        rewrite: bool = False,
        row_group_rows: int | None = None,
        segment_mib: int | None = None,
        infer_rows: int | None = None,
        skip_unknown: bool = False,
        allow_duplicates: bool = False,
        csv_empty: Literal["quoted", "null", "string"] = "quoted",
    ) -> int: ...
    def add_folder(
        self,
        table: str,
        path: StrPath,
        *,
        segment_mib: int = 16,
        max_file_mib: int = 256,
        rehash: bool = False,
        profile: bool = True,
    ) -> dict[str, int]: ...
    def set_mode(self, table: str, mode: Literal["append", "overwrite"]) -> None: ...
    def commit(
        self,
        message: str,
        *,
        tags: Sequence[str] | None = None,
        author: str | None = None,
        force_tags: bool = False,
        sources: Sequence[str | Pin] | None = None,
    ) -> Commit: ...
    def prepare(self) -> Prepared: ...
    def add_prepared(
        self,
        description: Prepared | str | os.PathLike[str],
        *,
        check: Literal["footer", "trust", "full"] = "footer",
    ) -> int: ...
    def discard(self) -> None: ...
    @property
    def active(self) -> bool: ...
    def __enter__(self) -> Transaction: ...
    def __exit__(self, *exc: object) -> bool: ...

class Prepared:
    @staticmethod
    def from_json(text: str, origin: str | os.PathLike[str] | None = None) -> Prepared: ...
    @staticmethod
    def read(path: str | os.PathLike[str]) -> Prepared: ...
    def to_json(self) -> str: ...
    def write(self, path: str | os.PathLike[str]) -> None: ...
    @property
    def segments(self) -> int: ...
    @property
    def rows(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def store(self) -> str: ...
    @property
    def tables(self) -> list[dict[str, Any]]: ...

class Snapshot:
    """One snapshot: every table of one snapshot id."""

    def lineage(self, *, down: bool = False) -> dict[str, Any]: ...

    @property
    def id(self) -> str: ...
    @property
    def tables(self) -> list[str]: ...
    def schema(self, table: str) -> pa.Schema: ...
    def rows(self, table: str) -> int: ...
    def segment_files(self, table: str) -> list[str]: ...
    def to_pyarrow_dataset(self, table: str) -> Any: ...
    def stats(self, table: str, columns: Sequence[str] | None = None, since: str | None = None) -> pa.Table: ...
    def table(self, table: str) -> TableInfo: ...
    def take(self, table: str, rows: Sequence[int], columns: Sequence[str] | None = None) -> pa.RecordBatch: ...
    def scan(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        batch_size: int = 8192,
        seed: int | None = None,
        epoch: int = 0,
        shard: tuple[int, int] = (0, 1),
        workers: tuple[int, int] = (0, 1),
        window: int = 4,
        verify: bool = True,
        cursor: ScanCursor | Mapping[str, Any] | str | None = None,
        threads: int | None = None,
        read_ahead: int | None = None,
        since: str | None = None,
    ) -> Scan: ...

class DriftReport:
    @property
    def drifted(self) -> bool: ...
    @property
    def columns(self) -> list[dict[str, Any]]: ...
    @property
    def tables(self) -> list[dict[str, Any]]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def to_html(self, path: str | os.PathLike[str]) -> None: ...

class Scan:
    """A running scan: iterate for `pyarrow.RecordBatch`es (zero-copy)."""

    @property
    def reader(self) -> pa.RecordBatchReader: ...
    @property
    def schema(self) -> pa.Schema: ...
    @property
    def positions(self) -> int: ...
    def read_next_batch(self) -> pa.RecordBatch: ...
    def __iter__(self) -> Iterator[pa.RecordBatch]: ...
    def __next__(self) -> pa.RecordBatch: ...
    def to_table(self) -> pa.Table: ...
    def read_all(self) -> pa.Table: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def cursor(self) -> ScanCursor: ...
    def stats(self) -> ScanStats: ...
    def close(self) -> None: ...

class Pin:
    """A `dstore://STORE@REF[#TABLE]` pin."""

    def __init__(self, text: str) -> None: ...
    @staticmethod
    def of(store: StrPath, ref: str, table: str | None = None) -> Pin: ...
    @property
    def store(self) -> str: ...
    @property
    def ref(self) -> str: ...
    @property
    def table(self) -> str | None: ...
    @property
    def is_full(self) -> bool: ...
    @property
    def full_id(self) -> str | None: ...
    def with_table(self, table: str | None) -> Pin: ...
    def resolve(self, base: StrPath | None = None, *, record_use: bool = True) -> ResolvedPin: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class ResolvedPin:
    """A pin resolved to a full snapshot id."""

    @property
    def pin(self) -> Pin: ...
    @property
    def id(self) -> str: ...
    @property
    def seq(self) -> int | None: ...
    @property
    def table(self) -> str | None: ...
    @property
    def store(self) -> Store: ...
    def snapshot(self) -> Snapshot: ...

class LockFile:
    """A `dstore.lock` file."""

    def __init__(self) -> None: ...
    @staticmethod
    def read(path: StrPath) -> LockFile: ...
    @staticmethod
    def lock(pins: Mapping[str, str | Pin], base: StrPath | None = None) -> LockFile: ...
    def write(self, path: StrPath) -> None: ...
    def to_toml(self) -> str: ...
    def check(self) -> None: ...
    def check_config(self, pins: Mapping[str, str | Pin]) -> None: ...
    def record_uses(self, run: str, *, author: str | None = None) -> dict[str, str | None]: ...
    def snapshot(self, name: str) -> Snapshot: ...
    def get(self, name: str) -> LockedPin | None: ...
    @property
    def pins(self) -> dict[str, LockedPin]: ...
    @property
    def version(self) -> int: ...
    @property
    def path(self) -> str | None: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str) -> bool: ...

def verify_checkout(dir: StrPath) -> VerifyReport: ...
def record_use(
    target: Snapshot | ResolvedPin | Pin | str,
    run: str | None,
    *,
    tables: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    filter: str | None = None,
    seed: int | None = None,
    lock: LockFile | str | None = None,
    labels: Mapping[str, str] | None = None,
    author: str | None = None,
    automatic: bool = False,
) -> dict[str, Any] | None: ...
