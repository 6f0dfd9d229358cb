//! Column profiles and the drift report in Python: `Snapshot.stats(table)` (a pyarrow Table,
//! one row per column) and `Store.diff(old, new, stats=True)` (a `DriftReport`).

use std::path::PathBuf;

use arrow_pyarrow::ToPyArrow;
use dstore::Snapshot;
use dstore::profile::drift::{DriftReport, DriftRules};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::convert::json_to_py;
use crate::errors::{OrRaise, invalid};

/// `snap.stats(table, columns=None, since=None)`: the merged profile of `table` (with `since`,
/// of the rows it has that `since` lacks) as a pyarrow Table.
pub(crate) fn stats<'py>(
    py: Python<'py>,
    snap: &Snapshot,
    table: &str,
    columns: Option<Vec<String>>,
    since: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let cols = columns.unwrap_or_default();
    let batch = py
        .detach(|| {
            let profile = match since {
                Some(r) => {
                    let old = crate::snapshot::since_snapshot(snap, r)?;
                    snap.profile_since(table, &old)?
                }
                None => snap.profile(table)?,
            };
            profile.to_record_batch(&cols)
        })
        .or_raise()?;
    let rb = batch.to_pyarrow(py)?;
    let pa = py.import("pyarrow")?;
    pa.getattr("Table")?
        .call_method1("from_batches", (PyList::new(py, [rb])?,))
}

/// `store.diff(old, new, stats=True, tables=None, rules=None)`.
pub(crate) fn diff_stats(
    py: Python<'_>,
    old: &Snapshot,
    new: &Snapshot,
    tables: Vec<String>,
    rules: Option<PathBuf>,
) -> PyResult<PyDriftReport> {
    let report = py
        .detach(|| {
            let rules = match &rules {
                Some(p) => DriftRules::load(p)?,
                None => DriftRules::default(),
            };
            dstore::profile::drift::diff_stats(old, new, &tables, &rules)
        })
        .or_raise()?;
    Ok(PyDriftReport { report })
}

/// The drift report between two snapshots (docs/drift.md).
#[pyclass(name = "DriftReport", module = "dstore", frozen)]
pub(crate) struct PyDriftReport {
    report: DriftReport,
}

impl PyDriftReport {
    fn value(&self) -> PyResult<serde_json::Value> {
        serde_json::to_value(&self.report).map_err(|e| invalid(e.to_string(), None))
    }
}

#[pymethods]
impl PyDriftReport {
    /// Whether drift was found (some table's share of drifted columns reached the threshold,
    /// or a schema changed): what `dstore diff --stats --fail-on-drift` exits 3 for.
    #[getter]
    fn drifted(&self) -> bool {
        self.report.drifted
    }

    /// Every column's result, as dicts (with its `table`), most drifted first per table.
    #[getter]
    fn columns(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut out = Vec::new();
        for t in &self.report.tables {
            for c in &t.columns {
                let mut v = serde_json::to_value(c).map_err(|e| invalid(e.to_string(), None))?;
                v["table"] = serde_json::Value::String(t.table.clone());
                out.push(v);
            }
        }
        json_to_py(py, &serde_json::Value::Array(out))
    }

    /// Per-table results (rows, shared segments, schema changes, drift share), as dicts.
    #[getter]
    fn tables(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_to_py(py, &self.value()?["tables"])
    }

    /// The whole report as dicts (what `dstore diff --stats --json` prints).
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_to_py(py, &self.value()?)
    }

    /// Writes the report as one self-contained HTML file (inline SVG plots, no script).
    fn to_html(&self, path: PathBuf) -> PyResult<()> {
        std::fs::write(&path, dstore::profile::to_html(&self.report)).map_err(|e| {
            invalid(
                format!("could not write {}: {e}", path.display()),
                Some("check that the directory exists and is writable"),
            )
        })
    }

    fn __repr__(&self) -> String {
        let drifted: usize = self.report.tables.iter().map(|t| t.drifted_columns).sum();
        let tested: usize = self.report.tables.iter().map(|t| t.tested).sum();
        format!(
            "DriftReport({} -> {}, {drifted} of {tested} columns drifted, drifted={})",
            &self.report.old[..12],
            &self.report.new[..12],
            if self.report.drifted { "True" } else { "False" }
        )
    }
}
