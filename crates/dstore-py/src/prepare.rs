//! `dstore.Prepared`: segments a `Transaction.prepare()` placed in a store, not yet committed
//! (docs/distributed.md). It pickles as its JSON description, so it travels between processes
//! (Ray tasks, Spark executors, multiprocessing) as it is.

use std::path::{Path, PathBuf};

use dstore::{Prepared, PreparedCheck, WriteMode};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::errors::{OrRaise, invalid};

/// A prepare description: `Transaction.prepare()` returns one, `Transaction.add_prepared()`
/// commits it (with any others) as one snapshot. `to_json()` / `Prepared.from_json()` and
/// `write()` / `Prepared.read()` carry it between machines; it also pickles.
#[pyclass(name = "Prepared", module = "dstore", frozen)]
pub(crate) struct PyPrepared {
    pub(crate) inner: Prepared,
}

#[pymethods]
impl PyPrepared {
    /// Reads a description from its JSON text; `origin` names it in messages.
    #[staticmethod]
    #[pyo3(signature = (text, origin = None))]
    fn from_json(text: &str, origin: Option<PathBuf>) -> PyResult<Self> {
        let origin = origin.unwrap_or_else(|| PathBuf::from("<prepared description>"));
        let mut inner = Prepared::from_json(text, &origin).or_raise()?;
        if origin == Path::new("<prepared description>") {
            inner.origin = None;
        }
        Ok(Self { inner })
    }

    /// Reads a description from a file (as `dstore prepare -o FILE` writes it).
    #[staticmethod]
    fn read(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = py.detach(|| Prepared::read(&path)).or_raise()?;
        Ok(Self { inner })
    }

    /// The description as JSON text (docs/format.md §18).
    fn to_json(&self) -> PyResult<String> {
        self.inner.to_json().or_raise()
    }

    /// Writes the description to a file, atomically and durably.
    fn write(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.write(&path)).or_raise()
    }

    /// Segments described.
    #[getter]
    fn segments(&self) -> usize {
        self.inner.segments()
    }

    /// Rows described.
    #[getter]
    fn rows(&self) -> u64 {
        self.inner.rows()
    }

    /// Bytes of the described segments.
    #[getter]
    fn bytes(&self) -> u64 {
        self.inner.bytes()
    }

    /// The store the segments were placed in (path or URL).
    #[getter]
    fn store(&self) -> &str {
        &self.inner.store
    }

    /// Per table: `{"table", "mode", "segments": [{"id", "bytes", "rows", "source"}]}`.
    #[getter]
    fn tables<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for t in &self.inner.tables {
            let d = PyDict::new(py);
            d.set_item("table", &t.name)?;
            d.set_item(
                "mode",
                match t.mode {
                    WriteMode::Append => "append",
                    WriteMode::Overwrite => "overwrite",
                },
            )?;
            let segs = PyList::empty(py);
            for s in &t.segments {
                let sd = PyDict::new(py);
                sd.set_item("id", s.entry.id.to_hex())?;
                sd.set_item("bytes", s.entry.bytes)?;
                sd.set_item("rows", s.entry.rows)?;
                sd.set_item("source", s.source.display().to_string())?;
                segs.append(sd)?;
            }
            d.set_item("segments", segs)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Pickles as the JSON description.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let from_json = slf.get_type().getattr("from_json")?;
        Ok((from_json, (slf.get().inner.to_json().or_raise()?,)))
    }

    fn __repr__(&self) -> String {
        format!(
            "<dstore.Prepared: {} segment(s), {} rows, for {}>",
            self.inner.segments(),
            self.inner.rows(),
            self.inner
                .tables
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// The description `tx.add_prepared` was given: a `Prepared`, JSON text, or a file path.
pub(crate) fn prepared_arg(py: Python<'_>, arg: &Bound<'_, PyAny>) -> PyResult<Prepared> {
    if let Ok(p) = arg.cast::<PyPrepared>() {
        return Ok(p.get().inner.clone());
    }
    if let Ok(s) = arg.cast::<PyString>() {
        let text = s.to_str()?;
        if text.trim_start().starts_with('{') {
            return PyPrepared::from_json(text, None).map(|p| p.inner);
        }
    }
    let path: PathBuf = arg.extract().map_err(|_| {
        invalid(
            "expected a dstore.Prepared, its JSON text, or the path of a description file",
            None,
        )
    })?;
    py.detach(|| Prepared::read(&path)).or_raise()
}

/// `check=` of `tx.add_prepared`.
pub(crate) fn check_arg(check: &str) -> PyResult<PreparedCheck> {
    match check {
        "trust" => Ok(PreparedCheck::Trust),
        "footer" => Ok(PreparedCheck::Footer),
        "full" => Ok(PreparedCheck::Full),
        other => Err(invalid(
            format!("unknown check `{other}`"),
            Some("use \"footer\" (default), \"trust\" or \"full\""),
        )),
    }
}
