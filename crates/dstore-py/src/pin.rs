//! `dstore.Pin`, `dstore.ResolvedPin` and `dstore.LockFile` (docs/pins.md).

use std::path::PathBuf;

use dstore::{LockFile, Pin, lock::LockedPin, pin::ResolvedPin};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::errors::OrRaise;
use crate::snapshot::PySnapshot;
use crate::store::PyStore;

/// A `dstore://STORE@REF[#TABLE]` pin. `Pin(text)` parses the same strings as the Rust library
/// and the CLI; `str(pin)` is its text. Config files (TOML, YAML, Hydra/OmegaConf) hold pins
/// as plain strings.
#[pyclass(name = "Pin", module = "dstore", frozen, skip_from_py_object)]
#[derive(Clone)]
pub(crate) struct PyPin {
    pin: Pin,
}

/// A pin given as a `Pin` or as its text.
pub(crate) fn pin_arg(v: &Bound<'_, PyAny>) -> PyResult<Pin> {
    if let Ok(p) = v.cast::<PyPin>() {
        return Ok(p.get().pin.clone());
    }
    let s = v.cast::<PyString>()?;
    s.to_str()?.parse::<Pin>().or_raise()
}

#[pymethods]
impl PyPin {
    #[new]
    fn new(text: &str) -> PyResult<Self> {
        Ok(PyPin {
            pin: text.parse().or_raise()?,
        })
    }

    /// A pin from its parts, checked like a parsed one.
    #[staticmethod]
    #[pyo3(signature = (store, r#ref, table = None))]
    fn of(store: PathBuf, r#ref: String, table: Option<String>) -> PyResult<Self> {
        Ok(PyPin {
            pin: Pin::new(store, r#ref, table).or_raise()?,
        })
    }

    /// The store path as written (relative paths are relative to the resolving directory).
    #[getter]
    fn store(&self) -> String {
        self.pin.store().display().to_string()
    }

    /// The ref: a tag, HEAD, HEAD~N, @SEQ, an id or prefix, or `{TIME}`.
    #[getter]
    fn r#ref(&self) -> &str {
        self.pin.reference()
    }

    /// The table, if the pin names one.
    #[getter]
    fn table(&self) -> Option<&str> {
        self.pin.table()
    }

    /// Whether this is a canonical full pin (absolute store path, full snapshot id).
    #[getter]
    fn is_full(&self) -> bool {
        self.pin.is_full()
    }

    /// The snapshot id when the ref is a full id.
    #[getter]
    fn full_id(&self) -> Option<String> {
        self.pin.full_id().map(|id| id.to_hex())
    }

    /// The same pin naming `table` (or none).
    #[pyo3(signature = (table))]
    fn with_table(&self, table: Option<String>) -> PyResult<Self> {
        Ok(PyPin {
            pin: self.pin.clone().with_table(table).or_raise()?,
        })
    }

    /// Opens the store and resolves the ref to a full snapshot id (a relative store path is
    /// taken relative to `base`, default the current directory). When a run id is known
    /// (`DSTORE_RUN`, `MLFLOW_RUN_ID`, `WANDB_RUN_ID`, `TORCHELASTIC_RUN_ID`, `SLURM_JOB_ID`)
    /// the store records that the run uses the snapshot, unless `record_use=False` or
    /// `DSTORE_RECORD_USE=0`; a store that cannot be written gives one warning, never an error.
    #[pyo3(signature = (base = None, *, record_use = true))]
    fn resolve(
        &self,
        py: Python<'_>,
        base: Option<PathBuf>,
        record_use: bool,
    ) -> PyResult<PyResolvedPin> {
        let r = py
            .detach(|| match &base {
                Some(b) => self.pin.resolve_from(b),
                None => self.pin.resolve(),
            })
            .or_raise()?;
        if record_use {
            crate::uses::record_automatically(
                py,
                &crate::uses::Target {
                    store: r.store.clone(),
                    id: r.id,
                    table: r.pin.table().map(str::to_owned),
                },
            )?;
        }
        Ok(PyResolvedPin { r })
    }

    fn __str__(&self) -> String {
        self.pin.to_string()
    }

    fn __repr__(&self) -> String {
        format!("Pin('{}')", self.pin)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        pin_arg(other).is_ok_and(|p| p == self.pin)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.pin.to_string().hash(&mut h);
        h.finish()
    }

    /// Pickles as its text (DataLoader workers started with `spawn` receive pins this way).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let text = slf.get().pin.to_string();
        PyTuple::new(
            py,
            [
                py.get_type::<PyPin>().into_any(),
                PyTuple::new(py, [text])?.into_any(),
            ],
        )
    }
}

/// What `record_use` was given: a `Snapshot`, a `ResolvedPin`, a `Pin` or pin text (resolved
/// without recording), as the store, snapshot and table to record.
pub(crate) fn target_of(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<crate::uses::Target> {
    if let Ok(s) = v.cast::<PySnapshot>() {
        let snap = &s.get().snap;
        return Ok(crate::uses::Target {
            store: snap.store().clone(),
            id: snap.id(),
            table: None,
        });
    }
    if let Ok(r) = v.cast::<PyResolvedPin>() {
        let r = &r.get().r;
        return Ok(crate::uses::Target {
            store: r.store.clone(),
            id: r.id,
            table: r.pin.table().map(str::to_owned),
        });
    }
    let pin = pin_arg(v).map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(
            "record_use takes a Snapshot, a ResolvedPin, a Pin or a pin's text",
        )
    })?;
    let r = py.detach(|| pin.resolve()).or_raise()?;
    Ok(crate::uses::Target {
        store: r.store.clone(),
        id: r.id,
        table: r.pin.table().map(str::to_owned),
    })
}

/// A resolved pin: the canonical full pin, the snapshot id, and the commit's sequence number
/// when the ref went through the log.
#[pyclass(name = "ResolvedPin", module = "dstore", frozen)]
pub(crate) struct PyResolvedPin {
    r: ResolvedPin,
}

#[pymethods]
impl PyResolvedPin {
    /// The canonical full pin (`dstore:///ABS/PATH@<64 hex>[#table]`).
    #[getter]
    fn pin(&self) -> PyPin {
        PyPin {
            pin: self.r.pin.clone(),
        }
    }

    /// The snapshot id.
    #[getter]
    fn id(&self) -> String {
        self.r.id.to_hex()
    }

    /// The commit's sequence number, if known.
    #[getter]
    fn seq(&self) -> Option<u64> {
        self.r.seq
    }

    /// The table the pin names, if any.
    #[getter]
    fn table(&self) -> Option<&str> {
        self.r.pin.table()
    }

    /// The store.
    #[getter]
    fn store(&self) -> PyStore {
        PyStore {
            store: self.r.store.clone(),
        }
    }

    /// The snapshot, opened by its full id.
    fn snapshot(&self, py: Python<'_>) -> PyResult<PySnapshot> {
        let snap = py.detach(|| self.r.snapshot()).or_raise()?;
        Ok(PySnapshot { snap })
    }

    fn __str__(&self) -> String {
        self.r.to_string()
    }

    fn __repr__(&self) -> String {
        format!("ResolvedPin('{}')", self.r)
    }
}

/// A `dstore.lock` file: each pin of a config resolved to a full snapshot id, with the rows
/// and schema hash of each table. `check()` refuses if a store no longer matches.
#[pyclass(name = "LockFile", module = "dstore")]
pub(crate) struct PyLockFile {
    lock: LockFile,
}

impl PyLockFile {
    /// BLAKE3 (hex) of the lock's TOML, as use records name it.
    pub(crate) fn blake3_hex(&self) -> PyResult<String> {
        let text = self.lock.to_toml().or_raise()?;
        Ok(dstore::SnapshotId::of(text.as_bytes()).to_hex())
    }
}

/// `{name: pin}` (pins as `Pin` or text) as the library's list.
fn named_pins(pins: &Bound<'_, PyDict>) -> PyResult<Vec<(String, Pin)>> {
    let mut out = Vec::new();
    for (k, v) in pins.iter() {
        out.push((k.extract::<String>()?, pin_arg(&v)?));
    }
    Ok(out)
}

fn locked_to_py<'py>(py: Python<'py>, p: &LockedPin) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("pin", &p.pin)?;
    d.set_item("requested", &p.requested)?;
    d.set_item("snapshot", &p.snapshot)?;
    let tables = PyDict::new(py);
    for (name, t) in &p.tables {
        let td = PyDict::new(py);
        td.set_item("rows", t.rows)?;
        td.set_item("schema_blake3", &t.schema_blake3)?;
        tables.set_item(name, td)?;
    }
    d.set_item("tables", tables)?;
    Ok(d)
}

#[pymethods]
impl PyLockFile {
    /// An empty lock.
    #[new]
    fn new() -> Self {
        PyLockFile {
            lock: LockFile::new(),
        }
    }

    /// Reads a lock file (checking its version; not yet the stores: see `check`).
    #[staticmethod]
    fn read(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let lock = py.detach(|| LockFile::read(&path)).or_raise()?;
        Ok(PyLockFile { lock })
    }

    /// Resolves `{name: pin}` into a new lock (relative store paths from `base`, default the
    /// current directory).
    #[staticmethod]
    #[pyo3(signature = (pins, base = None))]
    fn lock(py: Python<'_>, pins: &Bound<'_, PyDict>, base: Option<PathBuf>) -> PyResult<Self> {
        let pins = named_pins(pins)?;
        let lock = py
            .detach(|| match &base {
                Some(b) => LockFile::lock_from(&pins, b),
                None => LockFile::lock(&pins),
            })
            .or_raise()?;
        Ok(PyLockFile { lock })
    }

    /// Writes the lock atomically (temporary file, fsync, rename).
    fn write(&mut self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let lock = &mut self.lock;
        py.detach(|| lock.write(&path)).or_raise()
    }

    /// The lock's TOML text, as `write` would write it.
    fn to_toml(&self) -> PyResult<String> {
        self.lock.to_toml().or_raise()
    }

    /// Records that `run` uses every locked snapshot (with the lock's hash); returns
    /// `{name: None or the error's message}` (a store that cannot be written fails its entry
    /// only).
    #[pyo3(signature = (run, *, author = None))]
    fn record_uses<'py>(
        &self,
        py: Python<'py>,
        run: &str,
        author: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let author = author.unwrap_or_else(crate::store::default_author);
        let out = py
            .detach(|| self.lock.record_uses(run, &author))
            .or_raise()?;
        let d = PyDict::new(py);
        for (name, r) in out {
            d.set_item(name, r.err().map(|e| e.to_string()))?;
        }
        Ok(d)
    }

    /// Checks that every pinned snapshot is still in its store with the locked tables' rows and
    /// schemas; raises `InvalidInput` listing every difference.
    fn check(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.lock.check()).or_raise()
    }

    /// Like `check`, and also that `{name: pin}` (a config's pins) are the lock's.
    fn check_config(&self, py: Python<'_>, pins: &Bound<'_, PyDict>) -> PyResult<()> {
        let pins = named_pins(pins)?;
        py.detach(|| self.lock.check_config(&pins)).or_raise()
    }

    /// The snapshot of entry `name`, after checking it matches the lock.
    fn snapshot(&self, py: Python<'_>, name: &str) -> PyResult<PySnapshot> {
        let snap = py.detach(|| self.lock.snapshot(name)).or_raise()?;
        Ok(PySnapshot { snap })
    }

    /// Entry `name` as a dict (`pin`, `requested`, `snapshot`, `tables`), or None.
    fn get<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.lock.get(name).map(|p| locked_to_py(py, p)).transpose()
    }

    /// Every entry: `{name: {"pin", "requested", "snapshot", "tables"}}`.
    #[getter]
    fn pins<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, p) in &self.lock.pins {
            d.set_item(name, locked_to_py(py, p)?)?;
        }
        Ok(d)
    }

    /// The lock file format version.
    #[getter]
    fn version(&self) -> u32 {
        self.lock.version
    }

    /// Where the lock was read from or last written, if anywhere.
    #[getter]
    fn path(&self) -> Option<String> {
        self.lock.path().map(|p| p.display().to_string())
    }

    fn __len__(&self) -> usize {
        self.lock.pins.len()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.lock.pins.contains_key(name)
    }

    fn __repr__(&self) -> String {
        format!(
            "LockFile({} pins{})",
            self.lock.pins.len(),
            self.lock
                .path()
                .map(|p| format!(", path='{}'", p.display()))
                .unwrap_or_default()
        )
    }
}
