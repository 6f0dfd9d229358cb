//! `dstore.Snapshot` and `dstore.Scan`: scans handed to pyarrow through the Arrow C stream
//! interface, so batches cross into Python without a copy.

use std::sync::{Arc, Mutex, PoisonError};

use arrow::array::{RecordBatch, RecordBatchReader};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow_pyarrow::{IntoPyArrow, ToPyArrow};
use dstore::scan::filter::Expr;
use dstore::{ScanBatches, ScanCursor, Snapshot, scan::ScanStats};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{json_to_py, py_to_json};
use crate::errors::{OrRaise, invalid, to_py};

/// An opened snapshot: every table of one snapshot id. Get one from `Store.snapshot(ref)`,
/// `ResolvedPin.snapshot()` or `LockFile.snapshot(name)`.
#[pyclass(name = "Snapshot", module = "dstore", frozen)]
pub(crate) struct PySnapshot {
    pub(crate) snap: Snapshot,
}

/// What the Rust reader tells the Python `Scan` object as it goes: where the scan stands and
/// the library error behind a failed batch (pyarrow sees only its message).
#[derive(Default)]
struct Progress {
    cursor: Option<ScanCursor>,
    stats: ScanStats,
    error: Option<dstore::Error>,
}

type Shared = Arc<Mutex<Progress>>;

fn lock(p: &Shared) -> std::sync::MutexGuard<'_, Progress> {
    p.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scan as an Arrow reader that records its cursor after every batch.
struct Tracked {
    batches: ScanBatches,
    schema: SchemaRef,
    progress: Shared,
}

impl Iterator for Tracked {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.batches.next();
        let mut p = lock(&self.progress);
        p.cursor = Some(self.batches.cursor());
        p.stats = self.batches.stats();
        match item {
            Some(Err(e)) => {
                let msg = e.to_string();
                p.error = Some(e);
                Some(Err(ArrowError::ExternalError(msg.into())))
            }
            Some(Ok(b)) => Some(Ok(b)),
            None => None,
        }
    }
}

impl RecordBatchReader for Tracked {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

fn parse_cursor(c: &Bound<'_, PyAny>) -> PyResult<ScanCursor> {
    let v = py_to_json(c)?;
    serde_json::from_value(v).map_err(|e| {
        invalid(
            format!("not a dstore scan cursor: {e}"),
            Some("pass the dict (or its JSON text) that `Scan.cursor()` returned"),
        )
    })
}

#[pymethods]
impl PySnapshot {
    /// Where this snapshot came from (`down=False`: the sources its commit names, made with
    /// `Transaction.commit(sources=)` or `dstore snapshot --from`), or what was made from it
    /// (`down=True`), across stores: a tree of dicts (`store`, `snapshot`, `table`,
    /// `message`, `note`, `edges`).
    #[pyo3(signature = (*, down = false))]
    fn lineage(&self, py: Python<'_>, down: bool) -> PyResult<Py<PyAny>> {
        let tree = py
            .detach(|| {
                self.snap.store().lineage(
                    &self.snap.id(),
                    down,
                    &dstore::storage::RemoteOptions::from_env(),
                )
            })
            .or_raise()?;
        let v = serde_json::to_value(&tree).map_err(|e| invalid(e.to_string(), None))?;
        json_to_py(py, &v)
    }

    /// The snapshot id (64 hex digits).
    #[getter]
    fn id(&self) -> String {
        self.snap.id().to_hex()
    }

    /// The names of the snapshot's tables.
    #[getter]
    fn tables(&self) -> Vec<String> {
        self.snap.tables().iter().map(|t| t.name.clone()).collect()
    }

    /// A table's schema as a `pyarrow.Schema`.
    fn schema<'py>(&self, py: Python<'py>, table: &str) -> PyResult<Bound<'py, PyAny>> {
        self.snap.table(table).or_raise()?.schema.to_pyarrow(py)
    }

    /// The paths of a table's segment files, in the table's order: whole Parquet files, named
    /// by their BLAKE3, that any Parquet reader opens. Reading them directly is not verified
    /// (`dstore verify` checks them; a scan verifies what it reads). For a store in object
    /// storage, their `s3://` URLs.
    fn segment_files(&self, py: Python<'_>, table: &str) -> PyResult<Vec<String>> {
        py.detach(|| self.snap.segment_locations(table)).or_raise()
    }

    /// A `pyarrow.dataset.Dataset` over a table's segment files with the table's exact schema:
    /// DuckDB, polars and Dask read it lazily and push filters and projections into it. Its
    /// reads are not verified (see `segment_files`); the files are immutable, so it reads
    /// exactly this snapshot for as long as gc keeps it.
    fn to_pyarrow_dataset<'py>(&self, py: Python<'py>, table: &str) -> PyResult<Bound<'py, PyAny>> {
        let mut files = self.segment_files(py, table)?;
        let schema = self.schema(py, table)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("schema", schema)?;
        kwargs.set_item("format", "parquet")?;
        if self.snap.store().url().is_some() {
            // A store in object storage: pyarrow's own S3 client, set up from the same
            // environment dstore's reads (dstore/_engines.py).
            let fs = py
                .import("dstore._engines")?
                .call_method0("s3_filesystem")?;
            kwargs.set_item("filesystem", fs)?;
            for f in &mut files {
                if let Some(rest) = f.strip_prefix("s3://") {
                    *f = rest.to_owned();
                }
            }
        }
        py.import("pyarrow.dataset")?
            .getattr("dataset")?
            .call((files,), Some(&kwargs))
    }

    /// A table's rows.
    fn rows(&self, table: &str) -> PyResult<u64> {
        Ok(self.snap.table(table).or_raise()?.rows)
    }

    /// A table's summary: `{"name", "rows", "bytes", "segments", "schema"}`.
    fn table<'py>(&self, py: Python<'py>, table: &str) -> PyResult<Bound<'py, PyDict>> {
        let t = self.snap.table(table).or_raise()?;
        let d = PyDict::new(py);
        d.set_item("name", &t.name)?;
        d.set_item("rows", t.rows)?;
        d.set_item("bytes", t.bytes)?;
        d.set_item("segments", t.segments)?;
        d.set_item("schema", t.schema.to_pyarrow(py)?)?;
        Ok(d)
    }

    /// The merged column profiles of `table` as a `pyarrow.Table`, one row per column
    /// (`column`, `kind`, `count`, `nulls`, `nans`, `min`, `max`, `mean`, `std`, `p05`..`p95`,
    /// `distinct`, `len_min`, `len_max`, `len_mean`, `top` as JSON). Segments without a stored
    /// profile are profiled now and the profile stored (docs/drift.md). `since="v2"` (a ref or
    /// id): the profile of just the rows this snapshot has and v2 lacks (the rows of
    /// `scan(table, since="v2")`).
    #[pyo3(signature = (table, columns = None, since = None))]
    fn stats<'py>(
        &self,
        py: Python<'py>,
        table: &str,
        columns: Option<Vec<String>>,
        since: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::drift::stats(py, &self.snap, table, columns, since.as_deref())
    }

    /// Rows of `table` by global row number (storage order, from 0), in the order given, as a
    /// `pyarrow.RecordBatch`; reads and verifies only the row groups holding them.
    #[pyo3(signature = (table, rows, columns = None))]
    fn take<'py>(
        &self,
        py: Python<'py>,
        table: &str,
        rows: Vec<u64>,
        columns: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let batch = py
            .detach(|| {
                let cols: Option<Vec<&str>> = columns
                    .as_ref()
                    .map(|c| c.iter().map(String::as_str).collect());
                self.snap.take(table, &rows, cols.as_deref())
            })
            .or_raise()?;
        batch.to_pyarrow(py)
    }

    /// Scans `table` in the exact order of docs/order.md: a pure function of (snapshot, table,
    /// seed, epoch, shard, order and its knob: `memory_budget` for order 2, the default, or
    /// `window` for order 1), whatever the batch size, thread count or number of workers.
    ///
    /// Returns a `Scan`: iterate it for `pyarrow.RecordBatch`es, call `to_table()`, pass it to
    /// anything that takes an Arrow stream, or take `scan.reader` (a `pyarrow.RecordBatchReader`).
    /// `scan.cursor()` says where it stands; `cursor=` resumes there. `since="v2"` (a ref or id
    /// in this snapshot's store) scans only the rows this snapshot has and that one has not
    /// (docs/diff.md), in the order docs/order.md gives for scans since a snapshot.
    #[pyo3(signature = (
        table, columns = None, filter = None, limit = None, offset = 0, batch_size = 8192,
        seed = None, epoch = 0, shard = (0, 1), workers = (0, 1), window = None, verify = true,
        cursor = None, threads = None, read_ahead = None, order = None, memory_budget = None,
        since = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn scan(
        &self,
        py: Python<'_>,
        table: &str,
        columns: Option<Vec<String>>,
        filter: Option<&str>,
        limit: Option<u64>,
        offset: u64,
        batch_size: usize,
        seed: Option<u64>,
        epoch: u64,
        shard: (u32, u32),
        workers: (u32, u32),
        window: Option<usize>,
        verify: bool,
        cursor: Option<&Bound<'_, PyAny>>,
        threads: Option<usize>,
        read_ahead: Option<usize>,
        order: Option<u32>,
        memory_budget: Option<u64>,
        since: Option<String>,
    ) -> PyResult<PyScan> {
        let version = order.unwrap_or(dstore::scan::DEFAULT_ORDER_VERSION);
        if version != 1 && window.is_some() {
            return Err(invalid(
                format!("window= is an option of scan order 1, but this scan uses order {version}"),
                Some(
                    "pass order=1 to shuffle by windows of row groups, or memory_budget= (bytes) to size order 2's windows",
                ),
            ));
        }
        if version == 1 && memory_budget.is_some() {
            return Err(invalid(
                "memory_budget= is an option of scan order 2, but this scan uses order=1",
                Some("leave out order=1 to use order 2, or pass window= to size order 1's windows"),
            ));
        }
        let filter = filter
            .map(|f| {
                Expr::parse(f).map_err(|e| {
                    invalid(
                        format!("filter: {e}"),
                        Some("e.g. filter=\"x >= 3 AND name IN ('a', 'b')\""),
                    )
                })
            })
            .transpose()?;
        let cursor = cursor.map(parse_cursor).transpose()?;
        if batch_size == 0 {
            return Err(invalid("batch_size must be at least 1", None));
        }
        let batches = py
            .detach(|| {
                let mut b = self
                    .snap
                    .scan(table)?
                    .offset(offset)
                    .batch_size(batch_size)
                    .epoch(epoch)
                    .shard(shard.0, shard.1)
                    .workers(workers.0, workers.1)
                    .order_version(version)
                    .verify(verify);
                if let Some(w) = window {
                    b = b.window(w);
                }
                if let Some(m) = memory_budget {
                    b = b.memory_budget(m);
                }
                if let Some(c) = columns {
                    b = b.columns(c);
                }
                if let Some(f) = filter {
                    b = b.filter(f);
                }
                if let Some(n) = limit {
                    b = b.limit(n);
                }
                if let Some(s) = seed {
                    b = b.shuffle(s);
                }
                if let Some(t) = threads {
                    b = b.threads(t);
                }
                if let Some(r) = read_ahead {
                    b = b.read_ahead(r);
                }
                if let Some(s) = &since {
                    let old = since_snapshot(&self.snap, s)?;
                    b = b.since(&old);
                }
                if let Some(c) = &cursor {
                    b = b.resume(c)?;
                }
                b.batches()
            })
            .or_raise()?;
        let schema = batches.schema();
        let positions = batches.positions();
        let progress = Shared::new(Mutex::new(Progress {
            cursor: Some(batches.cursor()),
            ..Progress::default()
        }));
        let tracked: Box<dyn RecordBatchReader + Send> = Box::new(Tracked {
            batches,
            schema: schema.clone(),
            progress: progress.clone(),
        });
        let reader = tracked.into_pyarrow(py)?.unbind();
        Ok(PyScan {
            reader,
            progress,
            schema,
            positions,
        })
    }

    fn __repr__(&self) -> String {
        format!("Snapshot('{}', tables={:?})", self.snap.id(), self.tables())
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.snap.id() == other.snap.id()
    }

    fn __hash__(&self) -> u64 {
        let b = self.snap.id().to_hex();
        u64::from_str_radix(&b[..16], 16).unwrap_or_default()
    }
}

/// A running scan. Iterating it yields `pyarrow.RecordBatch`es; `reader` is the same stream as
/// a `pyarrow.RecordBatchReader` (no copy: batches cross through the Arrow C stream interface).
#[pyclass(name = "Scan", module = "dstore", frozen)]
pub(crate) struct PyScan {
    reader: Py<PyAny>,
    progress: Shared,
    schema: SchemaRef,
    positions: u64,
}

impl PyScan {
    /// A pyarrow error from reading: the library error behind it if there is one.
    fn map_err(&self, e: PyErr) -> PyErr {
        match lock(&self.progress).error.take() {
            Some(err) => to_py(err),
            None => e,
        }
    }
}

#[pymethods]
impl PyScan {
    /// The stream as a `pyarrow.RecordBatchReader` (shared with this object: reading from
    /// either advances both, and `cursor()` follows).
    #[getter]
    fn reader(&self, py: Python<'_>) -> Py<PyAny> {
        self.reader.clone_ref(py)
    }

    /// Positions of an epoch's sequence (all ranks), counted before a filter or `since` drops
    /// rows: the table's rows, or with `since=` the rows of the segments the old snapshot lacks.
    #[getter]
    fn positions(&self) -> u64 {
        self.positions
    }

    /// The output schema as a `pyarrow.Schema`.
    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.schema.to_pyarrow(py)
    }

    /// The next batch; raises `StopIteration` at the end.
    fn read_next_batch<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.reader
            .bind(py)
            .call_method0("read_next_batch")
            .map_err(|e| {
                if e.is_instance_of::<pyo3::exceptions::PyStopIteration>(py) {
                    e
                } else {
                    self.map_err(e)
                }
            })
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.read_next_batch(py)
    }

    /// The rest of the scan as a `pyarrow.Table`.
    fn to_table<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.reader
            .bind(py)
            .call_method0("read_all")
            .map_err(|e| self.map_err(e))
    }

    /// Same as `to_table()` (the name pyarrow's readers use).
    fn read_all<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.to_table(py)
    }

    /// The Arrow PyCapsule stream protocol, so `pyarrow.table(scan)`, polars, DuckDB and
    /// others read the scan directly.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.reader
            .bind(py)
            .call_method1("__arrow_c_stream__", (requested_schema,))
    }

    /// Where the scan stands, as a JSON-compatible dict: `snapshot.scan(table,
    /// cursor=...)` yields exactly what this scan would yield next.
    fn cursor(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let c = lock(&self.progress).cursor.clone();
        let v = serde_json::to_value(c).map_err(|e| invalid(e.to_string(), None))?;
        json_to_py(py, &v)
    }

    /// Bytes and row groups read so far: `{"bytes_read", "row_groups_read",
    /// "row_groups_pruned", "segments_pruned", "page_rows_skipped", "late_rows_skipped",
    /// "late_row_groups_skipped"}`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = lock(&self.progress).stats;
        let d = PyDict::new(py);
        d.set_item("bytes_read", s.bytes_read)?;
        d.set_item("row_groups_read", s.row_groups_read)?;
        d.set_item("row_groups_pruned", s.row_groups_pruned)?;
        d.set_item("segments_pruned", s.segments_pruned)?;
        d.set_item("page_rows_skipped", s.page_rows_skipped)?;
        d.set_item("late_rows_skipped", s.late_rows_skipped)?;
        d.set_item("late_row_groups_skipped", s.late_row_groups_skipped)?;
        Ok(d)
    }

    /// Closes the stream (the scan's threads stop); later reads yield nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.reader.bind(py).call_method0("close").map(drop)
    }

    fn __repr__(&self) -> String {
        let c = lock(&self.progress).cursor.clone();
        match c {
            Some(c) => format!(
                "<dstore.Scan {}:{} position {}>",
                &c.snapshot[..12.min(c.snapshot.len())],
                c.table,
                c.position
            ),
            None => "<dstore.Scan>".into(),
        }
    }
}

/// The snapshot a `since=` argument names; a ref that names none is an error that says it was
/// `since`'s (the scan's own ref resolved, so "not found" alone would point at the wrong one).
pub(crate) fn since_snapshot(snap: &Snapshot, r: &str) -> dstore::Result<Snapshot> {
    let store = snap.store();
    match store.resolve(r) {
        Ok(c) => store.snapshot(&c.id),
        Err(dstore::Error::NotFound { what }) => Err(dstore::Error::NotFound {
            what: format!("since={r:?}: {what}"),
        }),
        Err(dstore::Error::AmbiguousRef { prefix, candidates }) => {
            Err(dstore::Error::AmbiguousRef {
                prefix: format!("{prefix} (since=)"),
                candidates,
            })
        }
        Err(e) => Err(e),
    }
}
