//! `dstore.Store`, `dstore.Transaction` and the values they return.

use std::path::PathBuf;

use arrow::array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow::ffi_stream::RecordBatchStreamReader;
use arrow_pyarrow::FromPyArrow;
use dstore::{
    CommitOptions, IngestOptions, SnapshotId, Store, Transaction, WriteMode,
    checkout::CheckoutFormat, checkout::CheckoutOptions, format::LogRecord, format::RecordKind,
    format::TableChange, format::TableOp, format::TagTarget, ingest::CsvEmpty, ingest::Validation,
    verify::VerifyOptions,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::convert::{json_to_py, micros_to_datetime, parse_time};
use crate::errors::{OrRaise, invalid};
use crate::snapshot::PySnapshot;

/// A resolved ref: the snapshot id and, when the resolution went through the log, the
/// sequence number of the commit that made it.
#[pyclass(
    name = "Resolved",
    module = "dstore",
    frozen,
    eq,
    hash,
    skip_from_py_object
)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PyResolved {
    /// The snapshot id (64 hex digits).
    #[pyo3(get)]
    id: String,
    /// The commit's sequence number (None when a full id was resolved without the log).
    #[pyo3(get)]
    seq: Option<u64>,
}

#[pymethods]
impl PyResolved {
    fn __repr__(&self) -> String {
        match self.seq {
            Some(s) => format!("Resolved(id='{}', seq={s})", self.id),
            None => format!("Resolved(id='{}', seq=None)", self.id),
        }
    }
}

impl PyResolved {
    pub(crate) fn new(id: SnapshotId, seq: Option<u64>) -> Self {
        PyResolved {
            id: id.to_hex(),
            seq,
        }
    }
    fn of_tag(t: TagTarget) -> Self {
        PyResolved::new(t.snapshot, Some(t.seq))
    }
}

/// A dstore store. Open one with `Store.open(path)` or create one with `Store.init(path)`.
#[pyclass(name = "Store", module = "dstore", frozen)]
pub(crate) struct PyStore {
    pub(crate) store: Store,
}

pub(crate) fn default_author() -> String {
    std::env::var("DSTORE_AUTHOR")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into())
}

#[pymethods]
impl PyStore {
    /// Creates a new, empty store at `path` (which must not exist or be an empty directory).
    #[staticmethod]
    fn init(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let store = py.detach(|| Store::init(&path)).or_raise()?;
        Ok(PyStore { store })
    }

    /// Opens the store at `path`.
    #[staticmethod]
    fn open(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let store = py.detach(|| Store::open(&path)).or_raise()?;
        Ok(PyStore { store })
    }

    /// Finds the store at or above `start` (default: the current directory), like git.
    #[staticmethod]
    #[pyo3(signature = (start = None))]
    fn discover(py: Python<'_>, start: Option<PathBuf>) -> PyResult<Self> {
        let start = start.unwrap_or_else(|| PathBuf::from("."));
        let store = py.detach(|| Store::discover(&start)).or_raise()?;
        Ok(PyStore { store })
    }

    /// The store's directory, or its URL (`s3://bucket/prefix`) for a store in object
    /// storage.
    #[getter]
    fn path(&self) -> String {
        self.store.location()
    }

    fn __repr__(&self) -> String {
        format!("Store('{}')", self.store.location())
    }

    /// A write transaction: add data with `add` / `add_files`, then `commit`.
    fn begin(&self) -> PyTransaction {
        PyTransaction {
            cell: Some(TxCell::new(self.store.clone(), |s| Some(s.begin()))),
        }
    }

    /// Resolves a ref (`HEAD`, `HEAD~N`, `@SEQ`, a tag, a full id or 8+ hex digits of one).
    fn resolve(&self, py: Python<'_>, r#ref: &str) -> PyResult<PyResolved> {
        let r = py.detach(|| self.store.resolve(r#ref)).or_raise()?;
        Ok(PyResolved::new(r.id, r.seq))
    }

    /// The snapshot that was HEAD at `time`: a `datetime` (naive means UTC), an RFC 3339 string,
    /// a date (`2026-11-24`, the end of that day in UTC) or microseconds since the epoch.
    fn resolve_as_of(&self, py: Python<'_>, time: &Bound<'_, PyAny>) -> PyResult<PyResolved> {
        let micros = parse_time(time)?;
        let r = py.detach(|| self.store.resolve_as_of(micros)).or_raise()?;
        Ok(PyResolved::new(r.id, r.seq))
    }

    /// Opens a snapshot by ref (default HEAD). A full id opens its manifest directly, without
    /// the catalog.
    #[pyo3(signature = (r#ref = "HEAD"))]
    fn snapshot(&self, py: Python<'_>, r#ref: &str) -> PyResult<PySnapshot> {
        let snap = py
            .detach(|| {
                let id = match SnapshotId::from_hex(r#ref) {
                    Some(id) => id,
                    None => self.store.resolve(r#ref)?.id,
                };
                self.store.snapshot(&id)
            })
            .or_raise()?;
        Ok(PySnapshot { snap })
    }

    /// How `new` differs from `old`. With `stats=True`, the drift report from the column
    /// profiles (a `DriftReport`: `.drifted`, `.columns`, `.tables`, `.to_dict()`,
    /// `.to_html(path)`), for `tables` (default all) under the rules file `rules` (TOML,
    /// docs/drift.md); otherwise the changed tables as dicts (`table`, `status`, `rows_old`,
    /// `rows_new`, `segments_added`, `segments_removed`, `schema_changed`).
    #[pyo3(signature = (old, new = "HEAD", *, stats = false, tables = None, rules = None))]
    fn diff(
        &self,
        py: Python<'_>,
        old: &str,
        new: &str,
        stats: bool,
        tables: Option<Vec<String>>,
        rules: Option<PathBuf>,
    ) -> PyResult<Py<PyAny>> {
        let (a, b) = py
            .detach(|| {
                let a = self.store.snapshot(&self.store.resolve(old)?.id)?;
                let b = self.store.snapshot(&self.store.resolve(new)?.id)?;
                Ok::<_, dstore::Error>((a, b))
            })
            .or_raise()?;
        if stats {
            let r = crate::drift::diff_stats(py, &a, &b, tables.unwrap_or_default(), rules)?;
            return Ok(Py::new(py, r)?.into_any());
        }
        let diffs = py.detach(|| dstore::snapshot::diff(&a, &b)).or_raise()?;
        let v: Vec<serde_json::Value> = diffs
            .iter()
            .map(|d| {
                serde_json::json!({
                    "table": d.table,
                    "status": match (d.in_old, d.in_new) { (false, _) => "added", (_, false) => "removed", _ => "changed" },
                    "schema_changed": d.schema_changed,
                    "rows_old": d.rows.0,
                    "rows_new": d.rows.1,
                    "segments_added": d.segments_added.iter().map(dstore::SegmentId::to_hex).collect::<Vec<_>>(),
                    "segments_removed": d.segments_removed.iter().map(dstore::SegmentId::to_hex).collect::<Vec<_>>(),
                })
            })
            .collect();
        json_to_py(py, &serde_json::Value::Array(v))
    }

    /// Log records, newest first (at most `n`; all when None), as dicts.
    #[pyo3(signature = (n = None))]
    fn log<'py>(&self, py: Python<'py>, n: Option<usize>) -> PyResult<Bound<'py, PyList>> {
        let records = py
            .detach(|| self.store.log(n.unwrap_or(usize::MAX)))
            .or_raise()?;
        let out = PyList::empty(py);
        for r in &records {
            out.append(record_to_py(py, r)?)?;
        }
        Ok(out)
    }

    /// Every tag, by name: `{name: Resolved(id, seq)}`.
    fn tags<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let tags = py.detach(|| self.store.tags()).or_raise()?;
        let out = PyDict::new(py);
        for (name, t) in tags {
            out.set_item(name, PyResolved::of_tag(t))?;
        }
        Ok(out)
    }

    /// Points tag `name` at the snapshot `ref` resolves to (default HEAD). An existing tag moves
    /// only with `force=True`; the move is recorded in the log.
    #[pyo3(signature = (name, r#ref = "HEAD", *, force = false, author = None))]
    fn set_tag(
        &self,
        py: Python<'_>,
        name: &str,
        r#ref: &str,
        force: bool,
        author: Option<String>,
    ) -> PyResult<PyResolved> {
        let author = author.unwrap_or_else(default_author);
        let t = py
            .detach(|| self.store.set_tag(name, r#ref, force, &author))
            .or_raise()?;
        Ok(PyResolved::of_tag(t))
    }

    /// Deletes a tag (recorded in the log); returns where it pointed.
    #[pyo3(signature = (name, *, author = None))]
    fn delete_tag(
        &self,
        py: Python<'_>,
        name: &str,
        author: Option<String>,
    ) -> PyResult<PyResolved> {
        let author = author.unwrap_or_else(default_author);
        let t = py
            .detach(|| self.store.delete_tag(name, &author))
            .or_raise()?;
        Ok(PyResolved::of_tag(t))
    }

    /// Writes a snapshot's tables into `out` as plain files (Parquet hard-linked when possible,
    /// or converted to `csv` / `jsonl`) plus `dstore-checkout.json`. Returns what was written.
    /// Hard-linked segments are hashed once unless `verify=False`.
    #[pyo3(signature = (r#ref, out, *, tables = None, format = "parquet", copy = false, force = false, verify = true))]
    #[allow(clippy::too_many_arguments)]
    fn checkout<'py>(
        &self,
        py: Python<'py>,
        r#ref: &str,
        out: PathBuf,
        tables: Option<Vec<String>>,
        format: &str,
        copy: bool,
        force: bool,
        verify: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let format = match format {
            "parquet" => CheckoutFormat::Parquet,
            "csv" => CheckoutFormat::Csv,
            "jsonl" => CheckoutFormat::Jsonl,
            other => {
                return Err(invalid(
                    format!("unknown checkout format `{other}`"),
                    Some("use \"parquet\", \"csv\" or \"jsonl\""),
                ));
            }
        };
        let opts = CheckoutOptions {
            tables: tables.unwrap_or_default(),
            copy,
            format,
            force,
            trust_links: !verify,
        };
        let report = py
            .detach(|| {
                let snap = self.store.snapshot(&self.store.resolve(r#ref)?.id)?;
                self.store.checkout(&snap, &out, &opts, &|_| {})
            })
            .or_raise()?;
        let d = PyDict::new(py);
        d.set_item("files", report.files)?;
        d.set_item("linked", report.linked)?;
        d.set_item("bytes", report.bytes)?;
        d.set_item("rows", report.rows)?;
        Ok(d)
    }

    /// Re-hashes segments (and every column chunk), pages and manifests of the given refs
    /// (default HEAD; `all=True`: every snapshot) and checks the log chain. Problems are
    /// reported, not raised: `report["ok"]`, `report["problems"]`.
    #[pyo3(signature = (refs = None, *, all = false))]
    fn verify(&self, py: Python<'_>, refs: Option<Vec<String>>, all: bool) -> PyResult<Py<PyAny>> {
        let opts = VerifyOptions {
            refs: refs.unwrap_or_default(),
            all,
        };
        let report = py.detach(|| self.store.verify(&opts, &|_| {})).or_raise()?;
        verify_report_to_py(py, &report)
    }

    /// Rebuilds the catalog from the log; returns the number of records indexed.
    fn reindex(&self, py: Python<'_>) -> PyResult<u64> {
        py.detach(|| self.store.reindex()).or_raise()
    }

    /// The runs that read a snapshot (`ref`, default HEAD), or with `run=` what one run read in
    /// this store: a list of dicts (`run`, `snapshot`, `time`, `author`, `host`, `tables`,
    /// `columns`, `filter`, `seed`, `lock_blake3`, `code`, `labels`, `live`, `retired`).
    #[pyo3(signature = (r#ref = None, *, run = None))]
    fn uses(&self, py: Python<'_>, r#ref: Option<&str>, run: Option<&str>) -> PyResult<Py<PyAny>> {
        crate::uses::uses(py, &self.store, r#ref, run)
    }

    /// Records that `run` no longer needs the snapshot `ref` (append-only: the use stays
    /// listed, no longer live). Returns `{"created", "time_micros", "author", "reason"}`.
    #[pyo3(signature = (r#ref, run, *, reason = "", author = None))]
    fn retire_use<'py>(
        &self,
        py: Python<'py>,
        r#ref: &str,
        run: &str,
        reason: &str,
        author: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let author = author.unwrap_or_else(default_author);
        let (r, created) = py
            .detach(|| {
                let id = self.store.resolve(r#ref)?.id;
                self.store.retire_use(&id, run, &author, reason)
            })
            .or_raise()?;
        let d = PyDict::new(py);
        d.set_item("created", created)?;
        d.set_item("time_micros", r.time_micros)?;
        d.set_item("author", r.author)?;
        d.set_item("reason", r.reason)?;
        Ok(d)
    }

    /// Expires snapshots: those outside the last `keep_last` commits and older than
    /// `keep_within` (seconds, a timedelta, or "90d"), and `refs` by name — never HEAD, a tagged
    /// one, one a run uses, or one a lock in `keep_locks` names; `purge` expires even those
    /// (not HEAD). Returns the report (`expired`, `protected`, `already`, `seq`).
    #[pyo3(signature = (*, keep_last = None, keep_within = None, refs = None, purge = None, keep_locks = None, dry_run = false, message = "", author = None))]
    #[allow(clippy::too_many_arguments)]
    fn expire(
        &self,
        py: Python<'_>,
        keep_last: Option<u64>,
        keep_within: Option<&Bound<'_, PyAny>>,
        refs: Option<Vec<String>>,
        purge: Option<Vec<String>>,
        keep_locks: Option<Vec<PathBuf>>,
        dry_run: bool,
        message: &str,
        author: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let keep_within = keep_within
            .map(|v| crate::uses::duration_arg(v, "keep_within"))
            .transpose()?;
        let opts = dstore::expire::ExpireOptions {
            keep_last,
            keep_within,
            refs: refs.unwrap_or_default(),
            purge: purge.unwrap_or_default(),
            keep_locks: keep_locks.unwrap_or_default(),
            dry_run,
            author: author.unwrap_or_else(default_author),
            message: message.to_owned(),
        };
        let r = py.detach(|| self.store.expire(&opts)).or_raise()?;
        let v = serde_json::to_value(&r).map_err(|e| invalid(e.to_string(), None))?;
        json_to_py(py, &v)
    }

    /// Removes the objects no live snapshot reaches (expired snapshots' data, leftovers of
    /// failed writes) once older than `grace` (seconds, a timedelta, or "1h"). Returns the report.
    #[pyo3(signature = (*, dry_run = false, grace = None))]
    fn gc(
        &self,
        py: Python<'_>,
        dry_run: bool,
        grace: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let mut opts = dstore::gc::GcOptions {
            dry_run,
            ..Default::default()
        };
        if let Some(g) = grace {
            opts.grace = crate::uses::duration_arg(g, "grace")?;
        }
        let r = py.detach(|| self.store.gc(&opts)).or_raise()?;
        let v = serde_json::to_value(&r).map_err(|e| invalid(e.to_string(), None))?;
        json_to_py(py, &v)
    }
}

pub(crate) fn verify_report_to_py(
    py: Python<'_>,
    r: &dstore::verify::VerifyReport,
) -> PyResult<Py<PyAny>> {
    let mut v = serde_json::to_value(r).map_err(|e| invalid(e.to_string(), None))?;
    v["ok"] = serde_json::Value::Bool(r.ok());
    json_to_py(py, &v)
}

fn op_name(op: TableOp) -> &'static str {
    match op {
        TableOp::Create => "create",
        TableOp::Append => "append",
        TableOp::Overwrite => "overwrite",
    }
}

fn changes_to_py<'py>(py: Python<'py>, changes: &[TableChange]) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for c in changes {
        let d = PyDict::new(py);
        d.set_item("table", &c.table)?;
        d.set_item("op", op_name(c.op))?;
        d.set_item("segments", c.segments)?;
        d.set_item("rows", c.rows)?;
        d.set_item("bytes", c.bytes)?;
        out.append(d)?;
    }
    Ok(out)
}

fn record_to_py<'py>(py: Python<'py>, r: &LogRecord) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("seq", r.seq)?;
    d.set_item("time", micros_to_datetime(py, r.time_micros)?)?;
    d.set_item("author", &r.author)?;
    d.set_item("message", &r.message)?;
    match &r.kind {
        RecordKind::Commit {
            snapshot,
            parent_commit,
            changes,
            tags,
            upstream,
        } => {
            d.set_item("kind", "commit")?;
            let up = PyList::empty(py);
            for u in upstream {
                let x = PyDict::new(py);
                x.set_item("store", &u.store)?;
                x.set_item("snapshot", u.snapshot.to_hex())?;
                x.set_item("table", &u.table)?;
                up.append(x)?;
            }
            d.set_item("upstream", up)?;
            d.set_item("snapshot", snapshot.to_hex())?;
            d.set_item("parent", *parent_commit)?;
            d.set_item("changes", changes_to_py(py, changes)?)?;
            d.set_item("tags", tags.clone())?;
        }
        RecordKind::Tag {
            name,
            target,
            previous,
        } => {
            d.set_item("kind", "tag")?;
            d.set_item("tag", name)?;
            d.set_item("target", target.map(PyResolved::of_tag))?;
            d.set_item("previous", previous.map(PyResolved::of_tag))?;
        }
        RecordKind::Expire { snapshots, purge } => {
            d.set_item("kind", "expire")?;
            d.set_item(
                "snapshots",
                snapshots.iter().map(SnapshotId::to_hex).collect::<Vec<_>>(),
            )?;
            d.set_item("purge", *purge)?;
        }
    }
    Ok(d)
}

type TxSlot<'s> = Option<Transaction<'s>>;

self_cell::self_cell!(
    /// A transaction together with the store handle it borrows (a `#[pyclass]` cannot hold a
    /// borrow). The slot is emptied by `commit`, which consumes the transaction.
    struct TxCell {
        owner: Store,
        #[covariant]
        dependent: TxSlot,
    }
);

/// A write transaction. Nothing is visible until `commit`; a transaction that is never
/// committed (or is left by an exception in a `with` block) discards what it staged.
#[pyclass(name = "Transaction", module = "dstore")]
pub(crate) struct PyTransaction {
    cell: Option<TxCell>,
}

fn finished() -> PyErr {
    invalid(
        "this transaction was already committed or discarded",
        Some("start a new one with `store.begin()`"),
    )
}

fn ingest_options(row_group_rows: Option<usize>, segment_mib: Option<u64>) -> IngestOptions {
    let mut o = IngestOptions::default();
    if let Some(n) = row_group_rows {
        o.row_group_rows = n.max(1);
    }
    if let Some(m) = segment_mib {
        // Saturating: a size past u64 means "never cut", not a wrapped one.
        o.target_segment_bytes = m.max(1).saturating_mul(1 << 20);
    }
    o
}

/// An Arrow stream from a Python object: anything with `__arrow_c_stream__` (pyarrow Table and
/// RecordBatchReader, polars, DuckDB, ...), a `pyarrow.RecordBatchReader` of an older pyarrow,
/// or a single batch exposing `__arrow_c_array__`.
fn arrow_stream(data: &Bound<'_, PyAny>) -> PyResult<Box<dyn RecordBatchReader + Send>> {
    if data.hasattr("__arrow_c_stream__")? || !data.hasattr("__arrow_c_array__")? {
        let reader = RecordBatchStreamReader::from_pyarrow_bound(data).map_err(|e| {
            PyTypeError::new_err(format!(
                "expected Arrow data (a pyarrow Table or RecordBatchReader, or an object with \
                 __arrow_c_stream__), got {}: {e}",
                data.get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        return Ok(Box::new(reader));
    }
    let batch = RecordBatch::from_pyarrow_bound(data)?;
    let schema = batch.schema();
    Ok(Box::new(RecordBatchIterator::new([Ok(batch)], schema)))
}

impl PyTransaction {
    fn with_tx<T: Send>(
        &mut self,
        py: Python<'_>,
        f: impl FnOnce(&mut Transaction<'_>) -> dstore::Result<T> + Send,
    ) -> PyResult<T> {
        let cell = self.cell.as_mut().ok_or_else(finished)?;
        py.detach(|| {
            cell.with_dependent_mut(|_, slot| match slot {
                Some(tx) => f(tx).or_raise(),
                None => Err(finished()),
            })
        })
    }
}

#[pymethods]
impl PyTransaction {
    /// Adds Arrow data to `table`: a pyarrow Table, RecordBatch or RecordBatchReader, or
    /// anything exposing `__arrow_c_stream__` (polars, DuckDB, ...). The data is streamed into
    /// zstd Parquet segments. Returns the number of segments staged.
    ///
    /// Data the table already holds (the same segment bytes, as the same rows converted the
    /// same way give) is refused unless `allow_duplicates=True`. Data without rows adds no
    /// segment (and returns 0); its schema must match the table's.
    #[pyo3(signature = (table, data, *, row_group_rows = None, segment_mib = None, allow_duplicates = false))]
    fn add(
        &mut self,
        py: Python<'_>,
        table: &str,
        data: &Bound<'_, PyAny>,
        row_group_rows: Option<usize>,
        segment_mib: Option<u64>,
        allow_duplicates: bool,
    ) -> PyResult<usize> {
        let reader = arrow_stream(data)?;
        let mut opts = ingest_options(row_group_rows, segment_mib);
        opts.allow_duplicates = allow_duplicates;
        self.with_tx(py, move |tx| tx.add_reader(table, reader, &opts))
    }

    /// Adds files or directories (Parquet adopted as is; CSV, JSON lines and Arrow IPC
    /// converted; CSV and JSON lines also gzip or zstd compressed) to `table`; `s3://` objects
    /// and prefixes too (read with range requests; settings from the `AWS_*` environment). Returns the
    /// number of segments staged.
    ///
    /// A directory holding files of unknown type is refused unless `skip_unknown=True`. A file
    /// whose data the table already holds (e.g. yesterday's file again) is refused unless
    /// `allow_duplicates=True`. Files without rows add no segment. `csv_empty` says what an
    /// empty field of a CSV string column is: `"quoted"` (default: null unless quoted, `""`),
    /// `"null"` or `"string"` (always the empty string); in other columns it is null.
    #[pyo3(signature = (table, paths, *, validate = true, rewrite = false, row_group_rows = None, segment_mib = None, infer_rows = None, skip_unknown = false, allow_duplicates = false, csv_empty = "quoted"))]
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
    fn add_files(
        &mut self,
        py: Python<'_>,
        table: &str,
        paths: &Bound<'_, PyAny>,
        validate: bool,
        rewrite: bool,
        row_group_rows: Option<usize>,
        segment_mib: Option<u64>,
        infer_rows: Option<usize>,
        skip_unknown: bool,
        allow_duplicates: bool,
        csv_empty: &str,
    ) -> PyResult<usize> {
        // One path (str or os.PathLike) or a list of them.
        let paths: Vec<PathBuf> = match paths.extract::<PathBuf>() {
            Ok(p) => vec![p],
            Err(_) => paths.extract()?,
        };
        let mut opts = ingest_options(row_group_rows, segment_mib);
        opts.rewrite = rewrite;
        if !validate {
            opts.validation = Validation::FooterOnly;
        }
        if let Some(n) = infer_rows {
            opts.infer_rows = n;
        }
        opts.skip_unknown = skip_unknown;
        opts.allow_duplicates = allow_duplicates;
        opts.remote = dstore::storage::RemoteOptions::from_env();
        opts.csv_empty = match csv_empty {
            "quoted" => CsvEmpty::Quoted,
            "null" => CsvEmpty::Null,
            "string" => CsvEmpty::EmptyString,
            other => {
                return Err(invalid(
                    format!("unknown csv_empty reading `{other}`"),
                    Some("use \"quoted\", \"null\" or \"string\""),
                ));
            }
        };
        self.with_tx(py, move |tx| {
            tx.add_files(table, &paths, &opts).map(|a| a.segments)
        })
    }

    /// Makes `table` a files table holding every file under the folder `path`, one row per
    /// file (`path`, `size`, `blake3`, `mime`, `bytes`; docs/files.md). The table becomes the
    /// folder as it is now; groups of unchanged files keep their segments, unread when the
    /// local state cache recognises them (`rehash=True` reads every file). Returns a dict:
    /// `files`, `bytes`, `segments`, `segments_kept`, `files_read`, `bytes_read`.
    #[pyo3(signature = (table, path, *, segment_mib = 16, max_file_mib = 256, rehash = false, profile = true))]
    #[allow(clippy::too_many_arguments)]
    fn add_folder<'py>(
        &mut self,
        py: Python<'py>,
        table: &str,
        path: PathBuf,
        segment_mib: u64,
        max_file_mib: u64,
        rehash: bool,
        profile: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        if segment_mib > 1 << 20 {
            return Err(invalid(
                "segment_mib is over 1048576 (1 TiB)".to_owned(),
                Some("segments are cut at a size in MiB, e.g. segment_mib=16"),
            ));
        }
        let opts = dstore::files::FilesOptions {
            target_segment_bytes: segment_mib.max(1) << 20,
            max_file_bytes: max_file_mib.saturating_mul(1 << 20),
            rehash,
            profile,
            ..dstore::files::FilesOptions::default()
        };
        let a = self.with_tx(py, move |tx| tx.add_folder(table, &path, &opts))?;
        let d = PyDict::new(py);
        d.set_item("files", a.files)?;
        d.set_item("bytes", a.bytes)?;
        d.set_item("segments", a.segments)?;
        d.set_item("segments_kept", a.segments_kept)?;
        d.set_item("files_read", a.files_read)?;
        d.set_item("bytes_read", a.bytes_read)?;
        Ok(d)
    }

    /// How `table` is changed: `"append"` (default) or `"overwrite"`. Call before adding data.
    fn set_mode(&mut self, py: Python<'_>, table: &str, mode: &str) -> PyResult<()> {
        let mode = match mode {
            "append" => WriteMode::Append,
            "overwrite" => WriteMode::Overwrite,
            other => {
                return Err(invalid(
                    format!("unknown write mode `{other}`"),
                    Some("use \"append\" or \"overwrite\""),
                ));
            }
        };
        self.with_tx(py, move |tx| tx.set_mode(table, mode))
    }

    /// Commits the staged data as a new snapshot on top of HEAD, setting `tags` on it
    /// atomically. `sources` (pins, as `Pin` or text) are the snapshots this data was made
    /// from: recorded in the commit (lineage) and, in each source's store, as a use by the new
    /// snapshot. Returns `{"id", "seq", "changes", "conflicts", "unchanged"}`.
    #[pyo3(signature = (message, *, tags = None, author = None, force_tags = false, sources = None))]
    fn commit<'py>(
        &mut self,
        py: Python<'py>,
        message: String,
        tags: Option<Vec<String>>,
        author: Option<String>,
        force_tags: bool,
        sources: Option<Vec<Bound<'py, PyAny>>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let pins: Vec<String> = sources
            .unwrap_or_default()
            .iter()
            .map(|p| crate::pin::pin_arg(p).map(|p| p.to_string()))
            .collect::<PyResult<_>>()?;
        let cwd = std::env::current_dir()
            .map_err(|e| invalid(format!("cannot read the current directory: {e}"), None))?;
        let resolved = py
            .detach(|| {
                dstore::lineage::resolve_sources(
                    &pins,
                    &cwd,
                    &dstore::storage::RemoteOptions::from_env(),
                )
            })
            .or_raise()?;
        let mut cell = self.cell.take().ok_or_else(finished)?;
        let opts = CommitOptions {
            message,
            author: author.unwrap_or_else(default_author),
            tags: tags.unwrap_or_default(),
            force_tags,
            upstream: resolved.iter().map(|s| s.upstream.clone()).collect(),
        };
        let outcome = py.detach(|| {
            cell.with_dependent_mut(|_, slot| match slot.take() {
                Some(tx) => tx.commit(&opts).or_raise(),
                None => Err(finished()),
            })
        })?;
        let store = cell.borrow_owner().clone();
        for (pin, e) in py.detach(|| store.record_derived(&outcome.id, &resolved, &opts.author)) {
            py.import("warnings")?.call_method1(
                "warn",
                (format!("the commit names {pin} as its source, but that store could not record the use: {e}"),),
            )?;
        }
        let d = PyDict::new(py);
        d.set_item("id", outcome.id.to_hex())?;
        d.set_item("seq", outcome.seq)?;
        d.set_item("changes", changes_to_py(py, &outcome.changes)?)?;
        d.set_item("conflicts", outcome.conflicts)?;
        d.set_item("unchanged", outcome.unchanged)?;
        Ok(d)
    }

    /// Places what was added in the store without committing it, and returns its description
    /// (a `Prepared`), to be committed by `add_prepared` and `commit` in one process, with the
    /// descriptions of other workers. Takes no lock. Ends the transaction. Prepared segments
    /// are kept by `gc` for its grace period (one hour by default) until a commit names them.
    fn prepare(&mut self, py: Python<'_>) -> PyResult<crate::prepare::PyPrepared> {
        let mut cell = self.cell.take().ok_or_else(finished)?;
        let inner = py.detach(|| {
            cell.with_dependent_mut(|_, slot| match slot.take() {
                Some(tx) => tx.prepare().or_raise(),
                None => Err(finished()),
            })
        })?;
        Ok(crate::prepare::PyPrepared { inner })
    }

    /// Adds the segments of a prepare description (a `Prepared`, its JSON text, or the path of
    /// a file `dstore prepare -o` wrote) to this transaction. Each described segment must be in
    /// the store with its size; `check="footer"` (default) also reads its footer and compares
    /// it with the description, `"full"` re-hashes its bytes, `"trust"` checks only the size.
    /// A description that does not match the store raises `InvalidInput` naming the segment
    /// (`segment`, `problem`), and adds nothing. Returns the number of segments added.
    #[pyo3(signature = (description, *, check = "footer"))]
    fn add_prepared(
        &mut self,
        py: Python<'_>,
        description: &Bound<'_, PyAny>,
        check: &str,
    ) -> PyResult<usize> {
        let check = crate::prepare::check_arg(check)?;
        let prepared = crate::prepare::prepared_arg(py, description)?;
        self.with_tx(py, move |tx| {
            tx.add_prepared(&prepared, check).map(|a| a.segments)
        })
    }

    /// Drops the transaction and what it staged.
    fn discard(&mut self) {
        self.cell = None;
    }

    /// Whether `commit` or `discard` may still be called.
    #[getter]
    fn active(&self) -> bool {
        self.cell.is_some()
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Leaving a `with` block discards whatever was not committed.
    #[pyo3(signature = (*_exc))]
    fn __exit__(&mut self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.cell = None;
        false
    }

    fn __repr__(&self) -> String {
        if self.cell.is_some() {
            "<dstore.Transaction (open)>".into()
        } else {
            "<dstore.Transaction (finished)>".into()
        }
    }
}
