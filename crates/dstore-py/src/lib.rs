//! Python bindings for dstore: the `dstore._dstore` extension module, re-exported by the
//! `dstore` Python package (`python/dstore/__init__.py`).
//!
//! The API mirrors the Rust library in Python's idiom. Data crosses the boundary through the
//! Arrow C data and stream interfaces (`arrow-pyarrow`), so neither ingest nor scans copy it:
//! a scan is handed to pyarrow as an `ArrowArrayStream` whose batches are the Rust batches'
//! buffers. Library calls release the GIL while they run.

// pyo3 extracts arguments by value (`PathBuf`, `Vec<_>`); borrowing them is not an option.
#![allow(clippy::needless_pass_by_value)]

mod convert;
mod drift;
mod errors;
mod pin;
mod prepare;
mod snapshot;
mod store;
mod uses;

use pyo3::prelude::*;

/// The `dstore.verify_checkout(dir)` function: re-hashes a checkout's files against
/// `dstore-checkout.json`; problems are reported, not raised.
#[pyfunction]
fn verify_checkout(py: Python<'_>, dir: std::path::PathBuf) -> PyResult<Py<PyAny>> {
    use errors::OrRaise;
    let report = py
        .detach(|| dstore::checkout::verify_checkout(&dir))
        .or_raise()?;
    store::verify_report_to_py(py, &report)
}

/// `dstore._dstore.record_use(target, run, ...)`: the body of `dstore.record_use` (the Python
/// wrapper finds the run id in the environment). With `automatic=True` (readers such as
/// `dstore.torch` recording their own opens) `run` is ignored: the run id comes from the
/// environment, nothing is recorded without one or with `DSTORE_RECORD_USE=0`, and a failure
/// is one warning per process; it returns `None`.
#[pyfunction]
#[pyo3(signature = (target, run, *, tables = None, columns = None, filter = None, seed = None, lock = None, labels = None, author = None, automatic = false))]
#[allow(clippy::too_many_arguments)]
fn record_use(
    py: Python<'_>,
    target: &Bound<'_, PyAny>,
    run: Option<String>,
    tables: Option<Vec<String>>,
    columns: Option<Vec<String>>,
    filter: Option<String>,
    seed: Option<u64>,
    lock: Option<Bound<'_, PyAny>>,
    labels: Option<std::collections::BTreeMap<String, String>>,
    author: Option<String>,
    automatic: bool,
) -> PyResult<Py<PyAny>> {
    let t = pin::target_of(py, target)?;
    let lock = match lock {
        None => None,
        Some(l) => Some(match l.cast::<pin::PyLockFile>() {
            Ok(f) => f.borrow().blake3_hex()?,
            Err(_) => l.extract::<String>()?,
        }),
    };
    let args = uses::UseArgs {
        run: run.clone().unwrap_or_default(),
        tables,
        columns,
        filter,
        seed,
        lock,
        labels: labels.unwrap_or_default().into_iter().collect(),
        author,
    };
    if automatic {
        uses::record_automatically_with(py, &t, args)?;
        return Ok(py.None());
    }
    if run.is_none() {
        return Err(errors::invalid(
            "record_use needs a run id",
            Some("pass run=, or set DSTORE_RUN"),
        ));
    }
    uses::record(py, &t, args)
}

#[pymodule]
fn _dstore(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    m.add_class::<store::PyStore>()?;
    m.add_class::<store::PyTransaction>()?;
    m.add_class::<prepare::PyPrepared>()?;
    m.add_class::<store::PyResolved>()?;
    m.add_class::<snapshot::PySnapshot>()?;
    m.add_class::<snapshot::PyScan>()?;
    m.add_class::<drift::PyDriftReport>()?;
    m.add_class::<pin::PyPin>()?;
    m.add_class::<pin::PyResolvedPin>()?;
    m.add_class::<pin::PyLockFile>()?;
    m.add_function(wrap_pyfunction!(verify_checkout, m)?)?;
    m.add_function(wrap_pyfunction!(record_use, m)?)?;
    Ok(())
}
