//! The Python exception hierarchy: one class per variant of [`dstore::Error`] that callers act
//! on, all under `dstore.DstoreError`. The message is the Rust error's `Display`; the hint is
//! the exception's `hint` attribute and a `hint: ...` note printed under the traceback, like the
//! CLI's hint line.
//!
//! The classes are made at import time with `type(name, bases, ns)` because some have two bases
//! (`NotFound` is a `DstoreError` and a `LookupError`, `InvalidInput` a `ValueError`), which
//! `create_exception!` cannot express.

use pyo3::BoundObject;
use pyo3::exceptions::{PyException, PyLookupError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// The exception classes, by what they mirror.
struct Classes {
    base: Py<PyType>,
    not_found: Py<PyType>,
    ambiguous: Py<PyType>,
    not_a_store: Py<PyType>,
    already_exists: Py<PyType>,
    corruption: Py<PyType>,
    catalog: Py<PyType>,
    unsupported: Py<PyType>,
    invalid: Py<PyType>,
    schema: Py<PyType>,
    tag_exists: Py<PyType>,
    conflict: Py<PyType>,
    io: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// A second base class from Python's own hierarchy.
#[derive(Clone, Copy)]
enum Also {
    Nothing,
    Lookup,
    Value,
}

/// (name, index of the dstore base in the list so far or `None` for the root, second base,
/// docstring), in an order where every base comes first.
type Spec = (&'static str, Option<usize>, Also, &'static str);

const SPECS: [Spec; 13] = [
    (
        "DstoreError",
        None,
        Also::Nothing,
        "Base class of every dstore error. `hint` says what to do next (or is None); `is_corruption` tells damage to the store from user errors.",
    ),
    (
        "NotFound",
        Some(0),
        Also::Lookup,
        "A ref, table, tag or snapshot that does not exist.",
    ),
    (
        "AmbiguousRef",
        Some(0),
        Also::Lookup,
        "An id prefix that matches more than one snapshot (`candidates` lists them).",
    ),
    (
        "NotAStore",
        Some(0),
        Also::Nothing,
        "The directory is not a dstore store (`path`).",
    ),
    (
        "AlreadyExists",
        Some(0),
        Also::Nothing,
        "`Store.init` on a directory that already holds something (`path`).",
    ),
    (
        "CorruptionError",
        Some(0),
        Also::Nothing,
        "A stored object does not match its name or does not decode (`path`): damage to the store.",
    ),
    (
        "CatalogError",
        Some(5),
        Also::Nothing,
        "The catalog (RocksDB) failed; it is derived from the log and `Store.reindex()` rebuilds it.",
    ),
    (
        "UnsupportedFormat",
        Some(0),
        Also::Nothing,
        "The store or an object was written by a newer dstore (`path`, `found`).",
    ),
    (
        "InvalidInput",
        Some(0),
        Also::Value,
        "Bad input: data that cannot be read, a bad name, pin, filter or argument (`path` when a file is involved).",
    ),
    (
        "SchemaMismatch",
        Some(8),
        Also::Nothing,
        "Input whose schema does not match the table's (`table`, `differences`).",
    ),
    (
        "TagExists",
        Some(0),
        Also::Nothing,
        "A tag that exists already (`tag`, `target`); pass `force=True` to move it.",
    ),
    (
        "CommitConflict",
        Some(0),
        Also::Nothing,
        "A commit lost the race for a sequence number too many times in a row.",
    ),
    (
        "IoError",
        Some(0),
        Also::Nothing,
        "An I/O operation on a path failed (`path`; `errno` is the OS error number).",
    ),
];

fn build(py: Python<'_>) -> PyResult<Classes> {
    let type_ = py.get_type::<PyType>();
    let mut made: Vec<Py<PyType>> = Vec::new();
    for (name, parent, extra, doc) in SPECS {
        let mut bases: Vec<Bound<'_, PyType>> = Vec::new();
        match parent {
            Some(i) => bases.push(made[i].bind(py).clone()),
            None => bases.push(py.get_type::<PyException>()),
        }
        match extra {
            Also::Nothing => {}
            Also::Lookup => bases.push(py.get_type::<PyLookupError>()),
            Also::Value => bases.push(py.get_type::<PyValueError>()),
        }
        let ns = PyDict::new(py);
        ns.set_item("__doc__", doc)?;
        ns.set_item("__module__", "dstore")?;
        let cls = type_.call1((name, PyTuple::new(py, bases)?, ns))?;
        made.push(cls.cast_into::<PyType>()?.unbind());
    }
    let mut it = made.into_iter();
    let mut next = || it.next().expect("one class per spec");
    Ok(Classes {
        base: next(),
        not_found: next(),
        ambiguous: next(),
        not_a_store: next(),
        already_exists: next(),
        corruption: next(),
        catalog: next(),
        unsupported: next(),
        invalid: next(),
        schema: next(),
        tag_exists: next(),
        conflict: next(),
        io: next(),
    })
}

fn classes(py: Python<'_>) -> &Classes {
    CLASSES.get_or_init(py, || {
        build(py).expect("creating the dstore exception classes")
    })
}

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let c = classes(m.py());
    for cls in [
        &c.base,
        &c.not_found,
        &c.ambiguous,
        &c.not_a_store,
        &c.already_exists,
        &c.corruption,
        &c.catalog,
        &c.unsupported,
        &c.invalid,
        &c.schema,
        &c.tag_exists,
        &c.conflict,
        &c.io,
    ] {
        let cls = cls.bind(m.py());
        m.add(cls.name()?, cls)?;
    }
    Ok(())
}

fn obj<'py, T: IntoPyObject<'py>>(py: Python<'py>, v: T) -> Py<PyAny> {
    v.into_pyobject(py)
        .map_or_else(|_| py.None(), |b| b.into_any().unbind())
}

fn path_str(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// Converts a library error into the matching Python exception.
pub(crate) fn to_py(e: dstore::Error) -> PyErr {
    use dstore::Error as E;
    Python::attach(|py| {
        let c = classes(py);
        let mut attrs: Vec<(&str, Py<PyAny>)> = Vec::new();
        let cls = match &e {
            E::NotFound { .. } => &c.not_found,
            E::AmbiguousRef { candidates, .. } => {
                attrs.push(("candidates", obj(py, candidates.clone())));
                &c.ambiguous
            }
            E::NotAStore { path } => {
                attrs.push(("path", obj(py, path_str(path))));
                &c.not_a_store
            }
            E::AlreadyExists { path } => {
                attrs.push(("path", obj(py, path_str(path))));
                &c.already_exists
            }
            E::Corrupted { path, .. } => {
                attrs.push(("path", obj(py, path_str(path))));
                &c.corruption
            }
            E::Catalog { path, .. } => {
                attrs.push(("path", obj(py, path_str(path))));
                &c.catalog
            }
            E::UnsupportedFormat { path, found, .. } => {
                attrs.push(("path", obj(py, path_str(path))));
                attrs.push(("found", obj(py, *found)));
                &c.unsupported
            }
            E::InvalidInput { path, .. } => {
                attrs.push(("path", obj(py, path.as_deref().map(path_str))));
                &c.invalid
            }
            E::SchemaMismatch {
                table,
                path,
                differences,
            } => {
                attrs.push(("table", obj(py, table.clone())));
                attrs.push(("path", obj(py, path_str(path))));
                attrs.push(("differences", obj(py, differences.clone())));
                &c.schema
            }
            E::TagExists { name, target } => {
                attrs.push(("tag", obj(py, name.clone())));
                attrs.push(("target", obj(py, target.clone())));
                &c.tag_exists
            }
            E::CommitConflict { .. } => &c.conflict,
            E::Io { path, source, .. } | E::IngestIo { path, source, .. } => {
                attrs.push(("path", obj(py, path_str(path))));
                attrs.push(("errno", obj(py, source.raw_os_error())));
                &c.io
            }
            _ => &c.base,
        };
        let hint = e.hint();
        attrs.push(("hint", obj(py, hint.clone())));
        attrs.push(("is_corruption", obj(py, e.is_corruption())));
        let err = PyErr::from_type(cls.bind(py).clone(), (e.to_string(),));
        let value = err.value(py);
        // Setting attributes and notes on a fresh exception cannot fail in practice; if it did,
        // the exception without them is still the right one to raise.
        for (name, v) in attrs {
            let _ = value.setattr(name, v);
        }
        if let Some(h) = hint {
            let _ = value.call_method1("add_note", (format!("hint: {h}"),));
        }
        err
    })
}

/// Library results into Python ones.
pub(crate) trait OrRaise<T> {
    /// Maps the error to its Python exception.
    fn or_raise(self) -> PyResult<T>;
}

impl<T> OrRaise<T> for dstore::Result<T> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// An `InvalidInput` raised by the bindings themselves (a bad argument value).
pub(crate) fn invalid(detail: impl Into<String>, hint: Option<&str>) -> PyErr {
    to_py(dstore::Error::InvalidInput {
        path: None,
        detail: detail.into(),
        hint: hint.map(str::to_owned),
    })
}
